import { describe, expect, it, vi } from "vitest";
import {
  Context,
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  step,
  StopEvent,
  RunFinishedError,
  StreamConsumedError,
  TestClock,
  Workflow,
  WorkflowCancelledError,
  WorkflowRuntimeError,
  WorkflowTimeoutError,
  WorkflowValidationError,
  type InspectionEvent,
} from "../../src/index.js";

class BaseEvent extends Event<{ payload: string }> {}
class SecondStepEvent extends BaseEvent {}
class A extends BaseEvent {}
class B extends BaseEvent {}
class C extends BaseEvent {}
class Progress extends BaseEvent {}

class SimpleWorkflow extends Workflow<{ payload: string }, string> {
  @step({ accepts: StartEvent, emits: SecondStepEvent })
  async start(ev: StartEvent<{ payload: string }>) {
    return new SecondStepEvent({ payload: ev.payload });
  }

  @step({ accepts: SecondStepEvent, emits: StopEvent })
  async secondStep(ev: SecondStepEvent) {
    return new StopEvent({ result: ev.payload });
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe("steps and runs", () => {
  it("runs the seed's SimpleWorkflow", async () => {
    expect(await new SimpleWorkflow({ timeout: 10 }).run({ payload: "hello world" })).toBe("hello world");
  });

  it("accepts a StartEvent instance as input", async () => {
    expect(await new SimpleWorkflow().run(new StartEvent({ payload: "x" }))).toBe("x");
  });

  it("returns a custom StopEvent subclass whole", async () => {
    class Done extends StopEvent<{ result: number; extra: string }> {}
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: Done }, async () => new Done({ result: 1, extra: "e" }));
    const out = await wf.run();
    expect(out).toBeInstanceOf(Done);
    expect((out as Done).extra).toBe("e");
  });

  it("routes an event to every accepting step, including steps accepting a parent class", async () => {
    const seen: string[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: SecondStepEvent }, async () => new SecondStepEvent({ payload: "p" }))
      .addStep({ accepts: BaseEvent, emits: A }, async function base(ev) {
        seen.push(`base:${ev.constructor.name}`);
        return new A({ payload: "a" });
      })
      .addStep({ accepts: SecondStepEvent }, async function exact() {
        seen.push("exact");
      })
      .addStep({ accepts: A, emits: StopEvent }, async () => new StopEvent({ result: "done" }));
    expect(await wf.run()).toBe("done");
    expect(seen).toContain("base:SecondStepEvent");
    expect(seen).toContain("exact");
  });

