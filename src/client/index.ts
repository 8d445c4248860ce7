/**
 * `stepwise-ai/client`: talk to a stepwise server (`stepwise-ai/server`) from a browser or Node.
 * Built on `fetch` alone: no Node modules, no dependencies. Its streams reconnect by themselves
 * and go on exactly after the last event they delivered.
 * @packageDocumentation
 */
import type { EventClass, EventJSON, RunStatus, Workflow } from "../index.js";
import type { WorkflowInfo } from "../server/describe.js";
import type { LogEntry, RunEnd } from "../server/log.js";
import type { RunInfo } from "../server/entry.js";
import type { RunSummary } from "../server/runs.js";

export type { LogEntry, RunEnd, RunInfo, RunSummary, WorkflowInfo };

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The server's address, e.g. `http://localhost:3000` (or where its app is mounted). */
  baseUrl: string;
  /** Bearer token, when the server has `auth`. */
  // `| undefined` on each: a value read from the environment compiles under exactOptionalPropertyTypes.
  token?: string | undefined;
  /** Extra headers on every request. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch | undefined;
  /** How streams reconnect: attempts in a row before giving up (default 10), first delay (ms, default 200), cap (ms, default 5000). */
  reconnect?: { attempts?: number | undefined; delayMs?: number | undefined; maxDelayMs?: number | undefined } | undefined;
}

