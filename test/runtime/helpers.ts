import { fork, spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { Redis } from "ioredis";

/** The machine's Redis (override with STEPWISE_TEST_REDIS). */
export const REDIS_URL = process.env.STEPWISE_TEST_REDIS ?? "redis://127.0.0.1:6379";

let reachable: Promise<boolean> | undefined;

/**
 * True when Redis answers. When it does not: under CI (CI=true) this throws, so the suite fails;
 * elsewhere it warns loudly and the caller skips.
 */
export function redisAvailable(): Promise<boolean> {
  reachable ??= (async () => {
    const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
    r.on("error", () => {});
    try {
      await r.connect();
      await r.ping();
      return true;
    } catch (err) {
      if (process.env.CI === "true") throw new Error(`Redis at ${REDIS_URL} is unreachable and CI=true: ${String(err)}`);
      console.warn(`\n!!! Redis at ${REDIS_URL} is unreachable (${String(err)}): SKIPPING the BullMQ runtime tests. !!!\n`);
      return false;
    } finally {
      r.disconnect();
    }
  })();
  return reachable;
}

/** A fresh key prefix for one test (no ":"); `dropPrefix` deletes its keys. */
export function uniquePrefix(): string {
  return `swt${process.pid}x${Date.now().toString(36)}x${Math.random().toString(36).slice(2, 8)}`;
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, found] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (found.length > 0) await r.unlink(...found);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** How many keys `prefix` has (for leak checks). */
export async function countKeys(prefix: string): Promise<number> {
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    let n = 0;
    do {
      const [next, found] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      n += found.length;
    } while (cursor !== "0");
    return n;
  } finally {
    r.disconnect();
  }
}

/** A TCP port nothing listens on now (for a private redis-server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a private `redis-server` on `port` with data in `dir` and `args`; resolves once it answers (10 s at most). */
export async function startRedis(port: number, dir: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", ...args], { stdio: "ignore" });
  const p = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  p.on("error", () => {});
  try {
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited (${child.exitCode})`);
      try {
        await p.connect();
        await p.ping();
        return child;
      } catch {
        p.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    child.kill("SIGKILL");
    throw new Error(`redis-server on port ${port} did not answer`);
  } finally {
    p.disconnect();
  }
}

/**
 * Forks a worker process running `script` (TypeScript, through tsx) with `args`, on Redis
 * prefix `prefix`; resolves once it says it is ready (its first IPC message). `track` gets the
 * child at once, so a test can kill one that never gets ready.
 */
export function forkWorker(script: string, args: readonly string[], prefix: string, track?: (child: ChildProcess) => void): Promise<ChildProcess> {
  const child = fork(script, [...args], {
    execArgv: ["--import", "tsx", "--conditions=stepwise-source"],
    env: { ...process.env, STEPWISE_TEST_PREFIX: prefix, STEPWISE_TEST_REDIS: REDIS_URL },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  track?.(child);
  return new Promise((resolve, reject) => {
    child.once("message", () => resolve(child));
    child.once("exit", (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before it was ready`)));
  });
}
