/**
 * A run's event log as the server keeps it: append-only, numbered from 1, read by any number
 * of readers. The server is the one reader of the run's own stream and writes here; HTTP
 * readers tail this log. A reader waiting for more holds no state in the log: all waiting
 * readers share one promise, replaced at each append.
 */
import type { ErrorJSON } from "../index.js";

/** One event of a run's log, as it goes on the wire. */
export interface LogEntry {
  /** Position in the run's log, from 1: the SSE frame's `id`, what `Last-Event-ID`/`?after=` name. */
  id: number;
  /** The event's type name. */
  type: string;
  /** The event's fields. */
  data: Record<string, unknown>;
  /** For an event a child run wrote: that run, its workflow, and the run ids from the top run down to it. */
  origin?: { runId: string; workflow: string; path: string[] };
  /** The event is an InputRequiredEvent (or a subclass): the run asks for an answer. */
  inputRequired?: true;
  /** Rebuilt from the store's journal (the live log was lost, e.g. by a restart), not read live. */
  journal?: true;
}

/** How a run ended, as the final `end` frame says. */
export interface RunEnd {
  /** The run's status; `"detached"` when this process stopped following it (it went on elsewhere). */
  status: string;
  result?: unknown;
  error?: ErrorJSON;
}

/** A run's log: entries with ids `first..last`, and how it ended once it has. */
export class RunLog {
  #entries: LogEntry[] = [];
  #first = 1;
  #next = 1;
  #end: RunEnd | undefined;
  #changed: { promise: Promise<void>; resolve: () => void } | undefined;

  /** @param limit entries kept; older ones are dropped (readers that ask for them get a gap). */
  constructor(readonly limit = 10_000) {}

  /** Append an event; returns it with its id. Ignored once the log has ended. */
  append(entry: Omit<LogEntry, "id">): LogEntry | undefined {
    if (this.#end) return undefined;
    // Built field by field (id first on the wire), not by a spread: one shape for every plain entry.
    const e: LogEntry = { id: this.#next++, type: entry.type, data: entry.data };
    if (entry.origin !== undefined) e.origin = entry.origin;
    if (entry.inputRequired !== undefined) e.inputRequired = entry.inputRequired;
    if (entry.journal !== undefined) e.journal = entry.journal;
    this.#entries.push(e);
    // Drop in batches so a long run does not shift the array at every event.
    if (this.#entries.length > this.limit + (this.limit >> 2)) {
      const drop = this.#entries.length - this.limit;
      this.#entries.splice(0, drop);
      this.#first += drop;
    }
    this.#wake();
    return e;
  }

  /** End the log: readers get the remaining entries, then `end`. */
  finish(end: RunEnd): void {
    if (this.#end) return;
    this.#end = end;
    this.#wake();
  }

  /** How the run ended, once it has. */
  get end(): RunEnd | undefined {
    return this.#end;
  }

  /** Id of the oldest entry kept. */
  get first(): number {
    return this.#first;
  }

  /** Id of the newest entry (0 when empty). */
  get last(): number {
    return this.#next - 1;
  }

  /** The kept entries with id > `after`, oldest first. */
  since(after: number): LogEntry[] {
    const from = Math.max(0, after + 1 - this.#first);
    return from >= this.#entries.length ? [] : this.#entries.slice(from);
  }

  /** Every kept entry (for GET /runs/:id). */
  entries(): readonly LogEntry[] {
    return this.#entries;
  }

  /** Resolves at the next append or at the end. One promise for all waiting readers. */
  changed(): Promise<void> {
    if (this.#end) return Promise.resolve();
    if (!this.#changed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#changed = { promise, resolve };
    }
    return this.#changed.promise;
  }

  #wake(): void {
    const c = this.#changed;
    if (c) {
      this.#changed = undefined;
      c.resolve();
    }
  }
}

/** What a reader of a log gets, in order: events, a gap (entries no longer kept), then the end. */
export type Frame = { kind: "event"; entry: LogEntry } | { kind: "gap"; from: number; to: number } | { kind: "heartbeat" } | { kind: "end"; end: RunEnd };

/**
 * Read `log` after id `after`, waiting for more until it ends. `idle()` is awaited when there
 * is nothing new; when it resolves to `"heartbeat"` a heartbeat frame is yielded. `stop()` true
 * ends the reading early (the client went away).
 */
export async function* tail(log: RunLog, after: number, idle: (changed: Promise<void>) => Promise<unknown>, stop: () => boolean): AsyncGenerator<Frame> {
  let pos = Math.max(0, after);
  for (;;) {
    if (stop()) return;
    if (pos < log.first - 1) {
      yield { kind: "gap", from: pos + 1, to: log.first - 1 };
      pos = log.first - 1;
    }
    const batch = log.since(pos);
    for (const entry of batch) {
      yield { kind: "event", entry };
      pos = entry.id;
      if (stop()) return;
    }
    if (batch.length > 0) continue;
    const end = log.end;
    if (end) {
      yield { kind: "end", end };
      return;
    }
    if ((await idle(log.changed())) === "heartbeat" && !stop()) yield { kind: "heartbeat" };
  }
}
