import { BullMQRuntimeError } from "./errors.js";
import type { StepOutcome, StepTask } from "../../index.js";

/** A step job's data: the JSON task, and the inbox of the coordinator that serves its scope. */
export interface StepJobData {
  readonly task: StepTask;
  readonly coordinator: string;
  /** The step span's trace context (W3C headers), so the worker's work nests under it. */
  readonly trace?: Readonly<Record<string, string>>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => (v === undefined ? "undefined" : (JSON.stringify(v) as string | undefined)?.slice(0, 80) ?? typeof v);

/**
 * Where a scope request stands in its execution of a job: how many writes the execution sent
 * with earlier requests, and how many requests it made before. An execution of the job again
 * (its worker died or stalled) starts from zero: the coordinator skips what it already took.
 */
export interface RequestPosition {
  readonly writes: number;
  readonly request: number;
}

/** A worker's outcome, with how many of its writes went to the coordinator with requests before it. */
export type SentOutcome = StepOutcome & { readonly sent?: number };

/** The position a scope request carries, or undefined (a worker of an older version sends none). */
export function parsePosition(value: unknown): RequestPosition | undefined {
  if (!isObject(value)) return undefined;
  const { writes, request } = value;
  return Number.isSafeInteger(writes) && (writes as number) >= 0 && Number.isSafeInteger(request) && (request as number) >= 0 ? { writes: writes as number, request: request as number } : undefined;
}

/** Checks a job's data before anything runs: jobs come from Redis, where anyone with access may write. */
export function parseStepJob(data: unknown, jobId: string | undefined): StepJobData {
  const bad = (what: string) => new BullMQRuntimeError(`Job "${jobId ?? "?"}" is not a stepwise step job: ${what}. Only BullMQRuntime should add jobs to a stepwise queue.`, "BAD_TASK");
  if (!isObject(data)) throw bad(`its data is ${describe(data)}, not an object`);
  const { task, coordinator } = data;
  if (typeof coordinator !== "string" || coordinator === "") throw bad(`coordinator is ${describe(coordinator)}`);
  if (!isObject(task)) throw bad(`task is ${describe(task)}`);
  for (const key of ["runId", "workflow", "step", "stepRunId"] as const) {
    if (typeof task[key] !== "string" || task[key] === "") throw bad(`task.${key} is ${describe(task[key])}, not a non-empty string`);
  }
  if (!(Number.isInteger(task.attempt) && (task.attempt as number) >= 1)) throw bad(`task.attempt is ${describe(task.attempt)}, not a whole number ≥ 1`);
  if (!isObject(task.event) || typeof task.event.type !== "string") throw bad(`task.event is ${describe(task.event)}, not { type, data }`);
  if (task.state !== undefined && !isObject(task.state)) throw bad(`task.state is ${describe(task.state)}, not an object`);
  const trace = isObject(data.trace) && typeof data.trace.traceparent === "string" ? { traceparent: data.trace.traceparent, ...(typeof data.trace.tracestate === "string" ? { tracestate: data.trace.tracestate } : {}) } : undefined;
  return { task: task as unknown as StepTask, coordinator, ...(trace ? { trace } : {}) };
}

/** Checks what a worker returned (a job's return value) is an outcome. */
export function parseOutcome(value: unknown, jobId: string): SentOutcome {
  if (isObject(value) && Array.isArray(value.writes) && ((value.ok === true && Array.isArray(value.emitted)) || (value.ok === false && isObject(value.error)))) {
    return value as unknown as SentOutcome;
  }
  throw new BullMQRuntimeError(`Job "${jobId}" returned ${describe(value)}, not a step outcome; is a worker of another program consuming this stepwise queue?`, "BAD_TASK");
}
