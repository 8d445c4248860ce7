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
});
