import { describe, expect, it } from "vitest";
import { createServer } from "stepwise-ai/server";
import { runInfoJSON } from "../../src/server/json.js";
import type { RunInfo } from "../../src/server/runs.js";
import { Asker, Broken, Greeter, Parent } from "./fixtures.js";

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
const make = (extra: Partial<Parameters<typeof createServer>[0]> = {}) => createServer({ workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }), broken: new Broken(), parent: new Parent() }, ...extra });

/** A run's SSE frames, read to the end: [id, event, data]. */
async function frames(app: ReturnType<typeof make>, runId: string, query = ""): Promise<[string | undefined, string, any][]> {
  const text = await (await app.request(`/runs/${runId}/events${query}`)).text();
  return text
    .split("\n\n")
    .filter((b) => b.trim() && !b.startsWith(":"))
    .map((block) => {
      const f: Record<string, string> = {};
      for (const line of block.split("\n")) f[line.slice(0, line.indexOf(": "))] = line.slice(line.indexOf(": ") + 2);
      return [f.id, f.event ?? "message", JSON.parse(f.data ?? "null")];
    });
}

describe("the server's log of a run is made when someone asks for it", () => {
  it("a run answered by ?wait has no log until its events are asked for; then the same events at the same positions, and the end", async () => {
    const app = make();
    const res = await app.request("/workflows/greeter/runs?wait=10", post({ name: "Ada", times: 3 }));
    expect(res.status).toBe(200);
    const { runId } = (await res.json()) as { runId: string };
    const entry = app.runs.entry(runId)!;
    expect(entry.log).toBeUndefined();
    expect(entry.source).toBeDefined();

    const late = await frames(app, runId);
    expect(late.map(([id, event, data]) => `${id ?? "-"} ${event} ${data.type ?? data.status}`)).toEqual(["1 message Progress", "2 message Progress", "3 message Progress", "4 message StopEvent", "- end completed"]);
    expect(late.at(-1)![2]).toEqual({ status: "completed", result: "hello Ada" });
    // Once read whole, the ended run's handler is let go: its log holds the events.
    expect(entry.log!.end).toEqual({ status: "completed", result: "hello Ada" });
    expect(entry.source).toBeUndefined();
    expect(await frames(app, runId, "?after=2")).toEqual(late.slice(2));

    // A run followed from its start gives the same frames (its own run id aside).
    const started = (await (await app.request("/workflows/greeter/runs", post({ name: "Ada", times: 3 }))).json()) as { runId: string };
    expect(await frames(app, started.runId)).toEqual(late);
  });

  it("a failed run's log made after its end ends with its error", async () => {
    const app = make();
    const { runId, status } = (await (await app.request("/workflows/broken/runs?wait=10", post({}))).json()) as { runId: string; status: string };
    expect(status).toBe("failed");
    expect(app.runs.entry(runId)!.log).toBeUndefined();
    const f = await frames(app, runId);
    expect(f).toHaveLength(1);
    expect(f[0]![1]).toBe("end");
    expect(f[0]![2]).toMatchObject({ status: "failed", error: { message: expect.stringContaining("boom") as string } });
  });

  it("a live run's log is caught up before GET /runs/:id answers its prompts, and before an answer clears them", async () => {
    const app = make();
    const { runId } = (await (await app.request("/workflows/asker/runs", post({ topic: "tea" }))).json()) as { runId: string };
    for (let i = 0; i < 100 && app.runs.handler(runId)?.status !== "waiting"; i++) await new Promise((r) => setTimeout(r, 5));
    // Nobody asked for the log yet: the run's question is in its handler's stream only.
    expect(app.runs.entry(runId)!.log).toBeUndefined();
    const info = (await (await app.request(`/runs/${runId}`)).json()) as RunInfo;
    expect(info.inputRequired.map((p) => [p.id, p.type])).toEqual([[2, "Question"]]);
    expect(info.waitingFor).toEqual(["Question"]);

    // Another waiting run, answered before anyone read its log: the answer clears the prompt.
    const other = (await (await app.request("/workflows/asker/runs", post({ topic: "milk" }))).json()) as { runId: string };
    for (let i = 0; i < 100 && app.runs.handler(other.runId)?.status !== "waiting"; i++) await new Promise((r) => setTimeout(r, 5));
    expect(app.runs.entry(other.runId)!.log).toBeUndefined();
    const sent = await app.request(`/runs/${other.runId}/events`, post({ type: "Answer", data: { response: "yes" } }));
    expect(sent.status).toBe(202);
    const after = (await (await app.request(`/runs/${other.runId}`)).json()) as RunInfo;
    expect(after.inputRequired).toEqual([]);
    await app.runs.entry(other.runId)!.done;
    expect((await frames(app, other.runId)).map(([id, , d]) => `${id ?? "-"} ${d.type ?? d.status}`)).toEqual(["1 Progress", "2 Question", "3 StopEvent", "- completed"]);
  });

  it("a child run's events read late carry their path", async () => {
    const app = make();
    const { runId } = (await (await app.request("/workflows/parent/runs?wait=10", post({ k: 4 }))).json()) as { runId: string };
    const f = await frames(app, runId);
    expect(f[0]![2]).toMatchObject({ id: 1, type: "Progress", data: { n: 4 }, origin: { workflow: "Child" } });
    expect(f[0]![2].origin.path).toEqual([runId, f[0]![2].origin.runId]);
  });
});

