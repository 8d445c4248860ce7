// Ported from run-llama/workflows-py tests/test_workflow.py (each test names its upstream test).
import { describe, expect, it } from "vitest";
import {
  Context,
  Event,
  EventValidationError,
  HumanResponseEvent,
  InputRequiredEvent,
  MemoryStore,
  StartEvent,
  StopEvent,
  TestClock,
  Workflow,
  WorkflowCancelledError,
  WorkflowRuntimeError,
  WorkflowTimeoutError,
  WorkflowValidationError,
  step,
  suspendRun,
} from "stepwise-ai";
import { z } from "zod";
import { AnotherTestEvent, DummyWorkflow, LastEvent, OneTestEvent, gate, tick } from "./helpers.js";

class MyStart extends StartEvent<{ query: string }> {}
class MyStop extends StopEvent<{ result?: undefined; outcome: string }> {}

describe("LlamaIndex parity: test_workflow.py", () => {
  it("test_workflow_run: a three-step run resolves to the StopEvent's result", async () => {
    expect(await new DummyWorkflow({ timeout: 10 }).run()).toBe("Workflow completed");
  });

  it("test_workflow_cancelled_by_user: cancel() rejects the run with WorkflowCancelledError", async () => {
    const held = gate();
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async () => {
      await held.promise;
      return new StopEvent({ result: 1 });
    });
    const handler = wf.run();
    await tick();
    handler.cancel();
    await expect(handler).rejects.toBeInstanceOf(WorkflowCancelledError);
    held.open();
  });

  it("test_workflow_timeout: a run past its timeout fails with WorkflowTimeoutError and aborts the slow step", async () => {
    const clock = new TestClock();
    let aborted = false;
    const wf = new Workflow({ timeout: 1, clock }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      aborted = true;
      return new StopEvent({ result: "Done" });
    });
    const handler = wf.run();
    const outcome = expect(handler).rejects.toBeInstanceOf(WorkflowTimeoutError);
    await clock.advance(1_000);
    await outcome;
    expect(aborted).toBe(true);
  });

  it("test_workflow_validation_unproduced_events: no step emits StopEvent", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent }, async function invalid_step() {});
    await expect(wf.run()).rejects.toThrow(WorkflowValidationError);
    expect(() => wf.validate()).toThrow(/StopEvent/);
  });

  it("test_workflow_validation_unconsumed_events: an event produced but never consumed is named", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function invalid_step() {
        return new OneTestEvent({});
      })
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function a_step() {
        return new StopEvent({});
      });
    await expect(wf.run()).rejects.toThrow(/OneTestEvent/);
    await expect(wf.run()).rejects.toBeInstanceOf(WorkflowValidationError);
  });

  it("test_workflow_validation_start_event_not_consumed / test_wrong_event_types: no step accepts StartEvent", () => {
    const wf = new Workflow()
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, async function a_step() {
        return new StopEvent({});
      })
      .addStep({ accepts: OneTestEvent, emits: OneTestEvent }, async function another_step() {
        return new OneTestEvent({});
      });
    expect(() => wf.validate()).toThrow(/StartEvent/);
  });

  it("test_workflow_event_propagation: steps run in event order", async () => {
    const events: string[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function step1() {
        events.push("step1");
        return new OneTestEvent({});
      })
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, async function step2() {
        events.push("step2");
        return new StopEvent({ result: "Done" });
      });
    await wf.run();
    expect(events).toEqual(["step1", "step2"]);
  });

  it("test_workflow_sync_async_steps / test_workflow_sync_steps_only: synchronous steps, collectEvents of a StartEvent", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, function step_one(ev, ctx) {
        ctx.collectEvents(ev, [StartEvent]);
        return new OneTestEvent({});
      })
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, function step_two() {
        return new StopEvent({ result: "sync" });
      });
    expect(await wf.run()).toBe("sync");
  });

  /** tests/test_workflow.py NumWorkersWorkflow, with `lastAccepted` choosing whether final_step also takes LastEvent. */
  function numWorkers(lastAccepted: boolean) {
    const probe = { inFlight: 0, peak: 0, held: gate() };
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: [OneTestEvent, AnotherTestEvent, LastEvent] }, async function original_step(_ev, ctx) {
        ctx.store.set("num_to_collect", 3);
        for (const p of ["test1", "test2", "test3"]) ctx.sendEvent(new OneTestEvent({ test_param: p }));
        ctx.sendEvent(new AnotherTestEvent({ another_test_param: "test4" }));
        return new LastEvent();
      })
      .addStep({ accepts: OneTestEvent, emits: AnotherTestEvent, numWorkers: 3 }, async function test_step(ev) {
        probe.peak = Math.max(probe.peak, ++probe.inFlight);
        await probe.held.promise;
        probe.inFlight--;
        return new AnotherTestEvent({ another_test_param: ev.test_param ?? "" });
      })
      .addStep({ accepts: lastAccepted ? [AnotherTestEvent, LastEvent] : AnotherTestEvent, emits: StopEvent }, async function final_step(ev, ctx) {
        const n = ctx.store.get("num_to_collect", 0);
        const events = ctx.collectEvents(ev, Array.from({ length: n }, () => AnotherTestEvent));
        if (events === null) return;
        return new StopEvent({ result: events.map((e) => e.another_test_param) });
      })
      .addStep({ accepts: LastEvent }, function sink() {});
    return { wf, probe };
  }

  it("test_workflow_num_workers: numWorkers caps in-flight invocations; collectEvents of N copies of one class", async () => {
    const { wf, probe } = numWorkers(false);
    const handler = wf.run();
    const settled = Promise.allSettled([handler]);
    for (let i = 0; i < 5; i++) await tick();
    expect(probe.peak).toBe(3);
    probe.held.open();
    const [outcome] = await settled;
    expect(outcome).toMatchObject({ status: "fulfilled" });
    expect(new Set((await handler) as string[])).toEqual(new Set(["test4", "test1", "test2"]));
  });

  it("[12.5] test_workflow_num_workers: an event of a type not in collectEvents' list (LastEvent) returns null instead of failing the run", async () => {
    const { wf, probe } = numWorkers(true);
    const settled = Promise.allSettled([wf.run()]);
    probe.held.open();
    const [outcome] = await settled;
    expect(outcome).toMatchObject({ status: "fulfilled" });
  });

  it("test_workflow_step_send_event: sendEvent(ev, { step }) reaches only that step", async () => {
    const ran: string[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function step1(_ev, ctx) {
        ctx.sendEvent(new OneTestEvent({}), { step: "step2" });
      })
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, async function step2() {
        ran.push("step2");
        return new StopEvent({ result: "step2" });
      })
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, async function step3() {
        ran.push("step3");
        return new StopEvent({ result: "step3" });
      });
    expect(await wf.run()).toBe("step2");
    expect(ran).toEqual(["step2"]);
  });

  it("test_workflow_step_send_event_to_None: sendEvent without a step broadcasts", async () => {
    const wf = new Workflow({ verbose: false })
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function step1(_ev, ctx) {
        ctx.sendEvent(new OneTestEvent({}));
      })
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, async function step2() {
        return new StopEvent({ result: "step2" });
      });
    expect(await wf.run()).toBe("step2");
  });

  it("test_workflow_step_returning_bogus: a step returning a string fails the run naming the step", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function step1() {
        return "foo" as unknown as OneTestEvent;
      })
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, async function step2() {
        return new OneTestEvent({});
      })
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, async function step3() {
        return new StopEvent({ result: "step2" });
      });
    const err = await wf.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err).toMatchObject({ code: "NOT_AN_EVENT", step: "step1" });
    expect(String((err as Error).message)).toMatch(/step1.*not an Event/);
  });

  it("test_workflow_multiple_runs: one instance runs concurrently with independent inputs", async () => {
    const wf = new Workflow<{ number: number }, number>().addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ number: number }>) => new StopEvent({ result: ev.number * 2 }));
    const results = await Promise.all([wf.run({ number: 3 }), wf.run({ number: 42 }), wf.run({ number: -99 })]);
    expect(new Set(results)).toEqual(new Set([6, 84, -198]));
  });

  it("test_add_step: a second step with a taken name is a validation error", () => {
    class TestWorkflow extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      foo_step() {
        return new StopEvent({});
      }
    }
    TestWorkflow.addStep({ accepts: StartEvent }, function foo_step() {});
    expect(() => new TestWorkflow().validate()).toThrow(/foo_step/);
  });

  it("test_workflow_task_raises: a step's error fails the run as WorkflowRuntimeError with the step and the cause", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async function failing() {
      throw new Error("The step raised an error!");
    });
    const err = await wf.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err).toMatchObject({ step: "failing", code: "STEP_FAILED" });
    expect((err as WorkflowRuntimeError).cause).toMatchObject({ message: "The step raised an error!" });
  });

  it("test_workflow_disable_validation: validate: false skips validation", async () => {
    // No step emits StopEvent by its declaration, yet the step returns one: only validation objects.
    const wf = new Workflow({ validate: false }).addStep({ accepts: StartEvent, emits: StopEvent }, async () => new StopEvent({ result: "ran" }));
    expect(await wf.run()).toBe("ran");
    const invalid = new Workflow({ validate: false }).addStep({ accepts: StartEvent, emits: [OneTestEvent, StopEvent] }, async () => new StopEvent({ result: "ran" }));
    expect(await invalid.run()).toBe("ran");
  });

  it("test_workflow_continue_context (first part): two runs of one instance have independent state", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.store.set("number", ctx.store.get("number", 0) + 1);
      return new StopEvent({ result: ctx.store.get("number") });
    });
    expect(await wf.run()).toBe(1);
    expect(await wf.run()).toBe(1);
  });

  it("[12.11] test_workflow_continue_context (third run): a run starts from given state, readable on the handler after the run", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.store.set("number", ctx.store.get("number", 0) + 1);
      return new StopEvent({ result: "Done" });
    });
    const first = wf.run();
    await first;
    const state = first.state;
    expect(state).toEqual({ number: 1 });
    const second = wf.run({}, { state });
    await second;
    expect(second.state).toEqual({ number: 2 });
  });

  it("test_custom_stop_event: custom StartEvent and StopEvent subclasses; the run returns the StopEvent whole", async () => {
    const wf = new Workflow<{ query: string }, MyStop>()
      .addStep({ accepts: MyStart, emits: OneTestEvent }, async function start_step(ev) {
        return new OneTestEvent({ test_param: ev.query });
      })
      .addStep({ accepts: OneTestEvent, emits: LastEvent }, async function middle_step() {
        return new LastEvent();
      })
      .addStep({ accepts: LastEvent, emits: MyStop }, async function end_step() {
        return new MyStop({ outcome: "Workflow completed" });
      });
    const result = await wf.run({ query: "foo" });
    expect(result).toBeInstanceOf(MyStop);
    expect(result.outcome).toBe("Workflow completed");

    // test_workflow_stream_events_exits: the stream ends with the custom StopEvent.
    const handler = wf.run({ query: "foo" });
    const seen: Event[] = [];
    for await (const ev of handler.streamEvents()) seen.push(ev);
    expect(seen.at(-1)).toBeInstanceOf(MyStop);
    expect((await handler).outcome).toBe("Workflow completed");
  });

  it("test__get_start_event_instance: run() builds the workflow's StartEvent class and rejects fields its schema refuses", async () => {
    class CustomStart extends StartEvent.schema(z.object({ field: z.string() })) {}
    let got: unknown;
    const wf = new Workflow().addStep({ accepts: CustomStart, emits: StopEvent }, async (ev) => {
      got = ev;
      return new StopEvent({ result: ev.field });
    });
    expect(await wf.run({ field: "test" })).toBe("test");
    expect(got).toBeInstanceOf(CustomStart);
    await expect(wf.run({ wrong_field: "test" })).rejects.toBeInstanceOf(EventValidationError);
  });

  it("test__ensure_start_event_class_multiple_types, deliberate difference: a StartEvent subclass also reaches steps accepting StartEvent", async () => {
    // LlamaIndex refuses two StartEvent types; stepwise routes by instanceof, so run() builds
    // the subclass and both steps receive it.
    const got: string[] = [];
    const wf = new Workflow()
      .addStep({ accepts: MyStart }, async function one(ev) {
        got.push(`one:${ev.query}`);
      })
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function two(ev) {
        got.push(`two:${String(ev.query)}`);
        return new StopEvent({ result: ev instanceof MyStart });
      });
    expect(await wf.run({ query: "q" })).toBe(true);
    expect(got.sort()).toEqual(["one:q", "two:q"]);
  });

  it("[run-loop bug, not in issue 12] test_workflow_sync_async_steps: an event reaching two steps, the first synchronous and silent, does not stall the run", async () => {
    // The synchronous step finishes inside the delivery loop, the run counts no active step and
    // declares itself stalled before the event reaches the second step.
    const wf = new Workflow()
      .addStep({ accepts: StartEvent }, function one() {})
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function two() {
        return new StopEvent({ result: "ok" });
      });
    expect(await wf.run()).toBe("ok");
  });

  it("[run-loop bug] a step's event reaching a synchronous silent step and then another does not stall the run", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: OneTestEvent }, function start() {
        return new OneTestEvent({});
      })
      .addStep({ accepts: OneTestEvent }, function silent() {})
      .addStep({ accepts: OneTestEvent, emits: StopEvent }, function finish() {
        return new StopEvent({ result: "ok" });
      });
    expect(await wf.run()).toBe("ok");
  });

  it("[run-loop bug] a step returning two events, the first taken by a synchronous silent step, does not stall the run", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: [OneTestEvent, AnotherTestEvent] }, function start() {
        return [new OneTestEvent({}), new AnotherTestEvent({})];
      })
      .addStep({ accepts: OneTestEvent }, function silent() {})
      .addStep({ accepts: AnotherTestEvent, emits: StopEvent }, async function finish() {
        return new StopEvent({ result: "ok" });
      });
    expect(await wf.run()).toBe("ok");
  });

  it("[run-loop bug] a run whose every step is synchronous and silent still fails as stalled, once", async () => {
    const wf = new Workflow({ validate: false })
      .addStep({ accepts: StartEvent }, function one() {})
      .addStep({ accepts: StartEvent }, function two() {});
    await expect(wf.run()).rejects.toMatchObject({ code: "STALLED" });
  });

  it("[run-loop bug] an event sent from outside to two steps, the first synchronous and silent, reaches the second", async () => {
    const wf = new Workflow({ timeout: null, externalEvents: [AnotherTestEvent] })
      .addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: LastEvent }, async function wait(_ev, ctx) {
        await ctx.waitForEvent(LastEvent);
        return new StopEvent({ result: "waited" });
      })
      .addStep({ accepts: AnotherTestEvent }, function silent() {})
      .addStep({ accepts: AnotherTestEvent, emits: LastEvent }, function relay() {
        return new LastEvent();
      });
    const handler = wf.run();
    await tick();
    handler.sendEvent(new AnotherTestEvent({}));
    expect(await handler).toBe("waited");
  });

  it("[12.7] test__get_start_event_instance: run(anEventThatIsNotAStartEvent) is rejected at once", async () => {
    const wf = new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async () => new StopEvent({ result: 1 }));
    const handler = wf.run(new OneTestEvent({}));
    const settled = await Promise.race([handler.then(() => "resolved", (e: unknown) => e), tick().then(() => tick()).then(() => "pending")]);
    expect(settled).toBeInstanceOf(Error);
    expect(String((settled as Error).message)).toMatch(/StartEvent/);
  });

  it("[12.6] test_workflow_validation_steps_cannot_accept_stop_event: a step accepting StopEvent is a validation error", () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function start_step() {
        return new StopEvent({});
      })
      .addStep({ accepts: StopEvent, emits: StopEvent }, async function bad_step() {
        return new StopEvent({});
      });
    expect(() => wf.validate()).toThrow(/bad_step.*StopEvent/);
  });

  it("[12.6] steps unreachable from StartEvent are reported by validation", () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function start() {
        return new StopEvent({});
      })
      .addStep({ accepts: OneTestEvent, emits: AnotherTestEvent }, async function island_a() {
        return new AnotherTestEvent({});
      })
      .addStep({ accepts: AnotherTestEvent, emits: OneTestEvent }, async function island_b() {
        return new OneTestEvent({});
      });
    expect(() => wf.validate()).toThrow(/island_a/);
  });

  it("[12.12] test_workflow_run_num_concurrent: numConcurrentRuns queues the runs beyond it", async () => {
    let active = 0;
    let peak = 0;
    const held = gate();
    const wf = new Workflow({ numConcurrentRuns: 1 }).addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ run_num: number }>) => {
      peak = Math.max(peak, ++active);
      await held.promise;
      active--;
      return new StopEvent({ result: `Run ${ev.run_num}: Done` });
    });
    const runs = [1, 2, 3, 4].map((n) => wf.run({ run_num: n }));
    for (let i = 0; i < 5; i++) await tick();
    held.open();
    expect(await Promise.all(runs)).toEqual([1, 2, 3, 4].map((n) => `Run ${n}: Done`));
    expect(peak).toBe(1);
  });
});

