import { systemClock, type Clock } from "./clock.js";
import { WorkflowCancelledError, WorkflowError, WorkflowRuntimeError, WorkflowValidationError } from "./errors.js";
import { isEvent, StartEvent, type Event, type EventClass, type EventJSON } from "./events.js";
import { WorkflowHandler } from "./handler.js";
import { globalInspectorList, verbosePrinter, type Inspector } from "./inspect.js";
import { Journal, type Durability } from "./durable/journal.js";
import { Plan } from "./plan.js";
import { Run, type ChildStarter, type StreamOrigin } from "./run.js";
import type { Runtime } from "./runtime.js";
import { reviveEvent } from "./records.js";
import { defaultLeaseOwner, defaultLeaseTtlMs, holdNewRun, liveHandler, namedOwner, type LeaseOwner, type Leasing } from "./durable/lease.js";
import { beginResume, checkSendable, storeFailed, type Resuming } from "./durable/resume.js";
import { decoratedOptions, defineStep, describeValue, type EventClasses, type StepDefinition, type StepHandler, type StepOptions } from "./step.js";
import type { Store } from "./store.js";

/** Options every workflow takes. */
export interface WorkflowOptions {
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
  /** Accepted event types that arrive from outside the run (`handler.sendEvent`). */
  externalEvents?: readonly EventClass[];
  /** Where steps execute (default: called directly in this process). See {@link Runtime}. */
  runtime?: Runtime;
  /** Time source for timeouts and retries (tests pass a `TestClock`). */
  clock?: Clock;
  /** Watch every run of this workflow. */
  inspect?: Inspector;
  /** The workflow's name in messages, journals and drawings (default: the class name). */
  name?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyInput = Record<string, any>;
type Handler = (this: unknown, ev: Event, ctx: import("./context.js").Context) => unknown;

const CLASS_STEPS = new WeakMap<object, StepDefinition[]>();
const CLASS_DEFS = new WeakMap<object, { version: number; defs: StepDefinition[] }>();
// Bumped by every Class.addStep, so cached plans of that class and its subclasses are rebuilt.
let version = 0;
let getPlan: (wf: Workflow) => Plan;
let getChildren: (wf: Workflow) => ReadonlyMap<string, Workflow>;
let startRun: (wf: Workflow, input: unknown, parent: { run: Run; signal: AbortSignal } | undefined, resume?: Resuming) => WorkflowHandler<unknown>;
/** Plans built by something other than the class's steps (an App's, from its members). */
const CUSTOM_PLANS = new WeakMap<Workflow, (name: string, options: WorkflowOptions) => Plan>();

/** @internal Let `wf` build its plan with `build` (used by App). */
export function setPlanBuilder(wf: Workflow, build: (name: string, options: WorkflowOptions) => Plan): void {
  CUSTOM_PLANS.set(wf, build);
}

/** @internal The steps and external events of a workflow, for composing Apps. */
export { classSteps, RESERVED };

/** Starts a child run for `ctx.runWorkflow` and translates its failure for the calling step. */
const runChild: ChildStarter = async (owner, target, input, parent, signal) => {
  let wf: Workflow | undefined;
  if (target instanceof Workflow) wf = target;
  else if (typeof target === "string" && owner instanceof Workflow) {
    // A step on a runtime's worker names the workflow (see StepRequest "runWorkflow").
    const from = owner as Workflow;
    const added = getChildren(from);
    wf = added.get(target) ?? [...added.values()].find((w) => planOf(w).workflow === target);
    if (wf === undefined) throw new WorkflowError(`ctx.runWorkflow("${target}"): no workflow by that name was added to workflow "${planOf(from).workflow}" (added: ${[...added.keys()].join(", ") || "none"}); add it with addWorkflows({ ${target}: instance }).`, { workflow: parent.workflowName, runId: parent.id });
  }
  else if (typeof target === "function" && (target === Workflow || target.prototype instanceof Workflow)) {
    const added = owner instanceof Workflow ? [...getChildren(owner as Workflow).values()] : [];
    wf = added.find((w) => w.constructor === target) ?? added.find((w) => w instanceof target) ?? new (target as new () => Workflow)();
  } else {
    throw new WorkflowError(`ctx.runWorkflow() takes a Workflow class or instance, got ${describeValue(target)}.`, { workflow: parent.workflowName, runId: parent.id });
  }
  const child = startRun(wf, input, { run: parent, signal });
  try {
    return await child;
  } catch (err) {
    if (err instanceof WorkflowCancelledError && signal.aborted) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new WorkflowRuntimeError(`Child workflow "${planOf(wf).workflow}" (run "${child.runId}") failed: ${why}`, "CHILD_FAILED", { workflow: planOf(wf).workflow, runId: child.runId, cause: err });
  }
};

/**
 * A set of steps joined by the events they accept and emit.
 * `TInput` is the run's input (the StartEvent's fields), `TResult` what a run resolves to.
 * @example
 * class Hello extends Workflow<{ name: string }, string> {
 *   @step({ accepts: StartEvent, emits: StopEvent })
 *   async greet(ev: StartEvent<{ name: string }>) { return new StopEvent({ result: `hi ${ev.name}` }); }
 * }
 * await new Hello().run({ name: "Ada" }); // "hi Ada"
 */
export class Workflow<TInput extends object = AnyInput, TResult = unknown> {
  readonly #options: WorkflowOptions;
  readonly #steps: StepDefinition[] = [];
  #plan: Plan | undefined;
  #planVersion = -1;
  readonly #children = new Map<string, Workflow>();

