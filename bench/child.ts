/**
 * One measurement in a fresh process:
 *   node --expose-gc --import tsx bench/child.ts ENGINE SCENARIO SIZE [--quick]
 * (add --conditions=stepwise-source to measure the TypeScript sources instead of dist/).
 * Each measured pass follows two warm-up runs at a tenth of the size (five full fan-outs for
 * the fan-out, two full batches for concurrent runs), so the numbers are a warmed-up service's, not a cold start's.
 * Prints one JSON line: { ok, result, expected, ... the scenario's metrics }.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engines } from "./engines/index.js";
import { makeGate, Unavailable, type Engine, type ScenarioName } from "./types.js";

export interface Measurement {
  ok: boolean;
  /** What the run returned, and what it should have. */
  result: number;
  expected: number;
  /** Wall time of the measured pass, ms. */
  ms: number;
  /** Items per second (events, steps) where the scenario is a throughput. */
  perSecond?: number;
  /** Heap retained per event (chain) or per in-flight run (runs), bytes. */
  heapPerItem?: number;
  /** Set when the engine cannot run the scenario here. */
  unavailable?: string;
}

const [engineName = "", scenario = "", sizeArg = "0", ...flags] = process.argv.slice(2);
const size = Number(sizeArg);
const quick = flags.includes("--quick");
// The heap pass runs in a process of its own, with nothing run before it: what a previous
// pass left behind (and an engine may keep a reference to its last run) would skew it.
const heapPass = flags.includes("--heap");
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

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

async function measure(engine: Engine, name: ScenarioName, n: number): Promise<Measurement> {
  const warm = Math.max(1, Math.floor(n / 10));
  switch (name) {
    case "chain": {
      const chain = engine.chain?.bind(engine);
      if (!chain) throw new Unavailable(engine.missing?.[name] ?? "not expressible");
      if (heapPass) {
        // Measured inside the last step, while the run and everything it keeps are alive.
        // One tiny run first, so code compiled on first use is not counted per event.
        await chain(Math.min(100, n));
        const before = heapAfterGc();
        let peak = 0;
        const value = await chain(n, () => (peak = heapAfterGc()));
        return { ok: value === n && peak > 0, result: value, expected: n, ms: 0, heapPerItem: (peak - before) / n };
      }
      if (!quick) for (let i = 0; i < 2; i++) await chain(warm);
      const { value, ms } = await timed(() => chain(n));
      return { ok: value === n, result: value, expected: n, ms, perSecond: (n / ms) * 1000 };
    }
    case "fanout": {
      const fanout = engine.fanout?.bind(engine);
      if (!fanout) throw new Unavailable(engine.missing?.[name] ?? "not expressible");
      const expected = (n * (n - 1)) / 2;
      // A service fans out many times: measure it warm (five fan-outs first).
      if (!quick) for (let i = 0; i < 5; i++) await fanout(n, 10);
      const { value, ms } = await timed(() => fanout(n, 10));
      return { ok: value === expected, result: value, expected, ms };
    }
    case "runs": {
      const runs = engine.runs?.bind(engine);
      if (!runs) throw new Unavailable(engine.missing?.[name] ?? "not expressible");
      if (heapPass) {
        // Every run parks in its first step; when the last arrives, all n are in flight.
        await runs(Math.min(100, n));
        const before = heapAfterGc();
        let peak = 0;
        const value = await runs(n, makeGate(n, () => (peak = heapAfterGc())));
        return { ok: value === n && peak > 0, result: value, expected: n, ms: 0, heapPerItem: (peak - before) / n };
      }
      // Two full-size warm-ups: a service holding thousands of runs has a grown heap and hot code.
      if (!quick) for (let i = 0; i < 2; i++) await runs(n);
      const { value, ms } = await timed(() => runs(n));
      return { ok: value === n, result: value, expected: n, ms, perSecond: (n / ms) * 1000 };
    }
    case "stream": {
      const stream = engine.stream?.bind(engine);
      if (!stream) throw new Unavailable(engine.missing?.[name] ?? "not expressible");
      if (!quick) for (let i = 0; i < 2; i++) await stream(warm);
      const { value, ms } = await timed(() => stream(n));
      return { ok: value >= n, result: value, expected: n, ms, perSecond: (n / ms) * 1000 };
    }
    case "durable-sync":
    case "durable-batched": {
      const durable = engine.durable?.bind(engine);
      if (!durable) throw new Unavailable(engine.missing?.[name] ?? "not expressible");
      const mode = name === "durable-sync" ? "sync" : "batched";
      const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-"));
      try {
        if (!quick) await durable(warm, mode, join(dir, "warm.db"));
        const { value, ms } = await timed(() => durable(n, mode, join(dir, "runs.db")));
        return { ok: value === n, result: value, expected: n, ms, perSecond: (n / ms) * 1000 };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

const load = engines[engineName];
if (!load) throw new Error(`unknown engine ${engineName}`);
const engine = await load();
try {
  const m = await measure(engine, scenario as ScenarioName, size);
  process.stdout.write(`${JSON.stringify(m)}\n`);
} catch (err) {
  if (!(err instanceof Unavailable)) throw err;
  process.stdout.write(`${JSON.stringify({ ok: true, result: 0, expected: 0, ms: 0, unavailable: err.message })}\n`);
}
// Peers may leave timers behind; the measurement is done.
process.exit(0);
