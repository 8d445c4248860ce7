import type { Clock } from "../clock.js";
import { Context, endAttempt, writerOf, type AttemptRef, type RunState, type SendOrigin, type StepPort, type StreamWriter, type StreamWriterSource, type WaitOptions } from "../context.js";
import {
  RunFinishedError,
  WorkflowCancelledError,
  WorkflowError,
  WorkflowRuntimeError,
  WorkflowTimeoutError,
} from "../errors.js";
import { eventTypeName, InputRequiredEvent, isEvent, StepFailedEvent, stopResult, type Event, type EventClass, type EventJSON } from "../events.js";
import { watchesSteps, type InspectionEvent, type Inspector, type RunStatus } from "../inspect.js";
import { writeKey, type Restored } from "../machine/restored.js";
import { isA, type Plan } from "../plan.js";
import { CollectBuffer, collectKey, collectKeyParts, collectListText } from "../machine/collect.js";
import { stepNamed } from "../machine/routing.js";
import { NONE, RunMachine, type RunEffects, type StepSlot } from "../machine/run-machine.js";
import { requirementsOf, type PendingWait } from "../machine/waits.js";
import type { Runtime, StepTask } from "../runtime.js";
import type { JournalRecord } from "../store.js";
import { contextScope } from "./scope.js";
import { errorFromJSON, reviveEvent } from "../records.js";
import { checkEmits, describeValue, retries, retryDelay, type StepDefinition } from "../step.js";
import { WorkflowHandler, type RunControl } from "../handler.js";
import { EventStream } from "../stream.js";
import { getTracer, type RunTrace } from "../trace.js";
import { randomId } from "../ids.js";
import { Deadline, DeadlineList } from "./deadlines.js";
import { stateStore, type StateSchema, type StateStore } from "../state.js";
import { resolveResources, type Resource } from "../resource.js";

/** Per run, per step: the machine's count of invocations and backlog, and what executing them needs. */
export interface Slot extends StepSlot {
  /** The workflow the step belongs to (its `this`); an App member's own instance. */
  readonly instance: object;
  /** The App member owning the step, whose `ctx.store` keys it namespaces. */
  readonly member: string | undefined;
  /** Classes already checked against `emits`. */
  readonly allowed: Set<unknown>;
  /** The class checked last (a step mostly emits one class): no lookup for it. */
  lastAllowed: unknown;
  /** The deadlines of this step's attempts in flight, when it has a step `timeout`; made on first use. */
  deadlines: DeadlineList | undefined;
  /** The step has no `retry` and no `resources`: in a plain run its attempts take the lean path. */
  readonly lean: boolean;
}

/**
 * What one attempt left open, by its Context: made by the attempt's first wait, call or child
 * run, forgotten when it ends. Its pending waits and calls are dropped when it ends; its child
 * runs still running are cancelled when it fails.
 */
interface Open {
  /** Each pending wait or call of the attempt: drops it (out of the run, its promise rejected). */
  readonly drops: Set<(failed: boolean) => void>;
  /** Its child runs, when it started any. */
  children: AttemptChildren | undefined;
}

/** The signal an attempt's child runs start on, and how many of them still run. */
interface AttemptChildren {
  /** Aborted when the run ends, the attempt passes its step timeout, or the attempt fails. */
  readonly controller: AbortController;
  /** Takes the controller off what aborts it (once the attempt ended and no child runs). */
  readonly unlink: () => void;
  live: number;
  ended: boolean;
}

interface Waiter extends PendingWait {
  resolve: (ev: Event) => void;
  reject: (err: unknown) => void;
  slot: Slot;
}

/**
 * What the run writes to its journal: a port declared here, implemented by the durable
 * journal (`durable/journal.ts`), so the driver never imports durability.
 */
export interface RunJournal {
  record(r: JournalRecord): void;
  /** The sequence number of `ev`, journaling it first if it is new (`sender`: a `ctx.sendEvent`'s origin). */
  event(ev: Event, from: string | undefined, to?: string, sender?: SendOrigin): number;
  stepStarted(stepRunId: string, step: string, ev: Event, attempt: number): void;
  /** Journals a completion; returns the commit to await before emitting, when completions are synchronous. */
  stepFinished(stepRunId: string, step: string, emitted: readonly Event[]): Promise<void> | undefined;
  stepFailed(stepRunId: string, step: string, attempt: number, error: unknown, willRetry: boolean): void;
  /** A collectEvents buffer changed: `added` joined it; a completed set `taken` by a call with `by`. */
  collect(key: string, added: Event | undefined, by?: Event, taken?: readonly Event[]): void;
  waiting(stepRunId: string, type: string): void;
  /** `ev` went to the run's stream at position `pos`. */
  streamed(ev: Event, pos: number, origin?: StreamOrigin, writer?: StreamWriter): void;
  received(stepRunId: string, ev: Event): void;
  status(status: RunStatus): void;
  finished(status: RunStatus, result: unknown, error: unknown): void;
  /** Resolves when everything recorded so far is in the store. */
  flushed(): Promise<void>;
  /** Inbox event `inboxId` is journaled by what is recorded next: it leaves the inbox in that commit. */
  claim(inboxId: number): void;
}

/** What a run needs from the workflow that starts it. */
export interface RunSetup {
  id: string;
  workflowName: string;
  instance: object;
  plan: Plan;
  clock: Clock;
  /** Where steps execute; undefined: called directly in this process. */
  runtime: Runtime | undefined;
  /** Seconds, or null for no limit. */
  timeout: number | null;
  inspectors: Inspector[] | null;
  journal: RunJournal | null;
  parentRunId?: string | undefined;
  parentSignal?: AbortSignal | undefined;
  /** The parent run of a child run: when `parentSignal` is its own, it ends the child itself (no listener per child). */
  parent?: Run | undefined;
  /** The inspectors added to the parent run with `handler.inspect`: this child reports to them and hands them on to its own children. */
  runInspectors?: readonly Inspector[] | undefined;
  /** A child run hands its streamed events up to its parent through this. */
  forward?: ((ev: Event, origin: StreamOrigin, writer: StreamWriter | undefined) => void) | undefined;
  /** Starts a child run for `ctx.runWorkflow` (provided by the workflow module). */
  runChild?: ChildStarter | undefined;
  /** The workflow's `state` schema (12.11): `ctx.store` is then typed and checked. */
  stateSchema?: StateSchema | undefined;
  /** Told once when the run ends, however it ends (frees its `numConcurrentRuns` place). */
  onEnd?: (() => void) | undefined;
}

/**
 * Starts `target` as a child of `parent`; resolves to its result. `child.runId`: the id to give
 * it (journaled by the parent); with `child.attach`, a re-run re-attaches to that stored run.
 */
export type ChildStarter = (owner: object, target: unknown, input: unknown, parent: Run, signal: AbortSignal, child?: ChildRef) => Promise<unknown>;

/** The child run a durable parent's `ctx.runWorkflow` starts or, after a crash, re-attaches to. */
export interface ChildRef {
  readonly runId: string;
  /** The parent's journal names this child already: continue it (or take its end) if it is stored. */
  readonly attach: boolean;
}

/** Where a streamed event came from, when a child run wrote it. */
export interface StreamOrigin {
  /** The child run that wrote it. */
  readonly runId: string;
  readonly workflow: string;
  /**
   * The run ids from the top run (whose handler streams it) down to the writer, both included:
   * `[top, child, grandchild]`. Filled in as the event goes up from run to parent. An event
   * restored from a journal written before paths were journaled has `[top, writer]`.
   */
  readonly path: readonly string[];
}

const ORIGINS = new WeakMap<object, StreamOrigin>();

/**
 * For an event read from `handler.streamEvents()`: the child run (nested with `ctx.runWorkflow`)
 * that wrote it, or `undefined` when the run itself did.
 */
export function streamOrigin(ev: Event): StreamOrigin | undefined {
  return ORIGINS.get(ev);
}

/** The origin of a run's own streamed event as it goes up to its parent: the run alone on its path. */
export function ownOrigin(runId: string, workflow: string): StreamOrigin {
  return { runId, workflow, path: [runId] };
}

/**
 * A journaled origin as a fresh one to hand up or keep: its path copied (parents put their ids in
 * front as it goes up); a journal written before paths were gives `[top, writer]`.
 */
export function journaledOrigin(origin: { readonly runId: string; readonly workflow: string; readonly path?: readonly string[] }, top: string): StreamOrigin {
  return { runId: origin.runId, workflow: origin.workflow, path: [...(origin.path ?? [top, origin.runId])] };
}

interface PendingCall {
  readonly reply: EventClass;
  readonly resolve: (ev: Event) => void;
  readonly reject: (err: unknown) => void;
  /** A later call with the same request event: the next invocation handling it answers that one. */
  next: PendingCall | undefined;
}

const CONTRACT_CODES = new Set(["UNDECLARED_EVENT", "NOT_AN_EVENT", "UNKNOWN_STEP", "RESOURCES_ON_RUNTIME"]);

/**
 * One run of a workflow: a state machine driven by events. Each event is routed to the
 * steps that accept it; each step's invocations are capped by its `numWorkers`; the first
 * StopEvent settles the run. Nothing is retained per event unless a journal asks for it.
 */
