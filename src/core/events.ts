import type { StandardSchemaV1 } from "@standard-schema/spec";
import { EventValidationError } from "./errors.js";

/** The JSON form of an event: its stable type name and its data. */
export interface EventJSON {
  type: string;
  data: Record<string, unknown>;
}

/** Any event class (a constructor whose instances are events). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventClass<E extends EventBase = EventBase> = abstract new (...args: any[]) => E;

/** Instance type of an event class, or of each class in an array of them. */
export type EventOf<C> = C extends readonly (infer I)[]
  ? I extends EventClass<infer E>
    ? E
    : never
  : C extends EventClass<infer E>
    ? E
    : never;

const SCHEMA = Symbol("stepwise.schema");

/** The machinery every event shares; user data lives in own properties. */
class EventBase {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(data?: any) {
    // An event class made by Event.schema() validates in its own constructor, before this one:
    // a plain event pays no lookup for a schema it does not have.
    if (data === undefined) return;
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      const type = eventTypeName(new.target);
      throw new EventValidationError(`${type} takes an object of fields, got ${describe(data)}.`, { eventType: type, issues: [] });
    }
    assignData(this, new.target.prototype, data as object);
  }

  /** `{ type, data }`: the stable type name and the event's own fields. */
  toJSON(): EventJSON {
    return { type: eventTypeName(this.constructor as EventClass), data: { ...this } as Record<string, unknown> };
  }
}

/**
 * The prototypes data was last copied onto, and the keys found free on each (in the order
 * copied): a key at the same place as last time for the same class needs no new check. A few
 * entries compared by identity cost less than any lookup keyed by the class (issue 17.7).
 */
const CHECKED_PROTOS: (object | undefined)[] = [undefined, undefined, undefined, undefined];
const CHECKED_KEYS: (readonly string[])[] = [[], [], [], []];
let checkedNext = 0;

/**
 * Copy an event's fields onto it. A key the event already has through its prototype
 * (`constructor`, `__proto__`, `toJSON`, `hasOwnProperty`, a method of the class...) is
 * rejected: shadowing it would let data sent from outside change the event's type name,
 * its prototype or how it serialises (issue 11.1).
 */
function assignData(ev: EventBase, proto: object, data: object): void {
  const target = ev as unknown as Record<string, unknown>;
  const source = data as Record<string, unknown>;
  const from = Object.getPrototypeOf(source) as unknown;
  if (from !== Object.prototype && from !== null) {
    for (const key of Object.keys(source)) {
      if (key in proto) throw reservedKey(ev, key);
      target[key] = source[key];
    }
    return;
  }
  const P = CHECKED_PROTOS;
  const entry = proto === P[0] ? 0 : proto === P[1] ? 1 : proto === P[2] ? 2 : proto === P[3] ? 3 : -1;
  const known = entry < 0 ? NO_KEYS : (CHECKED_KEYS[entry] as readonly string[]);
  let fresh = false;
  let n = 0;
  // A plain object's for-in visits its own keys, as Object.keys does, without building an array;
  // it also visits an enumerable key someone added to Object.prototype, which is `in proto` and skipped.
  for (const key in source) {
    if (n < known.length && known[n] === key) {
      n++;
      target[key] = source[key];
      continue;
    }
    if (key in proto) {
      if (Object.hasOwn(source, key)) throw reservedKey(ev, key);
      continue;
    }
    fresh = true;
    n++;
    target[key] = source[key];
  }
  if (fresh) rememberChecked(proto, entry, source, target);
}

/** Remember the keys just copied from `source` onto the new event `target` (its only own keys yet). */
function rememberChecked(proto: object, entry: number, source: Record<string, unknown>, target: object): void {
  const keys: string[] = [];
  for (const key in source) if (Object.hasOwn(target, key)) keys.push(key);
  if (entry < 0) {
    entry = checkedNext;
    checkedNext = (checkedNext + 1) % CHECKED_PROTOS.length;
    CHECKED_PROTOS[entry] = proto;
  }
  CHECKED_KEYS[entry] = keys;
}
const NO_KEYS: readonly string[] = [];

