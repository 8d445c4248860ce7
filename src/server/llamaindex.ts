/**
 * LlamaIndex's WorkflowServer protocol, mounted under a prefix of a stepwise server
 * (`createServer({ llamaindex: "/llamaindex" })`): the routes and shapes that
 * `@llamaindex/workflows-client` (and UIs built on it) speak, over the same run registry as the
 * stepwise routes. A run is a "handler"; its id is both `handler_id` and `run_id`. Events go out
 * as envelopes `{ value, qualified_name, type, types }`; a stream's `id` is the event's sequence
 * (from 0), and `after_sequence` / `Last-Event-ID` go on after it. Errors are `{ detail }`.
 */
import { Hono, type Context } from "hono";
import { describeRoute } from "hono-openapi";
import { Event, EventValidationError, HumanResponseEvent, InputRequiredEvent, StopEvent, describeWorkflow, eventTypeName, isEventClass, type EventClass, type Workflow } from "../index.js";
import { parseRefusingProto, readJson } from "./body.js";
import { traceHeaders, withTraceCarrier } from "../otel/auto.js";
import { eventClasses, jsonSchemaOf } from "./describe.js";
import { ServerError, httpExceptionOf, toErrorResponse } from "./errors.js";
import { followRun, respondStream, type Ticker } from "./follow.js";
import type { RunEnd, RunLog } from "./log.js";
import { startEventOf, type RunRecord, type Runs } from "./runs.js";
import type { Served } from "./entry.js";

/** What the LlamaIndex routes need from the server that mounts them. */
export interface LlamaIndexOptions {
  runs: Runs;
  ticker: Ticker;
  maxBodyBytes: number;
  /** True once the server is shutting down (no new runs, `/health` unhealthy). */
  closing: () => boolean;
  /** Throws when a stored run may not be continued now (shutting down). */
  beforeContinue: () => void;
  report: (err: unknown) => void;
  /** node-server's already-sent answer when event streams may go straight to node's response now (see `respondStream`). */
  direct: () => Response | undefined;
}

/** A run as LlamaIndex's protocol shows it (`Handler` in its OpenAPI). */
export interface LlamaIndexHandler {
  handler_id: string;
  workflow_name: string;
  run_id: string | null;
  status: "running" | "completed" | "failed" | "cancelled";
  started_at: string;
  updated_at: string | null;
  completed_at: string | null;
  error: string | null;
  result: EventEnvelope | null;
}

/** An event as LlamaIndex's protocol carries it (`EventEnvelopeWithMetadata`). */
export interface EventEnvelope {
  value: Record<string, unknown>;
  qualified_name: string | null;
  type: string;
  types: string[] | null;
}

/** LlamaIndex's own event classes keep their Python module path, which its clients test for. */
const BUILTIN = new Set(["Event", "StartEvent", "StopEvent", "InputRequiredEvent", "HumanResponseEvent", "WorkflowFailedEvent", "WorkflowCancelledEvent", "WorkflowTimedOutEvent"]);
/** The events LlamaIndex ends a stream with when a run did not complete, and their superclasses. */
const TERMINATIONS = new Set(["WorkflowFailedEvent", "WorkflowCancelledEvent", "WorkflowTimedOutEvent"]);
const TERMINATION_TYPES = ["WorkflowTerminationEvent", "StopEvent"];

const STATUS_400 = new Set(["BAD_REQUEST", "BAD_JSON", "INVALID_INPUT", "INVALID_EVENT", "UNKNOWN_EVENT_TYPE"]);

/** Superclass names of an event class, nearest first, up to (not including) Event; null when none. */
function superTypes(cls: EventClass | undefined): string[] | null {
  if (!cls) return null;
  const names: string[] = [];
  for (let p = Object.getPrototypeOf(cls) as unknown; p && p !== Event && isEventClass(p); p = Object.getPrototypeOf(p)) {
    const name = eventTypeName(p);
    // `X.schema(...)` puts an unnamed intermediate class in the chain; it is not a type of its own.
    if (!name.endsWith("WithSchema")) names.push(name);
  }
  return names.length > 0 ? names : null;
}

