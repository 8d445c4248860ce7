/**
 * The function-style API (issue 12.14): workflows from plain functions, no classes or decorators.
 * Built only on the public engine: `createWorkflow` returns a {@link Workflow} whose steps are
 * added with `addStep`, so runs, stores and resume, runtimes, Apps and drawings work as for a class.
 */
import type { Context } from "./core/context.js";
import type { Event, EventClass, EventOf, StartEventConstructor, StopEvent, StopEventConstructor } from "./core/events.js";
import { describeValue, step as decorator, type AcceptedEvent, type EventClasses, type NoResources, type StepOptions, type StepResult } from "./core/step.js";
import type { ResourceMap, ResourcesOf } from "./core/resource.js";
import type { StateSchema } from "./core/state.js";
import { Workflow, type WorkflowOptions } from "./core/workflow.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyInput = Record<string, any>;

/**
 * A step not yet in any workflow, made with `step(options, handler)`: put it in
 * `createWorkflow({ steps })`, in as many workflows as you like.
 * `I` is the run input its StartEvent carries (`unknown` when it accepts no StartEvent);
 * `R` what a run it ends resolves to (`never` when it ends none, or the compiler cannot tell).
 */
export interface WorkflowStep<I = unknown, R = never> {
  /** The options it was made with (`name` is set by `createWorkflow` from its key). */
  readonly options: StepOptions;
  readonly handler: (ev: Event, ctx: Context, resources?: Record<string, unknown>) => unknown;
  /** Type-only: never set. A function type keeps the input contravariant. */
  readonly "~types"?: { readonly input: (input: I) => void; readonly result: R };
}

// Method syntax keeps parameters bivariant, so a handler may narrow its event's data type.
// `S`: the state type its `ctx` is annotated with (`ctx: Context<MyState>`), typing `ctx.store`.
type Bivariant<Ev, R, Res, S extends object> = { handle(ev: Ev, ctx: Context<S>, resources: ResourcesOf<Res>): R | Promise<R> }["handle"];

type Classes<E> = E extends readonly (infer C)[] ? C : E;
type IsPlainStart<C> = C extends StartEventConstructor ? (StartEventConstructor extends C ? true : false) : false;
/** The event classes in A other than the plain StartEvent, as instances. */
type OtherEvents<A> = Classes<A> extends infer C ? (C extends unknown ? (IsPlainStart<C> extends true ? never : EventOf<C>) : never) : never;
type Fields<S> = { -readonly [K in Exclude<keyof S, keyof Event>]: S[K] } & {};
/** Known fields of an input type; `unknown` for an open record (nothing known). */
type Known<X> = string extends keyof X ? unknown : X;
/**
 * The run input a step with `accepts: A` reads, when it accepts the plain StartEvent: the fields
 * of the StartEvent its handler annotates (`Ev`), and the input the workflow declares (`I`).
 */
type StartInput<A, Ev, I> = true extends IsPlainStart<Classes<A>> ? Merge<Known<I> & (Exclude<Ev, OtherEvents<A>> extends infer S ? ([S] extends [never] ? unknown : Known<Fields<S>>) : unknown)> : unknown;
/** One object type for an intersection of them (what tsc shows), `unknown` left alone. */
type Merge<X> = unknown extends X ? unknown : { [K in keyof X]: X[K] } & {};
type Flat<R> = R extends readonly (infer U)[] ? U : R;
/** StopEvent subclasses among the classes C: a run that ends with one resolves to the event itself. */
type StopSubclass<C> = C extends StopEventConstructor ? never : C extends EventClass<infer S> ? (S extends StopEvent ? S : never) : never;
type EmitsPlainStop<E> = true extends (Classes<E> extends infer C ? (C extends StopEventConstructor ? true : false) : false) ? true : false;
/** What a run resolves to when this step ends it: the `result` of the StopEvents it returns, or a StopEvent subclass whole. */
type StepRunResult<E, R> =
  | (EmitsPlainStop<E> extends true ? (Exclude<Extract<Flat<R>, StopEvent>, StopSubclass<Classes<E>>> extends infer S ? (S extends { readonly result: infer X } ? X : never) : never) : never)
  | StopSubclass<Classes<E>>;

