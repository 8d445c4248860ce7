/**
 * A {@link Store} in a SQLite file, on `better-sqlite3` (an optional peer dependency):
 * `import { SqliteStore } from "stepwise/sqlite"`.
 * @packageDocumentation
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import {
  JOURNAL_FORMAT,
  StoreError,
  StoreVersionError,
  type ErrorJSON,
  type JournalEntry,
  type LeaseResult,
  type RunFilter,
  type RunStatus,
  type Store,
  type StoredRun,
} from "../index.js";
import { json, toRun, type RunRow } from "./rows.js";

/** The table layout this version reads and writes (kept in `stepwise_meta`). */
export const SQLITE_SCHEMA_VERSION = 1;

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. `"NORMAL"` (default, with WAL) survives a killed process;
   * `"FULL"` also survives a power cut, at the cost of an fsync per commit.
   */
  synchronous?: "NORMAL" | "FULL";
  /** Ms to wait for another process's write lock before failing (default 5000). */
  busyTimeoutMs?: number;
}


/**
 * Runs and journals in one SQLite file, in WAL mode: the embedded default of the command
 * line and server (`.stepwise/runs.db`). Synchronous; safe to share between processes.
 * @example
 * const wf = new MyWorkflow({ store: new SqliteStore(".stepwise/runs.db") });
 */