function reservedKey(ev: EventBase, key: string): EventValidationError {
  const type = eventTypeName((Object.getPrototypeOf(ev) as { constructor: EventClass }).constructor);
  return new EventValidationError(
    `${type} got a field named "${key}", which every event already has (its class, prototype or methods); rename the field.`,
    { eventType: type, issues: [{ message: `reserved field name "${key}"`, path: [key] }] },
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function validateWith(schema: StandardSchemaV1, data: unknown, cls: EventClass): unknown {
  const result = schema["~standard"].validate(data ?? {});
  const type = eventTypeName(cls);
  if (result instanceof Promise) {
    throw new EventValidationError(`The schema of ${type} validates asynchronously; event schemas must be synchronous.`, {
      eventType: type,
      issues: [],
    });
  }
  if (result.issues) {
    const parts = result.issues.map((issue) => {
      const path = (issue.path ?? [])
        .map((p) => (typeof p === "object" ? String(p.key) : String(p)))
        .join(".");
      return path ? `"${path}": ${issue.message}` : issue.message;
    });
    throw new EventValidationError(`Invalid ${type}: ${parts.join("; ")}.`, {
      eventType: type,
      issues: result.issues,
    });
  }
  return result.value;
}

/**
 * The stable name of an event class, used in journals, on the wire and in drawings:
 * its own `static type` if it declares one, else the class name.
 */
export function eventTypeName(cls: EventClass): string {
  const own = Object.getOwnPropertyDescriptor(cls, "type");
  if (own && typeof own.value === "string") return own.value;
  return cls.name || "AnonymousEvent";
}

/** True when `value` is a class deriving from {@link Event}. */
export function isEventClass(value: unknown): value is EventClass {
  return typeof value === "function" && (value === EventBase || value.prototype instanceof EventBase);
}

/** True when `value` is an event instance. */
export function isEvent(value: unknown): value is Event {
  return value instanceof EventBase;
}

/** An event carrying data `D` as typed, read-only properties. */
export type Event<D extends object = object> = EventBase & Readonly<D>;

// `keyof D extends never` lets field-less events be built with no argument.
type DataArg<D> = keyof D extends never ? [data?: D] : [data: D];

type SchemaClass<Base extends EventClass, S extends StandardSchemaV1> = Omit<Base, "prototype"> &
  (new (data: StandardSchemaV1.InferInput<S>) => InstanceType<Base> & Readonly<StandardSchemaV1.InferOutput<S>>);

interface SchemaStatics {
  /**
   * A subclass whose constructor validates its data with a Standard Schema (zod, valibot, arktype…)
   * and throws {@link EventValidationError} naming each bad field.
   * @example class Trade extends Event.schema(z.object({ stock: z.string() })) {}
   */
  schema<Base extends EventClass, S extends StandardSchemaV1>(this: Base, schema: S): SchemaClass<Base, S>;
}

/** The `Event` constructor: `class MyEvent extends Event<{ field: string }> {}`. */
export interface EventConstructor extends SchemaStatics {
  new <D extends object = object>(...data: DataArg<D>): Event<D>;
  readonly prototype: EventBase;
}

function schema<Base extends EventClass, S extends StandardSchemaV1>(this: Base, s: S): SchemaClass<Base, S> {
  if (typeof s !== "object" || s === null || !("~standard" in s)) {
    throw new TypeError("Event.schema() takes a Standard Schema (zod, valibot, arktype…).");
  }
  const Base = this as unknown as new (data: unknown) => EventBase;
  const cls = class extends Base {
    constructor(data?: unknown) {
      // Only the schema nearest the class being built applies (a schema class's own subclass
      // made by .schema() replaces it); the data it validates is what the event gets.
      super((new.target as { [SCHEMA]?: StandardSchemaV1 })[SCHEMA] === s ? validateWith(s, data, new.target) : data);
    }
  };
  Object.defineProperty(cls, SCHEMA, { value: s });
  Object.defineProperty(cls, "name", { value: `${Base.name}WithSchema` });
  return cls as unknown as SchemaClass<Base, S>;
}
Object.defineProperty(EventBase, "schema", { value: schema, writable: true, configurable: true });

/** Base class of every event. Fields passed to the constructor become typed properties. */
export const Event = EventBase as unknown as EventConstructor;

/* ---------------------------------------------------------------- built-ins */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyData = Record<string, any>;

class StartEventBase extends EventBase {}
/** The event a run starts with; it carries the run's input as its fields. */
export type StartEvent<D extends object = AnyData> = StartEventBase & Readonly<D>;
/** Constructor of {@link StartEvent}. */
export interface StartEventConstructor extends SchemaStatics {
  new <D extends AnyData = AnyData>(data?: D): StartEvent<D>;
  readonly prototype: StartEventBase;
}
export const StartEvent = StartEventBase as unknown as StartEventConstructor;

class StopEventBase extends EventBase {
  declare readonly result: unknown;
  // A type-only brand (the Standard Schema "~" convention) makes StopEvent nominal for the
  // compiler: an event that merely has a `result` field is not a StopEvent.
  declare readonly "~stopEvent": true;
}
/** The event that ends a run; its `result` is what the run returns. */
export type StopEvent<R = unknown> = StopEventBase & { readonly result: R };
/** Constructor of {@link StopEvent}: `new StopEvent({ result })`, or a subclass with more fields. */
export interface StopEventConstructor extends SchemaStatics {
  // A second, non-generic signature: with only a generic one, TypeScript infers nothing from
  // `emits: [Other, StopEvent]` in a project without exactOptionalPropertyTypes (issue 12.1).
  // It comes first so that EventOf (which reads the last signature) still sees the generic one.
  new (): StopEventBase & Readonly<{ result?: undefined }>;
  new <D extends { result?: unknown } = { result?: undefined }>(data?: D): StopEventBase & Readonly<D>;
  readonly prototype: StopEventBase;
}
export const StopEvent = StopEventBase as unknown as StopEventConstructor;

class InputRequiredEventBase extends EventBase {}
/** LlamaIndex's conventional field, and any others. */
type InputRequiredData = { prefix?: string } & Record<string, unknown>;
/** Written to the stream when a step needs an answer from outside (a person, another system). */
export type InputRequiredEvent<D extends object = InputRequiredData> = InputRequiredEventBase & Readonly<D>;
export interface InputRequiredEventConstructor extends SchemaStatics {
  new <D extends AnyData = InputRequiredData>(data?: D): InputRequiredEvent<D>;
  // Last, so `InstanceType`, `EventOf` and `waitForEvent` see the typed default (issue 12.4).
  new (data?: InputRequiredData): InputRequiredEvent;
  // What `ev instanceof InputRequiredEvent` narrows to.
  readonly prototype: InputRequiredEvent;
}
export const InputRequiredEvent = InputRequiredEventBase as unknown as InputRequiredEventConstructor;

class HumanResponseEventBase extends EventBase {}
/** LlamaIndex's conventional field, and any others. */
type HumanResponseData = { response?: string } & Record<string, unknown>;
/** An answer sent into a run from outside, typically to a step waiting in `ctx.waitForEvent`. */
export type HumanResponseEvent<D extends object = HumanResponseData> = HumanResponseEventBase & Readonly<D>;
export interface HumanResponseEventConstructor extends SchemaStatics {
  new <D extends AnyData = HumanResponseData>(data?: D): HumanResponseEvent<D>;
  new (data?: HumanResponseData): HumanResponseEvent;
  readonly prototype: HumanResponseEvent;
}
export const HumanResponseEvent = HumanResponseEventBase as unknown as HumanResponseEventConstructor;

/** What {@link StepFailedEvent} carries: which step failed for good, on what, and why. */
export interface StepFailure {
  /** The step's name. */
  readonly step: string;
  /** The step's error: its class name, message and, for a `WorkflowError`, its code. */
  readonly error: { readonly name: string; readonly message: string; readonly code?: string };
  /** The type name of the event the step was handling. */
  readonly eventType: string;
  /** The attempt that failed last (1-based). */
  readonly attempt: number;
}

/**
 * Emitted by the run when a step has failed for good (its retries spent, or an error its
 * `retryOn` does not retry). A step that accepts it is the workflow's catch-error step
 * (LlamaIndex's): the run goes on with it instead of failing. With no such step the run fails
 * as before. A failure of a step handling a StepFailedEvent fails the run.
 */
export class StepFailedEvent extends (EventBase as unknown as EventConstructor)<StepFailure> {
  static readonly type = "StepFailedEvent";
}

for (const [cls, name] of [
  [StartEventBase, "StartEvent"],
  [StopEventBase, "StopEvent"],
  [InputRequiredEventBase, "InputRequiredEvent"],
  [HumanResponseEventBase, "HumanResponseEvent"],
  [EventBase, "Event"],
] as const) {
  Object.defineProperty(cls, "name", { value: name });
}

/** The result a StopEvent hands back: its `result`, or the event itself for a subclass. */
export function stopResult(ev: EventBase): unknown {
  return ev.constructor === StopEventBase ? (ev as StopEventBase).result : ev;
}

