import type { Redis } from "ioredis";
import { BullMQRuntimeError } from "./errors.js";
import { keys } from "./names.js";

/**
 * How long a worker holds a step's job and how a dead worker's jobs are found. Every worker of
 * one queue must use the same settings: a worker with a longer stall interval or lock delays
 * recovery for all (mixed settings on one queue took recovery from 9.6 s to 34 s in a test).
 */
export interface LockSettings {
  /** Milliseconds a job's lock lasts; renewed at half of it while the step runs (default 5,000). */
  lockDuration: number;
  /** Milliseconds between checks for jobs whose lock expired (default 2,500). */
  stalledInterval: number;
  /**
   * How many times a job whose worker died goes back to the queue before it fails (default 2);
   * above 1, so one crash does not fail a step, and bounded, so a step that kills its worker
   * every time (a poison step) ends.
   */
  maxStalledCount: number;
}

/** The defaults: a dead worker's step runs again within lockDuration + stalledInterval (7.5 s). */
export const DEFAULT_LOCK_SETTINGS: Readonly<LockSettings> = Object.freeze({ lockDuration: 5_000, stalledInterval: 2_500, maxStalledCount: 2 });

/** Checks settings given by a user; returns the problems, each naming the field. */
export function lockProblems(s: Partial<LockSettings>): string[] {
  const problems: string[] = [];
  const whole = (name: keyof LockSettings, min: number) => {
    const v = s[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) problems.push(`lock.${name} must be a whole number ≥ ${min}, got ${String(v)}.`);
  };
  whole("lockDuration", 100);
  whole("stalledInterval", 100);
  whole("maxStalledCount", 1);
  return problems;
}

const same = (a: LockSettings, b: LockSettings) => a.lockDuration === b.lockDuration && a.stalledInterval === b.stalledInterval && a.maxStalledCount === b.maxStalledCount;

/**
 * The lock settings of `queue`, kept in Redis so all its workers share them. The first worker
 * of a queue stores what it was given (or the defaults); a later worker given no settings takes
 * the stored ones, and one given different settings is refused.
 */
export async function sharedLockSettings(redis: Redis, prefix: string, queue: string, requested: Partial<LockSettings> | undefined): Promise<LockSettings> {
  const wanted: LockSettings = { ...DEFAULT_LOCK_SETTINGS, ...requested };
  const key = keys.lock(prefix, queue);
  await redis.set(key, JSON.stringify(wanted), "NX");
  const raw = await redis.get(key);
  let stored: LockSettings;
  try {
    stored = JSON.parse(raw ?? "") as LockSettings;
    if (lockProblems(stored).length > 0 || typeof stored.lockDuration !== "number") throw new Error("bad");
  } catch {
    throw new BullMQRuntimeError(`The lock settings stored for queue "${queue}" under Redis key "${key}" are not valid (${String(raw)}); delete the key and start the workers again.`, "LOCK_SETTINGS_MISMATCH");
  }
  if (requested !== undefined && Object.keys(requested).length > 0 && !same(wanted, stored)) {
    throw new BullMQRuntimeError(
      `This worker's lock settings for queue "${queue}" (${JSON.stringify(wanted)}) differ from the ones its other workers use (${JSON.stringify(stored)}, Redis key "${key}"). ` +
        "Every worker of a queue must share them: start this worker without lock settings to take the stored ones, or stop all workers of the queue and delete the key to change them.",
      "LOCK_SETTINGS_MISMATCH",
    );
  }
  return stored;
}
