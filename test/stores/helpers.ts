import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { MemoryStore } from "stepwise-ai";

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

/**
 * Run `body` with `plan(args)`: SQLite's EXPLAIN QUERY PLAN of the last run listing a store
 * prepared meanwhile (a statement ordered by created_at), on the connection it was prepared on.
 */
export async function withListingPlans(body: (plan: (args: unknown[]) => string) => void | Promise<void>): Promise<void> {
  const listings: { db: Database.Database; sql: string }[] = [];
  const prepare = Object.getOwnPropertyDescriptor(Database.prototype, "prepare")?.value as (this: Database.Database, sql: string) => Database.Statement<unknown[]>;
  Database.prototype.prepare = function (this: Database.Database, sql: string) {
    if (sql.includes("ORDER BY created_at DESC")) listings.push({ db: this, sql });
    return prepare.call(this, sql);
  } as typeof Database.prototype.prepare;
  try {
    await body((args) => {
      const last = listings[listings.length - 1];
      if (!last) throw new Error("no listing prepared");
      return (prepare.call(last.db, `EXPLAIN QUERY PLAN ${last.sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join("; ");
    });
  } finally {
    Database.prototype.prepare = prepare as typeof Database.prototype.prepare;
  }
}

/** A node of PostgreSQL's EXPLAIN (ANALYZE, FORMAT JSON) plan. */
interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
}

/**
 * Records the run listings (statements ordered by created_at) sent through `pool`. `lastPlan()`
 * runs EXPLAIN ANALYZE of the last one: the rows of the runs table it read (those it returned
 * and those its filters removed), and its plan's nodes (`Index Scan stepwise_runs_status`…).
 */
export function recordListings(pool: pg.Pool): { query: (text: string, values?: unknown[]) => Promise<pg.QueryResult>; lastPlan: () => Promise<{ read: number; nodes: string[] }> } {
  const sent: { text: string; values: unknown[] }[] = [];
  const query = pool.query.bind(pool) as (...a: unknown[]) => Promise<pg.QueryResult>;
  (pool as unknown as { query: unknown }).query = (...a: unknown[]) => {
    const q = a[0] as { text?: string; values?: unknown[] };
    if (typeof q === "object" && q.text?.includes("ORDER BY created_at DESC")) sent.push({ text: q.text, values: q.values ?? [] });
    return query(...a);
  };
  const lastPlan = async (): Promise<{ read: number; nodes: string[] }> => {
    const last = sent[sent.length - 1];
    if (!last) throw new Error("no listing sent");
    const plan = (await query(`EXPLAIN (ANALYZE, FORMAT JSON) ${last.text}`, last.values)) as pg.QueryResult<{ "QUERY PLAN": [{ Plan: PlanNode }] }>;
    const nodes: string[] = [];
    const walk = (n: PlanNode): number => {
      nodes.push(`${n["Node Type"]}${n["Index Name"] ? ` ${n["Index Name"]}` : ""}`);
      return (n["Relation Name"] === "stepwise_runs" ? n["Actual Rows"] * n["Actual Loops"] + (n["Rows Removed by Filter"] ?? 0) : 0) + (n.Plans ?? []).reduce((t, c) => t + walk(c), 0);
    };
    return { read: walk(plan.rows[0]!["QUERY PLAN"][0].Plan), nodes };
  };
  return { query: (text, values) => query(text, values), lastPlan };
}

/** A MemoryStore that counts the reads a follower or a watcher makes: `getRun` and `readInbox`. */
export class ReadCountingStore extends MemoryStore {
  reads = 0;
  override getRun(runId: string) {
    this.reads++;
    return super.getRun(runId);
  }
  override readInbox(runId: string, limit?: number) {
    this.reads++;
    return super.readInbox(runId, limit);
  }
}
