// Ported from run-llama/workflows-py tests/test_context.py (each test names its upstream test).
import { describe, expect, it } from "vitest";
import { Context, Event, HumanResponseEvent, InputRequiredEvent, MemoryStore, StartEvent, StopEvent, TestClock, Workflow, WorkflowRuntimeError, step, suspendRun } from "stepwise-ai";
import { AnotherTestEvent, OneTestEvent, gate, tick } from "./helpers.js";

class Msg extends Event<{ msg: string }> {}
class Waiter1 extends Event<{ msg: string }> {}
class Waiter2 extends Event<{ msg: string }> {}
class ResultEvent extends Event<{ result: string }> {}

/** tests/test_context.py WaitingWorkflow: two steps wait for answers in parallel, told apart by waiter_id. */
class WaitingWorkflow extends Workflow<Record<string, never>, string[]> {
  @step({ accepts: StartEvent, emits: [Waiter1, Waiter2] })
  async spawn_waiters(_ev: StartEvent, ctx: Context) {
    ctx.sendEvent(new Waiter1({ msg: "foo" }));
    ctx.sendEvent(new Waiter2({ msg: "bar" }));
  }

  @step({ accepts: Waiter1, emits: ResultEvent, waitsFor: HumanResponseEvent })
  async waiter_one(_ev: Waiter1, ctx: Context) {
    const answer = await ctx.waitForEvent(HumanResponseEvent, {
      waiterEvent: new InputRequiredEvent({ prefix: "waiter_one" }),
      filter: (r) => r.waiter_id === "waiter_one",
    });
    return new ResultEvent({ result: String(answer.response) });
  }

  @step({ accepts: Waiter2, emits: ResultEvent, waitsFor: HumanResponseEvent })
  async waiter_two(_ev: Waiter2, ctx: Context) {
    const answer = await ctx.waitForEvent(HumanResponseEvent, {
      waiterEvent: new InputRequiredEvent({ prefix: "waiter_two" }),
      filter: (r) => r.waiter_id === "waiter_two",
    });
    return new ResultEvent({ result: String(answer.response) });
  }

  @step({ accepts: ResultEvent, emits: StopEvent })
  async collect_waiters(ev: ResultEvent, ctx: Context) {
    const events = ctx.collectEvents(ev, [ResultEvent, ResultEvent]);
    if (events === null) return;
    return new StopEvent({ result: events.map((e) => e.result) });
  }
}

