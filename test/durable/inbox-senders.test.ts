import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore, suspendRun, type Store } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { Pings, sendMany, TOTAL } from "../fixtures/durable/inbox.js";
import { dropSchema, PG_URL, postgresAvailable, tempDir, uniqueSchema } from "../stores/helpers.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/durable/inbox.ts");
const ROOT = join(import.meta.dirname, "../..");
const pgUp = await postgresAvailable();
const N = TOTAL / 2;

function sender(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", FIXTURE, "send", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
    proc.on("exit", (code) => resolve({ code, out, err }));
  });
}

/** A run waiting for pings, stored and released (no process holds it). */
async function waitingRun(store: Store): Promise<string> {
  const h = new Pings({ store, timeout: null }).run({});
  h.catch(() => {});
  for (let i = 0; i < 1000 && (await store.getRun(h.runId))?.status !== "waiting"; i++) await new Promise((r) => setTimeout(r, 5));
  await suspendRun(h);
  return h.runId;
}

const expected = (froms: string[]) => Object.fromEntries(froms.map((f) => [f, Array.from({ length: TOTAL / froms.length }, (_, i) => i)]));

async function pingsJournaled(store: Store, runId: string): Promise<string[]> {
  return (await store.getJournal(runId)).flatMap((e) => (e.kind === "event" && e.event.type === "Ping" ? [`${(e.event.data as { from: string }).from}:${(e.event.data as { i: number }).i}`] : []));
}

describe("concurrent sends to a stored run (issue 11.14)", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it(`${TOTAL} concurrent wf.sendEvent in one process are all delivered, exactly once`, async () => {
    const store = new MemoryStore();
    const runId = await waitingRun(store);
    const results = await sendMany(store, runId, "a", TOTAL);
    const want = { a: Array.from({ length: TOTAL }, (_, i) => i) };
    expect(results).toEqual(Array.from({ length: TOTAL }, () => ({ result: want })));
    expect((await pingsJournaled(store, runId)).sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => `a:${i}`).sort());
  });

  async function twoProcesses(kind: "sqlite" | "postgres", where: string, store: Store) {
    const runId = await waitingRun(store);
    const [mine, theirs] = await Promise.all([sendMany(store, runId, "a", N), sender([kind, where, runId, "b", String(N)])]);
    expect(theirs.code, theirs.err).toBe(0);
    const want = expected(["a", "b"]);
    expect(mine).toEqual(Array.from({ length: N }, () => ({ result: want })));
    expect((JSON.parse(theirs.out) as { results: unknown[] }).results).toEqual(Array.from({ length: N }, () => ({ result: want })));
    const journaled = await pingsJournaled(store, runId);
    expect(journaled).toHaveLength(TOTAL);
    expect(new Set(journaled).size).toBe(TOTAL);
    expect(await store.readInbox(runId)).toEqual([]);
    expect(await store.getRun(runId)).toMatchObject({ status: "completed", result: want });
  }

  it(`${N} senders x 2 processes on SQLite: all delivered exactly once (through the store's inbox)`, async () => {
    const tmp = tempDir();
    const path = join(tmp.dir, "runs.db");
    const store = new SqliteStore(path);
    cleanups.push(() => tmp.remove(), () => store.close());
    await twoProcesses("sqlite", path, store);
  });

  it.skipIf(!pgUp)(`${N} senders x 2 processes on PostgreSQL: all delivered exactly once (LISTEN/NOTIFY)`, async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    cleanups.push(() => dropSchema(schema), () => store.close());
    await twoProcesses("postgres", schema, store);
  });

});
