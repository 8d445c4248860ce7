/** `stepwise worker FILE --redis URL`, as a real process, run from source. */
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BullMQRuntime } from "stepwise-ai/bullmq";
import { Greeter } from "./fixtures/greeter.js";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();
const root = join(import.meta.dirname, "../..");
const argv = (args: string[]) => ["--import", "tsx", "--conditions=stepwise-source", join(root, "src/cli/main.ts"), "worker", ...args];
const fixture = join(root, "test/runtime/fixtures/greeter.ts");

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, argv(args), { cwd: root, timeout: 110_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!available)("stepwise worker", () => {
  let prefix = "";
  afterEach(async () => dropPrefix(prefix));

  it("runs the steps of the file's workflows for a coordinator, and stops cleanly on SIGTERM", async () => {
    prefix = uniquePrefix();
    const child = spawn(process.execPath, argv([fixture, "--redis", REDIS_URL, "--prefix", prefix, "--concurrency", "2"]), { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes("taking step jobs")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`worker exited ${code}: ${stderr}`)));
    });
    expect(stdout).toMatch(/taking step jobs from Greeter \(lock 5000 ms, stall check 2500 ms, max stalls 2\)/);
    const runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    try {
      expect(await new Greeter({ runtime }).run({ name: "Ada" })).toBe(`hello Ada from ${child.pid}`);
    } finally {
      await runtime.close();
    }
    const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    expect(stdout).toMatch(/SIGTERM, finishing 0 running step job\(s\)/);
  }, 120_000);

  it("bad usage exits 2 with a message: unknown queue, unreachable Redis, missing --redis, --coordinate without a store", async () => {
    prefix = uniquePrefix();
    const [queue, redis, missing, coordinate] = await Promise.all([
      cli([fixture, "--redis", REDIS_URL, "--prefix", prefix, "--queues", "Nope"]),
      cli([fixture, "--redis", "redis://127.0.0.1:1"]),
      cli([fixture]),
      cli([fixture, "--redis", REDIS_URL, "--prefix", prefix, "--coordinate"]),
    ]);
    expect(coordinate).toMatchObject({ code: 2 });
    expect(coordinate.stderr).toMatch(/--coordinate needs the store the coordinators journal runs in: export it from ".*greeter\.ts" as `export const store = new PostgresStore\(pool\)`/);
    expect(queue).toMatchObject({ code: 2 });
    expect(queue.stderr).toMatch(/no queue named "Nope"; the workflows given have "Greeter"/);
    expect(redis).toMatchObject({ code: 2 });
    expect(redis.stderr).toMatch(/Cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toMatch(/--redis/);
  }, 120_000);
});
