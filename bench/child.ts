/**
 * One measurement in a fresh process:
 *   node --expose-gc --import tsx bench/child.ts ENGINE SCENARIO SIZE [--quick] [--heap]
 * (add --conditions=stepwise-source to measure the TypeScript sources instead of dist/).
 * The first pass is timed as the cold figure (a fresh process, nothing run before); then warm-up
 * runs (two at a tenth of the size; five full fan-outs; two full batches of concurrent runs) and
 * the timed warm pass, a warmed-up service's figure.
 *
 *   node --expose-gc --import tsx bench/child.ts alternate SIZE ROUNDS [KIND,...]
 * The chain overhead comparison: the floors, plain async and stepwise's chain and stream, each
 * warmed the same (WARM passes), then ROUNDS rounds each running every kind once, the order
 * rotating per round. Under valgrind (bench/run.ts --instructions) it runs one kind only.
 *
 * Prints one JSON line: { ok, result, expected, ... the scenario's metrics }.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engines } from "./engines/index.js";
import { ALTERNATE_KINDS, ALTERNATE_WARM, makeGate, Unavailable, type AlternateResult, type DurableDb, type Engine, type ScenarioName } from "./types.js";

export interface Measurement {
  ok: boolean;
  /** What the run returned, and what it should have. */
  result: number;
  expected: number;
  /** Wall time of the measured (warm) pass, ms. */
  ms: number;
  /** Wall time of the first pass in this fresh process, ms. */
  coldMs?: number;
  /** Items per second (events, steps) where the scenario is a throughput; warm, and cold. */
  perSecond?: number;
  coldPerSecond?: number;
  /** Process CPU time (user + system) of the warm pass per item, µs. */
  cpuPerItemUs?: number;
  /** Heap retained per event (chain) or per in-flight run (runs), bytes. */
  heapPerItem?: number;
  /** Journal bytes (JSON) per journaled event, where the scenario measures it. */
  bytesPerItem?: number;
  /** Set when the engine cannot run the scenario here. */
  unavailable?: string;
}

const gc = (globalThis as { gc?: () => void }).gc;

function collect(): void {
  if (!gc) throw new Error("run with --expose-gc");
  gc();
  gc();
}

function heapAfterGc(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; cpuUs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpuUs: c.user + c.system };
}

export const PG_URL = process.env.STEPWISE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

