/**
 * What the README's feature sections and docs/coming-from-llamaindex.md's "newer APIs" snippets
 * say their code does, run (docs-snippets.test.ts only compiles them): each test is one snippet,
 * as written on the page, with the result the page states. The last one is a deliberate
 * difference the page states that no parity test covers.
 */
import { describe, expect, it } from "vitest";
import { createWorkflow, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StepFailedEvent, StopEvent, Workflow, provide, resource, step, type WorkflowHandler } from "stepwise-ai";
import { z } from "zod";
import { SimpleWorkflow } from "../../examples/simple-workflow.js";

describe("docs claims", () => {
  it("typed state: dotted path, edit, and a second run from the first run's state returns 2", async () => {
    const Counter = z.object({ count: z.number().default(0), user: z.object({ name: z.string() }).default({ name: "" }) });
    const counter = new Workflow<{ name: string }, number, z.infer<typeof Counter>>({ state: Counter }).addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ name: string }>, ctx) => {
      ctx.store.set("user.name", ev.name);
      await ctx.store.edit((s) => {
        s.count += 1;
      });
      return new StopEvent({ result: ctx.store.get("count") });
    });
    const first = counter.run({ name: "Ada" });
    expect(await first).toBe(1);
    const second = counter.run({ name: "Bo" }, { state: first.state });
    expect(await second).toBe(2);
    expect(second.state).toEqual({ count: 2, user: { name: "Bo" } });
  });

  it("resources: the factory's value by default, the provided one in a test", async () => {
    const llm = resource(() => ({ complete: async (prompt: string) => `an answer to ${prompt}` }), { name: "llm" });
    const ask = new Workflow<{ question: string }, string>().addStep({ accepts: StartEvent, emits: StopEvent, resources: { llm } }, async (ev: StartEvent<{ question: string }>, _ctx, { llm }) => new StopEvent({ result: await llm.complete(ev.question) }));
    expect(await ask.run({ question: "why?" })).toBe("an answer to why?");
    expect(await ask.run({ question: "why?" }, { resources: [provide(llm, { complete: async () => "fake" })] })).toBe("fake");
  });

  it("retryOn: a matching error is retried, another fails at once", async () => {
    class RateLimited extends Error {}
    let calls = 0;
    const flaky = (error: () => Error) =>
      step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 5, delay: 0, backoff: 2, maxDelay: 30, jitter: true, retryOn: [RateLimited] } }, async () => {
        if (++calls < 3) throw error();
        return new StopEvent({ result: "ok" });
      });
    expect(await createWorkflow({ name: "retried", steps: { flaky: flaky(() => new RateLimited()) } }).run()).toBe("ok");
    expect(calls).toBe(3);
    calls = 0;
    await expect(createWorkflow({ name: "refused", steps: { flaky: flaky(() => new TypeError("bad")) } }).run()).rejects.toMatchObject({ code: "STEP_FAILED" });
    expect(calls).toBe(1);
  });

  it("a catch-error step recovers the run with the failed step's name and message", async () => {
    const guarded = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function fetchPrice() {
        throw new Error("feed down");
      })
      .addStep({ accepts: StepFailedEvent, emits: StopEvent }, async function fallback(ev) {
        return new StopEvent({ result: `${ev.step} failed (${ev.error.message}); using yesterday's price` });
      });
    expect(await guarded.run()).toBe("fetchPrice failed (feed down); using yesterday's price");
  });

  it("numConcurrentRuns: 2 — the third run starts only when one of the first two has ended", async () => {
    let inFlight = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const limited = new Workflow({ numConcurrentRuns: 2 }).addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ payload: string }>) => {
      most = Math.max(most, ++inFlight);
      await new Promise<void>((resolve) => gates.push(resolve));
      inFlight--;
      return new StopEvent({ result: ev.payload });
    });
    const handlers = ["a", "b", "c"].map((payload) => limited.run({ payload }));
    while (gates.length < 2) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(gates).toHaveLength(2);
    gates.shift()?.();
    while (gates.length < 2) await new Promise((r) => setTimeout(r, 1));
    for (const open of gates.splice(0)) open();
    expect(await Promise.all(handlers)).toEqual(["a", "b", "c"]);
    expect(most).toBe(2);
    // The README's example: the seed's SimpleWorkflow with the option.
    expect(await Promise.all(["a", "b", "c"].map((payload) => new SimpleWorkflow({ numConcurrentRuns: 2 }).run({ payload })))).toEqual(["a", "b", "c"]);
  });

  it("two-step human in the loop: the question reaches the stream, the answer ends the run", async () => {
    const approval = new Workflow<{ amount: number }, boolean>()
      .addStep({ accepts: StartEvent, emits: InputRequiredEvent }, (ev: StartEvent<{ amount: number }>) => new InputRequiredEvent({ prefix: `Refund ${ev.amount}? ` }))
      .addStep({ accepts: HumanResponseEvent, emits: StopEvent }, (ev) => new StopEvent({ result: ev.response === "yes" }));
    const handler = approval.run({ amount: 120 });
    const asked: unknown[] = [];
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) {
        asked.push(ev.prefix);
        handler.sendEvent(new HumanResponseEvent({ response: "yes" }));
      }
    }
    expect(asked).toEqual(["Refund 120? "]);
    expect(await handler).toBe(true);
  });

  it("waitForEvent requirements: each run's wait takes only the answer with its id", async () => {
    class Answer extends Event<{ id: string; ok: boolean }> {}
    const reviews = new Workflow({ externalEvents: [Answer] }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async (ev: StartEvent<{ id: string }>, ctx) => {
      const answer = await ctx.waitForEvent(Answer, { requirements: { id: ev.id }, waiterEvent: new InputRequiredEvent({ prefix: `Approve ${ev.id}?` }), timeout: 3600 });
      return new StopEvent({ result: answer.ok });
    });
    const handler: WorkflowHandler<unknown> = reviews.run({ id: "r2" });
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) {
        expect(ev.prefix).toBe("Approve r2?");
        handler.sendEvent(new Answer({ id: "r1", ok: false }));
        handler.sendEvent(new Answer({ id: "r2", ok: true }));
      }
    }
    expect(await handler).toBe(true);
  });

  it("a wait is a pause: the work before waitForEvent runs once, not again when the answer comes (LlamaIndex replays the step)", async () => {
    let before = 0;
    const wf = new Workflow({ externalEvents: [HumanResponseEvent] }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async (_ev, ctx) => {
      before++;
      const answer = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: new InputRequiredEvent({ prefix: "go?" }) });
      return new StopEvent({ result: answer.response });
    });
    const handler = wf.run();
    for await (const ev of handler.streamEvents()) if (ev instanceof InputRequiredEvent) handler.sendEvent(new HumanResponseEvent({ response: "yes" }));
    expect(await handler).toBe("yes");
    expect(before).toBe(1);
  });
});
