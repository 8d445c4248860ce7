import type { EventJSON } from "./events.js";
import type { ErrorJSON } from "./store.js";

/*
 * The Runtime seam: where a step's code executes. Without a `runtime` option a run calls its
 * steps directly in this process, handing them live events and a live Context (no copy, no
 * serialisation). With one, the run's driver turns each attempt into a JSON `StepTask`, awaits
 * the runtime's JSON `StepOutcome`, and answers the step's reads through a `StepScope`.
 *
 * What a step running elsewhere may do through its Context:
 * - writes are data: `ctx.sendEvent`, `ctx.writeEventToStream` and `ctx.store.set` become
 *   `StepWrite`s, returned in the outcome, or handed to `scope.apply` earlier when a read must
 *   see them (a send before a wait for its answer);
 * - reads that need the run's memory go to the coordinator (the process holding the run) as
 *   `StepRequest`s: `store.get`, `collectEvents`, `waitForEvent`, `call` and `runWorkflow`.
 *   `ctx.store.get` and `ctx.collectEvents` are synchronous in the step's API: a worker answers
 *   `store.get` from `task.state` when the task carries it, and `collectEvents` needs a scope
 *   that answers at once (a runtime whose scope answers only asynchronously should run fan-in
 *   steps in the coordinator's process). Wait filters are functions and cannot cross: a
 *   worker refuses them.
 * - A stream write whose class the workflow does not declare (stream-only events are listed
 *   nowhere) reaches the reader as a stand-in event with the same type name and fields.
 *
 * Retries and step timeouts are applied once, by the driver, around `execute`: a runtime (or
 * a job queue behind it) must not retry a failed attempt itself, or attempts would be doubled.
 */

/** One attempt of one step, as JSON: everything a worker needs to run it. */
export interface StepTask {
  /** The run's id. */
  readonly runId: string;
  /** The workflow owning the step: its name, or inside an App the member's name in the App. */
  readonly workflow: string;
  /** The step's name within that workflow (unqualified inside an App). */
  readonly step: string;
  /** `ctx.stepRunId`: the same for every attempt and across resumes; an idempotency key. */
  readonly stepRunId: string;
  /** `ctx.attempt`, from 1. */
  readonly attempt: number;
  /** The event the step handles, as `ev.toJSON()` gives it. */
  readonly event: EventJSON;
  /** The step's `ctx.store` keys and values when the attempt was handed out (a member's own keys in an App). */
  readonly state?: Readonly<Record<string, unknown>>;
}

/** Something a step did through its Context that the run applies, in order. */
export type StepWrite =
  /** `ctx.sendEvent(event, { step })`. */
  | { readonly kind: "send"; readonly event: EventJSON; readonly step?: string }
  /** `ctx.writeEventToStream(event)`. */
  | { readonly kind: "stream"; readonly event: EventJSON; readonly asks?: true }
  /** `ctx.store.set(key, value)`; `key` as the step wrote it (an App member's namespace is added by the run). */
  | { readonly kind: "store"; readonly key: string; readonly value: unknown };

/** What one attempt came to: the events the step returned, or the error it threw; and its writes not yet applied. */
export type StepOutcome =
  | { readonly ok: true; readonly emitted: readonly EventJSON[]; readonly writes: readonly StepWrite[] }
  | { readonly ok: false; readonly error: ErrorJSON; readonly writes: readonly StepWrite[] };

/** A read that needs the run's memory, asked of the coordinator. */
export type StepRequest =
  /** `ctx.store.get(key)` (unqualified key, as the step wrote it). */
  | { readonly kind: "store.get"; readonly key: string }
  /** `ctx.collectEvents(event, types)`: `types` are event type names. */
  | { readonly kind: "collect"; readonly event: EventJSON; readonly types: readonly string[] }
  /** `ctx.waitForEvent(type, { timeout, waiterEvent, requirements })`; `asks`: the waiterEvent is an InputRequiredEvent. */
  | { readonly kind: "wait"; readonly type: string; readonly timeout: number | null; readonly waiterEvent?: EventJSON; readonly asks?: true; readonly requirements?: Readonly<Record<string, unknown>> }
  /** `ctx.call(request, reply, { timeout })`. */
  | { readonly kind: "call"; readonly request: EventJSON; readonly reply: string; readonly timeout: number | null }
  /** `ctx.runWorkflow(name, input)`: a workflow added with `addWorkflows` under `workflow`, or with that workflow name. */
  | { readonly kind: "runWorkflow"; readonly workflow: string; readonly input?: Readonly<Record<string, unknown>> };

/** The coordinator's answer to a {@link StepRequest}; a failed request rejects (or throws) with a `WorkflowError`. */
export type StepReply =
  | { readonly kind: "store.get"; readonly found: boolean; readonly value?: unknown }
  | { readonly kind: "collect"; readonly events: readonly EventJSON[] | null }
  /** The event that ended a wait, or a call's reply. */
  | { readonly kind: "event"; readonly event: EventJSON }
  /** A child workflow's result. */
  | { readonly kind: "result"; readonly result: unknown };

/** What the run offers one attempt running elsewhere. Implemented by the run's driver. */
export interface StepScope {
  /** Aborts when the run ends or the attempt passes its step timeout (`reason` says which): stop the work. */
  readonly signal: AbortSignal;
  /** Apply `writes` now, in order, before a request that must see them. Throws a `WorkflowError` on a bad write. */
  apply(writes: readonly StepWrite[]): void;
  /** Answer a read. Synchronous when the run can answer at once (`store.get`, `collect`), else a promise. */
  request(req: StepRequest): StepReply | Promise<StepReply>;
}

/**
 * Where steps execute, when not in the run's own process: a worker pool, a job queue.
 * The run's driver calls `execute` once per attempt and applies the outcome; it never knows
 * where the step ran.
 * @example
 * const loopback: Runtime = { execute: (task, scope) => executeTask(myWorkflow, task, scope) };
 * new MyWorkflow({ runtime: loopback });
 */
export interface Runtime {
  /** Run one attempt of `task.step` on `task.event`; resolve with what it came to (never reject for a step's own error). */
  execute(task: StepTask, scope: StepScope): StepOutcome | Promise<StepOutcome>;
}
