/**
 * The HTTP server's costs (`stepwise-ai/server`), each server in a child process of its own and
 * the load generator (autocannon) in this one:
 *
 *   npm run bench:server                     every measurement
 *   npm run bench:server -- --quick          small sizes; checks every count and result, never a time
 *   npm run bench:server -- --json out.json  also write the raw figures
 *   npm run bench:server -- --streams-only   the SSE streams' memory alone
 *   npm run build && npm run bench:server -- --dist   the servers on the built package, as users run it
 *   npm run bench:server -- --modes floor,engine,memory   only these servers (e.g. on a Node.js
 *                                            the SQLite addon was not built for)
 *   npm run bench:server -- --no-pin         servers and load generator on any CPU (see below)
 *   npm run build && npm run bench:server -- --dist --count   instructions per run, counted by
 *                                            valgrind after a warm-up (see below; ~2 min a server)
 *
 * Measurements:
 * - runs/s of a two-step workflow over HTTP at 100 connections (`POST /workflows/two/runs?wait=10`,
 *   each answer the ended run with its result), in memory and on SQLite, against the floor: a bare
 *   Hono handler on @hono/node-server doing the same work (parse the JSON body, check the input,
 *   name the run, two awaited steps, answer JSON). The goal is ≥ 0.7× the floor in memory.
 *   A second line, `engine`, is the same bare handler running the two steps as the stepwise
 *   workflow the server serves (`wf.run(input)`), answering as the floor does: between the floor
 *   and it lies the engine's cost per run, between it and `memory` the server's own.
 *   On Linux with `taskset` and two CPUs or more, the servers run on the last CPU and the load
 *   generator on the others, each server in turn alone on its CPU: a server then does not share
 *   its CPU with the load generator, and its figure is its own rather than how the scheduler
 *   placed the two (on two CPUs unpinned, the scheduler's choices move a server's runs/s by ±10%
 *   from one round to the next).
 * - With --count, instead of the above: each server alone under valgrind (callgrind), first
 *   `--count-warm` requests (default 80,000) uncounted, so that V8 has optimized what it will,
 *   then `--count-runs` requests (default 30,000) counted in five windows, the median window's
 *   instructions per run reported, and the mean (a full collection falls in one window now and
 *   then: 97,967 to 114,918 for the floor's 10,000 in one session). Counts depend much less
 *   than times on how busy the machine is, but they still move 2-15% when something else runs
 *   meanwhile: count on a quiet machine. `node --predictable` keeps the collector and
 *   the compiler on the main thread, so every count is of the same work. Counted from the start
 *   instead, the first thousands of requests are mostly V8 compiling (a third of all
 *   instructions between the 2,000th and 6,000th request), which the servers share unevenly.
 * - 1,000 open SSE streams on one server: 1,000 runs waiting for an answer, each followed by one
 *   `GET /runs/:id/events` reader that has received the run's events so far; the server's memory
 *   (after GC) before and after the streams opened, per stream. The goal is ≤ 50 KB per stream.
 */
import { execFileSync, fork, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Hono } from "hono";
import { serve as nodeServe } from "@hono/node-server";
import { Context, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, step, type Store } from "stepwise-ai";
import { createServer, serve } from "stepwise-ai/server";
import { SqliteStore } from "stepwise-ai/sqlite";

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const dist = args.includes("--dist");

/** The CPU the servers run on and those the load generator runs on, when they can be pinned. */
function pinning(): { server: string; load: string } | undefined {
  if (args.includes("--no-pin") || process.platform !== "linux" || availableParallelism() < 2) return undefined;
  if (spawnSync("taskset", ["-V"]).status !== 0) return undefined;
  const last = availableParallelism() - 1;
  return { server: String(last), load: last === 1 ? "0" : `0-${last - 1}` };
}
const pin = args[0] === "--child" ? undefined : pinning();

/** With --dist: the built package must be newer than every source file, or the figures would be of old code. */
function checkBuilt(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const built = join(root, "dist/server/index.js");
  if (!existsSync(built)) throw new Error("--dist: dist/ is missing; run `npm run build` first.");
  const at = statSync(built).mtimeMs;
  const walk = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const stale = e.isDirectory() ? walk(p) : statSync(p).mtimeMs > at ? p : undefined;
      if (stale) return stale;
    }
    return undefined;
  };
  const stale = walk(join(root, "src"));
  if (stale) throw new Error(`--dist: ${stale} is newer than dist/; run \`npm run build\` first.`);
}

