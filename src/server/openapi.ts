/**
 * The route schemas: each route carries its description (hono-openapi's `describeRoute`), and
 * `GET /openapi.json` is generated from them. Schemas are plain JSON Schema, so no schema
 * library is needed at run time.
 */
import { describeRoute } from "hono-openapi";
import type { MiddlewareHandler } from "hono";

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: "object", properties, required });
const str: Schema = { type: "string" };
const num: Schema = { type: "number" };
const anything: Schema = {};

const STATUS: Schema = { type: "string", enum: ["running", "waiting", "completed", "failed", "cancelled", "timed_out", "detached"] };
const RUN_ERROR = obj({ name: str, message: str, code: str, step: str }, ["name", "message"]);
const EVENT = obj({ type: str, data: { type: "object" } }, ["type"]);
const LOG_ENTRY = obj(
  {
    id: { type: "integer", minimum: 1, description: "Position in the run's log; pass it as Last-Event-ID or ?after= to go on after it." },
    type: str,
    data: { type: "object" },
    origin: obj({ runId: str, workflow: str, path: { type: "array", items: str } }),
    journal: { type: "boolean", description: "Rebuilt from the store's journal (the live log was lost), not read live." },
  },
  ["id", "type", "data"],
);

/** The shapes the API answers with, as OpenAPI components. */
export const components: Record<string, Schema> = {
  Error: obj({ error: obj({ code: str, message: str, details: anything }, ["code", "message", "details"]) }, ["error"]),
  Event: EVENT,
  LogEntry: LOG_ENTRY,
  RunEnd: obj({ status: STATUS, result: anything, error: RUN_ERROR }, ["status"]),
  Run: obj(
    {
      runId: str,
      workflow: str,
      status: STATUS,
      input: EVENT,
      result: anything,
      error: RUN_ERROR,
      createdAt: num,
      updatedAt: num,
      parentRunId: str,
      children: { type: "array", items: str },
      waitingFor: { type: "array", items: str },
      inputRequired: { type: "array", items: LOG_ENTRY },
      live: { type: "boolean" },
    },
    ["runId", "workflow", "status", "createdAt", "updatedAt", "children", "waitingFor", "inputRequired", "live"],
  ),
  RunSummary: obj({ runId: str, workflow: str, status: STATUS, createdAt: num, updatedAt: num, parentRunId: str, live: { type: "boolean" } }, ["runId", "workflow", "status", "createdAt", "updatedAt", "live"]),
  Workflow: obj(
    {
      name: str,
      workflow: str,
      startEvent: str,
      inputSchema: { type: ["object", "null"], description: "JSON Schema of the run's input, when the StartEvent's schema gives one." },
      eventTypes: { type: "array", items: str },
      externalEventTypes: { type: "array", items: str },
      graph: { type: "object", description: "The drawing model (stepwise-ai/draw)." },
    },
    ["name", "workflow", "startEvent", "inputSchema", "eventTypes", "externalEventTypes", "graph"],
  ),
};

const json = (schema: Schema, description: string) => ({ description, content: { "application/json": { schema } } });
const error = (description: string) => json(ref("Error"), description);
const runId = { name: "id", in: "path" as const, required: true, schema: str };

