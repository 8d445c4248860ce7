import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { tempDir, withListingPlans } from "./helpers.js";

const input = { type: "StartEvent", data: {} };

/**
 * A child process: opens the file argv[1] in WAL mode, takes its write lock, says so, holds it
 * ~300 ms, runs the SQL argv[2] (another process making the store's tables), commits.
 */
const CREATE_WHILE_LOCKED = `
const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve("better-sqlite3"))});
const db = new Database(process.argv[1]);
db.pragma("journal_mode = WAL");
db.exec("BEGIN IMMEDIATE");
process.stdout.write("locked\\n");
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
db.exec(process.argv[2]);
db.exec("COMMIT");
db.close();`;

describe("SqliteStore under hostile use", () => {
  const dirs: (() => void)[] = [];
  afterEach(() => dirs.splice(0).forEach((rm) => rm()));
  const file = () => {
    const t = tempDir();
    dirs.push(t.remove);
    return join(t.dir, "runs.db");
  };

  it("listing the live runs (a takeover poll, a server start) searches an index by status instead of scanning every run; a file made before the index gets it", async () => {
    const path = file();
    await withListingPlans(async (plan) => {
      const check = async (store: SqliteStore) => {
        expect(store.listRuns({ status: "running" }).map((r) => r.runId)).toEqual(["live"]);
        expect(plan(["running"])).toMatch(/SEARCH r USING INDEX stepwise_runs_status \(status=\?\)/);
        expect(store.listRuns({ status: "running", workflow: "W" }).map((r) => r.runId)).toEqual(["live"]);
        // With a workflow too, the index on both (not the status one, checking the workflow row by row).
        expect(plan(["running", "W"])).toMatch(/SEARCH r USING INDEX stepwise_runs_workflow_status \(workflow=\? AND status=\?\)/);
      };
      const store = new SqliteStore(path);
      for (let i = 0; i < 500; i++) void store.createRun({ runId: `done-${i}`, workflow: "W", input, createdAt: i });
      for (let i = 0; i < 500; i++) void store.finish(`done-${i}`, [], { status: "completed", result: i });
      await store.createRun({ runId: "live", workflow: "W", input, createdAt: 1000 });
      await check(store);
      store.close();
      // A file from before the index.
      const old = new Database(path);
      old.exec("DROP INDEX stepwise_runs_status");
      old.close();
      const reopened = new SqliteStore(path);
      await check(reopened);
      reopened.close();
    });
  });

  it("listing a run's children (parentRunId) searches an index by parent, in listing order, instead of scanning every run; a file made before the index gets it", async () => {
    const path = file();
    await withListingPlans(async (plan) => {
      const check = (store: SqliteStore) => {
        expect(store.listRuns({ parentRunId: "p" }).map((r) => r.runId)).toEqual(["c3", "c2", "c1"]);
        expect(plan(["p"])).toMatch(/^SEARCH r USING INDEX stepwise_runs_parent \(parent_run_id=\?\)(;|$)/);
        expect(plan(["p"])).not.toMatch(/SCAN r|TEMP B-TREE/);
        expect(store.listRuns({ parentRunId: "p", status: "running", limit: 1 }).map((r) => r.runId)).toEqual(["c3"]);
        // The parent index, not the status one, and no sort of what it found (no TEMP B-TREE).
        expect(plan(["running", "p", 1])).toMatch(/^SEARCH r USING INDEX stepwise_runs_parent \(parent_run_id=\?\)(;|$)/);
        expect(plan(["running", "p", 1])).not.toMatch(/SCAN r|TEMP B-TREE/);
        expect(store.listRuns({ parentRunId: "p", workflow: "W" }).map((r) => r.runId)).toEqual(["c3", "c2", "c1"]);
        expect(plan(["W", "p"])).toMatch(/^SEARCH r USING INDEX stepwise_runs_parent \(parent_run_id=\?\)(;|$)/);
      };
      const store = new SqliteStore(path);
      for (let i = 0; i < 500; i++) void store.createRun({ runId: `top-${i}`, workflow: "W", input, createdAt: i });
      for (let i = 0; i < 50; i++) void store.createRun({ runId: `other-${i}`, workflow: "W", input, createdAt: 600 + i, parentRunId: `top-${i}` });
      // Ties in created_at: the later one first, as every listing orders them.
      await store.createRun({ runId: "c1", workflow: "W", input, createdAt: 700, parentRunId: "p" });
      await store.createRun({ runId: "c2", workflow: "W", input, createdAt: 800, parentRunId: "p" });
      await store.createRun({ runId: "c3", workflow: "W", input, createdAt: 800, parentRunId: "p" });
      check(store);
      store.close();
      // A file from before the index.
      const old = new Database(path);
      old.exec("DROP INDEX stepwise_runs_parent");
      old.close();
      const reopened = new SqliteStore(path);
      check(reopened);
      reopened.close();
    });
  });

  it("a page (limit, before) searches an index in listing order, for every filter a server pages by: no scan of the runs, no sort; a file made before those indexes gets them", async () => {
    const path = file();
    await withListingPlans(async (plan) => {
      const middle = { createdAt: 100, runId: "r-1005" };
      const check = (store: SqliteStore) => {
        const pages: [Parameters<SqliteStore["listRuns"]>[0], unknown[], RegExp, string][] = [
          [{ before: middle, limit: 3 }, [100, "r-1005", 3], /^SEARCH r USING (COVERING )?INDEX stepwise_runs_created \(\(created_at,run_id\)<\(\?,\?\)\)(;|$)/, "r-1004,r-1003,r-1002"],
          [{ status: "running", before: middle, limit: 3 }, ["running", 100, "r-1005", 3], /^SEARCH r USING (COVERING )?INDEX stepwise_runs_status \(status=\? AND \(created_at,run_id\)<\(\?,\?\)\)(;|$)/, "r-1004,r-1003,r-1002"],
          [{ workflow: "A", before: middle, limit: 3 }, ["A", 100, "r-1005", 3], /^SEARCH r USING (COVERING )?INDEX stepwise_runs_workflow \(workflow=\? AND \(created_at,run_id\)<\(\?,\?\)\)(;|$)/, "r-1003,r-1001,r-0999"],
          [{ topLevel: true, before: middle, limit: 3 }, [100, "r-1005", 3], /^SEARCH r USING (COVERING )?INDEX stepwise_runs_top \(\(created_at,run_id\)<\(\?,\?\)\)(;|$)/, "r-1004,r-1002,r-1001"],
          [{ parentRunId: "r-0000", before: middle, limit: 3 }, ["r-0000", 100, "r-1005", 3], /^SEARCH r USING (COVERING )?INDEX stepwise_runs_parent \(parent_run_id=\? AND \(created_at,run_id\)<\(\?,\?\)\)(;|$)/, "r-1003,r-0993,r-0983"],
          [{ limit: 3 }, [3], /^SCAN r USING (COVERING )?INDEX stepwise_runs_created(;|$)/, "r-1999,r-1998,r-1997"],
        ];
        for (const [filter, args, shape, ids] of pages) {
          expect(store.listRuns(filter).map((r) => r.runId).join(",")).toBe(ids);
          const p = plan(args);
          expect({ filter, p }).toEqual({ filter, p: expect.stringMatching(shape) });
          expect(p).not.toMatch(/SCAN r(;|$)|TEMP B-TREE/);
        }
      };
      const store = new SqliteStore(path);
      // Ten runs a millisecond; every tenth (the 3rd of each ms) a child of r-0000; two workflows.
      for (let i = 0; i < 2000; i++) void store.createRun({ runId: `r-${String(i).padStart(4, "0")}`, workflow: i % 2 ? "A" : "B", input, createdAt: Math.floor(i / 10), ...(i % 10 === 3 ? { parentRunId: "r-0000" } : {}) });
      await store.createRun({ runId: "zz", workflow: "C", input, createdAt: -1 });
      check(store);
      store.close();
      // A file from before: the status, parent and every-run indexes without run_id, no workflow or top index.
      const old = new Database(path);
      old.exec(`
        DROP INDEX stepwise_runs_created; CREATE INDEX stepwise_runs_created ON stepwise_runs (created_at DESC);
        DROP INDEX stepwise_runs_status; CREATE INDEX stepwise_runs_status ON stepwise_runs (status, created_at DESC);
        DROP INDEX stepwise_runs_parent; CREATE INDEX stepwise_runs_parent ON stepwise_runs (parent_run_id, created_at) WHERE parent_run_id IS NOT NULL;
        DROP INDEX stepwise_runs_workflow; DROP INDEX stepwise_runs_top;`);
      old.close();
      const reopened = new SqliteStore(path);
      check(reopened);
      reopened.close();
    });
  });

  it("a file made before the status index opens while another connection holds its write lock: read now, indexed on a later open", async () => {
    const path = file();
    const first = new SqliteStore(path);
    await first.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
    first.close();
    const other = new Database(path);
    other.exec("DROP INDEX stepwise_runs_status");
    other.exec("BEGIN IMMEDIATE");
    try {
      const reader = new SqliteStore(path, { busyTimeoutMs: 20 });
      expect(reader.getRun("r")?.status).toBe("running");
      reader.close();
    } finally {
      other.exec("COMMIT");
    }
    new SqliteStore(path).close();
    expect(other.prepare("SELECT name FROM sqlite_master WHERE name = 'stepwise_runs_status'").pluck().get()).toBe("stepwise_runs_status");
    other.close();
  });

  it("busyTimeoutMs: Infinity waits as long as SQLite can; NaN, a negative value or an unknown synchronous are refused by name instead of becoming 'never wait'", () => {
    const path = file();
    const opened: Database.Database[] = [];
    const prepare = Object.getOwnPropertyDescriptor(Database.prototype, "prepare")?.value as (this: Database.Database, sql: string) => Database.Statement<unknown[]>;
    Database.prototype.prepare = function (this: Database.Database, sql: string) {
      if (!opened.includes(this)) opened.push(this);
      return prepare.call(this, sql);
    } as typeof Database.prototype.prepare;
    try {
      const store = new SqliteStore(path, { busyTimeoutMs: Infinity });
      expect(opened.at(-1)?.pragma("busy_timeout", { simple: true })).toBe(2 ** 31 - 1);
      store.close();
      const tenth = new SqliteStore(path, { busyTimeoutMs: 0.1 });
      expect(opened.at(-1)?.pragma("busy_timeout", { simple: true })).toBe(1);
      tenth.close();
    } finally {
      Database.prototype.prepare = prepare as typeof Database.prototype.prepare;
    }
    for (const busyTimeoutMs of [NaN, -1, "100" as unknown as number]) {
      expect(() => new SqliteStore(path, { busyTimeoutMs })).toThrowError(/busyTimeoutMs must be a number of ms from 0/);
    }
    expect(() => new SqliteStore(path, { synchronous: "OFF" as "FULL" })).toThrowError(/synchronous must be "NORMAL" or "FULL", got "OFF"/);
  });

  it("two processes opening a new file at once: the one that finds the tables made meanwhile opens the store instead of failing on 'table already exists'", async () => {
    // The tables as a store makes them (sqlite_sequence comes with the AUTOINCREMENT table).
    const model = file();
    new SqliteStore(model).close();
    const source = new Database(model, { readonly: true });
    const ddl = (source.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name <> 'sqlite_sequence' ORDER BY rowid").pluck().all() as string[]).join(";\n");
    const schema = source.prepare("SELECT value FROM stepwise_meta WHERE key = 'schema'").pluck().get() as string;
    source.close();
    const path = file();
    const child = spawn(process.execPath, ["-e", CREATE_WHILE_LOCKED, path, `${ddl};\nINSERT INTO stepwise_meta (key, value) VALUES ('schema', '${schema}');`], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
      child.on("exit", () => reject(new Error("the child exited before it took the lock")));
    });
    // The file has no tables yet; the child makes them while this store waits for its lock.
    const store = new SqliteStore(path);
    await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
    expect(store.getRun("r")?.status).toBe("running");
    store.close();
    expect(await exited).toBe(0);
  });

  it("an inbox id named twice in one claim is claimed once, as PostgreSQL and MemoryStore do, instead of refusing the whole commit", async () => {
    const store = new SqliteStore(file());
    await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
    const id = await store.deliver("r", input);
    await store.append("r", [{ kind: "event", seq: 1, event: input, at: 1 }], { claim: [id, id] });
    expect(store.getJournal("r")).toHaveLength(1);
    expect(store.readInbox("r")).toEqual([]);
    store.close();
  });
});
