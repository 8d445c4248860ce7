import type { Clock } from "../clock.js";
import type { SendOrigin } from "../context.js";
import type { Event } from "../events.js";
import type { RunStatus } from "../inspect.js";
import type { RunJournal } from "../driver/run.js";
import { errorJSON } from "../records.js";
import type { JournalEntry, JournalRecord, Store } from "../store.js";

/**
 * How journal writes reach the store. In both modes, entries are group-committed at most a
 * few milliseconds (`batchMs`, default 5) after they are recorded, and at once when a step
 * starts waiting, the run's status changes, or the run ends.
 * - `"sync"` (default): a step's completion is committed before the events it emitted move
 *   on, so a step whose completion was journaled never runs again.
 * - `"batched"`: completions join the next group commit instead, and emitted events move on
 *   at once: faster (fewer round trips to the store); a crash may re-run steps that finished inside the last window.
 */
export type Durability = "sync" | "batched";

/** What a journal tells its owner, given at construction. */
export interface JournalHooks {
  /** The store failed: the run fails with this error (the journal keeps what was committed). */
  readonly onError: (err: unknown) => void;
  /** Runs after the run's end is committed, before the run settles (releases its lease). */
  readonly afterEnd?: () => void | Promise<void>;
}

/** Turns what a run does into journal entries and commits them to a {@link Store}. */
export class Journal implements RunJournal {
  #pending: JournalEntry[] = [];
  #seq = 0;
  readonly #seqs = new WeakMap<Event, number>();
  #timer: unknown;
  #flushing: Promise<void> = Promise.resolve();
  /** Told the first error the store raised; the run fails with it. */
  readonly onError: (err: unknown) => void;
  readonly #afterEnd: (() => void | Promise<void>) | undefined;

  constructor(
    readonly store: Store,
    readonly runId: string,
    readonly durability: Durability,
    readonly clock: Clock,
    hooks: JournalHooks,
    readonly batchMs = 5,
    readonly maxBatch = 1024,
  ) {
    this.onError = hooks.onError;
    this.#afterEnd = hooks.afterEnd;
  }

  record(r: JournalRecord): void {
    if (this.#held) return;
    // Every caller hands in a fresh record: stamp it in place (`at` last, as a spread would put it).
    const e = r as JournalEntry;
    e.at = this.clock.now();
    // A run that never yields to timers (steps that only await resolved work) would otherwise
    // grow one unbounded batch: commit every `maxBatch` entries too.
    if (this.#pending.push(e) >= this.maxBatch) {
      void this.#commit(true);
      return;
    }
    // Group commit in both modes, so a long step's start is durable soon after it begins.
    if (this.#timer === undefined) {
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = undefined;
        void this.commit();
      }, this.batchMs);
    }
  }

  /** The sequence number of `ev`, journaling it first if it is new. */
  event(ev: Event, from: string | undefined, to?: string, sender?: SendOrigin): number {
    let seq = this.#seqs.get(ev);
    if (seq !== undefined) return seq;
    seq = ++this.#seq;
    this.#seqs.set(ev, seq);
    const r: JournalRecord & { kind: "event" } = { kind: "event", seq, event: ev.toJSON() };
    if (from !== undefined) r.from = from;
    if (to !== undefined) r.to = to;
    if (sender !== undefined) {
      r.by = sender.stepRunId;
      r.n = sender.n;
    }
    this.record(r);
    return seq;
  }

  stepStarted(stepRunId: string, step: string, ev: Event, attempt: number): void {
    const seq = this.event(ev, undefined);
    this.record({ kind: "step_started", stepRunId, step, seq, attempt });
  }

  /** Journals a completion; in `"sync"` mode, returns the commit to await before emitting. */
  stepFinished(stepRunId: string, step: string, emitted: readonly Event[]): Promise<void> | undefined {
    const seqs = emitted.map((ev) => this.event(ev, stepRunId));
    this.record({ kind: "step_finished", stepRunId, step, emitted: seqs });
    // The group-commit timer stays armed: it fires within `batchMs` of what is recorded next
    // (and commits nothing if that was committed first), instead of one timer per step.
    return this.durability === "sync" ? this.#commit(true) : undefined;
  }

  stepFailed(stepRunId: string, step: string, attempt: number, error: unknown, willRetry: boolean): void {
    this.record({ kind: "step_failed", stepRunId, step, attempt, error: errorJSON(error), willRetry });
  }

  /** The buffer under `key` is now `events`; when a call completed a set, `by` is its event and `taken` the set. */
  collect(key: string, events: readonly Event[], by?: Event, taken?: readonly Event[]): void {
    const seqs = events.map((ev) => this.event(ev, undefined));
    if (by === undefined || taken === undefined) this.record({ kind: "collect", key, seqs });
    else this.record({ kind: "collect", key, seqs, by: this.event(by, undefined), taken: taken.map((ev) => this.event(ev, undefined)) });
  }

  waiting(stepRunId: string, type: string): void {
    this.record({ kind: "waiting", stepRunId, type });
    void this.commit();
  }

  /** `ev` ended the wait of invocation `stepRunId`. */
  received(stepRunId: string, ev: Event): void {
    this.record({ kind: "received", stepRunId, seq: this.event(ev, undefined) });
  }

  /** The run is now `"waiting"` (only waits are in flight) or `"running"` again: commit, then tell the store. */
  status(status: RunStatus): void {
    if (this.#held) return;
    void this.commit();
    this.#flushing = this.#flushing.then(() => this.store.setStatus(this.runId, status)).catch((err: unknown) => this.onError(err));
  }

  /** Write nothing until {@link adopt}: a resumed run may not touch its journal before it holds the run's lease. */
  hold(): void {
    this.#held = true;
  }
  #held = false;

  /**
   * Continue a journal read back from its store: `events` are its events revived, by seq.
   * New events are numbered after the highest seq.
   */
  adopt(events: ReadonlyMap<number, Event>, maxSeq: number): void {
    this.#held = false;
    for (const [seq, ev] of events) this.#seqs.set(ev, seq);
    if (maxSeq > this.#seq) this.#seq = maxSeq;
  }

  finished(status: RunStatus, result: unknown, error: unknown): void {
    if (this.#held) return;
    this.record({ kind: "run_finished", status, ...(status === "completed" ? { result } : { error: errorJSON(error) }) });
    void this.commit();
    this.#flushing = this.#flushing
      .then(() => this.store.setStatus(this.runId, status, status === "completed" ? { result } : { error: errorJSON(error) }))
      .then(() => this.#afterEnd?.())
      .catch((err: unknown) => this.onError(err));
  }

  /** Write what is pending, in order; commits never overlap. */
  /** Resolves when everything recorded so far is in the store. */
  flushed(): Promise<void> {
    void this.commit();
    return this.#flushing;
  }

  commit(): Promise<void> | undefined {
    return this.#commit(false);
  }

  #commit(keepTimer: boolean): Promise<void> | undefined {
    if (!keepTimer && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length === 0) return undefined;
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = this.#flushing.then(() => this.store.append(this.runId, batch)).catch((err: unknown) => this.onError(err));
    return this.#flushing;
  }
}
