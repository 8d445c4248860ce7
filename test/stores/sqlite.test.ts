import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { StoreError, StoreVersionError } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { describeStoreConformance } from "./conformance.js";
import { tempDir } from "./helpers.js";

describeStoreConformance("SqliteStore", async () => {
  const tmp = tempDir();
  return { store: new SqliteStore(join(tmp.dir, "runs.db")), cleanup: tmp.remove };
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

  it("reopens its own file and sees what was written", () => {
    const path = join(dir(), "runs.db");
    const a = new SqliteStore(path);
    a.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
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
    again.close();
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
    expect(err).toMatchObject({ code: "STORE_VERSION", found: 99, supported: 1 });
    expect((err as Error).message).toMatch(/newer stepwise \(schema 99/);
  });

  it("fails with StoreError once closed", () => {
    const store = new SqliteStore(join(dir(), "runs.db"));
    store.close();
    expect(() => store.getRun("x")).toThrowError(StoreError);
  });
});
