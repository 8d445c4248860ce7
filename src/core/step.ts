import type { Context } from "./context.js";
import { WorkflowRuntimeError } from "./errors.js";
import type { StepKind } from "./trace.js";
import { Resource, type ResourceMap, type ResourcesOf } from "./resource.js";
import { eventTypeName, isEvent, type Event, type EventClass, type EventOf, type StartEvent, type StartEventConstructor, type StopEvent, type StopEventConstructor } from "./events.js";

/** An error class, for {@link RetryPolicy.retryOn}. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => unknown;

/** How a failing step is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included (≥ 1). */
  maxAttempts: number;
  /** Seconds to wait before the second attempt (default 0). */
  delay?: number;
  /** Factor the delay grows by after each attempt (default 1: a constant delay). */
  backoff?: number;
  /** Seconds no delay exceeds, however far `backoff` grows it (default: no cap). */
  maxDelay?: number;
  /**
   * Randomness in each delay: a fraction 0–1 of it that is taken off at random (`true` is 1,
   * "full jitter": anywhere from 0 to the delay). Default 0. Spreads retries of many runs apart.
   */
  jitter?: boolean | number;
  /**
   * Which errors are retried (default: every error): error classes (`instanceof`), or a
   * predicate of the error and the attempt that failed (1-based). Any other error fails the step
   * at once. A predicate that throws counts as `false`.
   */
  retryOn?: readonly ErrorClass[] | ((error: unknown, attempt: number) => boolean);
}

/** A {@link RetryPolicy} with its defaults filled in (`maxDelay` Infinity, `jitter` a fraction). */
export interface ResolvedRetry {
  readonly maxAttempts: number;
  readonly delay: number;
  readonly backoff: number;
  readonly maxDelay: number;
  readonly jitter: number;
  readonly retryOn: ((error: unknown, attempt: number) => boolean) | undefined;
}

/** Seconds to wait after failed attempt `attempt` (1-based) before the next. */
export function retryDelay(retry: ResolvedRetry, attempt: number, random: () => number = Math.random): number {
  const delay = Math.min(retry.delay * retry.backoff ** (attempt - 1), retry.maxDelay);
  return retry.jitter === 0 ? delay : delay * (1 - retry.jitter * random());
}

/** Whether `retry` retries `error`, thrown by attempt `attempt`. */
export function retries(retry: ResolvedRetry, error: unknown, attempt: number): boolean {
  if (attempt >= retry.maxAttempts) return false;
  if (retry.retryOn === undefined) return true;
  try {
    return retry.retryOn(error, attempt) === true;
  } catch {
    return false;
  }
}

/** One event class, or several. */
export type EventClasses = EventClass | readonly EventClass[];

/** No resources: the default of a step's `resources` type. */
export type NoResources = Readonly<Record<never, never>>;

/** Options of {@link step} and `addStep`. */
export interface StepOptions<A extends EventClasses = EventClasses, E extends EventClasses = EventClasses, R extends ResourceMap = ResourceMap> {
  /**
   * What the step needs, made by {@link resource} factories: `{ llm, memory }`. The handler gets
   * the values as its third argument, typed from the factories (issue 12.15).
   */
  resources?: R;
  /** The event class (or classes) this step handles; subclasses reach it too. */
  accepts: A;
  /** Every event class this step returns or sends with `ctx.sendEvent`. */
  emits?: E;
  /** Event classes received mid-step through `ctx.waitForEvent` or `ctx.call`. */
  waitsFor?: EventClasses;
  /** Workflows (classes or instances) this step runs with `ctx.runWorkflow`: drawn as edges to them. */
  calls?: object | readonly object[];
  /** Invocations of this step in flight at once within one run (default 4; `Infinity` allowed). */
  numWorkers?: number;
  retry?: RetryPolicy;
  /** Seconds one attempt may take; `null` (default) for no limit. */
  timeout?: number | null;
  /** The step's name (default: the method or function name). */
  name?: string;
  /** What the step does, for traces: `"tool"` steps get `execute_tool` spans, `"llm"` steps model-call spans. */
  kind?: StepKind;
  /**
   * Invocations of this step running at once across every process, for a runtime with a shared
   * queue (BullMQ: the step gets a queue of its own with that global concurrency). Unlike
   * `numWorkers`, it holds across runs and machines.
   */
  globalConcurrency?: number;
}

