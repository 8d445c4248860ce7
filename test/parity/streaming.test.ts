// Ported from run-llama/workflows-py tests/test_streaming.py and tests/test_retry_policy.py.
import { describe, expect, it } from "vitest";
import * as stepwise from "stepwise-ai";
import { Context, Event, StartEvent, StopEvent, TestClock, Workflow, WorkflowRuntimeError, WorkflowTimeoutError, step, type EventClass } from "stepwise-ai";
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

  it.fails("[12.11] test_resume_streams: a run continued from another's state counts on from it", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      ctx.writeEventToStream(new Msg({ msg: "hello!" }));
      ctx.store.set("cur_count", ctx.store.get("cur_count", 0) + 1);
      return new StopEvent({ result: "done" });
    });
    const first = wf.run();
    await collect(first);
    const second = (wf as any).run({}, { state: (first as any).state });
    await collect(second);
    expect((second as { state: unknown }).state).toEqual({ cur_count: 2 });
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

  it.fails("[12.12] retry only on some errors: an error the policy does not retry fails at once", async () => {
    class Transient extends Error {}
    let attempts = 0;
    const wf = new Workflow().addStep(
      { accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 5, retryOn: [Transient] } as { maxAttempts: number } },
      async () => {
        attempts++;
        throw new TypeError("a bug, not worth retrying");
      },
    );
    await wf.run().catch(() => {});
    expect(attempts).toBe(1);
  });

  it.fails("[12.12] a catch-error step: a step accepting another step's failure event recovers the run", async () => {
    const StepFailedEvent = (stepwise as Record<string, unknown>).StepFailedEvent as EventClass | undefined;
    if (StepFailedEvent === undefined) throw new Error("stepwise-ai exports no StepFailedEvent");
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: StopEvent }, async function fragile() {
        throw new Error("boom");
      })
      .addStep({ accepts: StepFailedEvent, emits: StopEvent }, async function recover() {
        return new StopEvent({ result: "recovered" });
      });
    expect(await wf.run()).toBe("recovered");
  });
});
