// Ported from run-llama/workflows-py tests/test_streaming.py and tests/test_retry_policy.py.
import { describe, expect, it } from "vitest";
import { Context, Event, HumanResponseEvent, InputRequiredEvent, MemoryStore, StartEvent, StepFailedEvent, StopEvent, TestClock, Workflow, WorkflowRuntimeError, WorkflowTimeoutError, step, suspendRun } from "stepwise-ai";
import { retryDelay } from "../../src/core/step.js";
import { OneTestEvent, tick } from "./helpers.js";

class Msg extends Event<{ msg: string }> {}

/** tests/test_streaming.py StreamingWorkflow: one step streams a sentence word by word. */
class StreamingWorkflow extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async chat(_ev: StartEvent, ctx: Context) {
    const resp = "Paul Graham is a British-American computer scientist, entrepreneur, vc, and writer.";
    for (const word of resp.split(" ")) ctx.writeEventToStream(new Msg({ msg: word }));
    return new StopEvent({ result: null });
  }
}

async function collect(handler: ReturnType<Workflow["run"]>): Promise<Event[]> {
  const out: Event[] = [];
  for await (const ev of handler.streamEvents()) out.push(ev);
  return out;
}

describe("LlamaIndex parity: test_streaming.py", () => {
  it("test_e2e: every streamed event before the StopEvent carries msg", async () => {
    const events = await collect(new StreamingWorkflow().run());
    expect(events.at(-1)).toBeInstanceOf(StopEvent);
    const words = events.slice(0, -1);
    expect(words).toHaveLength(11);
    expect(words.every((ev) => ev instanceof Msg && typeof ev.msg === "string")).toBe(true);
  });

  it("test_task_raised, deliberate difference: the stream yields what was written, then throws the run's error", async () => {
    // LlamaIndex ends the stream quietly and raises the step's own ValueError on await;
    // stepwise throws from the stream too, and wraps the error (cause: the ValueError).
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new OneTestEvent({ test_param: "foo" }));
      throw new Error("The step raised an error!");
    });
    const handler = wf.run();
    const seen: Event[] = [];
    await expect(
      (async () => {
        for await (const ev of handler.streamEvents()) seen.push(ev);
      })(),
    ).rejects.toBeInstanceOf(WorkflowRuntimeError);
    expect(seen).toHaveLength(1);
    expect((seen[0] as OneTestEvent).test_param).toBe("foo");
    await expect(handler).rejects.toMatchObject({ cause: { message: "The step raised an error!" } });
  });

  it("test_task_timeout: the stream ends with the run's WorkflowTimeoutError", async () => {
    const clock = new TestClock();
    const wf = new Workflow({ timeout: 1, clock }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new OneTestEvent({ test_param: "foo" }));
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      return new StopEvent({});
    });
    const handler = wf.run();
    const seen: Event[] = [];
    const reading = (async () => {
      for await (const ev of handler.streamEvents()) seen.push(ev);
    })();
    const outcome = expect(reading).rejects.toBeInstanceOf(WorkflowTimeoutError);
    await tick();
    await clock.advance(1_000);
    await outcome;
    expect(seen.map((e) => (e as OneTestEvent).test_param)).toEqual(["foo"]);
  });

  it("test_multiple_sequential_streams / test_multiple_ongoing_streams: each run has its own stream", async () => {
    const wf = new StreamingWorkflow();
    expect(await collect(wf.run())).toHaveLength(12);
    const [a, b] = [wf.run(), wf.run()];
    expect(await collect(a)).toHaveLength(12);
    expect(await collect(b)).toHaveLength(12);
    await Promise.all([a, b]);
  });

  it("[12.13] test_consume_only_once, changed by the issue: a second reader gets every event from the start", async () => {
    const handler = new StreamingWorkflow().run();
    const first = await collect(handler);
    const second = await collect(handler);
    expect(second).toEqual(first);
  });

  it("[12.13] two readers at once each get every event", async () => {
    const handler = new StreamingWorkflow().run();
    const [a, b] = await Promise.all([collect(handler), collect(handler)]);
    expect(a).toHaveLength(12);
    expect(b).toEqual(a);
  });

  it("[12.13] a reader that breaks early does not take events from another; a failed run gives each reader the error", async () => {
    const handler = new StreamingWorkflow().run();
    for await (const ev of handler.streamEvents()) {
      expect(ev).toBeInstanceOf(Msg);
      break;
    }
    expect(await collect(handler)).toHaveLength(12);
    const failing = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new Msg({ msg: "one" }));
      await tick();
      throw new Error("boom");
    });
    const run = failing.run();
    const readers = [collect(run), collect(run)];
    for (const r of readers) await expect(r).rejects.toBeInstanceOf(WorkflowRuntimeError);
    await expect(run).rejects.toBeInstanceOf(WorkflowRuntimeError);
  });

  it("[12.11] test_resume_streams: a run continued from another's state counts on from it", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new Msg({ msg: "hello!" }));
      ctx.store.set("cur_count", ctx.store.get("cur_count", 0) + 1);
      return new StopEvent({ result: "done" });
    });
    const first = wf.run();
    await collect(first);
    const second = wf.run({}, { state: first.state });
    await collect(second);
    expect(second.state).toEqual({ cur_count: 2 });
  });
});

