/**
 * `stepwise-ai/server`: serve workflows over HTTP (Hono). Start runs, follow their events over
 * SSE or NDJSON from any position, answer their questions, cancel them, list them.
 * With `llamaindex: "/llamaindex"` it also speaks LlamaIndex's WorkflowServer protocol under that prefix.
 * Needs `hono`, and `@hono/node-server` for {@link serve} on Node.
 * @packageDocumentation
 */
export { createServer, type ServerOptions, type StepwiseServer } from "./app.js";
export { serve, type ServeOptions, type RunningServer } from "./serve.js";
export { ServerError, type ServerErrorCode, type ErrorBody } from "./errors.js";
export type { LogEntry, RunEnd } from "./log.js";
export type { RunSummary } from "./runs.js";
export type { RunInfo } from "./entry.js";
export type { WorkflowInfo } from "./describe.js";
export type { LlamaIndexHandler, EventEnvelope as LlamaIndexEventEnvelope } from "./llamaindex.js";