const iso = (ms: number) => new Date(ms).toISOString();

function statusOf(s: string): LlamaIndexHandler["status"] {
  if (s === "completed" || s === "failed" || s === "cancelled") return s;
  if (s === "timed_out") return "failed";
  return "running"; // running, waiting, detached (going on elsewhere)
}

/** Every event class a served workflow can stream: its own, and those of the workflows its steps call. */
function classesOf(wf: Workflow): Map<string, EventClass> {
  const out = new Map<string, EventClass>();
  const seen = new Set<unknown>();
  const walk = (w: Workflow | (abstract new (...a: never[]) => Workflow)) => {
    if (seen.has(w)) return;
    seen.add(w);
    const d = describeWorkflow(w);
    const add = (c: EventClass) => {
      if (!out.has(eventTypeName(c))) out.set(eventTypeName(c), c);
    };
    add(d.startEvent);
    d.externalEvents.forEach(add);
    for (const s of d.steps) [...s.accepts, ...s.emits, ...s.waitsFor].forEach(add);
    for (const s of d.steps) for (const k of s.calls) walk(k as Workflow);
    for (const k of d.children.values()) walk(k);
  };
  walk(wf);
  return out;
}

/**
 * An error answered on a LlamaIndex route, also one thrown by the mounting server's middleware
 * (auth, request timeout, the user's own): `{ detail }`, with LlamaIndex's statuses.
 */
export function llamaIndexError(c: Context, err: unknown, report: (err: unknown) => void): Response {
  const thrown = httpExceptionOf(err);
  if (thrown) return thrown.response ?? c.json({ detail: thrown.message }, thrown.status as 500);
  const { status, body } = toErrorResponse(err, report);
  return c.json({ detail: body.error.message }, (STATUS_400.has(body.error.code) ? 400 : status) as 400);
}

