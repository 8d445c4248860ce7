/**
 * How ended runs are kept (src/server/known.ts): a plain one as values in arrays, with no object
 * of its own that would live through the young generation's collections; any other as its
 * entry. What they answer is kept.test.ts's; this file counts the entries left alive.
 */
import { queryObjects } from "node:v8";
import { describe, expect, it } from "vitest";
import { createServer } from "stepwise-ai/server";
import { Entry } from "../../src/server/entry.js";
import { Greeter } from "./fixtures.js";

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

/** Entries alive now (after a full collection). */
const entriesAlive = () => queryObjects(Entry, { format: "count" });

async function runs(app: ReturnType<typeof createServer>, n: number, input: object): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await app.request("/workflows/greeter/runs?wait=10", post(input));
    expect(res.status).toBe(200);
    ids.push(((await res.json()) as { runId: string }).runId);
  }
  return ids;
}

describe("ended runs kept by the server", () => {
  it("a plain ended run is kept without its entry; one that is read is kept as its entry from then on", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() }, keepFinishedRuns: 100 });
    const before = entriesAlive();
    const ids = await runs(app, 50, { name: "Ada" });
    expect(entriesAlive() - before).toBe(0);
    // Listing reads every kept run and keeps none as an entry.
    const listed = (await (await app.request("/runs?limit=100")).json()) as { runs: { runId: string; status: string }[] };
    expect(listed.runs.map((r) => r.runId).sort()).toEqual([...ids].sort());
    expect(entriesAlive() - before).toBe(0);
    // A read of one run: the same answer as its ?wait gave, and its entry is kept (its log is made on it).
    const one = (await (await app.request(`/runs/${ids[7]}`)).json()) as { status: string; result: string };
    expect(one).toMatchObject({ status: "completed", result: "hello Ada" });
    expect(await (await app.request(`/runs/${ids[7]}/events`)).text()).toContain('"result":"hello Ada"');
    expect(app.runs.entry(ids[7]!)).toBe(app.runs.entry(ids[7]!));
    expect(app.runs.entry(ids[7]!)?.log).toBeDefined();
    expect(entriesAlive() - before).toBe(1);
  });

  it("a run that streamed is kept as its entry, and the oldest kept run goes first whichever way it is kept", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() }, keepFinishedRuns: 3 });
    const before = entriesAlive();
    const [streamed] = await runs(app, 1, { name: "Bo", times: 2 });
    expect(entriesAlive() - before).toBe(1);
    const plain = await runs(app, 2, { name: "Cy" });
    expect(entriesAlive() - before).toBe(1);
    expect(app.runs.entry(streamed!)?.status).toBe("completed");
    const [last] = await runs(app, 1, { name: "Di" });
    expect(app.runs.entry(streamed!)).toBeUndefined();
    expect(entriesAlive() - before).toBe(0);
    expect([...plain, last].map((id) => app.runs.entry(id!)?.status)).toEqual(["completed", "completed", "completed"]);
    expect((await app.request(`/runs/${streamed}`)).status).toBe(404);
  });

  it("keeps nothing with keepFinishedRuns: 0", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() }, keepFinishedRuns: 0 });
    const [id] = await runs(app, 1, { name: "Ed" });
    expect((await app.request(`/runs/${id}`)).status).toBe(404);
    expect(((await (await app.request("/runs")).json()) as { runs: unknown[] }).runs).toEqual([]);
  });
});
