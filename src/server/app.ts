/** `createServer`: the HTTP API over a set of workflows, as a Hono app. */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import type { BlankEnv } from "hono/types";
import { cors } from "hono/cors";
import { EventValidationError, type RunStatus, type Store, type Workflow, type EventJSON } from "../index.js";
import { describeRoute, openAPIRouteHandler } from "hono-openapi";
import { describeServed, type WorkflowInfo } from "./describe.js";
import { components, routes } from "./openapi.js";
import { PAGE_HTML } from "./page.js";
import { renderHtml } from "../draw/html.js";
import { ServerError, httpExceptionOf, issueList, toErrorResponse } from "./errors.js";
import type { Frame } from "./log.js";
import { bodyJSON, bodyText, header, readJson } from "./body.js";
import { decimalParam, integerParam } from "./params.js";
import { withTraceCarrier } from "../otel/auto.js";
import { llamaIndexError, llamaIndexRoutes } from "./llamaindex.js";
import { SSE_HEADERS, Ticker, followRun, respondStream } from "./follow.js";
import { DeadlineSet, EndWait } from "./deadline.js";
import { JSON_HEADERS, endedRunJSON, runInfoJSON } from "./json.js";
import { Runs, servedWorkflows, sleep, startEventOf, type Cursor } from "./runs.js";
import type { Served } from "./entry.js";

/** What `createServer` takes. */
export interface ServerOptions {
  /** The workflows to serve, by the name used in URLs: instances (an App is one), or classes (constructed with `{ store }`). */
  workflows: Readonly<Record<string, Workflow | (new (options?: object) => Workflow)>>;
  /**
   * Where runs are listed from and resumed from. Pass the same store the workflow instances
   * were given (classes get it automatically). Without one, the server knows only the runs it
   * started since it began.
   */
  store?: Store;
  /** Bearer-token auth: requests need `Authorization: Bearer <token>` with one of these tokens (`/health` excepted). */
  auth?: { token: string | readonly string[] };
  /** Your own middleware (sessions, rate limits, logging), run after auth and before the routes. */
  middleware?: readonly MiddlewareHandler[];
  /** CORS for browsers on other origins: off unless set (`true` allows any origin). */
  cors?: boolean | Parameters<typeof cors>[0];
  /** Largest request body in bytes (default 1 MiB); larger is a 413. */
  maxBodyBytes?: number;
  /** Seconds a request may take (default 30), event streams excepted; `?wait` is capped below it. */
  requestTimeout?: number;
  /** Seconds between heartbeats on an idle event stream (default 15). */
  heartbeat?: number;
  /** Ended runs whose logs this process keeps in memory (default 1000; `Infinity` keeps every one); older ones are read from the store. */
  keepFinishedRuns?: number;
  /** Events kept per run log (default 10,000; `Infinity` keeps every one); a reader asking for older ones gets a `gap` frame. */
  maxLogEvents?: number;
  /** Resume the store's `"running"` runs of these workflows when the server starts (default true with a store). */
  resume?: boolean;
  /**
   * Also speak LlamaIndex's WorkflowServer protocol under this path prefix (`true` = `"/llamaindex"`),
   * so frontends written for `@llamaindex/workflows-client` work unchanged with `baseUrl` set to
   * `<server>/llamaindex`. Off by default. See docs/llamaindex-protocol.md.
   */
  llamaindex?: string | boolean;
  /**
   * Where steps queue when they run on workers: a function answering each queue's figures, served
   * at `GET /queues` and shown on the page, e.g. `() => queueStats({ connection })` from
   * `stepwise-ai/bullmq`. Without it `/queues` is a 404.
   */
  queues?: () => unknown;
  /** Told about unexpected errors (answered as a bare 500). Default: `console.error`. */
  onError?: (err: unknown) => void;
}

/** The Hono app `createServer` returns, with the server's own controls. */
export type StepwiseServer = Hono & {
  /** The runs this server knows. */
  readonly runs: Runs;
  /** Settles once the store's running runs have been resumed (at once without a store or with `resume: false`). */
  readonly ready: Promise<{ resumed: string[]; failed: { runId: string; error: unknown }[] }>;
  /** Stop taking new runs (503), let live runs go on for `graceSeconds`, then suspend them to the store (or cancel them without one). */
  shutdown(graceSeconds?: number): Promise<void>;
};

const STATUSES = new Set<RunStatus>(["running", "waiting", "completed", "failed", "cancelled", "timed_out"]);