/** A fresh PostgreSQL schema for one pass, dropped after; Unavailable when PostgreSQL is not reachable (an error under CI=true). */
async function withPostgres<T>(fn: (db: DurableDb) => Promise<T>): Promise<T> {
  const { default: pg } = await import("pg");
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (err) {
    if (process.env.CI === "true") throw new Error(`PostgreSQL at ${PG_URL} is unreachable and CI=true: ${String(err)}`);
    throw new Unavailable(`PostgreSQL at ${PG_URL} unreachable`);
  }
  const schema = `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  try {
    return await fn({ kind: "postgres", url: PG_URL, schema });
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

async function withTempFile<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-"));
  try {
    return await fn(join(dir, "runs.db"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const withSqlite = <T>(fn: (db: DurableDb) => Promise<T>): Promise<T> => withTempFile((file) => fn({ kind: "sqlite", file }));

interface Plan {
  /** One pass at size `n`; resolves to the checked value. */
  pass(n: number): Promise<number>;
  expected: number;
  /** Warm-up passes before the timed warm pass: count and size. */
  warm: [count: number, size: number];
  /** Items the rate counts (events, runs); omitted where the scenario is a wall time. */
  items?: number;
  /** The stream sees at least n events. */
  atLeast?: boolean;
  /** What the last pass reported of its journal, bytes per event. */
  bytes?: () => number | undefined;
}

function planFor(engine: Engine, name: ScenarioName, n: number, missing: (what: string) => never): Plan {
  const tenth = Math.max(1, Math.floor(n / 10));
  switch (name) {
    case "chain": {
      const chain = engine.chain?.bind(engine) ?? missing(name);
      return { pass: (k) => chain(k), expected: n, warm: [2, tenth], items: n };
    }
    case "fanout": {
      const fanout = engine.fanout?.bind(engine) ?? missing(name);
      // A service fans out many times: measure it warm (five fan-outs first).
      return { pass: (k) => fanout(k, 10), expected: (n * (n - 1)) / 2, warm: [5, n] };
    }
    case "runs": {
      const runs = engine.runs?.bind(engine) ?? missing(name);
      // Two full-size warm-ups: a service holding thousands of runs has a grown heap and hot code.
      return { pass: (k) => runs(k), expected: n, warm: [2, n], items: n };
    }
    case "stream": {
      const stream = engine.stream?.bind(engine) ?? missing(name);
      return { pass: (k) => stream(k), expected: n, warm: [2, tenth], items: n, atLeast: true };
    }
    case "durable-sync":
    case "durable-batched": {
      const durable = engine.durable?.bind(engine) ?? missing(name);
      const mode = name === "durable-sync" ? "sync" : "batched";
      return { pass: (k) => withTempFile((file) => durable(k, mode, file)), expected: n, warm: [1, tenth], items: n };
    }
    case "durable-runs-sqlite":
    case "durable-runs-postgres": {
      const durableRuns = engine.durableRuns?.bind(engine) ?? missing(name);
      const where = name === "durable-runs-sqlite" ? withSqlite : withPostgres;
      return { pass: (k) => where((db) => durableRuns(k, db)), expected: n, warm: [2, n], items: n };
    }
    case "durable-sync-postgres":
    case "durable-batched-postgres": {
      const durableChain = engine.durableChain?.bind(engine) ?? missing(name);
      const mode = name === "durable-sync-postgres" ? "sync" : "batched";
      return { pass: (k) => withPostgres((db) => durableChain(k, mode, db)), expected: n, warm: [1, tenth], items: n };
    }
    case "chain-step-timeout":
    case "chain-no-timeout": {
      const chain = engine.stepTimeoutChain?.bind(engine) ?? missing(name);
      const withTimeout = name === "chain-step-timeout";
      return { pass: (k) => chain(k, withTimeout), expected: n, warm: [2, tenth], items: n };
    }
    case "waiters-1k":
    case "waiters-10k": {
      const waiters = engine.waiters?.bind(engine) ?? missing(name);
      return { pass: (k) => waiters(k), expected: (n * (n - 1)) / 2, warm: [1, n], items: n };
    }
    case "journal-fanout-100":
    case "journal-fanout-1000": {
      const fan = engine.fanoutJournal?.bind(engine) ?? missing(name);
      let last: number | undefined;
      return { pass: (k) => withTempFile((file) => fan(k, file, (b) => (last = b))), expected: (n * (n - 1)) / 2, warm: [1, n], items: n, bytes: () => last };
    }
    case "react": {
      const react = engine.react?.bind(engine) ?? missing(name);
      return { pass: (k) => react(k), expected: n, warm: [2, n], items: n };
    }
  }
}

async function measure(engine: Engine, name: ScenarioName, n: number, quick: boolean, heapPass: boolean): Promise<Measurement> {
  const missing = (what: string): never => {
    throw new Unavailable(engine.missing?.[what as ScenarioName] ?? "not expressible");
  };
  if (heapPass) {
    // In a process of its own, with nothing run before it but one tiny run (so code compiled on
    // first use is not counted per item): what a previous pass left behind would skew it.
    if (name === "chain") {
      const chain = engine.chain?.bind(engine) ?? missing(name);
      await chain(Math.min(100, n));
      const before = heapAfterGc();
      let peak = 0;
      const value = await chain(n, () => (peak = heapAfterGc()));
      return { ok: value === n && peak > 0, result: value, expected: n, ms: 0, heapPerItem: (peak - before) / n };
    }
    // Every run parks in its first step; when the last arrives, all n are in flight.
    const runs = engine.runs?.bind(engine) ?? missing(name);
    await runs(Math.min(100, n));
    const before = heapAfterGc();
    let peak = 0;
    const value = await runs(n, makeGate(n, () => (peak = heapAfterGc())));
    return { ok: value === n && peak > 0, result: value, expected: n, ms: 0, heapPerItem: (peak - before) / n };
  }
  const plan = planFor(engine, name, n, missing);
  const right = (v: number) => (plan.atLeast ? v >= plan.expected : v === plan.expected);
  if (quick) {
    const { value, ms } = await timed(() => plan.pass(n));
    const b = plan.bytes?.();
    return { ok: right(value), result: value, expected: plan.expected, ms, ...(plan.items === undefined ? {} : { perSecond: (plan.items / ms) * 1000 }), ...(b === undefined ? {} : { bytesPerItem: b }) };
  }
  const cold = await timed(() => plan.pass(n));
  for (let i = 0; i < plan.warm[0]; i++) await plan.pass(plan.warm[1]);
  const warm = await timed(() => plan.pass(n));
  const m: Measurement = { ok: right(cold.value) && right(warm.value), result: warm.value, expected: plan.expected, ms: warm.ms, coldMs: cold.ms };
  const b = plan.bytes?.();
  if (b !== undefined) m.bytesPerItem = b;
  if (plan.items !== undefined) {
    m.perSecond = (plan.items / warm.ms) * 1000;
    m.coldPerSecond = (plan.items / cold.ms) * 1000;
    m.cpuPerItemUs = warm.cpuUs / plan.items;
  }
  return m;
}

/** The alternated chain comparison (see the header): ns per event per round, per kind. */
async function alternate(n: number, rounds: number, kinds: readonly string[]): Promise<AlternateResult> {
  const load = async (kind: string) => {
    const streaming = kind.endsWith("-stream");
    const name = streaming ? kind.slice(0, -"-stream".length) : kind;
    const e = await (engines[name] ?? (() => Promise.reject(new Error(`unknown engine ${name}`))))();
    const fn = streaming ? e.stream?.bind(e) : e.chain?.bind(e);
    if (!fn) throw new Error(`${kind} has no chain`);
    return fn;
  };
  const fns = await Promise.all(kinds.map(load));
  for (const fn of fns) for (let i = 0; i < ALTERNATE_WARM; i++) await fn(n);
  const out: AlternateResult = { kinds: Object.fromEntries(kinds.map((k) => [k, [] as number[]])), cpu: Object.fromEntries(kinds.map((k) => [k, [] as number[]])) };
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < fns.length; j++) {
      const k = (j + r) % fns.length;
      const fn = fns[k] as (n: number) => Promise<number>;
      const { value, ms, cpuUs } = await timed(() => fn(n));
      if (value < n) throw new Error(`${kinds[k]} returned ${value}, expected ${n}`);
      out.kinds[kinds[k] as string]?.push((ms * 1e6) / n);
      out.cpu[kinds[k] as string]?.push((cpuUs * 1e3) / n);
    }
  }
  return out;
}

const [engineName = "", ...rest] = process.argv.slice(2);
if (engineName === "alternate") {
  const [size = "100000", rounds = "5", kinds] = rest;
  const result = await alternate(Number(size), Number(rounds), kinds ? kinds.split(",") : ALTERNATE_KINDS);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const [scenario = "", sizeArg = "0", ...flags] = rest;
  const load = engines[engineName];
  if (!load) throw new Error(`unknown engine ${engineName}`);
  const engine = await load();
  const one = async (name: string, size: number, quick: boolean, heap: boolean): Promise<Measurement> => {
    try {
      return await measure(engine, name as ScenarioName, size, quick, heap);
    } catch (err) {
      if (!(err instanceof Unavailable)) throw err;
      return { ok: true, result: 0, expected: 0, ms: 0, unavailable: err.message };
    }
  };
  if (scenario === "quick-batch") {
    // `ENGINE quick-batch chain:1000:heap,fanout:50,...`: every scenario once, small, in this one
    // process (the CI smoke test: correctness, not figures), a heap pass where asked.
    const out: Record<string, Measurement> = {};
    for (const item of sizeArg.split(",")) {
      const [name = "", size = "0", heap] = item.split(":");
      const m = await one(name, Number(size), true, false);
      if (heap && !m.unavailable) {
        const h = await one(name, Number(size), true, true);
        if (h.heapPerItem !== undefined) m.heapPerItem = h.heapPerItem;
        m.ok &&= h.ok;
      }
      out[name] = m;
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(await one(scenario, Number(sizeArg), flags.includes("--quick"), flags.includes("--heap")))}\n`);
  }
}
// Peers may leave timers behind; the measurement is done.
process.exit(0);
