/**
 * A {@link Store} in PostgreSQL, on `pg` (an optional peer dependency):
 * `import { PostgresStore } from "stepwise-ai/postgres"`.
 * @packageDocumentation
 */
import type pg from "pg";
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
import { requireOptional } from "../optional.js";
import { json, toRun, type RunRow } from "./rows.js";

export { MissingDependencyError } from "../optional.js";

/** The table layout this version reads and writes (kept in `stepwise_meta`). */
export const POSTGRES_SCHEMA_VERSION = 1;

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /** The PostgreSQL schema holding the tables (created if missing; default `"public"`). */
  schema?: string;
}


/**
 * Runs and journals in PostgreSQL. Pass a `pg.Pool` (the store does not end it) or a
 * connection string or pool config (the store owns that pool and ends it on `close()`).
 * Every method is one statement, so appends are atomic without a held connection.
 * @example
 * const store = new PostgresStore("postgres://localhost/app", { schema: "stepwise" });
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #schema: string;
  #ready: Promise<void> | undefined;

  constructor(connection: pg.Pool | string | pg.PoolConfig, options: PostgresStoreOptions = {}) {
    const schema = options.schema ?? "public";
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new StoreError(`PostgresStore schema must be a plain identifier (letters, digits, _), got ${JSON.stringify(schema)}.`, "STORE_FAILED");
    }
    this.#schema = `"${schema}"`;
    // Loaded here, not at import, so a missing driver is an error saying how to install it.
    const { Pool } = requireOptional<typeof pg>("pg", "PostgresStore (stepwise-ai/postgres)");
    if (connection instanceof Pool) {
      this.#pool = connection;
      this.#ownsPool = false;
    } else {
      this.#pool = new Pool(typeof connection === "string" ? { connectionString: connection } : connection);
      this.#ownsPool = true;
    }
    // An idle client whose connection dies emits 'error' on the pool; without a listener it would crash the process.
    this.#pool.on("error", () => {});
  }

  #t(name: string): string {
    return `${this.#schema}.stepwise_${name}`;
  }

  #init(): Promise<void> {
    return (this.#ready ??= this.#doInit().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    }));
  }

  async #doInit(): Promise<void> {
    const client = await this.#connect("open the store");
    try {
      await client.query("BEGIN");
      // Serialises concurrent first uses of one schema.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`stepwise:${this.#schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
      const meta = await client.query<{ exists: boolean }>("SELECT to_regclass($1) IS NOT NULL AS exists", [this.#t("meta")]);
      if (meta.rows[0]?.exists) {
        const row = await client.query<{ value: string }>(`SELECT value FROM ${this.#t("meta")} WHERE key = 'schema'`);
        const found = Number(row.rows[0]?.value);
        if (!Number.isInteger(found)) throw new StoreError(`Schema ${this.#schema} is not a stepwise store: ${this.#t("meta")} has no schema version.`, "NOT_A_STEPWISE_STORE");
        if (found > POSTGRES_SCHEMA_VERSION) {
          throw new StoreVersionError(
            `The store in schema ${this.#schema} was written by a newer stepwise (schema ${found}; this version reads up to ${POSTGRES_SCHEMA_VERSION}). Upgrade stepwise to read it.`,
            found,
            POSTGRES_SCHEMA_VERSION,
          );
        }
      } else {
        await client.query(`
          CREATE TABLE ${this.#t("meta")} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
          INSERT INTO ${this.#t("meta")} (key, value) VALUES ('schema', '${POSTGRES_SCHEMA_VERSION}');
          CREATE TABLE ${this.#t("runs")} (
            run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input JSON NOT NULL,
            result JSON, error JSON, parent_run_id TEXT, format INTEGER NOT NULL,
            created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, lease_owner TEXT, lease_expires BIGINT
          );
          CREATE INDEX ON ${this.#t("runs")} (created_at DESC);
          CREATE TABLE ${this.#t("journal")} (
            run_id TEXT NOT NULL, idx INTEGER NOT NULL, entry JSON NOT NULL, PRIMARY KEY (run_id, idx)
          );
        `);
      }
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw wrap(err, "open the store");
    } finally {
      client.release();
    }
  }

  async #connect(what: string): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw wrap(err, what);
    }
  }

  async #q<R extends pg.QueryResultRow>(what: string, sql: string, args: unknown[]): Promise<pg.QueryResult<R>> {
    const done = this.#run<R>(what, sql, args);
    this.#inflight.add(done);
    try {
      return await done;
    } finally {
      this.#inflight.delete(done);
    }
  }

  async #run<R extends pg.QueryResultRow>(what: string, sql: string, args: unknown[]): Promise<pg.QueryResult<R>> {
    await this.#init();
    try {
      return await this.#pool.query<R>(sql, args);
    } catch (err) {
      throw wrap(err, what);
    }
  }

  readonly #inflight = new Set<Promise<unknown>>();

  async createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): Promise<void> {
    await this.#q(
      `create run "${run.runId}"`,
      `INSERT INTO ${this.#t("runs")} (run_id, workflow, status, input, parent_run_id, format, created_at, updated_at) VALUES ($1, $2, 'running', $3, $4, $5, $6, $6)`,
      [run.runId, run.workflow, JSON.stringify(run.input), run.parentRunId ?? null, run.format ?? JOURNAL_FORMAT, run.createdAt],
    );
  }

  async append(runId: string, entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // One statement, so one transaction: all entries are kept or none.
    const r = await this.#q(
      `append to the journal of run "${runId}"`,
      `WITH run AS (UPDATE ${this.#t("runs")} SET updated_at = $3 WHERE run_id = $1 RETURNING run_id),
            base AS (SELECT COALESCE(MAX(idx), 0) AS n FROM ${this.#t("journal")} WHERE run_id = $1)
       INSERT INTO ${this.#t("journal")} (run_id, idx, entry)
       SELECT run.run_id, base.n + e.o, e.v FROM run, base, json_array_elements($2::json) WITH ORDINALITY AS e(v, o)`,
      [runId, JSON.stringify(entries), Date.now()],
    );
    if (r.rowCount === 0) throw new StoreError(`Run "${runId}" is not in the store (schema ${this.#schema}).`);
  }

  async setStatus(runId: string, status: RunStatus, outcome: { result?: unknown; error?: ErrorJSON } = {}): Promise<void> {
    const r = await this.#q(
      `set the status of run "${runId}"`,
      `UPDATE ${this.#t("runs")} SET status = $2, result = $3, error = $4, updated_at = $5 WHERE run_id = $1`,
      [runId, status, json(outcome.result), json(outcome.error), Date.now()],
    );
    if (r.rowCount === 0) throw new StoreError(`Run "${runId}" is not in the store (schema ${this.#schema}).`);
  }

  async getRun(runId: string): Promise<StoredRun | undefined> {
    const r = await this.#q<RunRow>(`read run "${runId}"`, `SELECT ${RUN_COLUMNS} FROM ${this.#t("runs")} WHERE run_id = $1`, [runId]);
    const row = r.rows[0];
    return row && toRun(row);
  }

  async getJournal(runId: string): Promise<readonly JournalEntry[]> {
    // Read as text so every record comes back exactly as written.
    const r = await this.#q<{ entry: string }>(
      `read the journal of run "${runId}"`,
      `SELECT entry::text AS entry FROM ${this.#t("journal")} WHERE run_id = $1 ORDER BY idx`,
      [runId],
    );
    return r.rows.map((row) => JSON.parse(row.entry) as JournalEntry);
  }

  async listRuns(filter: RunFilter = {}): Promise<readonly StoredRun[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status !== undefined) {
      args.push(filter.status);
      where.push(`status = $${args.length}`);
    }
    if (filter.workflow !== undefined) {
      args.push(filter.workflow);
      where.push(`workflow = $${args.length}`);
    }
    const limit = filter.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(filter.limit))}` : "";
    const r = await this.#q<RunRow>("list runs", `SELECT ${RUN_COLUMNS} FROM ${this.#t("runs")} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, run_id DESC${limit}`, args);
    return r.rows.map(toRun);
  }

  async acquireLease(runId: string, owner: string, ttlMs: number, now: number): Promise<LeaseResult> {
    const r = await this.#q<{ lease_owner: string | null; lease_expires: string | null; took: boolean }>(
      `take the lease on run "${runId}"`,
      `WITH took AS (
         UPDATE ${this.#t("runs")} SET lease_owner = $2, lease_expires = $3 + $4::bigint
         WHERE run_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires < $3) RETURNING run_id)
       SELECT lease_owner, lease_expires, EXISTS (SELECT 1 FROM took) AS took FROM ${this.#t("runs")} WHERE run_id = $1`,
      [runId, owner, now, ttlMs],
    );
    const row = r.rows[0];
    if (row?.took) return { acquired: true };
    return { acquired: false, holder: row?.lease_owner ? { owner: row.lease_owner, expiresAt: Number(row.lease_expires) } : undefined };
  }

  async releaseLease(runId: string, owner: string): Promise<void> {
    await this.#q(`release the lease on run "${runId}"`, `UPDATE ${this.#t("runs")} SET lease_owner = NULL, lease_expires = NULL WHERE run_id = $1 AND lease_owner = $2`, [runId, owner]);
  }

  /** Waits for queries in flight, then ends the pool when the store made it; a pool passed in is left to its owner. */
  async close(): Promise<void> {
    // Let writes already queued (a run's last records, its lease release) reach the database first.
    await new Promise((r) => setImmediate(r));
    await Promise.allSettled([...this.#inflight]);
    if (this.#ownsPool) await this.#pool.end();
  }
}

// JSON columns read as text, so a stored JSON null stays distinct from SQL NULL (no value).
const RUN_COLUMNS =
  "run_id, workflow, status, input::text AS input, result::text AS result, error::text AS error, parent_run_id, format, created_at, updated_at, lease_owner, lease_expires";


function wrap(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new StoreError(`PostgreSQL store failed to ${what}: ${msg || (err as { code?: string }).code || "connection lost"}`, "STORE_FAILED", { cause: err });
}

