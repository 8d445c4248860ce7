import type { StandardSchemaV1 } from "@standard-schema/spec";
import { StateValidationError, type ErrorContext } from "./errors.js";

/** A workflow's `state` option: any Standard Schema (zod, valibot, arktype…) of a JSON object. */
export type StateSchema<S extends object = object> = StandardSchemaV1<unknown, S>;

type Prev = [never, 0, 1, 2, 3, 4];
/** The dotted paths into state `S`: `"user"`, `"user.name"`… (four levels deep; arrays are leaves). */
export type StatePath<S, D extends number = 4> = [D] extends [never]
  ? never
  : S extends object
    ? { [K in keyof S & string]: K | (S[K] extends readonly unknown[] ? never : S[K] extends object ? `${K}.${StatePath<S[K], Prev[D]>}` : never) }[keyof S & string]
    : never;

/** The type at dotted path `P` of state `S`. */
export type StateValue<S, P extends string> = P extends `${infer K}.${infer R}` ? (K extends keyof S ? StateValue<S[K], R> : never) : P extends keyof S ? S[P] : never;

/**
 * `ctx.store` of a workflow with a `state` schema: the run's state, typed, read and written by
 * dotted path or whole. Every write is checked against the schema (`StateValidationError`
 * naming the path) and, with a store, journaled: the state survives a resume.
 */
export interface StateStore<S extends object> {
  /** The value at `path` (`"user.name"`); a copy of objects, so changing it changes nothing. */
  get<P extends StatePath<S>>(path: P): StateValue<S, P>;
  /** Set the value at `path`; the state must still fit the schema. */
  set<P extends StatePath<S>>(path: P, value: StateValue<S, P>): void;
  has(path: string): boolean;
  /** A copy of the whole state. */
  getState(): S;
  /** Replace the whole state (checked against the schema). */
  setState(state: S): void;
  /**
   * Change the state atomically: `fn` gets a copy, may await, and what it leaves is written back
   * when it returns. Edits of one run, from any of its steps, run one after another.
   */
  edit<R>(fn: (state: S) => R | Promise<R>): Promise<R>;
}

/** The flat, journaled key-value state of a run that a {@link StateStore} is kept in, one key per top-level field. */
export interface FlatState {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  has(key: string): boolean;
  entries(): Iterable<[string, unknown]>;
}

/** Check `value` against `schema`; returns the parsed value (defaults filled in) or throws naming each failing path. */
export function validateState<S extends object>(schema: StateSchema<S>, value: unknown, where: ErrorContext & { what: string }): S {
  const result = schema["~standard"].validate(value);
  const { what, ...context } = where;
  if (result instanceof Promise) {
    throw new StateValidationError(`The state schema of workflow "${context.workflow ?? "?"}" validates asynchronously; state schemas must be synchronous.`, { ...context, issues: [] });
  }
  if (result.issues) {
    const parts = result.issues.map((issue) => {
      const path = (issue.path ?? []).map((p) => (typeof p === "object" ? String(p.key) : String(p))).join(".");
      return path ? `"${path}": ${issue.message}` : issue.message;
    });
    throw new StateValidationError(`${what} does not fit the state schema of workflow "${context.workflow ?? "?"}": ${parts.join("; ")}.`, { ...context, issues: result.issues });
  }
  const out = result.value as unknown;
  if (out === null || typeof out !== "object" || Array.isArray(out)) {
    throw new StateValidationError(`The state schema of workflow "${context.workflow ?? "?"}" must describe an object, got ${Array.isArray(out) ? "an array" : typeof out}.`, { ...context, issues: [] });
  }
  return out as S;
}

const copy = <T>(v: T): T => (v === null || typeof v !== "object" ? v : (JSON.parse(JSON.stringify(v)) as T));

/** Edits in progress per flat state: each run's edits are chained one after another. */
const EDITS = new WeakMap<FlatState, Promise<unknown>>();

/** Path segments that would reach an object's prototype instead of its data. */
const RESERVED = new Set(["__proto__", "constructor", "prototype"]);

/** A {@link StateStore} over the run's flat state `flat`, checked against `schema`. */
export function stateStore<S extends object>(flat: FlatState, schema: StateSchema<S>, context: ErrorContext): StateStore<S> {
  const whole = (): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    // defineProperty: a key named "__proto__" stays a key, it does not set the object's prototype.
    for (const [k, v] of flat.entries()) Object.defineProperty(out, k, { value: copy(v), enumerable: true, writable: true, configurable: true });
    return out;
  };
  const partsOf = (path: unknown, what: string): string[] => {
    if (typeof path !== "string") throw new StateValidationError(`${what}: a path is a string such as "user.name", got ${typeof path}.`, { ...context, issues: [{ message: "invalid path" }] });
    const parts = path.split(".");
    const bad = parts.find((p) => RESERVED.has(p) || p === "");
    if (bad !== undefined) {
      throw new StateValidationError(`${what}: the path "${path}" has ${bad === "" ? "an empty segment" : `the segment "${bad}", which names an object's prototype, not a state field`}.`, { ...context, issues: [{ message: "invalid path", path: parts }] });
    }
    return parts;
  };
  const write = (next: Record<string, unknown>, what: string): void => {
    const valid = validateState(schema, next, { ...context, what }) as Record<string, unknown>;
    for (const [k, v] of Object.entries(valid)) if (!flat.has(k) || JSON.stringify(flat.get(k)) !== JSON.stringify(v)) flat.set(k, v);
  };
  const walk = (path: string): { found: boolean; value: unknown } => {
    let value: unknown = whole();
    for (const part of partsOf(path, `ctx.store.get("${path}")`)) {
      if (value === null || typeof value !== "object" || !Object.prototype.hasOwnProperty.call(value, part)) return { found: false, value: undefined };
      value = (value as Record<string, unknown>)[part];
    }
    return { found: true, value };
  };
  const store: StateStore<S> = {
    get: ((path: string) => copy(walk(path).value)) as StateStore<S>["get"],
    has: (path) => walk(path).found,
    set: ((path: string, value: unknown) => {
      const parts = partsOf(path, `ctx.store.set("${path}")`);
      const next = whole();
      let at: Record<string, unknown> = next;
      for (const part of parts.slice(0, -1)) {
        const inner = Object.prototype.hasOwnProperty.call(at, part) ? at[part] : undefined;
        if (inner === null || typeof inner !== "object" || Array.isArray(inner)) at[part] = {};
        at = at[part] as Record<string, unknown>;
      }
      at[parts[parts.length - 1] as string] = copy(value);
      write(next, `ctx.store.set("${path}")`);
    }),
    getState: () => whole() as S,
    setState: (state) => write(copy(state) as Record<string, unknown>, "ctx.store.setState()"),
    edit: <R>(fn: (state: S) => R | Promise<R>): Promise<R> => {
      const before = EDITS.get(flat) ?? Promise.resolve();
      const run = before.then(async () => {
        const draft = whole() as S;
        const result = await fn(draft);
        write(draft as Record<string, unknown>, "ctx.store.edit()");
        return result;
      });
      // The next edit waits for this one, whether it fails or not.
      EDITS.set(
        flat,
        run.then(
          () => undefined,
          () => undefined,
        ),
      );
      return run;
    },
  };
  return store;
}
