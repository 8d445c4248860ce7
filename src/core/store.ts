import { RunFinishedError, RunLockedError, RunNotFoundError, StoreError, type WorkflowError } from "./errors.js";
import type { EventJSON } from "./events.js";
import type { RunStatus } from "./inspect.js";

/** An error as stored: enough to rebuild a useful message. */
export interface ErrorJSON {
  name: string;
  message: string;
  code?: string;
  step?: string;
}

/**
 * One line of a run's journal. Together they let a run be rebuilt in another process:
 * events carry a sequence number; steps refer to the event they handle by it.
 */
export type JournalRecord =
  /** `trace`: the run's trace context (W3C headers), continued when it resumes. */
  | { kind: "run_started"; workflow: string; input: EventJSON; parentRunId?: string; trace?: Record<string, string> }
  /**
   * An event entered the run: the input, a step's output, a send, or one from outside. A
   * `ctx.sendEvent` also names the invocation that sent it (`by`, its stepRunId) and its index
   * among that invocation's sends (`n`): a re-run of the invocation does not send it again.
   */
  | { kind: "event"; seq: number; event: EventJSON; from?: string; to?: string; by?: string; n?: number }
  | { kind: "step_started"; stepRunId: string; step: string; seq: number; attempt: number }
  /** A step completed; `emitted` are the seqs of the events it returned. */
  | { kind: "step_finished"; stepRunId: string; step: string; emitted: number[] }
  | { kind: "step_failed"; stepRunId: string; step: string; attempt: number; error: ErrorJSON; willRetry: boolean }
  /**
   * Invocation `stepRunId` starts child run `runId`, its `n`th `ctx.runWorkflow` (from 0),
   * committed before the child is created: a re-run of the invocation on resume re-attaches to it.
   */
  | { kind: "child"; stepRunId: string; n: number; runId: string }
  /** `ctx.store.set(key, value)`. */
  | { kind: "state"; key: string; value: unknown }
  /**
   * An event written to the run's stream (`ctx.writeEventToStream`, a wait's `waiterEvent`, a
   * child run's streamed event with its `origin` and its `path`, the run ids from this run down to
   * the writer), at position `pos` (from 1) of the stream. `by`,
   * `attempt`, `n`: the invocation and attempt that wrote it and the how-manieth of its writes.
   * `asks`: the event is an InputRequiredEvent (a prompt), known so without its class, which a
   * wait's `waiterEvent` may declare nowhere (journals written before 0.2 lack it).
   */
  | { kind: "stream"; pos: number; event: EventJSON; origin?: { runId: string; workflow: string; path?: string[] }; by?: string; attempt?: number; n?: number; asks?: true }
  /**
   * A change of the events `ctx.collectEvents` holds under `key`: `add` joined the buffer; when a
   * call completed a set, `by` is the seq of the event it was called with and `taken` the seqs it
   * took out. (Journals written before 0.2 hold the whole buffer in `seqs`, which replaces it.)
   */
  | { kind: "collect"; key: string; add?: number; seqs?: number[]; by?: number; taken?: number[] }
  /** A step invocation paused in `ctx.waitForEvent` for an event of `type`. */
  | { kind: "waiting"; stepRunId: string; type: string }
  /** The event `seq` ended the wait of invocation `stepRunId` (it reached no step). */
  | { kind: "received"; stepRunId: string; seq: number }
  /** The run was resumed (by `owner`, a lease holder) from what the journal held. */
  | { kind: "run_resumed"; owner: string }
  | { kind: "run_finished"; status: RunStatus; result?: unknown; error?: ErrorJSON };

/** A journal record with the time it was written (ms since the epoch). */
export type JournalEntry = JournalRecord & { at: number };

/** What a store knows of one run. */
export interface StoredRun {
  runId: string;
  workflow: string;
  status: RunStatus;
  input: EventJSON;
  result?: unknown;
  error?: ErrorJSON;
  parentRunId?: string;
  createdAt: number;
  updatedAt: number;
  /** The journal format the run was written with ({@link JOURNAL_FORMAT} when absent). */
  format?: number;
  /** Who is running the run now, when a process holds it. */
  lease?: Lease;
}

/** The journal format this version writes; a run stored with a higher one cannot be resumed. */
export const JOURNAL_FORMAT = 1;