  it("fans out arrays of events and runs independent steps concurrently", async () => {
    let inFlight = 0;
    let peak = 0;
    class Job extends Event<{ i: number }> {}
    class Done extends Event<{ i: number }> {}
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: Job }, async () => [0, 1, 2].map((i) => new Job({ i })))
      .addStep({ accepts: Job, emits: Done }, async (ev) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick();
        inFlight--;
        return new Done({ i: ev.i });
      })
      .addStep({ accepts: Done, emits: StopEvent }, async (ev, ctx) => {
        const all = ctx.collectEvents(ev, [Done, Done, Done]);
        return all && new StopEvent({ result: all.map((d) => d.i).sort() });
      });
    expect(await wf.run()).toEqual([0, 1, 2]);
    expect(peak).toBe(3);
  });

  it("caps in-flight invocations of one step with numWorkers and queues the rest", async () => {
    for (const numWorkers of [1, 2, 4]) {
      let inFlight = 0;
      let peak = 0;
      class Job extends Event<{ i: number }> {}
      const wf = new Workflow()
        .addStep({ accepts: StartEvent, emits: Job }, async () => Array.from({ length: 10 }, (_, i) => new Job({ i })))
        .addStep({ accepts: Job, emits: StopEvent, numWorkers }, async (ev, ctx) => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          await tick();
          inFlight--;
          const n = ctx.store.get("n", 0) + 1;
          ctx.store.set("n", n);
          return n === 10 ? new StopEvent({ result: ev.i }) : undefined;
        });
      await wf.run();
      expect(peak).toBe(numWorkers);
    }
  });

  it("defaults numWorkers to 4", async () => {
    let peak = 0;
    let inFlight = 0;
    class Job extends Event {}
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: Job }, async () => Array.from({ length: 8 }, () => new Job()))
      .addStep({ accepts: Job, emits: StopEvent }, async (_ev, ctx) => {
        peak = Math.max(peak, ++inFlight);
        await tick();
        inFlight--;
        ctx.store.set("n", ctx.store.get("n", 0) + 1);
        return ctx.store.get("n") === 8 ? new StopEvent() : undefined;
      });
    await wf.run();
    expect(peak).toBe(4);
  });

  it("isolates many concurrent runs on one instance", async () => {
    const wf = new SimpleWorkflow();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => wf.run({ payload: `p${i}` })));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => `p${i}`));
  });

  it("inherits steps and lets a subclass replace one by name", async () => {
    class V2 extends SimpleWorkflow {
      @step({ accepts: SecondStepEvent, emits: StopEvent })
      override async secondStep(ev: SecondStepEvent) {
        return new StopEvent({ result: `v2:${ev.payload}` });
      }
    }
    expect(await new V2().run({ payload: "x" })).toBe("v2:x");
    expect(await new SimpleWorkflow().run({ payload: "x" })).toBe("x");
  });

  it("adds steps on a class (unbound steps) and on an instance, chainably", async () => {
    class Pipeline extends Workflow {}
    Pipeline.addStep({ accepts: StartEvent, emits: A }, async function first(ev) {
      return new A({ payload: `${ev.payload}!` });
    });
    Pipeline.addStep({ accepts: A, emits: StopEvent }, async function second(this: Pipeline, ev) {
      expect(this).toBeInstanceOf(Pipeline);
      return new StopEvent({ result: ev.payload });
    });
    expect(await new Pipeline().run({ payload: "go" })).toBe("go!");
    expect(() => Workflow.addStep({ accepts: StartEvent }, async () => {})).toThrow(/subclass or on an instance/);
  });

  it("passes a context with runId, attempt, stepRunId and a signal", async () => {
    let seen: Context | undefined;
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      seen = ctx;
      expect(ctx.signal.aborted).toBe(false);
      return new StopEvent({ result: ctx.runId });
    });
    const h = wf.run();
    expect(await h).toBe(h.runId);
    expect(seen?.attempt).toBe(1);
    expect(seen?.stepRunId).toContain(h.runId);
    expect(seen?.signal.aborted).toBe(true); // the run is over
  });

  it("ends at the first StopEvent and aborts what is still in flight", async () => {
    let aborted: unknown;
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: [A, B] }, async () => [new A({ payload: "" }), new B({ payload: "" })])
      .addStep({ accepts: A, emits: StopEvent }, async () => new StopEvent({ result: "fast" }))
      .addStep({ accepts: B, emits: StopEvent }, async (_ev, ctx) => {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        aborted = ctx.signal.reason;
        return new StopEvent({ result: "slow" });
      });
    expect(await wf.run()).toBe("fast");
    await tick();
    expect(aborted).toBeInstanceOf(WorkflowCancelledError);
  });

  it("settles a step that returns a thenable or a Promise subclass as it settles an async step", async () => {
    class Tracked<T> extends Promise<T> {}
    const thenable = (value: unknown, fail = false): PromiseLike<never> => ({
      then: (ok, ko) => Promise.resolve().then(() => (fail ? ko?.(value) : ok?.(value as never))) as never,
    });
    const chain = (make: (ev: Event) => PromiseLike<Event>) =>
      // Typed steps return promises; a thenable reaches the engine from JavaScript.
      new Workflow().addStep({ accepts: [StartEvent, A], emits: [A, StopEvent] }, (ev) =>
        make(ev instanceof A ? new StopEvent({ result: "done" }) : new A({ payload: "" })) as never,
      );
    expect(await chain((ev) => thenable(ev)).run()).toBe("done");
    expect(await chain((ev) => Tracked.resolve(ev)).run()).toBe("done");
    const failing = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, () => thenable(new Error("no"), true) as never);
    await expect(failing.run()).rejects.toThrow(WorkflowRuntimeError);
  });
});

