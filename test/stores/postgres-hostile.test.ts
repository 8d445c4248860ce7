import pg from "pg";
import { describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/stores/postgres.js";
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from "./helpers.js";

const available = await postgresAvailable();

const input = { type: "StartEvent", data: {} };

/** Polls `cond` every 10 ms, at most `tries` times; true once it holds. */
async function until(cond: () => boolean | Promise<boolean>, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe.skipIf(!available)("PostgresStore under hostile use", () => {
  it("many stores on one shared pool add one 'error' listener to it and one synchronous_commit option, and the pool still connects", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2, options: "-c application_name=shared_pool_test" });
    try {
      let store: PostgresStore | undefined;
      for (let i = 0; i < 500; i++) store = new PostgresStore(pool, { schema, synchronousCommit: i % 2 ? "on" : "off" });
      expect(pool.listenerCount("error")).toBe(1);
      const options = (pool as unknown as { options: { options: string } }).options.options;
      expect(options.match(/synchronous_commit/g)).toHaveLength(1);
      expect(options).toContain("-c application_name=shared_pool_test");
      // The last store's choice holds.
      expect(options).toContain("-c synchronous_commit=on");
      await store?.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      expect((await pool.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit).toBe("on");
      await store?.close();
    } finally {
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("a NOTIFY on the inbox channel that deliver did not send (not JSON, another shape) is ignored: subscribers are still woken by deliveries", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      let woke = 0;
      const off = store.subscribe("r", () => woke++);
      // LISTEN is in place once a first delivery gets through.
      expect(await until(async () => woke > 0 || (await store.deliver("r", input), false))).toBe(true);
      for (const junk of ["not json", '{"a":1}', "null", "[1]", `["${schema}"]`, `["${schema}", 7]`]) {
        await other.query("SELECT pg_notify('stepwise_inbox', $1)", [junk]);
      }
      const before = woke;
      await store.deliver("r", input);
      expect(await until(() => woke > before)).toBe(true);
      off();
    } finally {
      await other.end();
      await store.close();
      await dropSchema(schema);
    }
  });
});