class CountEvent extends Event {}

describe("LlamaIndex parity: test_retry_policy.py", () => {
  it("test_retry_e2e: a flaky step is retried after its delay until it succeeds; events it sent on failed attempts are delivered", async () => {
    const clock = new TestClock();
    const wf = new Workflow({ clock, validate: false })
      .addStep({ accepts: StartEvent, emits: [CountEvent, StopEvent], retry: { maxAttempts: 5, delay: 0.2 } }, async function flaky_step(_ev, ctx) {
        const count = ctx.store.get("counter", 0);
        ctx.sendEvent(new CountEvent());
        if (count < 3) throw new Error("Something bad happened!");
        return new StopEvent({ result: "All good!" });
      })
      .addStep({ accepts: CountEvent }, async function counter(_ev, ctx) {
        ctx.store.set("counter", ctx.store.get("counter", 0) + 1);
      });
    const handler = wf.run();
    const settled = Promise.allSettled([handler]);
    for (let i = 0; i < 4; i++) await clock.advance(200);
    expect((await settled)[0]).toEqual({ status: "fulfilled", value: "All good!" });
  });

  it("test_ConstantDelayRetryPolicy_next: no attempt after maxAttempts; the error names the step", async () => {
    const clock = new TestClock();
    let attempts = 0;
    const wf = new Workflow({ clock }).addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3, delay: 4.2 } }, async function always_fails(_ev, ctx) {
      attempts = ctx.attempt;
      throw new Error("nope");
    });
    const settled = Promise.allSettled([wf.run()]);
    await clock.advance(4_200);
    expect(attempts).toBe(2);
    await clock.advance(4_200);
    const [outcome] = await settled;
    expect(attempts).toBe(3);
    expect(outcome).toMatchObject({ status: "rejected", reason: { code: "STEP_FAILED", step: "always_fails" } });
  });

  it("[12.12] retry only on some errors: an error the policy does not retry fails at once", async () => {
    class Transient extends Error {}
    let attempts = 0;
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 5, retryOn: [Transient] } }, async () => {
      attempts++;
      throw new TypeError("a bug, not worth retrying");
    });
    await expect(wf.run()).rejects.toMatchObject({ code: "STEP_FAILED", cause: { name: "TypeError" } });
    expect(attempts).toBe(1);
  });

  it("[12.12] retryOn classes retry their subclasses; a predicate sees the error and the attempt", async () => {
    class Transient extends Error {}
    class RateLimited extends Transient {}
    let attempts = 0;
    const byClass = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3, retryOn: [Transient] } }, async () => {
      if (++attempts < 3) throw new RateLimited("slow down");
      return new StopEvent({ result: attempts });
    });
    expect(await byClass.run()).toBe(3);
    const seen: [string, number][] = [];
    const byPredicate = new Workflow().addStep(
      { accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 5, retryOn: (error, attempt) => (seen.push([(error as Error).message, attempt]), attempt < 2) } },
      async (_ev, ctx) => {
        throw new Error(`fail ${ctx.attempt}`);
      },
    );
    await expect(byPredicate.run()).rejects.toThrow(/attempt 2 of 5.*fail 2/);
    expect(seen).toEqual([
      ["fail 1", 1],
      ["fail 2", 2],
    ]);
    // A predicate that throws does not retry.
    let tries = 0;
    const throwing = new Workflow().addStep(
      { accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 5, retryOn: () => { throw new Error("bad predicate"); } } },
      async () => {
        tries++;
        throw new Error("x");
      },
    );
    await expect(throwing.run()).rejects.toMatchObject({ code: "STEP_FAILED" });
    expect(tries).toBe(1);
  });

  it("[12.12] maxDelay caps a growing delay; with jitter the retry comes no later than the delay", async () => {
    const clock = new TestClock();
    let attempts = 0;
    const wf = new Workflow({ clock, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 4, delay: 10, backoff: 10, maxDelay: 15 } }, async () => {
      if (++attempts < 4) throw new Error("again");
      return new StopEvent({ result: attempts });
    });
    const handler = wf.run();
    await tick();
    expect(attempts).toBe(1);
    await clock.advance(9_999);
    expect(attempts).toBe(1);
    await clock.advance(1); // delay 10 s
    expect(attempts).toBe(2);
    await clock.advance(15_000); // 100 s capped at 15
    expect(attempts).toBe(3);
    await clock.advance(15_000);
    expect(await handler).toBe(4);
    // Jitter only shortens a delay: the full delay always brings the next attempt.
    let tries = 0;
    const jittered = new Workflow({ clock, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 2, delay: 10, jitter: true } }, async () => {
      if (++tries < 2) throw new Error("again");
      return new StopEvent({ result: tries });
    });
    const second = jittered.run();
    await tick();
    await clock.advance(10_000);
    expect(await second).toBe(2);
  });

  it("[12.12] retryDelay: backoff, cap and jitter as fractions of the delay", () => {
    const policy = { maxAttempts: 9, delay: 2, backoff: 3, maxDelay: 30, jitter: 0, retryOn: undefined };
    expect([1, 2, 3, 4].map((a) => retryDelay(policy, a))).toEqual([2, 6, 18, 30]);
    expect(retryDelay({ ...policy, jitter: 0.5 }, 2, () => 1)).toBe(3);
    expect(retryDelay({ ...policy, jitter: 0.5 }, 2, () => 0)).toBe(6);
    expect(retryDelay({ ...policy, jitter: 1 }, 1, () => 0.25)).toBe(1.5);
  });

  it("[12.12] a bad retry policy is a validation error naming the option", () => {
    const bad = (retry: object) => () =>
      new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, retry: retry as { maxAttempts: number } }, () => new StopEvent({})).validate();
    expect(bad({ maxAttempts: 2, retryOn: "TypeError" })).toThrow(/retry\.retryOn must be error classes or a function/);
    expect(bad({ maxAttempts: 2, retryOn: [] })).toThrow(/retry\.retryOn.*an empty list/);
    expect(bad({ maxAttempts: 2, jitter: 2 })).toThrow(/retry\.jitter must be true, false or a fraction from 0 to 1, got number 2/);
    expect(bad({ maxAttempts: 2, maxDelay: -1 })).toThrow(/retry\.maxDelay must be seconds ≥ 0/);
  });
});

