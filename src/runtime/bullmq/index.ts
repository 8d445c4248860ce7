/**
 * `stepwise-ai/bullmq`: a run's steps on many worker processes over BullMQ (SPEC 10).
 * The coordinator passes a {@link BullMQRuntime} as its workflow's `runtime`; workers run the
 * step jobs with {@link createWorker} or `stepwise worker FILE --redis URL`. Needs the optional
 * peer dependencies `bullmq` and `ioredis`.
 * @packageDocumentation
 */
export { BullMQRuntime, type BullMQRuntimeOptions } from "./runtime.js";
export { createWorker, type CreateWorkerOptions, type CoordinateOptions, type StepWorker, type WorkerWorkflows } from "./worker.js";
export { DEFAULT_LOCK_SETTINGS, type LockSettings } from "./locks.js";
export { BullMQRuntimeError } from "./errors.js";
export { stepJobId, queueName } from "./names.js";
export type { RedisConnection } from "./connection.js";
export { queueStats, type QueueStats, type QueueStatsOptions, type StepJobCounts } from "./stats.js";
