// A failed step attempt cancels the child runs (ctx.runWorkflow) it started that still run, as the
// run's own end cancels them: a retry's fresh child never runs beside the one before it.
import { describe, expect, it } from "vitest";
import { Context, Event, inspect, MemoryStore, StartEvent, step, StepFailedEvent, StopEvent, Workflow, type InspectionEvent } from "../../src/index.js";

let cancelled = 0;
class Next extends Event {}

/** A child that runs until it is cancelled, unless told to finish at once. */
class Child extends Workflow<{ quick: boolean }, string> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async work(ev: StartEvent<{ quick: boolean }>, ctx: Context) {
    if (ev.quick) return new StopEvent({ result: "quick" });
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    cancelled++;
    return undefined;
  }
}

/** What happened, in order: child runs' starts and ends, and the parent's step attempts. */
function recorder() {
  const log: string[] = [];
  const children = new Map<string, number>();
  const off = inspect((e: InspectionEvent) => {
    if (e.workflow === "Child" && e.kind === "run_started") children.set(e.runId, children.size + 1);
    if (e.workflow === "Child" && (e.kind === "run_started" || e.kind === "run_finished")) log.push(`child ${children.get(e.runId) ?? "?"} ${e.kind === "run_started" ? "started" : e.status}`);
    if (e.workflow !== "Child" && (e.kind === "step_started" || e.kind === "step_failed")) log.push(`${e.step} attempt ${e.attempt} ${e.kind === "step_started" ? "started" : "failed"}`);
  });
  return { log, off };
}

async function ticks(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe("a failed attempt's child runs", () => {
  for (const durable of [false, true]) {
    it(`are cancelled before the retry starts a fresh one (${durable ? "journaled" : "no store"})`, async () => {
      class Parent extends Workflow {
        @step({ accepts: StartEvent, emits: StopEvent, calls: [Child], retry: { maxAttempts: 2 } })
        async spawn(_ev: StartEvent, ctx: Context) {
          const child = ctx.runWorkflow(Child, { quick: ctx.attempt > 1 });
          if (ctx.attempt === 1) {
            child.catch(() => {});
            await ticks();
            throw new Error("the first attempt fails with its child running");
          }
          return new StopEvent({ result: await child });
        }
      }
      const { log, off } = recorder();
      try {
        expect(await new Parent({ timeout: 5, ...(durable ? { store: new MemoryStore() } : {}) }).run()).toBe("quick");
      } finally {
        off();
      }
      expect(log).toEqual([
        "spawn attempt 1 started",
        "child 1 started",
        "child 1 cancelled",
        "spawn attempt 1 failed",
        "spawn attempt 2 started",
        "child 2 started",
        "child 2 completed",
      ]);
    });
  }

  it("are cancelled when the step fails for good and a catch-error step carries the run on", async () => {
    class Parent extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, calls: [Child] })
      async spawn(_ev: StartEvent, ctx: Context) {
        void ctx.runWorkflow(Child, { quick: false }).catch(() => {});
        await ticks();
        throw new Error("fails with its child running");
      }
      @step({ accepts: StepFailedEvent, emits: StopEvent })
      async recover(_ev: StepFailedEvent) {
        await ticks();
        return new StopEvent({ result: cancelled });
      }
    }
    cancelled = 0;
    const { log, off } = recorder();
    try {
      // The child saw its cancel while the run still ran.
      expect(await new Parent({ timeout: 5 }).run()).toBe(1);
    } finally {
      off();
    }
    expect(log.slice(0, 4)).toEqual(["spawn attempt 1 started", "child 1 started", "child 1 cancelled", "spawn attempt 1 failed"]);
  });

  it("are cancelled when a step with a step timeout throws (its signal had not aborted)", async () => {
    class Parent extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, calls: [Child], timeout: 30, retry: { maxAttempts: 2 } })
      async spawn(_ev: StartEvent, ctx: Context) {
        const child = ctx.runWorkflow(Child, { quick: ctx.attempt > 1 });
        if (ctx.attempt === 1) {
          child.catch(() => {});
          await ticks();
          throw new Error("first attempt fails");
        }
        return new StopEvent({ result: await child });
      }
    }
    const { log, off } = recorder();
    try {
      expect(await new Parent({ timeout: 5 }).run()).toBe("quick");
    } finally {
      off();
    }
    expect(log.indexOf("child 1 cancelled")).toBeGreaterThan(-1);
    expect(log.indexOf("child 1 cancelled")).toBeLessThan(log.indexOf("spawn attempt 2 started"));
  });

  it("of an attempt that returned, still running, are cancelled by the run's end (a step with a step timeout too)", async () => {
    class Parent extends Workflow {
      @step({ accepts: StartEvent, emits: Next, calls: [Child], timeout: 30 })
      spawn(_ev: StartEvent, ctx: Context) {
        void ctx.runWorkflow(Child, { quick: false }).catch(() => {});
        return new Next();
      }
      @step({ accepts: Next, emits: StopEvent })
      async stop() {
        await ticks();
        return new StopEvent({ result: "stopped" });
      }
    }
    cancelled = 0;
    const { log, off } = recorder();
    try {
      expect(await new Parent({ timeout: 5 }).run()).toBe("stopped");
      await ticks();
    } finally {
      off();
    }
    expect(log).toContain("child 1 cancelled");
    expect(cancelled).toBe(1);
  });
});