class Mid extends Event<{ n: number }> {}

/** Two steps: StartEvent → Mid → StopEvent. */
class Two extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: Mid })
  async first(ev: StartEvent<{ n: number }>) {
    return new Mid({ n: ev.n + 1 });
  }

  @step({ accepts: Mid, emits: StopEvent })
  async second(ev: Mid) {
    return new StopEvent({ result: ev.n * 2 });
  }
}

class Ask extends InputRequiredEvent<{ prompt: string }> {}
class Reply extends HumanResponseEvent<{ response: string }> {}
class Progress extends Event<{ n: number }> {}

/** Streams one event, then waits for a person. */
class Waiter extends Workflow<{ n: number }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply })
  async ask(ev: StartEvent<{ n: number }>, ctx: Context) {
    ctx.writeEventToStream(new Progress({ n: ev.n }));
    const r = await ctx.waitForEvent(Reply, { waiterEvent: new Ask({ prompt: `run ${ev.n}?` }) });
    return new StopEvent({ result: r.response });
  }
}

/** The floor's two steps: the same work as Two's, as plain awaited functions. */
const first = async (n: number) => n + 1;
const second = async (n: number) => n * 2;

type Mode = "floor" | "engine" | "memory" | "sqlite" | "streams";

/* ------------------------------------------------------------------ child: one server */

