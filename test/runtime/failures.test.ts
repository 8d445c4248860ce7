/**
 * Failures with real Redis and real worker processes (forked, SIGKILLed). Lock settings are
 * short (1 s lock, 0.5 s stall checks) so recovery takes seconds; nothing here asserts a time.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { BullMQRuntime } from "stepwise-ai/bullmq";
import { PoisonRun } from "./fixtures/flows.js";
import { dropPrefix, forkWorker, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();
const workerScript = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url));
const LOCK = { lockDuration: 1000, stalledInterval: 500, maxStalledCount: 1 };

const startWorker = (prefix: string): Promise<ChildProcess> => forkWorker(workerScript, [prefix, JSON.stringify(LOCK)], prefix);

const scope = (signal = new AbortController().signal) => ({ signal, apply: () => {}, request: () => Promise.reject(new Error("no requests here")) });
const task = (runId: string, stepName: string, event: { type: string; data: Record<string, unknown> }, attempt = 1) => ({ runId, workflow: "Faulty", step: stepName, stepRunId: `${runId}:${stepName}:1`, attempt, event });

describe.skipIf(!available)("step jobs on worker processes that die", () => {
  let prefix = "";
  const children = new Set<ChildProcess>();
  let runtime: BullMQRuntime | undefined;
  let redis: Redis | undefined;
  afterEach(async () => {
    await runtime?.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    children.clear();
    redis?.disconnect();
    await dropPrefix(prefix);
  });
  const setup = async (workers: number) => {
    prefix = uniquePrefix();
    redis = new Redis(REDIS_URL);
    for (const c of await Promise.all(Array.from({ length: workers }, () => startWorker(prefix)))) children.add(c);
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    return { runtime, redis };
  };
  const waitFor = async (check: () => Promise<boolean>) => {
    while (!(await check())) await new Promise((r) => setTimeout(r, 20));
  };

  it("SIGKILL of the worker running a step: another worker runs it again and the outcome arrives", async () => {
    const { runtime, redis } = await setup(2);
    const key = `${prefix}:test:once`;
    const pending = runtime.execute(task("k1", "once", { type: "StartEvent", data: { key: "once" } }), scope());
    await waitFor(async () => (await redis.llen(key)) === 1);
    const firstPid = Number(await redis.lindex(key, 0));
    const victim = [...children].find((c) => c.pid === firstPid);
    expect(victim).toBeDefined();
    victim?.kill("SIGKILL");
    const outcome = await pending;
    const starts = (await redis.lrange(key, 0, -1)).map(Number);
    expect(starts).toHaveLength(2);
    expect(starts[1]).not.toBe(firstPid);
    expect(outcome).toEqual({ ok: true, emitted: [{ type: "StopEvent", data: { result: `done by ${starts[1]}` } }], writes: [] });
  }, 120_000);

  /** Replaces workers as they die, as a process manager would; returns the switch that stops it. */
  const respawning = () => {
    let respawns = 0;
    let on = true;
    const keepAlive = (c: ChildProcess) =>
      c.once("exit", () => {
        if (!on || respawns++ > 8) return;
        void startWorker(prefix).then(
          (n) => {
            children.add(n);
            if (on) keepAlive(n);
            else n.kill("SIGKILL");
          },
          () => {},
        );
      });
    for (const c of children) keepAlive(c);
    return () => (on = false);
  };

  it("a poison step that kills every worker it runs on ends in a failed outcome naming the step", async () => {
    const { runtime, redis } = await setup(2);
    const stop = respawning();
    const outcome = await runtime.execute(task("p1", "poison", { type: "Job", data: { key: "poison" } }), scope());
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toMatchObject({ code: "WORKER_LOST", step: "poison" });
    expect(outcome.error.message).toMatch(/Step "poison" of workflow "Faulty" \(attempt 1/);
    // It ran maxStalledCount + 1 times, each time on a worker that then died.
    expect(await redis.llen(`${prefix}:test:poison`)).toBe(LOCK.maxStalledCount + 1);
    stop();
  }, 120_000);

  it("a run whose step kills its worker every time fails after the step's attempts, naming it; another run is not held up", async () => {
    const { runtime, redis } = await setup(2);
    const stop = respawning();
    const wf = new PoisonRun({ runtime });
    const poisoned = wf.run({ key: "bad", poison: true });
    let poisonedEnded = false;
    const err = poisoned.then(
      () => undefined,
      (e: unknown) => e,
    );
    void err.then(() => (poisonedEnded = true));
    // The healthy run starts once the poison has killed its first worker. Started together, the two
    // jobs could share a worker process (concurrency 2) and die with it at every kill, which is
    // not what this test is about.
    await waitFor(async () => (await redis.llen(`${prefix}:test:bad`)) >= 1);
    const healthy = wf.run({ key: "good", poison: false });
    expect(await healthy).toBe("healthy");
    // Not held up: it ended while the poisoned run was still going through its attempts.
    expect(poisonedEnded).toBe(false);
    expect(await err).toMatchObject({ code: "STEP_FAILED", step: "maybe", cause: { code: "WORKER_LOST", step: "maybe", attempt: 2 } });
    expect(String(await err)).toMatch(/Step "maybe" of workflow "PoisonRun" failed \(attempt 2 of 2\): .*failed on the workers: job stalled more than allowable limit/);
    // 2 attempts, each run maxStalledCount + 1 times on a worker that died.
    expect(await redis.llen(`${prefix}:test:bad`)).toBe(2 * (LOCK.maxStalledCount + 1));
    expect(await redis.llen(`${prefix}:test:good`)).toBeGreaterThanOrEqual(1);
    stop();
  }, 120_000);

  it("cancel reaches a step running on a worker process through ctx.signal", async () => {
    const { runtime, redis } = await setup(1);
    const key = `${prefix}:test:abort`;
    const ac = new AbortController();
    const pending = runtime.execute(task("c1", "waitsForAbort", { type: "Job", data: { key: "abort" } }), scope(ac.signal));
    await waitFor(async () => (await redis.llen(key)) === 1);
    const reason = new Error("run cancelled");
    reason.name = "WorkflowCancelledError";
    ac.abort(reason);
    expect(await pending).toMatchObject({ ok: false, error: { message: "run cancelled", name: "WorkflowCancelledError" } });
    await waitFor(async () => (await redis.llen(key)) === 2);
    expect(await redis.lindex(key, 1)).toBe("aborted: WorkflowCancelledError: run cancelled");
  }, 120_000);

  it("an abort that arrives before a worker takes the job removes it: the step never starts", async () => {
    prefix = uniquePrefix();
    redis = new Redis(REDIS_URL);
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    const ac = new AbortController();
    const pending = runtime.execute(task("c2", "waitsForAbort", { type: "Job", data: { key: "early" } }), scope(ac.signal));
    // No worker yet: the job waits in the queue.
    await waitFor(async () => (await redis!.exists(`${prefix}:Faulty:c2.waitsForAbort%3A1.1`)) === 1);
    ac.abort(new Error("timed out"));
    expect(await pending).toMatchObject({ ok: false, error: { message: "timed out" } });
    children.add(await startWorker(prefix));
    // Give the worker a chance to take a job if one were left.
    await new Promise((r) => setTimeout(r, 300));
    expect(await redis.llen(`${prefix}:test:early`)).toBe(0);
    expect(await redis.exists(`${prefix}:Faulty:c2.waitsForAbort%3A1.1`)).toBe(0);
  }, 120_000);
});
