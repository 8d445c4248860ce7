/**
 * A {@link Store} in a SQLite file, on `better-sqlite3` (an optional peer dependency):
 * `import { SqliteStore } from "stepwise-ai/sqlite"`.
 * @packageDocumentation
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type Database from "better-sqlite3";
import {
  JOURNAL_FORMAT,
  RunFinishedError,
  RunNotFoundError,
  StoreError,
  StoreVersionError,
  WorkflowError,
  duplicateSeqError,
  fenceError,
  type ErrorJSON,
  type EventJSON,
  type JournalEntry,
  type LeaseResult,
  type RunFilter,
  type RunStatus,
  type Store,
  type StoredRun,
  type AppendOptions,
  type InboxItem,
  type LeaseOptions,
  type NewRunLease,
  type RunEnd,
  type WriteOptions,
} from "../index.js";
import { requireOptional } from "../optional.js";
import { json, rowLimit, toRun, type RunRow } from "./rows.js";

export { MissingDependencyError } from "../optional.js";

/**
 * The table layout this version reads and writes (kept in `stepwise_meta`).
 * 1: one journal row per entry, keyed by (run_id, idx). 2 (never released): one row per commit,
 * keyed by (run_id, idx). 3: one row per commit (`entries`, a JSON array, with the commit's time
 * `at`), keyed by one integer, `run_key << 32 | commit`. 4: adds the lease's fencing token, one
 * row per event seq (`stepwise_seqs`, so a seq is unique per run) and the inbox. Files at 1 to 3
 * are migrated when opened (not when opened `readonly`).
 */
export const SQLITE_SCHEMA_VERSION = 4;

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. `"NORMAL"` (default, with WAL) survives a killed process;
   * `"FULL"` also survives a power cut, at the cost of an fsync per commit.
   */
  synchronous?: "NORMAL" | "FULL";
  /**
   * Ms to wait for another connection's write lock (SQLite retries with backoff meanwhile) before
   * failing with a `StoreError` of code `STORE_BUSY` (default 5000).
   */
  busyTimeoutMs?: number;
  /**
   * Open an existing store for reading only (listing runs, reading journals): nothing is created,
   * migrated or written, and writes fail with `StoreError`. The file must exist at this version's schema.
   * A store in a folder this process cannot write to, with no `-wal` file beside it (SQLite cannot
   * make the `-shm` file it needs to read a WAL database there), is read from a private copy taken
   * when it is opened.
   */
  readonly?: boolean;
}


/**
 * Runs and journals in one SQLite file, in WAL mode: the embedded default of the command
 * line and server (`.stepwise/runs.db`). Safe to share between processes. Reads are synchronous;
 * writes return promises and are group-committed: the writes asked for in one turn of the event
 * loop share one transaction (a write that is refused is rolled back alone), so many concurrent
 * runs share commits.
 * @example
 * const wf = new MyWorkflow({ store: new SqliteStore(".stepwise/runs.db") });
 */
export class SqliteStore implements Store {
  /** The file this store reads and writes. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #stmt: Record<
    "insertRun" | "insertRunHeld" | "insertCommit" | "insertCommitFenced" | "seqHeld" | "lastKey" | "runKey" | "fence" | "setStatus" | "end" | "endFenced" | "getRun" | "journal" | "lease" | "renew" | "release" | "deliver" | "inbox" | "inboxUpTo" | "claim",
    Database.Statement
  >;
  /**
   * The idx of the last journal row of each run this instance has appended to. Read from the
   * file on the first append of a run (and again after this instance takes its lease), then kept
   * here: only the lease holder (or the process that created the run) appends to a run.
   */
  readonly #cursors = new Map<string, Cursor>();

