import { WorkflowRuntimeError } from "./errors.js";
import { isEvent, type Event, type EventClass } from "./events.js";
import type { StateStore } from "./state.js";

/** Per-run state shared by the steps of one run: JSON values, journaled when the run has a store. */
export interface RunState {
  /** The value under `key`, or `fallback` (undefined when none is given) if it was never set. */
  get<T = unknown>(key: string): T | undefined;
  get<T>(key: string, fallback: T): T;
  /** Set `key` to a JSON value. */
  set(key: string, value: unknown): void;
  has(key: string): boolean;
}

/** Options of {@link Context.waitForEvent}. */
export interface WaitOptions<E> {
  /** Only an event for which this returns true ends the wait. */
  filter?: (ev: E) => boolean;
  /**
   * Only an event whose fields have these values (compared as JSON) ends the wait, as in
   * LlamaIndex's `requirements`. Unlike a filter, waits by requirements are indexed, so many
   * parallel waits for different values (one per id) cost each event the same as one wait, and a
   * step on a runtime's worker can use them.
   */
  requirements?: { readonly [K in keyof E]?: E[K] };
  /** Seconds to wait before failing with `WorkflowTimeoutError` (default: no limit but the run's). */
  timeout?: number | null;
  /** Written to the stream once the wait is registered, e.g. an `InputRequiredEvent` asking a person. */
  waiterEvent?: Event;
}

type Instances<T extends readonly EventClass[]> = { -readonly [K in keyof T]: InstanceType<T[K]> };

/** Anything with `run(input)` returning a promise: a workflow or an App. */
interface RunnableLike {
  run(input?: never): PromiseLike<unknown>;
}
type ResultOf<W> = W extends { run(input?: never): PromiseLike<infer R> } ? R : unknown;
type InputOf<W> = W extends { run(input?: infer I): unknown } ? Exclude<I, Event | undefined> : never;

const VIEWS = new WeakMap<RunState, Map<string, RunState>>();

/** A view of `state` whose keys live under `member`. */
function namespaced(state: RunState, member: string): RunState {
  let views = VIEWS.get(state);
  if (!views) VIEWS.set(state, (views = new Map<string, RunState>()));
  let view = views.get(member);
  if (!view) {
    const k = (key: string) => `${member}/${key}`;
    view = {
      get: (key: string, fallback?: unknown) => (state.has(k(key)) ? state.get(k(key)) : fallback),
      set: (key: string, value: unknown) => state.set(k(key), value),
      has: (key: string) => state.has(k(key)),
    };
    views.set(member, view);
  }
  return view;
}

/** Which invocation made a `ctx.sendEvent` (or `ctx.runWorkflow`), and the how-manieth of its sends (child runs) it was, from 0. */
export interface SendOrigin {
  readonly stepRunId: string;
  readonly attempt: number;
  readonly n: number;
}

/** Which attempt wrote an event to the stream, and the how-manieth of its writes it was, from 0. */
export interface StreamWriter {
  readonly stepRunId: string;
  readonly attempt: number;
  readonly n: number;
}

/**
 * Who writes to the stream: a step's {@link Context} (its attempt; the write's index comes
 * separately, so a write builds its {@link StreamWriter} only when a journal, a parent run or a
 * resumed attempt needs it), or a finished StreamWriter.
 */
export type StreamWriterSource = Pick<StreamWriter, "stepRunId" | "attempt">;

/** The {@link StreamWriter} of a write by `by`, the `n`-th of its attempt (no `n`: `by` is one already). */
export function writerOf(by: StreamWriterSource | undefined, n: number | undefined): StreamWriter | undefined {
  if (by === undefined || n === undefined) return by as StreamWriter | undefined;
  return { stepRunId: by.stepRunId, attempt: by.attempt, n };
}

/** The attempt a wait, call or child run belongs to (its {@link Context}), as its {@link StepPort} knows it. */
export interface AttemptRef {
  readonly attempt: number;
}

/** The step a {@link Context} belongs to, as its {@link StepPort} knows it. */
export interface StepRef {
  readonly def: { readonly name: string };
  /** The App member owning the step, whose `ctx.store` keys it namespaces. */
  readonly member: string | undefined;
}

/**
 * What a Context needs from the run it belongs to: a port implemented by the run's driver
 * (for a step in the run's own process) and by `executeTask` (for a step a runtime runs
 * elsewhere). Each method is handed the step it is called for.
 * @internal
 */