  static {
    getPlan = (wf) => {
      if (wf.#plan === undefined || wf.#planVersion !== version) {
        const opts = wf.#options;
        const name = opts.name ?? (wf.constructor.name || "Workflow");
        const custom = CUSTOM_PLANS.get(wf);
        wf.#plan = custom ? custom(name, opts) : new Plan(name, [...classSteps(wf.constructor), ...wf.#steps], { external: opts.externalEvents ?? [], reserved: RESERVED });
        wf.#planVersion = version;
      }
      return wf.#plan;
    };
    getChildren = (wf) => wf.#children;
    startRun = (wf, input, parent, resume) => {
      const options = wf.#options;
      const plan = planOf(wf);
      const clock = options.clock ?? systemClock;
      const id = resume?.runId ?? flatId(crypto.randomUUID());
      const inspectors = [...globalInspectorList()];
      if (options.inspect) inspectors.push(options.inspect);
      if (options.verbose) inspectors.push(verbosePrinter());
      if (parent) inspectors.push(...parent.run.runInspectors);
      const store = options.store;
      const journal = store ? new Journal(store, id, options.durability ?? "sync", clock) : null;
      const run = new Run({
        id,
        workflowName: plan.workflow,
        instance: wf,
        plan,
        clock,
        runtime: options.runtime,
        timeout: options.timeout === undefined ? 45 : options.timeout,
        // No list at all when nobody watches: 10,000 runs in flight keep 10,000 empty arrays otherwise.
        inspectors: inspectors.length > 0 ? inspectors : null,
        journal,
        runChild,
        ...(parent ? { parentRunId: parent.run.id, parentSignal: parent.signal, forward: (ev: Event, origin: StreamOrigin) => parent.run.toStream(ev, origin) } : {}),
      });
      const handler = WorkflowHandler.attach<unknown>(run);
      let start: Event;
      try {
        if (options.validate !== false && plan.problems.length > 0) throw new WorkflowValidationError(plan.workflow, plan.problems);
        start = toStartEvent(plan, input);
      } catch (err) {
        run.reject(err);
        return handler;
      }
      const leasing: Leasing = {
        clock,
        owner: typeof options.leaseOwner === "string" ? namedOwner(options.leaseOwner) : (options.leaseOwner ?? defaultLeaseOwner()),
        ttlMs: options.leaseTtlMs ?? defaultLeaseTtlMs(),
      };
      if (resume) {
        beginResume(store, plan, run, handler, journal, resume, leasing);
      } else if (journal && store) {
        journal.onError = (err) => run.reject(storeFailed(err, plan.workflow, id));
        void Promise.resolve(store.createRun({ runId: id, workflow: plan.workflow, input: start.toJSON(), createdAt: clock.now(), ...(parent ? { parentRunId: parent.run.id } : {}) }))
          .then(() => holdNewRun(store, run, handler, journal, leasing))
          .then(() => run.start(start))
          .catch(journal.onError);
      } else {
        run.start(start);
      }
      return handler;
    };
  }

