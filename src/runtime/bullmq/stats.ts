import { Queue } from "bullmq";
import { newRedis, type RedisConnection } from "./connection.js";
import { BullMQRuntimeError } from "./errors.js";
import type { LockSettings } from "./locks.js";
import { keys } from "./names.js";

/** Jobs of one step in one queue, by state (of the first {@link QueueStatsOptions.sample} jobs per state). */
export interface StepJobCounts {
  waiting: number;
  active: number;
  failed: number;
}

/** One queue as {@link queueStats} sees it. */
export interface QueueStats {
  /** The queue: a workflow or App member, or `Workflow.step` for a step with its own queue. */
  queue: string;
  /** Jobs waiting for a worker (including prioritized ones). */
  waiting: number;
  /** Jobs running on a worker now. */
  active: number;
  delayed: number;
  /** Failed jobs still kept (see the `keep` option). */
  failed: number;
  /** Completed jobs still kept. */
  completed: number;
  /** Worker connections consuming the queue. */
  workers: number;
  /** The lock settings its workers share, when a worker stored them. */
  lock?: LockSettings;
  /** Waiting, active and failed jobs per step name. */
  steps: Record<string, StepJobCounts>;
}

/** Options of {@link queueStats}. */
export interface QueueStatsOptions {
  /** Where Redis is: a URL, ioredis options or an ioredis client. */
  connection: RedisConnection;
  /** Key prefix of the queues (default `"stepwise"`). */
  prefix?: string;
  /** Only these queues; default every queue a worker has served (found by its lock settings). */
  queues?: readonly string[];
  /** How many jobs per state are read to count them per step (default 1,000); the totals are exact. */
  sample?: number;
}

/**
 * The step queues of a prefix, for a dashboard: depth, running and failed jobs per queue and
 * per step, and the workers consuming each. Opens one Redis connection for the call.
 * @example
 * app.get("/queues", async (c) => c.json(await queueStats({ connection: "redis://127.0.0.1:6379" })));
 */
export async function queueStats(options: QueueStatsOptions): Promise<QueueStats[]> {
  const { connection, prefix = "stepwise", sample = 1_000 } = options;
  if (typeof prefix !== "string" || prefix === "" || prefix.includes(":")) throw new BullMQRuntimeError(`queueStats: prefix must be a non-empty string without ":", got ${JSON.stringify(prefix)}.`, "BAD_OPTION");
  if (!(Number.isInteger(sample) && sample >= 0)) throw new BullMQRuntimeError(`queueStats: sample must be a whole number ≥ 0, got ${String(sample)}.`, "BAD_OPTION");
  const redis = newRedis(connection, "stepwise-stats");
  redis.on("error", () => {});
  try {
    const lockPrefix = keys.lock(prefix, "");
    let names = options.queues ? [...options.queues] : [];
    if (!options.queues) {
      let cursor = "0";
      do {
        const [next, found] = await redis.scan(cursor, "MATCH", `${lockPrefix}*`, "COUNT", 1000);
        cursor = next;
        names.push(...found.map((k) => k.slice(lockPrefix.length)));
      } while (cursor !== "0");
      names = [...new Set(names)].sort();
    }
    return await Promise.all(
      names.map(async (name): Promise<QueueStats> => {
        const queue = new Queue(name, { connection: redis, prefix });
        try {
          const [counts, workers, lockRaw] = await Promise.all([queue.getJobCounts("waiting", "prioritized", "active", "delayed", "failed", "completed"), queue.getWorkersCount(), redis.get(keys.lock(prefix, name))]);
          // Job names come from Redis, where anyone with access may add a job: "__proto__" must stay a name.
          const byStep = new Map<string, StepJobCounts>();
          if (sample > 0) {
            for (const state of ["waiting", "active", "failed"] as const) {
              const jobs = await queue.getJobs(state === "waiting" ? ["waiting", "prioritized"] : [state], 0, sample - 1);
              for (const job of jobs) {
                let s = byStep.get(job.name);
                if (s === undefined) byStep.set(job.name, (s = { waiting: 0, active: 0, failed: 0 }));
                s[state]++;
              }
            }
          }
          const steps: Record<string, StepJobCounts> = Object.fromEntries(byStep);
          let lock: LockSettings | undefined;
          try {
            lock = lockRaw === null ? undefined : (JSON.parse(lockRaw) as LockSettings);
          } catch {
            lock = undefined;
          }
          return {
            queue: name,
            waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
            active: counts.active ?? 0,
            delayed: counts.delayed ?? 0,
            failed: counts.failed ?? 0,
            completed: counts.completed ?? 0,
            workers,
            ...(lock === undefined ? {} : { lock }),
            steps,
          };
        } finally {
          await queue.close();
        }
      }),
    );
  } finally {
    redis.disconnect();
  }
}
