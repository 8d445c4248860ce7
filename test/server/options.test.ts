/** `createServer`'s number options: a bad value is refused at once, naming the option; Infinity where it means "every one". */
import { describe, expect, it } from "vitest";
import { createServer } from "stepwise-ai/server";
import { Greeter } from "./fixtures.js";

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
const make = (options: Record<string, unknown>) => createServer({ workflows: { greeter: new Greeter() }, ...options });

describe("createServer's number options", () => {
  it.each([
    ["keepFinishedRuns", -1, /keepFinishedRuns must be a whole number ≥ 0 \(or Infinity to keep every ended run\); got -1\./],
    ["keepFinishedRuns", Number.NEGATIVE_INFINITY, /keepFinishedRuns .*got -Infinity/],
    ["keepFinishedRuns", 1.5, /keepFinishedRuns must be a whole number ≥ 0.*got 1\.5/],
    ["keepFinishedRuns", Number.NaN, /keepFinishedRuns .*got NaN/],
    ["keepFinishedRuns", "10", /keepFinishedRuns .*got "10"/],
    ["maxLogEvents", 0, /maxLogEvents must be a whole number ≥ 1 \(or Infinity to keep every event\); got 0\./],
    ["maxBodyBytes", 0, /maxBodyBytes must be a whole number ≥ 1; got 0\./],
    ["maxBodyBytes", Number.POSITIVE_INFINITY, /maxBodyBytes .*got Infinity/],
    ["requestTimeout", 0, /requestTimeout must be a number > 0; got 0\./],
    ["requestTimeout", Number.POSITIVE_INFINITY, /requestTimeout .*got Infinity/],
    ["requestTimeout", -5, /requestTimeout .*got -5/],
    ["heartbeat", 0, /heartbeat must be a number > 0; got 0\./],
    ["heartbeat", null, /heartbeat .*got null/],
  ])("refuses %s: %s", (name, value, message) => {
    expect(() => make({ [name]: value })).toThrow(RangeError);
    expect(() => make({ [name]: value })).toThrow(message);
  });

  it("takes the smallest values allowed and fractions of seconds", async () => {
    const app = make({ keepFinishedRuns: 0, maxLogEvents: 1, maxBodyBytes: 1, requestTimeout: 0.5, heartbeat: 0.25 });
    expect((await app.request("/workflows/greeter/runs", post({ name: "Ada" }))).status).toBe(413);
  });

  it("keepFinishedRuns and maxLogEvents: Infinity keep every ended run and event, past the default 1,000 runs", async () => {
    const app = make({ keepFinishedRuns: Number.POSITIVE_INFINITY, maxLogEvents: Number.POSITIVE_INFINITY });
    const ids: string[] = [];
    for (let i = 0; i < 1100; i++) ids.push(((await (await app.request("/workflows/greeter/runs?wait=10", post({ name: `n${i}`, times: 3 }))).json()) as { runId: string }).runId);
    const statuses = await Promise.all(ids.map(async (id) => (await app.request(`/runs/${id}`)).status));
    expect(statuses).toEqual(ids.map(() => 200));
    const listed: string[] = [];
    for (let cursor: string | undefined, page = 0; page < 10; page++) {
      const body = (await (await app.request(`/runs?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)).json()) as { runs: { runId: string }[]; nextCursor: string | null };
      listed.push(...body.runs.map((r) => r.runId));
      if ((cursor = body.nextCursor ?? undefined) === undefined) break;
    }
    expect(listed.sort()).toEqual([...ids].sort());
    expect(await (await app.request(`/runs/${ids[0]}/events`)).text()).toContain('"n":3');
  });

  it("a keepFinishedRuns far past what memory holds reserves nothing: slots are made as runs end", async () => {
    const app = make({ keepFinishedRuns: 2 ** 40 });
    const res = await app.request("/workflows/greeter/runs?wait=10", post({ name: "Ada" }));
    const { runId } = (await res.json()) as { runId: string };
    expect((await app.request(`/runs/${runId}`)).status).toBe(200);
  });
});
