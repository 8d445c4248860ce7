import { EventValidationError, UnknownEventTypeError, WorkflowRuntimeError } from "./errors.js";
import { Event, eventTypeName, HumanResponseEvent, InputRequiredEvent, StartEvent, StepFailedEvent, StopEvent, type EventClass, type EventJSON } from "./events.js";
import type { Plan } from "./plan.js";
import type { ErrorJSON } from "./store.js";

/*
 * Events and errors as records: JSON in, live objects out, with the workflow's own classes.
 * Used by replay (journal entries) and by the driver (a remote step's task and outcome).
 */

const BUILTINS: readonly EventClass[] = [StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent, StepFailedEvent];

/**
 * Rebuild an event from its JSON with the workflow's own classes (its constructor validates the
 * data); unknown types are an {@link UnknownEventTypeError}. `runId` names the journal it came from.
 */
export function reviveEvent(plan: Plan, json: EventJSON, runId?: string): Event {
  if (json === null || typeof json !== "object" || typeof json.type !== "string" || json.data === null || typeof json.data !== "object") {
    throw new EventValidationError(`An event's JSON is { type: string, data: object }, got ${preview(json)}.`, { eventType: "unknown", issues: [], workflow: plan.workflow, runId });
  }
  const cls = eventClass(plan, json.type);
  if (!cls) {
    const known = [...plan.types.keys()].join(", ");
    throw new UnknownEventTypeError(
      runId === undefined
        ? `Workflow "${plan.workflow}" has no event class named "${json.type}" (it knows ${known}).`
        : `The journal of run "${runId}" holds an event of type "${json.type}", which workflow "${plan.workflow}" does not have (it knows ${known}). ` +
            `Bring the class back (list it in a step's accepts, emits or waitsFor, or the externalEvents option), or resume with the version of the workflow that wrote the run.`,
      json.type,
      { workflow: plan.workflow, runId },
    );
  }
  return new (cls as unknown as new (data: unknown) => Event)(json.data);
}

/** What a message shows of JSON it refuses: the start of it (a body may be megabytes), or its kind when it has no JSON. */
function preview(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return `${typeof value === "object" && value !== null ? "an object" : typeof value} with no JSON form (a BigInt or a cycle)`;
  }
  if (text === undefined) return String(value);
  return text.length <= PREVIEW ? text : `${text.slice(0, PREVIEW)}… (${text.length} characters)`;
}
const PREVIEW = 200;

const STREAMED = new WeakMap<Plan, Map<string, EventClass>>();

/**
 * An event a remote step wrote to the stream (or the journal holds), rebuilt: with the workflow's
 * class when it has one, else with a stand-in class of the same name and type (stream-only
 * classes are declared nowhere, so the run may not know them): readers see its type name and
 * fields, and, with `asks` (it was an InputRequiredEvent), an InputRequiredEvent.
 */
export function reviveStreamed(plan: Plan, json: EventJSON, runId: string, asks = false): Event {
  if (json !== null && typeof json === "object" && typeof json.type === "string" && eventClass(plan, json.type) === undefined && json.data !== null && typeof json.data === "object") {
    let byType = STREAMED.get(plan);
    if (byType === undefined) STREAMED.set(plan, (byType = new Map<string, EventClass>()));
    const key = asks ? `asks:${json.type}` : json.type;
    let cls = byType.get(key);
    if (cls === undefined) {
      const stand = class extends ((asks ? InputRequiredEvent : Event) as unknown as new (data?: object) => Event) {};
      Object.defineProperty(stand, "name", { value: json.type });
      Object.defineProperty(stand, "type", { value: json.type });
      byType.set(key, (cls = stand as unknown as EventClass));
    }
    return new (cls as unknown as new (data: object) => Event)(json.data);
  }
  return reviveEvent(plan, json, runId);
}