export class SqliteStore implements Store {
  /** The file this store reads and writes. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #stmt: {
    insertRun: Database.Statement;
    insertEntry: Database.Statement;
    lastIdx: Database.Statement;
    touch: Database.Statement;
    setStatus: Database.Statement;
    getRun: Database.Statement;
    journal: Database.Statement;
    lease: Database.Statement;
    release: Database.Statement;
  };
  readonly #append: (runId: string, entries: readonly JournalEntry[]) => void;

  constructor(path = ".stepwise/runs.db", options: SqliteStoreOptions = {}) {
    this.path = path;
    if (path !== ":memory:" && !path.startsWith("file:")) mkdirSync(dirname(path), { recursive: true });
    try {
      this.#db = new Database(path);
    } catch (err) {
      throw new StoreError(`Could not open the SQLite store "${path}": ${message(err)}`, "STORE_FAILED", { cause: err });
    }
    try {
      this.#db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      this.#init();
      this.#db.pragma("journal_mode = WAL");
      this.#db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`);
    } catch (err) {
      this.#db.close();
      if (err instanceof StoreError) throw err;
      const notDb = (err as { code?: string }).code === "SQLITE_NOTADB";
      throw new StoreError(
        notDb
          ? `"${path}" is not a stepwise store: it is not a SQLite database. Point the store at another file (default .stepwise/runs.db).`
          : `Could not open the SQLite store "${path}": ${message(err)}`,
        notDb ? "NOT_A_STEPWISE_STORE" : "STORE_FAILED",
        { cause: err },
      );
    }
    const db = this.#db;
    this.#stmt = {
      insertRun: db.prepare(
        "INSERT INTO stepwise_runs (run_id, workflow, status, input, parent_run_id, format, created_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
      ),
      insertEntry: db.prepare("INSERT INTO stepwise_journal (run_id, idx, entry) VALUES (?, ?, ?)"),
      lastIdx: db.prepare("SELECT COALESCE(MAX(idx), 0) AS n FROM stepwise_journal WHERE run_id = ?"),
      touch: db.prepare("UPDATE stepwise_runs SET updated_at = ? WHERE run_id = ?"),
      setStatus: db.prepare("UPDATE stepwise_runs SET status = ?, result = ?, error = ?, updated_at = ? WHERE run_id = ?"),
      getRun: db.prepare("SELECT * FROM stepwise_runs WHERE run_id = ?"),
      journal: db.prepare("SELECT entry FROM stepwise_journal WHERE run_id = ? ORDER BY idx"),
      lease: db.prepare(
        "UPDATE stepwise_runs SET lease_owner = ?, lease_expires = ? WHERE run_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires < ?)",
      ),
      release: db.prepare("UPDATE stepwise_runs SET lease_owner = NULL, lease_expires = NULL WHERE run_id = ? AND lease_owner = ?"),
    };
    this.#append = db.transaction((runId: string, entries: readonly JournalEntry[]) => {
      if (this.#stmt.touch.run(Date.now(), runId).changes === 0) throw new StoreError(`Run "${runId}" is not in the store "${this.path}".`);
      let idx = (this.#stmt.lastIdx.get(runId) as { n: number }).n;
      for (const e of entries) this.#stmt.insertEntry.run(runId, ++idx, JSON.stringify(e));
    });
  }

  #init(): void {
    const db = this.#db;
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    if (tables.includes("stepwise_meta")) {
      const row = db.prepare("SELECT value FROM stepwise_meta WHERE key = 'schema'").get() as { value: string } | undefined;
      const found = Number(row?.value);
      if (!Number.isInteger(found)) {
        throw new StoreError(`"${this.path}" is not a stepwise store: its stepwise_meta table has no schema version.`, "NOT_A_STEPWISE_STORE");
      }
      if (found > SQLITE_SCHEMA_VERSION) {
        throw new StoreVersionError(
          `The store "${this.path}" was written by a newer stepwise (schema ${found}; this version reads up to ${SQLITE_SCHEMA_VERSION}). Upgrade stepwise to read it.`,
          found,
          SQLITE_SCHEMA_VERSION,
        );
      }
      return;
    }
    if (tables.length > 0) {
      throw new StoreError(
        `"${this.path}" is not a stepwise store: it is a SQLite database with other tables (${tables.slice(0, 5).join(", ")}). Point the store at its own file (default .stepwise/runs.db).`,
        "NOT_A_STEPWISE_STORE",
      );
    }
    db.exec(`
      BEGIN;
      CREATE TABLE stepwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO stepwise_meta (key, value) VALUES ('schema', '${SQLITE_SCHEMA_VERSION}');
      CREATE TABLE stepwise_runs (
        run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL,
        result TEXT, error TEXT, parent_run_id TEXT, format INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, lease_owner TEXT, lease_expires INTEGER
      );
      CREATE INDEX stepwise_runs_created ON stepwise_runs (created_at DESC);
      CREATE TABLE stepwise_journal (
        run_id TEXT NOT NULL, idx INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (run_id, idx)
      ) WITHOUT ROWID;
      COMMIT;
    `);
  }

  #do<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`SQLite store "${this.path}" failed to ${what}: ${message(err)}`, "STORE_FAILED", { cause: err });
    }
  }

  createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): void {
    this.#do(`create run "${run.runId}"`, () =>
      this.#stmt.insertRun.run(run.runId, run.workflow, JSON.stringify(run.input), run.parentRunId ?? null, run.format ?? JOURNAL_FORMAT, run.createdAt, run.createdAt),
    );
  }

  append(runId: string, entries: readonly JournalEntry[]): void {
    if (entries.length === 0) return;
    this.#do(`append to the journal of run "${runId}"`, () => this.#append(runId, entries));
  }

  setStatus(runId: string, status: RunStatus, outcome: { result?: unknown; error?: ErrorJSON } = {}): void {
    this.#do(`set the status of run "${runId}"`, () => {
      const r = this.#stmt.setStatus.run(status, json(outcome.result), json(outcome.error), Date.now(), runId);
      if (r.changes === 0) throw new StoreError(`Run "${runId}" is not in the store "${this.path}".`);
    });
  }

  getRun(runId: string): StoredRun | undefined {
    const row = this.#do(`read run "${runId}"`, () => this.#stmt.getRun.get(runId) as RunRow | undefined);
    return row && toRun(row);
  }

  getJournal(runId: string): readonly JournalEntry[] {
    const rows = this.#do(`read the journal of run "${runId}"`, () => this.#stmt.journal.all(runId) as { entry: string }[]);
    return rows.map((r) => JSON.parse(r.entry) as JournalEntry);
  }

  listRuns(filter: RunFilter = {}): readonly StoredRun[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status !== undefined) {
      where.push("status = ?");
      args.push(filter.status);
    }
    if (filter.workflow !== undefined) {
      where.push("workflow = ?");
      args.push(filter.workflow);
    }
    const sql = `SELECT * FROM stepwise_runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, rowid DESC${filter.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(filter.limit))}` : ""}`;
    return this.#do("list runs", () => (this.#db.prepare(sql).all(...args) as RunRow[]).map(toRun));
  }

  acquireLease(runId: string, owner: string, ttlMs: number, now: number): LeaseResult {
    return this.#do(`take the lease on run "${runId}"`, () => {
      if (this.#stmt.lease.run(owner, now + ttlMs, runId, owner, now).changes > 0) return { acquired: true } as const;
      const row = this.#stmt.getRun.get(runId) as RunRow | undefined;
      return { acquired: false, holder: row?.lease_owner ? { owner: row.lease_owner, expiresAt: Number(row.lease_expires ?? 0) } : undefined } as const;
    });
  }

  releaseLease(runId: string, owner: string): void {
    this.#do(`release the lease on run "${runId}"`, () => this.#stmt.release.run(runId, owner));
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}



function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
