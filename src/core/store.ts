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
  /** The events `ctx.collectEvents` holds under `key` (replaces the previous list). */
  | { kind: "collect"; key: string; seqs: number[] }
  /** A step paused in `ctx.waitForEvent` for an event of `type`. */
  | { kind: "waiting"; stepRunId: string; type: string }
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
}

/** Filters for {@link Store.listRuns}. */
export interface RunFilter {
  status?: RunStatus;
  workflow?: string;
  limit?: number;
}

/**
 * Where runs and their journals live. The run loop calls these methods; nothing else.
 * Methods may be synchronous or return promises; the run loop awaits either.
 */
export interface Store {
  /** Record a new run. Called once, before its first journal entry. */
  createRun(run: Omit<StoredRun, "updatedAt" | "status">): void | Promise<void>;
  /** Append entries to a run's journal, atomically and in order: all are kept or none. */
  append(runId: string, entries: readonly JournalEntry[]): void | Promise<void>;
  /** Set a run's status (and its result or error when it has ended). */
  setStatus(runId: string, status: RunStatus, outcome?: { result?: unknown; error?: ErrorJSON }): void | Promise<void>;
  /** One run, or undefined when the store has none with that id. */
  getRun(runId: string): StoredRun | undefined | Promise<StoredRun | undefined>;
  /** A run's journal, oldest first. */
  getJournal(runId: string): readonly JournalEntry[] | Promise<readonly JournalEntry[]>;
  /** Runs, newest first. */
  listRuns(filter?: RunFilter): readonly StoredRun[] | Promise<readonly StoredRun[]>;
  /** Release connections and files. */
  close?(): void | Promise<void>;
}

/** A store in this process's memory: journals survive only as long as the process. */
export class MemoryStore implements Store {
  readonly #runs = new Map<string, { run: StoredRun; journal: JournalEntry[] }>();

  createRun(run: Omit<StoredRun, "updatedAt" | "status">): void {
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

  #get(runId: string) {
    const r = this.#runs.get(runId);
    if (!r) throw new Error(`Run "${runId}" is not in this store.`);
    return r;
  }
}