describe("the registry of runs", () => {
  it("keeps the last keepFinishedRuns ended runs in one map with the live ones, and counts the live ones", async () => {
    const app = make({ keepFinishedRuns: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await (await app.request("/workflows/greeter/runs?wait=10", post({ name: `n${i}` }))).json()) as { runId: string }).runId);
    expect(ids.map((id) => app.runs.entry(id) !== undefined)).toEqual([false, false, true, true, true]);
    const waiting = ((await (await app.request("/workflows/asker/runs", post({}))).json()) as { runId: string }).runId;
    expect(app.runs.liveCount).toBe(1);
    expect(app.runs.liveEntries().map((e) => e.runId)).toEqual([waiting]);
    const listed = (await (await app.request("/runs")).json()) as { runs: { runId: string; live: boolean }[] };
    expect(listed.runs.map((r) => [r.runId, r.live]).sort()).toEqual([...ids.slice(2).map((id) => [id, false]), [waiting, true]].sort());
    await app.request(`/runs/${waiting}/cancel`, { method: "POST" });
    expect(app.runs.liveCount).toBe(0);
    // The cancelled run pushed the oldest kept one out.
    expect(app.runs.entry(ids[2]!)).toBeUndefined();
    expect(app.runs.entry(waiting)?.status).toBe("cancelled");
  });
});

describe("runInfoJSON", () => {
  const base: RunInfo = { runId: "r1", workflow: "w", status: "completed", createdAt: 1, updatedAt: 2, children: [], waitingFor: [], inputRequired: [], live: false };
  const cases: RunInfo[] = [
    base,
    { ...base, input: { type: "StartEvent", data: { n: 1, s: 'a "quoted"\nline' } }, result: { deep: [1, null, "x"] } },
    { ...base, result: null },
    { ...base, result: undefined },
    { ...base, result: 0 },
    { ...base, result: new Date(0) },
    { ...base, status: "failed", error: { name: "Error", message: "boom", step: "s" }, parentRunId: "p" },
    { ...base, status: "waiting", live: true, children: ["c1", "c2"], waitingFor: ["Q"], inputRequired: [{ id: 2, type: "Q", data: { prompt: "?" }, inputRequired: true }] },
    { ...base, createdAt: Number.NaN, updatedAt: Number.POSITIVE_INFINITY },
    { ...base, runId: 'id "with" \\ quotes \u2028' },
  ];
  it.each(cases.map((c, i) => [i, c] as const))("case %i reads back as JSON.stringify's text does", (_, info) => {
    const text = runInfoJSON(info);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(info)));
  });
  it("answers a function result as JSON.stringify does: left out", () => {
    expect(JSON.parse(runInfoJSON({ ...base, result: () => 1 }))).not.toHaveProperty("result");
  });
});
