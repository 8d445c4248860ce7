import pg from "pg";
import { describe, expect, it } from "vitest";
import { Event, MemoryStore, StartEvent, StopEvent, StoreError, StoreVersionError, Workflow, type JournalEntry } from "../../src/index.js";
import { POSTGRES_SCHEMA_VERSION, PostgresStore } from "../../src/stores/postgres.js";
import { describeStoreConformance } from "./conformance.js";
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from "./helpers.js";

const available = await postgresAvailable();

class Go extends Event {}
class Half extends Event<{ n: number }> {}
class Mid extends Event<{ id: number }> {}

/** Waits for Go in its first step, then ends with 2. */
class Waits extends Workflow {
  constructor(options: ConstructorParameters<typeof Workflow>[0]) {
    super(options);
    this.addStep({ accepts: StartEvent, emits: Half, waitsFor: Go }, async function first(_: StartEvent, ctx) {
      await ctx.waitForEvent(Go);
      return new Half({ n: 1 });
    }).addStep({ accepts: Half, emits: StopEvent }, async function second(ev) {
      return new StopEvent({ result: ev.n + 1 });
    });
  }
}

/** Counts the statements a store sends through `pool.query` (one round trip each), and lists those sent without a name. */
function countQueries(pool: pg.Pool): { statements: string[]; unnamed: string[] } {
  const statements: string[] = [];
  const unnamed: string[] = [];
  const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  (pool as unknown as { query: unknown }).query = (...a: unknown[]) => {
    const q = a[0] as string | { text: string; name?: string };
    const text = typeof q === "string" ? q : q.text;
    statements.push(text);
    if (typeof q === "string" || q.name === undefined) unnamed.push(text);
    return query(...a);
  };
  return { statements, unnamed };
}

/**
 * Counts, by first word, the statements sent on connections the store takes with `pool.connect()`
 * (a transaction's, or the LISTEN connection); `pool.query` takes its own with a callback.
 * `connect`: the pool's own, for the test's reads.
 */
function countHeldQueries(pool: pg.Pool): { held: string[]; connect: () => Promise<pg.PoolClient> } {
  const held: string[] = [];
  const connect = pool.connect.bind(pool) as (...a: unknown[]) => Promise<pg.PoolClient>;
  (pool as unknown as { connect: unknown }).connect = async (...a: unknown[]) => {
    const client = await connect(...a);
    if (a.length === 0) {
      const q = client.query.bind(client) as (...x: unknown[]) => unknown;
      (client as unknown as { query: unknown }).query = (...x: unknown[]) => {
        const q0 = x[0] as string | { text: string };
        held.push((typeof q0 === "string" ? q0 : q0.text).trim().split(/\s/)[0] ?? "");
        return q(...x);
      };
    }
    return client;
  };
  return { held, connect: () => connect() };
}