/**
 * Serve `workflows` over HTTP. Returns a Hono app: mount it in your own (`app.route("/api", server)`),
 * run it with {@link serve} on Node, or hand `server.fetch` to Bun or Deno.
 * @example
 * const server = createServer({ workflows: { approve: new Approval({ store }) }, store, auth: { token: process.env.TOKEN! } });
 * serve(server, { port: 8080 });
 */
export function createServer(options: ServerOptions): StepwiseServer {
  const served = servedWorkflows(options.workflows, options.store);
  const report = options.onError ?? ((err: unknown) => console.error("stepwise server:", err));
  const keepFinished = numberOption("keepFinishedRuns", options.keepFinishedRuns, 1000, { min: 0, whole: true, infinite: "to keep every ended run" });
  const logLimit = numberOption("maxLogEvents", options.maxLogEvents, 10_000, { min: 1, whole: true, infinite: "to keep every event" });
  const runs = new Runs(served, { store: options.store, keepFinished, logLimit, report });
  const timeoutMs = numberOption("requestTimeout", options.requestTimeout, 30, { over: 0 }) * 1000;
  const ticker = new Ticker(numberOption("heartbeat", options.heartbeat, 15, { over: 0 }) * 1000);
  let closing = false;
  const refuseWhenClosing = () => {
    if (closing) throw new ServerError("SHUTTING_DOWN", "The server is shutting down and continues no runs; retry on another instance.");
  };
  const infos = new Map<string, WorkflowInfo>();
  const infoOf = (s: Served) => {
    let i = infos.get(s.name);
    if (!i) infos.set(s.name, (i = describeServed(s.name, s.wf)));
    return i;
  };
  const workflowOf = (name: string): Served => {
    const s = served.get(name);
    if (!s) throw new ServerError("WORKFLOW_NOT_FOUND", `No workflow "${name}" is served here (served: ${[...served.keys()].join(", ")}).`, { workflow: name });
    return s;
  };

  const app = new Hono();
  // The routes' descriptions live on a second app that only `GET /openapi.json` reads, so no
  // request pays for a describing middleware.
  const docs = new Hono();
  const deadlines = new DeadlineSet();
  const timedOut = () => {
    throw new ServerError("REQUEST_TIMEOUT", `The request took longer than the server's request timeout (${timeoutMs / 1000}s).`);
  };
  // The request timeout: a middleware in front of the user's own when there are some (they may
  // hang too); else each route applies it to its own handler (see `on`), which spares every
  // request a middleware layer, and the LlamaIndex routes, mounted whole, take the middleware.
  const timeoutFirst = (options.middleware?.length ?? 0) > 0;
  // Event streams go straight to node's response only when this app is served whole by `serve`
  // and has no middleware that may set headers (CORS) or rework answers (the user's own): Hono
  // would wrap the already-sent answer in another. Mounted in another app, whose middleware this
  // one cannot see, they go through Hono's streams.
  const directAllowed = !timeoutFirst && !options.cors;
  const direct = () => (directAllowed ? servedWhole.get(app) : undefined);
  /** Register a route: its description on `docs`, its handler (within the request timeout unless `open`) on `app`. */
  const on = <P extends string>(method: "GET" | "POST", path: P, doc: MiddlewareHandler, handler: (c: Context<BlankEnv, P>) => Response | Promise<Response>, open = false) => {
    docs.on(method, path, doc);
    if (open || timeoutFirst) app.on(method, path, handler);
    else
      app.on(method, path, (c) => {
        const r = handler(c);
        return r instanceof Promise ? deadlines.race<Response, never>(r, timeoutMs, timedOut) : r;
      });
  };
  app.onError((err, c) => {
    // The server's middleware (auth, request timeout, the user's own) runs for the LlamaIndex routes too: their errors in their shape.
    if (llamaPrefix !== undefined && (c.req.path === llamaPrefix || c.req.path.startsWith(`${llamaPrefix}/`))) return llamaIndexError(c, err, report);
    const thrown = httpExceptionOf(err);
    if (thrown) return thrown.response ?? c.json({ error: { code: `HTTP_${thrown.status}`, message: thrown.message, details: null } }, thrown.status as 500);
    const { status, body } = toErrorResponse(err, report);
    return c.json(body, status as 500);
  });
  app.notFound((c) => {
    const { status, body } = toErrorResponse(new ServerError("NOT_FOUND", `No route ${c.req.method} ${new URL(c.req.url).pathname}. See GET /openapi.json for the routes.`));
    return c.json(body, status as 404);
  });
  if (options.cors) app.use("*", cors(options.cors === true ? {} : options.cors));
  const llamaPrefix = options.llamaindex === true ? "/llamaindex" : typeof options.llamaindex === "string" && options.llamaindex !== "" ? options.llamaindex.replace(/\/+$/, "") : undefined;
  if (llamaPrefix !== undefined && !/^(\/[A-Za-z0-9_.~-]+)+$/.test(llamaPrefix)) {
    throw new TypeError(`createServer: llamaindex must be a path prefix such as "/llamaindex" (its routes would clash with the server's own at "/"); got ${JSON.stringify(options.llamaindex)}.`);
  }
  if (timeoutFirst) app.use("*", requestTimeout(deadlines, timeoutMs, timedOut));
  else if (llamaPrefix !== undefined) app.use(`${llamaPrefix}/*`, requestTimeout(deadlines, timeoutMs, timedOut));
  if (options.auth) app.use("*", bearerAuth(options.auth.token, new Set(["/", "/health", ...(llamaPrefix ? [`${llamaPrefix}/health`] : [])])));
  const maxBody = numberOption("maxBodyBytes", options.maxBodyBytes, 1024 * 1024, { min: 1, whole: true });
  for (const m of options.middleware ?? []) app.use("*", m);

  on("GET", "/health", routes.health, (c) => c.json({ status: closing ? "shutting_down" : "ok", workflows: served.size, liveRuns: runs.liveCount }, closing ? 503 : 200));

  on("GET", "/queues", routes.queues, async (c) => {
    if (!options.queues) throw new ServerError("NOT_FOUND", "This server shows no queues: pass createServer({ queues: () => queueStats({ connection }) }) (stepwise-ai/bullmq).");
    return c.json({ queues: await options.queues() });
  });

  on("GET", "/workflows", routes.workflows, (c) => c.json({ workflows: [...served.values()].map(infoOf) }));
  on("GET", "/", routes.page, (c) => c.html(PAGE_HTML));
  on("GET", "/workflows/:name/drawing", routes.drawing, (c) => c.html(renderHtml(infoOf(workflowOf(c.req.param("name"))).graph)));
  on("GET", "/workflows/:name", routes.workflow, (c) => c.json(infoOf(workflowOf(c.req.param("name")))));

  on("POST", "/workflows/:name/runs", routes.start, async (c) => {
    const s = workflowOf(c.req.param("name"));
    if (closing) throw new ServerError("SHUTTING_DOWN", "The server is shutting down and takes no new runs; retry on another instance.");
    const body = bodyJSON(c, await bodyText(c, maxBody));
    let start;
    try {
      start = startEventOf(s, body);
    } catch (err) {
      if (err instanceof EventValidationError) throw new ServerError("INVALID_INPUT", err.message, { issues: issueList(err.issues) });
      throw err;
    }
    const wait = decimalParam(c.req.query("wait"), "wait");
    // A `traceparent` header: the run joins the caller's trace.
    const traceparent = header(c, "traceparent");
    const entry = traceparent === undefined ? runs.start(s, start) : withTraceCarrier({ traceparent, tracestate: header(c, "tracestate") }, () => runs.start(s, start));
    // The run id is only answered once the run is in the store: a crash after the answer loses nothing.
    // Without a store there is nothing to wait for (and no microtask turn to pay).
    if (options.store !== undefined) await entry.handler?.recorded;
    if (wait !== undefined && wait > 0) {
      const cap = Math.max(0, timeoutMs / 1000 - 1);
      // One list of deadlines per wait duration, one timer for each list: no timer per request.
      // A run this process let go of (suspended, taken by another process) has not ended: it goes on.
      const w = new EndWait();
      deadlines.wait(w, Math.min(wait, cap) * 1000);
      runs.onEnd(entry, w);
      if ((await w.ended) && entry.status !== "detached") {
        // Started just now by `runs.start`: its id is a UUID the engine made.
        if (entry.handler === undefined) return c.body(endedRunJSON(entry, true), 200, JSON_HEADERS);
        const info = runs.entryInfo(entry);
        return c.body(runInfoJSON(info instanceof Promise ? await info : info), 200, JSON_HEADERS);
      }
    }
    return c.json({ runId: entry.runId }, 202);
  });

  on("GET", "/runs", routes.list, async (c) => {
    const workflow = c.req.query("workflow");
    const status = c.req.query("status");
    if (status !== undefined && !STATUSES.has(status as RunStatus)) throw new ServerError("BAD_REQUEST", `status must be one of ${[...STATUSES].join(", ")}; got ${JSON.stringify(status)}.`, { parameter: "status" });
    const limit = integerParam(c.req.query("limit"), "limit", { min: 1, max: 500 }) ?? 50;
    const page = await runs.list({
      ...(workflow !== undefined ? { workflow: workflowOf(workflow) } : {}),
      ...(status !== undefined ? { status: status as RunStatus } : {}),
      ...(c.req.query("cursor") !== undefined ? { cursor: decodeCursor(c.req.query("cursor") as string) } : {}),
      limit,
    });
    return c.json({ runs: page.runs, nextCursor: page.next ? encodeCursor(page.next) : null });
  });

  on("GET", "/runs/:id", routes.get, async (c) => c.body(runInfoJSON(await runs.info(c.req.param("id"))), 200, JSON_HEADERS));

  on("GET", "/runs/:id/events", routes.events, async (c) => {
    const id = c.req.param("id");
    // Last-Event-ID first: a browser's EventSource reconnects to the same URL (its `?after=` too)
    // with the id of the last event it got, which is where it goes on.
    const from = integerParam(c.req.query("after"), "after") ?? 0;
    const lastId = c.req.header("Last-Event-ID");
    // An empty Last-Event-ID is none (an EventSource that got no id yet).
    const after = lastId !== undefined && lastId !== "" ? (integerParam(lastId, "Last-Event-ID") as number) : from;
    const source = await runs.log(id);
    const ndjson = (c.req.header("Accept") ?? "").includes("application/x-ndjson");
    return respondStream(c, direct(), !ndjson, ndjson ? NDJSON_HEADERS : SSE_HEADERS, (api, write) => followRun(runs, ticker, c, id, after, source, api, (f) => write(ndjson ? `${JSON.stringify(ndjsonFrame(f))}\n` : sseFrame(f))), report);
    // Event streams are meant to stay open: no request timeout.
  }, true);

  on("POST", "/runs/:id/events", routes.send, async (c) => {
    const id = c.req.param("id");
    const body = (await readJson(c, maxBody)) as EventJSON;
    if (body === null || typeof body !== "object" || Array.isArray(body) || typeof body.type !== "string") {
      throw new ServerError("INVALID_EVENT", `The body is an event as { "type": "<event type>", "data": { ...fields } }; got ${JSON.stringify(body)}.`, { issues: [{ path: "type", message: "Expected a string" }] });
    }
    if (body.data !== undefined && (body.data === null || typeof body.data !== "object" || Array.isArray(body.data))) {
      throw new ServerError("INVALID_EVENT", `"data" is the event's fields, an object; got ${JSON.stringify(body.data)}.`, { issues: [{ path: "data", message: "Expected an object" }] });
    }
    await runs.deliver(id, { type: body.type, data: body.data ?? {} }, refuseWhenClosing);
    return c.json({ runId: id, delivered: true }, 202);
  });

  on("POST", "/runs/:id/cancel", routes.cancel, async (c) => {
    const id = c.req.param("id");
    await runs.cancel(id);
    return c.body(runInfoJSON(await runs.info(id)), 200, JSON_HEADERS);
  });

  if (llamaPrefix !== undefined) {
    const llama = llamaIndexRoutes({ runs, ticker, maxBodyBytes: maxBody, closing: () => closing, beforeContinue: refuseWhenClosing, report, direct });
    app.route(llamaPrefix, llama);
    docs.route(llamaPrefix, llama);
  }

  docs.get("/openapi.json", describeRoute({ hide: true }));
  app.get(
    "/openapi.json",
    openAPIRouteHandler(docs, {
      documentation: {
        openapi: "3.1.0",
        info: { title: "stepwise server", version: "1", description: `Runs of the workflows ${[...served.keys()].join(", ")}: start them, follow their events, answer them, cancel them.` },
        components: { schemas: components, ...(options.auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {}) },
        ...(options.auth ? { security: [{ bearer: [] }] } : {}),
      },
    }),
  );

  const ready = options.resume === false ? Promise.resolve({ resumed: [], failed: [] }) : runs.resumeStored().catch((err: unknown) => {
    report(err);
    return { resumed: [], failed: [] };
  });
  return Object.assign(app, {
    runs,
    ready,
    async shutdown(graceSeconds = 10) {
      closing = true;
      await ready;
      const live = runs.liveEntries();
      await Promise.race([Promise.all(live.map((e) => e.done)), sleep(graceSeconds * 1000)]);
      await runs.detachAll();
      ticker.stop();
      deadlines.stop();
    },
  });
}