export interface StepPort {
  readonly id: string;
  readonly workflowName: string;
  /** Aborts when the run ends. */
  readonly signal: AbortSignal;
  /** The run's `ctx.store`, before any App member's namespace. */
  readonly state: RunState;
  /** The typed `ctx.store` of a workflow with a `state` schema (12.11); undefined without one. */
  readonly stateStore?: StateStore<object> | undefined;
  /** Throws when `ev` is not an event the step's `emits` lists. */
  checkEmit(step: StepRef, ev: unknown, how: "returned" | "sent"): asserts ev is Event;
  /**
   * `ctx.sendEvent`, already checked; `input` is the event the step is handling, `sender` the
   * invocation sending it and the index of this send among that attempt's sends (a step run
   * again after a crash does not send again what its earlier run's journal already holds).
   */
  send(ev: Event, from: StepRef, step: string | undefined, input?: Event, sender?: SendOrigin): void;
  collect(step: StepRef, ev: Event, types: readonly EventClass[]): Event[] | null;
  /** `by` and `n`: see {@link StreamWriterSource}. */
  toStream(ev: Event, by?: StreamWriterSource, n?: number): void;
  /** `writer`: where the wait's `waiterEvent`, if any, is written from. */
  /** `attempt`: the Context of the attempt waiting, whose end drops the wait if it is still pending. */
  wait(step: StepRef, type: EventClass, options: WaitOptions<Event>, signal: AbortSignal, stepRunId: string, writer: StreamWriter | undefined, attempt: AttemptRef): Promise<Event>;
  /** `ctx.runWorkflow`; `origin`: the invocation and the how-manieth child run of its attempt this is; `attempt`: its Context, whose failure cancels the child. */
  runChild(step: StepRef, target: unknown, input: unknown, signal: AbortSignal, origin: SendOrigin, attempt: AttemptRef): Promise<unknown>;
  /** `attempt`: the Context of the attempt calling, whose end drops the call if it is still pending. */
  call(step: StepRef, request: Event, reply: EventClass, timeout: number | null, signal: AbortSignal, attempt: AttemptRef): Promise<Event>;
}

/** `ctx.store`'s type: {@link RunState} without a state schema, the typed {@link StateStore} with one. */
export type StoreOf<S> = string extends keyof S ? RunState : S extends object ? StateStore<S> : RunState;

let markEnded: (ctx: Context) => void;

/**
 * @internal the attempt `ctx` belongs to has ended (returned, failed or timed out): from now
 * on its `waitForEvent`, `call` and `runWorkflow` are refused (`ATTEMPT_ENDED`), since nothing
 * would drop or cancel what they began.
 */
export function endAttempt(ctx: Context): void {
  markEnded(ctx);
}

