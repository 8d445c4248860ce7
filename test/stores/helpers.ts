import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** The machine's PostgreSQL (override with STEPWISE_TEST_PG). */
export const PG_URL = process.env.STEPWISE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

let reachable: Promise<boolean> | undefined;

/**
 * True when PostgreSQL answers. When it does not: under CI (CI=true) this throws, so the suite
 * fails; elsewhere it warns loudly and the caller skips.
 */
export async function postgresAvailable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } catch (err) {
      if (process.env.CI === "true") throw new Error(`PostgreSQL at ${PG_URL} is unreachable and CI=true: ${String(err)}`);
      console.warn(`\n!!! PostgreSQL at ${PG_URL} is unreachable (${String(err)}): SKIPPING the PostgreSQL store tests. !!!\n`);
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachable;
}

/** A fresh schema name for one test; `dropSchema` removes it. */
export function uniqueSchema(): string {
  return `stepwise_t_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix = "stepwise-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