/** What a step may return: an event, several (fan-out), or nothing. */
export type StepResult<E> = E | readonly E[] | void | undefined | null;

// Method syntax keeps parameters bivariant, so a handler may narrow its event's data type.
type Bivariant<Ev, R, This, Res = NoResources> = { handle(this: This, ev: Ev, ctx: Context<StateOf<This>>, resources: ResourcesOf<Res>): R | Promise<R> }["handle"];
/** The state type of workflow `This` (its `state` schema's output), or never without one. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type StateOf<This> = This extends { readonly "~state"?: (s: infer S) => void } ? (S extends object ? S : Record<string, any>) : Record<string, any>;

type AcceptedOne<C, I extends object> = C extends StartEventConstructor ? (StartEventConstructor extends C ? StartEvent<I> : EventOf<C>) : EventOf<C>;
/** The event a step with `accepts: A` receives; a plain StartEvent carries the workflow's input `I`. */
export type AcceptedEvent<A, I extends object> = A extends readonly (infer C)[] ? AcceptedOne<C, I> : AcceptedOne<A, I>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyInput = Record<string, any>;
/** The input type of the workflow `This` (what its `run()` takes). */
type InputOf<This> = This extends { run(input?: infer I): unknown } ? (Exclude<I, Event | undefined> extends infer J extends object ? J : AnyInput) : AnyInput;

/** A step handler's type for the given accepted and emitted classes. */
export type StepHandler<A extends EventClasses, E extends EventClasses, This = unknown, I extends object = InputOf<This>, R = NoResources> = Bivariant<AcceptedEvent<A, I>, StepResult<EventOf<E>>, This, R>;

type Classes<E> = E extends readonly (infer C)[] ? C : E;
/** StopEvent subclasses among the classes C: a run that ends with one resolves to the event itself. */
type StopSubclass<C> = C extends StopEventConstructor ? never : C extends EventClass<infer I> ? (I extends StopEvent ? I : never) : never;
type RunResult<This> = This extends { run(input?: never): PromiseLike<infer R> } ? R : unknown;
type Mismatch<I, R> = I extends R ? never : I;
/**
 * `unknown` when every StopEvent subclass in `E` is what the workflow `This` says its runs
 * resolve to (issue 12.2); otherwise a type whose one key is the message tsc shows.
 */
export type ResultCheck<E, This> = [Mismatch<StopSubclass<Classes<E>>, RunResult<This>>] extends [never]
  ? unknown
  : { "Error: this step ends the run with a StopEvent subclass; the run resolves to that event, so list it in the Workflow's result type": Mismatch<StopSubclass<Classes<E>>, RunResult<This>> };

/** A step, resolved: what the run loop and validation work from. */
export interface StepDefinition {
  readonly name: string;
  readonly accepts: readonly EventClass[];
  readonly emits: readonly EventClass[];
  readonly waitsFor: readonly EventClass[];
  /** Workflows the step declares it runs with `ctx.runWorkflow` (for drawings). */
  readonly calls: readonly object[];
  readonly numWorkers: number;
  readonly retry: ResolvedRetry | undefined;
  /** Seconds per attempt, or null. */
  readonly timeout: number | null;
  readonly kind: StepKind | undefined;
  /** The cluster-wide limit, for runtimes with a shared queue. */
  readonly globalConcurrency?: number;
  /** Called with `this` set to the workflow instance; the third argument only when the step has `resources`. */
  readonly handler: (this: unknown, ev: Event, ctx: Context, resources?: Record<string, unknown>) => unknown;
  /** The step's `resources` option, when it has one. */
  readonly resources?: ResourceMap | undefined;
  /** Where it came from: a decorated method, `Class.addStep`, or `instance.addStep`. */
  readonly origin: "method" | "class" | "instance";
  /** The method's property name, for decorated steps. */
  readonly method?: string;
  /** Problems found in the options, reported by validation. */
  readonly problems: readonly string[];
}

const DECORATED = new WeakMap<object, StepOptions>();
let anonymous = 0;

const asArray = (v: EventClasses | undefined): readonly EventClass[] =>
  v === undefined ? [] : Array.isArray(v) ? (v as readonly EventClass[]) : [v as EventClass];

