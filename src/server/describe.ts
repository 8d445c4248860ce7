/** What `GET /workflows` says about a workflow: its event types, its StartEvent's JSON Schema, its drawing model. */
import { HumanResponseEvent, describeWorkflow, eventTypeName, type EventClass, type Workflow } from "../index.js";
import { buildFlowsDocument, type DrawDocument } from "../draw/model.js";

/** One served workflow, as `GET /workflows` lists it. */
export interface WorkflowInfo {
  /** The name it is served under (`/workflows/:name`). */
  name: string;
  /** The workflow's own name (class name or `name` option), as stored runs carry it. */
  workflow: string;
  /** The StartEvent's type name. */
  startEvent: string;
  /** JSON Schema of the run's input, when the StartEvent's schema can produce one. */
  inputSchema: Record<string, unknown> | null;
  /** Every event type the workflow knows, sorted. */
  eventTypes: string[];
  /** Types a run can be sent from outside (`POST /runs/:id/events`): external events and types steps wait for. */
  externalEventTypes: string[];
  /** The drawing model (`stepwise-ai/draw`'s `buildFlowsDocument`). */
  graph: DrawDocument;
}

/**
 * The Standard Schema an event class validates with (`Event.schema(...)`), if any. The core keeps
 * it under a module-private symbol; it is found here by that symbol's description.
 */
export function eventSchema(cls: EventClass): unknown {
  for (let c: object | null = cls; c && c !== Function.prototype; c = Object.getPrototypeOf(c) as object | null) {
    for (const sym of Object.getOwnPropertySymbols(c)) {
      if (sym.description === "stepwise.schema") return (c as Record<symbol, unknown>)[sym];
    }
  }
  return undefined;
}

/**
 * JSON Schema for an event class's data, when its schema can give one: Standard JSON Schema
 * (`~standard.jsonSchema.input`, zod 4.2+, valibot, arktype), else a `toJSONSchema()` method.
 * `null` when there is no schema or it cannot be converted.
 */
export function jsonSchemaOf(cls: EventClass): Record<string, unknown> | null {
  const schema = eventSchema(cls) as
    | { "~standard"?: { jsonSchema?: { input?: (o: { target: string }) => Record<string, unknown> } }; toJSONSchema?: () => Record<string, unknown> }
    | undefined;
  if (!schema) return null;
  try {
    const convert = schema["~standard"]?.jsonSchema?.input;
    if (typeof convert === "function") return convert({ target: "draft-2020-12" });
    if (typeof schema.toJSONSchema === "function") return schema.toJSONSchema();
  } catch {
    // A schema that cannot be expressed (transforms, custom checks): no JSON Schema, the server still validates.
  }
  return null;
}

/** Every event class a workflow (or App) mentions, by type name. */
export function eventClasses(wf: Workflow): Map<string, EventClass> {
  const d = describeWorkflow(wf);
  const out = new Map<string, EventClass>();
  const add = (c: EventClass) => out.set(eventTypeName(c), c);
  add(d.startEvent);
  for (const s of d.steps) [...s.accepts, ...s.emits, ...s.waitsFor].forEach(add);
  d.externalEvents.forEach(add);
  return out;
}

/** The description `GET /workflows` gives of one served workflow. */
export function describeServed(name: string, wf: Workflow): WorkflowInfo {
  const d = describeWorkflow(wf);
  const types = eventClasses(wf);
  const external = new Set<string>(d.externalEvents.map(eventTypeName));
  for (const s of d.steps) for (const w of s.waitsFor) external.add(eventTypeName(w));
  for (const c of types.values()) if (c === HumanResponseEvent || c.prototype instanceof HumanResponseEvent) external.add(eventTypeName(c));
  return {
    name,
    workflow: d.name,
    startEvent: eventTypeName(d.startEvent),
    inputSchema: jsonSchemaOf(d.startEvent),
    eventTypes: [...types.keys()].sort(),
    externalEventTypes: [...external].sort(),
    graph: buildFlowsDocument(wf),
  };
}