async function child(mode: Mode): Promise<void> {
  let port: number;
  let store: Store | undefined;
  let dir: string | undefined;
  if (mode === "floor" || mode === "engine") {
    const app = new Hono();
    const two = new Two();
    // What a user's own handler would do: parse the body, check the input, name the run, run
    // the two steps, answer JSON with the run's id, status and result.
    app.post("/run", async (c) => {
      const body = await c.req.json<{ n?: unknown }>();
      if (body === null || typeof body !== "object" || typeof body.n !== "number") return c.json({ error: { code: "INVALID_INPUT", message: "n must be a number" } }, 422);
      if (mode === "engine") {
        const run = two.run({ n: body.n });
        const result = await run;
        return c.json({ runId: run.runId, status: "completed", result });
      }
      const runId = randomUUID();
      const a = await first(body.n);
      const b = await second(a);
      return c.json({ runId, status: "completed", result: b });
    });
    port = await new Promise<number>((resolve) => {
      const s = nodeServe({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port));
      void s;
    });
  } else {
    if (mode === "sqlite") {
      dir = mkdtempSync(join(tmpdir(), "stepwise-bench-server-"));
      store = new SqliteStore(join(dir, "runs.db"));
    }
    const workflows = mode === "streams" ? { waiter: new Waiter({ timeout: null }) } : { two: new Two(store ? { store } : {}) };
    const app = createServer({ workflows, ...(store ? { store } : {}), heartbeat: 3600 });
    const running = await serve(app, { port: 0, graceSeconds: 0 });
    port = running.port;
  }
  process.on("message", (m: { kind: string }) => {
    if (m.kind === "memory") {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      process.send?.({ kind: "memory", usage: process.memoryUsage() });
    }
    if (m.kind === "cpu") process.send?.({ kind: "cpu", usage: process.cpuUsage() });
    if (m.kind === "exit") {
      if (dir) rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
  process.send?.({ kind: "ready", port });
}

/* ------------------------------------------------------------------ parent */

interface Server {
  proc: ChildProcess;
  url: string;
  memory(): Promise<NodeJS.MemoryUsage>;
  /** The server process's CPU time so far, in µs (user + system). */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

/** A command that starts node for a server (taskset, valgrind), its arguments, and node's own arguments under it. */
interface Wrapper {
  command: string;
  args: string[];
  nodeArgs: string[];
}

async function start(mode: Mode, under?: Wrapper): Promise<Server> {
  // With --dist the servers run the built package (what users run); else the sources through tsx,
  // whose keepNames wraps every named closure in a call that sets its name.
  const execArgv = ["--expose-gc", "--import", "tsx", ...(dist ? [] : ["--conditions=stepwise-source"])];
  // Pinned: node started by taskset, which keeps the IPC channel's descriptor (as valgrind does).
  const wrap = under ?? (pin ? { command: "taskset", args: ["-c", pin.server], nodeArgs: [] } : undefined);
  const stdio = ["ignore", "inherit", "inherit", "ipc"] as const;
  const proc = fork(fileURLToPath(import.meta.url), ["--child", mode], wrap ? { execPath: wrap.command, execArgv: [...wrap.args, process.execPath, ...wrap.nodeArgs, ...execArgv], stdio: [...stdio] } : { execArgv, stdio: [...stdio] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`${mode} server exited with ${code}`)));
    proc.on("message", (m: { kind: string; port?: number }) => {
      if (m.kind === "ready") resolve(m.port as number);
    });
  });
  const memory = () =>
    new Promise<NodeJS.MemoryUsage>((resolve) => {
      const on = (m: { kind: string; usage?: NodeJS.MemoryUsage }) => {
        if (m.kind !== "memory") return;
        proc.off("message", on);
        resolve(m.usage as NodeJS.MemoryUsage);
      };
      proc.on("message", on);
      proc.send({ kind: "memory" });
    });
  const cpu = () =>
    new Promise<number>((resolve) => {
      const on = (m: { kind: string; usage?: NodeJS.CpuUsage }) => {
        if (m.kind !== "cpu") return;
        proc.off("message", on);
        resolve((m.usage as NodeJS.CpuUsage).user + (m.usage as NodeJS.CpuUsage).system);
      };
      proc.on("message", on);
      proc.send({ kind: "cpu" });
    });
  const stop = async () => {
    proc.removeAllListeners("exit");
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.send({ kind: "exit" });
    await exited;
  };
  return { proc, url: `http://127.0.0.1:${port}`, memory, cpu, stop };
}

/** One load: `connections` connections for `seconds`, every answer checked by status; a sample checked by body. */
async function load(name: string, server: Server, path: string, seconds: number, connections: number): Promise<{ name: string; runsPerSecond: number; cpuMicrosPerRun: number; requests: number; non2xx: number; errors: number; latencyP50: number; latencyP99: number }> {
  const url = server.url;
  const body = JSON.stringify({ n: 20 });
  const sample = (await (await fetch(url + path, { method: "POST", body, headers: { "Content-Type": "application/json" } })).json()) as { status: string; result: number };
  if (sample.status !== "completed" || sample.result !== 42) throw new Error(`${name}: a sample run answered ${JSON.stringify(sample)}, not the completed run with result 42`);
  const cpu0 = await server.cpu();
  const r = await autocannon({ url: url + path, method: "POST", body, headers: { "Content-Type": "application/json" }, connections, duration: seconds });
  const cpu1 = await server.cpu();
  const requests = r.requests.total;
  // The server's CPU time per answered run does not depend on how busy the machine is, as runs/s does.
  const out = { name, runsPerSecond: r["2xx"] / seconds, cpuMicrosPerRun: Math.round((cpu1 - cpu0) / Math.max(1, r["2xx"])), requests, non2xx: r.non2xx, errors: r.errors + r.timeouts, latencyP50: r.latency.p50, latencyP99: r.latency.p99 };
  if (out.non2xx > 0 || out.errors > 0) throw new Error(`${name}: ${out.non2xx} answers were not 2xx and ${out.errors} requests failed`);
  if (r["2xx"] === 0) throw new Error(`${name}: no run answered`);
  return out;
}

/** The windows a --count is split into (the median counts). */
const WINDOWS = 5;

/**
 * With --count: each server alone under valgrind's callgrind, instrumentation off for `warm`
 * requests, then on for `runs` requests in {@link WINDOWS} windows; the instructions per run of
 * the median window.
 */
async function countLoads(results: Record<string, unknown>, modes: (readonly [Mode, string])[]): Promise<void> {
  for (const tool of ["valgrind", "callgrind_control"]) {
    if (spawnSync(tool, ["--version"]).error) throw new Error(`--count needs ${tool} (Debian: apt-get install valgrind)`);
  }
  const warm = Number(option("--count-warm") ?? 80_000);
  const runs = Number(option("--count-runs") ?? 30_000);
  if (!(Number.isInteger(warm) && warm >= 0 && Number.isInteger(runs) && runs >= 100 * WINDOWS)) throw new Error(`--count-warm must be a whole number ≥ 0 and --count-runs one ≥ ${100 * WINDOWS}`);
  const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-count-"));
  const counted: Record<string, number> = {};
  const windows: Record<string, number[]> = {};
  try {
    for (const [mode, path] of modes) {
      const vg = { command: "valgrind", args: ["-q", "--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${join(dir, `${mode}.%p`)}`], nodeArgs: ["--predictable"] };
      const server = await start(mode, vg);
      const pid = String(server.proc.pid);
      const control = (flag: string) => {
        const r = spawnSync("callgrind_control", [flag, pid], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`callgrind_control ${flag} ${pid} failed: ${r.stderr || r.stdout}`);
      };
      try {
        const t0 = Date.now();
        await loadAmount(mode, server, path, warm);
        // WINDOWS windows, each dumped (which zeroes the counters): the median window counts, so
        // that one a full collection fell in does not. (A collection forced before the first
        // window made that window count three times the others: the code was compiled again.)
        const each = Math.floor(runs / WINDOWS);
        const perWindow: number[] = [];
        // Instrumentation stays on from the first window to the last: switched off and on between
        // them, callgrind's dumps did not add up.
        control("--instr=on");
        for (let w = 0; w < WINDOWS; w++) {
          await loadAmount(mode, server, path, each);
          control("--dump");
          const file = readdirSync(dir).find((f) => f.startsWith(`${mode}.${pid}.`) && f.endsWith(`.${w + 1}`));
          const text = file ? readFileSync(join(dir, file), "utf8") : "";
          const total = /^(?:summary|totals): (\d+)/m.exec(text)?.[1];
          if (!total) throw new Error(`${mode}: callgrind wrote no count for window ${w + 1} (${file ?? "no file"} in ${dir})`);
          perWindow.push(Math.round(Number(total) / each));
        }
        control("--instr=off");
        const perRun = (counted[mode] = [...perWindow].sort((a, b) => a - b)[Math.floor(WINDOWS / 2)]!);
        windows[mode] = perWindow;
        const mean = Math.round(perWindow.reduce((t, n) => t + n, 0) / WINDOWS);
        const spread = perWindow.map((n) => n.toLocaleString("en-US")).join(", ");
        console.log(`${mode.padEnd(7)} ${perRun.toLocaleString("en-US").padStart(9)} instructions per run, the median of ${WINDOWS} windows of ${each.toLocaleString("en-US")} (${spread}; mean ${mean.toLocaleString("en-US")}, full collections included) after ${warm.toLocaleString("en-US")} warm-up requests; ${Math.round((Date.now() - t0) / 1000)} s`);
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const floor = counted.floor!;
  results.counted = { tool: "valgrind --tool=callgrind (Ir), node --predictable", warm, runs, windows, instructionsPerRun: counted, ofFloor: Object.fromEntries(Object.entries(counted).map(([m, n]) => [m, Number((floor / n).toFixed(3))])) };
  const line = Object.entries(counted)
    .filter(([m]) => m !== "floor")
    .map(([m, n]) => `${m} ${(floor / n).toFixed(2)}×`);
  console.log(`the floor's instructions per run over each server's (its rate in runs per instruction): ${line.join(", ")}${counted.memory ? " (goal ≥ 0.7 in memory)" : ""}`);
}

/** `amount` requests at 100 connections, every answer checked; no time limit (valgrind is slow). */
async function loadAmount(name: string, server: Server, path: string, amount: number): Promise<void> {
  if (amount === 0) return;
  const r = await autocannon({ url: server.url + path, method: "POST", body: JSON.stringify({ n: 20 }), headers: { "Content-Type": "application/json" }, connections: 100, amount, timeout: 600 });
  if (r["2xx"] !== amount || r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r["2xx"]} of ${amount} runs answered 2xx (${r.non2xx} not, ${r.errors} errors)`);
}

/** `count` waiting runs, one SSE reader each; the server's memory before and after the readers opened. */
async function streams(count: number) {
  const server = await start("streams");
  try {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, async (_, j) => {
          const res = await fetch(`${server.url}/workflows/waiter/runs`, { method: "POST", body: JSON.stringify({ n: i + j }), headers: { "Content-Type": "application/json" } });
          return ((await res.json()) as { runId: string }).runId;
        }),
      );
      ids.push(...batch);
    }
    await new Promise((r) => setTimeout(r, 200));
    const before = await server.memory();
    const controllers: AbortController[] = [];
    // Each reader is open once it has read both of its run's events (Progress, then Ask).
    await Promise.all(
      ids.map(async (id) => {
        const ctl = new AbortController();
        controllers.push(ctl);
        const res = await fetch(`${server.url}/runs/${id}/events`, { signal: ctl.signal });
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        while (!text.includes('"type":"Ask"')) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream of ${id} ended early`);
          text += value;
        }
        // Keep the connection open without buffering further reads.
      }),
    );
    const after = await server.memory();
    const open = controllers.length;
    for (const c of controllers) c.abort();
    const per = (k: keyof NodeJS.MemoryUsage) => Math.round((after[k] - before[k]) / open);
    return { streams: open, rssBefore: before.rss, rssAfter: after.rss, bytesPerStreamRss: per("rss"), bytesPerStreamHeap: per("heapUsed") + per("external") };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  if (dist) checkBuilt();
  const seconds = quick ? 2 : Number(option("--seconds") ?? 5);
  const connections = quick ? 20 : 100;
  // Every thread of this process (the load generator), not only the main one.
  if (pin) execFileSync("taskset", ["-apc", pin.load, String(process.pid)], { stdio: "ignore" });
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, quick, seconds, connections, code: dist ? "dist" : "src (tsx)", loadAverage: loadavg(), pinned: pin ?? null };
  const placed = args.includes("--count") ? "each server alone under valgrind" : pin ? `servers on CPU ${pin.server}, the load generator on CPU ${pin.load}` : "not pinned";
  console.log(`servers run ${dist ? "the built package (dist/)" : "the sources through tsx"}; ${placed}; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  if (args.includes("--count")) {
    await countLoads(results, selectedModes());
    const out = option("--json");
    if (out) writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
    return;
  }
  if (!args.includes("--streams-only")) await runLoads(results, seconds, connections);
  const s = await streams(quick ? 100 : 1000);
  if (s.streams !== (quick ? 100 : 1000)) throw new Error(`opened ${s.streams} streams`);
  results.streams = s;
  console.log(`${s.streams} open SSE streams: ${(s.bytesPerStreamRss / 1024).toFixed(1)} KB RSS per stream, ${(s.bytesPerStreamHeap / 1024).toFixed(1)} KB heap+external (goal ≤ 50 KB)`);
  const out = option("--json");
  if (out) writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
}

/** The servers `--modes` names (all without it), the floor first, each with the path it is loaded on. */
function selectedModes(): (readonly [Mode, string])[] {
  const all = [["floor", "/run"], ["engine", "/run"], ["memory", "/workflows/two/runs?wait=10"], ["sqlite", "/workflows/two/runs?wait=10"]] as const;
  const only = option("--modes")?.split(",");
  const unknown = only?.filter((m) => !all.some(([mode]) => mode === m));
  if (unknown?.length) throw new Error(`--modes: no server ${unknown.join(", ")} (servers: ${all.map(([m]) => m).join(", ")})`);
  // The floor is what every ratio divides by: it always runs.
  return all.filter(([mode]) => mode === "floor" || only === undefined || only.includes(mode));
}

/** The runs/s loads: the three servers in turn, `--rounds` times over. */
async function runLoads(results: Record<string, unknown>, seconds: number, connections: number): Promise<void> {
  // Each server runs in turn for `seconds`, `rounds` times over, each round starting one server
  // further on (so that none always runs first or right after the same one). A busy host's swings
  // (this machine's floor went from 15,000 to 26,000 runs/s between rounds) fall on servers that
  // run side by side alike: each round's ratio to that round's floor is the figure, its median
  // over the rounds the headline; the ratio of the medians, drawn from different rounds, is shown too.
  const rounds = quick ? 1 : Number(option("--rounds") ?? 3);
  const modes = selectedModes();
  const at = (mode: string) => modes.findIndex(([m]) => m === mode);
  const servers = await Promise.all(modes.map(([mode]) => start(mode)));
  const measured: Awaited<ReturnType<typeof load>>[][] = modes.map(() => []);
  try {
    for (const [k, [mode, path]] of modes.entries()) await load(`${mode} (warm-up)`, servers[k]!, path, quick ? 1 : 2, connections);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < modes.length; i++) {
        const k = (i + r) % modes.length;
        const [mode, path] = modes[k]!;
        const m = await load(mode, servers[k]!, path, seconds, connections);
        measured[k]!.push(m);
        console.log(`round ${r + 1} ${mode.padEnd(7)} ${m.runsPerSecond.toFixed(0).padStart(7)} runs/s  ${m.cpuMicrosPerRun} µs CPU/run  p50 ${m.latencyP50} ms  p99 ${m.latencyP99} ms  (${m.requests} requests)`);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  const loads = measured.map((ms) => [...ms].sort((a, b) => a.runsPerSecond - b.runsPerSecond)[Math.floor(ms.length / 2)]!);
  const floor = loads[0]!.runsPerSecond;
  results.loads = loads.map((l) => ({ ...l, ofFloor: Number((l.runsPerSecond / floor).toFixed(3)) }));
  results.rounds = measured;
  for (const l of loads) console.log(`median ${l.name.padEnd(7)} ${l.runsPerSecond.toFixed(0).padStart(7)} runs/s`);
  const cpus = measured.map((ms) => [...ms].sort((a, b) => a.cpuMicrosPerRun - b.cpuMicrosPerRun)[Math.floor(ms.length / 2)]!.cpuMicrosPerRun);
  const cpu = (mode: string) => cpus[at(mode)];
  const median = (mode: string) => loads[at(mode)];
  results.cpuMicrosPerRun = Object.fromEntries(modes.map(([mode], k) => [mode, cpus[k]]));
  const line = [`server CPU per run (median): floor ${cpu("floor")} µs`];
  if (median("engine")) line.push(`the engine in the bare handler ${cpu("engine")} µs`);
  if (median("memory")) line.push(`in memory ${cpu("memory")} µs (${(cpu("floor")! / cpu("memory")!).toFixed(2)}× the floor's rate)`);
  if (median("sqlite")) line.push(`on SQLite ${cpu("sqlite")} µs (${(cpu("floor")! / cpu("sqlite")!).toFixed(2)}×)`);
  console.log(line.join(", "));
  // Each round's ratio to the floor of the same round, sorted: the median and the range.
  const paired = (mode: string, over = "floor") => {
    const k = at(mode);
    const o = at(over);
    if (k < 0 || o < 0) return undefined;
    const rs = measured[k]!.map((m, r) => m.runsPerSecond / measured[o]![r]!.runsPerSecond).sort((a, b) => a - b);
    return { median: rs[Math.floor(rs.length / 2)]!, low: rs[0]!, high: rs[rs.length - 1]!, rounds: rs.map((x) => Number(x.toFixed(3))) };
  };
  const text = (p: { median: number; low: number; high: number }) => `${p.median.toFixed(2)}× (rounds ${p.low.toFixed(2)}–${p.high.toFixed(2)})`;
  results.ofFloorPerRound = Object.fromEntries(modes.flatMap(([mode]) => (mode === "floor" ? [] : [[mode, paired(mode)?.rounds]])));
  const ratios: string[] = [];
  const memory = median("memory");
  if (memory) {
    const p = paired("memory")!;
    const e = paired("memory", "engine");
    ratios.push(`in memory: ${text(p)} the floor, the median of each round's ratio (goal ≥ 0.7); ratio of the medians ${(memory.runsPerSecond / floor).toFixed(2)}×${e ? `; ${text(e)} the engine in the bare handler` : ""}`);
  }
  if (median("sqlite")) ratios.push(`on SQLite: ${text(paired("sqlite")!)} the floor`);
  if (ratios.length > 0) console.log(ratios.join("\n"));
}

if (args[0] === "--child") await child(args[1] as Mode);
else await main();