  constructor(options: WorkflowOptions = {}) {
    if (options === null || typeof options !== "object") throw new TypeError(`Workflow options must be an object, got ${String(options)}.`);
    const t = options.timeout;
    if (t !== undefined && t !== null && !(typeof t === "number" && t > 0)) {
      throw new TypeError(`Workflow option timeout is in seconds and must be > 0 or null, got ${String(t)}.`);
    }
    const ttl = options.leaseTtlMs;
    if (ttl !== undefined && !(typeof ttl === "number" && Number.isFinite(ttl) && ttl > 0)) {
      throw new TypeError(`Workflow option leaseTtlMs is in milliseconds and must be a number > 0, got ${String(ttl)}.`);
    }
    this.#options = options;
  }

  /**
   * Add a step to every instance of this class (and its subclasses): for plain JavaScript,
   * or for steps written in other files.
   */
  static addStep<A extends EventClasses, const E extends EventClasses = never>(options: StepOptions<A, E>, handler: StepHandler<A, E>): typeof Workflow {
    if (this === Workflow) throw new TypeError("Workflow.addStep() would add the step to every workflow; call it on your subclass or on an instance.");
    let list = CLASS_STEPS.get(this);
    if (!list) CLASS_STEPS.set(this, (list = []));
    list.push(defineStep(options, handler as Handler, "class"));
    version++;
    return this;
  }

  /** Add a step to this instance only. Chainable. */
  addStep<A extends EventClasses, const E extends EventClasses = never>(options: StepOptions<A, E>, handler: StepHandler<A, E, this>): this {
    this.#steps.push(defineStep(options, handler as Handler, "instance"));
    this.#plan = undefined;
    return this;
  }

  /** Throws `WorkflowValidationError` listing every problem with this workflow's steps. */
  validate(): void {
    const plan = planOf(this);
    if (plan.problems.length > 0) throw new WorkflowValidationError(plan.workflow, plan.problems);
  }

  /**
   * Start a run. Returns at once: the handler is a Promise of the result, with
   * `streamEvents()`, `sendEvent()` and `cancel()`.
   */
  run(input?: TInput | Event): WorkflowHandler<TResult> {
    return startRun(this, input, undefined) as WorkflowHandler<TResult>;
  }

