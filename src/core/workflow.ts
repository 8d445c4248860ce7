import { WorkflowError, WorkflowValidationError } from "./errors.js";
import { StartEvent, type Event, type EventClass, type EventJSON } from "./events.js";
import type { WorkflowHandler } from "./handler.js";
import { liveHandler, resuming } from "./durable/lease.js";
import { checkSendable } from "./durable/resume.js";
import { Plan } from "./plan.js";
import type { StateSchema } from "./state.js";
import { Admission } from "./admission.js";
import { reviveEvent } from "./records.js";
import { resumeRun, startRun, type RunOptions, type RunSpec, type RunStartOptions } from "./start.js";
import type { ResourceMap } from "./resource.js";
import { decoratedOptions, defineStep, describeValue, type NoResources, type EventClasses, type ResultCheck, type StepDefinition, type StepHandler, type StepOptions } from "./step.js";

/** Options every workflow takes. `S`: the state type its `state` schema gives. */
export interface WorkflowOptions<S extends object = AnyState> extends RunOptions {
  /**
   * The run's state, declared (12.11): any Standard Schema of an object (zod, valibot…). Each run
   * starts from its defaults (or `run(input, { state })`), `ctx.store` is typed by it (dotted
   * paths, `getState`, `setState`, atomic `edit`), every write is checked, and `handler.state` has it.
   */
  state?: StateSchema<S>;
  /** Accepted event types that arrive from outside the run (`handler.sendEvent`). */
  externalEvents?: readonly EventClass[];
  /** The workflow's name in messages, journals and drawings (default: the class name). */
  name?: string;
  /**
   * Runs of this instance started with `run()` that may be in progress at once (default: no
   * limit). Runs beyond it wait, first come first served, and begin when one ends; a waiting
   * run's timeout starts when it begins. Resumes and child runs are not counted.
   */
  numConcurrentRuns?: number;
}

/** Builds the plan of a workflow whose steps are not its class's own (an App's, from its members). */
export type PlanBuilder = (name: string, options: WorkflowOptions) => Plan;

/** A workflow's own state, kept off its public type. */
interface Internals {
  readonly options: WorkflowOptions;
  readonly steps: StepDefinition[];
  readonly children: Map<string, Workflow>;
  readonly build: PlanBuilder | undefined;
  spec: RunSpec | undefined;
  version: number;
  readonly admission: Admission | undefined;
}

const INTERNALS = new WeakMap<object, Internals>();

