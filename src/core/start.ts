import { randomId } from "./ids.js";
import { systemClock, type Clock } from "./clock.js";
import { Journal, type Durability } from "./durable/journal.js";
import { createHeld, defaultLeaseOwner, defaultLeaseTtlMs, holdNewRun, liveHandler, markResuming, namedOwner, resuming, type LeaseOwner, type Leasing, type NewHold } from "./durable/lease.js";
import { beginResume, restreamEnded, storeFailed, type Resuming } from "./durable/resume.js";
import { WorkflowCancelledError, WorkflowError, WorkflowRuntimeError, WorkflowValidationError } from "./errors.js";
import { eventTypeName, isEvent, StartEvent, type Event, type EventClass } from "./events.js";
import { describeValue } from "./step.js";
import { WorkflowHandler } from "./handler.js";
import { globalInspectorList, verbosePrinter, type Inspector } from "./inspect.js";
import type { Plan } from "./plan.js";
import { Run, type ChildStarter, type StreamOrigin } from "./driver/run.js";
import type { StreamWriter } from "./context.js";
import type { Runtime } from "./runtime.js";
import { isLive, type Store, type StoredRun } from "./store.js";
import type { Admission } from "./admission.js";
import { validateState, type StateSchema } from "./state.js";
import { Resource, type Provided } from "./resource.js";

/** The options a run is started with (a workflow's options, less what shapes its plan). */
export interface RunOptions {
  /** Seconds a run may take; `null` for no limit. Default 45. */
  timeout?: number | null;
  /** Print each step as it starts and what it emitted. */
  verbose?: boolean;
  /** Check the steps before the first run (default true). */
  validate?: boolean;
  /** Journal runs here (default: nothing is journaled). */
  store?: Store;
  /** How journal writes are committed (default `"sync"`). */
  durability?: Durability;
  /**
   * Who takes the lease of a durable run in this process: a name for it (each run's lease is
   * `name:random`), or a {@link LeaseOwner}. Default: `host:pid:random` where there are
   * processes (a run whose process died on this host is taken over at once), else random.
   */
  leaseOwner?: string | LeaseOwner;
  /** Milliseconds a durable run's lease lasts unless renewed (default 30,000, or `STEPWISE_LEASE_TTL_MS`). */
  leaseTtlMs?: number;
  /** Where steps execute (default: called directly in this process). See {@link Runtime}. */
  runtime?: Runtime;
  /** Time source for timeouts, retries and leases (tests pass a `TestClock`). */
  clock?: Clock;
  /** Watch every run of this workflow. */
  inspect?: Inspector;
}

/** What starting a run of a workflow needs, handed down by the workflow. */
export interface RunSpec {
  /** The workflow instance (`this` of its steps). */
  readonly instance: object;
  readonly plan: Plan;
  readonly options: RunOptions;
  /** The workflow `ctx.runWorkflow(target)` from a step of `owner` means; throws a `WorkflowError` when none. */
  child(owner: object, target: unknown, parent: Run): RunSpec;
  /** The workflow's `state` schema, if it has one. */
  readonly stateSchema?: StateSchema | undefined;
  /** The instance's `numConcurrentRuns` queue: new top-level runs start through it. */
  readonly admission?: Admission | undefined;
}

/** Where a child run comes from: its parent run and the signal that ends it. */
interface Parent {
  run: Run;
  signal: AbortSignal;
  /** The id the parent journaled for this child (a new run takes it). */
  runId?: string;
}

/** Compose and start a run of `spec`: the run, its journal and lease when it has a store, and its handler. */
/** What `wf.run(input, options)` may add to a run. */
export interface RunStartOptions<S = Record<string, unknown>> {
  /** The state the run starts from (checked against the workflow's `state` schema), e.g. an earlier run's `handler.state`. */
  state?: S;
  /** Resource values for this run, replacing their factories (tests): `[provide(llm, fakeLlm)]`. */
  resources?: readonly Provided[];
}