describe("contract errors", () => {
  it("fails when a step returns a type its emits does not list, naming step and type", async () => {
    const wf = new Workflow({ validate: false })
      .addStep({ accepts: StartEvent, emits: A }, async function trade() {
        return new B({ payload: "" });
      });
    const err = await wf.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect((err as WorkflowRuntimeError).code).toBe("UNDECLARED_EVENT");
    expect((err as Error).message).toBe('Step "trade" returned B, which its emits does not list (emits: A). Add it to the step\'s emits.');
    expect((err as WorkflowRuntimeError).step).toBe("trade");
  });

  it("fails when a step sends an undeclared type", async () => {
    const wf = new Workflow({ validate: false }).addStep({ accepts: StartEvent, emits: StopEvent }, async function sender(_ev, ctx) {
      ctx.sendEvent(new A({ payload: "" }));
    });
    await expect(wf.run()).rejects.toThrow(/Step "sender" sent A, which its emits does not list \(emits: StopEvent\)/);
  });

  it("fails when a step returns something that is not an event", async () => {
    const wf = new Workflow({ validate: false }).addStep({ accepts: StartEvent, emits: StopEvent }, (async () => "oops") as never);
    const err = (await wf.run().catch((e: unknown) => e)) as WorkflowRuntimeError;
    expect(err.code).toBe("NOT_AN_EVENT");
    expect(err.message).toMatch(/returned string "oops", which is not an Event/);
  });

  it("names what a step returned or sent that is not an event: a function by its name, a list as a list", async () => {
    const returns = (v: unknown) => new Workflow({ validate: false }).addStep({ accepts: StartEvent, emits: StopEvent }, (async () => v) as never);
    await expect(returns(function later() {}).run()).rejects.toThrow(/returned function later, which is not an Event/);
    const h = new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async () => new Promise<StopEvent>(() => {})).run();
    expect(() => h.sendEvent([new A({ payload: "" })] as never)).toThrow(/sendEvent\(\) takes an Event instance, got an array\./);
    h.cancel();
    await h.catch(() => undefined);
  });

  it("fails when a step sends to an unknown step", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: A }, async function first(_ev, ctx) {
        ctx.sendEvent(new A({ payload: "" }), { step: "nope" });
      })
      .addStep({ accepts: A, emits: StopEvent }, async function second() {
        return new StopEvent();
      });
    const err = (await wf.run().catch((e: unknown) => e)) as WorkflowRuntimeError;
    expect(err.code).toBe("UNKNOWN_STEP");
    expect(err.message).toContain('to step "nope", which workflow "Workflow" does not have (steps: first, second)');
  });

  it("delivers ctx.sendEvent with step only to that step", async () => {
    const got: string[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: A }, async function first(_ev, ctx) {
        ctx.sendEvent(new A({ payload: "" }), { step: "two" });
      })
      .addStep({ accepts: A }, async function one() {
        got.push("one");
      })
      .addStep({ accepts: A, emits: StopEvent }, async function two() {
        got.push("two");
        return new StopEvent();
      });
    await wf.run();
    expect(got).toEqual(["two"]);
  });

  it("wraps a step's exception in WorkflowRuntimeError with step and cause", async () => {
    const boom = new Error("model unavailable");
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async function call() {
      throw boom;
    });
    const h = wf.run();
    const err = (await h.catch((e: unknown) => e)) as WorkflowRuntimeError;
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err.code).toBe("STEP_FAILED");
    expect(err.cause).toBe(boom);
    expect(err.step).toBe("call");
    expect(err.runId).toBe(h.runId);
    expect(err.workflow).toBe("Workflow");
    expect(err.message).toBe('Step "call" of workflow "Workflow" failed: model unavailable');
  });

  it("fails a stalled run with a diagnosis instead of hanging", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: [A, B] }, async () => [new A({ payload: "" })])
      .addStep({ accepts: [A, B], emits: StopEvent }, async (ev, ctx) => (ctx.collectEvents(ev, [A, B]) ? new StopEvent() : null));
    const err = (await wf.run().catch((e: unknown) => e)) as WorkflowRuntimeError;
    expect(err.code).toBe("STALLED");
    expect(err.message).toMatch(/holds A and still waits for the rest of \[A,B\]/);
  });
});

