import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/stores/postgres.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { dropSchema, PG_URL, postgresAvailable, tempDir, uniqueSchema } from "../stores/helpers.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/durable/three-steps.ts");
const pgUp = await postgresAvailable();

function child(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; lines: unknown[]; exited: Promise<number | null>; stderr: () => string } {
  const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", FIXTURE, ...args], {
    cwd: join(import.meta.dirname, "../.."),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: unknown[] = [];
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    let i;
    while ((i = out.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(out.slice(0, i)));
      out = out.slice(i + 1);
    }
  });
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return { proc, lines, exited, stderr: () => err };
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const lines = (dir: string, name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8").trim().split("\n") : []);

/** Start in a child, SIGKILL it while step 3 is in flight, resume in a second child. */
async function crashAndResume(kind: "sqlite" | "postgres", where: string, dir: string) {
  const first = child(["start", kind, where, dir], { HANG_STEP3: "1" });
  await until(() => existsSync(join(dir, "s3-started")) || first.proc.exitCode !== null, "step 3 to start in the child");
  expect(first.stderr()).toBe("");
  const runId = (first.lines[0] as { runId: string }).runId;
  first.proc.kill("SIGKILL");
  await first.exited;
  expect(first.proc.signalCode).toBe("SIGKILL");
  expect(first.lines).toHaveLength(1);

  const second = child(["resume", kind, where, dir, runId]);
  const code = await second.exited;
  expect(second.stderr()).toBe("");
  expect(code).toBe(0);
  return { runId, result: (second.lines[0] as { result: unknown }).result };
}

function expectCounts(dir: string) {
  const [s1, s2, s3] = [lines(dir, "s1"), lines(dir, "s2"), lines(dir, "s3")];
  expect(s1).toHaveLength(1);
  expect(s2).toHaveLength(1);
  expect(s3).toHaveLength(2);
  const [first, again] = s3.map((l) => l.split(" ")) as [[string, string], [string, string]];
  expect(again[0]).toBe(first[0]); // the same ctx.stepRunId
  expect([first[1], again[1]]).toEqual(["1", "2"]); // ctx.attempt goes on
}

const RESULT = { n: 142, fetchedAt: "step1", scores: [42, 43] };

describe("crash: SIGKILL while step 3 is in flight, resume in a new process", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("SqliteStore", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const db = join(tmp.dir, ".stepwise", "runs.db");
    const { runId, result } = await crashAndResume("sqlite", db, tmp.dir);
    expect(result).toEqual(RESULT);
    expectCounts(tmp.dir);
    const store = new SqliteStore(db);
    cleanups.push(() => store.close());
    expect(store.getRun(runId)).toMatchObject({ status: "completed", result: RESULT });
    expect(store.getRun(runId)?.lease).toBeUndefined();
    const kinds = store.getJournal(runId).map((e) => e.kind);
    expect(kinds.filter((k) => k === "run_resumed")).toHaveLength(1);
  }, 30_000);

  it.skipIf(!pgUp)("PostgresStore", async () => {
    const tmp = tempDir();
    const schema = uniqueSchema();
    cleanups.push(tmp.remove, () => dropSchema(schema));
    const { runId, result } = await crashAndResume("postgres", schema, tmp.dir);
    expect(result).toEqual(RESULT);
    expectCounts(tmp.dir);
    const store = new PostgresStore(PG_URL, { schema });
    cleanups.push(() => store.close());
    const run = await store.getRun(runId);
    expect(run).toMatchObject({ status: "completed", result: RESULT });
    expect(run?.lease).toBeUndefined();
  }, 30_000);
});