/** Turns options and a function into a checked {@link StepDefinition}. */
export function defineStep(
  options: StepOptions,
  handler: (this: unknown, ev: Event, ctx: Context) => unknown,
  origin: StepDefinition["origin"],
  method?: string,
): StepDefinition {
  const problems: string[] = [];
  const name = options.name ?? method ?? (handler.name || `step${++anonymous}`);
  const label = `Step "${name}"`;
  const checkClasses = (key: "accepts" | "emits" | "waitsFor") => {
    const list = asArray(options[key]);
    list.forEach((c, i) => {
      if (!isEventClassLike(c)) problems.push(`${label}: ${key}[${i}] is ${describeValue(c)}, not an Event class.`);
    });
    return list.filter(isEventClassLike);
  };
  if (options.accepts === undefined || asArray(options.accepts).length === 0) problems.push(`${label} accepts no event class; pass accepts: SomeEvent.`);
  const numWorkers = options.numWorkers ?? 4;
  if (!(numWorkers === Infinity || (Number.isInteger(numWorkers) && numWorkers >= 1))) {
    problems.push(`${label}: numWorkers must be a whole number ≥ 1 or Infinity, got ${String(numWorkers)}.`);
  }
  const timeout = options.timeout ?? null;
  if (timeout !== null && !(typeof timeout === "number" && timeout > 0)) problems.push(`${label}: timeout must be a number of seconds > 0 or null, got ${String(timeout)}.`);
  let retry: ResolvedRetry | undefined;
  if (options.retry !== undefined) {
    const { maxAttempts, delay = 0, backoff = 1, maxDelay = Infinity, jitter = 0, retryOn } = options.retry;
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) problems.push(`${label}: retry.maxAttempts must be a whole number ≥ 1, got ${String(maxAttempts)}.`);
    if (!(delay >= 0)) problems.push(`${label}: retry.delay must be seconds ≥ 0, got ${String(delay)}.`);
    if (!(backoff >= 1)) problems.push(`${label}: retry.backoff must be ≥ 1, got ${String(backoff)}.`);
    if (!(typeof maxDelay === "number" && maxDelay >= 0)) problems.push(`${label}: retry.maxDelay must be seconds ≥ 0, got ${describeValue(maxDelay)}.`);
    const share = jitter === true ? 1 : jitter === false ? 0 : jitter;
    if (!(typeof share === "number" && share >= 0 && share <= 1)) problems.push(`${label}: retry.jitter must be true, false or a fraction from 0 to 1, got ${describeValue(jitter)}.`);
    let predicate: ResolvedRetry["retryOn"];
    if (typeof retryOn === "function") predicate = retryOn;
    else if (Array.isArray(retryOn)) {
      const classes = retryOn as readonly unknown[];
      const bad = classes.find((c) => typeof c !== "function");
      if (bad !== undefined || classes.length === 0) problems.push(`${label}: retry.retryOn must be error classes or a function (error, attempt) => boolean, got ${bad !== undefined ? describeValue(bad) : "an empty list"}.`);
      const list = classes.filter((c): c is ErrorClass => typeof c === "function");
      predicate = (error) => list.some((c) => error instanceof c);
    } else if (retryOn !== undefined) problems.push(`${label}: retry.retryOn must be error classes or a function (error, attempt) => boolean, got ${describeValue(retryOn)}.`);
    retry = { maxAttempts, delay, backoff, maxDelay: typeof maxDelay === "number" ? maxDelay : Infinity, jitter: typeof share === "number" && share >= 0 && share <= 1 ? share : 0, retryOn: predicate };
  }
  if (typeof handler !== "function") problems.push(`${label}: the handler is ${describeValue(handler)}, not a function.`);
  let resources: ResourceMap | undefined;
  if (options.resources !== undefined) {
    if (options.resources === null || typeof options.resources !== "object" || Array.isArray(options.resources)) problems.push(`${label}: resources must be an object of resource() values ({ llm: resource(...) }), got ${describeValue(options.resources)}.`);
    else {
      for (const [key, r] of Object.entries(options.resources)) if (!((r as unknown) instanceof Resource)) problems.push(`${label}: resources.${key} is ${describeValue(r)}, not made with resource(factory).`);
      resources = Object.keys(options.resources).length > 0 ? options.resources : undefined;
    }
  }
  const kind = options.kind;
  if (kind !== undefined && kind !== "tool" && kind !== "llm") problems.push(`${label}: kind must be "tool" or "llm", got ${describeValue(kind)}.`);
  const globalConcurrency = options.globalConcurrency;
  const globalOk = globalConcurrency === undefined || (Number.isInteger(globalConcurrency) && globalConcurrency >= 1);
  if (!globalOk) problems.push(`${label}: globalConcurrency must be a whole number ≥ 1, got ${String(globalConcurrency)}.`);
  return {
    name,
    accepts: checkClasses("accepts"),
    emits: checkClasses("emits"),
    waitsFor: checkClasses("waitsFor"),
    calls: options.calls === undefined ? [] : Array.isArray(options.calls) ? (options.calls as readonly object[]) : [options.calls],
    numWorkers: numWorkers === Infinity || (Number.isInteger(numWorkers) && numWorkers >= 1) ? numWorkers : 1,
    retry,
    timeout,
    kind: kind === "tool" || kind === "llm" ? kind : undefined,
    ...(globalConcurrency !== undefined && globalOk ? { globalConcurrency } : {}),
    ...(resources !== undefined ? { resources } : {}),
    handler,
    origin,
    ...(method === undefined ? {} : { method }),
    problems,
  };
}

