import type { Clock } from "../clock.js";
import type { SendOrigin, StreamWriter } from "../context.js";
import { InputRequiredEvent, type Event, type EventJSON } from "../events.js";
import type { RunStatus } from "../inspect.js";
import type { RunJournal, StreamOrigin } from "../driver/run.js";
import { RunFinishedError, RunLockedError, StoreError } from "../errors.js";
import { errorJSON, journalableJSON } from "../records.js";
import type { JournalEntry, JournalRecord, RunEnd, Store } from "../store.js";

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
  /** The workflow the run belongs to (for error messages). */
  readonly workflow: string;
  /**
   * The journal stopped: the store failed (a {@link StoreError}), or another process took the run
   * or ended it (`RunLockedError`, `RunFinishedError`). Nothing more is written; the journal keeps
   * what was committed, and the run is left as it is in its store (resumable unless it ended).
   */
  readonly onError: (err: Error) => void;
}

/** The error a run stops with when its store fails (a fenced write's RunLockedError/RunFinishedError as is). */
export function storeFailed(err: unknown, workflow: string, runId: string): Error {
  if (err instanceof RunLockedError || err instanceof RunFinishedError) return err;
  if (err instanceof StoreError && err.runId !== undefined) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new StoreError(`The store failed while journaling run "${runId}" of workflow "${workflow}": ${why}. The journal keeps what was committed; resume the run once the store is back.`, err instanceof StoreError ? err.code : "STORE_FAILED", { workflow, runId, cause: err });
}

/** Attempts of a store call that fails with `STORE_BUSY` (a lock held elsewhere): retried with backoff. */
const BUSY_RETRIES = 5;
const BUSY_FIRST_DELAY_MS = 50;

