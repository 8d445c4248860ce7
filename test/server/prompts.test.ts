/**
 * `GET /runs/:id` `inputRequired`: the prompts (InputRequiredEvents) a run streamed that no event
 * sent since has answered. An event clears only the prompts it answers: it is of a type the run
 * takes as an answer (a HumanResponseEvent, or a type a step waits for), and it agrees with the
 * prompt on every field both carry (as a wait's `requirements` pick its answer by field values).
 */
import { describe, expect, it } from "vitest";
import { Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, type Context } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";

class Ask extends InputRequiredEvent<{ prefix: string; who: string }> {}
class Reply extends HumanResponseEvent<{ response: string; who: string }> {}
class Note extends Event<{ text: string }> {}
class Verdict extends Event<{ who: string; ok: boolean }> {}

/** Asks two people at once, each wait picking its answer by `who`; takes outside Notes too. */
function twoAsks() {
  return new Workflow({ externalEvents: [Note], timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply }, async (_ev: StartEvent, ctx: Context) => {
    const ask = (who: string) => ctx.waitForEvent(Reply, { requirements: { who }, waiterEvent: new Ask({ prefix: `${who}?`, who }) });
    const [a, b] = await Promise.all([ask("a"), ask("b")]);
    return new StopEvent({ result: `${a.response} ${b.response}` });
  });
}

/** Waits for a plain Event type (not a HumanResponseEvent) by requirements: the prompt carries the field. */
function verdicts() {
  return new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Verdict }, async (_ev: StartEvent, ctx: Context) => {
    const ask = (who: string) => ctx.waitForEvent(Verdict, { requirements: { who }, waiterEvent: new Ask({ prefix: `${who}?`, who }) });
    const [a, b] = await Promise.all([ask("a"), ask("b")]);
    return new StopEvent({ result: a.ok && b.ok });
  });
}

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
type Info = { status: string; result?: unknown; waitingFor: string[]; inputRequired: { id: number; type: string; data: Record<string, unknown> }[] };

async function started(wf: Workflow) {
  const app = createServer({ workflows: { w: wf }, llamaindex: true });
  const { runId } = (await (await app.request("/workflows/w/runs", post({}))).json()) as { runId: string };
  const info = async () => (await (await app.request(`/runs/${runId}`)).json()) as Info;
  const send = async (type: string, data: Record<string, unknown>) => expect((await app.request(`/runs/${runId}/events`, post({ type, data }))).status).toBe(202);
  return { app, runId, info, send };
}

const whos = (i: Info) => i.inputRequired.map((p) => p.data.who);

describe("pending prompts", () => {
  it("an answer to one of two prompts clears that one only; the other's answer clears the other", async () => {
    const { info, send } = await started(twoAsks());
    expect(whos(await info())).toEqual(["a", "b"]);
    await send("Reply", { response: "yes", who: "a" });
    const one = await info();
    expect(whos(one)).toEqual(["b"]);
    expect(one.waitingFor).toEqual(["Ask"]);
    await send("Reply", { response: "no", who: "b" });
    expect(whos(await info())).toEqual([]);
  });

  it("an unrelated event (one no wait takes, not a human response) clears none", async () => {
    const { info, send } = await started(twoAsks());
    await send("Note", { text: "fyi" });
    expect(whos(await info())).toEqual(["a", "b"]);
  });

  it("an answer for nobody asked (its field matches no prompt) clears none", async () => {
    const { info, send } = await started(twoAsks());
    await send("Reply", { response: "yes", who: "c" });
    expect(whos(await info())).toEqual(["a", "b"]);
  });

  it("a type a step waits for answers by the same rule, though it is no HumanResponseEvent", async () => {
    const { info, send } = await started(verdicts());
    await send("Verdict", { who: "b", ok: true });
    expect(whos(await info())).toEqual(["a"]);
  });

  it("the LlamaIndex route clears the same way", async () => {
    const { app, runId, info } = await started(twoAsks());
    expect((await app.request(`/llamaindex/events/${runId}`, post({ event: { type: "Reply", value: { response: "yes", who: "b" } } }))).status).toBe(200);
    expect(whos(await info())).toEqual(["a"]);
  });
});
