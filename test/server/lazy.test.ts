import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { Context, MemoryStore, StartEvent, StopEvent, Workflow, step, suspendRun } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";
import { endedRunJSON, runInfoJSON } from "../../src/server/json.js";
import { Entry, type RunInfo } from "../../src/server/entry.js";
import { Asker, Broken, Greeter, Parent, Sub } from "./fixtures.js";

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

/** Ends with a plain StopEvent that carries a field besides its result. */
class Extra extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go() {
    return new StopEvent({ result: 1, note: "kept" });
  }
}

/** Ends by sending its StopEvent (not returning it). */
class Sender extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(_: StartEvent, ctx: Context) {
    ctx.sendEvent(new StopEvent({ result: "sent" }));
  }
}

let open!: () => void;
const gate = new Promise<void>((r) => (open = r));

/** Ends once the test opens the gate. */
class Gated extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go() {
    await gate;
    return new StopEvent({ result: "through" });
  }
}

/** Frames as `id type-or-status`, and the StopEvent's data. */
const shape = (f: [string | undefined, string, any][]) => f.map(([id, , d]) => `${id ?? "-"} ${d.type ?? d.status}`);

describe("an ended run that streamed nothing keeps no handler", () => {
  const app = () => createServer({ workflows: { greeter: new Greeter(), broken: new Broken(), sub: new Sub(), extra: new Extra(), sender: new Sender(), parent: new Parent() } });

  it.each([
    ["greeter", { name: "Ada" }, { result: "hello Ada" }],
    ["sub", {}, { total: 7 }],
    ["extra", {}, { result: 1, note: "kept" }],
    ["sender", {}, { result: "sent" }],
  ] as const)("%s: its handler goes at its end; its log, made late, is its StopEvent and its end, as a live reader saw them", async (name, input, stopData) => {
    const server = app();
    const ended = (await (await server.request(`/workflows/${name}/runs?wait=10`, post(input))).json()) as { runId: string; status: string; updatedAt: number };
    expect(ended.status).toBe("completed");
    const entry = server.runs.entry(ended.runId)!;
    expect(entry.log).toBeUndefined();
    expect(entry.source).toBeUndefined();
    const late = await frames(server, ended.runId);
    expect(shape(late)).toEqual([`1 ${name === "sub" ? "Done" : "StopEvent"}`, "- completed"]);
    expect(late[0]![2].data).toEqual(stopData);
    // A reader from the start of a second run sees the same frames.
    const live = (await (await server.request(`/workflows/${name}/runs`, post(input))).json()) as { runId: string };
    expect(await frames(server, live.runId)).toEqual(late);
    // Resuming after the StopEvent: the end only. Reading the log does not make the run newer.
    expect(shape(await frames(server, ended.runId, "?after=1"))).toEqual(["- completed"]);
    expect(((await (await server.request(`/runs/${ended.runId}`)).json()) as { updatedAt: number }).updatedAt).toBe(ended.updatedAt);
  });

  it("a failed run's handler goes at its end too; a run whose child streamed keeps its handler until its log is read", async () => {
    const server = app();
    const failed = (await (await server.request("/workflows/broken/runs?wait=10", post({}))).json()) as { runId: string };
    expect(server.runs.entry(failed.runId)!.source).toBeUndefined();
    expect(shape(await frames(server, failed.runId))).toEqual(["- failed"]);
    const parent = (await (await server.request("/workflows/parent/runs?wait=10", post({ k: 2 }))).json()) as { runId: string };
    expect(server.runs.entry(parent.runId)!.source).toBeDefined();
    expect(shape(await frames(server, parent.runId))).toEqual(["1 Progress", "2 StopEvent", "- completed"]);
  });

  it("the handler of such a run is garbage once it ended, while its entry is kept", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const server = createServer({ workflows: { gated: new Gated() } });
    const { runId } = (await (await server.request("/workflows/gated/runs", post({}))).json()) as { runId: string };
    const handler = new WeakRef(server.runs.handler(runId)!);
    open();
    await server.runs.entry(runId)!.done;
    for (let i = 0; i < 10 && handler.deref() !== undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
      gc();
    }
    expect(handler.deref()).toBeUndefined();
    expect(server.runs.entry(runId)?.status).toBe("completed");
  });
});

describe("the answer of a run ended within ?wait", () => {
  it.each([
    ["greeter", { name: "Ada", times: 2 }],
    ["broken", {}],
    ["parent", { k: 3 }],
    ["sub", {}],
    ["extra", {}],
  ] as const)("%s: the same text as GET /runs/:id gives for it", async (name, input) => {
    const server = createServer({ workflows: { greeter: new Greeter(), broken: new Broken(), parent: new Parent(), sub: new Sub(), extra: new Extra() } });
    const res = await server.request(`/workflows/${name}/runs?wait=10`, post(input));
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("application/json");
    const text = await res.text();
    const { runId } = JSON.parse(text) as { runId: string };
    expect(text).toBe(await (await server.request(`/runs/${runId}`)).text());
    expect(JSON.parse(text)).toMatchObject({ runId, workflow: name, live: false, waitingFor: [], inputRequired: [] });
    if (name === "parent") expect((JSON.parse(text) as { children: string[] }).children).toHaveLength(1);
  });
});