/**
 * Apps served whole by `serve` on @hono/node-server (no outer app's middleware can rework their
 * answers), each with node-server's `RESPONSE_ALREADY_SENT`: what a handler that wrote node's
 * response itself returns.
 */
const servedWhole = new WeakMap<object, Response>();

/** Called by `serve`: `app` is the top app on @hono/node-server. @internal */
export function servedByNode(app: object, alreadySent: Response): void {
  servedWhole.set(app, alreadySent);
}

/* ------------------------------------------------------------------ helpers */

/**
 * A number option of `createServer`, `fallback` when not given; a RangeError naming it when it is
 * not a number ≥ `min` (or > `over`; `whole`: an integer; `infinite`: Infinity allowed, and what it means).
 */
function numberOption(name: string, value: unknown, fallback: number, rule: { min?: number; over?: number; whole?: boolean; infinite?: string }): number {
  if (value === undefined) return fallback;
  const inRange = typeof value === "number" && (rule.over !== undefined ? value > rule.over : value >= (rule.min ?? 0));
  const ok = inRange && (value === Infinity ? rule.infinite !== undefined : Number.isFinite(value) && (!rule.whole || Number.isInteger(value)));
  if (!ok) {
    const bound = rule.over !== undefined ? `> ${rule.over}` : `≥ ${rule.min ?? 0}`;
    const what = `${rule.whole ? "a whole number" : "a number"} ${bound}${rule.infinite ? ` (or Infinity ${rule.infinite})` : ""}`;
    throw new RangeError(`createServer: ${name} must be ${what}; got ${typeof value === "number" ? String(value) : (JSON.stringify(value) ?? typeof value)}.`);
  }
  return value;
}