/** The second form of {@link step}: `step(options, handler)` makes a step value for {@link createWorkflow}. */
export interface StepFactory {
  /**
   * A step as a value, for {@link createWorkflow}: the handler's event is typed from `accepts`
   * (a union for several), its return checked against `emits`. Annotate a StartEvent handler's
   * event (`ev: StartEvent<{ topic: string }>`) to type the workflow's input, and its context
   * (`ctx: Context<State>`, the type of the workflow's `state` schema) to type `ctx.store`.
   * @example
   * const generate = step({ accepts: StartEvent, emits: JokeEvent }, async (ev: StartEvent<{ topic: string }>) =>
   *   new JokeEvent({ joke: `a joke about ${ev.topic}` }));
   */
  <
    const A extends EventClasses,
    const E extends EventClasses = never,
    I extends object = AnyInput,
    Ev extends AcceptedEvent<A, AnyInput> = AcceptedEvent<A, I>,
    R extends StepResult<EventOf<E>> = StepResult<EventOf<E>>,
    const Res extends ResourceMap = NoResources,
    S extends object = AnyInput,
  >(
    options: StepOptions<A, E, Res>,
    handler: Bivariant<Ev, R, Res, S>,
  ): WorkflowStep<StartInput<A, Ev, I>, StepRunResult<E, R>>;
}

const STEPS = new WeakSet<object>();

/**
 * `@step(options)` marks a method of a Workflow class as a step (TC39 decorator);
 * `step(options, handler)` makes a step as a value, for {@link createWorkflow}.
 * @example
 * const flow = createWorkflow({
 *   name: "hello",
 *   steps: { greet: step({ accepts: StartEvent, emits: StopEvent }, (ev: StartEvent<{ name: string }>) => new StopEvent({ result: `hi ${ev.name}` })) },
 * });
 * await flow.run({ name: "Ada" }); // "hi Ada"
 */
export const step: typeof decorator & StepFactory = function step(options: StepOptions, ...rest: unknown[]): unknown {
  if (rest.length === 0) return decorator(options);
  const handler = rest[0];
  if (options === null || typeof options !== "object") throw new TypeError(`step(options, handler): options must be an object ({ accepts, emits, ... }), got ${describeValue(options)}.`);
  if (typeof handler !== "function") throw new TypeError(`step(options, handler): the handler is ${describeValue(handler)}, not a function.`);
  const value: WorkflowStep = Object.freeze({ options: Object.freeze({ ...options }), handler: handler as WorkflowStep["handler"] });
  STEPS.add(value);
  return value;
} as typeof decorator & StepFactory;

/** Step values by name (the name each step gets), or a list of steps each named by its `name` option or function name. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WorkflowSteps = Readonly<Record<string, WorkflowStep<any, unknown>>> | readonly WorkflowStep<any, unknown>[];

type Values<S> = S extends readonly (infer V)[] ? V : S[keyof S];
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer X) => void ? X : never;
// A step that reads no input (`unknown`) adds nothing: `never`, left out of the intersection.
type StepInputs<S> = Values<S> extends infer V ? (V extends WorkflowStep<infer I, unknown> ? (unknown extends I ? never : I) : never) : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The run input of a workflow made of the steps S: what every StartEvent step reads. */
export type InputOfSteps<S> = [UnionToIntersection<StepInputs<S>>] extends [infer X] ? (unknown extends X ? AnyInput : X extends object ? Simplify<X> : AnyInput) : AnyInput;
/** What a run of a workflow made of the steps S resolves to (`unknown` when no step says). */
export type ResultOfSteps<S> = [Values<S> extends infer V ? (V extends WorkflowStep<never, infer R> ? R : never) : never] extends [infer R] ? ([R] extends [never] ? unknown : R) : unknown;