/**
 * A process's claim on a run: only the holder runs it, until `expiresAt` unless renewed.
 * `token` is the lease's fencing token: it grows by one each time the lease changes hands, so a
 * holder that lost its lease (paused past its TTL, then woken) is told apart from the new one.
 */
export interface Lease {
  owner: string;
  /** Ms since the epoch. */
  expiresAt: number;
  /** The fencing token of the holder's lease (absent in stores written before fencing). */
  token?: number;
}

/**
 * What {@link Store.acquireLease} found: the lease is ours now, with its fencing `token` (pass it to
 * every write), or `holder` has it.
 */
export type LeaseResult = { acquired: true; token: number } | { acquired: false; holder: Lease | undefined };

/** Options of {@link Store.acquireLease}. */
export interface LeaseOptions {
  /**
   * Renew the lease held with this token: succeeds only while the token is still the run's latest
   * (nobody took the run since, even if the lease expired meanwhile); never hands out a new token.
   */
  token?: number;
}

/** The lease a new run is created with ({@link Store.createRunHeld}). */
export interface NewRunLease {
  /** Who holds it (see {@link Store.acquireLease} on owner names). */
  owner: string;
  /** It lasts until `now + ttlMs` unless renewed. */
  ttlMs: number;
  /** Ms since the epoch. */
  now: number;
}

/** Options of a lease holder's writes ({@link Store.append}, {@link Store.setStatus}, {@link Store.finish}). */
export interface WriteOptions {
  /**
   * The fencing token {@link Store.acquireLease} returned. With it the write happens only while
   * this is the run's latest token and the run has not ended; otherwise nothing is written and the
   * store throws `RunLockedError` (another process took the run) or `RunFinishedError` (it ended).
   * Without it the write is not fenced (runs created and written before leases, tools, tests).
   */
  token?: number;
}

/** Options of {@link Store.append} and {@link Store.finish}. */
export interface AppendOptions extends WriteOptions {
  /**
   * Inbox ids (from {@link Store.readInbox}) whose events these entries journal: they leave the
   * inbox in the same transaction, so a delivered event is journaled exactly once. If one of them is
   * no longer there (another holder claimed it) nothing is written and the store throws a
   * `StoreError` with code `INBOX_CLAIMED`.
   */
  claim?: readonly number[];
}

/** How a run ended, for {@link Store.finish}. */
export interface RunEnd {
  status: Exclude<RunStatus, "running" | "waiting">;
  result?: unknown;
  error?: ErrorJSON;
}

/** An event waiting in a run's inbox ({@link Store.deliver}); `id` grows in delivery order. */
export interface InboxItem {
  id: number;
  event: EventJSON;
  /** When it was delivered (ms since the epoch). */
  at: number;
}

/** True for the statuses of a run that has not ended. */
export function isLive(status: RunStatus): boolean {
  return status === "running" || status === "waiting";
}

/**
 * The store error for a journal that already holds an event with sequence number `seq`: two
 * writers numbered events independently. Nothing of the append was written.
 */
export function duplicateSeqError(where: string, runId: string, seq: number | string, cause?: unknown): StoreError {
  return new StoreError(
    `${where} refused an append to run "${runId}": its journal already holds event ${seq}, so two writers appended to it at once. Nothing was written; resume the run to continue from its journal.`,
    "JOURNAL_CONFLICT",
    cause === undefined ? {} : { cause },
  );
}

/** The error a fenced write gets when the run is gone, ended, or held under another token. */
export function fenceError(where: string, runId: string, run: StoredRun | undefined, token: number): WorkflowError {
  if (!run) return new RunNotFoundError(`${where} has no run "${runId}".`, { runId });
  if (!isLive(run.status)) {
    return new RunFinishedError(`Run "${runId}" has already ended (${run.status}); nothing more is written to it.`, run.status, { workflow: run.workflow, runId });
  }
  const holder = run.lease?.owner ?? "nobody (the lease was released)";
  return new RunLockedError(
    `Run "${runId}" of workflow "${run.workflow}" was taken over (lease token ${run.lease?.token ?? "?"}, this writer held ${token}; holder: ${holder}); this process stops running it and writes nothing more.`,
    holder,
    run.lease?.expiresAt ?? 0,
    { workflow: run.workflow, runId },
  );
}