/**
 * Throws a `WorkflowRuntimeError` when `ev` is not an event that step `def` lists in its
 * `emits`: one check for steps in the run's process and on a runtime's workers.
 */
export function checkEmits(def: Pick<StepDefinition, "name" | "emits">, ev: unknown, how: "returned" | "sent", workflow: string, runId: string): asserts ev is Event {
  const step = def.name;
  const context = { workflow, runId, step };
  if (!isEvent(ev)) {
    throw new WorkflowRuntimeError(`Step "${step}" ${how} ${describeValue(ev)}, which is not an Event; return an event, an array of events, or nothing.`, "NOT_AN_EVENT", context);
  }
  if (!def.emits.some((e) => ev instanceof e)) {
    const list = def.emits.map(eventTypeName).join(", ") || "nothing";
    throw new WorkflowRuntimeError(`Step "${step}" ${how} ${eventTypeName(ev.constructor as EventClass)}, which its emits does not list (emits: ${list}). Add it to the step's emits.`, "UNDECLARED_EVENT", context);
  }
}

function isEventClassLike(c: unknown): c is EventClass {
  // Checked structurally here to keep this module free of a runtime import cycle.
  return typeof c === "function" && typeof (c.prototype as { toJSON?: unknown } | undefined)?.toJSON === "function";
}

/** A value, described for an error message (what a step returned or sent, an option passed). */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}`;
  if (typeof v === "object") return `an object (${(v).constructor?.name ?? "Object"})`;
  if (typeof v === "bigint") return `bigint ${v}n`;
  if (typeof v === "symbol") return v.toString();
  // JSON would say "null" for NaN and Infinity.
  if (typeof v === "number") return `number ${String(v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Marks a method as a step (TC39 standard decorator).
 * @example
 * class Hello extends Workflow {
 *   @step({ accepts: StartEvent, emits: StopEvent })
 *   async greet(ev: StartEvent<{ name: string }>) { return new StopEvent({ result: `hi ${ev.name}` }); }
 * }
 */
export function step<const A extends EventClasses, const E extends EventClasses = never, const R extends ResourceMap = NoResources>(options: StepOptions<A, E, R>) {
  return function <This, F extends StepHandler<A, E, This, InputOf<This>, R>>(method: F & ResultCheck<E, This>, context: ClassMethodDecoratorContext<This, F>): void {
    // TypeScript's legacy decorators call (prototype, name, descriptor): no context object.
    if (typeof context !== "object" || context === null) {
      throw new TypeError(
        `@step got TypeScript's legacy decorator arguments (for "${String(context)}"): stepwise uses standard (TC39) decorators. ` +
          `Remove "experimentalDecorators" from your tsconfig.json (or set it to false), or use createWorkflow/addStep, which need no decorators.`,
      );
    }
    if (context.kind !== "method" || context.static) {
      throw new TypeError(`@step decorates instance methods; "${String(context.name)}" is a ${context.static ? "static " : ""}${context.kind}.`);
    }
    if (typeof context.name !== "string") throw new TypeError("@step methods need a string name, not a symbol.");
    DECORATED.set(method, options);
  };
}

/** The decorator options of a method, if it is a step. */
export function decoratedOptions(fn: unknown): StepOptions | undefined {
  return typeof fn === "function" ? DECORATED.get(fn) : undefined;
}
