/**
 * `inputRequired` of a waiting run this process does not hold (suspended, or after a restart, until
 * an event continues it): the journal holds its prompts and the answers sent so far.
 */
import { describe, expect, it } from "vitest";
import { HumanResponseEvent, InputRequiredEvent, MemoryStore, StartEvent, StopEvent, Workflow, suspendRun, type Context } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";
import { waitFor } from "./wait.js";

class Ask extends InputRequiredEvent<{ prefix: string; who: string }> {}
class Reply extends HumanResponseEvent<{ response: string; who: string }> {}
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
type Info = { status: string; live: boolean; inputRequired: { id: number; type: string; data: Record<string, unknown>; inputRequired?: true }[] };

/** Asks a, then (once answered) b; `plain` asks with InputRequiredEvent itself, a class every process knows. */
function asksInTurn(store: MemoryStore, plain: boolean) {
  const ask = (who: string) => (plain ? new InputRequiredEvent({ prefix: `${who}?`, who }) : new Ask({ prefix: `${who}?`, who }));
  return new Workflow({ store, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply }, async (_ev: StartEvent, ctx: Context) => {
    const a = await ctx.waitForEvent(Reply, { requirements: { who: "a" }, waiterEvent: ask("a") });
    const b = await ctx.waitForEvent(Reply, { requirements: { who: "b" }, waiterEvent: ask("b") });
    return new StopEvent({ result: `${a.response} ${b.response}` });
  });
}

async function waitingOnB(plain: boolean) {
  const store = new MemoryStore();
  const wf = asksInTurn(store, plain);
  const app = createServer({ workflows: { w: wf }, store, resume: false });
  const { runId } = (await (await app.request("/workflows/w/runs", post({}))).json()) as { runId: string };
  const info = async (a = app) => (await (await a.request(`/runs/${runId}`)).json()) as Info;
  expect((await app.request(`/runs/${runId}/events`, post({ type: "Reply", data: { response: "y", who: "a" } }))).status).toBe(202);
  await waitFor(info, (i) => i.inputRequired.length === 1 && i.inputRequired[0]?.data.who === "b");
  await waitFor(async () => store.getRun(runId)?.status, (s) => s === "waiting");
  await suspendRun(runId);
  await waitFor(async () => app.runs.liveCount, (n) => n === 0);
  return { store, wf, app, runId, info };
}

describe("prompts of a stored waiting run", () => {
  it("a suspended run shows the prompt it still waits on (not the one answered), at its log position", async () => {
    const { info } = await waitingOnB(false);
    const i = await info();
    expect(i).toMatchObject({ status: "waiting", live: false });
    expect(i.inputRequired).toEqual([{ id: 2, type: "Ask", data: { prefix: "b?", who: "b" }, inputRequired: true, journal: true }]);
  });

  it("a new server on the same store shows it too (InputRequiredEvent itself is known to every process), and the answer continues the run", async () => {
    const { store, wf, runId } = await waitingOnB(true);
    const next = createServer({ workflows: { w: wf }, store });
    await next.ready;
    const info = async () => (await (await next.request(`/runs/${runId}`)).json()) as Info & { result?: unknown };
    expect((await info()).inputRequired.map((p) => [p.id, p.type, p.data.who])).toEqual([[2, "InputRequiredEvent", "b"]]);
    expect((await next.request(`/runs/${runId}/events`, post({ type: "Reply", data: { response: "n", who: "b" } }))).status).toBe(202);
    const done = await waitFor(info, (i) => i.status === "completed");
    expect(done).toMatchObject({ result: "y n", inputRequired: [] });
  });

  it("a new server with a new instance shows a prompt whose class nothing declares (the journal says it asks), and its log marks it", async () => {
    const { store, runId } = await waitingOnB(false);
    // What a new process builds: another instance, and a server that has seen no Ask live.
    const next = createServer({ workflows: { w: asksInTurn(store, false) }, store, resume: false });
    await next.ready;
    expect(() => next.runs.servedFor("Workflow")?.wf.reviveEvent({ type: "Ask", data: { prefix: "b?", who: "b" } })).toThrow();
    const i = (await (await next.request(`/runs/${runId}`)).json()) as Info;
    expect(i.inputRequired.map((p) => [p.id, p.type, p.data.who, p.inputRequired])).toEqual([[2, "Ask", "b", true]]);
    const log = await next.runs.log(runId);
    expect(log.log.entries().filter((e) => e.inputRequired === true).map((e) => e.data.who)).toEqual(["a", "b"]);
  });

  it("GET /runs/:id and the events log of a stored waiting run read its journal and its row once each", async () => {
    const { store, runId } = await waitingOnB(false);
    const reads = { getJournal: 0, getRun: 0 };
    const getJournal = store.getJournal.bind(store);
    const getRun = store.getRun.bind(store);
    store.getJournal = (id: string) => (reads.getJournal++, getJournal(id));
    store.getRun = (id: string) => (reads.getRun++, getRun(id));
    const next = createServer({ workflows: { w: asksInTurn(store, false) }, store, resume: false });
    await next.ready;
    expect(((await (await next.request(`/runs/${runId}`)).json()) as Info).inputRequired.map((p) => p.id)).toEqual([2]);
    expect(reads).toEqual({ getJournal: 1, getRun: 1 });
    reads.getJournal = reads.getRun = 0;
    expect((await next.runs.log(runId)).log.entries().map((e) => e.id)).toEqual([1, 2]);
    expect(reads).toEqual({ getJournal: 1, getRun: 1 });
  });
});