describe("validation", () => {
  it("lists every problem in one WorkflowValidationError before any step runs", async () => {
    const ran = vi.fn();
    class Orphan extends Event {}
    const wf = new Workflow()
      .addStep({ accepts: A, emits: B }, async function one() {
        ran();
      })
      .addStep({ accepts: Orphan }, async function one() {
        ran();
      });
    const err = (await wf.run().catch((e: unknown) => e)) as WorkflowValidationError;
    expect(err).toBeInstanceOf(WorkflowValidationError);
    expect(err.problems).toEqual(
      expect.arrayContaining([
        "No step accepts StartEvent, so a run could never begin.",
        "No step emits StopEvent, so a run could never end.",
        'Two steps are named "one"; give one a different name (option name).',
        expect.stringMatching(/emits B, which no step accepts/),
        expect.stringMatching(/accepts A, which no step emits/),
        expect.stringMatching(/accepts Orphan, which no step emits/),
      ]),
    );
    expect(err.message).toMatch(/^Workflow "Workflow" is invalid \(6 problems\)/);
    expect(ran).not.toHaveBeenCalled();
    expect(() => wf.validate()).toThrow(WorkflowValidationError);
  });

  it("rejects bad step options, non-event classes and shadowed members", () => {
    class Bad extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      // @ts-expect-error -- the compiler already refuses this; the check below is for JavaScript users
      async run() {
        return new StopEvent();
      }
    }
    expect(() => new Bad().validate()).toThrow(/Step "run" would shadow Workflow.run\(\)/);
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent, numWorkers: 0, timeout: -1, retry: { maxAttempts: 0 } }, async function s() {})
      .addStep({ accepts: String as never }, async function t() {});
    const err = (() => {
      try {
        wf.validate();
      } catch (e) {
        return e as WorkflowValidationError;
      }
    })();
    expect(err?.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/numWorkers must be a whole number ≥ 1 or Infinity, got 0/),
        expect.stringMatching(/timeout must be a number of seconds > 0 or null, got -1/),
        expect.stringMatching(/retry.maxAttempts must be a whole number ≥ 1, got 0/),
        expect.stringMatching(/accepts\[0\] is function String, not an Event class/),
      ]),
    );
  });

  it("rejects two event classes with one type name", () => {
    const X1 = class X extends Event {};
    const X2 = class X extends Event {};
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: X1 }, async () => new X1())
      .addStep({ accepts: X1, emits: X2 }, async () => new X2())
      .addStep({ accepts: X2, emits: StopEvent }, async () => new StopEvent());
    expect(() => wf.validate()).toThrow(/Two different event classes are named "X"/);
  });

  it("exempts HumanResponseEvent and externalEvents from 'nothing emits'", () => {
    class Approval extends Event<{ ok: boolean }> {}
    const wf = new Workflow({ externalEvents: [Approval] })
      .addStep({ accepts: StartEvent }, async () => {})
      .addStep({ accepts: [HumanResponseEvent, Approval], emits: StopEvent }, async () => new StopEvent());
    expect(() => wf.validate()).not.toThrow();
  });

  it("rejects a bad timeout option and bad input", async () => {
    expect(() => new Workflow({ timeout: 0 })).toThrow(/timeout is in seconds/);
    await expect(new SimpleWorkflow().run("x" as never)).rejects.toThrow(/takes an object of StartEvent fields/);
  });
});