/** The description of each route, by name. */
export const routes = {
  page: describeRoute({ hide: true }),
  drawing: describeRoute({
    summary: "The workflow's drawing, one offline HTML page",
    tags: ["workflows"],
    parameters: [{ name: "name", in: "path", required: true, schema: str }],
    responses: { 200: { description: "HTML", content: { "text/html": { schema: str } } }, 404: error("No such workflow") },
  }),
  queues: describeRoute({ summary: "Step queues (runs on workers)", tags: ["server"], responses: { 200: json(obj({ queues: { type: "array", items: { type: "object" } } }), "Each queue's figures, as the queues option answers them"), 404: error("No queues configured") } }),
  health: describeRoute({ summary: "Liveness", tags: ["server"], security: [], responses: { 200: json(obj({ status: str, workflows: num, liveRuns: num }), "Up"), 503: json(obj({ status: str }), "Shutting down") } }),
  workflows: describeRoute({ summary: "The served workflows", tags: ["workflows"], responses: { 200: json(obj({ workflows: { type: "array", items: ref("Workflow") } }, ["workflows"]), "Workflows") } }),
  workflow: describeRoute({
    summary: "One served workflow",
    tags: ["workflows"],
    parameters: [{ name: "name", in: "path", required: true, schema: str }],
    responses: { 200: json(ref("Workflow"), "The workflow"), 404: error("No such workflow") },
  }),
  start: describeRoute({
    summary: "Start a run",
    tags: ["runs"],
    parameters: [
      { name: "name", in: "path", required: true, schema: str },
      { name: "wait", in: "query", required: false, schema: { type: "number", minimum: 0 }, description: "Seconds to wait for the run to end; its result comes back if it does." },
    ],
    requestBody: { required: true, description: "The run's input: the StartEvent's fields (see the workflow's inputSchema).", content: { "application/json": { schema: { type: "object" } } } },
    responses: {
      200: json(ref("Run"), "The run ended within ?wait"),
      202: json(obj({ runId: str }, ["runId"]), "Started"),
      400: error("Not JSON"),
      404: error("No such workflow"),
      413: error("Body too large"),
      422: error("The StartEvent's schema rejected the input; details.issues names the fields"),
    },
  }),
  list: describeRoute({
    summary: "Runs, newest first",
    tags: ["runs"],
    parameters: [
      { name: "workflow", in: "query", schema: str },
      { name: "status", in: "query", schema: STATUS },
      { name: "cursor", in: "query", schema: str, description: "nextCursor of the previous page" },
      { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500 } },
    ],
    responses: { 200: json(obj({ runs: { type: "array", items: ref("RunSummary") }, nextCursor: { type: ["string", "null"] } }, ["runs", "nextCursor"]), "A page of runs"), 400: error("Bad parameter") },
  }),
  get: describeRoute({ summary: "One run", tags: ["runs"], parameters: [runId], responses: { 200: json(ref("Run"), "The run"), 404: error("No such run") } }),
  events: describeRoute({
    summary: "The run's events (SSE, or NDJSON with Accept: application/x-ndjson)",
    description: "Each SSE frame's id is the event's position in the run's log; Last-Event-ID or ?after=N goes on after N (Last-Event-ID first: an EventSource reconnects to the same URL with it). A final `end` frame (RunEnd) closes the stream; `gap` frames name positions no longer kept; comments are heartbeats.",
    tags: ["runs"],
    parameters: [runId, { name: "after", in: "query", schema: { type: "integer", minimum: 0 } }, { name: "Last-Event-ID", in: "header", schema: { type: "integer", minimum: 0 } }],
    responses: {
      200: { description: "The stream", content: { "text/event-stream": { schema: ref("LogEntry") }, "application/x-ndjson": { schema: ref("LogEntry") } } },
      400: error("Bad position"),
      404: error("No such run"),
    },
  }),
  send: describeRoute({
    summary: "Send an event into a run",
    tags: ["runs"],
    parameters: [runId],
    requestBody: { required: true, content: { "application/json": { schema: ref("Event") } } },
    responses: { 202: json(obj({ runId: str, delivered: { type: "boolean" } }), "Delivered"), 404: error("No such run"), 409: error("The run has ended"), 422: error("Unknown event type, or the event's schema rejected the data") },
  }),
  cancel: describeRoute({ summary: "Cancel a run", tags: ["runs"], parameters: [runId], responses: { 200: json(ref("Run"), "The run after"), 404: error("No such run"), 409: error("The run has ended, or its end was decided before the cancel took effect (details.status says how)") } }),
} satisfies Record<string, MiddlewareHandler>;