  constructor(path = ".stepwise/runs.db", options: SqliteStoreOptions = {}) {
    this.path = path;
    // Loaded here, not at import, so a missing driver is an error saying how to install it.
    const Driver = requireOptional<typeof Database>("better-sqlite3", "SqliteStore (stepwise-ai/sqlite)");
    const readonly = options.readonly === true;
    const busy = options.busyTimeoutMs ?? 5000;
    // SQLite reads NaN, Infinity or a negative value as 0 (fail at once when another connection writes).
    if (typeof busy !== "number" || Number.isNaN(busy) || busy < 0) {
      throw new StoreError(`SqliteStore busyTimeoutMs must be a number of ms from 0 (Infinity: wait as long as SQLite can), got ${String(busy)}.`, "STORE_FAILED");
    }
    if (options.synchronous !== undefined && options.synchronous !== "NORMAL" && options.synchronous !== "FULL") {
      throw new StoreError(`SqliteStore synchronous must be "NORMAL" or "FULL", got ${JSON.stringify(options.synchronous)}.`, "STORE_FAILED");
    }
    this.#busyMs = Math.min(2 ** 31 - 1, Math.ceil(busy));
    try {
      if (!readonly && path !== ":memory:" && !path.startsWith("file:")) createPrivate(path);
      if (readonly) ({ db: this.#db, copy: this.#copy } = openReadonly(Driver, path));
      else this.#db = new Driver(path);
    } catch (err) {
      throw new StoreError(`Could not open the SQLite store "${path}"${readonly ? " to read" : ""}: ${message(err)}`, "STORE_FAILED", { cause: err });
    }
    try {
      this.#db.pragma(`busy_timeout = ${this.#busyMs}`);
      if (readonly) this.#checkReadable();
      else {
        // A file of someone else's is refused before anything is set on it.
        const stepwise = this.#isStepwise(false);
        // WAL and `synchronous` before the tables are made: in the default rollback mode with
        // `synchronous = FULL`, making them cost several fsyncs (3–23 ms per new store here).
        this.#db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`);
        this.#db.pragma("journal_mode = WAL");
        // Checkpoint the WAL every ~16 MB (4,000 pages) instead of ~4 MB: fewer checkpoints under
        // batched commits of large rows (measured 220 → 290 MB/s of journal), same small commits.
        this.#db.pragma("wal_autocheckpoint = 4000");
        this.#init(stepwise);
      }
    } catch (err) {
      this.close();
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
      insertRunHeld: db.prepare(
        "INSERT INTO stepwise_runs (run_id, workflow, status, input, parent_run_id, format, created_at, updated_at, lease_owner, lease_expires, lease_token) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, 1)",
      ),
      insertCommit: db.prepare("INSERT INTO stepwise_journal (id, at, entries) VALUES (?, ?, ?)"),
      // The fence checked by the insert itself: no row when the token is not the run's latest or the run has ended.
      insertCommitFenced: db.prepare(
        "INSERT INTO stepwise_journal (id, at, entries) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM stepwise_runs WHERE run_key = ? AND lease_token = ? AND status IN ('running', 'waiting'))",
      ),
      seqHeld: db.prepare("SELECT 1 FROM stepwise_seqs WHERE id = ?").pluck(),
      lastKey: db.prepare("SELECT MAX(id) FROM stepwise_journal WHERE id >= ? AND id < ?").pluck().safeIntegers(true),
      runKey: db.prepare("SELECT run_key FROM stepwise_runs WHERE run_id = ?").pluck().safeIntegers(true),
      fence: db.prepare("SELECT lease_token AS token, status FROM stepwise_runs WHERE run_key = ?"),
      setStatus: db.prepare("UPDATE stepwise_runs SET status = ?, result = ?, error = ?, updated_at = ? WHERE run_id = ?"),
      end: db.prepare(
        "UPDATE stepwise_runs SET status = ?, result = ?, error = ?, updated_at = ?, lease_owner = NULL, lease_expires = NULL WHERE run_key = ? AND status IN ('running', 'waiting')",
      ),
      endFenced: db.prepare(
        "UPDATE stepwise_runs SET status = ?, result = ?, error = ?, updated_at = ?, lease_owner = NULL, lease_expires = NULL WHERE run_key = ? AND status IN ('running', 'waiting') AND lease_token = ?",
      ),
      getRun: db.prepare(`SELECT ${RUN_COLUMNS} FROM stepwise_runs r WHERE run_id = ?`),
      journal: db.prepare(
        "SELECT entries FROM stepwise_journal, (SELECT run_key FROM stepwise_runs WHERE run_id = ?) r WHERE id >= r.run_key << 32 AND id < (r.run_key + 1) << 32 ORDER BY id",
      ).pluck(),
      lease: db.prepare(
        "UPDATE stepwise_runs SET lease_token = lease_token + (lease_owner IS NOT ? OR lease_owner IS NULL), lease_owner = ?, lease_expires = ? WHERE run_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires < ?) " +
          "RETURNING lease_token AS token, run_key AS key, (SELECT MAX(j.id) FROM stepwise_journal j WHERE j.id >= run_key << 32 AND j.id < (run_key + 1) << 32) AS last",
      ).safeIntegers(true),
      renew: db.prepare("UPDATE stepwise_runs SET lease_expires = ? WHERE run_id = ? AND lease_owner = ? AND lease_token = ?"),
      release: db.prepare("UPDATE stepwise_runs SET lease_owner = NULL, lease_expires = NULL WHERE run_id = ? AND lease_owner = ?"),
      deliver: db.prepare("INSERT INTO stepwise_inbox (run_key, event, at) SELECT run_key, ?, ? FROM stepwise_runs WHERE run_id = ? AND status IN ('running', 'waiting')"),
      // Without a LIMIT when none is asked for (the lease holder's reads): measured 8.2 → 2.6 µs a
      // read of an empty inbox (with `LIMIT -1` SQLite orders through a sorter).
      inbox: db.prepare("SELECT i.id, i.event, i.at FROM stepwise_inbox i, (SELECT run_key FROM stepwise_runs WHERE run_id = ?) r WHERE i.run_key = r.run_key ORDER BY i.id"),
      inboxUpTo: db.prepare(
        "SELECT i.id, i.event, i.at FROM stepwise_inbox i, (SELECT run_key FROM stepwise_runs WHERE run_id = ?) r WHERE i.run_key = r.run_key ORDER BY i.id LIMIT ?",
      ),
      claim: db.prepare("DELETE FROM stepwise_inbox WHERE id = ? AND run_key = ?"),
    };
    this.#group = db.transaction((ops: readonly PendingWrite[], settled: (() => void)[]) => this.#runGroup(ops, settled));
    this.#plain = db.transaction((ops: readonly PendingWrite[], values: unknown[]) => {
      for (const op of ops) {
        try {
          values.push(op.fn());
        } catch (err) {
          throw new Refused(err);
        }
      }
    });
    this.#savepoint = db.transaction((fn: () => unknown) => fn());
  }

