import { afterEach, describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow, step, type Context } from "stepwise-ai";
import { MemoryStore } from "stepwise-ai";
import { BullMQRuntime, BullMQRuntimeError, createWorker, queueStats, stepJobId, type StepWorker } from "stepwise-ai/bullmq";
import { createServer } from "stepwise-ai/server";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

class Ping extends Event<{ n: number }> {}
class Note extends Event<{ text: string }> {}

const ran: string[] = [];

class Remote extends Workflow {
  @step({ accepts: StartEvent, emits: [Ping, Note] })
  async start(ev: StartEvent<{ n: number }>, ctx: Context) {
    ran.push(`start:${ctx.stepRunId}:${ctx.attempt}`);
    ctx.writeEventToStream(new Note({ text: "hello" }));
    ctx.store.set("seen", ev.n);
    ctx.sendEvent(new Note({ text: "to-b" }), { step: "b" });
    return [new Ping({ n: ev.n }), new Ping({ n: ev.n + 1 })];
  }

  @step({ accepts: Ping, emits: StopEvent })
  async b(ev: Ping, ctx: Context) {
    ran.push(`b:${ctx.stepRunId}:${ctx.attempt}`);
    if (ev.n < 0) throw new Error(`negative ${ev.n}`);
    return new StopEvent({ result: ev.n });
  }

  @step({ accepts: Note, emits: StopEvent })
  async slow(_ev: Note, ctx: Context) {
    await new Promise((resolve, reject) => {
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), { once: true });
    });
    return new StopEvent({ result: "never" });
  }
}

/** A scope as the core's driver would hand one: records writes, answers nothing. */
function fakeScope(signal = new AbortController().signal) {
  const applied: unknown[] = [];
  return {
    applied,
    scope: {
      signal,
      apply: (w: readonly unknown[]) => void applied.push(...w),
      request: () => Promise.reject(new Error("no requests in this test")),
    },
  };
}

const task = (runId: string, stepName: string, event: { type: string; data: Record<string, unknown> }, attempt = 1) => ({ runId, workflow: "Remote", step: stepName, stepRunId: `${runId}:${stepName}:1`, attempt, event });