/**
 * Where a listing goes on from: a run's `createdAt` and `runId` (the last one of the page before;
 * the run need not exist any more).
 */
export interface RunCursor {
  createdAt: number;
  runId: string;
}

/**
 * Filters for {@link Store.listRuns}; they combine (every one given must hold). Runs are listed
 * newest first: `createdAt` descending, then (runs created in the same millisecond) `runId`
 * descending, in every store: a total order, so that {@link before} pages through it.
 */
export interface RunFilter {
  status?: RunStatus;
  workflow?: string;
  /** Only the runs this run started (its child runs, `ctx.runWorkflow`); not their own children. */
  parentRunId?: string;
  /** Only top-level runs: those no run started (no `parentRunId`). `false` or absent: every run. */
  topLevel?: boolean;
  /**
   * Keyset paging: only the runs that come strictly after this one in the listing order (created
   * before `createdAt`, or at `createdAt` with a smaller `runId`). Pass the last run of a page to
   * get the next; with `limit` a page reads about `limit` rows however many runs the store holds,
   * whichever of `status` and `workflow` it combines, or `topLevel` alone (each store keeps an
   * index, or a list, per such combination). `topLevel` with another filter reads that filter's
   * runs and skips the child runs among them one by one.
   */
  before?: RunCursor;
  limit?: number;
}

/** The listing order of {@link Store.listRuns}: `createdAt` descending, then `runId` descending. */
export function compareRuns(a: RunCursor, b: RunCursor): number {
  return b.createdAt - a.createdAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0);
}

/**
 * Where runs and their journals live. The run loop and `Workflow.resume` call these methods;
 * nothing else. Methods may be synchronous or return promises; callers await either.
 * Every value handed in is JSON (records round-trip through `JSON.stringify`); a store
 * returns copies, never objects it keeps. A store that fails throws (ideally a `StoreError`);
 * the run then fails with a `StoreError` and the journal keeps what was committed.
 *
 * Fencing: {@link acquireLease} hands out a token that grows each time the lease changes hands;
 * writes made with `{ token }` happen only while it is the run's latest, so a holder that lost its
 * lease stops at its next write. Every store refuses a second `event` record with the same `seq`
 * in one run's journal (`StoreError` code `JOURNAL_CONFLICT`).
 *
 * Inbox: {@link deliver} queues an event for a live run from any process; the lease holder reads
 * it with {@link readInbox} and journals it with `append(…, { claim: [id] })`, which takes it out of
 * the inbox in the same transaction (exactly once). {@link subscribe}, where a store has it, wakes
 * the holder on delivery; elsewhere the holder polls {@link readInbox}.
 * `describeStoreConformance` (test/stores/conformance.ts) is the executable form of this contract.
 */
