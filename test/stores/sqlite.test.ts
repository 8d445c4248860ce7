import { spawn } from "node:child_process";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, StoreError, StoreVersionError, Workflow, type JournalEntry } from "../../src/index.js";
import { SQLITE_SCHEMA_VERSION, SqliteStore } from "../../src/stores/sqlite.js";
import { describeStoreConformance } from "./conformance.js";
import { tempDir } from "./helpers.js";

describeStoreConformance("SqliteStore", async () => {
  const tmp = tempDir();
  const path = join(tmp.dir, "runs.db");
  return { store: new SqliteStore(path), cleanup: tmp.remove, another: () => new SqliteStore(path) };
});

describe("SqliteStore files", () => {
  const dirs: (() => void)[] = [];
  afterEach(() => dirs.splice(0).forEach((rm) => rm()));
  const dir = () => {
    const t = tempDir();
    dirs.push(t.remove);
    return t.dir;
  };

  it("creates missing directories and uses WAL mode", () => {
    const path = join(dir(), "nested", ".stepwise", "runs.db");
    const store = new SqliteStore(path);
    store.close();
    const db = new Database(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("reopens its own file and sees what was written", async () => {
    const path = join(dir(), "runs.db");
    const a = new SqliteStore(path);
    await a.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
    a.close();
    const b = new SqliteStore(path);
    expect(b.getRun("r")?.status).toBe("running");
    b.close();
  });

  it("rejects a file that is not a database", () => {
    const path = join(dir(), "notes.txt");
    writeFileSync(path, "hello, this is not SQLite at all\n".repeat(100));
    expect(() => new SqliteStore(path)).toThrowError(expect.objectContaining({ code: "NOT_A_STEPWISE_STORE", name: "StoreError" }) as Error);
    expect(() => new SqliteStore(path)).toThrow(/not a stepwise store: it is not a SQLite database/);
  });

  it("rejects a SQLite database that belongs to something else, and leaves it alone", () => {
    const path = join(dir(), "app.db");
    const db = new Database(path);
    db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');");
    db.close();
    let err: unknown;
    try {
      new SqliteStore(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe("NOT_A_STEPWISE_STORE");
    expect((err as Error).message).toMatch(/other tables \(users\)/);
    const again = new Database(path);
    expect(again.prepare("SELECT name FROM sqlite_master WHERE type='table'").all()).toEqual([{ name: "users" }]);
    // Not even switched to WAL.
    expect(again.pragma("journal_mode", { simple: true })).toBe("delete");
    again.close();
  });

  it("makes a new store's tables in WAL mode: they go to the WAL, the file itself gets its header only (no rollback-journal fsyncs)", () => {
    const path = join(dir(), "runs.db");
    const store = new SqliteStore(path);
    try {
      // Tables made in rollback mode before switching to WAL would be pages of the file itself.
      expect(statSync(path).size).toBeLessThanOrEqual(4096);
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(4096);
    } finally {
      store.close();
    }
  });

  it("rejects a store written by a newer schema version", () => {
    const path = join(dir(), "runs.db");
    new SqliteStore(path).close();
    const db = new Database(path);
    db.prepare("UPDATE stepwise_meta SET value = '99' WHERE key = 'schema'").run();
    db.close();
    let err: unknown;
    try {
      new SqliteStore(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreVersionError);
    expect(err).toMatchObject({ code: "STORE_VERSION", found: 99, supported: SQLITE_SCHEMA_VERSION });
    expect((err as Error).message).toMatch(/newer stepwise \(schema 99/);
  });

  const start = { type: "StartEvent", data: {} };
  const entry = (i: number): JournalEntry => ({ kind: "state", key: `k${i}`, value: i, at: i });

  it("keeps one row per append and reads a journal of many commits back in order after reopening", async () => {
    const path = join(dir(), "runs.db");
    const a = new SqliteStore(path);
    await a.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await a.createRun({ runId: "s", workflow: "W", input: start, createdAt: 2 });
    const expected: JournalEntry[] = [];
    let i = 0;
    for (let commit = 0; commit < 300; commit++) {
      const batch = Array.from({ length: (commit % 7) + 1 }, () => entry(++i));
      expected.push(...batch);
      await a.append("r", batch);
      if (commit % 50 === 0) await a.append("s", [entry(-commit)]);
    }
    a.close();
    const db = new Database(path);
    expect(db.prepare("SELECT COUNT(*) FROM stepwise_journal").pluck().get()).toBe(306);
    db.close();
    const b = new SqliteStore(path);
    expect(b.getJournal("r")).toEqual(expected);
    expect(b.getJournal("s")).toHaveLength(6);
    b.close();
  });

  it("continues a journal after reopening (the next index is read back from the file)", async () => {
    const path = join(dir(), "runs.db");
    const a = new SqliteStore(path);
    await a.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await a.append("r", [entry(1), entry(2)]);
    await a.append("r", [entry(3)]);
    a.close();
    const b = new SqliteStore(path);
    await b.append("r", [entry(4)]);
    await b.append("r", [entry(5), entry(6)]);
    b.close();
    const c = new SqliteStore(path);
    expect(c.getJournal("r")).toEqual([1, 2, 3, 4, 5, 6].map(entry));
    c.close();
  });

  it("re-reads the next index when it takes a run's lease, and refuses to interleave with another writer", async () => {
    const path = join(dir(), "runs.db");
    const a = new SqliteStore(path);
    const b = new SqliteStore(path);
    await a.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await a.append("r", [entry(1)]);
    // b resumes the run (takes its lease) and appends; its lease expires, a takes it and appends.
    expect(await b.acquireLease("r", "b", 1000, 10)).toEqual({ acquired: true, token: 1 });
    await b.append("r", [entry(2)]);
    expect(await a.acquireLease("r", "a", 1000, 5000)).toEqual({ acquired: true, token: 2 });
    await a.append("r", [entry(3)]);
    // b, its lease lost, appends again: its next index is stale, and its append fails whole.
    await expect(b.append("r", [entry(4)])).rejects.toThrowError(/another writer appended to it/);
    expect(a.getJournal("r")).toEqual([1, 2, 3].map(entry));
    a.close();
    b.close();
  });

  it("appends after a run's end still land after what was there (the cursor is dropped, then read back)", async () => {
    const store = new SqliteStore(join(dir(), "runs.db"));
    await store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await store.append("r", [entry(1)]);
    await store.setStatus("r", "completed", { result: 1 });
    await store.append("r", [entry(2)]);
    await store.releaseLease("r", "nobody");
    await store.append("r", [entry(3)]);
    expect(store.getJournal("r")).toEqual([1, 2, 3].map(entry));
    store.close();
  });

  it("reads updatedAt as the time of the last commit when that is later than the run row's", async () => {
    const path = join(dir(), "runs.db");
    const store = new SqliteStore(path);
    await store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    expect(store.getRun("r")?.updatedAt).toBe(1);
    const before = Date.now();
    await store.append("r", [entry(1)]);
    expect(store.getRun("r")?.updatedAt).toBeGreaterThanOrEqual(before);
    expect(store.listRuns()[0]?.updatedAt).toBeGreaterThanOrEqual(before);
    store.close();
  });

  it("migrates a schema 1 file (one row per entry) to one row per commit, keeping journals in order", async () => {
    const path = join(dir(), "runs.db");
    const db = new Database(path);
    db.exec(`
      CREATE TABLE stepwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO stepwise_meta (key, value) VALUES ('schema', '1');
      CREATE TABLE stepwise_runs (
        run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL,
        result TEXT, error TEXT, parent_run_id TEXT, format INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, lease_owner TEXT, lease_expires INTEGER
      );
      CREATE INDEX stepwise_runs_created ON stepwise_runs (created_at DESC);
      CREATE TABLE stepwise_journal (
        run_id TEXT NOT NULL, idx INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (run_id, idx)
      ) WITHOUT ROWID;
      INSERT INTO stepwise_runs VALUES ('r', 'W', 'waiting', '{"type":"StartEvent","data":{}}', NULL, NULL, NULL, 1, 5, 7, NULL, NULL);
    `);
    const ins = db.prepare("INSERT INTO stepwise_journal (run_id, idx, entry) VALUES ('r', ?, ?)");
    for (const i of [3, 1, 2]) ins.run(i, JSON.stringify(entry(i)));
    db.close();
    await expectMigrated(path, 7, entry);
  });

  it("migrates a schema 2 file (one row per commit, keyed by run_id and idx), keeping journals in order", async () => {
    const path = join(dir(), "runs.db");
    const db = new Database(path);
    db.exec(`
      CREATE TABLE stepwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO stepwise_meta (key, value) VALUES ('schema', '2');
      CREATE TABLE stepwise_runs (
        run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL,
        result TEXT, error TEXT, parent_run_id TEXT, format INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, lease_owner TEXT, lease_expires INTEGER
      );
      CREATE INDEX stepwise_runs_created ON stepwise_runs (created_at DESC);
      CREATE TABLE stepwise_journal (
        run_id TEXT NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL, entries TEXT NOT NULL, PRIMARY KEY (run_id, idx)
      );
      INSERT INTO stepwise_runs VALUES ('r', 'W', 'waiting', '{"type":"StartEvent","data":{}}', NULL, NULL, NULL, 1, 5, 7, NULL, NULL);
    `);
    const ins = db.prepare("INSERT INTO stepwise_journal (run_id, idx, at, entries) VALUES ('r', ?, 9, ?)");
    ins.run(2, JSON.stringify([entry(3)]));
    ins.run(1, JSON.stringify([entry(1), entry(2)]));
    db.close();
    await expectMigrated(path, 9, entry);
  });

  it("creates its folder 0700 and the database, -wal and -shm files 0600", async () => {
    const folder = join(dir(), "private", ".stepwise");
    const path = join(folder, "runs.db");
    const store = new SqliteStore(path);
    await store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await store.append("r", [entry(1)]);
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(folder)).toBe(0o700);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) expect([f, mode(f)]).toEqual([f, 0o600]);
    store.close();
  });

  it("opens read-only for listing: reads runs and journals, writes nothing, creates nothing", async () => {
    const path = join(dir(), "runs.db");
    const w = new SqliteStore(path);
    await w.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await w.append("r", [entry(1)]);
    w.close();
    const ro = new SqliteStore(path, { readonly: true });
    expect(ro.listRuns().map((r) => r.runId)).toEqual(["r"]);
    expect(ro.getJournal("r")).toEqual([entry(1)]);
    await expect(ro.append("r", [entry(2)])).rejects.toThrowError(StoreError);
    await expect(ro.createRun({ runId: "s", workflow: "W", input: start, createdAt: 2 })).rejects.toThrow(/readonly/);
    ro.close();
    const missing = join(dir(), "nothing-here", "runs.db");
    expect(() => new SqliteStore(missing, { readonly: true })).toThrowError(expect.objectContaining({ name: "StoreError" }) as Error);
    expect(() => statSync(join(missing, ".."))).toThrow(/ENOENT/);
  });

  it("refuses to read an older schema read-only, naming the fix, and leaves the file as it was", () => {
    const path = join(dir(), "runs.db");
    const db = new Database(path);
    db.exec(`CREATE TABLE stepwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO stepwise_meta VALUES ('schema', '3');`);
    db.close();
    expect(() => new SqliteStore(path, { readonly: true })).toThrow(/schema 3.*open it once without readonly/);
    const check = new Database(path);
    expect(check.prepare("SELECT value FROM stepwise_meta").pluck().get()).toBe("3");
    check.close();
  });

  it("waits for another process's write lock, then writes; past busyTimeoutMs it fails with StoreError STORE_BUSY and the next call works", async () => {
    const path = join(dir(), "runs.db");
    const store = new SqliteStore(path, { busyTimeoutMs: 100 });
    await store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    const holder = new Database(path);
    holder.exec("BEGIN IMMEDIATE");
    const err = await (async () => {
      try {
        await store.append("r", [entry(1)]);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: "STORE_BUSY" });
    expect((err as Error).message).toMatch(/write lock for more than 100 ms \(busyTimeoutMs\)/);
    holder.exec("ROLLBACK");
    holder.close();
    await store.append("r", [entry(1)]);
    expect(store.getJournal("r")).toEqual([entry(1)]);
    store.close();

    // A lock held by another process for a while, within the store's patience: the append waits and lands.
    const patient = new SqliteStore(path, { busyTimeoutMs: 20_000 });
    const child = spawn(process.execPath, ["-e", LOCK_FOR_A_WHILE, path], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    await patient.append("r", [entry(2)]);
    expect(await new Promise((r) => child.on("exit", r))).toBe(0);
    expect(patient.getJournal("r")).toEqual([entry(1), entry(2)]);
    patient.close();
  });

  it("migrates a schema 3 file: tokens start at 0, seqs already journaled are taken, the inbox is empty", async () => {
    const path = join(dir(), "runs.db");
    const db = new Database(path);
    db.exec(`
      CREATE TABLE stepwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO stepwise_meta (key, value) VALUES ('schema', '3');
      CREATE TABLE stepwise_runs (
        run_key INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, workflow TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL,
        result TEXT, error TEXT, parent_run_id TEXT, format INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, lease_owner TEXT, lease_expires INTEGER
      );
      CREATE INDEX stepwise_runs_created ON stepwise_runs (created_at DESC);
      CREATE TABLE stepwise_journal (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, entries TEXT NOT NULL);
      INSERT INTO stepwise_runs VALUES (1, 'r', 'W', 'running', '{"type":"StartEvent","data":{}}', NULL, NULL, NULL, 1, 5, 7, 'old', 99);
    `);
    const ev = (seq: number): JournalEntry => ({ kind: "event", seq, event: { type: "A", data: {} }, at: 1 });
    db.prepare("INSERT INTO stepwise_journal (id, at, entries) VALUES (?, 9, ?)").run((1n << 32n) + 1n, JSON.stringify([ev(1), entry(2), ev(2)]));
    db.close();
    const store = new SqliteStore(path);
    expect(store.getRun("r")?.lease).toEqual({ owner: "old", expiresAt: 99, token: 0 });
    await expect(store.append("r", [ev(2)])).rejects.toThrowError(expect.objectContaining({ code: "JOURNAL_CONFLICT" }) as Error);
    await store.append("r", [ev(3)]);
    expect(await store.acquireLease("r", "new", 1000, 1000)).toEqual({ acquired: true, token: 1 });
    expect(store.readInbox("r")).toEqual([]);
    store.close();
  });

  it("opens read-only: reads what a live writer committed, refuses every write, changes nothing in the file", async () => {
    const path = join(dir(), "runs.db");
    const writer = new SqliteStore(path);
    await writer.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: { a: 1 } }, createdAt: 1 });
    const reader = new SqliteStore(path, { readonly: true });
    expect(reader.getRun("r")).toMatchObject({ workflow: "W", status: "running" });
    expect(reader.listRuns({})).toHaveLength(1);
    await expect(reader.createRun({ runId: "x", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 2 })).rejects.toThrowError(StoreError);
    await expect(reader.setStatus("r", "completed", { result: 1 })).rejects.toThrowError(StoreError);
    await expect(reader.append("r", [{ kind: "state", key: "k", value: 1, at: 3 }])).rejects.toThrowError(StoreError);
    await writer.setStatus("r", "completed", { result: "done" });
    expect(reader.getRun("r")).toMatchObject({ status: "completed", result: "done" });
    reader.close();
    writer.close();
    expect(new SqliteStore(path, { readonly: true }).getJournal("r")).toEqual([]);
  });

  it("read-only, does not create a missing file, nor the tables of an empty one", () => {
    const missing = join(dir(), "nowhere", "runs.db");
    expect(() => new SqliteStore(missing, { readonly: true })).toThrowError(StoreError);
    expect(existsSync(join(missing, ".."))).toBe(false);
    const empty = join(dir(), "empty.db");
    new Database(empty).close();
    expect(() => new SqliteStore(empty, { readonly: true })).toThrowError(/empty, and a read-only store gets no tables created/);
    const check = new Database(empty);
    expect(check.prepare("SELECT count(*) FROM sqlite_master").pluck().get()).toBe(0);
    check.close();
  });

  it("fails with StoreError once closed", () => {
    const store = new SqliteStore(join(dir(), "runs.db"));
    store.close();
    expect(() => store.getRun("x")).toThrowError(StoreError);
  });
});

/** A child process: takes the write lock on the file argv[1], says so, holds it ~300 ms, commits. */
const LOCK_FOR_A_WHILE = `
const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve("better-sqlite3"))});
const db = new Database(process.argv[1]);
db.exec("BEGIN IMMEDIATE");
process.stdout.write("locked\\n");
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
db.exec("COMMIT");
db.close();`;

/** Opens a file written in an older layout: its journal reads back in order, takes new entries, and the file is at the current schema. */
async function expectMigrated(path: string, updatedAt: number, entry: (i: number) => JournalEntry): Promise<void> {
  const store = new SqliteStore(path);
  expect(store.getJournal("r")).toEqual([1, 2, 3].map(entry));
  expect(store.getRun("r")).toMatchObject({ status: "waiting", createdAt: 5, updatedAt });
  await store.append("r", [entry(4)]);
  expect(store.getJournal("r")).toEqual([1, 2, 3, 4].map(entry));
  store.close();
  const check = new Database(path);
  expect(check.prepare("SELECT value FROM stepwise_meta WHERE key = 'schema'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
  check.close();
  new SqliteStore(path).close(); // opening a migrated file again is a no-op
}

describe("SqliteStore group commit", () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());
  const start = { type: "StartEvent", data: {} };
  const ev = (seq: number): JournalEntry => ({ kind: "event", seq, event: { type: "A", data: { seq } }, at: 1 });
  const walBytes = (path: string) => statSync(`${path}-wal`).size;

  it("writes asked for in one turn share one transaction: far fewer WAL bytes than one commit each", async () => {
    const one = new SqliteStore(join(tmp.dir, "grouped.db"));
    const each = new SqliteStore(join(tmp.dir, "each.db"));
    await one.createRun({ runId: "warm", workflow: "W", input: start, createdAt: 1 });
    await each.createRun({ runId: "warm", workflow: "W", input: start, createdAt: 1 });
    const before = [walBytes(one.path), walBytes(each.path)];
    const runs = Array.from({ length: 100 }, (_, i) => `r${i}`);
    await Promise.all(runs.flatMap((id) => [one.createRun({ runId: id, workflow: "W", input: start, createdAt: 2 }), one.append(id, [ev(1)])]));
    for (const id of runs) {
      await each.createRun({ runId: id, workflow: "W", input: start, createdAt: 2 });
      await each.append(id, [ev(1)]);
    }
    const grouped = walBytes(one.path) - before[0]!;
    const separate = walBytes(each.path) - before[1]!;
    expect(grouped).toBeGreaterThan(0);
    expect(grouped * 10).toBeLessThan(separate);
    for (const id of runs) expect(one.getJournal(id)).toEqual([ev(1)]);
    one.close();
    each.close();
  });

  it("a durable run costs a fixed number of statements and rows: one commit row per commit, one seq row per event, no savepoints when nothing is refused", async () => {
    class Mid extends Event<{ id: number }> {}
    const store = new SqliteStore(join(tmp.dir, "counted.db"));
    const wf = new Workflow({ store, timeout: null })
      .addStep({ accepts: StartEvent, emits: Mid }, async function first(ev: StartEvent<{ id: number }>) {
        return new Mid({ id: ev.id });
      })
      .addStep({ accepts: Mid, emits: StopEvent }, async function second(ev) {
        return new StopEvent({ result: ev.id });
      });
    await wf.run({ id: -1 });
    // Every statement better-sqlite3 runs (the transactions' BEGIN, SAVEPOINT, COMMIT are prepared statements too).
    const proto = Object.getPrototypeOf(new Database(":memory:").prepare("SELECT 1")) as Record<"run" | "get" | "all", (...a: unknown[]) => unknown>;
    const sql: string[] = [];
    const originals = { run: proto.run, get: proto.get, all: proto.all };
    for (const k of ["run", "get", "all"] as const) {
      const original = originals[k];
      proto[k] = function (this: { source: string }, ...a: unknown[]) {
        sql.push(this.source);
        return original.apply(this, a);
      };
    }
    const runs = 40;
    try {
      expect(await Promise.all(Array.from({ length: runs }, (_, id) => wf.run({ id })))).toEqual(Array.from({ length: runs }, (_, id) => id));
    } finally {
      Object.assign(proto, originals);
    }
    const db = new Database(store.path, { readonly: true });
    try {
      const begins = sql.filter((q) => q.startsWith("BEGIN")).length;
      expect(sql.filter((q) => q.startsWith("SAVEPOINT"))).toEqual([]);
      // The holder's inbox reads ask for no LIMIT (with one, a read of an empty inbox costs 3× as much).
      expect(sql.filter((q) => q.includes("stepwise_inbox") && q.includes("LIMIT"))).toEqual([]);
      expect(sql.filter((q) => q.includes("FROM stepwise_inbox")).length).toBe(runs);
      // Per run ("sync"): the run row with its lease (one INSERT), inbox read, two appends (commit +
      // one seq insert: the first commit's two events in one), the end (commit + seq + status); plus
      // each group's BEGIN and COMMIT.
      expect(sql.length).toBe(8 * runs + 2 * begins);
      expect(sql.filter((q) => q.startsWith("INSERT INTO stepwise_runs") && q.includes("lease_owner")).length).toBe(runs);
      expect(sql.filter((q) => q.startsWith("UPDATE stepwise_runs SET lease_token"))).toEqual([]);
      // The 40 runs' five kinds of write share a handful of transactions.
      expect(begins).toBeLessThanOrEqual(10);
      const count = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      expect(count("stepwise_journal")).toBe(3 * (runs + 1));
      expect(count("stepwise_seqs")).toBe(3 * (runs + 1));
    } finally {
      db.close();
      store.close();
    }
  });

  it("a commit's seq rows take one statement per 64 events; a repeated seq in any of them is named and refuses the whole commit", async () => {
    const store = new SqliteStore(join(tmp.dir, "seqs.db"));
    await store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    await store.append("r", [ev(1000)]);
    const proto = Object.getPrototypeOf(new Database(":memory:").prepare("SELECT 1")) as Record<"run", (...a: unknown[]) => unknown>;
    const sql: string[] = [];
    const run = proto.run;
    proto.run = function (this: { source: string }, ...a: unknown[]) {
      sql.push(this.source);
      return run.apply(this, a);
    };
    const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => ev(from + i));
    try {
      // 341 events, as in a "batched" commit of 1,024 entries: 6 seq statements (5 × 64 + 21).
      await store.append("r", events(1, 341));
      expect(sql.filter((q) => q.startsWith("INSERT INTO stepwise_seqs")).length).toBe(6);
      expect(sql.filter((q) => q.startsWith("INSERT INTO stepwise_journal")).length).toBe(1);
      // A seq repeated within the commit (in a later chunk than its first), one the run holds (in a later chunk).
      const within = await store.append("r", [...events(400, 100), ev(410)]).then(() => undefined, (e: unknown) => e);
      expect(within).toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect(String((within as Error).message)).toMatch(/event 410\b/);
      const held = await store.append("r", [...events(500, 100), ev(1000)]).then(() => undefined, (e: unknown) => e);
      expect(held).toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect(String((held as Error).message)).toMatch(/event 1000\b/);
    } finally {
      proto.run = run;
    }
    // Nothing of the refused commits was kept: their seqs are free.
    await store.append("r", [...events(400, 100), ...events(500, 100)]);
    const seqs = store.getJournal("r").map((e) => (e.kind === "event" ? e.seq : -1));
    expect(seqs.length).toBe(1 + 341 + 200);
    expect(new Set(seqs).size).toBe(seqs.length);
    store.close();
  });

  it("a refused write in a group leaves the others written, and is itself written not at all", async () => {
    const store = new SqliteStore(join(tmp.dir, "refused.db"));
    for (const id of ["a", "b", "c"]) await store.createRun({ runId: id, workflow: "W", input: start, createdAt: 1 });
    await store.append("b", [ev(1)]);
    const { token } = (await store.acquireLease("c", "me", 60_000, Date.now())) as { token: number };
    const results = await Promise.allSettled([
      store.append("a", [ev(1), ev(2)]),
      store.append("b", [ev(2), ev(1)]), // seq 1 again: refused whole
      store.append("c", [ev(1)], { token: token + 1 }), // a stale token: refused
      store.append("c", [ev(1)], { token }),
      store.append("nope", [ev(1)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled", "rejected"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: "JOURNAL_CONFLICT" });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ name: "RunLockedError" });
    expect(store.getJournal("a")).toEqual([ev(1), ev(2)]);
    expect(store.getJournal("b")).toEqual([ev(1)]);
    expect(store.getJournal("c")).toEqual([ev(1)]);
    // The cursor of the refused append was dropped and read back: the next append follows on.
    await store.append("b", [ev(2)]);
    expect(store.getJournal("b")).toEqual([ev(1), ev(2)]);
    store.close();
  });

  it("keeps the order writes were asked in, reads see what was asked before them, close commits what is pending", async () => {
    const path = join(tmp.dir, "order.db");
    const store = new SqliteStore(path);
    const created = store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    const appended = store.append("r", [ev(1)]);
    const ended = store.finish("r", [ev(2)], { status: "completed", result: 3 });
    // A read in the same turn writes what is pending first.
    expect(store.getRun("r")).toMatchObject({ status: "completed", result: 3 });
    await Promise.all([created, appended, ended]);
    void store.createRun({ runId: "s", workflow: "W", input: start, createdAt: 2 });
    store.close();
    const again = new SqliteStore(path);
    expect(again.getJournal("r")).toEqual([ev(1), ev(2)]);
    expect(again.getRun("s")).toMatchObject({ status: "running" });
    again.close();
  });

  it("when the group's transaction cannot start (another connection holds the write lock), every write of it fails and none is written", async () => {
    const path = join(tmp.dir, "busy.db");
    const store = new SqliteStore(path, { busyTimeoutMs: 50 });
    await store.createRun({ runId: "r", workflow: "W", input: start, createdAt: 1 });
    const holder = new Database(path);
    holder.exec("BEGIN IMMEDIATE");
    const results = await Promise.allSettled([store.append("r", [ev(1)]), store.createRun({ runId: "s", workflow: "W", input: start, createdAt: 2 })]);
    holder.exec("ROLLBACK");
    holder.close();
    expect(results.map((r) => r.status === "rejected" && (r.reason as StoreError).code)).toEqual(["STORE_BUSY", "STORE_BUSY"]);
    expect(store.getJournal("r")).toEqual([]);
    expect(store.getRun("s")).toBeUndefined();
    await store.append("r", [ev(1)]);
    expect(store.getJournal("r")).toEqual([ev(1)]);
    store.close();
  });
});