  readonly #busyMs: number;
  /** The writes of one turn (see {@link #enqueue}), in one IMMEDIATE transaction. */
  readonly #group: Database.Transaction<(ops: readonly PendingWrite[], settled: (() => void)[]) => void>;
  /**
   * The writes of one turn without savepoints (two statements fewer per write): the common case,
   * where none is refused. The first refusal rolls it all back (as {@link Refused}); the group is
   * then made again with {@link #group}'s savepoints.
   */
  readonly #plain: Database.Transaction<(ops: readonly PendingWrite[], values: unknown[]) => void>;
  /** One write inside the group's transaction: a savepoint, rolled back alone when the write throws. */
  readonly #savepoint: Database.Transaction<(fn: () => unknown) => unknown>;

  /** `stepwise`: the file holds stepwise's tables already (else it is empty and gets them). */
  #init(stepwise: boolean): void {
    const db = this.#db;
    if (stepwise) {
      const found = this.#schemaVersion();
      if (found < SQLITE_SCHEMA_VERSION) this.#migrate();
      // A file made before the status or the parent index gets it (an older version reading the
      // file ignores it), when it can: an index saves reads, nothing depends on it, so a file another
      // connection holds the write lock on, or one this process may only read, is opened without it.
      // One made before an index covered the whole listing order (created_at, run_id) is made again.
      for (const [name, sql, columns] of LATER_INDEXES) {
        const found = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").pluck().get(name) as string | null | undefined;
        if (found !== undefined && (found ?? "").includes(columns)) continue;
        try {
          if (found === undefined) db.exec(sql);
          else db.transaction(() => db.exec(`DROP INDEX ${name}; ${sql}`))();
        } catch (err) {
          const code = (err as { code?: string }).code ?? "";
          if (!isBusy(err) && !code.startsWith("SQLITE_READONLY")) throw err;
        }
      }
      return;
    }
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another process opening the new file at once may have made the tables while this one
      // waited for the lock: then it opens them.
      if (this.#isStepwise(false)) {
        db.exec("COMMIT");
        return this.#init(true);
      }
      db.exec(`
        CREATE TABLE stepwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO stepwise_meta (key, value) VALUES ('schema', '${SQLITE_SCHEMA_VERSION}');
        ${RUNS_TABLE}
        ${LATER_INDEXES.map(([, sql]) => sql).join("\n")}
        ${JOURNAL_TABLE}
        ${V4_TABLES}
      `);
      db.exec("COMMIT");
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }

  /**
   * Whether the file holds stepwise's tables. False for an empty file (which a writable store
   * then sets up); a file with other tables, or an empty one opened `readonly`, is refused.
   */
  #isStepwise(readonly: boolean): boolean {
    const tables = (this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    if (tables.includes("stepwise_meta")) return true;
    if (tables.length > 0) {
      throw new StoreError(
        `"${this.path}" is not a stepwise store: it is a SQLite database with other tables (${tables.slice(0, 5).join(", ")}). Point the store at its own file (default .stepwise/runs.db).`,
        "NOT_A_STEPWISE_STORE",
      );
    }
    if (readonly) {
      throw new StoreError(`"${this.path}" is not a stepwise store yet: it is empty, and a read-only store gets no tables created. Open it once without readonly.`, "NOT_A_STEPWISE_STORE");
    }
    return false;
  }

  /** The file's schema version; throws for a file that is not a stepwise store or is newer than this version. */
  #schemaVersion(): number {
    const row = this.#db.prepare("SELECT value FROM stepwise_meta WHERE key = 'schema'").get() as { value: string } | undefined;
    const found = Number(row?.value);
    if (!Number.isInteger(found) || found < 1) {
      throw new StoreError(`"${this.path}" is not a stepwise store: its stepwise_meta table has no schema version.`, "NOT_A_STEPWISE_STORE");
    }
    if (found > SQLITE_SCHEMA_VERSION) {
      throw new StoreVersionError(
        `The store "${this.path}" was written by a newer stepwise (schema ${found}; this version reads up to ${SQLITE_SCHEMA_VERSION}). Upgrade stepwise to read it.`,
        found,
        SQLITE_SCHEMA_VERSION,
      );
    }
    return found;
  }

  /** A read-only store reads the current layout only: an older file must be opened writable once, to migrate it. */
  #checkReadable(): void {
    this.#isStepwise(true);
    const found = this.#schemaVersion();
    if (found < SQLITE_SCHEMA_VERSION) {
      throw new StoreVersionError(
        `The store "${this.path}" is at schema ${found}, older than this version's ${SQLITE_SCHEMA_VERSION}, and was opened read-only; open it once without readonly (e.g. run a workflow on it) to migrate it.`,
        found,
        SQLITE_SCHEMA_VERSION,
      );
    }
  }

  /**
   * Schema 1 kept one journal row per entry: each becomes a commit of one entry, in order.
   * Schema 2 rows are commits already; they move to the integer key. Schema 3 gains the fencing
   * token, the seq table (filled from the journal; a seq journaled twice by an earlier version
   * keeps its first row) and the inbox.
   */
  #migrate(): void {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another process may have migrated the file while this one waited for the lock.
      const from = Number((db.prepare("SELECT value FROM stepwise_meta WHERE key = 'schema'").get() as { value: string }).value);
      if (from === 1 || from === 2) {
        db.exec(`
          ALTER TABLE stepwise_journal RENAME TO stepwise_journal_v1;
          ALTER TABLE stepwise_runs RENAME TO stepwise_runs_v1;
          DROP INDEX stepwise_runs_created;
          ${RUNS_TABLE}
          INSERT INTO stepwise_runs (run_id, workflow, status, input, result, error, parent_run_id, format, created_at, updated_at, lease_owner, lease_expires)
            SELECT run_id, workflow, status, input, result, error, parent_run_id, format, created_at, updated_at, lease_owner, lease_expires FROM stepwise_runs_v1 ORDER BY rowid;
          ${JOURNAL_TABLE}
          INSERT INTO stepwise_journal (id, at, entries)
            SELECT (r.run_key << 32) + j.idx, ${from === 1 ? "0, '[' || j.entry || ']'" : "j.at, j.entries"} FROM stepwise_journal_v1 j JOIN stepwise_runs r ON r.run_id = j.run_id;
          DROP TABLE stepwise_journal_v1;
          DROP TABLE stepwise_runs_v1;
        `);
      } else if (from === 3) {
        db.exec("ALTER TABLE stepwise_runs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;");
      }
      if (from < SQLITE_SCHEMA_VERSION) {
        db.exec(`
          ${V4_TABLES}
          INSERT OR IGNORE INTO stepwise_seqs (id)
            SELECT ((j.id >> 32) << 32) | json_extract(e.value, '$.seq') FROM stepwise_journal j, json_each(j.entries) e
            WHERE json_extract(e.value, '$.kind') = 'event' AND json_extract(e.value, '$.seq') BETWEEN 0 AND ${MAX_SEQ};
          UPDATE stepwise_meta SET value = '${SQLITE_SCHEMA_VERSION}' WHERE key = 'schema';
        `);
      }
      db.exec("COMMIT");
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }

  #do<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.#wrap(err, what);
    }
  }

  #wrap(err: unknown, what: string): Error {
    if (err instanceof StoreError || err instanceof WorkflowError) return err;
    if (isBusy(err)) {
      return new StoreError(
        `SQLite store "${this.path}" could not ${what}: another connection held the database's write lock for more than ${this.#busyMs} ms (busyTimeoutMs). Nothing was written; try again when it is free, or raise busyTimeoutMs.`,
        "STORE_BUSY",
        { cause: err },
      );
    }
    return new StoreError(`SQLite store "${this.path}" failed to ${what}: ${message(err)}`, "STORE_FAILED", { cause: err });
  }

  /**
   * Writes are group-committed: every write asked for in one turn of the event loop (until the
   * microtasks queued before the first of them have run) is made in one `IMMEDIATE` transaction,
   * made again each in a savepoint of its own when one of them is refused (a fence, a repeated seq),
   * so a refused write leaves the others.
   * Its promise settles once that transaction committed: 1,000 runs started at once share a
   * handful of commits instead of making several each. Reads first write what is pending.
   */
  #enqueue<T>(what: string, fn: () => T, fail?: (err: unknown) => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#queue.push({ what, fn, fail, resolve: resolve as (v: unknown) => void, reject }) === 1) queueMicrotask(() => this.#flush());
    });
  }

  /** Writes asked for and not committed yet, in the order asked. */
  #queue: PendingWrite[] = [];

  /** Commits every pending write (see {@link #enqueue}); settles each one's promise after the commit. */
  #flush(): void {
    const ops = this.#queue;
    // Reads inside a write (a fence failure names the run's state) find nothing to write first.
    if (ops.length === 0 || this.#db.inTransaction) return;
    this.#queue = [];
    if (!this.#db.open) {
      for (const op of ops) op.reject(new StoreError(`SQLite store "${this.path}" is closed; could not ${op.what}.`, "STORE_FAILED"));
      return;
    }
    if (ops.length === 1) {
      // One write alone: its own transaction, no savepoint.
      const op = ops[0] as PendingWrite;
      let value: unknown;
      try {
        value = this.#savepoint.immediate(op.fn);
      } catch (err) {
        op.reject(op.fail ? op.fail(err) : this.#wrap(err, op.what));
        return;
      }
      op.resolve(value);
      return;
    }
    const values: unknown[] = [];
    try {
      this.#plain.immediate(ops, values);
      for (const [i, op] of ops.entries()) op.resolve(values[i]);
      return;
    } catch (err) {
      // What the rolled-back writes did to this instance's cursors is undone by reading them again.
      this.#cursors.clear();
      if (!(err instanceof Refused)) {
        for (const op of ops) op.reject(this.#wrap(err, op.what));
        return;
      }
    }
    const settled: (() => void)[] = [];
    try {
      this.#group.immediate(ops, settled);
    } catch (err) {
      // BEGIN or COMMIT failed, or SQLite rolled the whole transaction back: nothing was written.
      this.#cursors.clear();
      for (const op of ops) op.reject(this.#wrap(err, op.what));
      return;
    }
    for (const s of settled) s();
  }

  /** Inside the group's transaction: each write in a savepoint; a failure rolls back that write only. */
  #runGroup(ops: readonly PendingWrite[], settled: (() => void)[]): void {
    for (const op of ops) {
      try {
        const value = this.#savepoint(op.fn);
        settled.push(() => op.resolve(value));
      } catch (err) {
        // Some errors (a full disk, I/O) make SQLite roll back the whole transaction: then nothing of the group stands.
        if (!this.#db.inTransaction) throw err;
        const failed = op.fail ? op.fail(err) : this.#wrap(err, op.what);
        settled.push(() => op.reject(failed));
      }
    }
  }

  createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): Promise<void> {
    return this.#create(run, undefined, undefined);
  }

  /** One `INSERT` of the run row with its lease columns set: token 1, the run's first. */
  createRunHeld(run: Omit<StoredRun, "updatedAt" | "status" | "lease">, lease: NewRunLease): Promise<number> {
    return this.#create(run, lease, 1);
  }

  /** Insert run `run`'s row (holding `lease` when given) and answer `answer`. */
  #create<T>(run: Omit<StoredRun, "updatedAt" | "status" | "lease">, lease: NewRunLease | undefined, answer: T): Promise<T> {
    const input = JSON.stringify(run.input);
    return this.#enqueue(`create run "${run.runId}"`, () => {
      const row = [run.runId, run.workflow, input, run.parentRunId ?? null, run.format ?? JOURNAL_FORMAT, run.createdAt, run.createdAt];
      const key = (lease === undefined ? this.#stmt.insertRun.run(...row) : this.#stmt.insertRunHeld.run(...row, lease.owner, lease.now + lease.ttlMs)).lastInsertRowid;
      // A new run key has no journal rows yet.
      this.#cursors.set(run.runId, { base: BigInt(key) << 32n, last: 0 });
      return answer;
    });
  }

  /**
   * One row per call: the entries as one JSON array, plus one `stepwise_seqs` row per event, in
   * one transaction. The run's `updatedAt` is not written here; it is read as the later of the run
   * row's time and its last commit's (`at`).
   */
  append(runId: string, entries: readonly JournalEntry[], options: AppendOptions = {}): Promise<void> {
    if (entries.length === 0 && !options.claim?.length && options.token === undefined) return Promise.resolve();
    return this.#commit(runId, entries, options, undefined, `append to the journal of run "${runId}"`);
  }

  setStatus(runId: string, status: RunStatus, outcome: { result?: unknown; error?: ErrorJSON } = {}, options: WriteOptions = {}): Promise<void> {
    return this.#enqueue(`set the status of run "${runId}"`, () => {
      // The fence check and the write see one state of the row (one transaction).
      if (options.token !== undefined) this.#fenced(runId, options.token);
      const r = this.#stmt.setStatus.run(status, json(outcome.result), json(outcome.error), Date.now(), runId);
      if (r.changes === 0) throw new StoreError(`Run "${runId}" is not in the store "${this.path}".`);
      // An ended run is not appended to again (if it is, its cursor is read back): keep no cursor
      // per finished run in a long-lived process.
      if (status !== "running" && status !== "waiting") this.#cursors.delete(runId);
    });
  }

  finish(runId: string, entries: readonly JournalEntry[], end: RunEnd, options: AppendOptions = {}): Promise<void> {
    return this.#commit(runId, entries, options, end, `finish run "${runId}"`).finally(() => this.#cursors.delete(runId));
  }

  #commit(runId: string, entries: readonly JournalEntry[], options: AppendOptions, end: RunEnd | undefined, what: string): Promise<void> {
    const text = entries.length > 0 ? JSON.stringify(entries) : "";
    return this.#enqueue(
      what,
      () => this.#write(runId, entries, text, options, end),
      (err) => {
        this.#cursors.delete(runId);
        if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
          return new StoreError(`SQLite store "${this.path}" failed to ${what}: another writer appended to it (does another process hold the run's lease?).`, "JOURNAL_CONFLICT", { cause: err });
        }
        return this.#wrap(err, what);
      },
    );
  }

  /** Inside {@link #tx}: throws (rolling everything back) at the first check that fails. */
  #write(runId: string, entries: readonly JournalEntry[], text: string, options: AppendOptions, end: RunEnd | undefined): void {
    let c = this.#cursors.get(runId);
    if (c === undefined) {
      const key = this.#stmt.runKey.get(runId) as bigint | undefined;
      if (key === undefined) {
        throw end ? new RunNotFoundError(`The SQLite store "${this.path}" has no run "${runId}" to finish.`, { runId }) : new StoreError(`Run "${runId}" is not in the store "${this.path}".`);
      }
      const base = key << 32n;
      const max = this.#stmt.lastKey.get(base, base + COMMITS) as bigint | null;
      c = { base, last: max === null ? 0 : Number(max - base) };
      this.#cursors.set(runId, c);
    }
    const runKey = c.base >> 32n;
    const token = options.token;
    // The fence is checked by the statements that write (an empty append checks it alone).
    if (entries.length === 0 && token !== undefined && !end) this.#fenced(runId, token);
    if (entries.length > 0) {
      if (c.last >= MAX_COMMIT) throw new StoreError(`Run "${runId}" has ${MAX_COMMIT} journal commits, the most one run can hold in the SQLite store "${this.path}".`);
      const id = c.base + BigInt(c.last + 1);
      const now = Date.now();
      const wrote = token === undefined ? this.#stmt.insertCommit.run(id, now, text) : this.#stmt.insertCommitFenced.run(id, now, text, runKey, token);
      if (wrote.changes === 0) throw this.#refusal(runId, runKey, token, end);
      const seqs: bigint[] = [];
      for (const e of entries) {
        if (e.kind !== "event") continue;
        if (!Number.isInteger(e.seq) || e.seq < 0 || e.seq > MAX_SEQ) throw new StoreError(`Run "${runId}": event seq ${e.seq} is not an integer from 0 to ${MAX_SEQ}; nothing was written.`);
        seqs.push(c.base + BigInt(e.seq));
      }
      this.#insertSeqs(runId, c.base, seqs);
    }
    // An id claimed twice in one call is claimed once (as the other stores do). Most commits claim
    // nothing: they make no Set.
    if (options.claim !== undefined && options.claim.length > 0) {
      for (const id of new Set(options.claim)) {
        if (this.#stmt.claim.run(id, runKey).changes === 0) {
          throw new StoreError(`Run "${runId}": inbox event ${id} is no longer in its inbox (another holder claimed it); nothing was written.`, "INBOX_CLAIMED", { runId });
        }
      }
    }
    if (end) {
      const now = Date.now();
      const ended =
        token === undefined
          ? this.#stmt.end.run(end.status, json(end.result), json(end.error), now, runKey)
          : this.#stmt.endFenced.run(end.status, json(end.result), json(end.error), now, runKey, token);
      if (ended.changes === 0) throw this.#refusal(runId, runKey, token, end);
    }
    // Only now is the commit number used: a transaction that threw left it free.
    if (entries.length > 0) c.last++;
  }

  /**
   * The seq rows of one commit, up to {@link SEQ_CHUNK} per statement (a `"batched"` commit of
   * 1,024 entries holds ~341 events: 6 statements instead of 341). A repeated seq fails its
   * statement (nothing of it is written) and is named.
   */
  #insertSeqs(runId: string, base: bigint, seqs: readonly bigint[]): void {
    for (let i = 0; i < seqs.length; i += SEQ_CHUNK) {
      const chunk = i === 0 && seqs.length <= SEQ_CHUNK ? seqs : seqs.slice(i, i + SEQ_CHUNK);
      try {
        this.#seqInsert(chunk.length).run(...chunk);
      } catch (err) {
        if ((err as { code?: string }).code !== "SQLITE_CONSTRAINT_PRIMARYKEY") throw err;
        // The first seq of the failed chunk that an earlier one of the commit repeats, or the run holds.
        const before = new Set(seqs.slice(0, i));
        const dup = chunk.find((id, k) => before.has(id) || chunk.indexOf(id) < k || this.#stmt.seqHeld.get(id) !== undefined);
        throw duplicateSeqError(`The SQLite store "${this.path}"`, runId, dup === undefined ? "?" : Number(dup - base), err);
      }
    }
  }

  /** The statement inserting `n` seq rows (made on first use; at most {@link SEQ_CHUNK} of them). */
  #seqInsert(n: number): Database.Statement {
    let stmt = this.#seqInserts[n];
    if (stmt === undefined) this.#seqInserts[n] = stmt = this.#db.prepare(`INSERT INTO stepwise_seqs (id) VALUES ${Array.from({ length: n }, () => "(?)").join(", ")}`);
    return stmt;
  }
  readonly #seqInserts: (Database.Statement | undefined)[] = [];

  /** Why a write to run `runKey` changed nothing: the run is gone, has ended, or is held under another token. */
  #refusal(runId: string, runKey: bigint, token: number | undefined, end: RunEnd | undefined): Error {
    const row = this.#stmt.fence.get(runKey) as { token: number; status: RunStatus } | undefined;
    if (!row) return end ? new RunNotFoundError(`The SQLite store "${this.path}" has no run "${runId}" to finish.`, { runId }) : new StoreError(`Run "${runId}" is not in the store "${this.path}".`);
    if (end && row.status !== "running" && row.status !== "waiting") {
      return new RunFinishedError(`Run "${runId}" has already ended (${row.status}); it was not finished again.`, row.status, { runId });
    }
    return fenceError(`The SQLite store "${this.path}"`, runId, this.getRun(runId), token ?? row.token);
  }

  /** Throws the fence error when `token` is not run `runId`'s latest or the run has ended. */
  #fenced(runId: string, token: number): void {
    const key = this.#stmt.runKey.get(runId) as bigint | undefined;
    const row = key === undefined ? undefined : (this.#stmt.fence.get(key) as { token: number; status: RunStatus } | undefined);
    if (!row) throw new StoreError(`Run "${runId}" is not in the store "${this.path}".`);
    if (row.token !== token || (row.status !== "running" && row.status !== "waiting")) throw fenceError(`The SQLite store "${this.path}"`, runId, this.getRun(runId), token);
  }

  getRun(runId: string): StoredRun | undefined {
    this.#flush();
    const row = this.#do(`read run "${runId}"`, () => this.#stmt.getRun.get(runId) as RunRow | undefined);
    return row && toRun(row);
  }

  getJournal(runId: string): readonly JournalEntry[] {
    this.#flush();
    const rows = this.#do(`read the journal of run "${runId}"`, () => this.#stmt.journal.all(runId) as string[]);
    if (rows.length === 1) return JSON.parse(rows[0] as string) as JournalEntry[];
    const out: JournalEntry[] = [];
    for (const r of rows) for (const e of JSON.parse(r) as JournalEntry[]) out.push(e);
    return out;
  }

  listRuns(filter: RunFilter = {}): readonly StoredRun[] {
    this.#flush();
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status !== undefined) {
      where.push("status = ?");
      args.push(filter.status);
    }
    if (filter.workflow !== undefined) {
      // With a status, the index on both (stepwise_runs_workflow_status).
      where.push("workflow = ?");
      args.push(filter.workflow);
    }
    if (filter.parentRunId !== undefined) {
      where.push("parent_run_id = ?");
      args.push(filter.parentRunId);
    }
    if (filter.topLevel === true) where.push("parent_run_id IS NULL");
    if (filter.before !== undefined) {
      where.push("(created_at, run_id) < (?, ?)");
      args.push(filter.before.createdAt, filter.before.runId);
    }
    const sql = `SELECT ${RUN_COLUMNS} FROM stepwise_runs r ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, run_id DESC${filter.limit !== undefined ? " LIMIT ?" : ""}`;
    if (filter.limit !== undefined) args.push(clampLimit(filter.limit));
    return this.#do("list runs", () => (this.#db.prepare(sql).all(...args) as RunRow[]).map(toRun));
  }

  acquireLease(runId: string, owner: string, ttlMs: number, now: number, options: LeaseOptions = {}): Promise<LeaseResult> {
    return this.#enqueue(`take the lease on run "${runId}"`, (): LeaseResult => {
      if (options.token !== undefined) {
        if (this.#stmt.renew.run(now + ttlMs, runId, owner, options.token).changes > 0) return { acquired: true, token: options.token } as const;
      } else {
        const took = this.#stmt.lease.get(owner, owner, now + ttlMs, runId, owner, now) as { token: bigint; key: bigint; last: bigint | null } | undefined;
        if (took !== undefined) {
          // Whoever held the run before may have appended: the cursor is its last commit now.
          const base = took.key << 32n;
          this.#cursors.set(runId, { base, last: took.last === null ? 0 : Number(took.last - base) });
          return { acquired: true, token: Number(took.token) } as const;
        }
      }
      const row = this.#stmt.getRun.get(runId) as RunRow | undefined;
      return { acquired: false, holder: row ? toRun(row).lease : undefined } as const;
    });
  }

  releaseLease(runId: string, owner: string): Promise<void> {
    return this.#enqueue(`release the lease on run "${runId}"`, () => {
      this.#stmt.release.run(runId, owner);
      this.#cursors.delete(runId);
    });
  }

  deliver(runId: string, event: EventJSON): Promise<number> {
    return this.#enqueue(`deliver an event to run "${runId}"`, () => {
      const r = this.#stmt.deliver.run(JSON.stringify(event), Date.now(), runId);
      if (r.changes > 0) return Number(r.lastInsertRowid);
      const run = this.getRun(runId);
      if (!run) throw new RunNotFoundError(`The SQLite store "${this.path}" has no run "${runId}" to deliver an event to.`, { runId });
      throw new RunFinishedError(`Run "${runId}" of workflow "${run.workflow}" has already ended (${run.status}); the event was not delivered.`, run.status, { workflow: run.workflow, runId });
    });
  }

  readInbox(runId: string, limit?: number): readonly InboxItem[] {
    this.#flush();
    const rows = this.#do(`read the inbox of run "${runId}"`, () => (limit === undefined ? this.#stmt.inbox.all(runId) : this.#stmt.inboxUpTo.all(runId, clampLimit(limit))) as { id: number; event: string; at: number }[]);
    return rows.map((r) => ({ id: r.id, event: JSON.parse(r.event) as EventJSON, at: r.at }));
  }

  /** Commits what is pending, then closes the file. */
  close(): void {
    if (this.#db.open) {
      this.#flush();
      this.#db.close();
    }
    if (this.#copy !== undefined) rmSync(this.#copy, { recursive: true, force: true });
  }

  /** The folder of the private copy a read-only store reads from, when it needed one. */
  #copy: string | undefined;
}