describe.skipIf(!available)("BullMQRuntime and createWorker (one process)", () => {
  let prefix = "";
  let worker: StepWorker | undefined;
  let runtime: BullMQRuntime | undefined;
  afterEach(async () => {
    await runtime?.close();
    await worker?.close(true);
    await dropPrefix(prefix);
  });

  const setup = async () => {
    prefix = uniquePrefix();
    worker = await createWorker({ connection: REDIS_URL, prefix, workflows: [new Remote()], concurrency: 4 });
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    return { worker, runtime };
  };

  it("runs a task on the worker and returns its JSON outcome: emitted events and writes", async () => {
    const { runtime, worker } = await setup();
    expect(worker.queues).toEqual(["Remote"]);
    const { scope } = fakeScope();
    const outcome = await runtime.execute(task("r1", "start", { type: "StartEvent", data: { n: 5 } }), scope);
    expect(JSON.parse(JSON.stringify(outcome))).toEqual({
      ok: true,
      emitted: [
        { type: "Ping", data: { n: 5 } },
        { type: "Ping", data: { n: 6 } },
      ],
      writes: [
        { kind: "stream", event: { type: "Note", data: { text: "hello" } } },
        { kind: "store", key: "seen", value: 5 },
        { kind: "send", event: { type: "Note", data: { text: "to-b" } }, step: "b" },
      ],
    });
    expect(runtime.inFlight).toBe(0);
  });

  it("returns a step's error as a failed outcome, not as a rejection", async () => {
    const { runtime } = await setup();
    const outcome = await runtime.execute(task("r2", "b", { type: "Ping", data: { n: -1 } }), fakeScope().scope);
    expect(outcome.ok).toBe(false);
    expect(outcome.ok === false && outcome.error.message).toBe("negative -1");
  });

  it("enqueuing the same attempt again is a no-op: the step runs once, both get its outcome", async () => {
    const { runtime } = await setup();
    ran.length = 0;
    const t = task("r3", "start", { type: "StartEvent", data: { n: 1 } });
    const [a, b] = await Promise.all([runtime.execute(t, fakeScope().scope), runtime.execute(t, fakeScope().scope)]);
    const again = await runtime.execute(t, fakeScope().scope);
    expect(a).toEqual(b);
    expect(again).toEqual(a);
    expect(ran).toEqual(["start:r3:start:1:1"]);
    // The next attempt, from a coordinator that took the run over (it never awaited attempt 1):
    // attempt 1 finished on a worker meanwhile, so its outcome is taken and the step does not run again.
    const other = new BullMQRuntime({ connection: REDIS_URL, prefix });
    try {
      expect(await other.execute({ ...t, attempt: 2 }, fakeScope().scope)).toEqual(a);
      expect(ran).toEqual(["start:r3:start:1:1"]);
      // An invocation under the same stepRunId but another event (handed out before the journal said so): a job of its own.
      const moved = await other.execute({ ...t, event: { type: "StartEvent", data: { n: 5 } } }, fakeScope().scope);
      expect(moved.ok && moved.emitted).toEqual([{ type: "Ping", data: { n: 5 } }, { type: "Ping", data: { n: 6 } }]);
      expect(ran).toEqual(["start:r3:start:1:1", "start:r3:start:1:1"]);
    } finally {
      await other.close();
    }
  });

  it("a retry after a failed attempt is a new job: the step runs again", async () => {
    const { runtime } = await setup();
    ran.length = 0;
    const t = task("r5", "b", { type: "Ping", data: { n: -1 } });
    const first = await runtime.execute(t, fakeScope().scope);
    const second = await runtime.execute({ ...t, attempt: 2 }, fakeScope().scope);
    expect([first.ok, second.ok]).toEqual([false, false]);
    expect(second.ok === false && second.error.message).toBe("negative -1");
    expect(await runtime.execute({ ...t, attempt: 2 }, fakeScope().scope)).toEqual(second);
    expect(ran).toEqual(["b:r5:b:1:1", "b:r5:b:1:2"]);
  });

  it("aborting the scope's signal aborts ctx.signal of the step on the worker", async () => {
    const { runtime, worker } = await setup();
    const ac = new AbortController();
    const pending = runtime.execute(task("r4", "slow", { type: "Note", data: { text: "x" } }), fakeScope(ac.signal).scope);
    while (worker.running === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort(new Error("cancelled by test"));
    const outcome = await pending;
    expect(outcome.ok === false && outcome.error.message).toBe("cancelled by test");
    while (worker.running > 0) await new Promise((r) => setTimeout(r, 5));
  });

  it("queueStats: depth, running and failed jobs per queue and per step, and the workers", async () => {
    const { runtime, worker } = await setup();
    const ac = new AbortController();
    // 4 slow steps fill the worker's 4 slots; 2 more wait behind them.
    const slow = Array.from({ length: 4 }, (_, i) => runtime.execute(task(`q${i}`, "slow", { type: "Note", data: { text: "x" } }), fakeScope(ac.signal).scope));
    while (worker.running < 4) await new Promise((r) => setTimeout(r, 5));
    const waiting = [runtime.execute(task("q8", "b", { type: "Ping", data: { n: 1 } }), fakeScope().scope), runtime.execute(task("q9", "b", { type: "Ping", data: { n: 2 } }), fakeScope().scope)];
    let stats = await queueStats({ connection: REDIS_URL, prefix });
    while (stats[0]?.waiting !== 2) stats = await queueStats({ connection: REDIS_URL, prefix });
    expect(stats).toEqual([
      {
        queue: "Remote",
        waiting: 2,
        active: 4,
        delayed: 0,
        failed: 0,
        completed: 0,
        workers: 1,
        lock: { lockDuration: 5000, stalledInterval: 2500, maxStalledCount: 2 },
        steps: { slow: { waiting: 0, active: 4, failed: 0 }, b: { waiting: 2, active: 0, failed: 0 } },
      },
    ]);
    // The same figures through the server's queue view (GET /queues, shown on its page).
    const server = createServer({ workflows: { remote: new Remote() }, queues: () => queueStats({ connection: REDIS_URL, prefix }) });
    const viewed = (await (await server.request("/queues")).json()) as { queues: { queue: string; active: number; steps: Record<string, { active: number }> }[] };
    expect(viewed.queues).toMatchObject([{ queue: "Remote", active: 4, steps: { slow: { active: 4 } } }]);
    ac.abort(new Error("done"));
    await Promise.all([...slow, ...waiting]);
    expect(await queueStats({ connection: REDIS_URL, prefix, queues: ["Remote"], sample: 0 })).toMatchObject([{ queue: "Remote", waiting: 0, active: 0, completed: 6, steps: {} }]);
  });

  it("coordinate needs the store runs are journaled in", async () => {
    prefix = uniquePrefix();
    await expect(createWorker({ connection: REDIS_URL, prefix, workflows: [new Remote()], coordinate: {} as never })).rejects.toThrow(/coordinate.store must be the Store the coordinators journal runs in/);
    await expect(createWorker({ connection: REDIS_URL, prefix, workflows: [new Remote()], coordinate: { store: new MemoryStore(), intervalMs: 0 } })).rejects.toThrow(/coordinate.intervalMs must be a whole number ≥ 1, got 0/);
  });

  it("job ids have no ':' and differ by run, stepRunId and attempt", () => {
    const ids = [stepJobId("a:b", "a:b:s:1", 1), stepJobId("a", "a:b:s:1", 1), stepJobId("a:b", "a:b:s:1", 2), stepJobId("a%3Ab", "a%3Ab:s:1", 1)];
    for (const id of ids) expect(id).not.toContain(":");
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("refuses bad options with errors naming the option", async () => {
    expect(() => new BullMQRuntime({ connection: REDIS_URL, prefix: "a:b" })).toThrow(/prefix must be a non-empty string without ":"/);
    await expect(createWorker({ connection: REDIS_URL, workflows: [], prefix: uniquePrefix() })).rejects.toThrow(/workflows is empty/);
    await expect(createWorker({ connection: REDIS_URL, workflows: [new Remote()], concurrency: 0 })).rejects.toThrow(/concurrency must be a whole number ≥ 1, got 0/);
    await expect(createWorker({ connection: REDIS_URL, workflows: [new Remote()], queues: ["Nope"] })).rejects.toMatchObject({ code: "UNKNOWN_QUEUE" });
    await expect(createWorker({ connection: REDIS_URL, workflows: [Remote as never] })).rejects.toBeInstanceOf(BullMQRuntimeError);
  });
});