describe("LlamaIndex parity: test_context.py", () => {
  it("test_collect_events: the collected events are the very instances, in the listed order", async () => {
    const ev1 = new OneTestEvent({});
    const ev2 = new AnotherTestEvent({});
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: AnotherTestEvent }, async function step2() {
        return ev2;
      })
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function step1() {
        await tick();
        return ev1;
      })
      .addStep({ accepts: [OneTestEvent, AnotherTestEvent], emits: StopEvent }, async function step3(ev, ctx) {
        const events = ctx.collectEvents(ev, [OneTestEvent, AnotherTestEvent]);
        return events === null ? undefined : new StopEvent({ result: events });
      });
    const result = (await wf.run()) as Event[];
    expect(result[0]).toBe(ev1);
    expect(result[1]).toBe(ev2);
  });

  it("test_get_default / test_get / test_legacy_data: store.get with a default, set then get", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      const before = ctx.store.get("test_key", 42);
      ctx.store.set("foo", 42);
      return new StopEvent({ result: [before, ctx.store.get("foo")] });
    });
    expect(await wf.run()).toEqual([42, 42]);
  });

  it("test_get_not_found, deliberate difference: a missing key reads as undefined (LlamaIndex raises ValueError)", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => new StopEvent({ result: [ctx.store.get("foo"), ctx.store.has("foo")] }));
    expect(await wf.run()).toEqual([undefined, false]);
  });

  it("test_send_event_to_non_existent_step: sending to a step that does not exist fails, naming it", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: [OneTestEvent, StopEvent] }, async (_ev, ctx) => {
      ctx.sendEvent(new OneTestEvent({}), { step: "does_not_exist" });
      return new StopEvent({});
    }).addStep({ accepts: OneTestEvent }, async () => {});
    const err = await wf.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err).toMatchObject({ code: "UNKNOWN_STEP" });
    expect(String((err as Error).message)).toMatch(/does_not_exist/);
  });

  it("test_send_event_to_wrong_step: sending to a step that does not accept the event fails", async () => {
    // `other` can never run (12.6 reports it): validation off, as the upstream test has no such check.
    const wf = new Workflow({ validate: false })
      .addStep({ accepts: StartEvent, emits: [OneTestEvent, StopEvent] }, async function start(_ev, ctx) {
        ctx.sendEvent(new OneTestEvent({}), { step: "other" });
        return new StopEvent({});
      })
      .addStep({ accepts: OneTestEvent }, async function sink() {})
      .addStep({ accepts: AnotherTestEvent, emits: AnotherTestEvent }, async function other() {});
    const err = await wf.run().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "UNKNOWN_STEP" });
    expect(String((err as Error).message)).toMatch(/other.*does not accept/);
  });

  it("test_wait_for_event / test_wait_for_event_with_requirements: a wait ends on the first event passing its filter", async () => {
    const wf = new Workflow({ externalEvents: [Msg] }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Msg }, async (_ev, ctx) => {
      const ev = await ctx.waitForEvent(Msg, { filter: (m) => m.msg === "foo" });
      return new StopEvent({ result: ev.msg });
    });
    const handler = wf.run();
    await tick();
    handler.sendEvent(new Msg({ msg: "bar" }));
    handler.sendEvent(new Msg({ msg: "foo" }));
    expect(await handler).toBe("foo");
  });

  it("test_wait_for_event_in_workflow: the step streams a question and waits for the answer from the caller", async () => {
    const wf = new Workflow({ externalEvents: [Msg] }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Msg }, async function step1(_ev, ctx) {
      ctx.writeEventToStream(new Msg({ msg: "foo" }));
      const result = await ctx.waitForEvent(Msg, { filter: (m) => m.msg !== "foo" });
      return new StopEvent({ result: result.msg });
    });
    const handler = wf.run();
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof Msg && ev.msg === "foo") {
        handler.sendEvent(new Msg({ msg: "bar" }));
        break;
      }
    }
    expect(await handler).toBe("bar");
  });

  it("test_prompt_and_wait: waiterEvent is streamed, and the answer carrying its waiter_id ends the wait", async () => {
    const clock = new TestClock();
    const wf = new Workflow({ clock }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async (_ev, ctx) => {
      const result = await ctx.waitForEvent(HumanResponseEvent, {
        waiterEvent: new InputRequiredEvent({ prefix: "test_prompt_and_wait" }),
        filter: (r) => r.waiter_id === "test_prompt_and_wait",
        timeout: 10,
      });
      return new StopEvent({ result: result.response });
    });
    const handler = wf.run();
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) handler.sendEvent(new HumanResponseEvent({ response: "foo", waiter_id: "test_prompt_and_wait" }));
    }
    expect(await handler).toBe("foo");
  });

  it("test_wait_for_multiple_events_in_workflow: parallel waiters each get the answer meant for them", async () => {
    const handler = new WaitingWorkflow().run();
    for await (const ev of handler.streamEvents()) {
      if (!(ev instanceof InputRequiredEvent)) continue;
      const prefix = (ev as InputRequiredEvent<{ prefix: string }>).prefix;
      handler.sendEvent(new HumanResponseEvent({ response: prefix === "waiter_one" ? "foo" : "bar", waiter_id: prefix }));
    }
    expect(await handler).toEqual(["foo", "bar"]);
  });

  it("[12.5] Context.collect_events semantics: collectEvents(ev, []) returns [] at once", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (ev, ctx) => new StopEvent({ result: ctx.collectEvents(ev, []) }));
    expect(await wf.run()).toEqual([]);
  });

  it("[12.5] Context.collect_events semantics: an event of a type not in the list returns null", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (ev, ctx) => new StopEvent({ result: ctx.collectEvents(ev, [OneTestEvent]) }));
    expect(await wf.run()).toBeNull();
  });

  it("[12.8] one HumanResponseEvent resolves every parallel waiter it matches", async () => {
    const wf = new Workflow<Record<string, never>, string[]>()
      .addStep({ accepts: StartEvent, emits: [Waiter1, Waiter2] }, async (_ev, ctx) => {
        ctx.sendEvent(new Waiter1({ msg: "a" }));
        ctx.sendEvent(new Waiter2({ msg: "b" }));
      })
      .addStep({ accepts: [Waiter1, Waiter2], emits: ResultEvent, waitsFor: HumanResponseEvent }, async (ev, ctx) => {
        const answer = await ctx.waitForEvent(HumanResponseEvent);
        return new ResultEvent({ result: `${ev.msg}:${String(answer.response)}` });
      })
      .addStep({ accepts: ResultEvent, emits: StopEvent }, async (ev, ctx) => {
        const both = ctx.collectEvents(ev, [ResultEvent, ResultEvent]);
        return both === null ? undefined : new StopEvent({ result: both.map((r) => r.result).sort() });
      });
    const run = wf.run();
    for (let i = 0; i < 5; i++) await tick();
    run.sendEvent(new HumanResponseEvent({ response: "yes" }));
    const outcome = await Promise.race([run, (async () => {
      for (let i = 0; i < 20; i++) await tick();
      return "still waiting";
    })()]);
    expect(outcome).toEqual(["a:yes", "b:yes"]);
    run.cancel();
    await run.catch(() => {});
  });

  it("[12.8] an answer is not lost when the waiting step fails after it and is retried", async () => {
    const clock = new TestClock();
    let attempts = 0;
    const wf = new Workflow({ clock, timeout: 60 }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent, retry: { maxAttempts: 2 } }, async (_ev, ctx) => {
      const answer = await ctx.waitForEvent(HumanResponseEvent, { timeout: 10 });
      if (++attempts === 1) throw new Error("flaky after the answer");
      return new StopEvent({ result: answer.response });
    });
    const handler = wf.run();
    const settled = Promise.allSettled([handler]);
    await tick();
    handler.sendEvent(new HumanResponseEvent({ response: "yes" }));
    await clock.advance(11_000);
    const [outcome] = await settled;
    expect(outcome).toEqual({ status: "fulfilled", value: "yes" });
  });

  it("[12.8] each retried attempt gets the answers its waits had, in order, with filters; the step is asked once", async () => {
    const clock = new TestClock();
    const asked: number[] = [];
    const got: string[][] = [];
    const wf = new Workflow({ clock, timeout: 60 }).addStep(
      { accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent, retry: { maxAttempts: 3, delay: 1 } },
      async (_ev, ctx) => {
        const first = await ctx.waitForEvent(HumanResponseEvent, { filter: (ev) => String(ev.response).startsWith("a"), waiterEvent: new InputRequiredEvent({ prefix: "a?" }), timeout: 10 });
        const second = await ctx.waitForEvent(HumanResponseEvent, { filter: (ev) => String(ev.response).startsWith("b"), timeout: 10 });
        got.push([String(first.response), String(second.response)]);
        if (ctx.attempt < 3) throw new Error(`flaky on attempt ${ctx.attempt}`);
        return new StopEvent({ result: `${String(first.response)}+${String(second.response)}` });
      },
    );
    const handler = wf.run();
    const settled = Promise.allSettled([handler]);
    const reading = (async () => {
      for await (const ev of handler.streamEvents()) if (ev instanceof InputRequiredEvent) asked.push(asked.length);
    })().catch(() => {});
    await tick();
    handler.sendEvent(new HumanResponseEvent({ response: "b2" }));
    handler.sendEvent(new HumanResponseEvent({ response: "a1" }));
    await clock.advance(1_000);
    await clock.advance(1_000);
    const [outcome] = await settled;
    await reading;
    expect(outcome).toEqual({ status: "fulfilled", value: "a1+b2" });
    expect(got).toEqual([["a1", "b2"], ["a1", "b2"], ["a1", "b2"]]);
    // A wait whose answer is at hand does not stream its waiterEvent: the person is asked once.
    expect(asked).toHaveLength(1);
  });

  it("[12.8] a step failing after each answer given back gives up after maxAttempts, with its own error", async () => {
    const clock = new TestClock();
    let attempts = 0;
    const wf = new Workflow({ clock, timeout: 60 }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent, retry: { maxAttempts: 2 } }, async (_ev, ctx) => {
      attempts++;
      await ctx.waitForEvent(HumanResponseEvent, { timeout: 10 });
      throw new Error("always");
    });
    const handler = wf.run();
    const settled = Promise.allSettled([handler]);
    await tick();
    handler.sendEvent(new HumanResponseEvent({ response: "yes" }));
    const [outcome] = await settled;
    expect(outcome?.status).toBe("rejected");
    expect(((outcome as PromiseRejectedResult).reason as Error).message).toMatch(/attempt 2 of 2.*always/);
    expect(attempts).toBe(2);
  });

  /** A durable approval whose first attempt fails after its answer came; `seen` records each attempt's answer. */
  function flakyApproval(store: MemoryStore, clock: TestClock, seen: string[]) {
    return new Workflow<Record<string, never>, string>({ store, clock, timeout: null }).addStep(
      { accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent, retry: { maxAttempts: 2, delay: 30 } },
      async function approve(_ev, ctx) {
        const answer = await ctx.waitForEvent(HumanResponseEvent);
        seen.push(`${ctx.attempt}:${answer.response}`);
        if (ctx.attempt === 1) throw new Error("flaky after the answer");
        return new StopEvent({ result: answer.response });
      },
    );
  }

  it("[12.8] durable, in one process: the retry after the delay gets the journaled answer", async () => {
    const store = new MemoryStore();
    const clock = new TestClock();
    const seen: string[] = [];
    const handler = flakyApproval(store, clock, seen).run();
    await tick();
    handler.sendEvent(new HumanResponseEvent({ response: "yes" }));
    for (let i = 0; i < 5 && seen.length === 0; i++) await tick();
    await clock.advance(30_000);
    expect(await handler).toBe("yes");
    expect(seen).toEqual(["1:yes", "2:yes"]);
    const received = store.getJournal(handler.runId).filter((e) => e.kind === "received");
    expect(received).toHaveLength(2);
  });

  it("[12.8] durable: the answer of an attempt that failed waits in the journal for the retry, across a suspend and resume", async () => {
    const store = new MemoryStore();
    const clock = new TestClock();
    const seen: string[] = [];
    const build = () => flakyApproval(store, clock, seen);
    const handler = build().run();
    await tick();
    handler.sendEvent(new HumanResponseEvent({ response: "yes" }));
    for (let i = 0; i < 5 && seen.length === 0; i++) await tick();
    expect(seen).toEqual(["1:yes"]);
    // Suspended during the retry's delay: the second attempt runs after the resume, with the answer.
    await suspendRun(handler);
    await handler.catch(() => {});
    expect(await build().resume(handler.runId)).toBe("yes");
    expect(seen).toEqual(["1:yes", "2:yes"]);
  });

  it("a filter that never matches keeps the wait open until the step's wait timeout", async () => {
    const clock = new TestClock();
    const held = gate();
    const wf = new Workflow({ clock, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async (_ev, ctx) => {
      held.open();
      await ctx.waitForEvent(HumanResponseEvent, { filter: () => false, timeout: 5 });
      return new StopEvent({});
    });
    const handler = wf.run();
    const settled = Promise.allSettled([handler]);
    await held.promise;
    handler.sendEvent(new HumanResponseEvent({ response: "ignored" }));
    await clock.advance(5_000);
    const [outcome] = await settled;
    expect(outcome?.status).toBe("rejected");
  });
});