export interface Store {
  /**
   * Record a new run with status `"running"`. Called once per run, before its first journal
   * entry. Throws if a run with that id exists.
   */
  createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): void | Promise<void>;
  /**
   * Optional: {@link createRun} and {@link acquireLease} in one atomic step (one statement, one
   * commit). Record a new run with status `"running"` whose lease `lease.owner` already holds until
   * `lease.now + lease.ttlMs`; return that lease's fencing token (the run's first: 1). Throws as
   * `createRun` does, writing nothing, if a run with that id exists. The run loop uses it for a new
   * durable run that starts at once; a store without it gets `createRun` then `acquireLease`.
   */
  createRunHeld?(run: Omit<StoredRun, "updatedAt" | "status" | "lease">, lease: NewRunLease): number | Promise<number>;
  /**
   * Append entries to a run's journal, atomically and in order: all are kept or none. Later
   * appends come after earlier ones in {@link getJournal}. Bumps the run's `updatedAt`.
   * Throws if the run does not exist, or (`JOURNAL_CONFLICT`) if an `event` entry repeats a seq
   * the journal holds. Fenced by `options.token`; `options.claim` takes delivered events out of the inbox.
   */
  append(runId: string, entries: readonly JournalEntry[], options?: AppendOptions): void | Promise<void>;
  /**
   * Set a run's status; with `outcome`, also its result (completed) or error (failed, cancelled,
   * timed out). Bumps `updatedAt`. Throws if the run does not exist. Fenced by `options.token`
   * (and then refused, `RunFinishedError`, once the run has ended). To end a run use {@link finish}.
   */
  setStatus(runId: string, status: RunStatus, outcome?: { result?: unknown; error?: ErrorJSON }, options?: WriteOptions): void | Promise<void>;
  /**
   * End a run in one transaction: append `entries` (its last journal records, e.g. `run_finished`),
   * set its status and outcome, and release its lease (the token stays, so later fenced writes fail).
   * Refuses with `RunFinishedError`, writing nothing, when the run has already ended; with
   * `RunNotFoundError` when the store has no such run; fenced by `options.token`.
   */
  finish(runId: string, entries: readonly JournalEntry[], end: RunEnd, options?: AppendOptions): void | Promise<void>;
  /** One run (with its lease, when held), or undefined when the store has none with that id. */
  getRun(runId: string): StoredRun | undefined | Promise<StoredRun | undefined>;
  /** A run's journal, oldest first; empty when the run is unknown. */
  getJournal(runId: string): readonly JournalEntry[] | Promise<readonly JournalEntry[]>;
  /**
   * Runs matching `filter` (status, workflow name, parent run, top-level only, after a cursor),
   * newest first (`createdAt` descending, then `runId` descending), at most `limit`.
   * A listing by `parentRunId` reads that run's children, not every run the store holds; a page
   * (`limit`, `before`) reads about `limit` rows, not every run the store holds.
   */
  listRuns(filter?: RunFilter): readonly StoredRun[] | Promise<readonly StoredRun[]>;
  /**
   * Atomically take the lease on a run for `owner` until `now + ttlMs`: it succeeds when nobody
   * holds it, when its holder's lease expired before `now`, or when `owner` already holds it
   * (renewal, same token). A lease that changes hands gets the next fencing token. Otherwise
   * returns the current holder. Unknown run: `{ acquired: false, holder: undefined }`.
   * With `options.token`, renews that lease only (see {@link LeaseOptions}). `owner` must name one
   * holder only (the run loop uses host:pid:random): two processes that share an owner name share
   * its lease and its token, and fencing cannot tell them apart.
   * The TTL and how often to renew are the caller's choice (the run loop renews every third of it).
   */
  acquireLease(runId: string, owner: string, ttlMs: number, now: number, options?: LeaseOptions): LeaseResult | Promise<LeaseResult>;
  /** Give up the lease if `owner` holds it; otherwise do nothing. The token is kept (the next holder gets token + 1). */
  releaseLease(runId: string, owner: string): void | Promise<void>;
  /**
   * Queue `event` in the inbox of live run `runId`, from any process; returns its inbox id.
   * Throws `RunNotFoundError` for an unknown run, `RunFinishedError` for one that has ended
   * (events delivered but not yet claimed when a run ends stay in its inbox, unprocessed).
   */
  deliver(runId: string, event: EventJSON): number | Promise<number>;
  /** The events waiting in a run's inbox, in delivery order (at most `limit`); empty for an unknown run. */
  readInbox(runId: string, limit?: number): readonly InboxItem[] | Promise<readonly InboxItem[]>;
  /**
   * Call `onDelivery` soon after an event is delivered to `runId` (from any process, for stores
   * that can: PostgreSQL LISTEN/NOTIFY; in-process for MemoryStore). A wake-up only: read the inbox
   * then. Returns a function that stops it. Stores without it are polled with {@link readInbox}.
   */
  subscribe?(runId: string, onDelivery: () => void): () => void;
  /** Release connections and files. Later calls fail. */
  close?(): void | Promise<void>;
}

/**
 * A deep copy of `value`, as `structuredClone` makes it: plain objects and arrays (JSON, what
 * stores are handed) are copied by hand, ~20× faster than `structuredClone` for a journal record;
 * anything else (a Date, a Map, a class instance, a cycle past `depth` 64) goes to `structuredClone`.
 */
function copyOf<T>(value: T): T {
  const copy = copyPlain(value, 0);
  return (copy === NOT_PLAIN ? structuredClone(value) : copy) as T;
}

const NOT_PLAIN = Symbol("not plain");

