/**
 * Following a run's log over a long-lived response: shared by the stepwise event routes and the
 * LlamaIndex-protocol ones. One heartbeat clock for every reader; a reader of a run this process
 * does not run reads its journal and switches to the live log when the run goes live here.
 */
import type { Context } from "hono";
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
}

/**
 * Write run `id`'s frames after position `after` until the run ends or the client goes away.
 * A client that goes away only stops its own reading: the run goes on.
 */
export async function followRun(
  runs: Runs,
  ticker: Ticker,
  c: Context,
  id: string,
  after: number,
  first: { log: RunLog; live: boolean },
  api: StreamApi,
  write: (f: Frame, log: RunLog) => Promise<unknown>,
): Promise<void> {
  let source = first;
  let gone!: () => void;
  const abort = new Promise<void>((r) => (gone = r));
  api.onAbort(gone);
  c.req.raw.signal.addEventListener("abort", gone, { once: true });
  const aborted = () => api.aborted || c.req.raw.signal.aborted;
  let pos = after;
  // A run this process does not run is read from its journal; when it goes live here (an event
  // sent to it, a resume) or at each heartbeat, the reader looks again and goes on from `pos`.
  for (;;) {
    let refresh = false;
    const idle = async (changed: Promise<void>) => {
      const why = await Promise.race(source.live ? [changed, ticker.next(), abort] : [changed, ticker.next(), abort, runs.adopted()]);
      if (!source.live && (why === "adopted" || why === "heartbeat")) refresh = true;
      return why;
    };
    for await (const f of tail(source.log, pos, idle, () => aborted() || refresh)) {
      if (f.kind === "event") pos = f.entry.id;
      await write(f, source.log);
    }
    if (!refresh || aborted()) return;
    if (!source.live) await write({ kind: "heartbeat" }, source.log);
    source = await runs.log(id);
  }
}