describe("numConcurrentRuns (12.12)", () => {
  it("runs beyond the limit start in the order run() was called, each when a place frees", async () => {
    const order: string[] = [];
    const gates = new Map<number, ReturnType<typeof gate<void>>>();
    const wf = new Workflow({ numConcurrentRuns: 2 }).addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ n: number }>) => {
      order.push(`start ${ev.n}`);
      const g = gate<void>();
      gates.set(ev.n, g);
      await g.promise;
      return new StopEvent({ result: ev.n });
    });
    const runs = [1, 2, 3, 4, 5].map((n) => wf.run({ n }));
    for (let i = 0; i < 3; i++) await tick();
    expect(order).toEqual(["start 1", "start 2"]);
    gates.get(2)?.open();
    await runs[1];
    for (let i = 0; i < 3; i++) await tick();
    expect(order).toEqual(["start 1", "start 2", "start 3"]);
    gates.get(1)?.open();
    gates.get(3)?.open();
    await Promise.all([runs[0], runs[2]]);
    for (let i = 0; i < 3; i++) await tick();
    expect(order).toEqual(["start 1", "start 2", "start 3", "start 4", "start 5"]);
    gates.get(4)?.open();
    gates.get(5)?.open();
    expect(await Promise.all(runs)).toEqual([1, 2, 3, 4, 5]);
  });

  it("a waiting run can be cancelled (it never starts, and frees nothing it did not hold); a failed run frees its place", async () => {
    let started = 0;
    const held = gate();
    const wf = new Workflow({ numConcurrentRuns: 1 }).addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ fail?: boolean }>) => {
      started++;
      if (ev.fail === true) throw new Error("boom");
      await held.promise;
      return new StopEvent({ result: "ok" });
    });
    const first = wf.run({ fail: true });
    const waiting = wf.run({});
    const third = wf.run({});
    waiting.cancel();
    await expect(first).rejects.toMatchObject({ code: "STEP_FAILED" });
    await expect(waiting).rejects.toBeInstanceOf(WorkflowCancelledError);
    for (let i = 0; i < 3; i++) await tick();
    expect(started).toBe(2);
    held.open();
    expect(await third).toBe("ok");
    expect(started).toBe(2);
  });

  it("an event sent to a waiting run is delivered once it begins", async () => {
    const held = gate();
    const wf = new Workflow({ numConcurrentRuns: 1, timeout: null })
      .addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async (ev: StartEvent<{ n: number }>, ctx) => {
        if (ev.n === 1) await held.promise;
        else await ctx.waitForEvent(HumanResponseEvent);
        return new StopEvent({ result: ev.n });
      });
    const first = wf.run({ n: 1 });
    const second = wf.run({ n: 2 });
    second.sendEvent(new HumanResponseEvent({ response: "early" }));
    held.open();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
  });

  it("rejects a numConcurrentRuns that is not a whole number ≥ 1", () => {
    expect(() => new Workflow({ numConcurrentRuns: 0 })).toThrow(/numConcurrentRuns must be a whole number ≥ 1.*got 0/);
    expect(() => new Workflow({ numConcurrentRuns: 1.5 })).toThrow(TypeError);
  });
});