/** Options of {@link createWorkflow}: the workflow's name, its steps, and every {@link WorkflowOptions}. */
export interface CreateWorkflowOptions<S extends WorkflowSteps = WorkflowSteps> extends WorkflowOptions {
  /** The workflow's name in journals, drawings, Apps and on the server: required, as there is no class name. */
  name: string;
  /** The steps: `{ name: step(...) }` (the key is the step's name: keep it stable for stored runs), or a list of named steps. */
  steps: S;
}

/**
 * A workflow from step values, no class or decorator: the same engine as `class extends Workflow`
 * (it returns a {@link Workflow}: `run`, `resume`, `sendEvent`, `addStep`, App membership and
 * drawing all work). The run's input and result are inferred from the steps, or given as
 * `createWorkflow<Input, Result>(...)` as for `Workflow<Input, Result>`.
 * @example
 * const jokeFlow = createWorkflow({
 *   name: "joke",
 *   timeout: 30,
 *   steps: {
 *     generate: step({ accepts: StartEvent, emits: JokeEvent }, async (ev: StartEvent<{ topic: string }>) => new JokeEvent({ joke: await llm(ev.topic) })),
 *     critique: step({ accepts: JokeEvent, emits: StopEvent }, async (ev) => new StopEvent({ result: await llm(ev.joke) })),
 *   },
 * });
 * const critique = await jokeFlow.run({ topic: "pirates" }); // string
 */
export function createWorkflow<const S extends WorkflowSteps, St extends object = AnyInput>(options: CreateWorkflowOptions<S> & { state?: StateSchema<St> }): Workflow<InputOfSteps<S>, ResultOfSteps<S>, St>;
export function createWorkflow<I extends object, R>(options: CreateWorkflowOptions<Readonly<Record<string, WorkflowStep<I, R>>> | readonly WorkflowStep<I, R>[]>): Workflow<I, R>;
export function createWorkflow(options: CreateWorkflowOptions): Workflow {
  if (options === null || typeof options !== "object") throw new TypeError(`createWorkflow(options) takes an object ({ name, steps, ... }), got ${describeValue(options)}.`);
  const { steps, ...rest } = options;
  if (typeof rest.name !== "string" || rest.name === "") throw new TypeError(`createWorkflow: name must be a non-empty string (it names the workflow in journals, drawings and Apps), got ${describeValue(rest.name)}.`);
  if (steps === null || typeof steps !== "object") throw new TypeError(`createWorkflow "${rest.name}": steps must be { name: step(options, handler), ... } or a list of steps, got ${describeValue(steps)}.`);
  const entries: [string | undefined, unknown, string][] = Array.isArray(steps)
    ? (steps as readonly unknown[]).map((s, i) => [undefined, s, `steps[${i}]`])
    : Object.entries(steps).map(([k, s]) => [k, s, `steps.${k}`]);
  const wf = new Workflow(rest);
  for (const [key, value, where] of entries) {
    if (!STEPS.has(value as object)) {
      const hint = typeof value === "function" ? " (step(options) with no handler is the decorator)" : "";
      throw new TypeError(`createWorkflow "${rest.name}": ${where} is ${describeValue(value)}${hint}, not a step; make it with step(options, handler).`);
    }
    const s = value as WorkflowStep;
    const own = s.options.name;
    if (key !== undefined && own !== undefined && own !== key) throw new TypeError(`createWorkflow "${rest.name}": ${where} has name "${own}" in its options; the key names the step, so drop the option or use "${own}" as the key.`);
    const name = key ?? own ?? (s.handler.name || undefined);
    if (name === undefined) {
      throw new TypeError(`createWorkflow "${rest.name}": ${where} has no name; give it a name option (step({ name: "...", ... }, handler)) or pass steps as { name: step(...) }. Stored runs find their steps by name, so it must not be generated.`);
    }
    wf.addStep({ ...s.options, name }, s.handler as never);
  }
  return wf;
}
