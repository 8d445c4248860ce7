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
  | { kind: "run_started"; workflow: string; input: EventJSON; parentRunId?: string }
  /** An event entered the run: the input, a step's output, a send, or one from outside. */
  | { kind: "event"; seq: number; event: EventJSON; from?: string; to?: string }
  | { kind: "step_started"; stepRunId: string; step: string; seq: number; attempt: number }
  /** A step completed; `emitted` are the seqs of the events it returned. */
  | { kind: "step_finished"; stepRunId: string; step: string; emitted: number[] }
  | { kind: "step_failed"; stepRunId: string; step: string; attempt: number; error: ErrorJSON; willRetry: boolean }
  /** `ctx.store.set(key, value)`. */
  | { kind: "state"; key: string; value: unknown }
  /**
   * The events `ctx.collectEvents` holds under `key` (replaces the previous list). When a call
   * completed a set, `by` is the seq of the event it was called with and `taken` the seqs it took.
   */
  | { kind: "collect"; key: string; seqs: number[]; by?: number; taken?: number[] }
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

/** A process's claim on a run: only the holder runs it, until `expiresAt` unless renewed. */
export interface Lease {
  owner: string;
  /** Ms since the epoch. */
  expiresAt: number;
}

/** What {@link Store.acquireLease} found: the lease is ours now, or `holder` has it. */
export type LeaseResult = { acquired: true } | { acquired: false; holder: Lease | undefined };

/** Filters for {@link Store.listRuns}. */
export interface RunFilter {
  status?: RunStatus;
  workflow?: string;
  limit?: number;
}

/**
 * Where runs and their journals live. The run loop and `Workflow.resume` call these methods;
 * nothing else. Methods may be synchronous or return promises; callers await either.
 * Every value handed in is JSON (records round-trip through `JSON.stringify`); a store
 * returns copies, never objects it keeps. A store that fails throws (ideally a `StoreError`);
 * the run then fails with a `StoreError` and the journal keeps what was committed.
 * `describeStoreConformance` (test/stores/conformance.ts) is the executable form of this contract.
 */
export interface Store {
  /**
   * Record a new run with status `"running"`. Called once per run, before its first journal
   * entry. Throws if a run with that id exists.
   */
  createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): void | Promise<void>;
  /**
   * Append entries to a run's journal, atomically and in order: all are kept or none. Later
   * appends come after earlier ones in {@link getJournal}. Bumps the run's `updatedAt`.
   * Throws if the run does not exist.
   */
  append(runId: string, entries: readonly JournalEntry[]): void | Promise<void>;
  /**
   * Set a run's status; with `outcome`, also its result (completed) or error (failed, cancelled,
   * timed out). Bumps `updatedAt`. Throws if the run does not exist.
   */
  setStatus(runId: string, status: RunStatus, outcome?: { result?: unknown; error?: ErrorJSON }): void | Promise<void>;
  /** One run (with its lease, when held), or undefined when the store has none with that id. */
  getRun(runId: string): StoredRun | undefined | Promise<StoredRun | undefined>;
  /** A run's journal, oldest first; empty when the run is unknown. */
  getJournal(runId: string): readonly JournalEntry[] | Promise<readonly JournalEntry[]>;
  /** Runs matching `filter` (status, workflow name), newest first, at most `limit`. */
  listRuns(filter?: RunFilter): readonly StoredRun[] | Promise<readonly StoredRun[]>;
  /**
   * Atomically take the lease on a run for `owner` until `now + ttlMs`: it succeeds when nobody
   * holds it, when its holder's lease expired before `now`, or when `owner` already holds it
   * (renewal). Otherwise returns the current holder. Unknown run: `{ acquired: false, holder: undefined }`.
   */
  acquireLease(runId: string, owner: string, ttlMs: number, now: number): LeaseResult | Promise<LeaseResult>;
  /** Give up the lease if `owner` holds it; otherwise do nothing. */
  releaseLease(runId: string, owner: string): void | Promise<void>;
  /** Release connections and files. Later calls fail. */
  close?(): void | Promise<void>;
}

/** A store in this process's memory: journals survive only as long as the process. */
export class MemoryStore implements Store {
  readonly #runs = new Map<string, { run: StoredRun; journal: JournalEntry[] }>();

  createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): void {
    if (this.#runs.has(run.runId)) throw new Error(`Run "${run.runId}" already exists in this store.`);
    this.#runs.set(run.runId, { run: { ...run, status: "running", updatedAt: run.createdAt }, journal: [] });
  }

  append(runId: string, entries: readonly JournalEntry[]): void {
    const r = this.#get(runId);
    for (const e of entries) r.journal.push(structuredClone(e));
    r.run.updatedAt = Date.now();
  }

  setStatus(runId: string, status: RunStatus, outcome: { result?: unknown; error?: ErrorJSON } = {}): void {
    const r = this.#get(runId);
    r.run = { ...r.run, status, ...structuredClone(outcome), updatedAt: Date.now() };
  }

  getRun(runId: string): StoredRun | undefined {
    const r = this.#runs.get(runId);
    return r && structuredClone(r.run);
  }

  getJournal(runId: string): readonly JournalEntry[] {
    return structuredClone(this.#runs.get(runId)?.journal ?? []);
  }

  listRuns(filter: RunFilter = {}): readonly StoredRun[] {
    return [...this.#runs.values()]
      .map((r) => r.run)
      .filter((r) => (filter.status === undefined || r.status === filter.status) && (filter.workflow === undefined || r.workflow === filter.workflow))
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, filter.limit ?? Infinity)
      .map((r) => structuredClone(r));
  }

  acquireLease(runId: string, owner: string, ttlMs: number, now: number): LeaseResult {
    const r = this.#runs.get(runId);
    if (!r) return { acquired: false, holder: undefined };
    const held = r.run.lease;
    if (held && held.owner !== owner && held.expiresAt >= now) return { acquired: false, holder: { ...held } };
    r.run.lease = { owner, expiresAt: now + ttlMs };
    return { acquired: true };
  }

  releaseLease(runId: string, owner: string): void {
    const r = this.#runs.get(runId);
    if (r?.run.lease?.owner === owner) delete r.run.lease;
  }

  #get(runId: string) {
    const r = this.#runs.get(runId);
    if (!r) throw new Error(`Run "${runId}" is not in this store.`);
    return r;
  }
}