/** tests/test_workflow.py: HumanInTheLoopWorkflow, LlamaIndex's two-step pattern. */
function humanInTheLoop(options: ConstructorParameters<typeof Workflow>[0] = {}) {
  return new Workflow<Record<string, never>, string>(options)
    .addStep({ accepts: StartEvent, emits: InputRequiredEvent }, async function step1(_ev, ctx) {
      ctx.store.set("step1_runs", ctx.store.get("step1_runs", 0) + 1);
      return new InputRequiredEvent({ prefix: "Enter a number: " });
    })
    .addStep({ accepts: HumanResponseEvent, emits: StopEvent }, async function step2(ev, ctx) {
      ctx.store.set("step2_runs", ctx.store.get("step2_runs", 0) + 1);
      return new StopEvent({ result: String(ev.response) });
    });
}

describe("LlamaIndex parity: human in the loop (test_workflow.py)", () => {
  it("[12.9] test_human_in_the_loop: a step returning InputRequiredEvent validates, streams it, and the answer reaches the HumanResponseEvent step", async () => {
    const handler = humanInTheLoop().run();
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) {
        expect((ev as InputRequiredEvent<{ prefix: string }>).prefix).toBe("Enter a number: ");
        handler.sendEvent(new HumanResponseEvent({ response: "42" }));
      }
    }
    expect(await handler).toBe("42");
  });

  it("[12.9] test_human_in_the_loop_with_resume: the run is suspended at the question and answered later; each step ran once", async () => {
    const store = new MemoryStore();
    const handler = humanInTheLoop({ store, timeout: null }).run();
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) break;
    }
    await suspendRun(handler);
    await handler.catch(() => {});
    expect(await humanInTheLoop({ store, timeout: null }).sendEvent(handler.runId, new HumanResponseEvent({ response: "42" }))).toBe("42");
  });

  it("[12.9] the two-step pattern validates; the question is streamed once and not routed anywhere", async () => {
    const wf = humanInTheLoop();
    expect(() => wf.validate()).not.toThrow();
    const handler = wf.run();
    const seen: string[] = [];
    for await (const ev of handler.streamEvents()) {
      seen.push(ev.constructor.name);
      if (ev instanceof InputRequiredEvent) handler.sendEvent(new HumanResponseEvent({ response: "7" }));
    }
    expect(seen).toEqual(["InputRequiredEvent", "StopEvent"]);
    expect(await handler).toBe("7");
  });

  it("[12.9] a subclass of InputRequiredEvent sent with ctx.sendEvent is streamed too, with its fields", async () => {
    class AskAge extends InputRequiredEvent<{ prefix: string; user: string }> {}
    class Age extends HumanResponseEvent<{ response: string; years: number }> {}
    const wf = new Workflow<Record<string, never>, number>()
      .addStep({ accepts: StartEvent, emits: AskAge }, function ask(_ev, ctx) {
        ctx.sendEvent(new AskAge({ prefix: "Age? ", user: "ada" }));
      })
      .addStep({ accepts: Age, emits: StopEvent }, (ev) => new StopEvent({ result: ev.years + 1 }));
    const handler = wf.run();
    const asked: string[] = [];
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof AskAge) {
        asked.push(ev.user);
        handler.sendEvent(new Age({ response: "41", years: 41 }));
      }
    }
    expect(asked).toEqual(["ada"]);
    expect(await handler).toBe(42);
  });

  it("[12.9] suspended at the question and answered through the store: step1 is not run again, step2 runs once", async () => {
    const store = new MemoryStore();
    const runs = { step1: 0, step2: 0 };
    const build = () =>
      new Workflow<Record<string, never>, string>({ store, timeout: null })
        .addStep({ accepts: StartEvent, emits: InputRequiredEvent }, function step1() {
          runs.step1++;
          return new InputRequiredEvent({ prefix: "Enter a number: " });
        })
        .addStep({ accepts: HumanResponseEvent, emits: StopEvent }, function step2(ev) {
          runs.step2++;
          return new StopEvent({ result: `got ${String(ev.response)}` });
        });
    const handler = build().run();
    for await (const ev of handler.streamEvents()) if (ev instanceof InputRequiredEvent) break;
    await suspendRun(handler);
    await handler.catch(() => {});
    expect(runs).toEqual({ step1: 1, step2: 0 });
    expect(await build().sendEvent(handler.runId, new HumanResponseEvent({ response: "5" }))).toBe("got 5");
    expect(runs).toEqual({ step1: 1, step2: 1 });
  });

  it("test_human_in_the_loop, the stepwise way: waitForEvent with a waiterEvent streams the question and takes the answer", async () => {
    const wf = new Workflow<Record<string, never>, string>().addStep(
      { accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent },
      async (_ev, ctx: Context) => {
        const answer = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: new InputRequiredEvent({ prefix: "Enter a number: " }) });
        return new StopEvent({ result: String(answer.response) });
      },
    );
    const handler = wf.run();
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) handler.sendEvent(new HumanResponseEvent({ response: "42" }));
    }
    expect(await handler).toBe("42");
  });
});