describe("catch-error steps: StepFailedEvent (12.12)", () => {
  it("[12.12] a catch-error step: a step accepting another step's failure event recovers the run", async () => {
    const got: StepFailedEvent[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 2 } }, async function fragile() {
        throw new WorkflowRuntimeError("boom", "FLAKY");
      })
      .addStep({ accepts: StepFailedEvent, emits: StopEvent }, async function recover(ev) {
        got.push(ev);
        return new StopEvent({ result: "recovered" });
      });
    expect(() => wf.validate()).not.toThrow();
    expect(await wf.run()).toBe("recovered");
    expect(got).toHaveLength(1);
    expect({ step: got[0]?.step, error: got[0]?.error, eventType: got[0]?.eventType, attempt: got[0]?.attempt }).toEqual({
      step: "fragile",
      error: { name: "WorkflowRuntimeError", message: "boom", code: "FLAKY" },
      eventType: "StartEvent",
      attempt: 2,
    });
  });

  it("[12.12] a catch-error step that fails fails the run; without one the run fails as before", async () => {
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function fragile() {
        throw new Error("first");
      })
      .addStep({ accepts: StepFailedEvent, emits: StopEvent }, async function recover() {
        throw new Error("second");
      });
    await expect(wf.run()).rejects.toMatchObject({ code: "STEP_FAILED", step: "recover", cause: { message: "second" } });
    const plain = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async function fragile() {
      throw new Error("first");
    });
    await expect(plain.run()).rejects.toMatchObject({ code: "STEP_FAILED", step: "fragile" });
  });

  it("[12.12] a step accepting the base Event class is not a catch-error step; a synchronous step's failure is caught too", async () => {
    const catchAll = new Workflow({ validate: false })
      .addStep({ accepts: StartEvent, emits: StopEvent }, function fragile() {
        throw new Error("first");
      })
      .addStep({ accepts: Event }, function watch() {});
    await expect(catchAll.run()).rejects.toMatchObject({ code: "STEP_FAILED", step: "fragile" });
    const sync = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent }, function fragile() {
        throw new Error("sync");
      })
      .addStep({ accepts: StepFailedEvent, emits: StopEvent }, (ev) => new StopEvent({ result: ev.error.message }));
    expect(await sync.run()).toBe("sync");
  });

  it("[12.12] durable: the failure is journaled as the failed step's output; a resume runs the catch step, not the failed one", async () => {
    const store = new MemoryStore();
    let fragileRuns = 0;
    const build = () =>
      new Workflow<Record<string, never>, string>({ store, timeout: null })
        .addStep({ accepts: StartEvent, emits: StopEvent }, async function fragile() {
          fragileRuns++;
          throw new Error("boom");
        })
        .addStep({ accepts: StepFailedEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async function recover(ev, ctx) {
          const answer = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: new InputRequiredEvent({ prefix: `${ev.step} failed; go on?` }) });
          return new StopEvent({ result: `${ev.error.message}: ${String(answer.response)}` });
        });
    const handler = build().run();
    for await (const ev of handler.streamEvents()) if (ev instanceof InputRequiredEvent) break;
    await suspendRun(handler);
    await handler.catch(() => {});
    const finished = store.getJournal(handler.runId).filter((e) => e.kind === "step_finished" && e.step === "fragile");
    expect(finished).toHaveLength(1);
    expect(await build().sendEvent(handler.runId, new HumanResponseEvent({ response: "yes" }))).toBe("boom: yes");
    expect(fragileRuns).toBe(1);
  });
});