describe("what an ended run's kept entry holds", () => {
  it("a plain StopEvent and the end's promise are shared among the kept entries; a StopEvent with more fields is its own", async () => {
    const server = createServer({ workflows: { greeter: new Greeter(), extra: new Extra() } });
    const run = async (name: string, input: object) => server.runs.entry(((await (await server.request(`/workflows/${name}/runs?wait=10`, post(input))).json()) as { runId: string }).runId)!;
    const [a, b, x, y] = [await run("greeter", { name: "A" }), await run("greeter", { name: "B" }), await run("extra", {}), await run("extra", {})];
    expect(a.stop).toBeDefined();
    expect(a.stop).toBe(b.stop);
    expect(a.done).toBe(b.done);
    expect(x.stop).not.toBe(y.stop);
    expect(x.stop!.toJSON()).toEqual({ type: "StopEvent", data: { result: 1, note: "kept" } });
    // Its log still has the run's own StopEvent, then the end.
    const f = await frames(server, b.runId);
    expect(f.map(([id, event, data]) => [id ?? "-", event, data])).toEqual([["1", "message", { id: 1, type: "StopEvent", data: { result: "hello B" } }], ["-", "end", { status: "completed", result: "hello B" }]]);
  });
});

describe("the registry of runs", () => {
  it("a run continued here again keeps its new entry among the kept ones, not its old one", async () => {
    const store = new MemoryStore();
    const app = createServer({ workflows: { asker: new Asker({ store, timeout: null }) }, store, keepFinishedRuns: 1 });
    const { runId } = (await (await app.request("/workflows/asker/runs", post({ topic: "t" }))).json()) as { runId: string };
    const first = app.runs.entry(runId)!;
    await new Promise((r) => setTimeout(r, 20));
    await suspendRun(runId);
    await first.done;
    expect(first.status).toBe("detached");
    await app.runs.continueStored(app.runs.served.get("asker")!, store.getRun(runId)!, (wf) => wf.resume(runId));
    const second = app.runs.entry(runId)!;
    expect(second).not.toBe(first);
    expect((await app.request(`/runs/${runId}/events`, post({ type: "Answer", data: { response: "yes" } }))).status).toBe(202);
    await second.done;
    expect(app.runs.entry(runId)).toBe(second);
    expect(second.status).toBe("completed");
  });


  it("keeps the last keepFinishedRuns ended runs beside the live ones, and counts the live ones", async () => {
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
  it("writes times as JSON.stringify does, digit for digit (whole milliseconds have a path of their own)", () => {
    const times = [0, 1, -1, 999_999, 1e6, 1e6 + 1, 1_764_532_000_000, 1_764_532_000_001, 1_764_532_123_456.5, Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21, -1_764_532_000_000, 0.1];
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 2 ** 53), Date.now() + i);
    for (const t of times) {
      // Each time twice over, so that the last one written is read back too.
      for (const info of [{ ...base, createdAt: t, updatedAt: t }, { ...base, createdAt: t + 7, updatedAt: t }]) expect(runInfoJSON(info)).toBe(JSON.stringify(info));
    }
  });
});

describe("endedRunJSON", () => {
  const served = { name: "w", workflow: "W", wf: undefined as never };
  const ended = (runId: string) => {
    const e = new Entry(runId, served, 1_764_532_000_000, { type: "StartEvent", data: { n: 1 } }, undefined, undefined);
    e.status = "completed";
    e.hasResult = true;
    e.result = 42;
    e.updatedAt = 1_764_532_000_042;
    return e;
  };
  it.each(["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "", "plain id ~!", 'quote " inside', "back\\slash", "tab\there", "\u0000nul", "del\u007f", "é accent", "line\u2028sep", "emoji 😀", "\ud800 lone"])("writes run id %j as JSON.stringify does", (runId) => {
    const text = endedRunJSON(ended(runId));
    expect(JSON.parse(text).runId).toBe(runId);
    expect(text.startsWith(`{"runId":${JSON.stringify(runId)},`)).toBe(true);
  });

  it("quotes a run id unchecked only where the run was started by POST /workflows/:name/runs, whose ids are UUIDs the engine made", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() } });
    for (let i = 0; i < 20; i++) {
      const res = await app.request("/workflows/greeter/runs?wait=10", { method: "POST", body: JSON.stringify({ name: `n${i}` }), headers: { "Content-Type": "application/json" } });
      const text = await res.text();
      const { runId } = JSON.parse(text) as { runId: string };
      expect(runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(text.startsWith(`{"runId":${JSON.stringify(runId)},`)).toBe(true);
    }
  });
});
