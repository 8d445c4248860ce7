/**
 * Redis restarted mid-run: the runs go on when it is back. This test starts its own
 * redis-server (appendonly, fsync always) on a free port, SIGKILLs it mid-run and starts it again
 * on the same port and data directory; the machine's shared Redis is never touched.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow, step, type Context } from "stepwise-ai";
import { BullMQRuntime, createWorker, type StepWorker } from "stepwise-ai/bullmq";
import { freePort, startRedis as startPrivateRedis } from "./helpers.js";

const binary = spawnSync("redis-server", ["--version"]).status === 0;
if (!binary) {
  if (process.env.CI === "true") throw new Error("redis-server is not installed and CI=true: the Redis restart test needs it.");
  console.warn("\n!!! redis-server is not installed: SKIPPING the Redis restart test. !!!\n");
}

class Part extends Event<{ i: number }> {}
class Squared extends Event<{ sq: number }> {}

let executions = 0;
class Squares extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: Part })
  start(ev: StartEvent<{ n: number }>, ctx: Context) {
    ctx.store.set("n", ev.n);
    return Array.from({ length: ev.n }, (_, i) => new Part({ i }));
  }

  @step({ accepts: Part, emits: Squared, numWorkers: Infinity })
  async work(ev: Part) {
    await new Promise((r) => setTimeout(r, 300));
    executions++;
    return new Squared({ sq: ev.i * ev.i });
  }

  @step({ accepts: Squared, emits: StopEvent })
  gather(ev: Squared, ctx: Context) {
    const all = ctx.collectEvents(ev, Array.from({ length: ctx.store.get("n", 0) }, () => Squared));
    return all === null ? undefined : new StopEvent({ result: all.reduce((s, e) => s + e.sq, 0) });
  }
}

/** A private redis-server that keeps its data (append-only file, fsync always) across a restart in `dir`. */
const startRedis = (port: number, dir: string) => startPrivateRedis(port, dir, ["--appendonly", "yes", "--appendfsync", "always"]);

describe.skipIf(!binary)("Redis restarted mid-run", () => {
  let redis: ChildProcess | undefined;
  let dir = "";
  let worker: StepWorker | undefined;
  let runtime: BullMQRuntime | undefined;
  afterEach(async () => {
    await runtime?.close();
    await worker?.close(true);
    if (redis && redis.exitCode === null) redis.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs continue when it is back, each to the right result", async () => {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), "stepwise-redis-"));
    redis = await startRedis(port, dir);
    const url = `redis://127.0.0.1:${port}`;
    worker = await createWorker({ connection: url, workflows: [new Squares()], concurrency: 16, lock: { lockDuration: 1000, stalledInterval: 500, maxStalledCount: 5 }, onWarning: () => {} });
    runtime = new BullMQRuntime({ connection: url });
    const wf = new Squares({ runtime });
    runtime.runInProcess(wf, ["gather"]);
    executions = 0;
    const n = 6;
    const runs = Array.from({ length: 3 }, () => wf.run({ n }));
    while (executions < 2) await new Promise((r) => setTimeout(r, 10));
    const before = executions;
    // Down for a second, mid-run: no new data lost (fsync always); connections drop.
    const exited = new Promise((resolve) => redis?.once("exit", resolve));
    redis.kill("SIGKILL");
    await exited;
    await new Promise((r) => setTimeout(r, 1000));
    redis = await startRedis(port, dir);
    expect(before).toBeLessThan(3 * n);
    expect(await Promise.all(runs)).toEqual([55, 55, 55]);
    expect(executions).toBeGreaterThanOrEqual(3 * n);
  }, 120_000);
});