function copyPlain(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) return typeof value === "function" || typeof value === "symbol" ? NOT_PLAIN : value;
  if (depth > 64) return NOT_PLAIN;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return NOT_PLAIN;
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const c = copyPlain(value[i], depth + 1);
      if (c === NOT_PLAIN) return NOT_PLAIN;
      out[i] = c;
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    const c = copyPlain((value as Record<string, unknown>)[key], depth + 1);
    if (c === NOT_PLAIN) return NOT_PLAIN;
    // An own "__proto__" key (JSON.parse makes one) stays a key, as structuredClone keeps it:
    // assigned, it would set the copy's prototype and the key would be gone.
    if (key === "__proto__") Object.defineProperty(out, key, { value: c, enumerable: true, writable: true, configurable: true });
    else out[key] = c;
  }
  return out;
}

/**
 * A `limit` as the SQL stores read it (`rowLimit` in src/stores/rows.ts): NaN or below 0 is none,
 * a fraction is rounded down (a plain `slice(0, -1)` would hand back all but the last).
 */
function countOf(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  return Number.isNaN(limit) ? 0 : Math.max(0, Math.floor(limit));
}

/**
 * Rows `MemoryStore.listRuns` examined, in this process (internal: tests measure that a page's
 * cost does not grow with the runs a store holds).
 */
export const memoryListReads = { rows: 0 };

/** The reverse of the listing order ({@link compareRuns}): oldest first, ties by `runId` ascending. */
function ascending(a: RunCursor, b: RunCursor): number {
  return compareRuns(b, a);
}

