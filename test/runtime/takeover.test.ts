/**
 * The coordinator dies: a `stepwise worker --coordinate` process (real processes, SQLite store
 * shared on this machine, real Redis) takes its runs over once their lease expires, picks up the
 * steps that finished on the worker meanwhile without running them again, and finishes the runs.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteStore } from "stepwise-ai/sqlite";
import { sumOfSquares } from "./fixtures/spread.js";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();
const root = join(import.meta.dirname, "../..");
const fixtures = join(root, "test/runtime/fixtures");
const execArgv = ["--import", "tsx", "--conditions=stepwise-source"];

/** Reads `${prefix}:test:log`: executions of `work` per stepRunId, started and done. */
export async function workLog(redis: Redis, prefix: string): Promise<{ starts: Map<string, number>; done: Map<string, number>; lines: string[] }> {
  const lines = await redis.lrange(`${prefix}:test:log`, 0, -1);
  const starts = new Map<string, number>();
  const done = new Map<string, number>();
  for (const line of lines) {
    const [kind = "", sr = ""] = line.split(" ");
    const m = kind === "start" ? starts : done;
    m.set(sr, (m.get(sr) ?? 0) + 1);
  }
  return { starts, done, lines };
}

describe.skipIf(!available)("a coordinator SIGKILLed mid-run", () => {
  let prefix = "";
  let dir = "";
  const children = new Set<ChildProcess>();
  afterEach(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    children.clear();
    await dropPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a `stepwise worker --coordinate` continues its runs to the right result; no finished step runs again", async () => {
    prefix = uniquePrefix();
    dir = mkdtempSync(join(tmpdir(), "stepwise-takeover-"));
    const db = join(dir, "runs.db");
    const env = { ...process.env, STEPWISE_TEST_PREFIX: prefix, STEPWISE_TEST_REDIS: REDIS_URL, STEPWISE_TEST_DB: db };
    const redis = new Redis(REDIS_URL);
    try {
      // The worker that also coordinates: it runs the steps from the start, and takes runs over once their lease expires.
      const worker = spawn(process.execPath, [...execArgv, join(root, "src/cli/main.ts"), "worker", join(fixtures, "spread.ts"), "--redis", REDIS_URL, "--prefix", prefix, "--concurrency", "32", "--coordinate"], {
        cwd: root,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(worker);
      let out = "";
      let err = "";
      worker.stderr.on("data", (d: Buffer) => (err += d.toString()));
      await new Promise<void>((resolve, reject) => {
        worker.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("taking step jobs")) resolve();
        });
        worker.once("exit", (code) => reject(new Error(`worker exited ${code}: ${err}`)));
      });
      expect(out).toMatch(/taking over runs whose coordinator died/);

      // The coordinator: 3 runs of 6 steps (2 of 100 ms, 4 of 3 s); killed once the runs are recorded and 2 steps are done.
      const runs = 3;
      const n = 6;
      const coordinator = fork(join(fixtures, "coordinator.ts"), [String(n), "3000", String(runs)], { execArgv, env, stdio: ["ignore", "inherit", "inherit", "ipc"] });
      children.add(coordinator);
      const runIds: string[] = [];
      coordinator.on("message", (m: { runId: string }) => runIds.push(m.runId));
      const doneCount = async () => [...(await workLog(redis, prefix)).done.values()].reduce((a, b) => a + b, 0);
      while (runIds.length < runs || (await doneCount()) < 2) await new Promise((r) => setTimeout(r, 20));
      const { done: before } = await workLog(redis, prefix);
      coordinator.kill("SIGKILL");
      const killedAt = [...before.values()].reduce((a, b) => a + b, 0);
      expect(killedAt).toBeGreaterThanOrEqual(2);
      expect(killedAt).toBeLessThanOrEqual(2 * runs);

      const store = new SqliteStore(db);
      try {
        const ended = () => runIds.map((id) => store.getRun(id)?.status);
        while (ended().some((s) => s === "running" || s === "waiting")) await new Promise((r) => setTimeout(r, 100));
        for (const id of runIds) expect(store.getRun(id)).toMatchObject({ status: "completed", result: sumOfSquares(n) });
        for (const id of runIds) expect(out).toContain(`taking over run ${id} of Spread`);
        // Every step ran once: the ones done before the kill, and the ones that finished (or were running) while no coordinator was alive.
        const { starts, done } = await workLog(redis, prefix);
        expect(starts.size).toBe(runs * n);
        expect([...starts.values()].every((c) => c === 1)).toBe(true);
        expect([...done.values()].every((c) => c === 1)).toBe(true);
        // The journal took each step's one execution: the exec ids in the results are the ones that ran.
        for (const id of runIds) {
          const journal = store.getJournal(id);
          const squared = journal.filter((e) => e.kind === "event" && e.event.type === "Squared");
          expect(squared).toHaveLength(n);
          const finished = journal.filter((e) => e.kind === "step_finished" && e.step === "work");
          expect(new Set(finished.map((e) => (e as { stepRunId: string }).stepRunId)).size).toBe(n);
        }
      } finally {
        store.close();
      }
      const exit = new Promise<number | null>((resolve) => worker.once("exit", resolve));
      worker.kill("SIGTERM");
      expect(await exit).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});
