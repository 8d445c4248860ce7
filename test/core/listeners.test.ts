import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { Context, Event, StartEvent, step, StopEvent, TestClock, Workflow } from "../../src/index.js";

class Tick extends Event<{ n: number }> {}
class Probe extends Event<{ n: number }> {}
class Go extends Event<{ i: number }> {}

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, "abort").length;

describe("costs that grow with the work, not faster (issue 11.16, 11.18, 11.19)", () => {
  it("a 30,000-step chain with a step timeout leaves no abort listener per step on the run's signal", async () => {
    const N = 30_000;
    class Chain extends Workflow {
      @step({ accepts: [StartEvent, Tick], emits: [Tick, Probe], timeout: 60 })
      async loop(ev: StartEvent | Tick) {
        const n = ev instanceof Tick ? ev.n : 0;
        return n + 1 < N ? new Tick({ n: n + 1 }) : new Probe({ n: n + 1 });
      }
      @step({ accepts: Probe, emits: StopEvent })
      probe(ev: Probe, ctx: Context) {
        // No timeout here: ctx.signal is the run's own signal.
        return new StopEvent({ result: { steps: ev.n, listeners: abortListeners(ctx.signal) } });
      }
    }
    const result = (await new Chain({ timeout: null }).run({})) as { steps: number; listeners: number };
    expect(result.steps).toBe(N);
    expect(result.listeners).toBeLessThanOrEqual(1);
  });

  it("a 1,000-step chain with a step timeout sets a few clock timers, not one per step; a later step still times out", async () => {
    const N = 1_000;
    const clock = new TestClock(0);
    let timers = 0;
    const counting = { now: () => clock.now(), setTimeout: (fn: () => void, ms: number) => (timers++, clock.setTimeout(fn, ms)), clearTimeout: (h: unknown) => clock.clearTimeout(h) };
    let seen: AbortSignal | undefined;
    class Chain extends Workflow {
      @step({ accepts: [StartEvent, Tick], emits: [Tick, StopEvent], timeout: 5 })
      async loop(ev: StartEvent | Tick, ctx: Context) {
        const n = ev instanceof Tick ? ev.n : 0;
        if (n + 1 < N) return new Tick({ n: n + 1 });
        seen = ctx.signal;
        return new Promise<StopEvent>(() => {}); // the last one hangs
      }
    }
    const h = new Chain({ clock: counting, timeout: null }).run({});
    const settled = Promise.allSettled([h]);
    for (let i = 0; i < 100 && seen === undefined; i++) await new Promise((r) => setImmediate(r));
    if (seen === undefined) throw new Error("the chain did not reach its last step");
    expect(timers).toBeLessThanOrEqual(2);
    expect(seen.aborted).toBe(false);
    await clock.advance(5_000);
    const [outcome] = await settled;
    expect(outcome).toMatchObject({ status: "rejected", reason: { code: "STEP_FAILED", step: "loop" } });
    expect(((outcome as PromiseRejectedResult).reason as Error & { cause: Error }).cause.message).toMatch(/Step "loop" of workflow "Chain" timed out after 5s \(attempt 1\)/);
    expect(seen.aborted).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it("short runs one after another, each with a run timeout, set one clock timer, not one each; it holds the process only while a run is live", async () => {
    const timers: NodeJS.Timeout[] = [];
    const clock = { now: () => Date.now(), setTimeout: (fn: () => void, ms: number) => (timers.push(setTimeout(fn, ms)), timers.at(-1)), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
    const wf = new Workflow({ clock, timeout: 600 }).addStep({ accepts: StartEvent, emits: StopEvent }, async () => new StopEvent({ result: 1 }));
    for (let i = 0; i < 100; i++) expect(await wf.run()).toBe(1);
    expect(timers.length).toBe(1);
    expect((timers[0] as NodeJS.Timeout).hasRef()).toBe(false);
    const live = wf.run();
    expect((timers[0] as NodeJS.Timeout).hasRef()).toBe(true);
    await live;
    expect((timers[0] as NodeJS.Timeout).hasRef()).toBe(false);
    clearTimeout(timers[0]);
  });

  it("child runs leave no abort listener on the parent step's signal", async () => {
    class Leaf extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      leaf() {
        return new StopEvent({ result: 1 });
      }
    }
    class Parent extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, calls: [Leaf] })
      async many(_: StartEvent, ctx: Context) {
        let sum = 0;
        for (let i = 0; i < 50; i++) sum += (await ctx.runWorkflow(new Leaf())) as number;
        return new StopEvent({ result: { sum, listeners: abortListeners(ctx.signal) } });
      }
    }
    expect(await new Parent({ timeout: null }).run({})).toEqual({ sum: 50, listeners: 0 });
  });

  it("W concurrent waits: no MaxListenersExceeded warning, no listener per waiter on the run's signal", async () => {
    const W = 200;
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      let listeners = -1;
      class Waiters extends Workflow {
        @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Go })
        async all(_: StartEvent, ctx: Context) {
          const waits = Array.from({ length: W }, (_, i) => ctx.waitForEvent(Go, { filter: (g) => g.i === i }));
          listeners = abortListeners(ctx.signal);
          const got = await Promise.all(waits);
          return new StopEvent({ result: got.length });
        }
      }
      const h = new Waiters({ timeout: null }).run({});
      while (listeners < 0) await new Promise((r) => setImmediate(r));
      for (let i = W - 1; i >= 0; i--) h.sendEvent(new Go({ i }));
      expect(await h).toBe(W);
      expect(listeners).toBe(0);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("no timer outlives a cancelled run: step timeout, retry delay, wait timeout", async () => {
    const clock = new TestClock(0);
    class Hangs extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, timeout: 100 })
      async hang() {
        return new Promise<StopEvent>(() => {});
      }
      @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 5, delay: 100 } })
      async flaky(): Promise<StopEvent> {
        throw new Error("again");
      }
      @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Go })
      async waits(_: StartEvent, ctx: Context) {
        await ctx.waitForEvent(Go, { timeout: 100 });
        return new StopEvent({ result: "went" });
      }
    }
    const h = new Hangs({ clock, timeout: null }).run({});
    h.catch(() => {});
    await clock.advance(0);
    expect(clock.pending).toBeGreaterThanOrEqual(3);
    h.cancel();
    await clock.advance(0);
    expect(clock.pending).toBe(0);
  });
});