/** The routes of LlamaIndex's WorkflowServer, as a Hono app to mount under a prefix. */
export function llamaIndexRoutes(options: LlamaIndexOptions): Hono {
  const { runs, ticker } = options;
  const classes = new Map<string, Map<string, EventClass>>();
  const classesFor = (s: Served) => {
    let m = classes.get(s.name);
    if (!m) classes.set(s.name, (m = classesOf(s.wf)));
    return m;
  };

  const classOf = (s: Served | undefined, type: string) => (s ? classesFor(s).get(type) : undefined) ?? runs.classOf(type);
  const envelope = (s: Served | undefined, type: string, value: Record<string, unknown>, qualified = true, inputRequired = false): EventEnvelope => ({
    value,
    qualified_name: qualified ? (BUILTIN.has(type) ? `workflows.events.${type}` : `stepwise.events.${type}`) : null,
    type,
    types: TERMINATIONS.has(type) ? TERMINATION_TYPES : (superTypes(classOf(s, type)) ?? (inputRequired && type !== "InputRequiredEvent" ? ["InputRequiredEvent"] : null)),
  });

  const handlerOf = (r: RunRecord): LlamaIndexHandler => {
    const status = statusOf(r.status);
    const ended = status !== "running";
    return {
      handler_id: r.runId,
      workflow_name: r.workflow,
      run_id: r.runId,
      status,
      started_at: iso(r.createdAt),
      updated_at: iso(r.updatedAt),
      completed_at: ended ? iso(r.updatedAt) : null,
      error: r.error ? r.error.message : null,
      result: status === "completed" ? envelope(undefined, "StopEvent", { result: r.result }) : null,
    };
  };
  const httpStatus = (h: LlamaIndexHandler) => (h.status === "running" ? 202 : h.status === "completed" ? 200 : 500);

  const workflowOf = (name: string): Served => {
    const s = runs.served.get(name);
    if (!s) throw new ServerError("WORKFLOW_NOT_FOUND", "Workflow not found", { workflow: name });
    return s;
  };
  const servedOf = (r: RunRecord) => runs.served.get(r.workflow);

  const app = new Hono();
  app.onError((err, c) => llamaIndexError(c, err, options.report));

  app.get("/health", doc("Health check", "Returns the server health status."), (c) => (options.closing() ? c.json({ status: "unhealthy" }, 503) : c.json({ status: "healthy" })));

  app.get("/workflows", doc("List workflows", "Returns the list of registered workflow names."), (c) => c.json({ workflows: [...runs.served.keys()] }));

  const start = async (c: Context, wait: boolean) => {
    const s = workflowOf(c.req.param("name") as string);
    if (options.closing()) throw new ServerError("SHUTTING_DOWN", "The server is shutting down and takes no new runs; retry on another instance.");
    const body = await readJson(c, options.maxBodyBytes);
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new ServerError("BAD_REQUEST", "The body is a JSON object: { start_event?, kwargs? }.");
    const b = body as { start_event?: unknown; kwargs?: unknown; context?: unknown; handler_id?: unknown };
    if (b.context !== undefined && b.context !== null) throw new ServerError("BAD_REQUEST", "Context API is disabled: stepwise keeps a run's state in its store; start a run without `context`.");
    if (b.handler_id !== undefined && b.handler_id !== null) throw new ServerError("BAD_REQUEST", "handler_id is not supported here: a new run gets its own id; send events to a waiting run with POST /events/{handler_id}.");
    let data: unknown = b.start_event ?? b.kwargs ?? {};
    if (typeof data === "string") data = parseJson(data, "start_event");
    if (data !== null && typeof data === "object" && !Array.isArray(data) && "value" in data) {
      // An envelope { type?, value }: its type must be the workflow's StartEvent.
      const env = data as { type?: unknown; value?: unknown };
      const want = eventTypeName(describeWorkflow(s.wf).startEvent);
      if (env.type !== undefined && env.type !== want && env.type !== "StartEvent") throw new ServerError("BAD_REQUEST", `Validation error for 'start_event': expected a ${want}, got ${JSON.stringify(env.type)}.`);
      data = env.value ?? {};
    }
    let startEvent;
    try {
      startEvent = startEventOf(s, data);
    } catch (err) {
      if (err instanceof EventValidationError) throw new ServerError("INVALID_INPUT", `Validation error for 'start_event': ${err.message}`);
      throw err;
    }
    const entry = withTraceCarrier(traceHeaders((name) => c.req.header(name)), () => runs.start(s, startEvent));
    await entry.handler?.recorded;
    if (wait) await entry.done;
    const h = handlerOf(await runs.record(entry.runId));
    // A run that failed or was cancelled is a 500 with its Handler; one let go of while waited for
    // (suspended, to go on from the store) is still running: its Handler, 200.
    return c.json(h, (wait && (h.status === "failed" || h.status === "cancelled") ? 500 : 200) as 200);
  };
  const startBody = { requestBody: { required: false, content: { "application/json": { schema: { type: "object" as const, properties: { start_event: { type: "object" as const }, kwargs: { type: "object" as const } } } } } } };
  app.post("/workflows/:name/run", doc("Run workflow (wait)", "Runs the workflow and answers with its Handler once it has ended.", startBody), (c) => start(c, true));
  app.post("/workflows/:name/run-nowait", doc("Run workflow (no-wait)", "Starts the workflow and answers with its Handler at once.", startBody), (c) => start(c, false));

  app.get("/workflows/:name/schema", doc("Get JSON schema for start event", "JSON Schemas of the start and stop events."), (c) => {
    const s = workflowOf(c.req.param("name"));
    return c.json({ start: schemaOf(describeWorkflow(s.wf).startEvent), stop: schemaOf(StopEvent) });
  });

  app.get("/workflows/:name/events", doc("List workflow events", "JSON Schemas of the workflow's event types."), (c) => {
    const s = workflowOf(c.req.param("name"));
    return c.json({ events: [...eventClasses(s.wf).values()].map(schemaOf) });
  });

  app.get("/workflows/:name/representation", doc("Get the representation of the workflow", "The workflow as a directed graph of steps and events."), (c) => {
    const s = workflowOf(c.req.param("name"));
    return c.json({ graph: representation(s.wf) });
  });

  app.get("/handlers", doc("Get handlers", "Runs, filtered by status and workflow_name (each may repeat)."), async (c) => {
    const statuses = c.req.queries("status")?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
    const names = c.req.queries("workflow_name")?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
    const handlers = (await runs.records()).map(handlerOf).filter((h) => (!statuses?.length || statuses.includes(h.status)) && (!names?.length || names.includes(h.workflow_name)));
    return c.json({ handlers });
  });

  app.get("/handlers/:id", doc("Get workflow handler", "The run as a Handler: 202 while it runs, 200 completed, 500 failed or cancelled."), async (c) => {
    const h = handlerOf(await runs.record(c.req.param("id")));
    return c.json(h, httpStatus(h) as 200);
  });

  app.get("/results/:id", doc("Get workflow result (deprecated)", "The Handler with `result` as the run's plain result.", { deprecated: true }), async (c) => {
    const h = handlerOf(await runs.record(c.req.param("id")));
    return c.json({ ...h, result: h.result ? h.result.value.result : null }, httpStatus(h) as 200);
  });

  app.post("/handlers/:id/cancel", doc("Stop handler", "Cancels the run. `purge=true` is refused: stepwise keeps runs in its store."), async (c) => {
    const id = c.req.param("id");
    if ((c.req.query("purge") ?? "false").toLowerCase() === "true") throw new ServerError("BAD_REQUEST", "purge is not supported: stepwise keeps every run in its store; cancel without purge.");
    try {
      await runs.cancel(id);
    } catch (err) {
      if (!(err instanceof ServerError && err.code === "RUN_FINISHED")) throw err;
      // Cancelling a cancelled run again is not an error. A run that ended otherwise, before the
      // cancel or while it came (its end already decided), is what LlamaIndex's WorkflowServer
      // answers for a handler in a terminal status: 404 Handler not found, the handler unchanged.
      if ((err.details as { status?: unknown } | null)?.status !== "cancelled") throw new ServerError("RUN_NOT_FOUND", "Handler not found", { status: (err.details as { status?: unknown } | null)?.status ?? null });
    }
    return c.json({ status: "cancelled" });
  });

  app.post("/events/:id", doc("Send event to workflow", "Sends `{ event: { type, value } }` (or that as a JSON string) to the run. `step` is ignored: stepwise routes events by type."), async (c) => {
    const id = c.req.param("id");
    const body = await readJson(c, options.maxBodyBytes);
    let event = (body as { event?: unknown } | null)?.event;
    if (event === undefined || event === null || event === "") throw new ServerError("BAD_REQUEST", "Event data is required: { \"event\": { \"type\": \"<event type>\", \"value\": { ...fields } } }.");
    if (typeof event === "string") event = parseJson(event, "event");
    if (event === null || typeof event !== "object" || Array.isArray(event)) throw new ServerError("BAD_REQUEST", "Failed to deserialize event. Must be a json object, or stringified json object");
    const e = event as { type?: unknown; qualified_name?: unknown; value?: unknown; data?: unknown };
    const type = typeof e.type === "string" ? e.type : typeof e.qualified_name === "string" ? e.qualified_name.slice(e.qualified_name.lastIndexOf(".") + 1) : undefined;
    if (!type) throw new ServerError("BAD_REQUEST", "Invalid client data. Must have a type or a qualified name.");
    const value = e.value ?? e.data ?? {};
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ServerError("BAD_REQUEST", "The event's value is an object of its fields.");
    const record = await runs.record(id);
    if (statusOf(record.status) !== "running") throw new ServerError("RUN_FINISHED", "Workflow already completed", { status: record.status });
    await runs.deliver(id, { type, data: value as Record<string, unknown> }, options.beforeContinue);
    return c.json({ status: "sent" });
  });

  app.get(
    "/events/:id",
    doc("Stream workflow events", "SSE (default) or NDJSON (`sse=false`). `after_sequence` (default `now`; -1 = from the start) or Last-Event-ID resumes after a sequence. The stream ends with the run; 204 when it has ended and nothing is left.", {
      parameters: [
        { name: "sse", in: "query", schema: { type: "boolean", default: true } },
        { name: "after_sequence", in: "query", schema: { oneOf: [{ type: "integer" }, { type: "string", enum: ["now"] }], default: "now" } },
        { name: "include_qualified_name", in: "query", schema: { type: "boolean", default: true } },
      ],
    }),
    async (c) => {
      const id = c.req.param("id");
      const sse = (c.req.query("sse") ?? "true").toLowerCase() === "true";
      const qualified = (c.req.query("include_qualified_name") ?? "true").toLowerCase() === "true";
      const raw = c.req.query("after_sequence") ?? "now";
      let afterSeq: number | "now";
      if (raw.toLowerCase() === "now") afterSeq = "now";
      else if (/^-?\d{1,15}$/.test(raw)) afterSeq = Number(raw);
      else throw new ServerError("BAD_REQUEST", `Invalid after_sequence: '${raw}' (an integer, -1 for the start, or "now")`, { parameter: "after_sequence", got: raw });
      // Last-Event-ID (what a reconnecting client sends) goes first. LlamaIndex ignores one that is not an
      // integer, which silently starts the stream elsewhere (at "now" by default): here it is a 400.
      const lastId = sse ? c.req.header("Last-Event-ID") : undefined;
      if (lastId !== undefined && lastId !== "") {
        if (!/^-?\d{1,15}$/.test(lastId)) throw new ServerError("BAD_REQUEST", `Invalid Last-Event-ID: '${lastId}' (a sequence number, an integer)`, { parameter: "Last-Event-ID", got: lastId });
        afterSeq = Number(lastId);
      }

      const record = await runs.record(id);
      const s = servedOf(record);
      const source = await runs.log(id);
      const { log } = source;
      const endsAt = (l: RunLog) => (l.end ? l.last + (closingEvent(l.end, l) ? 1 : 0) : l.last);
      // A run that ended other than by a StopEvent in its log gets a closing event made from its end,
      // one position after the log's last, as LlamaIndex streams WorkflowFailedEvent and the like.
      const closingEvent = (end: RunEnd, log: RunLog): { type: string; value: Record<string, unknown> } | undefined => {
        if (end.status === "detached") return undefined;
        if (end.status === "completed") {
          const last = log.entries().at(-1);
          const stop = last && (last.type === "StopEvent" || superTypes(classOf(s, last.type))?.includes("StopEvent"));
          return stop ? undefined : { type: "StopEvent", value: { result: end.result } };
        }
        if (end.status === "cancelled") return { type: "WorkflowCancelledEvent", value: {} };
        if (end.status === "timed_out") return { type: "WorkflowTimedOutEvent", value: { timeout: null, active_steps: [], exception_message: end.error?.message ?? "" } };
        return { type: "WorkflowFailedEvent", value: { step_name: end.error?.step ?? "", exception_type: end.error?.name ?? "Error", exception_message: end.error?.message ?? "" } };
      };
      // Positions: log entry n is sequence n - 1.
      let after: number;
      if (afterSeq === "now") after = endsAt(log);
      else after = Math.max(0, afterSeq + 1);
      if (log.end && after >= endsAt(log)) return c.body(null, 204);

      const line = (seq: number, env: EventEnvelope) => (sse ? `id: ${seq}\ndata: ${JSON.stringify(env)}\n\n` : `${JSON.stringify(env)}\n`);
      const headers = sse ? { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" } : { "Content-Type": "application/x-ndjson", "Cache-Control": "no-cache" };
      return respondStream(c, options.direct(), false, headers, (api, write) =>
        followRun(runs, ticker, c, id, after, source, api, (f, current) => {
          if (f.kind === "event") return write(line(f.entry.id - 1, envelope(s, f.entry.type, f.entry.data, qualified, f.entry.inputRequired === true)));
          if (f.kind === "heartbeat") return sse ? write(": heartbeat\n\n") : undefined;
          if (f.kind === "end") {
            const last = closingEvent(f.end, current);
            // Its sequence is the log's last id (one after the last entry's sequence).
            if (last && after <= current.last) return write(line(current.last, envelope(s, last.type, last.value, qualified)));
          }
          return undefined;
        }),
        options.report,
      );
    },
  );

  app.all("*", (c) => c.json({ detail: "Not Found" }, 404));
  return app;
}

/** JSON Schema of an event class, titled with its type name (as pydantic's `model_json_schema`). */
function schemaOf(cls: EventClass): Record<string, unknown> {
  const title = eventTypeName(cls);
  const own = jsonSchemaOf(cls);
  if (own) return { title, ...own };
  if (cls === StopEvent) return { title, type: "object", properties: { result: { title: "Result" } } };
  return { title, type: "object", properties: {} };
}

function parseJson(text: string, field: string): unknown {
  try {
    return parseRefusingProto(text);
  } catch (err) {
    if (err instanceof ServerError) throw err;
    throw new ServerError("BAD_REQUEST", `Failed to deserialize ${field}: not JSON.`);
  }
}

/** A workflow as LlamaIndex's `WorkflowGraph`: step and event nodes, an external node for human input, and edges. */
function representation(wf: Workflow): { name: string; nodes: Record<string, unknown>[]; edges: { source: string; target: string; label: null }[]; description: null } {
  const d = describeWorkflow(wf);
  const nodes: Record<string, unknown>[] = [];
  const edges: { source: string; target: string; label: null }[] = [];
  const added = new Set<string>();
  const edge = (source: string, target: string) => {
    if (!edges.some((e) => e.source === source && e.target === target)) edges.push({ source, target, label: null });
  };
  const eventNode = (c: EventClass) => {
    const t = eventTypeName(c);
    if (added.has(t)) return t;
    added.add(t);
    nodes.push({ id: t, label: t, node_type: "event", event_type: t, event_types: [t, ...(superTypes(c) ?? [])], event_schema: schemaOf(c) });
    return t;
  };
  const external = () => {
    if (!added.has("external_step")) {
      added.add("external_step");
      nodes.push({ id: "external_step", label: "external_step", node_type: "external" });
    }
    return "external_step";
  };
  const isA = (c: EventClass, base: EventClass) => c === base || c.prototype instanceof base;
  for (const s of d.steps) {
    if (!added.has(s.name)) {
      added.add(s.name);
      nodes.push({ id: s.name, label: s.name, node_type: "step", description: null });
    }
  }
  for (const s of d.steps) {
    for (const c of s.accepts) {
      edge(eventNode(c), s.name);
      if (isA(c, HumanResponseEvent)) edge(external(), eventTypeName(c));
    }
    for (const c of s.emits) {
      edge(s.name, eventNode(c));
      if (isA(c, InputRequiredEvent)) edge(eventTypeName(c), external());
    }
    for (const c of s.waitsFor) {
      edge(external(), eventNode(c));
      edge(eventTypeName(c), s.name);
    }
  }
  return { name: d.name, nodes, edges, description: null };
}

/** An OpenAPI description for a LlamaIndex route (tagged so the stepwise routes stay apart). */
function doc(summary: string, description: string, extra: Record<string, unknown> = {}) {
  return describeRoute({ summary, description, tags: ["LlamaIndex protocol"], responses: { 200: { description: "OK" } }, ...extra });
}