/**
 * Opens `path` read-only. SQLite reads a WAL database through its `-shm` file, which it must create
 * when it is missing: in a folder this process cannot write to, and with no `-wal` file (so no
 * writer is using it and the file holds every commit), the store is read from a copy in a
 * private temporary folder instead.
 */
function openReadonly(Driver: typeof Database, path: string): { db: Database.Database; copy?: string } {
  const db = new Driver(path, { readonly: true, fileMustExist: true });
  try {
    db.prepare("SELECT 1 FROM sqlite_master LIMIT 1").get();
    return { db };
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    if (!(code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN")) || existsSync(`${path}-wal`)) return { db };
    db.close();
  }
  const copy = mkdtempSync(join(tmpdir(), "stepwise-read-"));
  try {
    const file = join(copy, "runs.db");
    copyFileSync(path, file);
    return { db: new Driver(file, { readonly: true, fileMustExist: true }), copy };
  } catch (err) {
    rmSync(copy, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Creates the store's folder (0700) and an empty database file (0600) when they do not exist, so
 * journals are private to the user running stepwise; SQLite gives the -wal and -shm files the
 * database file's mode. Existing folders and files keep theirs.
 */
function createPrivate(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, "", { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") throw err;
  }
}

/** A row limit as SQL takes it: a whole number from 0 to 2^31 - 1 (larger values mean "no limit" in effect). */
/** A `limit` as SQLite binds it. */
const clampLimit = (limit: number): number => rowLimit(limit, 2 ** 31 - 1);

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/**
 * Runs get a small integer key (`run_key`, stable: an INTEGER PRIMARY KEY survives VACUUM) so
 * that journal rows can be keyed by one integer. `lease_token` is the fencing token: it grows by one
 * each time the lease changes hands and is never reset.
 */
const RUNS_TABLE = `
      CREATE TABLE stepwise_runs (
        run_key INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, workflow TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL,
        result TEXT, error TEXT, parent_run_id TEXT, format INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, lease_owner TEXT, lease_expires INTEGER,
        lease_token INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX stepwise_runs_created ON stepwise_runs (created_at, run_id);`;

/**
 * The indexes listings read, each in the listing order (`created_at DESC, run_id DESC`, scanned
 * backwards), so that a page (`limit`, `before`) reads about `limit` rows and sorts nothing. Not
 * part of the schema version: a file made before one (or before it held `run_id`) gets it when
 * opened writable. Name, statement, and the columns that tell the current form.
 *
 * A page reads only its own rows when an index holds exactly the runs its filters select, keyed
 * by each filter given (equality) and then the listing order: a filter checked row by row instead
 * reads every row the index holds before a rare match (a page of the 5 failed runs of a workflow
 * read its ~1,000 other failed, or its other runs). So one index per combination of the filters
 * the server and the takeover poll page by: `workflow`, `status`, both or neither, and the
 * top-level runs (`topLevel`, partial: child runs take no room). `topLevel` with another filter
 * reads that filter's index and skips child runs row by row: nothing in the package asks for it,
 * and an index for each such pair would double what a status change rewrites. `before` needs none
 * of its own: it bounds the trailing (created_at, run_id) of whichever index the others pick.
 * What they cost: a run's insert writes 5 entries besides run_id's (the 4 above, and `top` or
 * `parent`); a status change rewrites the 2 keyed by status.
 *
 * - `stepwise_runs_created` (in the table's schema): every run.
 * - `stepwise_runs_status`: listing the live runs (a takeover poll every few seconds, a server
 *   start) reads those runs' rows, not every run the file has held.
 * - `stepwise_runs_workflow`: one workflow's runs.
 * - `stepwise_runs_workflow_status`: one workflow's runs of one status (a takeover poll per
 *   workflow, a server's `GET /runs?workflow=&status=`).
 * - `stepwise_runs_top`: top-level runs (`topLevel`); partial: child runs take no room in it.
 * - `stepwise_runs_parent`: a run's children (`parentRunId`); partial: top-level runs, most of
 *   them, take no room in it.
 */
const LATER_INDEXES: readonly (readonly [string, string, string])[] = [
  ["stepwise_runs_created", "CREATE INDEX IF NOT EXISTS stepwise_runs_created ON stepwise_runs (created_at, run_id);", "(created_at, run_id)"],
  ["stepwise_runs_status", "CREATE INDEX IF NOT EXISTS stepwise_runs_status ON stepwise_runs (status, created_at, run_id);", "(status, created_at, run_id)"],
  ["stepwise_runs_workflow", "CREATE INDEX IF NOT EXISTS stepwise_runs_workflow ON stepwise_runs (workflow, created_at, run_id);", "(workflow, created_at, run_id)"],
  ["stepwise_runs_workflow_status", "CREATE INDEX IF NOT EXISTS stepwise_runs_workflow_status ON stepwise_runs (workflow, status, created_at, run_id);", "(workflow, status, created_at, run_id)"],
  ["stepwise_runs_top", "CREATE INDEX IF NOT EXISTS stepwise_runs_top ON stepwise_runs (created_at, run_id) WHERE parent_run_id IS NULL;", "(created_at, run_id) WHERE parent_run_id IS NULL"],
  ["stepwise_runs_parent", "CREATE INDEX IF NOT EXISTS stepwise_runs_parent ON stepwise_runs (parent_run_id, created_at, run_id) WHERE parent_run_id IS NOT NULL;", "(parent_run_id, created_at, run_id)"],
];

/**
 * One row per commit: `id` is `run_key << 32 | commit number` (1, 2, …), so a run's journal is
 * one range of the table's own b-tree and a commit writes that b-tree only (no second index:
 * measured ~16 µs per small commit against ~25 µs with a (run_id, idx) key). `at` is the
 * commit's time (ms since the epoch); `entries` the commit's entries, one JSON array.
 */
const JOURNAL_TABLE = `
      CREATE TABLE stepwise_journal (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, entries TEXT NOT NULL);`;

/**
 * Schema 4: `stepwise_seqs` holds `run_key << 32 | seq` for every journaled event, so its primary
 * key makes a seq unique per run; `stepwise_inbox` holds delivered events until the holder claims
 * them (AUTOINCREMENT: an id is never handed out twice, even after its row is claimed).
 */
const V4_TABLES = `
      CREATE TABLE stepwise_seqs (id INTEGER PRIMARY KEY);
      CREATE TABLE stepwise_inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, run_key INTEGER NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX stepwise_inbox_run ON stepwise_inbox (run_key, id);`;

const COMMITS = 1n << 32n;
/** Commits one run can hold (the low 32 bits of `id`). */
const MAX_COMMIT = 2 ** 32 - 1;
/** The highest event seq the seq table can key (the low 32 bits). */
const MAX_SEQ = 2 ** 32 - 1;
/** Seq rows per insert statement (SQLite binds at most 32,766 parameters a statement). */
const SEQ_CHUNK = 64;

/** A write of a group made without savepoints was refused: the group is made again with them. */
class Refused extends Error {
  constructor(readonly refusal: unknown) {
    super("a write of the group was refused");
  }
}

/** A write waiting for its group's commit (see `SqliteStore`'s group commit). */
interface PendingWrite {
  what: string;
  fn: () => unknown;
  /** The error the caller gets when `fn` throws (default: the store's wrapped error). */
  fail: ((err: unknown) => Error) | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Where a run's next commit goes: `base` is `run_key << 32`, `last` the last commit number written. */
interface Cursor {
  base: bigint;
  last: number;
}

/** A run row, its updated_at the later of its own and its journal's last commit. */
const RUN_COLUMNS = `run_id, workflow, status, input, result, error, parent_run_id, format, created_at,
  max(updated_at, COALESCE((SELECT j.at FROM stepwise_journal j WHERE j.id >= r.run_key << 32 AND j.id < (r.run_key + 1) << 32 ORDER BY j.id DESC LIMIT 1), 0)) AS updated_at,
  lease_owner, lease_expires, lease_token`;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
