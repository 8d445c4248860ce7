import pg from "pg";
import { describe, expect, it } from "vitest";
import { StoreVersionError } from "../../src/index.js";
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

  it("refuses a schema name that is not a plain identifier", () => {
    expect(() => new PostgresStore(PG_URL, { schema: 'x"; DROP TABLE y; --' })).toThrow(/plain identifier/);
  });

  it("fails with StoreError when the database is unreachable", async () => {
    const store = new PostgresStore({ host: "127.0.0.1", port: 1, user: "postgres", database: "test", connectionTimeoutMillis: 1000 }, { schema: uniqueSchema() });
    await expect(store.listRuns()).rejects.toMatchObject({ name: "StoreError", code: "STORE_FAILED" });
    await store.close();
  });
});
