import { jsonProblem } from "../../core/records.js";
import { EventValidationError } from "../../index.js";
import { BullMQRuntimeError } from "./errors.js";
import type { EventJSON, StepOutcome, StepRequest, StepTask, StepWrite } from "../../index.js";

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

/**
 * Why `what` (a step's task, or its events, writes or request) would not reach the other side as
 * it is: only JSON crosses between a worker and its coordinator, so a BigInt or a cycle would
 * fail the job with a bare TypeError, and a Date, NaN, Map or Set would arrive changed. Undefined
 * when it is fine; else an error naming the step, the event and the field, and how many writes
 * come before it.
 */
export function crossingProblem(task: StepTask, what: { writes?: readonly StepWrite[]; emitted?: readonly EventJSON[]; request?: StepRequest; task?: true }): { writesBefore: number; error: EventValidationError } | undefined {
  const fail = (writesBefore: number, eventType: string, doing: string, problem: string) => {
    const message = what.task
      ? `Step "${task.step}" of workflow "${task.workflow}" cannot be handed to a BullMQ worker (only JSON crosses): ${doing} ${problem}.`
      : `Step "${task.step}" of workflow "${task.workflow}" ${doing}, which cannot reach the run from its BullMQ worker (only JSON crosses): ${problem}.`;
    return { writesBefore, error: new EventValidationError(message, { eventType, issues: [{ path: problem.split(" ")[0], message: problem }], runId: task.runId, step: task.step }) };
  };
  if (what.task) {
    const problem = jsonProblem(task.event.data);
    if (problem !== undefined) return fail(0, task.event.type, `the ${task.event.type} it handles:`, problem);
    for (const [key, value] of Object.entries(task.state ?? {})) {
      const bad = jsonProblem(value, "value");
      if (bad !== undefined) return fail(0, "", `the run's ctx.store key "${key}":`, bad);
    }
  }
  const writes = what.writes ?? [];
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i] as StepWrite;
    if (w.kind === "store") {
      const problem = jsonProblem(w.value, "value");
      if (problem !== undefined) return fail(i, "", `set ctx.store key "${w.key}"`, problem);
      continue;
    }
    const problem = jsonProblem(w.event.data);
    if (problem !== undefined) return fail(i, w.event.type, w.kind === "send" ? `sent event ${w.event.type}` : `wrote event ${w.event.type} to the stream`, problem);
  }
  const emitted = what.emitted ?? [];
  for (let i = 0; i < emitted.length; i++) {
    const ev = emitted[i] as EventJSON;
    const problem = jsonProblem(ev.data);
    if (problem !== undefined) return fail(writes.length, ev.type, `returned event ${ev.type}`, problem);
  }
  const req = what.request;
  if (req === undefined) return undefined;
  const [ev, label] =
    req.kind === "wait" ? [req.waiterEvent, "waited with waiter event"] : req.kind === "call" ? [req.request, "called ctx.call with event"] : [undefined, ""];
  const problem = ev === undefined ? undefined : jsonProblem(ev.data);
  if (ev !== undefined && problem !== undefined) return fail(writes.length, ev.type, `${label} ${ev.type}`, problem);
  const other = req.kind === "wait" ? jsonProblem(req.requirements, "requirements") : req.kind === "runWorkflow" ? jsonProblem(req.input, "input") : undefined;
  if (other !== undefined) return fail(writes.length, req.kind === "wait" ? req.type : "", req.kind === "wait" ? `waited for ${req.type}` : `ran workflow "${(req as { workflow: string }).workflow}"`, other);
  return undefined;
}
