/**
 * A {@link Store} in PostgreSQL, on `pg` (an optional peer dependency):
 * `import { PostgresStore } from "stepwise-ai/postgres"`.
 * @packageDocumentation
 */
import type pg from "pg";
import {
  JOURNAL_FORMAT,
  RunFinishedError,
  RunNotFoundError,
  StoreError,
  StoreVersionError,
  WorkflowError,
  duplicateSeqError,
  fenceError,
  isLive,
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
 * The table layout this version reads and writes (kept in `stepwise_meta`). 1: one journal row per
 * entry (`stepwise_journal`). 2 adds the lease's fencing token, the journal's `seq` (unique per run)
 * and `at` columns, and the inbox. 3: one row per commit (`stepwise_commits`: the commit's entries
 * as one JSON array, its time `at`) and one row per run of consecutive event seqs in a commit
 * (`stepwise_seqs`, normally one per commit; a commit overlapping one is refused, so a seq is unique
 * per run). A schema at 1 or 2 is migrated when first used: each old journal
 * row becomes a commit of one entry, so old runs read and resume unchanged.
 */
export const POSTGRES_SCHEMA_VERSION = 3;

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /** The PostgreSQL schema holding the tables (created if missing; default `"public"`). */
  schema?: string;
  /**
   * PostgreSQL's `synchronous_commit` for the store's connections (a startup parameter of each
   * connection its pool opens from then on, a pool passed in included). Default: the server's setting
   * (normally `"on"`: a commit waits for its WAL to reach the disk, one fsync per journal commit).
   * `"off"`: a commit returns before that flush; a killed stepwise process loses nothing (its
   * commits are in the server), a crash of the PostgreSQL server or its machine may lose the
   * last few hundred ms of commits (never a partial one), as SQLite's `synchronous = NORMAL` does
   * on a power cut. Runs in `"sync"` durability are then bound by round trips, not by fsync.
   */
  synchronousCommit?: "on" | "off";
}

/** The channel `deliver` notifies on (payload: JSON `[schema, runId]`). */
const CHANNEL = "stepwise_inbox";

/** The connection a store LISTENs on, and how to give it back to the pool (once). */
interface Listening {
  client: pg.PoolClient;
  release: (err?: Error | true) => void;
  released: () => boolean;
}

/** How often subscribers are woken on a pool of one connection (as a holder polls a store that cannot wake it). */
const POOL_OF_ONE_WAKE_MS = 250;

/** Pools given an 'error' listener by a store (one each, however many stores share the pool). */
const QUIETED = new WeakSet<pg.Pool>();


