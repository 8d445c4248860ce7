/**
 * Following a run's log over a long-lived response: shared by the stepwise event routes and the
 * LlamaIndex-protocol ones. One heartbeat clock for every reader; a reader of a run this process
 * does not run reads its journal and switches to the live log when the run goes live here.
 */
import type { Context } from "hono";
import { stream, streamSSE } from "hono/streaming";
import { tail, type Frame, type RunLog } from "./log.js";
import type { Runs } from "./runs.js";

/** One heartbeat clock for every idle stream: a shared promise per tick, no timer per reader. */
export class Ticker {
  #tick: Promise<"heartbeat"> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly ms: number) {}
  next(): Promise<"heartbeat"> {
    if (!this.#tick) {
      this.#tick = new Promise((resolve) => {
        this.#timer = setTimeout(() => {
          this.#tick = undefined;
          resolve("heartbeat");
        }, this.ms);
        this.#timer.unref?.();
      });
    }
    return this.#tick;
  }
  stop(): void {
    clearTimeout(this.#timer);
  }
}

/** What a streaming helper (Hono's `stream`/`streamSSE` callback argument) offers a reader. */
export interface StreamApi {
  readonly aborted: boolean;
  onAbort(f: () => void): void;
  /** `onAbort` fires whenever the client goes away: the request's own abort signal need not be watched. */
  readonly watchesClient?: boolean;
}

/** Writes text to a long-lived response; a promise when the reader should wait (backpressure). */
export type WriteText = (text: string) => Promise<unknown> | undefined;

/** The parts of node's `ServerResponse` (`c.env.outgoing` on @hono/node-server) a stream writes to. */
interface NodeOutgoing {
  writeHead(status: number, headers: Record<string, string>): unknown;
  flushHeaders(): void;
  write(chunk: string): boolean;
  end(): unknown;
  on(event: "close" | "drain", f: () => void): unknown;
  off(event: "close" | "drain", f: () => void): unknown;
}

function nodeOutgoing(c: Context): NodeOutgoing | undefined {
  const out = (c.env as { outgoing?: Partial<NodeOutgoing> } | undefined)?.outgoing;
  return out && typeof out.writeHead === "function" && typeof out.flushHeaders === "function" && typeof out.write === "function" && typeof out.on === "function" && typeof out.off === "function" ? (out as NodeOutgoing) : undefined;
}

/**
 * Answer with a long-lived stream of text written by `body`. With `direct` (node-server's
 * `RESPONSE_ALREADY_SENT`, given when the app is served whole by `serve` and has no middleware
 * that sets headers or reworks responses: no CORS, no user middleware) the text goes straight to
 * node's response with `headers`, and `direct` is the answer: no web streams, no abort
 * controller, a third less memory per open stream. Elsewhere (Bun, Deno, `app.request`), through Hono's `streamSSE` (`sse`)
 * or `stream`, with `headers` set on the context.
 */
export function respondStream(c: Context, direct: Response | undefined, sse: boolean, headers: Readonly<Record<string, string>>, body: (api: StreamApi, write: WriteText) => Promise<void>, report: (err: unknown) => void): Response {
  const out = direct !== undefined ? nodeOutgoing(c) : undefined;
  if (out === undefined) {
    if (sse) return streamSSE(c, (s) => body(s, (t) => s.write(t)));
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
    return stream(c, (s) => body(s, (t) => s.write(t)));
  }
  out.writeHead(200, { ...headers });
  out.flushHeaders();
  let closed = false;
  const onClose: (() => void)[] = [];
  out.on("close", () => {
    closed = true;
    for (const f of onClose) f();
  });
  const api: StreamApi = {
    get aborted() {
      return closed;
    },
    onAbort: (f) => void onClose.push(f),
    watchesClient: true,
  };
  const write: WriteText = (text) => {
    if (closed || out.write(text)) return undefined;
    return new Promise<void>((resolve) => {
      const go = () => {
        out.off("drain", go);
        out.off("close", go);
        resolve();
      };
      out.on("drain", go);
      out.on("close", go);
    });
  };
  body(api, write)
    .catch(report)
    .finally(() => {
      if (!closed) out.end();
    });
  return direct as Response;
}

/** The headers of an SSE answer, as Hono's `streamSSE` sets them. */
export const SSE_HEADERS: Readonly<Record<string, string>> = { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" };

/**
 * Write run `id`'s frames after position `after` until the run ends or the client goes away.
 * A client that goes away only stops its own reading: the run goes on. A run this process lets
 * go of is followed on in the store (with one, else its `detached` end is the last frame).
 */
export async function followRun(
  runs: Runs,
  ticker: Ticker,
  c: Context,
  id: string,
  after: number,
  first: { log: RunLog; live: boolean },
  api: StreamApi,
  write: (f: Frame, log: RunLog) => Promise<unknown> | undefined,
): Promise<void> {
  let source = first;
  // The reader waits on shared promises (the log's next change, the next tick, the next adoption)
  // and on its client going away. Each gets one reaction from this reader, made the first time
  // the reader waits on it, that wakes whichever wait is current: racing them at every wait would
  // add a reaction per wait to those that stay pending (the client's abort, a long tick, an idle
  // log's change), held until they settle: memory growing with the events a connection carries.
  let wake: (why: unknown) => void = () => {};
  const onAbort = () => wake("abort");
  api.onAbort(onAbort);
  const signal = api.watchesClient === true ? undefined : c.req.raw.signal;
  signal?.addEventListener("abort", onAbort, { once: true });
  const aborted = () => api.aborted || signal?.aborted === true;
  let changedSeen: Promise<void> | undefined;
  let tickSeen: Promise<unknown> | undefined;
  let adoptedSeen: Promise<unknown> | undefined;
  const watch = (p: Promise<unknown>, why: unknown) => void p.then(() => wake(why));
  let pos = after;
  // A run this process does not run is read from its journal; when it goes live here (an event
  // sent to it, a resume) or at each heartbeat, the reader looks again and goes on from `pos`.
  for (;;) {
    let refresh = false;
    const idle = async (changed: Promise<void>) => {
      const woken = new Promise<unknown>((r) => (wake = r));
      if (changed !== changedSeen) watch((changedSeen = changed), "changed");
      const tick = ticker.next();
      if (tick !== tickSeen) watch((tickSeen = tick), "heartbeat");
      if (!source.live) {
        const adopted = runs.adopted();
        if (adopted !== adoptedSeen) watch((adoptedSeen = adopted), "adopted");
      }
      const why = aborted() ? "abort" : await woken;
      wake = () => {};
      // A run going live here wakes every reader of a journal: only its own look again (in memory first).
      if (!source.live && (why === "heartbeat" || (why === "adopted" && runs.entry(id) !== undefined))) refresh = true;
      return why;
    };
    let letGo = false;
    for await (const f of tail(source.log, pos, idle, () => aborted() || refresh)) {
      if (f.kind === "event") pos = f.entry.id;
      // A run this process let go of (suspended here, taken by another process) goes on in the
      // store: its reader goes on there too, instead of ending as if the run had.
      if (f.kind === "end" && f.end.status === "detached" && runs.store !== undefined) {
        letGo = true;
        break;
      }
      const w = write(f, source.log);
      if (w !== undefined) await w;
    }
    if (aborted() || (!refresh && !letGo)) return;
    if (!source.live) await write({ kind: "heartbeat" }, source.log);
    source = await runs.log(id);
  }
}
