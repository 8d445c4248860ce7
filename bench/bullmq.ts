/**
 * The floor under `stepwise-ai/bullmq`: what bare BullMQ costs on this machine, measured on a
 * private Redis (a `redis-server` started on a Unix socket for this run, so other users of the
 * machine's Redis do not pollute `INFO commandstats`).
 *
 *   npx tsx bench/bullmq.ts                  every measurement
 *   npx tsx bench/bullmq.ts --quick          small sizes; checks counts, never times
 *   npx tsx bench/bullmq.ts --redis URL      use this Redis instead of a private one
 *   npx tsx bench/bullmq.ts --json out.json  also write the raw figures
 *
 * Measurements:
 * - round trip: Queue.add → Worker (concurrency 1) → job.waitUntilFinished, one job at a time,
 *   for a 0 ms and a 10 ms job; the figure is the mean over the sleep.
 * - Redis commands per job: `INFO commandstats` summed before and after N sequential jobs with one
 *   Worker and one QueueEvents attached (commands run inside BullMQ's Lua scripts count too, as
 *   Redis 7 counts them; the EVALSHA calls alone are the client round trips).
 * - throughput: N 10 ms jobs added in bulk, drained by 1 and by 4 worker processes at concurrency 1.
 * - fan-out: 1,000 × 10 ms jobs added in bulk, drained by 4 worker processes at concurrency 64.
 *
 * Then the same through stepwise (`BullMQRuntime` + `createWorker`), in the same run:
 * - step round trip: one-step runs one after another, the worker in this process (as the floor's);
 * - scaling: a run fanning out N 10 ms steps, on 1 and on 4 worker processes at concurrency 1;
 * - fan-out: 1,000 × 10 ms steps over 4 worker processes at concurrency 64, joined in the coordinator.
 * Run from source: `npm run bench:bullmq` (tsx with the stepwise-source condition).
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents, Worker, type ConnectionOptions } from "bullmq";
import { Redis } from "ioredis";
import { Event, StartEvent, StopEvent, Workflow, step, type Context } from "stepwise-ai";
import { BullMQRuntime, createWorker } from "stepwise-ai/bullmq";

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
/** Worker children run the bench's TypeScript and stepwise from source, as the parent does. */
const CHILD_ARGV = ["--import", "tsx", "--conditions=stepwise-source"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connection options that survive being passed to a child process as JSON. */
type Conn = { path: string } | { host: string; port: number; db?: number };

class Part extends Event<{ n: number }> {}
class Done extends Event<{ n: number }> {}

/** One step: the round trip. */
class Single extends Workflow<{ ms: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async only(ev: StartEvent<{ ms: number }>) {
    if (ev.ms > 0) await sleep(ev.ms);
    return new StopEvent({ result: 1 });
  }
}

/** Fan-out of `n` steps sleeping `ms`, joined in the coordinator (runInProcess). */
class Fan extends Workflow<{ n: number; ms: number }, number> {
  @step({ accepts: StartEvent, emits: Part })
  start(ev: StartEvent<{ n: number; ms: number }>, ctx: Context) {
    ctx.store.set("ms", ev.ms);
    ctx.store.set("n", ev.n);
    return Array.from({ length: ev.n }, (_, i) => new Part({ n: i }));
  }

  @step({ accepts: Part, emits: Done, numWorkers: Infinity })
  async work(ev: Part, ctx: Context) {
    await sleep(ctx.store.get("ms", 10));
    return new Done({ n: ev.n });
  }

  // One at a time: even in the coordinator, a step run through the runtime reads the state as handed out.
  @step({ accepts: Done, emits: StopEvent, numWorkers: 1 })
  join(ev: Done, ctx: Context) {
    const got = ctx.store.get("got", 0) + 1;
    ctx.store.set("got", got);
    return got === ctx.store.get("n", -1) ? new StopEvent({ result: got }) : undefined;
  }
}

const stepwiseWorkflows = () => [new Single(), new Fan()];

// ---------- worker child: `bench/bullmq.ts --worker QUEUE PREFIX CONN_JSON CONCURRENCY SLEEP_MS`
if (args[0] === "--worker") {
  const [, queue, prefix, conn, conc, ms] = args as [string, string, string, string, string, string];
  const wait = Number(ms);
  const worker = new Worker(queue, async () => (wait > 0 ? sleep(wait).then(() => 1) : 1), {
    connection: { ...(JSON.parse(conn) as Conn), maxRetriesPerRequest: null },
    prefix,
    concurrency: Number(conc),
    autorun: false,
  });
  await worker.waitUntilReady();
  process.on("message", (m) => {
    if (m === "stop") void worker.close().then(() => process.exit(0));
  });
  process.on("disconnect", () => process.exit(0)); // the bench died: do not linger
  process.send?.("ready");
  await worker.run();
} else if (args[0] === "--stepwise-worker") {
  // ---------- stepwise worker child: `bench/bullmq.ts --stepwise-worker PREFIX CONN_JSON CONCURRENCY`
  const [, prefix, conn, conc] = args as [string, string, string, string];
  const worker = await createWorker({ connection: JSON.parse(conn) as Conn, prefix, workflows: stepwiseWorkflows(), concurrency: Number(conc) });
  process.on("message", (m) => {
    if (m === "stop") void worker.close().then(() => process.exit(0));
  });
  process.on("disconnect", () => process.exit(0));
  process.send?.("ready");
} else {
  await main();
}

async function startPrivateRedis(): Promise<{ conn: Conn; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-redis-"));
  const path = join(dir, "redis.sock");
  const p = spawn("redis-server", ["--port", "0", "--unixsocket", path, "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  await new Promise<void>((resolve, reject) => {
    p.once("error", reject);
    const probe = async () => {
      for (let i = 0; i < 100; i++) {
        const r = new Redis({ path, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        r.on("error", () => {}); // the socket is not there yet: retried below
        try {
          await r.connect();
          await r.ping();
          r.disconnect();
          return resolve();
        } catch {
          r.disconnect();
          await sleep(50);
        }
      }
      reject(new Error("private redis-server did not start"));
    };
    void probe();
  });
  return {
    conn: { path },
    stop: () => {
      p.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function parseUrl(url: string): Conn {
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || 0);
  return { host: u.hostname, port: Number(u.port || 6379), ...(db ? { db } : {}) };
}

async function commandStats(r: Redis): Promise<Map<string, number>> {
  const text = await r.info("commandstats");
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

async function main() {
  const quick = args.includes("--quick");
  const url = option("--redis");
  const jsonOut = option("--json");
  const priv = url ? undefined : await startPrivateRedis();
  const conn: Conn = url ? parseUrl(url) : (priv as { conn: Conn }).conn;
  const connection: ConnectionOptions = { ...conn, maxRetriesPerRequest: null };
  const admin = new Redis({ ...conn });
  const prefix = `bench-${process.pid}`;
  const results: Record<string, unknown> = { node: process.version, redis: (await admin.info("server")).match(/redis_version:(\S+)/)?.[1] };
  let wrong = 0;
  const here = fileURLToPath(import.meta.url);

  try {
    // ---------- round trip, one job at a time, in one process
    for (const ms of [0, 10]) {
      const name = `rt${ms}`;
      const queue = new Queue(name, { connection, prefix });
      const events = new QueueEvents(name, { connection, prefix });
      const worker = new Worker(name, async () => (ms ? sleep(ms).then(() => 1) : 1), { connection, prefix, concurrency: 1 });
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
      const n = quick ? 20 : 300;
      for (let i = 0; i < 10; i++) await (await queue.add("j", { i })).waitUntilFinished(events); // warm-up
      const before = await commandStats(admin);
      const t0 = performance.now();
      let sum = 0;
      for (let i = 0; i < n; i++) sum += (await (await queue.add("j", { i })).waitUntilFinished(events)) as number;
      const elapsed = performance.now() - t0;
      const cmds = delta(before, await commandStats(admin));
      if (sum !== n) wrong++;
      const total = [...cmds.values()].reduce((a, b) => a + b, 0);
      const top = [...cmds.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${(v / n).toFixed(1)}`);
      results[`roundTrip${ms}ms`] = {
        jobs: n,
        meanMs: elapsed / n,
        overSleepMs: elapsed / n - ms,
        redisCommandsPerJob: total / n,
        evalshaPerJob: (cmds.get("evalsha") ?? 0) / n,
        topCommandsPerJob: top,
      };
      console.log(`round trip, ${ms} ms job: ${(elapsed / n).toFixed(2)} ms/job (${(elapsed / n - ms).toFixed(2)} ms over the sleep); ${(total / n).toFixed(1)} Redis commands/job, ${((cmds.get("evalsha") ?? 0) / n).toFixed(1)} of them EVALSHA; top: ${top.join(", ")}`);
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }

    // ---------- throughput over worker processes
    const runProcs = async (label: string, procs: number, concurrency: number, n: number, ms: number) => {
      const name = `tp-${label}`;
      const queue = new Queue(name, { connection, prefix });
      const events = new QueueEvents(name, { connection, prefix });
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
      const children: ChildProcess[] = [];
      await Promise.all(
        Array.from({ length: procs }, () => {
          const c = fork(here, ["--worker", name, prefix, JSON.stringify(conn), String(concurrency), String(ms)], { execArgv: CHILD_ARGV, stdio: "inherit" });
          children.push(c);
          return new Promise<void>((resolve, reject) => {
            c.once("message", () => resolve());
            c.once("exit", (code) => reject(new Error(`worker exited ${code}`)));
          });
        }),
      );
      let done = 0;
      let finished!: () => void;
      const all = new Promise<void>((r) => (finished = r));
      events.on("completed", () => {
        if (++done === n) finished();
      });
      const before = await commandStats(admin);
      const t0 = performance.now();
      await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: "j", data: { i } })));
      await all;
      const elapsed = performance.now() - t0;
      const cmds = delta(before, await commandStats(admin));
      const total = [...cmds.values()].reduce((a, b) => a + b, 0);
      const counts = await queue.getJobCounts("completed", "failed");
      if (counts.completed !== n || counts.failed !== 0) wrong++;
      for (const c of children) c.send("stop");
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      return { jobs: n, procs, concurrency, ms: elapsed, jobsPerSec: (n / elapsed) * 1000, redisCommandsPerJob: total / n };
    };

    const tpN = quick ? 40 : 400;
    const one = await runProcs("1x1", 1, 1, tpN, 10);
    console.log(`throughput, 10 ms jobs, 1 worker process × concurrency 1: ${one.jobsPerSec.toFixed(0)} jobs/s (${tpN} jobs, ${one.ms.toFixed(0)} ms, ${one.redisCommandsPerJob.toFixed(1)} commands/job)`);
    const four = await runProcs("4x1", 4, 1, tpN * 2, 10);
    console.log(`throughput, 10 ms jobs, 4 worker processes × concurrency 1: ${four.jobsPerSec.toFixed(0)} jobs/s (${tpN * 2} jobs, ${four.ms.toFixed(0)} ms, ${four.redisCommandsPerJob.toFixed(1)} commands/job); scaling ${(four.jobsPerSec / one.jobsPerSec / 4).toFixed(2)}× of linear`);
    const fanN = quick ? 100 : 1000;
    const fan = await runProcs("fan", 4, 64, fanN, 10);
    console.log(`fan-out, ${fanN} × 10 ms jobs in bulk, 4 worker processes × concurrency 64: ${fan.ms.toFixed(0)} ms (${fan.jobsPerSec.toFixed(0)} jobs/s, ${fan.redisCommandsPerJob.toFixed(1)} commands/job)`);
    Object.assign(results, { throughput1x1: one, throughput4x1: four, fanout4x64: fan, scaling1to4: four.jobsPerSec / one.jobsPerSec / 4 });

    // ---------- the same through stepwise
    const swPrefix = `${prefix}-sw`;
    for (const ms of [0, 10]) {
      const worker = await createWorker({ connection: conn, prefix: `${swPrefix}${ms}`, workflows: stepwiseWorkflows(), concurrency: 1 });
      const runtime = new BullMQRuntime({ connection: conn, prefix: `${swPrefix}${ms}` });
      const wf = new Single({ runtime, timeout: null });
      const n = quick ? 20 : 300;
      for (let i = 0; i < 10; i++) await wf.run({ ms });
      const before = await commandStats(admin);
      const t0 = performance.now();
      let sum = 0;
      for (let i = 0; i < n; i++) sum += await wf.run({ ms });
      const elapsed = performance.now() - t0;
      const cmds = delta(before, await commandStats(admin));
      if (sum !== n) wrong++;
      const total = [...cmds.values()].reduce((a, b) => a + b, 0);
      const floor = (results[`roundTrip${ms}ms`] as { meanMs: number }).meanMs;
      results[`stepwiseRoundTrip${ms}ms`] = { runs: n, meanMs: elapsed / n, overFloorMs: elapsed / n - floor, redisCommandsPerStep: total / n };
      console.log(`stepwise, one ${ms} ms step per run: ${(elapsed / n).toFixed(2)} ms/run, ${(elapsed / n - floor).toFixed(2)} ms over the bare job's round trip; ${(total / n).toFixed(1)} Redis commands/step`);
      await runtime.close();
      await worker.close();
    }

    const runFan = async (label: string, procs: number, concurrency: number, n: number, ms: number) => {
      const p = `${swPrefix}-${label}`;
      const children = await Promise.all(
        Array.from({ length: procs }, () => {
          const c = fork(here, ["--stepwise-worker", p, JSON.stringify(conn), String(concurrency)], { execArgv: CHILD_ARGV, stdio: "inherit" });
          return new Promise<ChildProcess>((resolve, reject) => {
            c.once("message", () => resolve(c));
            c.once("exit", (code) => reject(new Error(`stepwise worker exited ${code}`)));
          });
        }),
      );
      const runtime = new BullMQRuntime({ connection: conn, prefix: p });
      const wf = new Fan({ runtime, timeout: null });
      runtime.runInProcess(wf, ["join"]);
      await wf.run({ n: 2, ms: 0 }); // warm-up: queues, connections
      const before = await commandStats(admin);
      const t0 = performance.now();
      const got = await wf.run({ n, ms });
      const elapsed = performance.now() - t0;
      const cmds = delta(before, await commandStats(admin));
      const total = [...cmds.values()].reduce((a, b) => a + b, 0);
      if (got !== n) wrong++;
      for (const c of children) c.send("stop");
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
      await runtime.close();
      return { steps: n, procs, concurrency, ms: elapsed, stepsPerSec: (n / elapsed) * 1000, redisCommandsPerStep: total / (n + 1) };
    };
    const s1 = await runFan("1x1", 1, 1, tpN, 10);
    console.log(`stepwise, a run fanning out ${tpN} × 10 ms steps, 1 worker process × concurrency 1: ${s1.stepsPerSec.toFixed(0)} steps/s (${s1.ms.toFixed(0)} ms; bare: ${one.jobsPerSec.toFixed(0)} jobs/s)`);
    const s4 = await runFan("4x1", 4, 1, tpN * 2, 10);
    console.log(`stepwise, ${tpN * 2} × 10 ms steps, 4 worker processes × concurrency 1: ${s4.stepsPerSec.toFixed(0)} steps/s (${s4.ms.toFixed(0)} ms; bare: ${four.jobsPerSec.toFixed(0)} jobs/s); scaling ${(s4.stepsPerSec / s1.stepsPerSec / 4).toFixed(2)}× of linear`);
    const sf = await runFan("fan", 4, 64, fanN, 10);
    console.log(`stepwise, fan-out ${fanN} × 10 ms steps, 4 worker processes × concurrency 64: ${sf.ms.toFixed(0)} ms (bare: ${fan.ms.toFixed(0)} ms, ${(sf.ms / fan.ms).toFixed(2)}×); ${sf.redisCommandsPerStep.toFixed(1)} Redis commands/step`);
    Object.assign(results, { stepwise1x1: s1, stepwise4x1: s4, stepwiseFanout4x64: sf, stepwiseScaling1to4: s4.stepsPerSec / s1.stepsPerSec / 4, stepwiseFanoutVsBare: sf.ms / fan.ms });
  } finally {
    admin.disconnect();
    priv?.stop();
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
  if (wrong) {
    console.error(`${wrong} measurement(s) returned wrong counts`);
    process.exit(1);
  }
}