/**
 * Runs and journals in PostgreSQL. Pass a `pg.Pool` (the store does not end it) or a
 * connection string or pool config (the store owns that pool and ends it on `close()`).
 * Every write is one statement (one round trip, one transaction), except those that claim inbox events.
 * Statements are named prepared statements, prepared once per connection (behind PgBouncer in
 * transaction mode that needs its `max_prepared_statements`, 1.21 and later).
 * @example
 * const store = new PostgresStore("postgres://localhost/app", { schema: "stepwise" });
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #schema: string;
  readonly #schemaName: string;
  readonly #cols: string;
  #ready: Promise<void> | undefined;

  constructor(connection: pg.Pool | string | pg.PoolConfig, options: PostgresStoreOptions = {}) {
    const schema = options.schema ?? "public";
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new StoreError(`PostgresStore schema must be a plain identifier (letters, digits, _), got ${JSON.stringify(schema)}.`, "STORE_FAILED");
    }
    if (options.synchronousCommit !== undefined && options.synchronousCommit !== "on" && options.synchronousCommit !== "off") {
      throw new StoreError(`PostgresStore synchronousCommit must be "on" or "off", got ${JSON.stringify(options.synchronousCommit)}.`, "STORE_FAILED");
    }
    this.#schema = `"${schema}"`;
    this.#schemaName = schema;
    this.#cols = RUN_COLUMNS(this.#t("commits"));
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
    // One listener per pool, however many stores share it.
    if (!QUIETED.has(this.#pool)) {
      QUIETED.add(this.#pool);
      this.#pool.on("error", () => {});
    }
    const sync = options.synchronousCommit;
    if (sync !== undefined) {
      // A startup parameter of every connection the pool opens from now on (no query of its own,
      // so none is queued behind another on a fresh connection). It replaces one an earlier store
      // set on a shared pool: repeated, it would grow the startup packet until the server refuses it.
      const config = (this.#pool as unknown as { options: { options?: string } }).options;
      const others = (config.options ?? "").replace(/(^|\s)-c synchronous_commit=(on|off)(?=\s|$)/g, "").trim();
      config.options = [others, `-c synchronous_commit=${sync}`].filter((o) => o !== "").join(" ");
    }
  }

  #t(name: string): string {
    return `${this.#schema}.stepwise_${name}`;
  }

  /**
   * The text of statement `key`, built once per store: the same string each call, so naming it
   * ({@link statementName}) is a lookup, not a hash of a fresh kilobyte of SQL.
   */
  #sql(key: string, build: () => string): string {
    let text = this.#texts.get(key);
    if (text === undefined) this.#texts.set(key, (text = build()));
    return text;
  }
  readonly #texts = new Map<string, string>();

  #init(): Promise<void> {
    return (this.#ready ??= this.#doInit().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    }));
  }

  async #doInit(): Promise<void> {
    const { client, release } = await this.#connect("open the store");
    try {
      await client.query("BEGIN");
      // Serialises concurrent first uses of one schema.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`stepwise:${this.#schema}`]);
      // Made only when missing: CREATE SCHEMA, even IF NOT EXISTS, needs the CREATE privilege on
      // the database, which a role granted its schema only (or owning it) does not have.
      const schema = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [this.#schemaName]);
      if (schema.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
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
        if (found < 3) {
          const lz4 = await hasLz4(client);
          if (found < 2) await client.query(this.#migration1to2());
          await client.query(this.#migration2to3(lz4));
        }
      } else {
        await client.query(`
          CREATE TABLE ${this.#t("meta")} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
          INSERT INTO ${this.#t("meta")} (key, value) VALUES ('schema', '${POSTGRES_SCHEMA_VERSION}');
          CREATE TABLE ${this.#t("runs")} (
            run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input JSON NOT NULL,
            result JSON, error JSON, parent_run_id TEXT, format INTEGER NOT NULL,
            created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, lease_owner TEXT, lease_expires BIGINT,
            lease_token BIGINT NOT NULL DEFAULT 0
          );
          ${this.#laterIndexes().map(([, sql]) => sql).join("\n")}
          ${this.#inboxTable()}
          ${this.#v3Tables(await hasLz4(client))}
        `);
      }
      for (const [name, sql, columns] of this.#laterIndexes()) await this.#addIndex(client, name, sql, columns);
      await this.#dropOldIndex(client);
      await this.#addStatistics(client);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw wrap(err, "open the store");
    } finally {
      release();
    }
  }

  /**
   * The indexes listings read, each in the listing order (`created_at DESC, run_id DESC`), so that
   * a page (`limit`, `before`) reads about `limit` rows and sorts nothing. Not part of the schema
   * version: a store made before one (or before it held `run_id`) gets it when first used.
   * Name, statement, and the columns that tell the current form (in `pg_get_indexdef`).
   *
   * A page reads only its own rows when an index holds exactly the runs its filters select, keyed
   * by each filter given (equality) and then the listing order: a filter checked row by row instead
   * reads every row the index holds before a rare match (a page of the 5 failed runs of a workflow
   * read its ~1,000 other failed, or its other runs). So one index per combination of the filters
   * the server and the takeover poll page by: `workflow`, `status`, both or neither, and the
   * top-level runs (`topLevel`, partial: child runs take no room). `topLevel` with another filter
   * reads that filter's index and skips child runs row by row: nothing in the package asks for it.
   * `before` needs none of its own: it bounds the trailing (created_at, run_id) of whichever index
   * the others pick. `parentRunId` has one (a run's children, checked row by row for the rest: a
   * run has few). What they cost: a run's insert writes 5 index entries besides the primary
   * key's (the 4 above, and `top` or `parent`); a status change makes a new row version whose
   * entries are new in every index (no HOT update: status is indexed), as it already was with the
   * status index; no other update (lease, updated_at) touches an indexed column.
   *
   * - `stepwise_runs_page`: every run.
   * - `stepwise_runs_status`: listing the live runs (a takeover poll every few seconds, a server
   *   start) reads those runs' rows, not every run the store has held.
   * - `stepwise_runs_workflow`: one workflow's runs.
   * - `stepwise_runs_workflow_status`: one workflow's runs of one status (a takeover poll per
   *   workflow, a server's `GET /runs?workflow=&status=`).
   * - `stepwise_runs_top`: top-level runs (`topLevel`); partial: child runs take no room in it.
   * - `stepwise_runs_parent`: a run's children (`parentRunId`); partial: top-level runs, most of
   *   them, take no room in it.
   */
  #laterIndexes(): readonly (readonly [string, string, string])[] {
    const runs = this.#t("runs");
    const order = "created_at DESC, run_id DESC";
    const top = "WHERE parent_run_id IS NULL";
    return [
      ["stepwise_runs_page", `CREATE INDEX IF NOT EXISTS stepwise_runs_page ON ${runs} (${order});`, `(${order})`],
      ["stepwise_runs_status", `CREATE INDEX IF NOT EXISTS stepwise_runs_status ON ${runs} (status, ${order});`, `(status, ${order})`],
      ["stepwise_runs_workflow", `CREATE INDEX IF NOT EXISTS stepwise_runs_workflow ON ${runs} (workflow, ${order});`, `(workflow, ${order})`],
      ["stepwise_runs_workflow_status", `CREATE INDEX IF NOT EXISTS stepwise_runs_workflow_status ON ${runs} (workflow, status, ${order});`, `(workflow, status, ${order})`],
      ["stepwise_runs_top", `CREATE INDEX IF NOT EXISTS stepwise_runs_top ON ${runs} (${order}) ${top};`, `(${order}) WHERE (parent_run_id IS NULL)`],
      ["stepwise_runs_parent", `CREATE INDEX IF NOT EXISTS stepwise_runs_parent ON ${runs} (parent_run_id, ${order}) WHERE parent_run_id IS NOT NULL;`, `(parent_run_id, ${order})`],
    ];
  }

  /**
   * Drops the unnamed `(created_at DESC)` index of the first schema (`CREATE INDEX ON runs
   * (created_at DESC)`, named `stepwise_runs_created_at_idx` by PostgreSQL, or with a number when
   * that name was taken), which `stepwise_runs_page` replaced: stores made before kept it, so each
   * run's insert wrote it and nothing read it. Only that index, exactly (its name and its whole
   * definition), and only once the page index is there; when it can ({@link #optional}).
   */
  async #dropOldIndex(client: pg.PoolClient): Promise<void> {
    const found = await client.query<{ name: string }>(
      `SELECT i.indexname AS name FROM pg_indexes i
        WHERE i.schemaname = $1 AND i.tablename = 'stepwise_runs' AND i.indexname ~ '^stepwise_runs_created_at_idx[0-9]*$'
          AND i.indexdef IN (
            'CREATE INDEX ' || quote_ident(i.indexname) || ' ON ' || quote_ident($1) || '.stepwise_runs USING btree (created_at DESC)',
            'CREATE INDEX ' || quote_ident(i.indexname) || ' ON stepwise_runs USING btree (created_at DESC)')
          AND to_regclass($2) IS NOT NULL`,
      [this.#schemaName, `${this.#schema}.stepwise_runs_page`],
    );
    for (const { name } of found.rows) await this.#optional(client, `DROP INDEX ${this.#schema}."${name}"`);
  }

  /**
   * Statistics of `workflow`, `status` and `parent_run_id` together (their most common
   * combinations), so that the planner knows a rare combination is rare. Without them it takes
   * the filters as independent (a workflow of half the runs, a status of half of them: a quarter
   * of the runs) and may read a page through an index of fewer filters, checking the others row
   * by row (the run index, ~2,000 rows for a page of 2), for about the cost it puts on the index
   * of all of them. Filled by ANALYZE (autovacuum's); PostgreSQL 12 and later (MCV statistics).
   * Left out, like {@link #addIndex}, for a role that may not make them.
   */
  async #addStatistics(client: pg.PoolClient): Promise<void> {
    const r = await client.query<{ ok: boolean }>(
      "SELECT current_setting('server_version_num')::int >= 120000 AND NOT EXISTS (SELECT 1 FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE n.nspname = $1 AND s.stxname = 'stepwise_runs_filters') AS ok",
      [this.#schemaName],
    );
    if (r.rows[0]?.ok) await this.#optional(client, `CREATE STATISTICS IF NOT EXISTS ${this.#schema}.stepwise_runs_filters (mcv) ON workflow, status, parent_run_id FROM ${this.#t("runs")}`);
  }

  /**
   * Runs `sql`, which saves reads and which nothing depends on (an index, statistics): a role that
   * may not run it (it does not own the table), or a table other transactions keep locked for more
   * than a second (the build waits for them, and writers of runs would queue behind it), is left
   * without it until a later first use.
   */
  async #optional(client: pg.PoolClient, sql: string): Promise<void> {
    await client.query("SAVEPOINT optional");
    try {
      await client.query("SET LOCAL lock_timeout = 1000");
      await client.query(sql);
      await client.query("RELEASE SAVEPOINT optional");
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "42501" && code !== "55P03") throw err;
      await client.query("ROLLBACK TO SAVEPOINT optional");
    }
  }

  /**
   * Adds index `name` (of {@link #laterIndexes}) to a store made without it, when it can
   * ({@link #optional}).
   */
  async #addIndex(client: pg.PoolClient, name: string, sql: string, columns: string): Promise<void> {
    const has = await client.query<{ def: string | null }>("SELECT pg_get_indexdef(to_regclass($1)) AS def", [`${this.#schema}.${name}`]);
    const def = has.rows[0]?.def ?? null;
    if (def !== null && def.includes(columns)) return;
    // One made before it held the whole listing order is made again.
    await this.#optional(client, `${def !== null ? `DROP INDEX ${this.#schema}.${name}; ` : ""}${sql}`);
  }

  /** The inbox: in new schemas and in the migration from 1. */
  #inboxTable(): string {
    return `
      CREATE TABLE ${this.#t("inbox")} (id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, event JSON NOT NULL, at BIGINT NOT NULL);
      CREATE INDEX ON ${this.#t("inbox")} (run_id, id);`;
  }

  /**
   * Schema 3's journal. `stepwise_commits`: one row per commit, `idx` its number in the run (1, 2,
   * …), `at` its time (ms since the epoch), `entries` its entries as one JSON array (text: written
   * and read back verbatim, never parsed by the server). `stepwise_seqs`: the event seqs each
   * commit journaled, as ranges `lo..hi` of consecutive seqs (a commit's events are normally
   * numbered consecutively: one row per commit, not one per event). Ranges never overlap.
   * `lz4`: large commits (batched durability) are compressed with lz4 instead of the default pglz,
   * where the server has it (PostgreSQL 14 and later, built with lz4): measured 140 → 50 ms of
   * server CPU per 60,000 batched events, about as many WAL bytes. Tables made before keep theirs.
   */
  #v3Tables(lz4: boolean): string {
    return `
      CREATE TABLE ${this.#t("commits")} (run_id TEXT NOT NULL, idx INTEGER NOT NULL, at BIGINT NOT NULL, entries TEXT${lz4 ? " COMPRESSION lz4" : ""} NOT NULL, PRIMARY KEY (run_id, idx));
      CREATE TABLE ${this.#t("seqs")} (run_id TEXT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL, PRIMARY KEY (run_id, lo));`;
  }

  /** Each journal row of schema 2 becomes a commit of one entry, in order; its seq moves to the seq table. */
  #migration2to3(lz4: boolean): string {
    return `
      ${this.#v3Tables(lz4)}
      INSERT INTO ${this.#t("commits")} (run_id, idx, at, entries) SELECT run_id, idx, at, '[' || entry::text || ']' FROM ${this.#t("journal")};
      INSERT INTO ${this.#t("seqs")} (run_id, lo, hi) SELECT run_id, seq, seq FROM ${this.#t("journal")} WHERE seq IS NOT NULL;
      DROP TABLE ${this.#t("journal")};
      UPDATE ${this.#t("meta")} SET value = '3' WHERE key = 'schema';`;
  }

  /** A seq journaled twice by schema 1 (two writers at once) keeps its first row's. */
  #migration1to2(): string {
    return `
      ALTER TABLE ${this.#t("runs")} ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE ${this.#t("journal")} ADD COLUMN seq BIGINT, ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
      UPDATE ${this.#t("journal")} j SET seq = d.s FROM (
        SELECT run_id, idx, s, row_number() OVER (PARTITION BY run_id, s ORDER BY idx) AS n
        FROM (SELECT run_id, idx, substring(entry::text from '^\\{"kind":"event","seq":([0-9]{1,15})[,}]')::bigint AS s FROM ${this.#t("journal")}) x
        WHERE s IS NOT NULL) d
      WHERE j.run_id = d.run_id AND j.idx = d.idx AND d.n = 1;
      CREATE UNIQUE INDEX stepwise_journal_seq ON ${this.#t("journal")} (run_id, seq) WHERE seq IS NOT NULL;
      ${this.#inboxTable()}
      UPDATE ${this.#t("meta")} SET value = '2' WHERE key = 'schema';`;
  }

  /**
   * A connection of the pool for a transaction, and `release` to give it back. While it is checked
   * out the pool does not listen for its 'error' (its backend terminated, the network cut): that
   * error is emitted even after it failed the query in flight, and with no listener it would be
   * thrown out of the socket handler, ending the process. It is listened for here until `release`,
   * which drops a connection that failed so.
   */
  async #connect(what: string): Promise<{ client: pg.PoolClient; release: (err?: unknown) => void }> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw wrap(err, what);
    }
    let failed: Error | undefined;
    const onError = (err: Error) => (failed ??= err);
    client.on("error", onError);
    return {
      client,
      release: (err?: unknown) => {
        client.removeListener("error", onError);
        const broken = failed ?? (err instanceof Error ? err : undefined);
        client.release(broken);
      },
    };
  }

  async #q<R extends pg.QueryResultRow>(what: string, sql: string, args: unknown[], runId?: string): Promise<pg.QueryResult<R>> {
    const done = this.#run<R>(what, sql, args, runId);
    this.#inflight.add(done);
    try {
      return await done;
    } finally {
      this.#inflight.delete(done);
    }
  }

  async #run<R extends pg.QueryResultRow>(what: string, sql: string, args: unknown[], runId?: string): Promise<pg.QueryResult<R>> {
    await this.#init();
    try {
      return await this.#pool.query<R>({ name: statementName(sql), text: sql, values: args });
    } catch (err) {
      throw runId === undefined ? wrap(err, what) : this.#wrapWrite(err, what, runId);
    }
  }

  readonly #inflight = new Set<Promise<unknown>>();

  async createRun(run: Omit<StoredRun, "updatedAt" | "status" | "lease">): Promise<void> {
    await this.#create(run, undefined);
  }

  /** One `INSERT` of the run row with its lease columns set: token 1, the run's first. */
  async createRunHeld(run: Omit<StoredRun, "updatedAt" | "status" | "lease">, lease: NewRunLease): Promise<number> {
    await this.#create(run, lease);
    return 1;
  }

  /** Insert run `run`'s row, holding `lease` when given. */
  async #create(run: Omit<StoredRun, "updatedAt" | "status" | "lease">, lease: NewRunLease | undefined): Promise<void> {
    for (const [what, text] of [["run id", run.runId], ["workflow name", run.workflow], ["parent run id", run.parentRunId ?? ""], ["lease owner", lease?.owner ?? ""]] as const) {
      if (hasNul(text)) throw new StoreError(`Could not create run ${JSON.stringify(run.runId)}: its ${what} ${JSON.stringify(text)} holds the character U+0000, which PostgreSQL text cannot store. Nothing was written.`, "STORE_FAILED", { runId: run.runId });
    }
    const row = [run.runId, run.workflow, JSON.stringify(run.input), run.parentRunId ?? null, run.format ?? JOURNAL_FORMAT, Math.floor(run.createdAt)];
    const columns = "run_id, workflow, status, input, parent_run_id, format, created_at, updated_at";
    await this.#q(
      `create run "${run.runId}"`,
      lease === undefined
        ? this.#sql("createRun", () => `INSERT INTO ${this.#t("runs")} (${columns}) VALUES ($1, $2, 'running', $3, $4, $5, $6, $6)`)
        : this.#sql("createRunHeld", () => `INSERT INTO ${this.#t("runs")} (${columns}, lease_owner, lease_expires, lease_token) VALUES ($1, $2, 'running', $3, $4, $5, $6, $6, $7, $8, 1)`),
      lease === undefined ? row : [...row, lease.owner, Math.ceil(lease.now + lease.ttlMs)],
    );
  }

  /**
   * One statement (so one transaction, one round trip) when nothing is claimed from the inbox: the
   * commit's entries as one row, plus one seq row per event; all are kept or none. The run row is
   * not written (its `updatedAt` is read as the later of its own and its last commit's `at`); a
   * fenced append takes a share lock on it, so it cannot interleave with a lease changing hands.
   */
  async append(runId: string, entries: readonly JournalEntry[], options: AppendOptions = {}): Promise<void> {
    if (entries.length === 0 && !options.claim?.length && options.token === undefined) return;
    if (hasNul(runId)) throw new StoreError(`Run ${JSON.stringify(runId)} is not in the store (schema ${this.#schema}).`, "STORE_FAILED", { runId });
    if (options.claim?.length) return this.#inTransaction(runId, entries, options, undefined, `append to the journal of run "${runId}"`);
    const fenced = options.token !== undefined;
    if (entries.length === 0) {
      // A fenced empty append checks the fence only.
      const run = await this.getRun(runId);
      if (!run || run.lease?.token !== options.token || !isLive(run.status)) throw this.#fenceFailure(runId, run, options.token ?? 0);
      return;
    }
    const what = `append to the journal of run "${runId}"`;
    const ranges = rangesOf(entries, runId);
    const r = await this.#q<{ n: string; ok: string }>(
      what,
      this.#sql(
        fenced ? "appendFenced" : "append",
        () => `WITH run AS (SELECT run_id FROM ${this.#t("runs")} WHERE run_id = $1${fenced ? " AND lease_token = $5 AND status IN ('running', 'waiting') FOR SHARE" : ""}),
       ${this.#insertCommit("run")}
       SELECT (SELECT count(*) FROM ins) AS n, (SELECT count(*) FROM run) AS ok`,
      ),
      fenced ? [runId, JSON.stringify(entries), Date.now(), ranges, options.token] : [runId, JSON.stringify(entries), Date.now(), ranges],
      runId,
    );
    if (Number(r.rows[0]?.n ?? 0) === 0) {
      if (Number(r.rows[0]?.ok ?? 0) === 1) throw await this.#duplicate(runId, ranges);
      const run = await this.getRun(runId);
      if (!run || !fenced) throw new StoreError(`Run "${runId}" is not in the store (schema ${this.#schema}).`);
      throw this.#fenceFailure(runId, run, options.token ?? 0);
    }
  }

  /**
   * The CTEs `ins` (the commit's row, after the run's last, for the run named by CTE `from`) and
   * `sq` (its seq ranges), from `$1` run id, `$2` the entries' JSON array, `$3` the time, `$4` the
   * events' seqs as ranges (`[[lo, hi], …]`, see {@link rangesOf}). Nothing is inserted when a
   * range overlaps one the run holds: ranges never overlap, so only the one starting last at or
   * before a new range's end can, an index lookup. Race-free: two commits to one run at once take
   * the same `idx`, and the second fails on the primary key (`JOURNAL_CONFLICT`) or sees the first.
   */
  #insertCommit(from: string): string {
    const ranges = "generate_series(1, array_length($4::bigint[], 1)) AS g(i)";
    return `ins AS (INSERT INTO ${this.#t("commits")} (run_id, idx, at, entries)
         SELECT ${from}.run_id, COALESCE((SELECT MAX(idx) FROM ${this.#t("commits")} WHERE run_id = $1), 0) + 1, $3, $2 FROM ${from}
         WHERE NOT EXISTS (SELECT 1 FROM ${ranges}
           WHERE (SELECT s.hi FROM ${this.#t("seqs")} s WHERE s.run_id = $1 AND s.lo <= ($4::bigint[])[g.i][2] ORDER BY s.lo DESC LIMIT 1) >= ($4::bigint[])[g.i][1])
         RETURNING run_id),
       sq AS (INSERT INTO ${this.#t("seqs")} (run_id, lo, hi) SELECT ins.run_id, ($4::bigint[])[g.i][1], ($4::bigint[])[g.i][2] FROM ins, ${ranges})`;
  }

  /**
   * The error for a commit refused because run `runId` already holds one of its seqs (named).
   * Inside a transaction its seqs are read on the transaction's `client`: a second connection
   * from the pool may never come (a pool of one, or all held by such transactions).
   */
  async #duplicate(runId: string, ranges: readonly (readonly [number, number])[], client?: pg.PoolClient): Promise<Error> {
    const sql = `SELECT lo, hi FROM ${this.#t("seqs")} WHERE run_id = $1`;
    const held = client ? await client.query<{ lo: string; hi: string }>(sql, [runId]) : await this.#q<{ lo: string; hi: string }>(`read the seqs of run "${runId}"`, sql, [runId]);
    let seq: number | string = "?";
    for (const [lo, hi] of ranges) {
      for (const h of held.rows) {
        const from = Math.max(lo, Number(h.lo));
        if (from <= Math.min(hi, Number(h.hi)) && (seq === "?" || from < (seq as number))) seq = from;
      }
    }
    return duplicateSeqError(`The PostgreSQL store (schema ${this.#schema})`, runId, seq);
  }

  async setStatus(runId: string, status: RunStatus, outcome: { result?: unknown; error?: ErrorJSON } = {}, options: WriteOptions = {}): Promise<void> {
    if (hasNul(runId)) throw new StoreError(`Run ${JSON.stringify(runId)} is not in the store (schema ${this.#schema}).`, "STORE_FAILED", { runId });
    const fenced = options.token !== undefined;
    const r = await this.#q(
      `set the status of run "${runId}"`,
      this.#sql(
        fenced ? "setStatusFenced" : "setStatus",
        () => `UPDATE ${this.#t("runs")} SET status = $2, result = $3, error = $4, updated_at = $5 WHERE run_id = $1${fenced ? " AND lease_token = $6 AND status IN ('running', 'waiting')" : ""}`,
      ),
      fenced ? [runId, status, json(outcome.result), json(outcome.error), Date.now(), options.token] : [runId, status, json(outcome.result), json(outcome.error), Date.now()],
    );
    if (r.rowCount === 0) {
      const run = fenced ? await this.getRun(runId) : undefined;
      if (!run) throw new StoreError(`Run "${runId}" is not in the store (schema ${this.#schema}).`);
      throw this.#fenceFailure(runId, run, options.token ?? 0);
    }
  }

  /**
   * One statement when nothing is claimed from the inbox: the run row locked (`FOR UPDATE`, so a
   * concurrent deliver waits, then sees the run ended), its last commit, its status and outcome,
   * its lease released; or nothing, when the run is missing, ended, or fenced off.
   */
  async finish(runId: string, entries: readonly JournalEntry[], end: RunEnd, options: AppendOptions = {}): Promise<void> {
    const what = `finish run "${runId}"`;
    if (hasNul(runId)) throw new RunNotFoundError(`The store (schema ${this.#schema}) has no run ${JSON.stringify(runId)} to finish.`, { runId });
    if (options.claim?.length) return this.#inTransaction(runId, entries, options, end, what);
    const fenced = options.token !== undefined;
    const ranges = rangesOf(entries, runId);
    const args: unknown[] = [runId, JSON.stringify(entries), Date.now(), ranges, end.status, json(end.result), json(end.error)];
    if (fenced) args.push(options.token);
    const r = await this.#q<{ found: string; ok: string; ended: string }>(
      what,
      this.#sql(
        entries.length > 0 ? (fenced ? "finishFenced" : "finish") : fenced ? "finishEmptyFenced" : "finishEmpty",
        () => `WITH run AS (SELECT run_id, status, lease_token FROM ${this.#t("runs")} WHERE run_id = $1 FOR UPDATE),
       ok AS (SELECT run_id FROM run WHERE status IN ('running', 'waiting')${fenced ? " AND lease_token = $8" : ""}),
       ${entries.length > 0 ? `${this.#insertCommit("ok")},` : ""}
       upd AS (UPDATE ${this.#t("runs")} r SET status = $5, result = $6, error = $7, updated_at = $3, lease_owner = NULL, lease_expires = NULL
         FROM ok WHERE r.run_id = ok.run_id${entries.length > 0 ? " AND EXISTS (SELECT 1 FROM ins)" : ""} RETURNING 1)
       SELECT (SELECT count(*) FROM run) AS found, (SELECT count(*) FROM ok) AS ok, (SELECT count(*) FROM upd) AS ended${entries.length > 0 ? "" : ", $2::text, $4::bigint[]"}`,
      ),
      args,
      runId,
    );
    const row = r.rows[0];
    if (Number(row?.ended ?? 0) === 1) return;
    if (Number(row?.ok ?? 0) === 1) throw await this.#duplicate(runId, ranges);
    const run = await this.getRun(runId);
    if (!run || Number(row?.found ?? 0) === 0) throw new RunNotFoundError(`The store (schema ${this.#schema}) has no run "${runId}" to finish.`, { runId });
    if (!isLive(run.status)) throw new RunFinishedError(`Run "${runId}" has already ended (${run.status}); it was not finished again.`, run.status, { runId });
    throw this.#fenceFailure(runId, run, options.token ?? 0);
  }

  /** Fence check, entries, inbox claims and the end of the run, in one transaction on one connection. */
  async #inTransaction(runId: string, entries: readonly JournalEntry[], options: AppendOptions, end: RunEnd | undefined, what: string): Promise<void> {
    await this.#init();
    const work = (async () => {
      const { client, release } = await this.#connect(what);
      let broken: unknown;
      try {
        await client.query("BEGIN");
        // FOR UPDATE when ending: a concurrent deliver (FOR SHARE) waits, then sees the run ended.
        const row = await client.query<{ lease_token: string; status: RunStatus }>(
          `SELECT lease_token, status FROM ${this.#t("runs")} WHERE run_id = $1 ${end ? "FOR UPDATE" : "FOR SHARE"}`,
          [runId],
        );
        const found = row.rows[0];
        if (!found) throw end ? new RunNotFoundError(`The store (schema ${this.#schema}) has no run "${runId}" to finish.`, { runId }) : new StoreError(`Run "${runId}" is not in the store (schema ${this.#schema}).`);
        if (end && !isLive(found.status)) throw new RunFinishedError(`Run "${runId}" has already ended (${found.status}); it was not finished again.`, found.status, { runId });
        if (options.token !== undefined && (Number(found.lease_token) !== options.token || !isLive(found.status))) {
          throw this.#fenceFailure(runId, await this.#getRunOn(client, runId), options.token);
        }
        if (entries.length > 0) {
          const ranges = rangesOf(entries, runId);
          const ins = await client.query<{ n: string }>(`WITH run AS (SELECT $1::text AS run_id), ${this.#insertCommit("run")} SELECT count(*) AS n FROM ins`, [
            runId,
            JSON.stringify(entries),
            Date.now(),
            ranges,
          ]);
          if (Number(ins.rows[0]?.n ?? 0) === 0) throw await this.#duplicate(runId, ranges, client);
        }
        const claim = [...new Set(options.claim ?? [])];
        if (claim.length > 0) {
          const d = await client.query(`DELETE FROM ${this.#t("inbox")} WHERE run_id = $1 AND id = ANY($2::bigint[])`, [runId, claim]);
          if (d.rowCount !== claim.length) {
            throw new StoreError(`Run "${runId}": inbox event(s) ${claim.join(", ")} are no longer all in its inbox (another holder claimed them); nothing was written.`, "INBOX_CLAIMED", { runId });
          }
        }
        if (end) {
          await client.query(
            `UPDATE ${this.#t("runs")} SET status = $2, result = $3, error = $4, updated_at = $5, lease_owner = NULL, lease_expires = NULL WHERE run_id = $1`,
            [runId, end.status, json(end.result), json(end.error), Date.now()],
          );
        }
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch((e: unknown) => (broken = e));
        throw this.#wrapWrite(err, what, runId);
      } finally {
        // A connection that could not roll back is broken: the pool drops it.
        release(broken);
      }
    })();
    this.#inflight.add(work);
    try {
      await work;
    } finally {
      this.#inflight.delete(work);
    }
  }

  async #getRunOn(client: pg.PoolClient, runId: string): Promise<StoredRun | undefined> {
    const r = await client.query<RunRow>(`SELECT ${this.#cols} FROM ${this.#t("runs")} r WHERE run_id = $1`, [runId]);
    return r.rows[0] && toRun(r.rows[0]);
  }

  #fenceFailure(runId: string, run: StoredRun | undefined, token: number): WorkflowError {
    return fenceError(`The PostgreSQL store (schema ${this.#schema})`, runId, run, token);
  }

  /** A unique violation names which key: the commit index (two writers) or a repeated event seq. */
  #wrapWrite(err: unknown, what: string, runId: string): Error {
    if (err instanceof WorkflowError) return err;
    const e = err as { code?: string; constraint?: string; detail?: string };
    if (e.code === "23505" && e.constraint === "stepwise_seqs_pkey") {
      return duplicateSeqError(`The PostgreSQL store (schema ${this.#schema})`, runId, /\(([^)]*)\)=\(([^)]*)\)/.exec(e.detail ?? "")?.[2]?.split(", ")[1] ?? "?", err);
    }
    if (e.code === "23505") {
      return new StoreError(`PostgreSQL store failed to ${what}: another writer appended to it at the same time (does another process hold the run's lease?).`, "JOURNAL_CONFLICT", { cause: err });
    }
    return wrap(err, what);
  }

  async getRun(runId: string): Promise<StoredRun | undefined> {
    if (hasNul(runId)) return undefined;
    const r = await this.#q<RunRow>(`read run "${runId}"`, this.#sql("getRun", () => `SELECT ${this.#cols} FROM ${this.#t("runs")} r WHERE run_id = $1`), [runId]);
    const row = r.rows[0];
    return row && toRun(row);
  }

  async getJournal(runId: string): Promise<readonly JournalEntry[]> {
    if (hasNul(runId)) return [];
    const r = await this.#q<{ entries: string }>(
      `read the journal of run "${runId}"`,
      `SELECT entries FROM ${this.#t("commits")} WHERE run_id = $1 ORDER BY idx`,
      [runId],
    );
    if (r.rows.length === 1) return JSON.parse((r.rows[0] as { entries: string }).entries) as JournalEntry[];
    const out: JournalEntry[] = [];
    for (const row of r.rows) for (const e of JSON.parse(row.entries) as JournalEntry[]) out.push(e);
    return out;
  }

  async listRuns(filter: RunFilter = {}): Promise<readonly StoredRun[]> {
    if (hasNul(filter.workflow ?? "") || hasNul(filter.status ?? "") || hasNul(filter.parentRunId ?? "")) return [];
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
    if (filter.parentRunId !== undefined) {
      args.push(filter.parentRunId);
      where.push(`parent_run_id = $${args.length}`);
    }
    if (filter.topLevel === true) where.push("parent_run_id IS NULL");
    if (filter.before !== undefined) {
      if (hasNul(filter.before.runId)) return [];
      // created_at is whole: after a fractional time t comes what was created at ceil(t) - 1 or before.
      const whole = Number.isInteger(filter.before.createdAt);
      args.push(whole ? filter.before.createdAt : Math.ceil(filter.before.createdAt), whole ? filter.before.runId : "");
      where.push(`(created_at, run_id) < ($${args.length - 1}::bigint, $${args.length}::text)`);
    }
    if (filter.limit !== undefined) args.push(rowLimit(filter.limit, Number.MAX_SAFE_INTEGER));
    const limit = filter.limit !== undefined ? ` LIMIT $${args.length}` : "";
    const r = await this.#q<RunRow>("list runs", `SELECT ${this.#cols} FROM ${this.#t("runs")} r ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, run_id DESC${limit}`, args);
    return r.rows.map(toRun);
  }

  async acquireLease(runId: string, owner: string, ttlMs: number, now: number, options: LeaseOptions = {}): Promise<LeaseResult> {
    if (hasNul(runId)) return { acquired: false, holder: undefined };
    if (hasNul(owner)) throw new StoreError(`Could not take the lease on run "${runId}": the owner name ${JSON.stringify(owner)} holds the character U+0000, which PostgreSQL text cannot store.`, "STORE_FAILED", { runId });
    const renew = options.token !== undefined;
    // The outer SELECT sees the row as it was before the UPDATE: the holder when it did not take.
    const r = await this.#q<{ lease_owner: string | null; lease_expires: string | null; lease_token: string; took: string | null }>(
      `take the lease on run "${runId}"`,
      renew
        ? this.#sql(
            "renew",
            () => `WITH took AS (
             UPDATE ${this.#t("runs")} SET lease_expires = $3 + $4::bigint WHERE run_id = $1 AND lease_owner = $2 AND lease_token = $5 RETURNING lease_token)
           SELECT lease_owner, lease_expires, lease_token, (SELECT lease_token FROM took) AS took FROM ${this.#t("runs")} WHERE run_id = $1`,
          )
        : this.#sql(
            "lease",
            () => `WITH took AS (
             UPDATE ${this.#t("runs")} SET lease_token = lease_token + (CASE WHEN lease_owner IS NOT DISTINCT FROM $2 THEN 0 ELSE 1 END), lease_owner = $2, lease_expires = $3 + $4::bigint
             WHERE run_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires < $3) RETURNING lease_token)
           SELECT lease_owner, lease_expires, lease_token, (SELECT lease_token FROM took) AS took FROM ${this.#t("runs")} WHERE run_id = $1`,
          ),
      // Whole ms, as the bigint columns hold them (a clock or a TTL may give fractions).
      renew ? [runId, owner, Math.floor(now), Math.ceil(ttlMs), options.token] : [runId, owner, Math.floor(now), Math.ceil(ttlMs)],
    );
    const row = r.rows[0];
    if (row?.took != null) return { acquired: true, token: Number(row.took) };
    return { acquired: false, holder: row?.lease_owner ? { owner: row.lease_owner, expiresAt: Number(row.lease_expires), token: Number(row.lease_token) } : undefined };
  }

  async releaseLease(runId: string, owner: string): Promise<void> {
    if (hasNul(runId) || hasNul(owner)) return;
    await this.#q(`release the lease on run "${runId}"`, this.#sql("release", () => `UPDATE ${this.#t("runs")} SET lease_owner = NULL, lease_expires = NULL WHERE run_id = $1 AND lease_owner = $2`), [
      runId,
      owner,
    ]);
  }

  /**
   * One statement: the share lock on the run row orders it against {@link finish} (an event is
   * never queued for a run that has ended), and the notification goes out when it commits.
   */
  async deliver(runId: string, event: EventJSON): Promise<number> {
    if (hasNul(runId)) throw new RunNotFoundError(`The store (schema ${this.#schema}) has no run ${JSON.stringify(runId)} to deliver an event to.`, { runId });
    const r = await this.#q<{ id: string }>(
      `deliver an event to run "${runId}"`,
      `WITH run AS (SELECT run_id FROM ${this.#t("runs")} WHERE run_id = $1 AND status IN ('running', 'waiting') FOR SHARE),
            ins AS (INSERT INTO ${this.#t("inbox")} (run_id, event, at) SELECT run_id, $2, $3 FROM run RETURNING id),
            woke AS (SELECT pg_notify('${CHANNEL}', $4) FROM ins)
       SELECT id, (SELECT count(*) FROM woke) AS woke FROM ins`,
      [runId, JSON.stringify(event), Date.now(), JSON.stringify([this.#schemaName, runId])],
    );
    const row = r.rows[0];
    if (row) return Number(row.id);
    const run = await this.getRun(runId);
    if (!run) throw new RunNotFoundError(`The store (schema ${this.#schema}) has no run "${runId}" to deliver an event to.`, { runId });
    throw new RunFinishedError(`Run "${runId}" of workflow "${run.workflow}" has already ended (${run.status}); the event was not delivered.`, run.status, { workflow: run.workflow, runId });
  }

  async readInbox(runId: string, limit?: number): Promise<readonly InboxItem[]> {
    if (hasNul(runId)) return [];
    const r = await this.#q<{ id: string; event: string; at: string }>(
      `read the inbox of run "${runId}"`,
      this.#sql(limit === undefined ? "inbox" : "inboxUpTo", () => `SELECT id, event::text AS event, at FROM ${this.#t("inbox")} WHERE run_id = $1 ORDER BY id${limit === undefined ? "" : " LIMIT $2"}`),
      limit === undefined ? [runId] : [runId, rowLimit(limit, Number.MAX_SAFE_INTEGER)],
    );
    return r.rows.map((row) => ({ id: Number(row.id), event: JSON.parse(row.event) as EventJSON, at: Number(row.at) }));
  }

  /**
   * LISTEN on one connection of the pool (taken on the first subscription, given back after the
   * last), shared by every store on that pool: stores on many schemas still hold one connection.
   * A wake-up only: a notification can be missed when that connection drops (it is taken again
   * on the next subscription), so callers also poll {@link readInbox} now and then.
   * A pool of one connection cannot spare it (every other query would wait for it, a run forever):
   * its subscribers are woken every 250 ms instead, to read their inbox.
   */
  subscribe(runId: string, onDelivery: () => void): () => void {
    const fn = () => onDelivery();
    if (this.#poolOfOne()) {
      this.#wakeable.add(fn);
      this.#waker ??= setInterval(() => {
        for (const wake of [...this.#wakeable]) wake();
      }, POOL_OF_ONE_WAKE_MS);
      return () => {
        this.#wakeable.delete(fn);
        if (this.#wakeable.size === 0) this.#stopWaking();
      };
    }
    const remove = listenerOf(this.#pool).add(this.#schemaName, this.#t("inbox"), runId, fn);
    this.#subscriptions.add(remove);
    return () => {
      if (this.#subscriptions.delete(remove)) this.#track(remove());
    };
  }

  #poolOfOne(): boolean {
    return ((this.#pool as unknown as { options: { max?: number } }).options.max ?? 10) <= 1;
  }

  /** This store's subscriptions to its pool's listener (see {@link subscribe}). */
  readonly #subscriptions = new Set<() => Promise<void> | undefined>();
  /** Subscribers on a pool of one connection, and the timer waking them (see {@link subscribe}). */
  readonly #wakeable = new Set<() => void>();
  #waker: ReturnType<typeof setInterval> | undefined;

  #stopWaking(): void {
    clearInterval(this.#waker);
    this.#waker = undefined;
  }

  /** Waited for by {@link close}. */
  #track(work: Promise<void> | undefined): void {
    if (work === undefined) return;
    this.#inflight.add(work);
    void work.finally(() => this.#inflight.delete(work));
  }

  /**
   * Waits for queries in flight, then ends the pool when the store made it; a pool passed in is
   * left to its owner. Closing again waits for the first close (the pool is ended once).
   */
  close(): Promise<void> {
    return (this.#closed ??= this.#close());
  }

  #closed: Promise<void> | undefined;

  async #close(): Promise<void> {
    // Let writes already queued (a run's last records, its lease release) reach the database first.
    await new Promise((r) => setImmediate(r));
    this.#wakeable.clear();
    this.#stopWaking();
    for (const remove of [...this.#subscriptions]) this.#track(remove());
    this.#subscriptions.clear();
    await Promise.allSettled([...this.#inflight]);
    if (this.#ownsPool) await this.#pool.end();
  }
}

/** The listener of each pool (see {@link PoolListener}). */
const LISTENERS = new WeakMap<pg.Pool, PoolListener>();

function listenerOf(pool: pg.Pool): PoolListener {
  let listener = LISTENERS.get(pool);
  if (!listener) LISTENERS.set(pool, (listener = new PoolListener(pool)));
  return listener;
}

/**
 * The LISTEN connection of one pool, shared by every store on it: one connection of the pool
 * however many stores (schemas) subscribe. Each listening store taking its own would leave a pool
 * of n connections none for queries once n stores have live runs.
 * A connection that dies while subscribers remain is replaced (after 100 ms, doubling to 5 s while
 * it fails): a run subscribed here is not polled, so without it a waiting run would never hear of
 * its deliveries again. Each time LISTEN is in place, the subscribers whose inbox holds events
 * are woken once: those were delivered before it was, and not notified here.
 */
class PoolListener {
  readonly #pool: pg.Pool;
  /** Subscribers by schema, then run id. */
  readonly #subscribers = new Map<string, Map<string, Set<() => void>>>();
  #count = 0;
  #listener: Promise<Listening | undefined> | undefined;
  #generation = 0;
  /** The timer of the next attempt to listen again, and how many attempts failed in a row. */
  #retry: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  /** Each subscribed schema's inbox table. */
  readonly #inboxes = new Map<string, string>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Calls `fn` on each notification for run `runId` of `schema`. Returns what removes it (once);
   * removing the last gives the connection back, and its promise settles when that is done.
   */
  add(schema: string, inbox: string, runId: string, fn: () => void): () => Promise<void> | undefined {
    this.#inboxes.set(schema, inbox);
    let runs = this.#subscribers.get(schema);
    if (!runs) this.#subscribers.set(schema, (runs = new Map<string, Set<() => void>>()));
    let set = runs.get(runId);
    if (!set) runs.set(runId, (set = new Set()));
    set.add(fn);
    this.#count++;
    this.#listen();
    let removed = false;
    return () => {
      if (removed) return undefined;
      removed = true;
      set.delete(fn);
      this.#count--;
      if (set.size === 0 && runs.get(runId) === set) runs.delete(runId);
      if (runs.size === 0 && this.#subscribers.get(schema) === runs) this.#subscribers.delete(schema);
      return this.#count === 0 ? this.#unlisten() : undefined;
    };
  }

  #listen(): void {
    if (this.#listener) return;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const generation = ++this.#generation;
    const mine = () => this.#generation === generation;
    const lost = (): undefined => {
      if (!mine()) return undefined;
      this.#listener = undefined;
      // Subscribers remain: listen again, later.
      if (this.#count > 0 && this.#retry === undefined) {
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          if (this.#count > 0) this.#listen();
        }, Math.min(5_000, 100 * 2 ** this.#failures++));
      }
      return undefined;
    };
    this.#listener = (async () => {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch {
        return lost();
      }
      // The handlers come off the connection when it goes back to the pool, which hands it out
      // again: left on, they would pile up on it and release it a second time when it dies.
      let released = false;
      const release = (err?: Error | true): void => {
        if (released) return;
        released = true;
        client.removeListener("notification", onNotification);
        client.removeListener("error", onError);
        client.release(err);
      };
      const onNotification = (msg: pg.Notification): void => {
        if (msg.channel !== CHANNEL || !msg.payload) return;
        const target = notified(msg.payload);
        if (target === undefined) return;
        for (const fn of [...(this.#subscribers.get(target[0])?.get(target[1]) ?? [])]) fn();
      };
      // The connection died (terminated, network): forget it; the next subscription listens again.
      const onError = (err: Error): void => {
        lost();
        release(err);
      };
      client.on("notification", onNotification);
      client.on("error", onError);
      try {
        await client.query(`LISTEN ${CHANNEL}`);
      } catch (err) {
        release(err instanceof Error ? err : true);
        return lost();
      }
      this.#failures = 0;
      if (mine()) await this.#wakeWaiting(client);
      return { client, release, released: () => released };
    })();
  }

  /**
   * Wakes the subscribers whose inbox holds events, read on the LISTEN connection once LISTEN is
   * in place (a delivery after this is notified). Where that read fails, all of the schema's.
   */
  async #wakeWaiting(client: pg.PoolClient): Promise<void> {
    for (const [schema, runs] of [...this.#subscribers]) {
      const inbox = this.#inboxes.get(schema);
      let waiting: string[];
      try {
        if (inbox === undefined) throw new Error("no inbox");
        waiting = (await client.query<{ run_id: string }>(`SELECT DISTINCT run_id FROM ${inbox} WHERE run_id = ANY($1::text[])`, [[...runs.keys()]])).rows.map((r) => r.run_id);
      } catch {
        waiting = [...runs.keys()];
      }
      for (const runId of waiting) for (const fn of [...(runs.get(runId) ?? [])]) fn();
    }
  }

  #unlisten(): Promise<void> | undefined {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#failures = 0;
    const listener = this.#listener;
    this.#listener = undefined;
    this.#generation++;
    if (!listener) return undefined;
    return listener.then(async (listening) => {
      if (!listening || listening.released()) return;
      try {
        await listening.client.query(`UNLISTEN ${CHANNEL}`);
        listening.release();
      } catch (err) {
        listening.release(err instanceof Error ? err : true);
      }
    });
  }
}

// JSON columns read as text, so a stored JSON null stays distinct from SQL NULL (no value).
// updated_at: the later of the run row's and its last commit's (appends do not write the run row).
const RUN_COLUMNS = (commits: string) => `run_id, workflow, status, input::text AS input, result::text AS result, error::text AS error, parent_run_id, format, created_at,
  GREATEST(updated_at, COALESCE((SELECT j.at FROM ${commits} j WHERE j.run_id = r.run_id ORDER BY j.idx DESC LIMIT 1), 0)) AS updated_at,
  lease_owner, lease_expires, lease_token`;

/**
 * The seqs of the entries' events as ranges of consecutive seqs, `[[lo, hi], …]` (a PostgreSQL
 * two-dimensional array parameter; computed here, not read from the JSON by the server). A seq
 * repeated within the entries, or one that is not a whole number from 0, is refused here.
 */
function rangesOf(entries: readonly JournalEntry[], runId: string): [number, number][] {
  const seqs: number[] = [];
  for (const e of entries) {
    if (e.kind !== "event") continue;
    if (!Number.isSafeInteger(e.seq) || e.seq < 0) throw new StoreError(`Run "${runId}": event seq ${String(e.seq)} is not a whole number from 0; nothing was written.`);
    seqs.push(e.seq);
  }
  seqs.sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const seq of seqs) {
    const last = ranges[ranges.length - 1];
    if (last && seq === last[1]) throw duplicateSeqError("The PostgreSQL store", runId, seq);
    if (last && seq === last[1] + 1) last[1] = seq;
    else ranges.push([seq, seq]);
  }
  return ranges;
}


/**
 * The `[schema, runId]` a notification on {@link CHANNEL} names, or undefined for a payload
 * `deliver` did not send: anyone who can connect may NOTIFY the channel, and a throw here would
 * be thrown out of the connection's socket handler (ending the process).
 */
function notified(payload: string): [string, string] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  return Array.isArray(v) && typeof v[0] === "string" && typeof v[1] === "string" ? [v[0], v[1]] : undefined;
}

/**
 * Whether `text` holds U+0000, which PostgreSQL's text cannot (JSON columns get it escaped as
 * `\u0000`; run ids, names and filters are text). No stored run has such an id or name.
 */
function hasNul(text: string): boolean {
  return text.includes("\u0000");
}

/** Whether the server can compress TOASTed values with lz4 (PostgreSQL 14+, built with it). */
async function hasLz4(client: pg.PoolClient): Promise<boolean> {
  const r = await client.query<{ lz4: boolean }>("SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'");
  return r.rows[0]?.lz4 === true;
}

/**
 * Every statement of {@link PostgresStore} outside a transaction is a named prepared statement:
 * parsed and planned once per connection, then only bound and executed (the append's statement
 * planned on every call cost about as much server time as its commit). One name per distinct text
 * in this process: a name never stands for two texts, so stores sharing a pool share its statements.
 */
const NAMES = new Map<string, string>();

function statementName(sql: string): string {
  let name = NAMES.get(sql);
  if (name === undefined) NAMES.set(sql, (name = `stepwise_${NAMES.size + 1}`));
  return name;
}

function wrap(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new StoreError(`PostgreSQL store failed to ${what}: ${msg || (err as { code?: string }).code || "connection lost"}`, "STORE_FAILED", { cause: err });
}