/** An error answered by the server (`code` as in its `{ error: { code, message, details } }`), or a run that did not complete. */
export class ClientError extends Error {
  readonly code: string;
  /** HTTP status, when the server answered; 0 for network failures and failed runs. */
  readonly status: number;
  readonly details: unknown;
  constructor(message: string, code: string, status: number, details: unknown = null) {
    super(message);
    this.name = "ClientError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyWorkflow = Workflow<any, any>;
/** The input type of a served workflow. */
export type InputOf<W> = W extends Workflow<infer I, infer _R> ? I : Record<string, unknown>;
/** The result type of a served workflow. */
export type ResultOf<W> = W extends Workflow<infer _I, infer R> ? R : unknown;

/** A run just started; `result` is there when `wait` was given and the run ended in time. */
export interface Started<R = unknown> {
  runId: string;
  status?: RunStatus;
  result?: R;
  error?: RunInfo["error"];
  /** Phantom: carries the result type to {@link StepwiseClient.result}. */
  readonly __result?: R;
}

/** One event from a run's stream; `event` is the revived instance when its class was passed in `events`. */
export interface StreamMessage<E = never> extends LogEntry {
  event: E | undefined;
}

/** Options of a single request: `signal` aborts it (it rejects with a `ClientError` of code `ABORTED`; what the server already did stays done). */
export interface RequestOptions {
  signal?: AbortSignal | undefined;
}

/** Options of {@link StepwiseClient.stream}. */
export interface StreamOptions<C extends readonly EventClass[]> {
  /** Start after this position (default: from the beginning). */
  after?: number;
  /** Stop reading (the run goes on). */
  signal?: AbortSignal;
  /** Event classes to revive messages into (`message.event`), matched by type name. */
  events?: C;
  /**
   * Told when events were lost: the server's log of the run no longer holds positions
   * `from..to` (it keeps `maxLogEvents` per run), so the stream goes on after them. Called once per
   * gap, before the first message after it is yielded. Without it a gap passes unreported.
   */
  onGap?: (gap: StreamGap) => void;
}

/** Positions `from..to` (inclusive) of a run's log that a stream skipped: the server no longer holds them. */
export interface StreamGap {
  from: number;
  to: number;
}

/** What the frames of a run's stream are to the client: an event, or a gap before the next one. */
type Frame = { gap: undefined; entry: LogEntry } | { gap: StreamGap; entry: undefined };

/**
 * A client for a stepwise server. Pass the served workflows' types for typed inputs and results:
 * `createClient<{ greeter: Greeter }>({ baseUrl })`.
 * @example
 * const client = createClient<{ greeter: Greeter }>({ baseUrl: "http://localhost:3000" });
 * const run = await client.run("greeter", { name: "Ada" });
 * for await (const m of client.stream(run.runId, { events: [Progress] })) if (m.event instanceof Progress) console.log(m.event.n);
 * console.log(await client.result(run));
 */
export function createClient<S extends Record<string, AnyWorkflow> = Record<string, AnyWorkflow>>(options: ClientOptions): StepwiseClient<S> {
  return new StepwiseClient<S>(options);
}

/** See {@link createClient}. */
export class StepwiseClient<S extends Record<string, AnyWorkflow> = Record<string, AnyWorkflow>> {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly #reconnect: { attempts: number; delayMs: number; maxDelayMs: number };

  constructor(options: ClientOptions) {
    if (typeof options?.baseUrl !== "string" || !/^https?:\/\//.test(options.baseUrl)) throw new TypeError(`createClient: baseUrl must be an http(s) URL, got ${JSON.stringify(options?.baseUrl)}.`);
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#headers = { ...options.headers, ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}) };
    this.#fetch = options.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
    const r = options.reconnect;
    this.#reconnect = { attempts: r?.attempts ?? 10, delayMs: r?.delayMs ?? 200, maxDelayMs: r?.maxDelayMs ?? 5000 };
  }

  /** The served workflows: names, input schemas, event types, drawings. */
  async workflows(options: RequestOptions = {}): Promise<WorkflowInfo[]> {
    return (await this.#json<{ workflows: WorkflowInfo[] }>("GET", "/workflows", undefined, options.signal)).workflows;
  }

  /** Start a run of `name`. With `wait` (seconds), the result comes back too if the run ends in time. */
  async run<K extends keyof S & string>(name: K, input: InputOf<S[K]>, options: { wait?: number } & RequestOptions = {}): Promise<Started<ResultOf<S[K]>>> {
    const wait = options.wait;
    if (wait !== undefined && !(typeof wait === "number" && Number.isFinite(wait) && wait >= 0 && wait < 1e15)) throw new TypeError(`client.run: wait is a number of seconds >= 0, got ${String(wait)}.`);
    // In decimal digits, as the server takes them: never an exponent (1e-7 is "0").
    const q = wait !== undefined ? `?wait=${String(Number(wait.toFixed(3)))}` : "";
    return this.#json("POST", `/workflows/${encodeURIComponent(name)}/runs${q}`, input, options.signal);
  }

  /** Wait for a run to end: its result, or a `ClientError` with the run's error code (`STEP_FAILED`, `CANCELLED`…). */
  async result<R = unknown>(run: string | Started<R>, options: { signal?: AbortSignal } = {}): Promise<R> {
    const runId = typeof run === "string" ? run : run.runId;
    // Only the end is wanted: start after any position the run can reach.
    const gen = this.#frames(runId, 999_999_999_999_999, options.signal);
    for (;;) {
      const next = await gen.next();
      if (!next.done) continue;
      const end = next.value;
      if (!end) throw new ClientError(`Stopped waiting for run "${runId}".`, "ABORTED", 0);
      if (end.status === "completed") return end.result as R;
      throw new ClientError(end.error?.message ?? `Run "${runId}" ended ${end.status}.`, end.error?.code ?? end.status.toUpperCase(), 0, end);
    }
  }

  /**
   * The run's events as they come, from the beginning (or after `after`). On a lost connection it
   * reconnects with the last id it delivered, so nothing is lost or repeated. Ends when the run
   * ends (its `RunEnd` is the iterator's return value) or when `signal` aborts.
   */
  async *stream<const C extends readonly EventClass[] = []>(runId: string, options: StreamOptions<C> = {}): AsyncGenerator<StreamMessage<InstanceType<C[number]>>, RunEnd | undefined> {
    const classes = new Map<string, EventClass>();
    for (const c of options.events ?? []) classes.set(typeName(c), c);
    const gen = this.#frames(runId, options.after ?? 0, options.signal);
    try {
      for (;;) {
        const next = await gen.next();
        if (next.done) return next.value;
        const { gap, entry } = next.value;
        if (gap !== undefined) {
          options.onGap?.(gap);
          continue;
        }
        const cls = classes.get(entry.type);
        yield { ...entry, event: cls ? (new (cls as unknown as new (d: unknown) => InstanceType<C[number]>)(entry.data)) : undefined };
      }
    } finally {
      // Left early (a `break` in the caller's loop): close the connection, which would stay open for the run's life.
      await gen.return(undefined);
    }
  }

  /** Send an event (`{ type, data }`, or an event instance) into a run, e.g. a person's answer. */
  async sendEvent(runId: string, event: EventJSON | { toJSON(): EventJSON }, options: RequestOptions = {}): Promise<void> {
    const json = "toJSON" in event && typeof event.toJSON === "function" ? event.toJSON() : (event as EventJSON);
    await this.#json("POST", `/runs/${encodeURIComponent(runId)}/events`, { type: json.type, data: json.data }, options.signal);
  }

  /** Cancel a run; resolves with how it stands after. A run that ended otherwise first (also one whose end was decided as the cancel came) rejects with `RUN_FINISHED`, its status in `details`. */
  cancel(runId: string, options: RequestOptions = {}): Promise<RunInfo> {
    return this.#json("POST", `/runs/${encodeURIComponent(runId)}/cancel`, undefined, options.signal);
  }

  /** A run: status, result or error, times, what it waits for. */
  get(runId: string, options: RequestOptions = {}): Promise<RunInfo> {
    return this.#json("GET", `/runs/${encodeURIComponent(runId)}`, undefined, options.signal);
  }

  /** Runs newest first; pass `nextCursor` back as `cursor` for the next page. */
  list(filter: { workflow?: keyof S & string; status?: RunStatus; cursor?: string; limit?: number } & RequestOptions = {}): Promise<{ runs: RunSummary[]; nextCursor: string | null }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined && k !== "signal") q.set(k, String(v));
    const qs = q.toString();
    return this.#json("GET", `/runs${qs ? `?${qs}` : ""}`, undefined, filter.signal);
  }

  async #json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    const aborted = () => new ClientError(`${method} ${path} was aborted.`, "ABORTED", 0, null);
    if (signal?.aborted) throw aborted();
    try {
      res = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers: { ...this.#headers, Accept: "application/json", ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw aborted();
      throw new ClientError(`${method} ${path} failed: ${err instanceof Error ? err.message : String(err)}.`, "NETWORK", 0, null);
    }
    if (!res.ok) throw await errorOf(res, method, path);
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw aborted();
      throw new ClientError(`${method} ${path} failed: ${err instanceof Error ? err.message : String(err)}.`, "NETWORK", 0, null);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      // Something between here and the server answered (a proxy, a captive portal).
      throw new ClientError(`${method} ${path}: HTTP ${res.status} answered with something other than JSON: ${text.slice(0, 200)}`, "BAD_RESPONSE", res.status);
    }
  }

  /** Frames of a run's SSE stream after `after`, reconnecting as needed; returns the end, or undefined when aborted. */
  async *#frames(runId: string, after: number, signal: AbortSignal | undefined): AsyncGenerator<Frame, RunEnd | undefined> {
    const path = `/runs/${encodeURIComponent(runId)}/events`;
    let last = after;
    let failures = 0;
    for (;;) {
      if (signal?.aborted) return undefined;
      let res: Response | undefined;
      try {
        res = await this.#fetch(`${this.#base}${path}`, { headers: { ...this.#headers, Accept: "text/event-stream", ...(last > 0 ? { "Last-Event-ID": String(last) } : {}) }, ...(signal ? { signal } : {}) });
      } catch (err) {
        if (signal?.aborted) return undefined;
        if (++failures > this.#reconnect.attempts) throw new ClientError(`Lost the event stream of run "${runId}" and could not reconnect: ${err instanceof Error ? err.message : String(err)}.`, "STREAM_LOST", 0);
        await delay(Math.min(this.#reconnect.maxDelayMs, this.#reconnect.delayMs * 2 ** (failures - 1)), signal);
        continue;
      }
      // 5xx may pass (a restart, a proxy); anything else the server meant.
      if (!res.ok && res.status < 500) throw await errorOf(res, "GET", path);
      // An answer not read holds its connection until it is collected.
      if (!res.ok) await res.body?.cancel().catch(() => {});
      if (res.ok) {
        // Something between here and the server answered (a captive portal's page): reading it as a
        // stream would find no end and reconnect for ever.
        const type = res.headers.get("Content-Type");
        if (type !== null && !/^text\/event-stream\b/i.test(type)) {
          const text = await res.text().catch(() => "");
          throw new ClientError(`GET ${path}: HTTP ${res.status} answered with ${type}, not an event stream: ${text.slice(0, 200)}`, "BAD_RESPONSE", res.status);
        }
      }
      if (res.ok && res.body) {
        try {
          for await (const frame of parseSse(res.body)) {
            // Any frame, a heartbeat too, says the stream worked: a cut after it starts the count again
            // (a proxy that ends every stream after a while does not end a long wait).
            failures = 0;
            if (frame.event === "end") return frameJson<RunEnd>(frame.data, path, res.status, (v) => typeof v.status === "string");
            if (frame.event === "gap") {
              const gap = frameJson<StreamGap>(frame.data, path, res.status, (v) => isPosition(v.from) && isPosition(v.to));
              // A reconnect goes on past the gap: it is not reported again.
              if (gap.to > last) last = gap.to;
              yield { gap: { from: gap.from, to: gap.to }, entry: undefined };
              continue;
            }
            if (frame.event !== "message") continue;
            const entry = frameJson<LogEntry>(frame.data, path, res.status, (v) => isPosition(v.id) && typeof v.type === "string");
            last = entry.id;
            yield { gap: undefined, entry };
          }
        } catch (err) {
          if (signal?.aborted) return undefined;
          if (err instanceof ClientError) throw err;
        }
      }
      if (signal?.aborted) return undefined;
      // The stream ended without its `end` frame: the connection was cut. Go on after `last`.
      if (++failures > this.#reconnect.attempts) throw new ClientError(`Lost the event stream of run "${runId}" ${this.#reconnect.attempts} times in a row; giving up.`, "STREAM_LOST", 0);
      await delay(Math.min(this.#reconnect.maxDelayMs, this.#reconnect.delayMs * 2 ** (failures - 1)), signal);
    }
  }
}

/**
 * A frame's JSON. Not JSON is a BAD_RESPONSE: the same frame would come again at each reconnect (it
 * starts the retry count anew), so reading on would never end.
 */
function frameJson<T>(data: string, path: string, status: number, shaped: (v: Record<string, unknown>) => boolean): T {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    v = undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v) || !shaped(v as Record<string, unknown>)) throw new ClientError(`GET ${path}: an event stream frame is not what the server sends: ${data.slice(0, 200)}`, "BAD_RESPONSE", status);
  return v as T;
}

const isPosition = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The stable type name of an event class: its own static `type`, else its name (as the core defines it). */
function typeName(cls: EventClass): string {
  const own = Object.getOwnPropertyDescriptor(cls, "type");
  return own && typeof own.value === "string" ? own.value : cls.name;
}

async function errorOf(res: Response, method: string, path: string): Promise<ClientError> {
  const text = await res.text().catch(() => "");
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } | null };
    // The server's own shape; anything else (a proxy's `{ "error": "Bad Gateway" }`) is named by its status.
    if (error && typeof error.code === "string" && typeof error.message === "string") return new ClientError(error.message, error.code, res.status, error.details ?? null);
  } catch {
    // not JSON: named by its status below
  }
  return new ClientError(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, `HTTP_${res.status}`, res.status);
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Server-sent events from a byte stream: `{ event, data, id }` per frame; a block of comments only (a heartbeat) is event `""`. */
async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string; id: string | undefined }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      for (let m = /\r?\n\r?\n/.exec(buf); m; m = /\r?\n\r?\n/.exec(buf)) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        let event = "message";
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line === "" || line.startsWith(":")) continue;
          const j = line.indexOf(":");
          const field = j < 0 ? line : line.slice(0, j);
          const v = j < 0 ? "" : line.slice(j + 1).replace(/^ /, "");
          if (field === "event") event = v;
          else if (field === "data") data.push(v);
          else if (field === "id") id = v;
        }
        if (data.length > 0) yield { event, data: data.join("\n"), id };
        else if (block.trim() !== "") yield { event: "", data: "", id };
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