/** True for a store error worth retrying: the call did nothing (a lock held elsewhere). */
export function isBusy(err: unknown): boolean {
  return err instanceof StoreError && err.code === "STORE_BUSY";
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/**
 * `call`, retried with backoff on the clock while the store is busy; other errors go through at
 * once. A call that succeeds at once (a synchronous store, or its first try) costs one promise.
 */
export function retryBusy<T>(clock: Clock, call: () => T | Promise<T>): Promise<T> {
  let r: T | Promise<T>;
  try {
    r = call();
  } catch (err) {
    return retryAfter(clock, call, err, 0);
  }
  return isPromiseLike(r) ? Promise.resolve(r).catch((err: unknown) => retryAfter(clock, call, err, 0)) : Promise.resolve(r);
}

/** Try `call` again after its `i`-th attempt failed with `err`, while that is a busy store and tries remain. */
async function retryAfter<T>(clock: Clock, call: () => T | Promise<T>, err: unknown, i: number): Promise<T> {
  for (;;) {
    if (!isBusy(err) || i >= BUSY_RETRIES) throw err;
    await new Promise<void>((resolve) => clock.setTimeout(resolve, BUSY_FIRST_DELAY_MS * 2 ** i));
    i++;
    try {
      return await call();
    } catch (e) {
      err = e;
    }
  }
}

const NOTHING = (): void => {};

/** Turns what a run does into journal entries and commits them to a {@link Store}. */
export class Journal implements RunJournal {
  #pending: JournalEntry[] = [];
  #seq = 0;
  readonly #seqs = new WeakMap<Event, number>();
  #timer: unknown;
  #flushing: Promise<void> = Promise.resolve();
  readonly #hooks: JournalHooks;
  /** The lease's fencing token: every write carries it (undefined until the run holds its lease). */
  #token: number | undefined;
  /** Why the journal stopped writing, once it has. */
  #failure: Error | undefined;
  /** The run's end is committed (`store.finish` returned). */
  ended = false;

  constructor(
    readonly store: Store,
    readonly runId: string,
    readonly durability: Durability,
    readonly clock: Clock,
    hooks: JournalHooks,
    readonly batchMs = 5,
    readonly maxBatch = 1024,
  ) {
    this.#hooks = hooks;
  }

  /** Write with this fencing token from now on (the run holds its lease with it). */
  fence(token: number): void {
    this.#token = token;
  }

  /** Why the journal stopped, if it has: the run's handler rejects with it. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** The store failed (or another holder fenced us off): stop writing, keep the first error, tell the run. */
  fail(err: unknown): void {
    if (this.#failure !== undefined) return;
    const failure = storeFailed(err, this.#hooks.workflow, this.runId);
    this.#failure = failure;
    this.#pending = [];
    if (this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#hooks.onError(failure);
  }

  /** Chains a store write after the ones before it; after a failure, nothing more is written. */
  #chain(write: () => unknown): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write(write));
    return this.#flushing;
  }

  /** One store write in the chain: no promise of its own for a synchronous store, one for an async one. */
  #write(write: () => unknown): Promise<void> | undefined {
    if (this.#failure !== undefined) return undefined;
    let r: unknown;
    try {
      r = write();
    } catch (err) {
      return this.#retry(write, err);
    }
    return isPromiseLike(r) ? Promise.resolve(r).then(NOTHING, (err: unknown) => this.#retry(write, err)) : undefined;
  }

  #retry(write: () => unknown, err: unknown): Promise<void> {
    return retryAfter(this.clock, write, err, 0).then(NOTHING, (e: unknown) => this.fail(e));
  }

  /** The write options: the fencing token, and (`claims`) the inbox events the batch journals. */
  #options(claims = false): { token?: number; claim?: number[] } {
    const o: { token?: number; claim?: number[] } = this.#token === undefined ? {} : { token: this.#token };
    if (claims && this.#claims.length > 0) {
      o.claim = this.#claims;
      this.#claims = [];
    }
    return o;
  }

  /** Inbox event `inboxId` leaves the inbox in the next commit, with the records that journal it. */
  claim(inboxId: number): void {
    if (this.#held || this.#failure !== undefined) return;
    this.#claims.push(inboxId);
  }
  #claims: number[] = [];

  record(r: JournalRecord): void {
    if (this.#held || this.#failure !== undefined) return;
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
    const seq = this.#seqs.get(ev);
    if (seq !== undefined) return seq;
    // Before it takes a number: a refused event leaves no trace and loses no other record (issue 11.12).
    return this.#add(ev, journalableJSON(ev, this.#hooks.workflow, this.runId), from, to, sender);
  }

  #add(ev: Event, json: EventJSON, from: string | undefined, to?: string, sender?: SendOrigin): number {
    const seq = ++this.#seq;
    this.#seqs.set(ev, seq);
    const r: JournalRecord & { kind: "event" } = { kind: "event", seq, event: json };
    if (from !== undefined) r.from = from;
    if (to !== undefined) r.to = to;
    if (sender !== undefined) {
      r.by = sender.stepRunId;
      r.n = sender.n;
    }
    this.record(r);
    return seq;
  }

  streamed(ev: Event, pos: number, origin?: StreamOrigin, writer?: StreamWriter): void {
    const r: JournalRecord & { kind: "stream" } = { kind: "stream", pos, event: journalableJSON(ev, this.#hooks.workflow, this.runId) };
    if (ev instanceof InputRequiredEvent) r.asks = true;
    if (origin !== undefined) r.origin = { runId: origin.runId, workflow: origin.workflow, path: [...origin.path] };
    if (writer !== undefined) {
      r.by = writer.stepRunId;
      r.attempt = writer.attempt;
      r.n = writer.n;
    }
    this.record(r);
  }

  stepStarted(stepRunId: string, step: string, ev: Event, attempt: number): void {
    const seq = this.event(ev, undefined);
    this.record({ kind: "step_started", stepRunId, step, seq, attempt });
  }

  /** Journals a completion; in `"sync"` mode, returns the commit to await before emitting. */
  stepFinished(stepRunId: string, step: string, emitted: readonly Event[]): Promise<void> | undefined {
    // All or none: an output that cannot be journaled fails the attempt before any is recorded.
    const fresh = emitted.map((ev) => (this.#seqs.has(ev) ? undefined : journalableJSON(ev, this.#hooks.workflow, this.runId)));
    const seqs = emitted.map((ev, i) => this.#seqs.get(ev) ?? this.#add(ev, fresh[i] as EventJSON, stepRunId));
    this.record({ kind: "step_finished", stepRunId, step, emitted: seqs });
    // The group-commit timer stays armed: it fires within `batchMs` of what is recorded next
    // (and commits nothing if that was committed first), instead of one timer per step.
    return this.durability === "sync" ? this.#commit(true) : undefined;
  }

  stepFailed(stepRunId: string, step: string, attempt: number, error: unknown, willRetry: boolean): void {
    this.record({ kind: "step_failed", stepRunId, step, attempt, error: errorJSON(error), willRetry });
  }

  /** The buffer under `key` changed: `added` joined it; when a call completed a set, `by` is its event and `taken` the set. Only the change is journaled. */
  collect(key: string, added: Event | undefined, by?: Event, taken?: readonly Event[]): void {
    if (added === undefined && taken === undefined) return;
    const r: JournalRecord & { kind: "collect" } = { kind: "collect", key };
    if (added !== undefined) r.add = this.event(added, undefined);
    if (by !== undefined && taken !== undefined) {
      r.by = this.event(by, undefined);
      r.taken = taken.map((ev) => this.event(ev, undefined));
    }
    this.record(r);
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
    if (this.#held || this.#failure !== undefined) return;
    void this.commit();
    void this.#chain(() => this.store.setStatus(this.runId, status, undefined, this.#options()));
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

  /**
   * The run ended: its last records, `run_finished`, its status and outcome are committed in one
   * transaction (`store.finish`, which also releases the lease), or nothing is.
   */
  finished(status: RunStatus, result: unknown, error: unknown): void {
    if (this.#held || this.#failure !== undefined) return;
    const end = (status === "completed" ? { status, result } : { status, error: errorJSON(error) }) as RunEnd;
    const last: JournalEntry = { kind: "run_finished", ...end, at: this.clock.now() };
    if (this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#pending;
    this.#pending = [];
    batch.push(last);
    const options = this.#options(true);
    void this.#chain(async () => {
      await this.store.finish(this.runId, batch, end, options);
      this.ended = true;
    });
  }

  /** Resolves when everything recorded so far is in the store; rejects with {@link failure} once the journal stopped. */
  flushed(): Promise<void> {
    void this.commit();
    return this.#flushing.then(() => {
      if (this.#failure !== undefined) throw this.#failure;
    });
  }

  commit(): Promise<void> | undefined {
    return this.#commit(false);
  }

  #commit(keepTimer: boolean): Promise<void> | undefined {
    if (!keepTimer && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length === 0 && this.#claims.length === 0) return undefined;
    const batch = this.#pending;
    this.#pending = [];
    const options = this.#options(true);
    return this.#chain(() => this.store.append(this.runId, batch, options));
  }
}
