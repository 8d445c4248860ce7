import pg from "pg";
import { describe, expect, it } from "vitest";
import { StoreError, StoreVersionError, type JournalEntry } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { describeStoreConformance } from "./conformance.js";
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from "./helpers.js";

const available = await postgresAvailable();

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
        expect((await c.query(`SELECT value FROM ${t("meta")}`)).rows[0]).toEqual({ value: "2" });
      } finally {
        await store.close();
      }
    } finally {
      await c.end();
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