describe("time: retries and timeouts (TestClock)", () => {
  it("retries a failing step with delay and backoff", async () => {
    const clock = new TestClock();
    const attempts: [number, number][] = [];
    const wf = new Workflow({ clock }).addStep(
      { accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3, delay: 1, backoff: 2 } },
      async (_ev, ctx) => {
        attempts.push([ctx.attempt, clock.now()]);
        if (ctx.attempt < 3) throw new Error("flaky");
        return new StopEvent({ result: "ok" });
      },
    );
    const h = wf.run();
    await clock.advance(10_000);
    expect(await h).toBe("ok");
    expect(attempts).toEqual([
      [1, 0],
      [2, 1000],
      [3, 3000],
    ]);
  });

  it("gives up after maxAttempts and says so", async () => {
    const clock = new TestClock();
    const wf = new Workflow({ clock }).addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 2 } }, async function flaky() {
      throw new Error("down");
    });
    const h = wf.run();
    const caught = expect(h).rejects.toThrow('Step "flaky" of workflow "Workflow" failed (attempt 2 of 2): down');
    await clock.advance(1);
    await caught;
  });

  it("times out a step attempt and aborts its signal", async () => {
    const clock = new TestClock();
    let signal: AbortSignal | undefined;
    const wf = new Workflow({ clock, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, timeout: 5 }, async function slow(_ev, ctx) {
      signal = ctx.signal;
      await new Promise(() => {});
    });
    const h = wf.run();
    const caught = h.catch((e: unknown) => e);
    await clock.advance(5_000);
    const err = (await caught) as WorkflowRuntimeError;
    expect(err.code).toBe("STEP_FAILED");
    expect(err.cause).toBeInstanceOf(WorkflowTimeoutError);
    expect((err.cause as Error).message).toBe('Step "slow" of workflow "Workflow" timed out after 5s (attempt 1).');
    expect(signal?.aborted).toBe(true);
  });

  it("times out the run (default 45 s) and aborts in-flight steps", async () => {
    const clock = new TestClock();
    let reason: unknown;
    const wf = new Workflow({ clock }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      reason = ctx.signal.reason;
    });
    const h = wf.run();
    const caught = h.catch((e: unknown) => e);
    await clock.advance(44_999);
    expect(h.status).toBe("running");
    await clock.advance(1);
    const err = (await caught) as WorkflowTimeoutError;
    expect(err).toBeInstanceOf(WorkflowTimeoutError);
    expect(err.timeout).toBe(45);
    expect(err.message).toMatch(/Workflow "Workflow" timed out after 45s/);
    expect(reason).toBe(err);
    expect(h.status).toBe("timed_out");
  });

  it("has no run timeout with timeout: null", async () => {
    const clock = new TestClock();
    const wf = new Workflow({ clock, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async () => {
      await new Promise((r) => clock.setTimeout(() => r(null), 3_600_000));
      return new StopEvent({ result: "late" });
    });
    const h = wf.run();
    await clock.advance(3_600_000);
    expect(await h).toBe("late");
  });
});

