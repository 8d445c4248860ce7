/** How long a {@link resource}'s value lives: one per run (shared by its steps), per step invocation, or per workflow instance (shared by its runs). */
export type ResourceScope = "run" | "invocation" | "workflow";

/**
 * Something steps need (an LLM client, a memory, a database pool, another workflow), made by a
 * factory and handed to each step that lists it in its `resources` option, as the handler's third
 * argument (issue 12.15, LlamaIndex's `Resource`). Replace it in tests with {@link provide}.
 */
export class Resource<T = unknown> {
  /** @internal use {@link resource} */
  constructor(
    /** Makes the value, synchronously or not. */
    readonly factory: () => T | Promise<T>,
    readonly scope: ResourceScope,
    /** The name drawings and errors use (default: the factory's name, or the step's key for it). */
    readonly name: string | undefined,
  ) {}
}

/**
 * Declare a resource: `factory` makes its value (sync or async); `scope` says how long a value
 * lives: `"run"` (default: one per run, made when a step first needs it), `"invocation"` (a new
 * one for each step attempt), `"workflow"` (one per workflow instance, shared by all its runs).
 * @example
 * const llm = resource(() => new OpenAI(), { name: "llm" });
 * wf.addStep({ accepts: StartEvent, emits: StopEvent, resources: { llm } }, async (ev, ctx, { llm }) => ...);
 */
export function resource<T>(factory: () => T | Promise<T>, options: { scope?: ResourceScope; name?: string } = {}): Resource<Awaited<T>> {
  if (typeof factory !== "function") throw new TypeError(`resource(factory): the factory must be a function, got ${factory === null ? "null" : typeof factory}.`);
  const scope = options.scope ?? "run";
  if (scope !== "run" && scope !== "invocation" && scope !== "workflow") throw new TypeError(`resource(): scope must be "run", "invocation" or "workflow", got ${JSON.stringify(scope)}.`);
  if (options.name !== undefined && (typeof options.name !== "string" || options.name === "")) throw new TypeError(`resource(): name must be a non-empty string, got ${JSON.stringify(options.name)}.`);
  return new Resource(factory as () => Awaited<T> | Promise<Awaited<T>>, scope, options.name ?? (factory.name || undefined));
}

/** A resource's value given for one run (`wf.run(input, { resources: [provide(r, value)] })`), replacing its factory. */
export interface Provided<T = unknown> {
  readonly resource: Resource<T>;
  readonly value: T;
}

/** Replace `resource` by `value` in one run: `wf.run(input, { resources: [provide(llm, fakeLlm)] })`. */
export function provide<T>(resource: Resource<T>, value: T): Provided<T> {
  if (!(resource instanceof Resource)) throw new TypeError(`provide(resource, value): the first argument must be made with resource(), got ${resource === null ? "null" : typeof resource}.`);
  return { resource, value };
}

/** The resources option of a step: its keys name the handler's third argument's fields. */
export type ResourceMap = Readonly<Record<string, Resource<unknown>>>;
/** The handler's third argument for a step with `resources: R`. */
export type ResourcesOf<R> = { readonly [K in keyof R]: R[K] extends Resource<infer T> ? T : never };

/** Values of `workflow`-scoped resources, per workflow instance. */
const SHARED = new WeakMap<object, Map<Resource, unknown>>();

/**
 * The values for a step's `resources` (`map`): from `provided`, the run's `cache` (scope `"run"`),
 * the workflow `instance`'s (scope `"workflow"`), or made now. Sync when every value is at hand.
 */
export function resolveResources(map: ResourceMap, cache: Map<Resource, unknown>, instance: object, provided: ReadonlyMap<Resource, unknown> | undefined): Record<string, unknown> | Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let pending: Promise<unknown>[] | undefined;
  for (const [key, r] of Object.entries(map)) {
    let value: unknown;
    if (provided?.has(r) === true) value = provided.get(r);
    else if (r.scope === "invocation") value = r.factory();
    else {
      let store = cache;
      if (r.scope === "workflow") {
        store = SHARED.get(instance) as Map<Resource, unknown>;
        if (store === undefined) SHARED.set(instance, (store = new Map<Resource, unknown>()));
      }
      if (store.has(r)) value = store.get(r);
      else {
        value = r.factory();
        store.set(r, value);
        // A failed async factory is not kept: the next step tries again.
        if (value instanceof Promise) value.catch(() => store.delete(r));
      }
    }
    if (value instanceof Promise) (pending ??= []).push((value as Promise<unknown>).then((v) => (out[key] = v)));
    else out[key] = value;
  }
  return pending === undefined ? out : Promise.all(pending).then(() => out);
}