function encodeCursor(c: Cursor): string {
  return btoa(encodeURIComponent(JSON.stringify([c.createdAt, c.runId]))).replace(/=+$/, "");
}

function decodeCursor(raw: string): Cursor {
  try {
    const v = JSON.parse(decodeURIComponent(atob(raw))) as unknown;
    if (Array.isArray(v) && typeof v[0] === "number" && typeof v[1] === "string") return { createdAt: v[0], runId: v[1] };
  } catch {
    // falls through to the error below
  }
  throw new ServerError("BAD_REQUEST", "cursor is not one this server gave out; pass nextCursor from a GET /runs response as it is.", { parameter: "cursor" });
}

const NDJSON_HEADERS: Readonly<Record<string, string>> = { "Content-Type": "application/x-ndjson", "Cache-Control": "no-cache" };

/** A frame as SSE text: the bytes Hono's `writeSSE` writes (JSON text holds no line break). */
function sseFrame(f: Frame): string {
  if (f.kind === "event") return `data: ${JSON.stringify(f.entry)}\nid: ${f.entry.id}\n\n`;
  if (f.kind === "heartbeat") return ": heartbeat\n\n";
  if (f.kind === "gap") return `event: gap\ndata: ${JSON.stringify({ from: f.from, to: f.to })}\n\n`;
  return `event: end\ndata: ${JSON.stringify(f.end)}\n\n`;
}