/**
 * What a step gets as its second argument: the run it belongs to and the ways to act on it.
 * One Context per step attempt. `S`: the workflow's state type, when it has a `state` schema.
 *
 * What an attempt begins lasts no longer than the attempt: when it ends (returns, throws or
 * times out), a `waitForEvent` or `call` it left pending is dropped (it takes no later event,
 * and its promise rejects with `WAIT_DROPPED` or `CALL_DROPPED`, marked handled so that a
 * promise never awaited raises no unhandled rejection); when it fails, the child runs it started
 * with `runWorkflow` and that still run are cancelled, as the run's own end cancels them. A
 * `waitForEvent`, `call` or `runWorkflow` begun after its attempt ended (from a timer the step
 * left behind) is refused with `ATTEMPT_ENDED`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Context<S extends object = Record<string, any>> {
  readonly #run: StepPort;
  readonly #slot: StepRef;
  readonly #event: Event;
  readonly #no: number;
  readonly #attempt: { readonly signal: AbortSignal } | undefined;
  #sends = 0;
  #writes = 0;
  #children = 0;
  #ended = false;
  /** The retry attempt of this invocation, from 1. */
  readonly attempt: number;

  static {
    markEnded = (ctx) => {
      ctx.#ended = true;
    };
  }

  /**
   * @internal created by the run's driver or by `executeTask`; `source.signal` is the attempt's
   * own signal (read only when the step reads `ctx.signal`), or the run's when there is none.
   */
  constructor(run: StepPort, slot: StepRef, event: Event, attempt: number, no: number, source: { readonly signal: AbortSignal } | undefined) {
    this.#run = run;
    this.#slot = slot;
    this.#event = event;
    this.attempt = attempt;
    this.#no = no;
    this.#attempt = source;
  }

  /** The run's id. */
  get runId(): string {
    return this.#run.id;
  }

  /** The step's name. */
  get stepName(): string {
    return this.#slot.def.name;
  }

  /** Stable across attempts and resumes: use it as an idempotency key for side effects. */
  get stepRunId(): string {
    return (this.#stepRunId ??= `${this.#run.id}:${this.#slot.def.name}:${this.#no}`);
  }
  #stepRunId: string | undefined;

  /** Fires when the run times out, is cancelled, fails or finishes, or this attempt passes its step timeout. */
  get signal(): AbortSignal {
    return this.#attempt !== undefined ? this.#attempt.signal : this.#run.signal;
  }

  /**
   * Per-run state (`get`, `set`). In an App, each member has its own keys. With a `state`
   * schema on the workflow: typed, by dotted path, with `getState`, `setState` and `edit`.
   */
  get store(): StoreOf<S> {
    const member = this.#slot.member;
    if (member === undefined) return (this.#run.stateStore ?? this.#run.state) as StoreOf<S>;
    return namespaced(this.#run.state, member) as StoreOf<S>;
  }

  /**
   * Put an event on the run's queue. With `step`, only that step receives it.
   * The event's class must be listed in this step's `emits`.
   */
  sendEvent(ev: Event, options: { step?: string } = {}): void {
    this.#run.checkEmit(this.#slot, ev, "sent");
    this.#run.send(ev, this.#slot, options.step, this.#event, { stepRunId: this.stepRunId, attempt: this.attempt, n: this.#sends++ });
  }

  /**
   * Buffer `ev` until one event of each listed class has arrived; then return them in the
   * listed order (and clear them from the buffer). Returns `null` until then.
   */
  collectEvents<const T extends readonly EventClass[]>(ev: Event, types: T): Instances<T> | null {
    return this.#run.collect(this.#slot, ev, types) as Instances<T> | null;
  }

  /** Hand an event to whoever reads `handler.streamEvents()`. */
  writeEventToStream(ev: Event): void {
    if (!isEvent(ev)) throw new WorkflowRuntimeError(`Step "${this.#slot.def.name}" wrote ${String(ev)} to the stream; only events can be streamed.`, "NOT_AN_EVENT", { runId: this.#run.id, step: this.#slot.def.name, workflow: this.#run.workflowName });
    this.#run.toStream(ev, this, this.#writes++);
  }

  /** The next stream write of this attempt: a re-run after a crash skips the writes the journal holds. */
  #writer(): StreamWriter {
    return { stepRunId: this.stepRunId, attempt: this.attempt, n: this.#writes++ };
  }

  /**
   * Pause this step until an event of `type` (passing `filter`) arrives, from another step
   * or from outside through `handler.sendEvent`.
   */
  waitForEvent<T extends EventClass>(type: T, options: WaitOptions<InstanceType<T>> = {}): Promise<InstanceType<T>> {
    if (this.#ended) return this.#afterEnd("ctx.waitForEvent");
    return this.#run.wait(this.#slot, type, options as unknown as WaitOptions<Event>, this.signal, this.stepRunId, options.waiterEvent === undefined ? undefined : this.#writer(), this) as Promise<InstanceType<T>>;
  }

  /** What this attempt begins after it ended: refused (see the class's comment). */
  #afterEnd(what: string): Promise<never> {
    const step = this.#slot.def.name;
    return Promise.reject(
      new WorkflowRuntimeError(`Step "${step}" called ${what} after its attempt ${this.attempt} had ended; nothing would answer or end it. Await it inside the step.`, "ATTEMPT_ENDED", { workflow: this.#run.workflowName, runId: this.#run.id, step, attempt: this.attempt }),
    );
  }

  /**
   * Run another workflow as a child of this run and return its result. `target` is a workflow
   * instance, or a class: then the instance added with `addWorkflows` for that class is used,
   * or a new one is made. The parent's cancel, timeout and failure reach the child; the child's
   * streamed events reach the parent's stream (see `streamOrigin`).
   */
  runWorkflow<W extends RunnableLike>(target: W | (abstract new (...args: never[]) => W), input?: InputOf<W> | Event): Promise<ResultOf<W>> {
    if (this.#ended) return this.#afterEnd("ctx.runWorkflow");
    return this.#run.runChild(this.#slot, target, input, this.signal, { stepRunId: this.stepRunId, attempt: this.attempt, n: this.#children++ }, this) as Promise<ResultOf<W>>;
  }

  /**
   * Send `request` to whichever step accepts it (in this workflow or any App member) and
   * resolve with the `replyType` event that step's invocation emits for it.
   * List the request in this step's `emits` and the reply in its `waitsFor`.
   */
  call<R extends EventClass>(request: Event, replyType: R, options: { timeout?: number | null } = {}): Promise<InstanceType<R>> {
    if (this.#ended) return this.#afterEnd("ctx.call");
    return this.#run.call(this.#slot, request, replyType, options.timeout ?? null, this.signal, this) as Promise<InstanceType<R>>;
  }

  toString(): string {
    return `Context(${this.#run.workflowName} run ${this.#run.id}, step ${this.#slot.def.name}, attempt ${this.attempt})`;
  }
}
