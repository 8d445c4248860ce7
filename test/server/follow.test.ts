import { describe, expect, it } from "vitest";
import type { Context } from "hono";
import { Ticker, followRun, type StreamApi } from "../../src/server/follow.js";
import { RunLog, type Frame } from "../../src/server/log.js";
import type { Runs } from "../../src/server/runs.js";

/** Counts the reactions (`then` calls, which `Promise.race` and `await` make) a promise gets. */
function counted<T>(p: Promise<T>): { promise: Promise<T>; reactions: () => number } {
  let n = 0;
  const then = p.then.bind(p);
  void Object.defineProperty(p, "then", {
    value: (...args: Parameters<Promise<T>["then"]>) => {
      n++;
      return then(...args);
    },
  });
  return { promise: p, reactions: () => n };
}

/** A ticker whose ticks the test fires. */
class ManualTicker extends Ticker {
  #tick: { promise: Promise<"heartbeat">; fire: () => void; reactions: () => number } | undefined;
  constructor() {
    super(1_000_000);
  }
  override next(): Promise<"heartbeat"> {
    if (!this.#tick) {
      let fire!: () => void;
      const c = counted(new Promise<"heartbeat">((r) => (fire = () => r("heartbeat"))));
      this.#tick = { ...c, fire };
    }
    return this.#tick.promise;
  }
  get reactions(): number {
    return this.#tick?.reactions() ?? 0;
  }
  /** Fire the tick a reader waits on (once one does). */
  async fire(): Promise<void> {
    for (let i = 0; i < 1000 && this.#tick === undefined; i++) await new Promise((r) => setImmediate(r));
    const t = this.#tick;
    this.#tick = undefined;
    t?.fire();
  }
}

/** A reader of `log` through followRun; `written` resolves at each frame it writes. */
function reader(runs: Partial<Runs>, ticker: Ticker, first: { log: RunLog; live: boolean }) {
  const frames: Frame[] = [];
  let onFrame: (() => void) | undefined;
  let closed = false;
  const closers: (() => void)[] = [];
  const api: StreamApi = {
    get aborted() {
      return closed;
    },
    onAbort: (f) => void closers.push(f),
    watchesClient: true,
  };
  const done = followRun(runs as Runs, ticker, {} as Context, "r", 0, first, api, (f) => {
    frames.push(f);
    onFrame?.();
    return undefined;
  });
  const next = (count: number) =>
    new Promise<void>((resolve) => {
      const want = frames.length + count;
      onFrame = () => {
        if (frames.length >= want) resolve();
      };
    });
  const close = () => {
    closed = true;
    for (const f of closers) f();
  };
  return { frames, next, close, done };
}

describe("followRun: what a reader waits on grows with the reader, not with the run", () => {
  it("a reader that idles between 1,000 events of one tick adds one reaction to the tick, not one per wait", async () => {
    const ticker = new ManualTicker();
    const log = new RunLog();
    const r = reader({}, ticker, { log, live: true });
    for (let n = 1; n <= 1000; n++) {
      const wrote = r.next(1);
      log.append({ type: "E", data: { n } });
      await wrote;
    }
    expect(r.frames).toHaveLength(1000);
    expect(ticker.reactions).toBeLessThanOrEqual(2);
    r.close();
    await ticker.fire();
    await r.done;
  });

  it("a reader of an idle run adds one reaction to the log's pending change over 1,000 heartbeats", async () => {
    const ticker = new ManualTicker();
    class Counting extends RunLog {
      pending: ReturnType<typeof counted<void>> | undefined;
      override changed(): Promise<void> {
        const p = super.changed();
        if (this.pending?.promise !== p) this.pending = counted(p);
        return p;
      }
    }
    const log = new Counting();
    const r = reader({}, ticker, { log, live: true });
    for (let n = 0; n < 1000; n++) {
      const beat = r.next(1);
      await ticker.fire();
      await beat;
    }
    expect(r.frames.filter((f) => f.kind === "heartbeat")).toHaveLength(1000);
    expect(log.pending?.reactions()).toBeLessThanOrEqual(2);
    r.close();
    log.finish({ status: "completed" });
    await r.done;
  });

  it("a reader of a run held elsewhere adds one reaction to the server's adoption promise over 1,000 heartbeats", async () => {
    const ticker = new ManualTicker();
    const adopted = counted(new Promise<"adopted">(() => {}));
    const runs: Partial<Runs> = { adopted: () => adopted.promise, log: () => Promise.resolve({ log: new RunLog(), live: false }) };
    const r = reader(runs, ticker, { log: new RunLog(), live: false });
    for (let n = 0; n < 1000; n++) {
      // Each heartbeat of a journal reader is a heartbeat frame (written before it reads the journal again).
      const beat = r.next(1);
      await ticker.fire();
      await beat;
    }
    expect(adopted.reactions()).toBeLessThanOrEqual(2);
    r.close();
    await ticker.fire();
    await r.done;
  });
});