/** The index of the first run of `list` (in {@link ascending} order) not before `key`. */
function lowerBound(list: readonly MemoryRun[], key: RunCursor): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ascending(list[mid]!.run, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Put `r` in its place in `list` (runs come mostly newest last: an append). */
function insertSorted(list: MemoryRun[], r: MemoryRun): void {
  const last = list[list.length - 1];
  if (last === undefined || ascending(last.run, r.run) < 0) list.push(r);
  else list.splice(lowerBound(list, r.run), 0, r);
}

/**
 * The key of MemoryStore's list of the runs with these filters (`undefined`: any): `top` only
 * alone (the top-level runs; with another filter, that filter's list is read and the top-level
 * runs picked from it). Collision-free: a workflow name follows `=`, and a status holds no NUL.
 */
function listKey(top: boolean, workflow: string | undefined, status: string | undefined): string {
  if (top && workflow === undefined && status === undefined) return "top";
  return `${workflow === undefined ? "*" : `=${workflow}`}\u0000${status ?? "*"}`;
}

/** The keys of the lists `run` is in (`statusKeyed`: only those keyed by its status). */
function listKeys(run: StoredRun, statusKeyed = false): string[] {
  const byStatus = [listKey(false, undefined, run.status), listKey(false, run.workflow, run.status)];
  if (statusKeyed) return byStatus;
  const keys = [listKey(false, undefined, undefined), listKey(false, run.workflow, undefined), ...byStatus];
  if (run.parentRunId === undefined) keys.push(listKey(true, undefined, undefined));
  return keys;
}

interface MemoryRun {
  run: StoredRun;
  journal: JournalEntry[];
  seqs: Set<number>;
  inbox: InboxItem[];
}

/** A store in this process's memory: journals survive only as long as the process. */
export class MemoryStore implements Store {
  readonly #runs = new Map<string, MemoryRun>();
  /** Each parent run's children, in the order they were created. */
  readonly #children = new Map<string, MemoryRun[]>();
  /**
   * The runs of each combination of the filters a server pages by (a workflow or any, a status
   * or any; and the top-level runs: {@link listKey}), oldest first in listing order
   * ({@link ascending}), for pages: a page reads its own runs only. A top-level run is in 5
   * lists, a child run in 4; a status change moves it in the 2 keyed by status (an insert where it
   * goes, mostly near the newest end, and a removal).
   */
  readonly #lists = new Map<string, MemoryRun[]>();
  readonly #tokens = new Map<string, number>();
  readonly #listeners = new Map<string, Set<() => void>>();
  #nextInboxId = 0;

  createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): void {
    if (this.#runs.has(run.runId)) throw new Error(`Run "${run.runId}" already exists in this store.`);
    const made: MemoryRun = { run: { ...copyOf(run), status: "running", updatedAt: run.createdAt }, journal: [], seqs: new Set(), inbox: [] };
    this.#runs.set(run.runId, made);
    for (const key of listKeys(made.run)) this.#listed(key, made, true);
    const parent = made.run.parentRunId;
    if (parent !== undefined) {
      const siblings = this.#children.get(parent);
      if (siblings === undefined) this.#children.set(parent, [made]);
      else siblings.push(made);
    }
  }

  createRunHeld(run: Omit<StoredRun, "updatedAt" | "status" | "lease">, lease: NewRunLease): number {
    this.createRun(run);
    const token = (this.#tokens.get(run.runId) ?? 0) + 1;
    this.#tokens.set(run.runId, token);
    this.#runs.get(run.runId)!.run.lease = { owner: lease.owner, expiresAt: lease.now + lease.ttlMs, token };
    return token;
  }

  append(runId: string, entries: readonly JournalEntry[], options: AppendOptions = {}): void {
    const r = this.#get(runId);
    this.#fence(runId, r, options);
    this.#write(runId, r, entries, options);
  }

  setStatus(runId: string, status: RunStatus, outcome: { result?: unknown; error?: ErrorJSON } = {}, options: WriteOptions = {}): void {
    const r = this.#get(runId);
    this.#fence(runId, r, options);
    this.#restatus(r, { ...r.run, status, ...copyOf(outcome), updatedAt: Date.now() });
  }

  /** `r` becomes `run`; a changed status moves it between the status-keyed lists. */
  #restatus(r: MemoryRun, run: StoredRun): void {
    const was = r.run.status;
    if (run.status !== was) for (const key of listKeys(r.run, true)) this.#listed(key, r, false);
    r.run = run;
    if (run.status !== was) for (const key of listKeys(r.run, true)) this.#listed(key, r, true);
  }

  /** Put `r` in (`add`) or take it out of the list `key`. */
  #listed(key: string, r: MemoryRun, add: boolean): void {
    const list = this.#lists.get(key);
    if (add) {
      if (list === undefined) this.#lists.set(key, [r]);
      else insertSorted(list, r);
      return;
    }
    if (list === undefined) return;
    const at = lowerBound(list, r.run);
    if (list[at] === r) list.splice(at, 1);
    if (list.length === 0) this.#lists.delete(key);
  }

  finish(runId: string, entries: readonly JournalEntry[], end: RunEnd, options: AppendOptions = {}): void {
    const r = this.#runs.get(runId);
    if (!r) throw new RunNotFoundError(`This store has no run "${runId}" to finish.`, { runId });
    if (!isLive(r.run.status)) throw fenceError("This store", runId, this.getRun(runId), options.token ?? 0);
    this.#fence(runId, r, options);
    this.#write(runId, r, entries, options);
    const { lease: _released, ...run } = r.run;
    this.#restatus(r, { ...run, ...copyOf(end), updatedAt: Date.now() });
  }

  getRun(runId: string): StoredRun | undefined {
    const r = this.#runs.get(runId);
    return r && copyOf(r.run);
  }

  getJournal(runId: string): readonly JournalEntry[] {
    return copyOf(this.#runs.get(runId)?.journal ?? []);
  }

  listRuns(filter: RunFilter = {}): readonly StoredRun[] {
    // The list in listing order (oldest first… read backwards) of a run's children (the other
    // filters checked row by row), or else the one of exactly the filters given.
    let from: readonly MemoryRun[];
    if (filter.parentRunId !== undefined) from = [...(this.#children.get(filter.parentRunId) ?? [])].sort((a, b) => ascending(a.run, b.run));
    else from = this.#lists.get(listKey(filter.topLevel === true, filter.workflow, filter.status)) ?? [];
    // (`topLevel` with a status or a workflow: that list, its child runs skipped row by row.)
    const count = countOf(filter.limit);
    const out: StoredRun[] = [];
    let i = (filter.before === undefined ? from.length : lowerBound(from, filter.before)) - 1;
    for (; i >= 0 && out.length < count; i--) {
      const r = from[i]!.run;
      memoryListReads.rows++;
      if (filter.status !== undefined && r.status !== filter.status) continue;
      if (filter.workflow !== undefined && r.workflow !== filter.workflow) continue;
      if (filter.topLevel === true && r.parentRunId !== undefined) continue;
      out.push(copyOf(r));
    }
    return out;
  }

  acquireLease(runId: string, owner: string, ttlMs: number, now: number, options: LeaseOptions = {}): LeaseResult {
    const r = this.#runs.get(runId);
    if (!r) return { acquired: false, holder: undefined };
    const held = r.run.lease;
    const token = this.#tokens.get(runId) ?? 0;
    if (options.token !== undefined) {
      // Renewal: only the lease that still carries this token, held by `owner`.
      if (options.token !== token || held?.owner !== owner) return { acquired: false, holder: held && { ...held } };
      r.run.lease = { owner, expiresAt: now + ttlMs, token };
      return { acquired: true, token };
    }
    if (held && held.owner !== owner && held.expiresAt >= now) return { acquired: false, holder: { ...held } };
    const next = held?.owner === owner ? token : token + 1;
    this.#tokens.set(runId, next);
    r.run.lease = { owner, expiresAt: now + ttlMs, token: next };
    return { acquired: true, token: next };
  }

  releaseLease(runId: string, owner: string): void {
    const r = this.#runs.get(runId);
    if (r?.run.lease?.owner === owner) delete r.run.lease;
  }

  deliver(runId: string, event: EventJSON): number {
    const r = this.#runs.get(runId);
    if (!r) throw new RunNotFoundError(`This store has no run "${runId}" to deliver an event to.`, { runId });
    if (!isLive(r.run.status)) {
      throw new RunFinishedError(`Run "${runId}" has already ended (${r.run.status}); the event was not delivered.`, r.run.status, { workflow: r.run.workflow, runId });
    }
    const id = ++this.#nextInboxId;
    r.inbox.push({ id, event: copyOf(event), at: Date.now() });
    const listeners = this.#listeners.get(runId);
    // A wake-up, after the caller's turn: a listener that reads the inbox at once finds the event.
    if (listeners) for (const fn of listeners) queueMicrotask(fn);
    return id;
  }

  readInbox(runId: string, limit = Infinity): readonly InboxItem[] {
    return copyOf(this.#runs.get(runId)?.inbox.slice(0, countOf(limit)) ?? []);
  }

  subscribe(runId: string, onDelivery: () => void): () => void {
    let set = this.#listeners.get(runId);
    if (!set) this.#listeners.set(runId, (set = new Set()));
    // One entry per subscription, even when the same function subscribes twice.
    const fn = () => onDelivery();
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.#listeners.get(runId) === set) this.#listeners.delete(runId);
    };
  }

  #get(runId: string): MemoryRun {
    const r = this.#runs.get(runId);
    if (!r) throw new Error(`Run "${runId}" is not in this store.`);
    return r;
  }

  #fence(runId: string, r: MemoryRun, options: WriteOptions): void {
    if (options.token === undefined) return;
    if (options.token !== (this.#tokens.get(runId) ?? 0) || !isLive(r.run.status)) throw fenceError("This store", runId, this.getRun(runId), options.token);
  }

  /** Checks everything first, then writes: all or nothing. */
  #write(runId: string, r: MemoryRun, entries: readonly JournalEntry[], options: AppendOptions): void {
    const seqs = new Set<number>();
    for (const e of entries) {
      if (e.kind !== "event") continue;
      if (r.seqs.has(e.seq) || seqs.has(e.seq)) throw duplicateSeqError("This store", runId, e.seq);
      seqs.add(e.seq);
    }
    if (options.claim !== undefined && options.claim.length > 0) {
      const claim = new Set(options.claim);
      if (r.inbox.filter((i) => claim.has(i.id)).length !== claim.size) {
        throw new StoreError(`Run "${runId}": inbox event(s) ${[...claim].join(", ")} are no longer in its inbox (another holder claimed them); nothing was written.`, "INBOX_CLAIMED", { runId });
      }
      r.inbox = r.inbox.filter((i) => !claim.has(i.id));
    }
    for (const s of seqs) r.seqs.add(s);
    for (const e of entries) r.journal.push(copyOf(e));
    r.run.updatedAt = Date.now();
  }
}