/** The event class named `type` in `plan` (or a built-in event), if any. */
export function eventClass(plan: Plan, type: string): EventClass | undefined {
  return plan.types.get(type) ?? BUILTINS.find((b) => eventTypeName(b) === type);
}

/** An error as the journal and a runtime carry it. */
export function errorJSON(error: unknown): ErrorJSON {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; step?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(typeof e.code === "string" ? { code: e.code } : {}),
      ...(typeof e.step === "string" ? { step: e.step } : {}),
    };
  }
  return { name: "Error", message: String(error) };
}

/** An error rebuilt from its JSON: its name, message and code (a `WorkflowRuntimeError` when it has a code). */
export function errorFromJSON(json: ErrorJSON, context: { workflow: string; runId: string; step: string; attempt: number }): Error {
  if (typeof json.code === "string") return new WorkflowRuntimeError(json.message, json.code, context);
  const err = new Error(typeof json.message === "string" ? json.message : String(json.message));
  if (typeof json.name === "string") err.name = json.name;
  return err;
}

/**
 * Where an event's data would not come back the same from a journal (JSON): the dotted path and
 * why, or undefined when it round-trips. Plain objects, arrays, strings, finite numbers, booleans
 * and null do; class instances come back as plain objects (their own fields).
 */
export function jsonProblem(value: unknown, path = "data"): string | undefined {
  // Most data is plain JSON: checked first without building a path string per field.
  if (plainJSON(value, 0)) return undefined;
  return problemAt(value, path, []);
}

/**
 * True when `value` surely round-trips through JSON (what {@link problemAt} finds no problem in);
 * false when it may not, or is nested past depth 32 (a cycle, say): the slow check then says why.
 */
function plainJSON(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth > 32 || value instanceof Date || value instanceof Map || value instanceof Set) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainJSON(value[i], depth + 1)) return false;
    return true;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return true;
  for (const key in value) {
    if (Object.hasOwn(value, key) && !plainJSON((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

function problemAt(value: unknown, path: string, seen: object[]): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${String(value)}, which JSON cannot hold (it would come back as null)`;
    case "bigint":
      return `${path} is a BigInt, which JSON cannot hold: store it as a string (String(n)) or a number`;
    case "function":
    case "symbol":
      return `${path} is a ${typeof value}, which JSON cannot hold`;
  }
  if (value === null) return undefined;
  const obj = value as object;
  if (seen.includes(obj)) return `${path} refers back to an object that contains it (a cycle), which JSON cannot hold`;
  if (obj instanceof Date) return `${path} is a Date, which would come back as a string: store date.toISOString()`;
  if (obj instanceof Map || obj instanceof Set) return `${path} is a ${obj instanceof Map ? "Map" : "Set"}, which would come back as {}: store an array (Array.from(...))`;
  seen.push(obj);
  try {
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        const p = problemAt(obj[i], `${path}[${i}]`, seen);
        if (p !== undefined) return p;
      }
      return undefined;
    }
    if (typeof (obj as { toJSON?: unknown }).toJSON === "function") return undefined;
    for (const key of Object.keys(obj)) {
      const p = problemAt((obj as Record<string, unknown>)[key], `${path}.${key}`, seen);
      if (p !== undefined) return p;
    }
    return undefined;
  } finally {
    seen.pop();
  }
}

/** `ev` as JSON for the journal; throws an {@link EventValidationError} naming the field when its data would not survive it. */
export function journalableJSON(ev: Event, workflow: string, runId: string): EventJSON {
  const json = ev.toJSON();
  const problem = jsonProblem(json.data);
  if (problem === undefined) return json;
  const type = eventTypeName(ev.constructor as EventClass);
  throw new EventValidationError(`Event ${type} cannot be journaled: ${problem}. A durable run keeps JSON data only (plain objects, arrays, strings, finite numbers, booleans, null).`, { eventType: type, issues: [{ path: problem.split(" ")[0], message: problem }], workflow, runId });
}