export function startRun(spec: RunSpec, input: unknown, parent?: Parent, resume?: Resuming, init?: RunStartOptions<unknown>): WorkflowHandler<unknown> {
  const { options, plan } = spec;
  const clock = options.clock ?? systemClock;
  const id = resume?.runId ?? parent?.runId ?? randomId();
  // No list at all when nobody watches (most runs): 10,000 runs in flight keep no empty arrays.
  const global = globalInspectorList();
  let inspectors: Inspector[] | null = null;
  if (global.length > 0 || options.inspect || options.verbose || (parent !== undefined && parent.run.runInspectors.length > 0)) {
    inspectors = [...global];
    if (options.inspect) inspectors.push(options.inspect);
    if (options.verbose) inspectors.push(verbosePrinter());
    if (parent) inspectors.push(...parent.run.runInspectors);
  }
  const store = options.store;
  // The journal reports a failing store to the run, made just below.
  // A store that fails (or a fenced write) stops the run here, leaving it resumable in its store.
  const journal = store ? new Journal(store, id, options.durability ?? "sync", clock, { workflow: plan.workflow, onError: (err) => run.suspend(err) }) : null;
  // A new top-level run of an instance with numConcurrentRuns waits for a place; it leaves it when it ends.
  const admission = parent === undefined && resume === undefined ? spec.admission : undefined;
  let leave: (() => void) | undefined;
  const run: Run = new Run({
    id,
    workflowName: plan.workflow,
    instance: spec.instance,
    plan,
    clock,
    runtime: options.runtime,
    timeout: options.timeout === undefined ? 45 : options.timeout,
    inspectors,
    journal,
    runChild: childStarter(spec),
    ...(admission ? { onEnd: () => leave?.() } : {}),
    ...(spec.stateSchema ? { stateSchema: spec.stateSchema } : {}),
    ...(parent ? { parentRunId: parent.run.id, parentSignal: parent.signal, parent: parent.run, runInspectors: parent.run.runInspectors, forward: (ev: Event, origin: StreamOrigin, writer: StreamWriter | undefined) => parent.run.toStream(ev, writer, undefined, origin) } : {}),
  });
  let start: Event;
  try {
    if (options.validate !== false && plan.problems.length > 0) throw new WorkflowValidationError(plan.workflow, plan.problems);
    start = toStartEvent(plan, input, resume !== undefined);
    if (resume === undefined) run.initialState = initialState(spec, init?.state, id);
    if (init?.resources !== undefined) run.provided = providedMap(init.resources, plan.workflow);
  } catch (err) {
    run.reject(err);
    // The run's own promise rejects with the same error.
    return WorkflowHandler.attach<unknown>(run, run.promise.then(() => {}));
  }
  if (!resume && journal && store) {
    // A run that starts at once is created holding its lease (one store call where the store can);
    // one that waits for a place takes it when it starts: nobody would renew it meanwhile.
    const place = admission?.enter(() => (run.status === "running" ? begin() : leave?.()));
    leave = place?.leave;
    const atOnce = place === undefined || place.now;
    const lease = leasing(options, clock);
    const held: NewHold | undefined = atOnce && store.createRunHeld !== undefined ? { owner: lease.owner.next(), token: 0 } : undefined;
    const row = { runId: id, workflow: plan.workflow, input: start.toJSON(), createdAt: clock.now(), ...(parent ? { parentRunId: parent.run.id } : {}) };
    const recorded = (held ? createHeld(store, row, held, lease) : Promise.resolve(store.createRun(row))).catch((err: unknown) => {
      throw storeFailed(err, plan.workflow, id);
    });
    const handler = WorkflowHandler.attach<unknown>(run, recorded);
    const begin = () => {
      void recorded
        .then(() => holdNewRun(store, run, handler, journal, lease, held))
        .then(() => run.start(start))
        .catch((err: unknown) => journal.fail(err));
    };
    if (atOnce) begin();
    return handler;
  }
  const handler = WorkflowHandler.attach<unknown>(run);
  if (resume) {
    // Sends and resumes of this run in this process join this resume until it is live.
    if (store) markResuming(store, resume.runId, { handler, events: resume.events });
    beginResume(store, plan, run, handler, journal, resume, leasing(options, clock), () => resumeRun(spec, resume.runId));
  } else {
    const place = admission?.enter(() => (run.status === "running" ? run.start(start) : leave?.()));
    leave = place?.leave;
    if (place === undefined || place.now) run.start(start);
  }
  return handler;
}

/** `wf.resume(runId)`: the handler of the run when it is live or being resumed here, else a resume of it from the store. */
export function resumeRun(spec: RunSpec, runId: string): WorkflowHandler<unknown> {
  const store = spec.options.store;
  return liveHandler(store, runId) ?? resuming(store, runId)?.handler ?? startRun(spec, undefined, undefined, { runId, events: [] });
}

// One Leasing per workflow's options (and clock), shared by its runs: no object and no read of
// the environment per run.
const LEASINGS = new WeakMap<RunOptions, { leasing: Leasing; owner: RunOptions["leaseOwner"]; ttl: number | undefined }>();

function leasing(options: RunOptions, clock: Clock): Leasing {
  const owner = options.leaseOwner;
  const ttl = options.leaseTtlMs;
  const known = LEASINGS.get(options);
  if (known !== undefined && known.leasing.clock === clock && known.owner === owner && known.ttl === ttl) return known.leasing;
  const made: Leasing = { clock, owner: typeof owner === "string" ? namedOwner(owner) : (owner ?? defaultLeaseOwner()), ttlMs: ttl ?? defaultLeaseTtlMs() };
  LEASINGS.set(options, { leasing: made, owner, ttl });
  return made;
}

// One starter per workflow spec, shared by its runs: no closure per run.
const STARTERS = new WeakMap<RunSpec, ChildStarter>();