describe("context", () => {
  it("collectEvents returns null until complete, then the tuple in listed order", async () => {
    const seen: (string[] | null)[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: [A, B, C] }, async (_ev, ctx) => {
        ctx.sendEvent(new C({ payload: "c" }));
        ctx.sendEvent(new A({ payload: "a" }));
        ctx.sendEvent(new B({ payload: "b" }));
      })
      .addStep({ accepts: [A, B, C], emits: StopEvent, numWorkers: 1 }, async (ev, ctx) => {
        const r = ctx.collectEvents(ev, [A, B, C]);
        seen.push(r && r.map((e) => e.payload));
        return r && new StopEvent({ result: r.map((e) => e.constructor.name).join() });
      });
    expect(await wf.run()).toBe("A,B,C");
    expect(seen).toEqual([null, null, ["a", "b", "c"]]);
  });

  it("streams events then the StopEvent, and refuses a second reader", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new Progress({ payload: "one" }));
      ctx.writeEventToStream(new Progress({ payload: "two" }));
      return new StopEvent({ result: 3 });
    });
    const h = wf.run();
    const got: string[] = [];
    for await (const ev of h.streamEvents()) got.push(ev instanceof Progress ? ev.payload : ev.constructor.name);
    expect(got).toEqual(["one", "two", "StopEvent"]);
    expect(await h).toBe(3);
    // A second reader, after the run ended, gets every event again (12.13); nothing throws StreamConsumedError now.
    const again: string[] = [];
    for await (const ev of h.streamEvents()) again.push(ev instanceof Progress ? ev.payload : ev.constructor.name);
    expect(again).toEqual(got);
    expect(StreamConsumedError).toBeTypeOf("function");
  });

  it("ends the stream with the error when the run fails, is cancelled or times out", async () => {
    const clock = new TestClock();
    const hang = new Workflow({ clock, timeout: 1 }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new Progress({ payload: "started" }));
      await new Promise(() => {});
    });
    const drain = async (h: AsyncIterable<unknown>) => {
      const got: unknown[] = [];
      try {
        for await (const ev of h) got.push(ev);
      } catch (e) {
        return { got, error: e };
      }
      return { got, error: undefined };
    };
    const cancelled = hang.run();
    const p1 = drain(cancelled.streamEvents());
    await tick();
    cancelled.cancel();
    const r1 = await p1;
    expect(r1.got).toHaveLength(1);
    expect(r1.error).toBeInstanceOf(WorkflowCancelledError);
    await expect(cancelled).rejects.toBeInstanceOf(WorkflowCancelledError);

    const timed = hang.run();
    const p2 = drain(timed.streamEvents());
    await clock.advance(1000);
    expect((await p2).error).toBeInstanceOf(WorkflowTimeoutError);

    const failing = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async () => {
      throw new Error("x");
    });
    const r3 = await drain(failing.run().streamEvents());
    expect(r3.error).toBeInstanceOf(WorkflowRuntimeError);
  });

  it("waitForEvent pauses the step (no re-run) until handler.sendEvent delivers a match", async () => {
    let starts = 0;
    class Answer extends HumanResponseEvent<{ text: string; to: string }> {}
    const wf = new Workflow({ externalEvents: [Answer] }).addStep(
      { accepts: StartEvent, emits: StopEvent, waitsFor: Answer },
      async (_ev, ctx) => {
        starts++;
        const answer = await ctx.waitForEvent(Answer, {
          filter: (a) => a.to === "me",
          waiterEvent: new InputRequiredEvent({ prefix: "Approve?" }),
        });
        return new StopEvent({ result: answer.text });
      },
    );
    const h = wf.run();
    for await (const ev of h.streamEvents()) {
      if (ev instanceof InputRequiredEvent) {
        h.sendEvent(new Answer({ text: "wrong", to: "other" }));
        h.sendEvent(new Answer({ text: "yes", to: "me" }));
      }
    }
    expect(await h).toBe("yes");
    expect(starts).toBe(1);
  });

  it("waitForEvent times out with WorkflowTimeoutError", async () => {
    const clock = new TestClock();
    class Answer extends HumanResponseEvent {}
    const wf = new Workflow({ clock, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async function ask(_ev, ctx) {
      try {
        await ctx.waitForEvent(Answer, { timeout: 30 });
      } catch (e) {
        return new StopEvent({ result: (e as Error).message });
      }
    });
    const h = wf.run();
    await clock.advance(30_000);
    expect(await h).toBe('Step "ask" waited 30s for Answer, and none came.');
  });

  it("keeps ctx.store per run, JSON values only", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (ev, ctx) => {
      ctx.store.set("seen", [ev.payload]);
      expect(() => ctx.store.set("bad", { f: () => 1 })).toThrow(/ctx.store.set\("bad"\) got a function at "bad.f"/);
      expect(() => ctx.store.set("bad", new Map())).toThrow(/a Map instance/);
      return new StopEvent({ result: [ctx.store.get("seen"), ctx.store.get("missing", "fallback"), ctx.store.has("bad")] });
    });
    expect(await Promise.all([wf.run({ payload: 1 }), wf.run({ payload: 2 })])).toEqual([
      [[1], "fallback", false],
      [[2], "fallback", false],
    ]);
  });

  it("cancel() rejects with WorkflowCancelledError and aborts ctx.signal", async () => {
    let reason: unknown;
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      reason = ctx.signal.reason;
    });
    const h = wf.run();
    await tick();
    h.cancel();
    await expect(h).rejects.toBeInstanceOf(WorkflowCancelledError);
    expect(reason).toBeInstanceOf(WorkflowCancelledError);
    expect(h.status).toBe("cancelled");
  });

  it("prints steps with verbose: true", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await new SimpleWorkflow({ verbose: true }).run({ payload: "x" });
    expect(log.mock.calls.map((c) => c[0])).toEqual([
      "Running step start",
      "Step start produced event SecondStepEvent",
      "Running step secondStep",
      "Step secondStep produced event StopEvent",
    ]);
    log.mockRestore();
  });

  it("reports inspection events for a run", async () => {
    const kinds: string[] = [];
    const h = new SimpleWorkflow().run({ payload: "x" }).inspect((e) => kinds.push(e.kind));
    await h;
    expect(kinds).toEqual(["run_started", "step_started", "step_finished", "step_started", "step_finished", "run_finished"]);
  });
});

