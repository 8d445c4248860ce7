/**
 * Many runs of a fan-out/fan-in workflow on several worker processes, SIGKILLed one after
 * another and replaced while the runs go on: every result is right, no step's result is taken
 * twice, and no step runs again once it finished. The number of runs is STEPWISE_KILL_RUNS
 * (default 60, to keep CI under a minute; SCALING.md gives the figures of 1,000 run by hand),
 * of worker processes STEPWISE_KILL_WORKERS (default 3).
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore, type JournalEntry } from "stepwise-ai";
import { BullMQRuntime } from "stepwise-ai/bullmq";
import { Spread, sumOfSquares } from "./fixtures/spread.js";
import { dropPrefix, forkWorker, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();
const RUNS = Number(process.env.STEPWISE_KILL_RUNS ?? 60);
const WORKERS = Number(process.env.STEPWISE_KILL_WORKERS ?? 3);
const N = 4;
const STEP_MS = 300;
const KILL_EVERY_MS = 700;
// Each kill may stall a job once more: enough stalls allowed that no step fails for it.
const LOCK = { lockDuration: 1000, stalledInterval: 500, maxStalledCount: 50 };
const script = join(import.meta.dirname, "fixtures/spread-worker.ts");

describe.skipIf(!available)("repeated worker SIGKILLs under many runs", () => {
  let prefix = "";
  const children = new Set<ChildProcess>();
  let runtime: BullMQRuntime | undefined;
  afterEach(async () => {
    await runtime?.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    children.clear();
    await dropPrefix(prefix);
  });

  it(`${RUNS} runs on ${WORKERS} workers killed every ${KILL_EVERY_MS} ms: every result right, none duplicated, no finished step re-run`, async () => {
    prefix = uniquePrefix();
    const start = (): Promise<ChildProcess> => forkWorker(script, [JSON.stringify(LOCK), "4"], prefix, (c) => children.add(c));
    const live: ChildProcess[] = await Promise.all(Array.from({ length: WORKERS }, start));
    const store = new MemoryStore();
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    // Runs wait in the queue behind each other: no run timeout (1,000 of them take minutes).
    const wf = new Spread({ runtime, store, timeout: null });
    runtime.runInProcess(wf, ["gather"]);

    const handlers = Array.from({ length: RUNS }, () => wf.run({ n: N, ms: STEP_MS }));
    let settled = false;
    const all = Promise.allSettled(handlers).finally(() => (settled = true));
    let kills = 0;
    while (!settled) {
      await Promise.race([all, new Promise((r) => setTimeout(r, KILL_EVERY_MS))]);
      if (settled) break;
      // Kill one (keeping one alive at least) and start its replacement, as a process manager would.
      if (live.length < 2) continue;
      const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0];
      victim?.kill("SIGKILL");
      kills++;
      start().then(
        (c) => live.push(c),
        () => {}, // killed by afterEach while starting
      );
    }
    const results = await all;

    const redis = new Redis(REDIS_URL);
    let lines: string[];
    try {
      lines = await redis.lrange(`${prefix}:test:log`, 0, -1);
    } finally {
      redis.disconnect();
    }
    const failures = results.filter((r) => r.status === "rejected").map((r) => String((r).reason));
    expect(failures).toEqual([]);
    expect(results.map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(Array.from({ length: RUNS }, () => sumOfSquares(N)));
    expect(kills).toBeGreaterThanOrEqual(2);

    // Where each execution of `work` started and finished in the shared log.
    const startAt = new Map<string, number[]>();
    const doneAt = new Map<string, number>();
    lines.forEach((line, at) => {
      const [kind, sr = "", exec = ""] = line.split(" ");
      if (kind === "start") startAt.set(sr, [...(startAt.get(sr) ?? []), at]);
      else doneAt.set(`${sr} ${exec}`, at);
    });
    let reruns = 0;
    for (const h of handlers) {
      const journal = store.getJournal(h.runId) as JournalEntry[];
      const squared = journal.flatMap((e) => (e.kind === "event" && e.event.type === "Squared" ? [e] : []));
      // None duplicated: one result per part.
      expect(squared).toHaveLength(N);
      const finished = new Map<string, number>();
      journal.forEach((e, i) => e.kind === "step_finished" && e.step === "work" && finished.set(e.stepRunId, i));
      expect(finished.size).toBe(N);
      for (const [sr, at] of finished) {
        // The journal never starts a step again once it finished.
        expect(journal.slice(at).some((e) => e.kind === "step_started" && e.stepRunId === sr)).toBe(false);
      }
      for (const e of squared) {
        const from = e.from ?? "";
        const exec = (e.event.data as { exec: string }).exec;
        const done = doneAt.get(`${from} ${exec}`);
        // The result taken is one an execution of that step returned ...
        expect(done).toBeDefined();
        // ... and no execution of the step started after it finished.
        const starts = startAt.get(from) ?? [];
        expect(starts.filter((s) => s > (done as number))).toEqual([]);
        reruns += starts.length - 1;
      }
    }
    console.log(`${RUNS} runs × ${N} parts, ${kills} worker SIGKILLs: ${reruns} executions of steps cut short by a kill were run again.`);
  }, Math.max(300_000, RUNS * 1_000));
});
