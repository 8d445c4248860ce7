/** createWorker's own checks: shared lock settings, a step blocking the event loop, bad jobs, Redis unreachable. */
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { BullMQRuntimeError, createWorker, DEFAULT_LOCK_SETTINGS, type StepWorker } from "stepwise-ai/bullmq";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

class Busy extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  spin(ev: StartEvent<{ ms: number }>) {
    const until = Date.now() + ev.ms;
    while (Date.now() < until); // CPU-bound on purpose: blocks lock renewal
    return new StopEvent({ result: "spun" });
  }
}

describe("createWorker without Redis", () => {
  it("fails at once with REDIS_UNAVAILABLE naming the address when nothing listens there", async () => {
    const err: unknown = await createWorker({ connection: "redis://127.0.0.1:1", workflows: [new Busy()] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BullMQRuntimeError);
    expect(err).toMatchObject({ code: "REDIS_UNAVAILABLE" });
    expect((err as Error).message).toMatch(/Cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*ECONNREFUSED/);
  });
});

describe.skipIf(!available)("createWorker", () => {
  let prefix = "";
  const workers: StepWorker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close(true)));
    await dropPrefix(prefix);
  });

  it("every worker of a queue shares the lock settings stored in Redis; different ones are refused", async () => {
    prefix = uniquePrefix();
    const lock = { lockDuration: 3000, stalledInterval: 1000, maxStalledCount: 3 };
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()], lock }));
    expect(workers[0]?.lock.get("Busy")).toEqual(lock);
    // No settings given: takes the stored ones, not the defaults.
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()] }));
    expect(workers[1]?.lock.get("Busy")).toEqual(lock);
    const err: unknown = await createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()], lock: { lockDuration: 30_000 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "LOCK_SETTINGS_MISMATCH" });
    expect((err as Error).message).toMatch(/queue "Busy".*"lockDuration":30000.*"lockDuration":3000/s);
    await expect(createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()], lock: { maxStalledCount: 0 } })).rejects.toThrow(/lock\.maxStalledCount must be a whole number ≥ 1, got 0/);
  });

  it("a new queue gets the defaults: a few seconds' lock, maxStalledCount above 1", async () => {
    prefix = uniquePrefix();
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()] }));
    expect(workers[0]?.lock.get("Busy")).toEqual(DEFAULT_LOCK_SETTINGS);
    expect(DEFAULT_LOCK_SETTINGS.lockDuration).toBeLessThanOrEqual(10_000);
    expect(DEFAULT_LOCK_SETTINGS.maxStalledCount).toBeGreaterThan(1);
  });

  it("warns, naming the step, when a step blocks the event loop for over half the lock duration", async () => {
    prefix = uniquePrefix();
    const warnings: string[] = [];
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()], lock: { lockDuration: 1000, stalledInterval: 5000 }, onWarning: (m) => warnings.push(m) }));
    const queue = new Queue("Busy", { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix });
    await queue.add("spin", { task: { runId: "r", workflow: "Busy", step: "spin", stepRunId: "r:spin:1", attempt: 1, event: { type: "StartEvent", data: { ms: 800 } } }, coordinator: "nobody" }, { jobId: "r.spin%3A1.1" });
    while (!warnings.some((w) => w.includes("event loop"))) await new Promise((r) => setTimeout(r, 20));
    await queue.close();
    expect(warnings.find((w) => w.includes("event loop"))).toMatch(/blocked for \d+ ms while step "Busy\.spin" ran, more than half the lock duration \(1000 ms\).*worker_threads/s);
  });

  it("a job that is not a step task fails with BAD_TASK instead of running anything", async () => {
    prefix = uniquePrefix();
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Busy()] }));
    const queue = new Queue("Busy", { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix });
    const r = new Redis(REDIS_URL);
    try {
      const hostile = [{ task: "x", coordinator: "c" }, { task: { runId: "r", workflow: "Busy", step: "spin", stepRunId: "s", attempt: 0, event: { type: "StartEvent" } }, coordinator: "c" }, "\u0000\u202e", { task: { runId: "r", workflow: "Nope", step: "spin", stepRunId: "s", attempt: 1, event: { type: "StartEvent", data: {} } }, coordinator: "c" }];
      await queue.addBulk(hostile.map((data, i) => ({ name: "x", data, opts: { jobId: `bad${i}` } })));
      while ((await r.zcard(`${prefix}:Busy:failed`)) < hostile.length) await new Promise((res) => setTimeout(res, 20));
      const reasons = await Promise.all(hostile.map((_, i) => r.hget(`${prefix}:Busy:bad${i}`, "failedReason")));
      expect(reasons[0]).toMatch(/not a stepwise step job: task is "x"/);
      expect(reasons[1]).toMatch(/task\.attempt is 0, not a whole number ≥ 1/);
      expect(reasons[2]).toMatch(/its data is .*, not an object/);
      expect(reasons[3]).toMatch(/does not run workflow "Nope"/);
    } finally {
      r.disconnect();
      await queue.close();
    }
  });
});