  /**
   * Continue stored run `runId` (from this workflow's `store`) in this process, e.g. after the
   * process that ran it died: finished steps are not run again, steps that were in flight run
   * again (`ctx.attempt` goes on, `ctx.stepRunId` is the same), a step that was in
   * `waitForEvent` waits again. Returns the run's handler. Fails with `RunNotFoundError`,
   * `RunLockedError` (another process runs it), `RunFinishedError`, `UnknownEventTypeError`…
   */
  resume(runId: string): WorkflowHandler<TResult> {
    const live = liveHandler(this.#options.store, runId);
    if (live) return live as WorkflowHandler<TResult>;
    return startRun(this, new StartEvent(), undefined, { runId, events: [] }) as WorkflowHandler<TResult>;
  }

  /**
   * Deliver `ev` to stored run `runId`, from any process: to the live run when this process
   * runs it, else by resuming the run here with the event (e.g. a person's answer to a run
   * stored as waiting). Returns the run's handler.
   */
  sendEvent(runId: string, ev: Event): WorkflowHandler<TResult> {
    checkSendable(ev, runId, planOf(this).workflow);
    const live = liveHandler(this.#options.store, runId);
    if (live) {
      live.sendEvent(ev);
      return live as WorkflowHandler<TResult>;
    }
    return startRun(this, new StartEvent(), undefined, { runId, events: [ev] }) as WorkflowHandler<TResult>;
  }

  /**
   * Rebuild an event from its JSON (`ev.toJSON()`: `{ type, data }`) with this workflow's own
   * event classes, validating it as its constructor does. An unknown type is an `UnknownEventTypeError`.
   */
  reviveEvent(json: EventJSON): Event {
    return reviveEvent(planOf(this), json);
  }

  /**
   * Make workflows available to `ctx.runWorkflow` in this workflow's steps, by name
   * (as in LlamaIndex). `ctx.runWorkflow(Class)` uses the one added for that class.
   */
  addWorkflows(workflows: Record<string, Workflow>): this {
    for (const [name, wf] of Object.entries(workflows)) {
      if (!(wf instanceof Workflow)) throw new TypeError(`addWorkflows: "${name}" is ${describeValue(wf)}, not a Workflow instance.`);
      this.#children.set(name, wf);
    }
    return this;
  }
}

/** Node builds a UUID as a rope of 14 strings (~490 bytes); reading a character flattens it to one (~66). */
function flatId(id: string): string {
  id.charCodeAt(0);
  return id;
}

function toStartEvent(plan: Plan, input: unknown): Event {
  if (isEvent(input)) return input;
  if (input === undefined) return new (plan.startClass as new (d?: unknown) => Event)();
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new WorkflowError(`Workflow "${plan.workflow}" run() takes an object of StartEvent fields or a StartEvent, got ${Array.isArray(input) ? "an array" : JSON.stringify(input)}.`, { workflow: plan.workflow });
  }
  return new (plan.startClass as new (d?: unknown) => Event)(input);
}

const RESERVED = new Set(Object.getOwnPropertyNames(Workflow.prototype).filter((n) => n !== "constructor"));

/** The steps of a workflow class: decorated methods (most-derived wins) and `Class.addStep` steps. */
function classSteps(cls: object): StepDefinition[] {
  const cached = CLASS_DEFS.get(cls);
  if (cached && cached.version === version) return cached.defs;
  const protos: object[] = [];
  for (let p = (cls as { prototype: object }).prototype; p && p !== Workflow.prototype; p = Object.getPrototypeOf(p) as object) protos.unshift(p);
  const names = new Set<string>();
  for (const p of protos) for (const n of Object.getOwnPropertyNames(p)) if (n !== "constructor") names.add(n);
  const defs: StepDefinition[] = [];
  for (const name of names) {
    let options;
    for (let i = protos.length - 1; i >= 0 && !options; i--) {
      const d = Object.getOwnPropertyDescriptor(protos[i], name);
      options = d && "value" in d ? decoratedOptions(d.value) : undefined;
    }
    if (!options) continue;
    const body = (cls as { prototype: Record<string, Handler> }).prototype[name] as Handler;
    defs.push(defineStep(options, body, "method", name));
  }
  const chain: object[] = [];
  for (let c: object | null = cls; c && c !== Workflow; c = Object.getPrototypeOf(c) as object | null) chain.unshift(c);
  for (const c of chain) {
    for (const def of CLASS_STEPS.get(c) ?? []) {
      const i = defs.findIndex((d) => d.origin === "class" && d.name === def.name);
      if (i >= 0) defs.splice(i, 1);
      defs.push(def);
    }
  }
  CLASS_DEFS.set(cls, { version, defs });
  return defs;
}

/** What a workflow is made of, for drawings, the command line and tools. */
export interface WorkflowDescription {
  name: string;
  steps: readonly StepDefinition[];
  /** Accepted event types that come from outside the run. */
  externalEvents: readonly EventClass[];
  /** The StartEvent class its input is wrapped in. */
  startEvent: EventClass;
  /** Problems validation found (empty when valid). */
  problems: readonly string[];
  /** For an App: the member owning each step (by step name). */
  owners: ReadonlyMap<string, string>;
  /** Workflows added with `addWorkflows`, by name (drawn as linked boxes). */
  children: ReadonlyMap<string, Workflow>;
}

/** Describe a workflow instance or class (a class is described as `new Class()` would be, without constructing it). */
export function describeWorkflow(target: Workflow | (abstract new (...args: never[]) => Workflow)): WorkflowDescription {
  const plan =
    target instanceof Workflow
      ? planOf(target)
      : new Plan(target.name || "Workflow", classSteps(target), { reserved: RESERVED });
  const owners = new Map<string, string>();
  for (const [def, owner] of plan.owners ?? []) owners.set(def.name, owner.member);
  const children = target instanceof Workflow ? getChildren(target) : new Map<string, Workflow>();
  return { name: plan.workflow, steps: plan.steps, externalEvents: plan.external, startEvent: plan.startClass, problems: plan.problems, owners, children };
}

/** The resolved plan of a workflow instance (cached until steps are added). */
export function planOf(wf: Workflow): Plan {
  return getPlan(wf);
}

export type { StepDefinition };
