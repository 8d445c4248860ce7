import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalEntry, Store } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { dropSchema, PG_URL, postgresAvailable, tempDir, uniqueSchema } from "../stores/helpers.js";

const pgUp = await postgresAvailable();
const ROOT = join(import.meta.dirname, "../..");

/**
 * A lease holder in its own process: takes the lease, appends with its token, says "ready", waits
 * for a line on stdin, appends again with the same token and prints how that went.
 */
const HOLDER = `
const [kind, where, url] = process.argv.slice(1);
const store = kind === "sqlite"
  ? new (await import(${JSON.stringify(join(ROOT, "src/stores/sqlite.ts"))})).SqliteStore(where)
  : new (await import(${JSON.stringify(join(ROOT, "src/stores/postgres.ts"))})).PostgresStore(url, { schema: where });
const ev = (seq) => ({ kind: "event", seq, event: { type: "A", data: { by: "paused" } }, at: seq });
const lease = await store.acquireLease("r", "paused-holder", 1000, Date.now());
await store.append("r", [ev(1)], { token: lease.token });
console.log(JSON.stringify({ ready: lease.token }));
await new Promise((r) => process.stdin.once("data", r));
try {
  await store.append("r", [ev(2)], { token: lease.token });
  console.log(JSON.stringify({ wrote: true }));
} catch (err) {
  console.log(JSON.stringify({ error: err.name, code: err.code, holder: err.holder }));
}
await store.close();
process.exit(0);
`;

function holder(kind: string, where: string) {
  const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", HOLDER, kind, where, PG_URL], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  let out = "";
  let err = "";
  proc.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    let i;
    while ((i = out.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(out.slice(0, i)) as Record<string, unknown>);
      out = out.slice(i + 1);
    }
  });
  proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on("exit", r));
  const line = async (n: number) => {
    for (let i = 0; i < 3000 && lines.length < n && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
    if (lines.length < n) throw new Error(`the holder process said nothing (exit ${proc.exitCode}): ${err}`);
    return lines[n - 1] as Record<string, unknown>;
  };
  return { proc, line, exited };
}

const ev = (seq: number): JournalEntry => ({ kind: "event", seq, event: { type: "A", data: { by: "new holder" } }, at: seq });

describe("fencing across processes: a holder paused (SIGSTOP) past its lease", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function pausedHolderStops(kind: "sqlite" | "postgres", where: string, store: Store) {
    await store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
    const h = holder(kind, where);
    cleanups.push(() => h.proc.kill("SIGKILL"));
    expect(await h.line(1)).toEqual({ ready: 1 });
    h.proc.kill("SIGSTOP");
    // Its 1 s lease has run out (as seen from a clock 5 s later): another process takes the run.
    const taken = await store.acquireLease("r", "new-holder", 60_000, Date.now() + 5000);
    expect(taken).toEqual({ acquired: true, token: 2 });
    await store.append("r", [ev(2)], { token: 2 });
    h.proc.kill("SIGCONT");
    h.proc.stdin.write("go\n");
    expect(await h.line(2)).toEqual({ error: "RunLockedError", code: "RUN_LOCKED", holder: "new-holder" });
    expect(await h.exited).toBe(0);
    const journal = await store.getJournal("r");
    expect(journal.map((e) => (e.kind === "event" ? [e.seq, (e.event.data as { by: string }).by] : e.kind))).toEqual([
      [1, "paused"],
      [2, "new holder"],
    ]);
  }

  it("SqliteStore: its next write fails with RunLockedError and the journal has only the new holder's", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const path = join(tmp.dir, "runs.db");
    const store = new SqliteStore(path);
    cleanups.push(() => store.close());
    await pausedHolderStops("sqlite", path, store);
  }, 30_000);

  it.skipIf(!pgUp)("PostgresStore: its next write fails with RunLockedError and the journal has only the new holder's", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    cleanups.push(() => dropSchema(schema));
    cleanups.push(() => store.close());
    await pausedHolderStops("postgres", schema, store);
  }, 30_000);
});