describe("inspect with kinds", () => {
  class Tick extends Event<{ n: number }> {}
  class Done extends StopEvent<{ result?: undefined; total: number }> {}
  class Chain extends Workflow {
    @step({ accepts: [StartEvent, Tick], emits: [Tick, Done] })
    loop(ev: StartEvent | Tick) {
      const n = ev instanceof Tick ? ev.n : 0;
      return n < 50 ? new Tick({ n: n + 1 }) : new Done({ total: n });
    }
  }
  // The run reads the clock for each attempt an inspector of steps is told of: counting its reads
  // tells whether the run's steps went through that path or the fast one.
  const counted = () => {
    const c = { reads: 0, now: () => (c.reads++, Date.now()), setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
    return c;
  };

  it("tells a listener only the kinds asked for, and the run's end carries its StopEvent", async () => {
    const seen: InspectionEvent[] = [];
    const h = new Chain({ timeout: null }).run({}).inspect((e) => seen.push(e), { kinds: ["run_started", "run_finished"] });
    await h;
    expect(seen.map((e) => e.kind)).toEqual(["run_started", "run_finished"]);
    const end = seen[1] as Extract<InspectionEvent, { kind: "run_finished" }>;
    expect(end.stop).toBeInstanceOf(Done);
    expect((end.stop as Done).total).toBe(50);
    expect(end.result).toBe(end.stop);
  });

  it("one options object shared by many runs, changed in between, filters by its kinds as they are", async () => {
    const options: { kinds: InspectionEvent["kind"][] } = { kinds: ["run_started"] };
    const first: string[] = [];
    await new Chain({ timeout: null }).run({}).inspect((e) => first.push(e.kind), options);
    options.kinds = ["run_finished"];
    const second: string[] = [];
    await new Chain({ timeout: null }).run({}).inspect((e) => second.push(e.kind), options);
    expect(first).toEqual(["run_started"]);
    expect(second).toEqual(["run_finished"]);
  });

  it("an inspector of run-level kinds leaves plain steps on the fast path; one of step kinds does not", async () => {
    const plain = counted();
    await new Chain({ timeout: null, clock: plain }).run({});
    const runLevel = counted();
    await new Chain({ timeout: null, clock: runLevel }).run({}).inspect(() => {}, { kinds: ["run_started", "stream", "run_finished"] });
    const steps = counted();
    await new Chain({ timeout: null, clock: steps }).run({}).inspect(() => {}, { kinds: ["step_finished"] });
    expect(runLevel.reads).toBeLessThanOrEqual(plain.reads + 2);
    expect(steps.reads).toBeGreaterThanOrEqual(plain.reads + 51);
  });
});

describe("more bad input", () => {
  it("rejects a run whose input the StartEvent's schema refuses, naming the field", async () => {
    const { z } = await import("zod");
    class OrderStart extends StartEvent.schema(z.object({ qty: z.number().int().positive() })) {}
    const wf = new Workflow().addStep({ accepts: OrderStart, emits: StopEvent }, async (ev) => new StopEvent({ result: ev.qty }));
    expect(await wf.run({ qty: 2 })).toBe(2);
    await expect(wf.run({ qty: -1 })).rejects.toThrow(/Invalid OrderStart: "qty"/);
  });

  it("refuses handler.sendEvent of something that is not an event", async () => {
    class Answer extends HumanResponseEvent {}
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async (_ev, ctx) => {
      await ctx.waitForEvent(Answer);
      return new StopEvent();
    });
    const h = wf.run();
    expect(() => h.sendEvent({ type: "Answer" } as never)).toThrow(/handler.sendEvent\(\) takes an Event instance, got an object \(Object\)/);
    h.sendEvent(new Answer());
    await h;
  });

  it("refuses handler.sendEvent to a run that has ended, saying the event was not delivered", async () => {
    const h = new SimpleWorkflow().run({ payload: "x" });
    await h;
    expect(() => h.sendEvent(new A({ payload: "late" }))).toThrow(/^Run ".*" of workflow "SimpleWorkflow" has already ended \(completed\); the A sent to it was not delivered\.$/);
    expect(() => h.sendEvent(new A({ payload: "late" }))).toThrow(RunFinishedError);
  });

  it("collectEvents of an event it does not wait for returns null and buffers nothing; an empty list returns []", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async function gather(ev, ctx) {
      const other = ctx.collectEvents(ev, [A, B]);
      const none = ctx.collectEvents(ev, []);
      // Had the StartEvent been buffered under [A, B] or [StartEvent, A], this set would be complete.
      const partial = ctx.collectEvents(new A({ payload: "a" }), [StartEvent, A]);
      return new StopEvent({ result: { other, none, partial } });
    });
    expect(await wf.run()).toEqual({ other: null, none: [], partial: null });
  });
});

