import { describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow, type WorkflowRuntimeError } from "../../src/index.js";

class Ask extends Event<{ q: number }> {}
class Answer extends Event<{ a: number }> {}
class Go extends Event<{ x: number }> {}

describe("a waitForEvent filter that throws", () => {
  const outcome = (p: Promise<unknown>) => p.then((v) => ({ ok: v }), (e: unknown) => ({ code: (e as WorkflowRuntimeError).code, message: (e as Error).message }));

  it("fails the waiting step's wait, not the step that emitted the event; the event goes on to other waits", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Answer }, async function picky(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        try {
          await ctx.waitForEvent(Answer, { filter: () => { throw new Error("bad filter"); } });
          return new StopEvent({ result: "no error?" });
        } catch (e) {
          return new StopEvent({ result: { code: (e as WorkflowRuntimeError).code, message: (e as Error).message, cause: ((e as Error).cause as Error).message } });
        }
      })
      .addStep({ accepts: Go, emits: Answer }, async function answerer() {
        await Promise.resolve();
        return new Answer({ a: 1 });
      });
    expect(await outcome(wf.run())).toEqual({
      ok: { code: "WAIT_FILTER_FAILED", message: 'The filter of step "picky"\'s waitForEvent(Answer) threw on an Answer: bad filter', cause: "bad filter" },
    });
  });

  it("fails only its own wait: another wait for the same type still gets the event", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, Ask, StopEvent], waitsFor: Answer }, async function both(_ev, ctx) {
        const bad = ctx.waitForEvent(Answer, { filter: () => { throw new Error("bad filter"); } }).then(() => "answered", (e: unknown) => (e as WorkflowRuntimeError).code);
        const good = ctx.waitForEvent(Answer, { filter: (a) => a.a === 7 });
        ctx.sendEvent(new Go({ x: 7 }));
        return new StopEvent({ result: [await bad, (await good).a] });
      })
      .addStep({ accepts: Go, emits: Answer }, (ev) => new Answer({ a: ev.x }))
      .addStep({ accepts: Ask, emits: StopEvent }, () => undefined);
    expect(await outcome(wf.run())).toEqual({ ok: ["WAIT_FILTER_FAILED", 7] });
  });

  it("fails the wait when it throws on an event that came before the wait, as a rejected promise", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Answer }, async function late(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        await new Promise((r) => setTimeout(r, 5)); // the Answer is kept unclaimed meanwhile
        let p: Promise<unknown> | undefined;
        try {
          p = ctx.waitForEvent(Answer, { filter: () => { throw new Error("bad filter"); } });
        } catch {
          return new StopEvent({ result: "threw synchronously" });
        }
        return new StopEvent({ result: await p.then(() => "answered", (e: unknown) => (e as WorkflowRuntimeError).code) });
      })
      .addStep({ accepts: Go, emits: Answer }, (ev) => new Answer({ a: ev.x }));
    expect(await outcome(wf.run())).toEqual({ ok: "WAIT_FILTER_FAILED" });
  });
});