function ndjsonFrame(f: Frame): Record<string, unknown> {
  if (f.kind === "event") return { kind: "event", ...f.entry };
  if (f.kind === "gap") return { kind: "gap", from: f.from, to: f.to };
  if (f.kind === "heartbeat") return { kind: "heartbeat" };
  return { kind: "end", ...f.end };
}

/** Bearer auth with a constant-time comparison of the token against each allowed one. */
function bearerAuth(tokens: string | readonly string[], open: ReadonlySet<string>): MiddlewareHandler {
  const allowed = (typeof tokens === "string" ? [tokens] : [...tokens]).map((t) => new TextEncoder().encode(t));
  if (allowed.length === 0 || allowed.some((t) => t.length === 0)) throw new TypeError("createServer: auth.token must be a non-empty string or list of them.");
  return async (c, next) => {
    // The page itself holds no data (it asks for the token); health checks come from load balancers.
    if (open.has(c.req.path)) return next();
    const header = c.req.header("Authorization") ?? "";
    const m = /^Bearer ([^\s]+)$/i.exec(header);
    const given = new TextEncoder().encode(m?.[1] ?? "");
    let ok = false;
    for (const t of allowed) ok = constantTimeEqual(given, t) || ok;
    if (!m || !ok) {
      c.header("WWW-Authenticate", 'Bearer realm="stepwise"');
      throw new ServerError("UNAUTHORIZED", m ? "The bearer token is not valid." : "This server needs Authorization: Bearer <token>.");
    }
    return next();
  };
}

/** Compares every byte whatever the lengths, so the time says nothing about where they differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % Math.max(1, a.length)] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** Fails requests that take longer than `ms` (event streams excepted: they are meant to stay open). */
function requestTimeout(deadlines: DeadlineSet, ms: number, timedOut: () => never): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === "GET" && /\/events(\/[^/]+)?$/.test(c.req.path)) return next();
    await deadlines.race(next(), ms, timedOut);
  };
}