describe("synchronous steps", () => {
  class Tick extends Event<{ n: number }> {}
  const loop = (options: ConstructorParameters<typeof Workflow>[0] = {}) =>
    new Workflow({ timeout: null, ...options }).addStep({ accepts: [StartEvent, Tick], emits: [Tick, StopEvent] }, (ev) => {
      const n = ev instanceof Tick ? ev.n : 0;
      return n < 20_000 ? new Tick({ n: n + 1 }) : new StopEvent({ result: n });
    });

  it("loops 20,000 times without growing the stack", async () => {
    expect(await loop().run()).toBe(20_000);
  });

  it("loops 20,000 times with an inspector attached (the general path)", async () => {
    let started = 0;
    expect(await loop({ inspect: (e) => void (e.kind === "step_started" && started++) }).run()).toBe(20_000);
    expect(started).toBe(20_001);
  });

  it("chains 20,000 sends made before a step's first await, with numWorkers: Infinity", async () => {
    const wf = new Workflow({ timeout: null }).addStep({ accepts: [StartEvent, Tick], emits: [Tick, StopEvent], numWorkers: Infinity }, async (ev, ctx) => {
      const n = ev instanceof Tick ? ev.n : 0;
      if (n < 20_000) ctx.sendEvent(new Tick({ n: n + 1 }));
      else return new StopEvent({ result: n });
    });
    expect(await wf.run()).toBe(20_000);
  });
});