/** Starts a child run for `ctx.runWorkflow` and translates its failure for the calling step. */
function childStarter(spec: RunSpec): ChildStarter {
  let starter = STARTERS.get(spec);
  if (starter === undefined) {
    starter = async (owner, target, input, parent, signal, ref) => {
      const childSpec = spec.child(owner, target, parent);
      let child: ChildRun;
      if (ref === undefined) {
        const h = startRun(childSpec, input, { run: parent, signal });
        child = { runId: h.runId, result: h };
      } else child = await attachChild(childSpec, input, { run: parent, signal, runId: ref.runId }, ref.attach);
      try {
        return await child.result;
      } catch (err) {
        if (err instanceof WorkflowCancelledError && signal.aborted) throw err;
        const why = err instanceof Error ? err.message : String(err);
        const name = childSpec.plan.workflow;
        throw new WorkflowRuntimeError(`Child workflow "${name}" (run "${child.runId}") failed: ${why}`, "CHILD_FAILED", { workflow: name, runId: child.runId, cause: err });
      }
    };
    STARTERS.set(spec, starter);
  }
  return starter;
}

/**
 * The child run `parent.runId` a durable parent journaled: a new run with that id, or, when
 * `attach` (the parent's step runs again after a crash) and the store has it, that run continued
 * (live), its result (completed) or its failure (ended otherwise). A child without a store is
 * started afresh: nothing of it survived.
 */
async function attachChild(spec: RunSpec, input: unknown, parent: Parent & { runId: string }, attach: boolean): Promise<ChildRun> {
  const store = spec.options.store;
  const runId = parent.runId;
  const started = (h: WorkflowHandler<unknown>): ChildRun => ({ runId: h.runId, result: h });
  if (!attach || store === undefined) return started(startRun(spec, input, parent));
  let stored: StoredRun | undefined;
  try {
    stored = await store.getRun(runId);
  } catch (err) {
    throw storeFailed(err, spec.plan.workflow, runId);
  }
  if (stored === undefined) return started(startRun(spec, input, parent));
  if (isLive(stored.status)) return started(startRun(spec, undefined, parent, { runId, events: [] }));
  await restreamEnded(store, spec.plan, runId, parent.run);
  if (stored.status === "completed") return { runId, result: Promise.resolve(stored.result) };
  const why = stored.error?.message ?? `it ended ${stored.status}`;
  const failed = new WorkflowError(why, { workflow: stored.workflow, runId });
  return { runId, result: Promise.reject(failed) };
}

/** A child run started or re-attached: its id and its result. */
interface ChildRun {
  readonly runId: string;
  readonly result: PromiseLike<unknown>;
}

/** A new run's first state: `given` checked against the schema (its defaults filled in), or `given` as it is without one. */
function initialState(spec: RunSpec, given: unknown, runId: string): Record<string, unknown> | undefined {
  const workflow = spec.plan.workflow;
  if (spec.stateSchema !== undefined) return validateState(spec.stateSchema, given ?? {}, { workflow, runId, what: given === undefined ? "The default state" : "The state passed to run()" }) as Record<string, unknown>;
  if (given === undefined) return undefined;
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    throw new WorkflowError(`run(input, { state }) takes an object of state keys, got ${Array.isArray(given) ? "an array" : describeValue(given)}.`, { workflow, runId });
  }
  return given as Record<string, unknown>;
}

function providedMap(list: readonly Provided[], workflow: string): Map<Resource, unknown> {
  if (!Array.isArray(list)) throw new WorkflowError(`run(input, { resources }) takes a list of provide(resource, value), got ${describeValue(list)}.`, { workflow });
  const map = new Map<Resource, unknown>();
  for (const [i, p] of list.entries()) {
    if (p === null || typeof p !== "object" || !((p as Provided).resource instanceof Resource)) throw new WorkflowError(`run(input, { resources }): item ${i} is ${describeValue(p)}, not provide(resource, value).`, { workflow });
    map.set((p as Provided).resource, (p as Provided).value);
  }
  return map;
}

function toStartEvent(plan: Plan, input: unknown, resuming: boolean): Event {
  // A resume starts from the journal; its placeholder start event is never used (nor checked
  // against the start class's schema, which it would fail).
  if (resuming) return isEvent(input) ? input : new StartEvent();
  if (isEvent(input)) {
    if (input instanceof plan.startClass) return input;
    const want = eventTypeName(plan.startClass);
    throw new WorkflowError(
      `Workflow "${plan.workflow}" run() takes a ${want} (or an object of its fields), got a ${eventTypeName((input as Event).constructor as EventClass)}; ` +
        `to deliver that event to a running run, use handler.sendEvent().`,
      { workflow: plan.workflow },
    );
  }
  if (input === undefined) return new (plan.startClass as new (d?: unknown) => Event)();
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new WorkflowError(`Workflow "${plan.workflow}" run() takes an object of StartEvent fields or a StartEvent, got ${Array.isArray(input) ? "an array" : describeValue(input)}.`, { workflow: plan.workflow });
  }
  return new (plan.startClass as new (d?: unknown) => Event)(input);
}