describe.skipIf(!available)("PostgresStore", () => {
  describeStoreConformance("PostgresStore", async () => {
    const schema = uniqueSchema();
    return { store: new PostgresStore(PG_URL, { schema }), cleanup: () => dropSchema(schema), another: () => new PostgresStore(PG_URL, { schema }) };
  });

  it("shares a pool it was given and leaves it open", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL });
    try {
      const store = new PostgresStore(pool, { schema });
      await store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
      await store.close();
      expect((await pool.query("SELECT 1 AS one")).rows[0]).toEqual({ one: 1 });
    } finally {
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("synchronousCommit sets synchronous_commit on every connection of its pool; without it the server's setting stays", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 3 });
    const plain = new pg.Pool({ connectionString: PG_URL, max: 1 });
    try {
      const store = new PostgresStore(pool, { schema, synchronousCommit: "off" });
      await Promise.all(Array.from({ length: 6 }, (_, i) => store.createRun({ runId: `r${i}`, workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 })));
      const seen = await Promise.all(Array.from({ length: 3 }, async () => {
        const client = await pool.connect();
        try {
          return (await client.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit;
        } finally {
          client.release();
        }
      }));
      expect(seen).toEqual(["off", "off", "off"]);
      const other = new PostgresStore(plain, { schema });
      expect(await other.getRun("r0")).toMatchObject({ status: "running" });
      expect((await plain.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit).toBe("on");
      await store.close();
      await other.close();
      expect(() => new PostgresStore(PG_URL, { schema, synchronousCommit: "sometimes" as "on" })).toThrowError(StoreError);
    } finally {
      await pool.end();
      await plain.end();
      await dropSchema(schema);
    }
  });

  it("rejects a store written by a newer schema version", async () => {
    const schema = uniqueSchema();
    try {
      const a = new PostgresStore(PG_URL, { schema });
      await a.listRuns();
      await a.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`UPDATE "${schema}".stepwise_meta SET value = '7' WHERE key = 'schema'`);
      await client.end();
      const b = new PostgresStore(PG_URL, { schema });
      await expect(b.listRuns()).rejects.toSatisfy((e) => e instanceof StoreVersionError && e.found === 7 && /newer stepwise/.test(e.message));
      await b.close();
    } finally {
      await dropSchema(schema);
    }
  });

  it("a connection terminated mid-call (pg_terminate_backend) fails that call with StoreError; the next call works", async () => {
    const schema = uniqueSchema();
    const app = `stepwise_term_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const store = new PostgresStore({ connectionString: PG_URL, application_name: app }, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
      // Hold the run's row so the store's next write waits inside PostgreSQL, then cut its connection.
      await other.query("BEGIN");
      await other.query(`SELECT 1 FROM "${schema}".stepwise_runs WHERE run_id = 'r' FOR UPDATE`);
      const pending = Promise.resolve(store.setStatus("r", "waiting")).then(
        () => undefined,
        (e: unknown) => e,
      );
      for (let i = 0; i < 500; i++) {
        const waiting = await other.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [app]);
        if (waiting.rowCount) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const killed = await other.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1", [app]);
      expect(killed.rows.length).toBeGreaterThan(0);
      const err = await pending;
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: "STORE_FAILED" });
      expect((err as Error).message).toMatch(/PostgreSQL store failed to set the status of run "r"/);
      await other.query("ROLLBACK");
      await store.setStatus("r", "waiting");
      expect((await store.getRun("r"))?.status).toBe("waiting");
      // A fenced write and a delivery on a fresh connection, too.
      const lease = await store.acquireLease("r", "p", 60_000, Date.now());
      expect(lease.acquired).toBe(true);
      expect(await store.deliver("r", { type: "Ping", data: {} })).toBeGreaterThan(0);
    } finally {
      await other.end();
      await store.close();
      await dropSchema(schema);
    }
  });

  it("migrates a schema 1 store: tokens start at 0, seqs already journaled are taken (the first of a repeated one), reads unchanged", async () => {
    const schema = uniqueSchema();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const t = (n: string) => `"${schema}".stepwise_${n}`;
      const ev = (seq: number, s = "x") => ({ kind: "event", seq, event: { type: "A", data: { s } }, at: 1 });
      await c.query(`
        CREATE SCHEMA "${schema}";
        CREATE TABLE ${t("meta")} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO ${t("meta")} VALUES ('schema', '1');
        CREATE TABLE ${t("runs")} (run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input JSON NOT NULL, result JSON, error JSON,
          parent_run_id TEXT, format INTEGER NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, lease_owner TEXT, lease_expires BIGINT);
        CREATE INDEX ON ${t("runs")} (created_at DESC);
        CREATE TABLE ${t("journal")} (run_id TEXT NOT NULL, idx INTEGER NOT NULL, entry JSON NOT NULL, PRIMARY KEY (run_id, idx));
        INSERT INTO ${t("runs")} VALUES ('r', 'W', 'running', '{"type":"StartEvent","data":{}}', NULL, NULL, NULL, 1, 5, 7, NULL, NULL);`);
      const old = [ev(1), { kind: "state", key: "k", value: 1, at: 1 }, ev(2, "nul \u0000 here"), ev(2, "again")];
      for (const [i, e] of old.entries()) await c.query(`INSERT INTO ${t("journal")} VALUES ('r', $1, $2)`, [i + 1, JSON.stringify(e)]);
      const store = new PostgresStore(PG_URL, { schema });
      try {
        expect(await store.getJournal("r")).toEqual(old);
        expect(await store.getRun("r")).toMatchObject({ status: "running", createdAt: 5, updatedAt: 7 });
        await expect(store.append("r", [ev(1) as JournalEntry])).rejects.toMatchObject({ code: "JOURNAL_CONFLICT" });
        await store.append("r", [ev(3) as JournalEntry]);
        expect(await store.acquireLease("r", "p", 1000, 1)).toEqual({ acquired: true, token: 1 });
        expect((await c.query(`SELECT value FROM ${t("meta")}`)).rows[0]).toEqual({ value: String(POSTGRES_SCHEMA_VERSION) });
      } finally {
        await store.close();
      }
    } finally {
      await c.end();
      await dropSchema(schema);
    }
  });

  it("migrates a schema 2 store (one row per entry) to one row per commit: old runs read the same and resume to the right result", async () => {
    // A run waiting for Go, as a schema 2 store held it: one journal row per entry, with its seq.
    const source = new MemoryStore();
    const h = new Waits({ store: source, timeout: null }).run({});
    for (let i = 0; i < 200 && source.getRun(h.runId)?.status !== "waiting"; i++) await new Promise((r) => setTimeout(r, 5));
    const journal = source.getJournal(h.runId);
    const run = source.getRun(h.runId)!;
    h.cancel();
    await h.catch(() => undefined);
    expect(journal.filter((e) => e.kind === "event").length).toBeGreaterThan(0);
    const schema = uniqueSchema();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const t = (n: string) => `"${schema}".stepwise_${n}`;
      await c.query(`
        CREATE SCHEMA "${schema}";
        CREATE TABLE ${t("meta")} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO ${t("meta")} VALUES ('schema', '2');
        CREATE TABLE ${t("runs")} (run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input JSON NOT NULL, result JSON, error JSON,
          parent_run_id TEXT, format INTEGER NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, lease_owner TEXT, lease_expires BIGINT,
          lease_token BIGINT NOT NULL DEFAULT 0);
        CREATE INDEX ON ${t("runs")} (created_at DESC);
        CREATE TABLE ${t("journal")} (run_id TEXT NOT NULL, idx INTEGER NOT NULL, entry JSON NOT NULL, seq BIGINT, at BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (run_id, idx));
        CREATE UNIQUE INDEX stepwise_journal_seq ON ${t("journal")} (run_id, seq) WHERE seq IS NOT NULL;
        CREATE TABLE ${t("inbox")} (id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, event JSON NOT NULL, at BIGINT NOT NULL);
        CREATE INDEX ON ${t("inbox")} (run_id, id);`);
      await c.query(`INSERT INTO ${t("runs")} (run_id, workflow, status, input, format, created_at, updated_at, lease_token) VALUES ($1, 'Waits', 'waiting', $2, 1, $3, $3, 4)`, [
        h.runId,
        JSON.stringify(run.input),
        run.createdAt,
      ]);
      for (const [i, e] of journal.entries()) {
        await c.query(`INSERT INTO ${t("journal")} VALUES ($1, $2, $3, $4, $5)`, [h.runId, i + 1, JSON.stringify(e), e.kind === "event" ? e.seq : null, 1000 + i]);
      }
      const store = new PostgresStore(PG_URL, { schema });
      try {
        expect(await store.getJournal(h.runId)).toEqual(journal);
        expect(await store.getRun(h.runId)).toMatchObject({ status: "waiting", createdAt: run.createdAt, updatedAt: Math.max(run.createdAt, 1000 + journal.length - 1) });
        expect((await c.query(`SELECT value FROM ${t("meta")}`)).rows[0]).toEqual({ value: "3" });
        expect((await c.query(`SELECT to_regclass($1) AS t`, [t("journal")])).rows[0]).toEqual({ t: null });
        // Each old row is a commit of one entry; each seq is taken.
        expect(Number((await c.query(`SELECT count(*) AS n FROM ${t("commits")}`)).rows[0].n)).toBe(journal.length);
        const first = journal.find((e) => e.kind === "event")!;
        await expect(store.append(h.runId, [first])).rejects.toMatchObject({ code: "JOURNAL_CONFLICT" });
        // Resumable: the token goes on from the old one, and the run finishes with the right result.
        expect(await new Waits({ store, timeout: null }).sendEvent(h.runId, new Go())).toBe(2);
        const ended = await store.getRun(h.runId);
        expect(ended).toMatchObject({ status: "completed", result: 2 });
        expect(ended?.lease).toBeUndefined();
        const after = await store.getJournal(h.runId);
        expect(after.slice(0, journal.length)).toEqual(journal);
        expect(after.at(-1)).toMatchObject({ kind: "run_finished", status: "completed", result: 2 });
        expect(Number((await c.query(`SELECT max(lease_token) AS n FROM ${t("runs")}`)).rows[0].n)).toBe(5);
      } finally {
        await store.close();
      }
    } finally {
      await c.end();
      await dropSchema(schema);
    }
  });

  it("a durable run costs a fixed number of statements and rows: one row per commit, one seq-range row per commit with events", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    const store = new PostgresStore(pool, { schema });
    try {
      await store.listRuns(); // creates the tables
      const { statements, unnamed } = countQueries(pool);
      // pool.query takes its connection with a callback: the store's own connect() calls are a
      // transaction's (several statements each) or the one LISTEN connection of the store.
      const { held, connect } = countHeldQueries(pool);
      const wf = new Workflow({ store, timeout: null })
        .addStep({ accepts: StartEvent, emits: Mid }, async function first(ev: StartEvent<{ id: number }>) {
          return new Mid({ id: ev.id });
        })
        .addStep({ accepts: Mid, emits: StopEvent }, async function second(ev) {
          return new StopEvent({ result: ev.id });
        });
      const runs = 20;
      expect(await Promise.all(Array.from({ length: runs }, (_, id) => wf.run({ id })))).toEqual(Array.from({ length: runs }, (_, id) => id));
      await new Promise((r) => setTimeout(r, 50));
      const c = await connect();
      try {
        const t = (n: string) => `"${schema}".stepwise_${n}`;
        const count = async (sql: string) => Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
        // Per run, "sync" durability: the run row with its lease (one INSERT), the inbox read, two
        // step commits, the end (with the last commit) in one statement.
        expect(statements.length).toBe(5 * runs);
        expect(statements.filter((s) => s.startsWith(`INSERT INTO ${t("runs")}`) && s.includes("lease_owner")).length).toBe(runs);
        expect(statements.filter((s) => s.includes(`UPDATE ${t("runs")} SET lease_token`))).toEqual([]);
        // Each a named prepared statement: parsed and planned once per connection, not per call.
        expect(unnamed).toEqual([]);
        // No transaction of several statements (BEGIN … COMMIT) on a connection the store holds
        // (it holds one for LISTEN, given back to the pool after the last run; pool.query reuses it).
        expect(held.filter((q) => q === "BEGIN")).toEqual([]);
        expect(statements.filter((s) => s.includes(t("commits"))).length).toBe(3 * runs);
        expect(await count(`SELECT count(*) AS n FROM ${t("commits")}`)).toBe(3 * runs);
        // Three events per run (StartEvent, Mid, StopEvent), numbered consecutively: one seq-range row per commit
        // holding events (StartEvent and Mid share the first), not one per event; nine entries in three commits.
        expect(await count(`SELECT count(*) AS n FROM ${t("seqs")}`)).toBe(2 * runs);
        expect(await count(`SELECT sum(hi - lo + 1) AS n FROM ${t("seqs")}`)).toBe(3 * runs);
        expect(await count(`SELECT sum(json_array_length(entries::json)) AS n FROM ${t("commits")}`)).toBe(9 * runs);
      } finally {
        c.release();
      }
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it('"sync" durability costs one round trip per step: a chain of n steps sends n + 4 statements, each a named prepared one', async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const store = new PostgresStore(pool, { schema });
    try {
      await store.listRuns(); // creates the tables
      const { statements, unnamed } = countQueries(pool);
      const { held } = countHeldQueries(pool);
      const chain = (n: number) =>
        new Workflow({ store, durability: "sync", timeout: null }).addStep({ accepts: [StartEvent, Half], emits: [Half, StopEvent] }, async function loop(ev) {
          const i = ev instanceof Half ? ev.n : 0;
          return i < n ? new Half({ n: i + 1 }) : new StopEvent({ result: i });
        });
      const sent: number[] = [];
      for (const n of [20, 60]) {
        statements.length = 0;
        expect(await chain(n).run()).toBe(n);
        await new Promise((r) => setTimeout(r, 20));
        sent.push(statements.length);
      }
      // n + 1 invocations, each one commit of its completion (the first with the StartEvent); the
      // end; the run row with its lease and the inbox read.
      expect(sent).toEqual([20 + 4, 60 + 4]);
      expect(statements.filter((s) => s.includes("stepwise_commits")).length).toBe(60 + 2);
      expect(unnamed).toEqual([]);
      // No commit is a transaction of several statements; only the store's LISTEN connection.
      expect(held.filter((q) => q === "BEGIN")).toEqual([]);
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("compresses large commits with lz4 where the server has it (pglz elsewhere)", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
      const entries: JournalEntry[] = Array.from({ length: 1024 }, (_, i) => ({ kind: "event", seq: i + 1, event: { type: "Loop", data: { n: i, text: "some words ".repeat(4) } }, at: 1 }));
      await store.append("r", entries);
      const lz4 = (await c.query<{ lz4: boolean }>("SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'")).rows[0]?.lz4 === true;
      const row = await c.query<{ how: string | null }>(`SELECT pg_column_compression(entries) AS how FROM "${schema}".stepwise_commits WHERE run_id = 'r'`);
      expect(row.rows).toEqual([{ how: lz4 ? "lz4" : "pglz" }]);
      expect(await store.getJournal("r")).toEqual(entries);
    } finally {
      await c.end();
      await store.close();
      await dropSchema(schema);
    }
  });

  it("a commit is all or nothing: a connection killed while its seq rows wait leaves no commit row; a repeated seq leaves nothing of its commit", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    const admin = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    await admin.connect();
    const ev = (seq: number): JournalEntry => ({ kind: "event", seq, event: { type: "A", data: {} }, at: 1 });
    try {
      const t = (n: string) => `"${schema}".stepwise_${n}`;
      await store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
      await store.append("r", [ev(1)]);
      const rows = async () => (await admin.query<{ idx: number; entries: string }>(`SELECT idx, entries FROM ${t("commits")} ORDER BY idx`)).rows;
      const seqs = async () => (await admin.query<{ seq: string }>(`SELECT generate_series(lo, hi) AS seq FROM ${t("seqs")} ORDER BY seq`)).rows.map((r) => Number(r.seq));
      // A repeated seq in the middle of a commit: nothing of it is written.
      await expect(store.append("r", [ev(2), { kind: "state", key: "k", value: 1, at: 1 }, ev(1)])).rejects.toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect((await rows()).length).toBe(1);
      expect(await seqs()).toEqual([1]);
      // Another transaction holds seq 2 uncommitted: the store's commit inserts its row, then waits on the seq; its connection is killed there.
      await other.query("BEGIN");
      await other.query(`INSERT INTO ${t("seqs")} (run_id, lo, hi) VALUES ('r', 2, 2)`);
      const pending = store.append("r", [ev(2), ev(3)]).then(() => undefined, (e: unknown) => e);
      let pid: number | undefined;
      for (let i = 0; i < 400 && pid === undefined; i++) {
        const w = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%stepwise_commits%' AND datname = current_database()");
        pid = w.rows[0]?.pid;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 10));
      }
      expect(pid).toBeDefined();
      await admin.query("SELECT pg_terminate_backend($1)", [pid]);
      expect(await pending).toBeInstanceOf(StoreError);
      await other.query("ROLLBACK");
      expect((await rows()).length).toBe(1);
      expect(await seqs()).toEqual([1]);
      // The next commit goes on after the last one standing.
      await store.append("r", [ev(2), ev(3)]);
      expect((await rows()).map((r) => r.idx)).toEqual([1, 2]);
      expect(await seqs()).toEqual([1, 2, 3]);
      expect((await store.getJournal("r")).map((e) => (e.kind === "event" ? e.seq : e.kind))).toEqual([1, 2, 3]);
    } finally {
      await other.end();
      await admin.end();
      await store.close();
      await dropSchema(schema);
    }
  });

  it("keeps a commit's consecutive seqs as one row, and refuses any seq it holds, inside a range or across a gap", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const ev = (seq: number): JournalEntry => ({ kind: "event", seq, event: { type: "A", data: { seq } }, at: 1 });
    try {
      const t = (n: string) => `"${schema}".stepwise_${n}`;
      const rows = async () => (await admin.query<{ lo: string; hi: string }>(`SELECT lo, hi FROM ${t("seqs")} ORDER BY lo`)).rows.map((r) => [Number(r.lo), Number(r.hi)]);
      await store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
      // 500 consecutive events, out of order and among other records: one row.
      const batch: JournalEntry[] = [];
      for (let i = 500; i >= 1; i--) batch.push(ev(i), { kind: "state", key: "k", value: i, at: 1 });
      await store.append("r", batch);
      expect(await rows()).toEqual([[1, 500]]);
      // A gap: two rows; the seqs in the gap stay free.
      await store.append("r", [ev(600), ev(601), ev(700)]);
      expect(await rows()).toEqual([[1, 500], [600, 601], [700, 700]]);
      for (const taken of [1, 250, 500, 601, 700]) {
        await expect(store.append("r", [ev(650), ev(taken)])).rejects.toSatisfy((e) => e instanceof StoreError && e.code === "JOURNAL_CONFLICT" && e.message.includes(`event ${taken}`));
        await expect(store.finish("r", [ev(taken)], { status: "completed", result: 1 })).rejects.toMatchObject({ code: "JOURNAL_CONFLICT" });
      }
      await expect(store.append("r", [ev(800), ev(800)])).rejects.toMatchObject({ code: "JOURNAL_CONFLICT" });
      await expect(store.append("r", [ev(-1)])).rejects.toBeInstanceOf(StoreError);
      // Nothing of the refused commits was written, and the run did not end.
      expect(await rows()).toEqual([[1, 500], [600, 601], [700, 700]]);
      expect((await store.getJournal("r")).length).toBe(1003);
      expect((await store.getRun("r"))?.status).toBe("running");
      await store.append("r", [ev(502), ev(501), ev(602)]);
      await store.finish("r", [ev(503), ev(650)], { status: "completed", result: 1 });
      expect(await rows()).toEqual([[1, 500], [501, 502], [503, 503], [600, 601], [602, 602], [650, 650], [700, 700]]);
      expect(await store.getRun("r")).toMatchObject({ status: "completed", result: 1 });
    } finally {
      await admin.end();
      await store.close();
      await dropSchema(schema);
    }
  });

  it("refuses a schema name that is not a plain identifier", () => {
    expect(() => new PostgresStore(PG_URL, { schema: 'x"; DROP TABLE y; --' })).toThrow(/plain identifier/);
  });

  it("fails with StoreError when the database is unreachable", async () => {
    const store = new PostgresStore({ host: "127.0.0.1", port: 1, user: "postgres", database: "test", connectionTimeoutMillis: 1000 }, { schema: uniqueSchema() });
    await expect(store.listRuns()).rejects.toMatchObject({ name: "StoreError", code: "STORE_FAILED" });
    await store.close();
  });
});