function internals(wf: Workflow): Internals {
  return INTERNALS.get(wf) as Internals;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyInput = Record<string, any>;
/** A run's state type without a `state` schema: string keys to JSON values. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyState = Record<string, any>;
type Handler = (this: unknown, ev: Event, ctx: import("./context.js").Context) => unknown;

const CLASS_STEPS = new WeakMap<object, StepDefinition[]>();
const CLASS_DEFS = new WeakMap<object, { version: number; defs: StepDefinition[] }>();
// Bumped by every Class.addStep, so cached plans of that class and its subclasses are rebuilt.
let version = 0;
/** @internal The steps and external events of a workflow, for composing Apps. */
export { classSteps, RESERVED };

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
export class Workflow<TInput extends object = AnyInput, TResult = unknown, TState extends object = AnyState> {
  /** @internal type only: the state type, read by step handler types (a method type, so workflows of any state are assignable). */
  declare readonly "~state"?: { bivariant(state: TState): void }["bivariant"];

  /** @param plan for Apps: builds the plan from the members instead of this class's steps. */
  constructor(options: WorkflowOptions<TState> = {}, plan?: PlanBuilder) {
    if (options === null || typeof options !== "object") throw new TypeError(`Workflow options must be an object, got ${String(options)}.`);
    const schema = options.state as unknown;
    if (schema !== undefined && (schema === null || typeof schema !== "object" || typeof (schema as { "~standard"?: { validate?: unknown } })["~standard"]?.validate !== "function")) {
      throw new TypeError(`Workflow option state must be a Standard Schema (zod, valibot, arktype…), got ${describeValue(schema)}.`);
    }
    const t = options.timeout;
    if (t !== undefined && t !== null && !(typeof t === "number" && t > 0)) {
      throw new TypeError(`Workflow option timeout is in seconds and must be > 0 or null, got ${String(t)}.`);
    }
    const ttl = options.leaseTtlMs;
    if (ttl !== undefined && !(typeof ttl === "number" && Number.isFinite(ttl) && ttl > 0)) {
      throw new TypeError(`Workflow option leaseTtlMs is in milliseconds and must be a number > 0, got ${String(ttl)}.`);
    }
    const limit = options.numConcurrentRuns;
    if (limit !== undefined && !(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) {
      throw new TypeError(`Workflow option numConcurrentRuns must be a whole number ≥ 1 (or Infinity), got ${String(limit)}.`);
    }
    const admission = limit === undefined || limit === Infinity ? undefined : new Admission(limit);
    INTERNALS.set(this, { options: options, steps: [], children: new Map(), build: plan, spec: undefined, version: -1, admission });
  }

  /**
   * Add a step to every instance of this class (and its subclasses): for plain JavaScript,
   * or for steps written in other files.
   */
  static addStep<A extends EventClasses, const E extends EventClasses = never, const R extends ResourceMap = NoResources>(options: StepOptions<A, E, R>, handler: StepHandler<A, E, unknown, AnyInput, R>): typeof Workflow {
    if (this === Workflow) throw new TypeError("Workflow.addStep() would add the step to every workflow; call it on your subclass or on an instance.");
    let list = CLASS_STEPS.get(this);
    if (!list) CLASS_STEPS.set(this, (list = []));
    list.push(defineStep(options, handler as Handler, "class"));
    version++;
    return this;
  }

  /** Add a step to this instance only. Chainable. */
  addStep<A extends EventClasses, const E extends EventClasses = never, const R extends ResourceMap = NoResources>(options: StepOptions<A, E, R>, handler: StepHandler<A, E, this, TInput, R> & ResultCheck<E, this>): this {
    const own = internals(this);
    own.steps.push(defineStep(options, handler as Handler, "instance"));
    own.spec = undefined;
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
  run(input?: TInput | Event, options?: RunStartOptions<TState>): WorkflowHandler<TResult, TState> {
    return startRun(specOf(this), input, undefined, undefined, options) as WorkflowHandler<TResult, TState>;
  }

  /**
   * Continue stored run `runId` (from this workflow's `store`) in this process, e.g. after the
   * process that ran it died: finished steps are not run again, steps that were in flight run
   * again (`ctx.attempt` goes on, `ctx.stepRunId` is the same), a step that was in
   * `waitForEvent` waits again. Returns the run's handler. Fails with `RunNotFoundError`,
   * `RunLockedError` (another process runs it), `RunFinishedError`, `UnknownEventTypeError`…
   */
  resume(runId: string): WorkflowHandler<TResult> {
    return resumeRun(specOf(this), runId) as WorkflowHandler<TResult>;
  }

  /**
   * Deliver `ev` to stored run `runId`, from any process: to the live run when this process
   * runs it, else by resuming the run here with the event (e.g. a person's answer to a run
   * stored as waiting). Returns the run's handler.
   */
  sendEvent(runId: string, ev: Event): WorkflowHandler<TResult> {
    checkSendable(ev, runId, planOf(this).workflow);
    const store = internals(this).options.store;
    const live = liveHandler(store, runId);
    if (live) {
      live.sendEvent(ev);
      return live as WorkflowHandler<TResult>;
    }
    // A resume of it under way here: the event is queued onto the run (issue 11.14).
    const pending = resuming(store, runId);
    if (pending) {
      pending.events.push(ev);
      return pending.handler as WorkflowHandler<TResult>;
    }
    return startRun(specOf(this), new StartEvent(), undefined, { runId, events: [ev] }) as WorkflowHandler<TResult>;
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
      internals(this).children.set(name, wf);
    }
    return this;
  }
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
  const children = target instanceof Workflow ? internals(target).children : new Map<string, Workflow>();
  return { name: plan.workflow, steps: plan.steps, externalEvents: plan.external, startEvent: plan.startClass, problems: plan.problems, owners, children };
}

/** @internal The `state` schema of a workflow instance, if it has one. */
export function stateSchemaOf(wf: Workflow): StateSchema | undefined {
  return internals(wf).options.state;
}

/** The resolved plan of a workflow instance (cached until steps are added). */
export function planOf(wf: Workflow): Plan {
  return specOf(wf).plan;
}

/** What starting a run of `wf` needs: its plan (rebuilt when steps were added since), options and children. */
function specOf(wf: Workflow): RunSpec {
  const own = internals(wf);
  if (own.spec !== undefined && own.version === version) return own.spec;
  const { options } = own;
  const name = options.name ?? (wf.constructor.name || "Workflow");
  const plan = own.build ? own.build(name, options) : new Plan(name, [...classSteps(wf.constructor), ...own.steps], { external: options.externalEvents ?? [], reserved: RESERVED });
  own.version = version;
  return (own.spec = { instance: wf, plan, options, child: childOf, admission: own.admission, stateSchema: options.state as StateSchema | undefined });
}

/** The workflow `ctx.runWorkflow(target)` means from a step of `owner`. */
function childOf(owner: object, target: unknown, parent: { readonly workflowName: string; readonly id: string }): RunSpec {
  const where = { workflow: parent.workflowName, runId: parent.id };
  const added = owner instanceof Workflow ? internals(owner as Workflow).children : new Map<string, Workflow>();
  if (target instanceof Workflow) return specOf(target as Workflow);
  if (typeof target === "string") {
    // A step on a runtime's worker names the workflow (see StepRequest "runWorkflow").
    const wf = added.get(target) ?? [...added.values()].find((w) => planOf(w).workflow === target);
    if (wf === undefined) throw new WorkflowError(`ctx.runWorkflow("${target}"): no workflow by that name was added to workflow "${parent.workflowName}" (added: ${[...added.keys()].join(", ") || "none"}); add it with addWorkflows({ ${target}: instance }).`, where);
    return specOf(wf);
  }
  if (typeof target === "function" && (target === Workflow || target.prototype instanceof Workflow)) {
    const list = [...added.values()];
    return specOf(list.find((w) => w.constructor === target) ?? list.find((w) => w instanceof target) ?? new (target as new () => Workflow)());
  }
  throw new WorkflowError(`ctx.runWorkflow() takes a Workflow class or instance, got ${describeValue(target)}.`, where);
}

export type { StepDefinition };