export class Run extends Deadline implements StepPort, RunControl, RunEffects<Slot, Waiter> {
  readonly id: string;
  readonly workflowName: string;
  #stream: EventStream<Event> | undefined;
  #stop: Event | undefined;
  readonly startedAt: number;

  readonly #setup: RunSetup;
  /** The run as data: routing, workers and backlogs, waits, unclaimed events, buffers, status. */
  readonly #m: RunMachine<Slot, Waiter>;

  get status(): RunStatus {
    return this.#m.status;
  }

  /** @internal the run's machine (tests compare it with a replay of the journal) */
  get machine(): RunMachine<Slot, Waiter> {
    return this.#m;
  }
  // Created on first use, as are `state` and its closures: most runs never touch them.
  #stateMap: Map<string, unknown> | undefined;
  get #stateData(): Map<string, unknown> {
    return (this.#stateMap ??= new Map());
  }
  #state: RunState | undefined;
  #invocations = 0;
  #controller: AbortController | undefined;
  #inspectors: Inspector[] | null;
  #resolve!: (v: unknown) => void;
  #reject!: (e: unknown) => void;
  readonly promise: Promise<unknown>;

  constructor(setup: RunSetup) {
    super();
    this.#setup = setup;
    this.id = setup.id;
    this.workflowName = setup.workflowName;
    this.#inspectors = setup.inspectors && setup.inspectors.length > 0 ? setup.inspectors : null;
    // Shared, not copied: addInspector makes a new array.
    if (setup.runInspectors !== undefined && setup.runInspectors.length > 0) this.#runInspectors = setup.runInspectors as Inspector[];
    this.#replan();
    const owners = setup.plan.owners;
    const slots = setup.plan.steps.map((def): Slot => {
      const owner = owners?.get(def);
      return { def, instance: owner?.instance ?? setup.instance, member: owner?.member, inFlight: 0, backlog: NONE as Event[], head: 0, allowed: allowedFor(def), lastAllowed: undefined, deadlines: undefined, lean: def.retry === undefined && def.resources === undefined };
    });
    this.#m = new RunMachine<Slot, Waiter>(setup.plan, slots, this);
    this.startedAt = setup.clock.now();
    // The run's promise is its handler itself: one promise per run, not a handler chained to a second.
    this.promise = new WorkflowHandler((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The run's event stream, made when first written or read: most runs are never streamed. */
  get stream(): EventStream<Event> {
    if (this.#stream === undefined) {
      const s = (this.#stream = new EventStream<Event>(() => `run "${this.id}" of workflow "${this.workflowName}"`));
      if (this.status === "completed") {
        if (this.#stop !== undefined) s.push(this.#stop);
        s.end();
      } else if (!this.#running()) s.fail(this.#error);
    }
    return this.#stream;
  }

  /*
   * Run timeouts. Runs with the same clock and timeout reach their deadlines in the order they
   * started: they wait in one shared list per clock and timeout, with one clock timer, instead of
   * a timer object and closure per run (~220 bytes each, for 10,000 runs in flight).
   */
  static #lists = new WeakMap<Clock, Map<number, DeadlineList>>();

  static #listFor(clock: Clock, ms: number): DeadlineList {
    let byMs = Run.#lists.get(clock);
    if (byMs === undefined) Run.#lists.set(clock, (byMs = new Map<number, DeadlineList>()));
    let list = byMs.get(ms);
    if (list === undefined) byMs.set(ms, (list = new DeadlineList(clock, ms)));
    return list;
  }

  /** @internal the run's timeout passed */
  expire(): void {
    this.#timedOut();
  }

  /** " Still active: approve (waiting for HumanResponseEvent); slow ×2." — what a timeout cut short. */
  #stillActive(): string {
    const parts: string[] = [];
    for (const slot of this.#m.slots) {
      if (slot.inFlight === 0) continue;
      const waits = new Set<string>();
      for (const w of this.#m.waits.all) if (w.slot === slot) waits.add(eventTypeName(w.type));
      parts.push(`${slot.def.name}${slot.inFlight > 1 ? ` ×${slot.inFlight}` : ""}${waits.size > 0 ? ` (waiting for ${[...waits].join(", ")})` : ""}`);
    }
    return parts.length > 0 ? ` Still active: ${parts.join("; ")}.` : "";
  }

  #timedOut(): void {
    const timeout = this.#setup.timeout;
    this.#fail(
      new WorkflowTimeoutError(
        `Workflow "${this.workflowName}" timed out after ${timeout}s (run "${this.id}").${this.#stillActive()} Raise the timeout option or pass timeout: null.`,
        timeout ?? 0,
        { workflow: this.workflowName, runId: this.id },
      ),
      "timed_out",
    );
  }

  /** Per-run state (`ctx.store`). */
  get state(): RunState {
    if (this.#state !== undefined) return this.#state;
    const data = this.#stateData;
    return (this.#state = {
      get: (key: string, fallback?: unknown) => (data.has(key) ? data.get(key) : fallback),
      set: (key: string, value: unknown) => {
        assertJson(value, key, this);
        data.set(key, value);
        this.#setup.journal?.record({ kind: "state", key, value });
      },
      has: (key: string) => data.has(key),
    });
  }

  #stateStore: StateStore<object> | undefined;
  /** Set by `startRun` before `start`: resource values given for this run (`provide`). */
  provided: ReadonlyMap<Resource, unknown> | undefined;
  /** Values of `"run"`-scoped resources, made on first use. */
  #resources: Map<Resource, unknown> | undefined;

  /** Set by `startRun` before `start`: the state a new run begins with. */
  initialState: Record<string, unknown> | undefined;

  /** The typed `ctx.store` when the workflow has a `state` schema (12.11). */
  get stateStore(): StateStore<object> | undefined {
    const schema = this.#setup.stateSchema;
    if (schema === undefined) return undefined;
    if (this.#stateStore === undefined) {
      const state = this.state;
      const data = this.#stateData;
      this.#stateStore = stateStore(
        { get: (k) => state.get(k), set: (k, v) => state.set(k, v), has: (k) => state.has(k), entries: () => data.entries() },
        schema,
        { workflow: this.workflowName, runId: this.id },
      );
    }
    return this.#stateStore;
  }

  /** A copy of the run's state: `handler.state`. */
  stateNow(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.#stateMap !== undefined) for (const [k, v] of this.#stateMap) out[k] = v === null || typeof v !== "object" ? v : (JSON.parse(JSON.stringify(v)) as unknown);
    return out;
  }

  /** Aborts when the run ends for any reason. Created on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.status !== "running" && this.status !== "waiting") this.#controller.abort(this.#endReason());
    }
    return this.#controller.signal;
  }

  #endReason(): unknown {
    return this.#error ?? new WorkflowCancelledError(`Run "${this.id}" of workflow "${this.workflowName}" has finished; this work is no longer needed.`, { workflow: this.workflowName, runId: this.id });
  }
  #error: unknown;
  /** This run's trace, when a tracer is set. */
  #trace: RunTrace | undefined;
  #unlinkParent: (() => void) | undefined;

  /** Begin: arm the timeout and deliver the StartEvent on the next microtask; or, given `restore`, continue a stored run. */
  start(input: Event, restore?: Restored): void {
    const { timeout, clock, parentSignal } = this.#setup;
    if (timeout !== null) Run.#listFor(clock, timeout * 1000).add(this);
    if (parentSignal) {
      if (parentSignal.aborted) return this.cancel(parentSignal.reason);
      // On the parent run's own signal (a step without a step timeout), the parent's end cancels its
      // children itself: many children at once put no listener each on it (Node warns past 10).
      const adopted = this.#setup.parent?.adopt(parentSignal, this);
      if (adopted !== undefined) this.#unlinkParent = adopted;
      else {
        // Taken off when the child ends: a parent step running many children keeps nothing per child (11.16).
        this.#unlinkParent = whenAborted(parentSignal, () => this.cancel(parentSignal.reason));
      }
    }
    const tracer = getTracer();
    if (tracer) this.#trace = tracer.startRun({ runId: this.id, workflow: this.workflowName, parentRunId: this.#setup.parentRunId, resumed: restore !== undefined, carrier: restore?.trace });
    this.#replan();
    if (restore) return this.#restore(input, restore);
    const carrier = this.#trace?.carrier;
    this.#setup.journal?.record({ kind: "run_started", workflow: this.workflowName, input: input.toJSON(), ...(this.#setup.parentRunId ? { parentRunId: this.#setup.parentRunId } : {}), ...(carrier ? { trace: { ...carrier } } : {}) });
    this.#setup.journal?.event(input, undefined);
    const initial = this.initialState;
    this.initialState = undefined;
    if (initial !== undefined) {
      try {
        for (const [k, v] of Object.entries(initial)) this.state.set(k, v);
      } catch (err) {
        return this.#fail(err, "failed");
      }
    }
    // A microtask later, so the caller can attach stream readers and inspectors first. A
    // resolved promise's reaction, not `queueMicrotask`: Node wraps each of those in an
    // AsyncResource and a bound function (~600 instructions a run; BENCHMARKS.md).
    void RESOLVED.then(() => {
      this.#inspect({ kind: "run_started", runId: this.id, workflow: this.workflowName, time: this.startedAt, input, parentRunId: this.#setup.parentRunId });
      this.#m.begun = true;
      this.#m.emit(input, undefined, undefined);
      this.#sendEarly();
    });
  }

  /** Child runs whose parent signal is this run's own: cancelled by this run's end. */
  #children: Set<Run> | undefined;

  /**
   * @internal `child` starts on `signal`: when it is this run's own, this run's end cancels the
   * child; returns what takes it off (called when the child ends). Undefined for another signal.
   */
  adopt(signal: AbortSignal, child: Run): (() => void) | undefined {
    if (this.#controller === undefined || signal !== this.#controller.signal) return undefined;
    const children = (this.#children ??= new Set<Run>());
    children.add(child);
    return () => children.delete(child);
  }

  /* ------------------------------------------------------------ events in */

  /** An event from outside the run (`handler.sendEvent`). */
  sendExternal(ev: Event, step?: string): void {
    if (!isEvent(ev)) {
      throw new WorkflowRuntimeError(`handler.sendEvent() takes an Event instance, got ${describeValue(ev)}.`, "NOT_AN_EVENT", { workflow: this.workflowName, runId: this.id });
    }
    if (!this.#running()) {
      throw new RunFinishedError(`Run "${this.id}" of workflow "${this.workflowName}" has already ended (${this.status}); the ${eventTypeName(ev.constructor as EventClass)} sent to it was not delivered.`, this.status, { workflow: this.workflowName, runId: this.id });
    }
    const target = step === undefined ? undefined : this.#target(step, ev, undefined);
    if (!this.#m.begun) {
      // Before the run has begun (a resume still restoring): queued, journaled and routed once it has.
      if (this.#early === NONE) this.#early = [];
      this.#early.push({ ev, step });
      return;
    }
    this.#inspect({ kind: "event_sent", runId: this.id, workflow: this.workflowName, time: this.#setup.clock.now(), step: undefined, event: ev, to: step });
    this.#setup.journal?.event(ev, undefined, step);
    this.#m.emit(ev, undefined, target);
  }

  #early: { ev: Event; step: string | undefined; inboxId?: number }[] = NONE as { ev: Event; step: string | undefined; inboxId?: number }[];

  /** Route the events sent before the run began. */
  #sendEarly(): void {
    if (this.#early === NONE) return;
    const early = this.#early;
    this.#early = NONE as { ev: Event; step: string | undefined; inboxId?: number }[];
    for (const { ev, step, inboxId } of early) {
      if (!this.#running()) return;
      if (inboxId !== undefined) this.#setup.journal?.claim(inboxId);
      this.sendExternal(ev, step);
    }
  }

  /** An event from the run's inbox in the store (`store.deliver`, from any process): claimed with its journal record. */
  deliverFromInbox(json: EventJSON, inboxId: number): void {
    const journal = this.#setup.journal;
    if (!this.#running() || journal === null) return;
    let ev: Event;
    try {
      ev = reviveEvent(this.#setup.plan, json, this.id);
    } catch (err) {
      // Not an event this workflow knows: taken out of the inbox, reported, not delivered.
      journal.claim(inboxId);
      console.error(`stepwise: run "${this.id}" dropped an event from its inbox:`, err);
      return;
    }
    if (!this.#m.begun) {
      if (this.#early === NONE) this.#early = [];
      this.#early.push({ ev, step: undefined, inboxId });
      return;
    }
    journal.claim(inboxId);
    try {
      this.sendExternal(ev);
    } catch (err) {
      console.error(`stepwise: run "${this.id}" could not take an event from its inbox:`, err);
    }
  }

  /**
   * This process delivered events to the run's inbox because another process runs it: the handler
   * settles as the run ends there (`outcome`). Nothing is journaled from here.
   */
  followRemote(outcome: Promise<unknown>): void {
    this.#setup.journal = null;
    this.#replan();
    outcome.then(
      (result) => {
        if (!this.#running()) return;
        this.#m.status = "completed";
        this.#stream?.end();
        this.#resolve(result);
      },
      (err: unknown) => this.#fail(err, "failed"),
    );
  }

  /** `ctx.sendEvent`: already checked against the sender's `emits`. `input` is the event the sender is handling. */
  send(ev: Event, from: Slot, step: string | undefined, input?: Event, sender?: SendOrigin): void {
    if (!this.#running()) return;
    if (this.#calls !== undefined && input !== undefined && step === undefined && this.#calls.has(input) && ev instanceof (this.#calls.get(input) as PendingCall).reply) {
      this.#answer(input, [ev], from.def.name);
      // Its invocation has answered: when it ends, it answers no other call made with that event.
      if (sender !== undefined) (this.#sentAnswer ??= new Set<string>()).add(sender.stepRunId);
      return;
    }
    // A step run again after a crash: its earlier run's sends are in the journal and were routed
    // on resume; the same sends again are not sent twice (issue 11.9).
    if (sender !== undefined && this.#resent !== undefined && this.#resent.has(writeKey(sender.stepRunId, sender.attempt, sender.n))) return;
    const target = step === undefined ? undefined : this.#target(step, ev, from);
    this.#inspect({ kind: "event_sent", runId: this.id, workflow: this.workflowName, time: this.#setup.clock.now(), step: from.def.name, event: ev, to: step });
    this.#setup.journal?.event(ev, from.def.name, step, sender);
    this.#m.emit(ev, from, target);
  }
  /** For invocations run again on resume: the sends the journal already holds ({@link Restored.sent}). */
  #resent: ReadonlySet<string> | undefined;
  /** Child writes the stream held when this run was restored ({@link Restored.childWrites}). */
  #childWrites: ReadonlySet<string> | undefined;

  #target(step: string, ev: Event, from: Slot | undefined): Slot {
    const def = stepNamed(this.#setup.plan, step, from?.def.name);
    const who = from ? `Step "${from.def.name}"` : "handler.sendEvent()";
    if (!def) {
      throw this.#contract(`${who} sent ${eventTypeName(ev.constructor as EventClass)} to step "${step}", which workflow "${this.workflowName}" does not have (steps: ${[...this.#setup.plan.byName.keys()].join(", ")}).`, "UNKNOWN_STEP", from);
    }
    if (!def.accepts.some((a) => ev instanceof a)) {
      throw this.#contract(`${who} sent ${eventTypeName(ev.constructor as EventClass)} to step "${step}", which does not accept it (accepts: ${def.accepts.map(eventTypeName).join(", ")}).`, "UNKNOWN_STEP", from);
    }
    return this.#m.slotOf(def);
  }

  #contract(message: string, code: string, from: Slot | undefined): WorkflowRuntimeError {
    return new WorkflowRuntimeError(message, code, { workflow: this.workflowName, runId: this.id, step: from?.def.name });
  }

  /** Throws when `ev` is not an event the step's `emits` lists. */
  checkEmit(slot: Slot, ev: unknown, how: "returned" | "sent"): asserts ev is Event {
    const cls = (ev as { constructor?: unknown } | null | undefined)?.constructor;
    if (cls === slot.lastAllowed && cls !== undefined) return;
    if (!slot.allowed.has(cls)) {
      checkEmits(slot.def, ev, how, this.workflowName, this.id);
      slot.allowed.add(cls);
    }
    slot.lastAllowed = cls;
  }

  /* ------------------------------------------------------------ the machine's effects */

  /** @internal effect: begin an invocation of `slot`'s step on `ev`. */
  startStep(slot: Slot, ev: Event): void {
    // A synchronous step, or one that sends events before its first await, starts the next step
    // inside its own call; past a depth, start it in a new microtask instead, so such chains
    // cannot overflow the stack.
    if (this.#depth >= MAX_DEPTH) {
      queueMicrotask(() => {
        if (this.#running()) this.#begin(slot, ev);
      });
      return;
    }
    this.#depth++;
    try {
      this.#begin(slot, ev);
    } finally {
      this.#depth--;
    }
  }

  /** @internal effect: a StopEvent was emitted. */
  completeRun(stop: Event): void {
    this.#complete(stop);
  }

  /** @internal effect: no step took `ev`. */
  keepUnclaimed(ev: Event): void {
    // LlamaIndex's two-step human in the loop: a question no step takes is for the caller (12.9).
    if (ev instanceof InputRequiredEvent) this.toStream(ev);
  }

  /** @internal effect: `ev` ends wait `w`. */
  answerWait(w: Waiter, ev: Event): void {
    w.resolve(ev);
  }

  /** @internal effect: the run is `"waiting"` (only waits in flight) or `"running"` again. */
  statusChanged(status: "running" | "waiting"): void {
    this.#setup.journal?.status(status);
  }

  #depth = 0;

  /** An attempt of a started invocation (the run is live: the machine started it just now, or the microtask checked). */
  #begin(slot: Slot, ev: Event): void {
    if (this.#plain && slot.lean) this.#invokeLean(slot, ev);
    else void this.#invoke(slot, ev);
  }

  /** No inspector of step attempts, no journal, runtime or tracer: attempts of lean steps take {@link #invokeLean}. */
  #plain = false;
  #replan(): void {
    this.#plain = !watchesSteps(this.#inspectors) && this.#setup.journal === null && this.#setup.runtime === undefined && this.#trace === undefined;
  }

  async #invoke(slot: Slot, ev: Event, resumed?: { no: number; attempt: number }): Promise<void> {
    const def = slot.def;
    const no = resumed?.no ?? ++this.#invocations;
    const clock = this.#setup.clock;
    const journal = this.#setup.journal;
    for (let attempt = resumed?.attempt ?? 1; ; attempt++) {
      const began = this.#inspectors || journal ? clock.now() : 0;
      const timed = def.timeout === null ? undefined : new TimedAttempt(this, def.name, def.timeout, attempt);
      const ctx = new Context(this, slot, ev, attempt, no, timed);
      if (this.#inspectors) this.#inspect({ kind: "step_started", runId: this.id, workflow: this.workflowName, time: began, step: def.name, stepRunId: ctx.stepRunId, attempt, event: ev });
      journal?.stepStarted(ctx.stepRunId, def.name, ev, attempt);
      try {
        const runtime = this.#setup.runtime;
        const trace = this.#trace;
        // The step's resources (12.15), made or taken from their scope's cache before the handler runs.
        let res: Record<string, unknown> | undefined;
        if (def.resources !== undefined) {
          if (runtime !== undefined) throw this.#contract(`Step "${def.name}" declares resources, which a runtime's worker cannot be handed; run it without a runtime, or make the value on the worker.`, "RESOURCES_ON_RUNTIME", slot);
          const made = resolveResources(def.resources, (this.#resources ??= new Map<Resource, unknown>()), slot.instance, this.provided);
          res = made instanceof Promise ? await made : made;
          if (!this.#running()) return;
        }
        let out: unknown =
          trace !== undefined
            ? trace.step({ runId: this.id, workflow: this.workflowName, step: def.name, kind: def.kind, stepRunId: ctx.stepRunId, attempt, event: ev }, () => (runtime === undefined ? def.handler.call(slot.instance, ev, ctx, res) : this.#execute(runtime, slot, ev, ctx)))
            : runtime === undefined
              ? def.handler.call(slot.instance, ev, ctx, res)
              : this.#execute(runtime, slot, ev, ctx);
        if (out !== null && typeof out === "object" && typeof (out as PromiseLike<unknown>).then === "function") {
          if (timed !== undefined) {
            out = await timed.race(out as PromiseLike<unknown>, this.#deadlinesOf(slot));
          } else {
            // eslint-disable-next-line @typescript-eslint/await-thenable -- checked thenable above
            out = await out;
          }
        }
        timed?.finish();
        endAttempt(ctx);
        if (this.#open !== undefined) this.#attemptEnded(ctx, false);
        if (!this.#running()) return;
        if (this.#answers !== undefined) this.#answersDone(ctx.stepRunId, false);
        let emitted = this.#collectOutput(slot, out);
        if (this.#calls !== undefined && !this.#answeredBySend(ctx) && this.#calls.has(ev)) emitted = this.#answer(ev, emitted, def.name);
        if (this.#inspectors) this.#inspect({ kind: "step_finished", runId: this.id, workflow: this.workflowName, time: clock.now(), step: def.name, stepRunId: ctx.stepRunId, attempt, emitted, durationMs: clock.now() - began });
        if (journal) {
          const commit = journal.stepFinished(ctx.stepRunId, def.name, emitted);
          if (commit) await commit;
          if (!this.#running()) return;
        }
        this.#m.finish(slot, emitted);
        return;
      } catch (error) {
        timed?.finish();
        endAttempt(ctx);
        if (this.#open !== undefined) this.#attemptEnded(ctx, true);
        if (!this.#running()) return;
        const retry = def.retry;
        const again = this.#attemptFailed(slot, ev, ctx, attempt, began, error);
        if (this.#answers !== undefined) this.#answersDone(ctx.stepRunId, again);
        if (!again || retry === undefined) return;
        const delay = retryDelay(retry, attempt);
        if (delay > 0) {
          await this.#pause(delay * 1000);
          if (!this.#running()) return;
        }
      }
    }
  }

  /** The deadline list of `slot`'s attempts (its step has a `timeout`). */
  #deadlinesOf(slot: Slot): DeadlineList {
    return (slot.deadlines ??= new DeadlineList(this.#setup.clock, (slot.def.timeout as number) * 1000, { keepTimer: true }));
  }

  /** Wait `ms` on the clock, or less if the run ends meanwhile (its timer then goes at once). */
  #pause(ms: number): Promise<void> {
    const clock = this.#setup.clock;
    const signal = this.signal;
    return new Promise<void>((resolve) => {
      const done = () => {
        clock.clearTimeout(timer);
        unwatch();
        resolve();
      };
      const timer = clock.setTimeout(done, ms);
      const unwatch = whenAborted(signal, done);
    });
  }

  /** One attempt on the run's runtime: the step as a JSON task, its reads answered through a scope over `ctx`. */
  async #execute(runtime: Runtime, slot: Slot, ev: Event, ctx: Context): Promise<readonly Event[]> {
    const { member, def } = slot;
    const plan = this.#setup.plan;
    let state: Record<string, unknown> | undefined;
    if (this.#stateMap !== undefined) {
      state = {};
      const prefix = member === undefined ? "" : `${member}/`;
      for (const [k, v] of this.#stateMap) if (k.startsWith(prefix)) state[k.slice(prefix.length)] = v;
    }
    const task: StepTask = {
      runId: this.id,
      workflow: member ?? this.workflowName,
      step: member === undefined ? def.name : def.name.slice(member.length + 1),
      stepRunId: ctx.stepRunId,
      attempt: ctx.attempt,
      event: ev.toJSON(),
      ...(state === undefined ? {} : { state }),
    };
    const scope = contextScope(ctx, task, ev, plan);
    const outcome = await runtime.execute(task, scope);
    if (!this.#running()) return EMPTY;
    scope.apply(outcome.writes);
    if (!outcome.ok) throw errorFromJSON(outcome.error, { workflow: this.workflowName, runId: this.id, step: def.name, attempt: ctx.attempt });
    return outcome.emitted.map((json) => reviveEvent(plan, json, this.id));
  }

  /** A step attempt threw: report it, then fail the run or the call; true when it will be retried. */
  #attemptFailed(slot: Slot, ev: Event, ctx: Context, attempt: number, began: number, error: unknown): boolean {
    const def = slot.def;
    const clock = this.#setup.clock;
    const contract = error instanceof WorkflowRuntimeError && CONTRACT_CODES.has(error.code) && error.runId === this.id;
    const retry = def.retry;
    const willRetry = !contract && retry !== undefined && retries(retry, error, attempt);
    if (this.#inspectors) this.#inspect({ kind: "step_failed", runId: this.id, workflow: this.workflowName, time: clock.now(), step: def.name, stepRunId: ctx.stepRunId, attempt, error, willRetry, durationMs: clock.now() - began });
    this.#setup.journal?.stepFailed(ctx.stepRunId, def.name, attempt, error, willRetry);
    if (contract) {
      this.#fail(error, "failed");
      return false;
    }
    if (!this.#answeredBySend(ctx) && !willRetry && this.#calls?.has(ev)) {
      const call = this.#calls.get(ev) as PendingCall;
      const why = error instanceof Error ? error.message : String(error);
      call.reject(new WorkflowRuntimeError(`Step "${def.name}", handling ${eventTypeName(ev.constructor as EventClass)} for ctx.call, failed: ${why}`, "CALL_FAILED", { workflow: this.workflowName, runId: this.id, step: def.name, attempt, cause: error }));
      this.#m.drop(slot);
      return false;
    }
    if (!willRetry && !(ev instanceof StepFailedEvent) && this.#setup.plan.catches) {
      this.#caught(slot, ctx.stepRunId, ev, attempt, error);
      return false;
    }
    if (!willRetry) {
      const tries = retry ? ` (attempt ${attempt} of ${retry.maxAttempts})` : "";
      const why = error instanceof Error ? error.message : String(error);
      this.#fail(
        new WorkflowRuntimeError(`Step "${def.name}" of workflow "${this.workflowName}" failed${tries}: ${why}`, "STEP_FAILED", { workflow: this.workflowName, runId: this.id, step: def.name, attempt, cause: error }),
        "failed",
      );
      return false;
    }
    return true;
  }

  /**
   * A step failed for good and a catch-error step accepts {@link StepFailedEvent}: the failure
   * becomes the invocation's output (journaled as such, so a resume routes it the same way).
   */
  #caught(slot: Slot, stepRunId: string, ev: Event, attempt: number, error: unknown): void {
    const err = error instanceof Error ? error : undefined;
    const code = (error as { code?: unknown } | null)?.code;
    const failed = new StepFailedEvent({
      step: slot.def.name,
      error: { name: err?.name ?? typeof error, message: err?.message ?? String(error), ...(typeof code === "string" ? { code } : {}) },
      eventType: eventTypeName(ev.constructor as EventClass),
      attempt,
    });
    const emitted = [failed];
    const commit = this.#setup.journal?.stepFinished(stepRunId, slot.def.name, emitted);
    if (commit === undefined) return this.#m.finish(slot, emitted);
    void commit.then(
      () => {
        if (this.#running()) this.#m.finish(slot, emitted);
      },
      () => {},
    );
  }

  /**
   * The common invocation — no inspector, journal, retry, resources, runtime or tracer — without an `async`
   * frame: a suspended async function holds ~300 bytes per in-flight step, and 10,000 runs in
   * flight hold one each. Same order of effects as {@link #invoke}.
   */
  #invokeLean(slot: Slot, ev: Event): void {
    const def = slot.def;
    const timed = def.timeout === null ? undefined : new TimedAttempt(this, def.name, def.timeout, 1);
    const ctx = new Context(this, slot, ev, 1, ++this.#invocations, timed);
    let out: unknown;
    try {
      out = def.handler.call(slot.instance, ev, ctx);
    } catch (error) {
      timed?.finish();
      return this.#leanSettled(slot, ev, ctx, undefined, error, true);
    }
    if (out !== null && typeof out === "object" && typeof (out as PromiseLike<unknown>).then === "function") {
      // What Promise.resolve(out) would return for an async step's own promise, without the call.
      const settles = (out as Promise<unknown>).constructor === Promise ? (out as Promise<unknown>) : Promise.resolve(out as PromiseLike<unknown>);
      if (timed === undefined) {
        void settles.then(
          (value) => this.#leanSettled(slot, ev, ctx, value, undefined, false),
          (error: unknown) => this.#leanSettled(slot, ev, ctx, undefined, error, true),
        );
        return;
      }
      // Whichever comes first, the step's outcome or its deadline, settles the attempt.
      this.#deadlinesOf(slot).add(timed);
      timed.onExpire = (error) => this.#leanSettled(slot, ev, ctx, undefined, error, true);
      void settles.then(
        (value) => timed.finish() && this.#leanSettled(slot, ev, ctx, value, undefined, false),
        (error: unknown) => timed.finish() && this.#leanSettled(slot, ev, ctx, undefined, error, true),
      );
    } else {
      timed?.finish();
      this.#leanSettled(slot, ev, ctx, out, undefined, false);
    }
  }

  #leanSettled(slot: Slot, ev: Event, ctx: Context, out: unknown, error: unknown, failed: boolean): void {
    try {
      // (Inline: the common attempt left nothing open.)
      endAttempt(ctx);
      if (this.#open !== undefined) this.#attemptEnded(ctx, failed);
      if (!this.#running()) return;
      let emitted: readonly Event[] = EMPTY;
      let one: Event | undefined;
      try {
        if (failed) throw error;
        // One event, the common output, and no call to answer: routed without an array around it.
        if (out !== null && typeof out === "object" && !Array.isArray(out) && this.#calls === undefined) {
          this.checkEmit(slot, out, "returned");
          one = out;
        } else {
          emitted = this.#collectOutput(slot, out);
          if (this.#calls !== undefined && !this.#answeredBySend(ctx) && this.#calls.has(ev)) emitted = this.#answer(ev, emitted, slot.def.name);
        }
      } catch (err) {
        this.#attemptFailed(slot, ev, ctx, 1, 0, err);
        return;
      }
      if (one !== undefined) this.#m.finishWith(slot, one);
      else this.#m.finish(slot, emitted);
    } catch (err) {
      // Nothing may escape into the step's promise chain, where it would be an unhandled rejection.
      this.#fail(err, "failed");
    }
  }

  #collectOutput(slot: Slot, out: unknown): readonly Event[] {
    if (out === undefined || out === null) return EMPTY;
    if (Array.isArray(out)) {
      for (const ev of out) this.checkEmit(slot, ev, "returned");
      return out as Event[];
    }
    this.checkEmit(slot, out, "returned");
    return [out];
  }

  /** @internal effect: nothing runs, nothing is queued, no outside event can come: fail with a diagnosis. */
  stalled(): void {
    const unclaimed = this.#m.unclaimed;
    const held = [...(this.#m.collects ?? [])].filter(([, buffer]) => buffer.size > 0).map(([key, buffer]) => [key, buffer.toArray()] as const);
    const hints = [
      ...held.map(([key, evs]) => {
        const parts = collectKeyParts(key);
        return `ctx.collectEvents in step "${parts?.step ?? key}" holds ${evs.map((e) => eventTypeName(e.constructor as EventClass)).join(", ")} and still waits for the rest of [${parts === undefined ? "" : collectListText(parts)}]`;
      }),
      ...(unclaimed.length ? [`no step accepts ${[...new Set(unclaimed.map((e) => eventTypeName(e.constructor as EventClass)))].join(", ")}`] : []),
    ];
    this.#fail(
      new WorkflowRuntimeError(
        `Workflow "${this.workflowName}" stalled: no step is running and no event is queued, but no StopEvent was emitted (run "${this.id}").${hints.length ? ` Note: ${hints.join("; ")}.` : ""}`,
        "STALLED",
        { workflow: this.workflowName, runId: this.id },
      ),
      "failed",
    );
  }

  /* ------------------------------------------------------------ context services */

  collect(slot: Slot, ev: Event, types: readonly EventClass[]): Event[] | null {
    // LlamaIndex's rule (issue 12.5): an empty list is complete at once; an event of a type not
    // in the list is not collected, and the set is not complete.
    // (The machine tells an event of no listed class, in work that does not grow with the list.)
    if (types.length === 0) return [];
    const key = this.#collectKey(slot, types);
    // A step re-run on resume collects its event again: keep one copy.
    const { set, added } = this.#m.collect(key, ev, types, this.#setup.journal !== null);
    if (set === null) {
      if (added) this.#setup.journal?.collect(key, ev);
      return null;
    }
    this.#setup.journal?.collect(key, added ? ev : undefined, ev, set);
    return set;
  }

  /** The buffer key of a collectEvents call; the last one is remembered, as a fan-in repeats one list many times. */
  #collectKey(slot: Slot, types: readonly EventClass[]): string {
    const last = this.#lastCollect;
    if (last !== undefined && last.slot === slot && last.types.length === types.length) {
      // The same array again (a fan-in's list, kept by the step) is taken as unchanged.
      if (last.ref === types) return last.key;
      let same = true;
      for (let i = 0; same && i < types.length; i++) same = last.types[i] === types[i];
      if (same) return last.key;
    }
    const key = collectKey(slot.def.name, types.map(eventTypeName));
    this.#lastCollect = { slot, ref: types, types: types.slice(), key };
    return key;
  }
  #lastCollect: { slot: Slot; ref: readonly EventClass[]; types: readonly EventClass[]; key: string } | undefined;

  /**
   * `ev` goes to the run's stream (a child's: to its parent's). `by` wrote it, as its `n`-th write
   * (no `n`: `by` is the finished {@link StreamWriter}); the writer record is built only when a
   * parent, a resumed attempt or the journal needs it.
   */
  toStream(ev: Event, by?: StreamWriterSource, n?: number, origin?: StreamOrigin): void {
    if (!this.#running()) return;
    const forward = this.#setup.forward;
    // A child run's event: this run's id goes in front of its path on the way up. The origin is
    // made by the writer for this event alone and seen by nobody before the top run: put in place.
    if (origin !== undefined) (origin.path as string[]).unshift(this.id);
    const journal = this.#setup.journal;
    const restreamed = this.#restreamed;
    const writer = journal || restreamed || forward ? writerOf(by, n) : undefined;
    // Already in the stream: a write of an attempt run again after a crash, which the journal
    // holds; or a child's write handed up again after a crash (its run continued or re-attached).
    if (writer !== undefined && (origin === undefined ? restreamed : this.#childWrites)?.has(writeKey(writer.stepRunId, writer.attempt, writer.n)) === true) return;
    if (forward) {
      // A child journals its writes too: a parent that crashed before journaling them gets them
      // from here when it re-attaches. Its handler is never read: they go up to the parent's stream.
      journal?.streamed(ev, ++this.#streamed, origin, writer);
      return forward(ev, origin ?? ownOrigin(this.id, this.workflowName), writer);
    }
    if (this.#inspectors) this.#inspect({ kind: "stream", runId: this.id, workflow: this.workflowName, time: this.#setup.clock.now(), event: ev });
    if (origin) ORIGINS.set(ev, origin);
    journal?.streamed(ev, ++this.#streamed, origin, writer);
    this.stream.push(ev);
  }

  /** Events written to the stream so far: the last one's position. */
  #streamed = 0;
  /** For attempts run again on resume: their writes the journal holds ({@link Restored.restreamed}). */
  #restreamed: ReadonlySet<string> | undefined;

  /* ------------------------------------------------------------ many workflows */

  /** `ctx.runWorkflow`: run `target` as a child of this run, from `slot`'s workflow. */
  runChild(slot: Slot, target: unknown, input: unknown, signal: AbortSignal, origin: SendOrigin, attempt: AttemptRef): Promise<unknown> {
    const start = this.#setup.runChild;
    if (!start) return Promise.reject(new WorkflowError("ctx.runWorkflow is not available in this run.", { workflow: this.workflowName, runId: this.id }));
    // The child starts on its attempt's own signal: the run's end, the attempt's step timeout and
    // the attempt's failure cancel it.
    const kids = this.#childrenOf(attempt, signal);
    const on = kids.controller.signal;
    const journal = this.#setup.journal;
    let child: Promise<unknown>;
    if (journal === null) child = start(slot.instance, target, input, this, on);
    else {
      // A durable parent names the child in its journal, committed, before the child exists: after a
      // crash, the invocation's re-run re-attaches to it instead of leaving it running for ever (11.10).
      const known = this.#childRuns?.get(writeKey(origin.stepRunId, origin.attempt, origin.n));
      if (known !== undefined) child = start(slot.instance, target, input, this, on, { runId: known, attach: true });
      else {
        const runId = randomId();
        journal.record({ kind: "child", stepRunId: origin.stepRunId, n: origin.n, runId });
        child = journal.flushed().then(() => {
          if (!this.#running()) throw this.#endReason();
          return start(slot.instance, target, input, this, on, { runId, attach: false });
        });
      }
    }
    kids.live++;
    const settled = () => {
      if (--kids.live === 0 && kids.ended) kids.unlink();
    };
    child.then(settled, settled);
    return child;
  }

  /** The children record of `attempt`, made with a controller that follows `signal` (its ctx.signal) and the run's end. */
  #childrenOf(attempt: AttemptRef, signal: AbortSignal): AttemptChildren {
    const open = this.#openOf(attempt);
    if (open.children !== undefined) return open.children;
    const controller = new AbortController();
    // The run's end aborts it from #attemptChildren: no listener on the run's own signal (Node
    // warns past 10); a timed attempt's own signal, which stops following the run's when the
    // attempt ends, through one listener.
    const all = (this.#attemptChildren ??= new Set<AttemptChildren>());
    let off: (() => void) | undefined;
    if (signal.aborted) controller.abort(signal.reason);
    else if (signal !== this.#controller?.signal) off = whenAborted(signal, () => controller.abort(signal.reason));
    const kids: AttemptChildren = {
      controller,
      unlink: () => {
        all.delete(kids);
        off?.();
      },
      live: 0,
      ended: false,
    };
    all.add(kids);
    return (open.children = kids);
  }

  /** The child-run signals of attempts that started children still running (or still in progress): the run's end aborts them. */
  #attemptChildren: Set<AttemptChildren> | undefined;

  /** What attempts left open, by Context; undefined until an attempt waits, calls or runs a child. */
  #open: Map<AttemptRef, Open> | undefined;

  #openOf(attempt: AttemptRef): Open {
    const all = (this.#open ??= new Map<AttemptRef, Open>());
    let open = all.get(attempt);
    if (open === undefined) all.set(attempt, (open = { drops: new Set(), children: undefined }));
    return open;
  }

  /**
   * The attempt of `ctx` ended (`failed`: it threw or timed out; `endAttempt(ctx)` said so first): what it began may not outlive it.
   * Its pending waits and calls are dropped; when it failed, its child runs still running are
   * cancelled (as the run's end cancels them), so a retry's fresh child never runs beside the old.
   */
  #attemptEnded(ctx: Context, failed: boolean): void {
    const all = this.#open;
    if (all === undefined || all.size === 0) return;
    const open = all.get(ctx);
    if (open === undefined) return;
    all.delete(ctx);
    for (const drop of [...open.drops]) drop(failed);
    const kids = open.children;
    if (kids === undefined) return;
    kids.ended = true;
    if (failed && kids.live > 0) {
      const step = ctx.stepName;
      kids.controller.abort(
        new WorkflowCancelledError(`Attempt ${ctx.attempt} of step "${step}" (run "${this.id}") failed; the child runs it started are cancelled.`, { workflow: this.workflowName, runId: this.id, step, attempt: ctx.attempt }),
      );
    }
    if (failed || kids.live === 0) kids.unlink();
  }
  /** For invocations run again on resume: the child runs they started ({@link Restored.children}). */
  #childRuns: ReadonlyMap<string, string> | undefined;

  /** Inspectors added to this run with `handler.inspect`, which its children report to as well. */
  get runInspectors(): readonly Inspector[] {
    return this.#runInspectors;
  }
  #runInspectors: Inspector[] = NONE as Inspector[];

  #calls: Map<Event, PendingCall> | undefined;

  /** `ctx.call`: deliver `request` and resolve with the `reply` event its handling step emits. */
  call(slot: Slot, request: Event, reply: EventClass, timeout: number | null, signal: AbortSignal, attempt: AttemptRef): Promise<Event> {
    const badTimeout = checkTimeout(timeout, "ctx.call");
    if (badTimeout !== undefined) return Promise.reject(badTimeout);
    if (typeof reply !== "function") return Promise.reject(new TypeError(`ctx.call's reply type must be an event class, got ${describeValue(reply)}.`));
    this.checkEmit(slot, request, "sent");
    const routes = this.#setup.plan.route(request.constructor as EventClass);
    if (routes.length === 0) {
      return Promise.reject(this.#contract(`Step "${slot.def.name}" called with ${eventTypeName(request.constructor as EventClass)}, which no step accepts${this.#setup.plan.owners ? " in any member of this App" : ""}.`, "UNKNOWN_STEP", slot));
    }
    const open = this.#openOf(attempt);
    const promise = new Promise<Event>((resolve, reject) => {
      let timer: unknown;
      const calls = (this.#calls ??= new Map<Event, PendingCall>());
      // As for waits: no listener on the run's own signal; the run's end rejects pending calls.
      const own = signal === this.#controller?.signal;
      let unwatch: (() => void) | undefined;
      const settle = () => {
        unlinkCall(calls, request, call);
        if (timer !== undefined) this.#setup.clock.clearTimeout(timer);
        unwatch?.();
        open.drops.delete(drop);
      };
      // The attempt ended with the call pending: the reply, if it comes, goes on as an event.
      const drop = (failed: boolean) => {
        settle();
        promise.catch(() => {});
        reject(new WorkflowRuntimeError(`Step "${slot.def.name}"'s ctx.call with ${eventTypeName(request.constructor as EventClass)} was dropped: attempt ${attempt.attempt} ${failed ? "failed" : "returned"} before the ${eventTypeName(reply)} came.`, "CALL_DROPPED", { workflow: this.workflowName, runId: this.id, step: slot.def.name, attempt: attempt.attempt }));
      };
      const onAbort = () => {
        settle();
        reject(signal.reason as Error);
      };
      if (signal.aborted) return reject(signal.reason as Error);
      if (!own) unwatch = whenAborted(signal, onAbort);
      const call: PendingCall = {
        reply,
        resolve: (ev) => {
          settle();
          resolve(ev);
        },
        reject: (err) => {
          settle();
          reject(err as Error); // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- a rejection reason is an Error here
        },
        next: undefined,
      };
      // The same request event in calls already pending (one event object sent twice): this call
      // waits behind them, answered by a later invocation handling it, instead of replacing them.
      let last = calls.get(request);
      if (last === undefined) calls.set(request, call);
      else {
        while (last.next !== undefined) last = last.next;
        last.next = call;
      }
      open.drops.add(drop);
      if (timeout !== null) {
        timer = this.#setup.clock.setTimeout(() => {
          settle();
          reject(new WorkflowTimeoutError(`Step "${slot.def.name}" called with ${eventTypeName(request.constructor as EventClass)} and got no ${eventTypeName(reply)} within ${timeout}s.`, timeout, { workflow: this.workflowName, runId: this.id, step: slot.def.name }));
        }, timeout * 1000);
      }
      this.send(request, slot, undefined);
    });
    return promise;
  }

  /** Invocations (stepRunIds) that answered a call with ctx.sendEvent and have not ended yet. */
  #sentAnswer: Set<string> | undefined;

  /** The attempt `ctx` ends: true when its invocation answered a call with ctx.sendEvent already (forgotten now). */
  #answeredBySend(ctx: Context): boolean {
    return this.#sentAnswer !== undefined && this.#sentAnswer.size > 0 && this.#sentAnswer.delete(ctx.stepRunId);
  }

  /** The step handling call `request` emitted `emitted`: the first reply goes to the caller, the rest on. */
  #answer(request: Event, emitted: readonly Event[], step: string): readonly Event[] {
    const call = this.#calls?.get(request) as PendingCall;
    const i = emitted.findIndex((e) => e instanceof call.reply);
    if (i < 0) {
      call.reject(new WorkflowRuntimeError(`Step "${step}" handled ${eventTypeName(request.constructor as EventClass)} for ctx.call but emitted no ${eventTypeName(call.reply)}; return or send one.`, "NO_REPLY", { workflow: this.workflowName, runId: this.id, step }));
      return emitted;
    }
    call.resolve(emitted[i] as Event);
    return emitted.filter((_, j) => j !== i);
  }

  wait(slot: Slot, type: EventClass, options: WaitOptions<Event>, signal: AbortSignal, stepRunId: string, writer: StreamWriter | undefined, attempt: AttemptRef): Promise<Event> {
    const { timeout = null, waiterEvent } = options;
    const badTimeout = checkTimeout(timeout, "ctx.waitForEvent");
    if (badTimeout !== undefined) return Promise.reject(badTimeout);
    if (typeof type !== "function") return Promise.reject(new TypeError(`ctx.waitForEvent takes an event class, got ${describeValue(type)}.`));
    const requirements = requirementsOf(options.requirements);
    // A filter that throws fails this wait alone, at the waiting step's await: not the step or
    // caller whose event it was looking at, nor the other waits that event may end.
    let failed: { error: WorkflowRuntimeError } | undefined;
    let pending: Waiter | undefined;
    const given = options.filter;
    const filter =
      given === undefined
        ? undefined
        : (ev: Event): boolean => {
            if (failed !== undefined) return false;
            try {
              return given(ev);
            } catch (cause) {
              failed = { error: new WorkflowRuntimeError(`The filter of step "${slot.def.name}"'s waitForEvent(${eventTypeName(type)}) threw on ${article(eventTypeName(ev.constructor as EventClass))}: ${cause instanceof Error ? cause.message : String(cause)}`, "WAIT_FILTER_FAILED", { workflow: this.workflowName, runId: this.id, step: slot.def.name, cause }) };
              pending?.reject(failed.error);
              return false;
            }
          };
    const ev = this.#m.claim(type, requirements, filter);
    if (failed !== undefined) return Promise.reject(failed.error);
    if (ev !== undefined) {
      this.#setup.journal?.received(stepRunId, ev);
      if (slot.def.retry !== undefined) this.#keepAnswer(stepRunId, ev);
      return Promise.resolve(ev);
    }
    let open: Open | undefined;
    const promise = new Promise<Event>((resolve, reject) => {
      let timer: unknown;
      // The run's own signal gets no listener per waiter (Node warns past 10): the run's end rejects its waiters.
      const own = signal === this.#controller?.signal;
      let unwatch: (() => void) | undefined;
      const done = () => {
        if (timer !== undefined) this.#setup.clock.clearTimeout(timer);
        unwatch?.();
        this.#m.removeWait(waiter);
        open?.drops.delete(drop);
      };
      // The attempt ended with the wait pending: out of the run, so it takes no later event.
      const drop = (failed: boolean) => {
        done();
        promise.catch(() => {});
        reject(new WorkflowRuntimeError(`Step "${slot.def.name}"'s waitForEvent(${eventTypeName(type)}) was dropped: attempt ${attempt.attempt} ${failed ? "failed" : "returned"} before one came.`, "WAIT_DROPPED", { workflow: this.workflowName, runId: this.id, step: slot.def.name, attempt: attempt.attempt }));
      };
      const onAbort = () => {
        done();
        reject(signal.reason as Error);
      };
      const waiter: Waiter = {
        type,
        filter,
        requirements,
        slot,
        resolve: (ev) => {
          this.#setup.journal?.received(stepRunId, ev);
          if (slot.def.retry !== undefined) this.#keepAnswer(stepRunId, ev);
          done();
          resolve(ev);
        },
        reject: (err) => {
          done();
          reject(err as Error); // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- a rejection reason is an Error here
        },
      };
      if (signal.aborted) return reject(signal.reason as Error);
      if (!own) unwatch = whenAborted(signal, onAbort);
      pending = waiter;
      open = this.#openOf(attempt);
      open.drops.add(drop);
      this.#m.addWait(waiter);
      this.#setup.journal?.waiting(stepRunId, eventTypeName(type));
      if (timeout !== null) {
        timer = this.#setup.clock.setTimeout(() => {
          done();
          reject(new WorkflowTimeoutError(`Step "${slot.def.name}" waited ${timeout}s for ${eventTypeName(type)}, and none came.`, timeout, { workflow: this.workflowName, runId: this.id, step: slot.def.name }));
        }, timeout * 1000);
      }
      if (waiterEvent !== undefined) this.toStream(waiterEvent, writer);
    });
    return promise;
  }

  /**
   * What the waits of an invocation of a step with `retry` received, by stepRunId, until the
   * invocation ends: an attempt that fails after its answer came gives it back for the next
   * attempt's wait (12.8), as a resume does from the journal.
   */
  #answers: Map<string, Event[]> | undefined;

  #keepAnswer(stepRunId: string, ev: Event): void {
    const answers = (this.#answers ??= new Map<string, Event[]>());
    const list = answers.get(stepRunId);
    if (list === undefined) answers.set(stepRunId, [ev]);
    else list.push(ev);
  }

  /** The invocation `stepRunId` ended (`retry`: it will run again, and its answers wait for it). */
  #answersDone(stepRunId: string, retry: boolean): void {
    const list = this.#answers?.get(stepRunId);
    if (list === undefined) return;
    this.#answers?.delete(stepRunId);
    if (!retry) return;
    this.#m.unclaim(list);
  }

  /* ------------------------------------------------------------ ending */

  #running(): boolean {
    return this.#m.running;
  }

  /** End a run that never started (its workflow failed validation, its input was rejected). */
  reject(error: unknown): void {
    // Nothing of it is in a store: nothing to journal.
    this.#setup.journal = null;
    this.#replan();
    this.#fail(error, "failed");
  }

  cancel(reason?: unknown): void {
    if (!this.#running()) return;
    const err = reason instanceof WorkflowCancelledError ? reason : new WorkflowCancelledError(`Run "${this.id}" of workflow "${this.workflowName}" was cancelled.`, { workflow: this.workflowName, runId: this.id, cause: reason });
    this.#fail(err, "cancelled");
  }

  #complete(stop: Event): void {
    const result = stopResult(stop);
    this.#stop = stop;
    this.#end("completed", result, undefined);
    const stream = this.#stream;
    if (stream !== undefined) {
      stream.push(stop);
      stream.end();
    }
    // A durable run settles once its end is committed, so the caller may close the store at once;
    // if the store failed, the run stays resumable and the handler rejects with the StoreError.
    const journal = this.#setup.journal;
    if (journal) void journal.flushed().then(() => this.#resolve(result), (err: unknown) => this.#reject(err));
    else this.#resolve(result);
  }

  #fail(error: unknown, status: RunStatus): void {
    if (!this.#running()) return;
    this.#error = error;
    this.#end(status, undefined, error);
    this.#stream?.fail(error);
    const journal = this.#setup.journal;
    if (journal === null) return this.#reject(error);
    const settled = journal.flushed().then(
      () => this.#reject(error),
      (err: unknown) => this.#reject(err),
    );
    // A run timeout fires whatever the store does: a store that hangs does not hold the handler
    // past a grace period (the end is still committed once the store answers).
    if (status === "timed_out") {
      const clock = this.#setup.clock;
      const timer = clock.setTimeout(() => this.#reject(error), END_GRACE_MS);
      void settled.then(() => clock.clearTimeout(timer));
    }
  }

  #end(status: RunStatus, result: unknown, error: unknown): void {
    const waits = this.#m.end(status);
    // Its waits and calls are rejected below, its children cancelled through its signal.
    this.#open = undefined;
    this.dlList?.remove(this);
    for (const slot of this.#m.slots) slot.deadlines?.clear();
    this.#unlinkParent?.();
    this.#unlinkParent = undefined;
    this.#controller?.abort(this.#endReason());
    const children = this.#children;
    if (children !== undefined && children.size > 0) for (const child of [...children]) child.cancel(this.#endReason());
    const attemptChildren = this.#attemptChildren;
    if (attemptChildren !== undefined && attemptChildren.size > 0) for (const kids of [...attemptChildren]) kids.controller.abort(this.#endReason());
    for (const w of waits) w.reject(this.#endReason());
    // Calls waiting on the run's own signal have no abort listener: the run's end rejects them.
    if (this.#calls !== undefined && this.#calls.size > 0) {
      const pending: PendingCall[] = [];
      for (const head of this.#calls.values()) for (let c: PendingCall | undefined = head; c !== undefined; c = c.next) pending.push(c);
      for (const call of pending) call.reject(this.#endReason());
    }
    this.#setup.journal?.finished(status, result, error);
    this.#setup.onEnd?.();
    this.#trace?.end(status, status === "completed" ? undefined : error);
    if (this.#inspectors) {
      const now = this.#setup.clock.now();
      const runId = this.id;
      const workflow = this.workflowName;
      const durationMs = now - this.startedAt;
      const stop = this.#stop;
      // Each shape written out: a spread of the outcome counted ~300 instructions more a run.
      this.#inspect(
        status !== "completed"
          ? { kind: "run_finished", runId, workflow, time: now, status, error, durationMs }
          : stop === undefined
            ? { kind: "run_finished", runId, workflow, time: now, status, result, durationMs }
            : { kind: "run_finished", runId, workflow, time: now, status, result, stop, durationMs },
      );
    }
  }

  #inspect(e: InspectionEvent): void {
    if (!this.#inspectors) return;
    for (const fn of this.#inspectors) {
      try {
        fn(e);
      } catch (err) {
        console.error(`stepwise: an inspector threw on ${e.kind}:`, err);
      }
    }
  }

  /* ------------------------------------------------------------ durable runs */

  /** Stop this run in this process without ending it in its journal: it stays resumable. */
  suspend(reason: unknown): void {
    this.#setup.journal = null;
    const trace = this.#trace;
    this.#trace = undefined;
    this.#replan();
    trace?.end("suspended");
    this.#fail(reason, "cancelled");
  }

  /** Continue a stored run from what its journal held (see resume.ts). */
  #restore(input: Event, r: Restored): void {
    for (const [key, value] of r.state) this.#stateData.set(key, value);
    const m = this.#m;
    if (r.collect.size > 0) m.collects = new Map([...r.collect].map(([k, evs]) => [k, CollectBuffer.of(evs)]));
    if (r.unclaimed.length > 0) m.unclaim(r.unclaimed);
    if (r.invocations > this.#invocations) this.#invocations = r.invocations;
    if (r.sent !== undefined && r.sent.size > 0) this.#resent = r.sent;
    if (r.children !== undefined && r.children.size > 0) this.#childRuns = r.children;
    if (r.restreamed !== undefined && r.restreamed.size > 0) this.#restreamed = r.restreamed;
    if (r.childWrites !== undefined && r.childWrites.size > 0) this.#childWrites = r.childWrites;
    if (r.streamed !== undefined && r.streamed.length > 0) {
      const forward = this.#setup.forward;
      if (forward !== undefined) {
        // A child continued after a crash: its journaled writes go up again; the parent keeps
        // those it does not hold yet (its own journal may have lost them in the crash).
        for (const { event, origin, writer } of r.streamed) forward(event, origin === undefined ? ownOrigin(this.id, this.workflowName) : journaledOrigin(origin, this.id), writer);
      } else {
        // The stream as the journal holds it: readers get it from the start, new writes go on after it.
        const stream = this.stream;
        for (const { event, origin } of r.streamed) {
          if (origin !== undefined) ORIGINS.set(event, journaledOrigin(origin, this.id));
          stream.push(event);
        }
      }
      this.#streamed = r.streamed.length;
    }
    const slot = (step: string) => m.slotOf(this.#setup.plan.byName.get(step) as StepDefinition);
    queueMicrotask(() => {
      this.#inspect({ kind: "run_started", runId: this.id, workflow: this.workflowName, time: this.startedAt, input, parentRunId: this.#setup.parentRunId });
      m.begun = true;
      if (r.asks !== undefined) for (const ev of r.asks) this.toStream(ev);
      if (r.stop) return this.#complete(r.stop);
      // Counted as active while restoring, as in several deliveries of one event: a synchronous
      // step ending here is not the run's end.
      m.hold();
      for (const f of r.inFlight) {
        const s = slot(f.step);
        m.resume(s);
        void this.#invoke(s, f.event, { no: f.no, attempt: f.attempt });
      }
      for (const d of r.deliveries) m.deliver(slot(d.step), d.event);
      for (const ev of r.external) if (this.#running()) this.sendExternal(ev);
      this.#sendEarly();
      m.settle();
    });
  }

  /** Add an inspector to this run only (and to the child runs it starts from now on). */
  addInspector(fn: Inspector): void {
    // A list of one is made as a literal: spread, the first would grow an empty array.
    this.#inspectors = this.#inspectors === null ? [fn] : [...this.#inspectors, fn];
    this.#replan();
    this.#runInspectors = this.#runInspectors.length === 0 ? [fn] : [...this.#runInspectors, fn];
  }
}

const EMPTY: readonly Event[] = Object.freeze([]);

/** What a run's first microtask hangs on (see `start`). */
const RESOLVED = Promise.resolve();

/** How long a timed-out durable run waits for its end to be committed before its handler rejects anyway. */
const END_GRACE_MS = 1000;
/** Nested synchronous step starts allowed before the next one waits for a microtask. */
const MAX_DEPTH = 200;

// Which classes a step may emit depends on the step alone: one cache per step, shared by its runs.
const ALLOWED = new WeakMap<StepDefinition, Set<unknown>>();
function allowedFor(def: StepDefinition): Set<unknown> {
  let set = ALLOWED.get(def);
  if (set === undefined) ALLOWED.set(def, (set = new Set()));
  return set;
}

/** The error for a `timeout` of ctx.call or ctx.waitForEvent that is not seconds (≥ 0) or null; undefined when it is. */
function checkTimeout(timeout: unknown, what: string): TypeError | undefined {
  if (timeout === null || (typeof timeout === "number" && timeout >= 0)) return undefined;
  return new TypeError(`${what}'s timeout is in seconds and must be a number ≥ 0 or null, got ${describeValue(timeout)}.`);
}

/** Take `call` out of the pending calls with event `request` (it is answered, failed or given up). */
function unlinkCall(calls: Map<Event, PendingCall>, request: Event, call: PendingCall): void {
  const head = calls.get(request);
  if (head === call) {
    if (call.next === undefined) calls.delete(request);
    else calls.set(request, call.next);
    return;
  }
  for (let c = head; c !== undefined; c = c.next) {
    if (c.next === call) {
      c.next = call.next;
      return;
    }
  }
}

/** "an Answer", "a Reply": an event type's name with its article, for messages. */
function article(name: string): string {
  return `${/^[AEIOU]/i.test(name) ? "an" : "a"} ${name}`;
}


/**
 * One attempt of a step that has a step `timeout`: it waits in its step's {@link DeadlineList}
 * while its promise is pending. Its AbortSignal (`ctx.signal`) is made only if the step reads it.
 */
class TimedAttempt extends Deadline {
  #controller: AbortController | undefined;
  #unlink: (() => void) | undefined;
  #error: WorkflowTimeoutError | undefined;
  /** Called once, when the deadline passes first. */
  onExpire: ((error: WorkflowTimeoutError) => void) | undefined;

  constructor(
    readonly run: Run,
    readonly step: string,
    readonly seconds: number,
    readonly attempt: number,
  ) {
    super();
  }

  /** Aborts when the run ends or this attempt passes its step timeout. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      if (this.#error !== undefined) return AbortSignal.abort(this.#error);
      [this.#controller, this.#unlink] = linkedController(this.run.signal);
    }
    return this.#controller.signal;
  }

  /** `out` or this attempt's timeout error, whichever comes first. */
  race(out: PromiseLike<unknown>, list: DeadlineList): Promise<unknown> {
    list.add(this);
    return new Promise((resolve, reject) => {
      this.onExpire = reject;
      out.then(resolve, reject);
    });
  }

  expire(): void {
    const { run, step, seconds, attempt } = this;
    const error = (this.#error = new WorkflowTimeoutError(`Step "${step}" of workflow "${run.workflowName}" timed out after ${seconds}s (attempt ${attempt}).`, seconds, { workflow: run.workflowName, runId: run.id, step, attempt }));
    this.#controller?.abort(error);
    this.#unlink?.();
    this.#unlink = undefined;
    this.onExpire?.(error);
  }

  /** The attempt ended: true, or false when its deadline had passed first (it has failed already). */
  finish(): boolean {
    if (this.#error !== undefined) return false;
    this.dlList?.remove(this);
    this.#unlink?.();
    this.#unlink = undefined;
    return true;
  }
}

/** A controller aborted with `parent`, and the function that unlinks it (call it when the attempt ends: no listener left behind). */
function linkedController(parent: AbortSignal): [AbortController, () => void] {
  const c = new AbortController();
  if (parent.aborted) {
    c.abort(parent.reason);
    return [c, () => {}];
  }
  return [c, whenAborted(parent, () => c.abort(parent.reason))];
}

const WATCHERS = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Call `fn` when `signal` aborts, through one listener per signal however many wait on it (Node
 * warns past 10 listeners on one signal): an attempt's signal with many calls, waits and child
 * runs at once, or a run's with many attempts reading their own. Returns what takes `fn` off.
 */
function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let set = WATCHERS.get(signal);
  if (set === undefined) {
    const fns = (set = new Set<() => void>());
    WATCHERS.set(signal, fns);
    signal.addEventListener(
      "abort",
      () => {
        WATCHERS.delete(signal);
        for (const f of [...fns]) f();
        fns.clear();
      },
      { once: true },
    );
  }
  const fns = set;
  fns.add(fn);
  return () => fns.delete(fn);
}


function assertJson(value: unknown, key: string, run: Run, path = key, seen = new Set<unknown>()): void {
  const bad = (what: string) =>
    new WorkflowError(`ctx.store.set("${key}") got ${what} at "${path}"; run state holds JSON values only (strings, numbers, booleans, null, arrays, plain objects).`, { workflow: run.workflowName, runId: run.id });
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw bad(String(value));
      return;
    case "object":
      if (value === null) return;
      if (seen.has(value)) throw bad("a circular reference");
      seen.add(value);
      if (Array.isArray(value)) value.forEach((v, i) => assertJson(v, key, run, `${path}[${i}]`, seen));
      else {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto !== Object.prototype && proto !== null) throw bad(`a ${(value).constructor?.name ?? "class"} instance`);
        for (const [k, v] of Object.entries(value)) assertJson(v, key, run, `${path}.${k}`, seen);
      }
      seen.delete(value);
      return;
    default:
      throw bad(typeof value === "function" ? "a function" : typeof value);
  }
}

export { isA };
