/**
 * `npm run bench`: every scenario, for stepwise, its peers and a plain-async baseline, each
 * measurement in a fresh child process, several repetitions, medians in one table; then the
 * chain against its two floors, alternated in one process (wall time) and under valgrind
 * (instructions per event). Writes bench/results/<date>.json and the charts in bench/results/charts/.
 *
 *   npm run bench                        everything, 3 repetitions
 *   npm run bench -- --reps 5            more repetitions
 *   npm run bench -- --only chain,runs   some scenarios (overhead, instructions are scenarios too); the
 *                                        day's results file keeps the others
 *   npm run bench -- --engines stepwise  some engines
 *   npm run bench -- --json out.json     write the results there instead of bench/results/<date>.json
 *   npm run bench -- --source            measure src/*.ts through tsx instead of the built dist/
 *   npm run bench -- --instruction-samples 3   more valgrind pairs per kind (default 2; ~1.5 min of CPU each)
 *   npm run bench -- --peer-scale 0.2    the peers at a fifth of their sizes (at least 100), for a loaded machine
 *   npm run bench -- --quick             CI smoke test: each scenario once, small sizes; checks
 *                                        every result and exits 1 on a wrong one; times are printed, never asserted
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, freemem, platform, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeCharts } from "./chart.js";
import type { Measurement } from "./child.js";
import { PEER_ENGINES, PEERS_DIR, peersInstalled } from "./engines/index.js";
import { renderOverhead, type Overhead, type Results, type Spread } from "./results.js";
import { ENGINES, renderTable, SCENARIOS, type Row } from "./table.js";
import { ALTERNATE_KINDS, ALTERNATE_WARM, type AlternateResult } from "./types.js";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const quick = flag("--quick");
const reps = quick ? 1 : Number(option("--reps") ?? 3);
const only = option("--only")?.split(",");
const engineFilter = option("--engines")?.split(",");
const jsonOut = option("--json");
// By default the children import the built package (dist/, what users run; `npm run bench`
// builds it first). tsx's transform wraps every function in a naming helper, which costs
// allocations in hot paths, so source numbers are lower.
const source = flag("--source");
// On a loaded machine the peers' slowest cells take minutes each: --peer-scale 0.2 runs them at a fifth of their size.
const peerScale = Number(option("--peer-scale") ?? 1);
const wanted = (scenario: string) => !only || only.includes(scenario);
const wantedEngine = (engine: string) => !engineFilter || engineFilter.includes(engine);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
const spread = (xs: number[]): Spread => ({ median: median(xs), range: range(xs), samples: xs });

const nodeArgs = ["--expose-gc", "--max-old-space-size=4096", "--import", "tsx", ...(source ? ["--conditions=stepwise-source"] : [])];

/** Runs `command` and resolves to its stdout, stderr and exit code. */
function exec(command: string, argv: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, out, err }));
  });
}

/** One child process's JSON line. */
async function child<T>(argv: string[]): Promise<T> {
  const { code, out, err } = await exec(process.execPath, [...nodeArgs, join(here, "child.ts"), ...argv]);
  const line = out.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`${argv.join(" ")} exited ${code}:\n${err.slice(-2000)}`);
  return JSON.parse(line) as T;
}

// The peers live in bench/peers with their own lockfile, so that installing the library for
// development does not install them: install them here when a peer is to be measured.
const peersWanted = ENGINES.some((e) => PEER_ENGINES.has(e) && wantedEngine(e));
if (peersWanted && !peersInstalled()) {
  console.error("bench: installing the peers (npm --prefix bench/peers ci) ...");
  const r = spawnSync("npm", ["--prefix", PEERS_DIR, "ci", "--no-audit", "--no-fund"], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error("bench: could not install bench/peers; run `npm --prefix bench/peers ci` and see its error.");
    process.exit(1);
  }
}

const startedAt = new Date();
const rows: Row[] = [];
let overhead: Overhead | undefined;
const versionOf = (pkgJson: string): string | undefined => {
  try {
    return (JSON.parse(readFileSync(pkgJson, "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
};

/**
 * Writes what has been measured so far (after every scenario, so a long run interrupted keeps
 * its finished scenarios): bench/results/<date>.json, or --json's file; not for --quick.
 */
function save(final: boolean): void {
  const results: Results = {
    date: startedAt.toISOString(),
    machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), freeMemoryGiB: Math.round(freemem() / 2 ** 30), os: `${platform()} ${release()}` },
    node: process.version,
    versions: {
      "stepwise-ai": versionOf(join(here, "..", "package.json")),
      ...Object.fromEntries(["@llamaindex/workflow-core", "@langchain/langgraph", "@langchain/core", "@mastra/core"].map((p) => [p, versionOf(join(PEERS_DIR, "node_modules", p, "package.json"))])),
    },
    options: { reps, quick, source, peerScale },
    rows: [...rows],
    ...(overhead ? { overhead } : {}),
  };
  const out = jsonOut ?? (quick ? undefined : join(here, "results", `${results.date.slice(0, 10)}.json`));
  if (!out) return;
  mkdirSync(dirname(out), { recursive: true });
  // A run of some scenarios (--only) completes the day's file instead of replacing it.
  if (only && existsSync(out)) {
    const earlier = JSON.parse(readFileSync(out, "utf8")) as Results;
    results.rows = [...earlier.rows.filter((r) => !rows.some((x) => x.scenario === r.scenario)), ...rows];
    if (!results.overhead && earlier.overhead) results.overhead = earlier.overhead;
    else if (results.overhead && !results.overhead.instructions && earlier.overhead?.instructions && !wanted("instructions")) results.overhead.instructions = earlier.overhead.instructions;
  }
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  if (!final) return;
  console.log(`\nbench: results written to ${out}`);
  if (!jsonOut) writeCharts(results, join(here, "results", "charts"));
}

let wrong = 0;
// --quick runs every scenario of one engine in one process (a process per cell would make
// process start-up, not the scenarios, most of the CI time).
const quickBatches = new Map<string, Promise<Record<string, Measurement>>>();
function quickMeasurement(engine: string, scenario: string): Promise<Measurement> {
  let batch = quickBatches.get(engine);
  if (!batch) {
    const items = SCENARIOS.filter((sc) => wanted(sc.name) && sc.quick[engine as keyof typeof sc.quick] !== undefined).map((sc) => `${sc.name}:${sc.quick[engine as keyof typeof sc.quick]}${sc.heap ? ":heap" : ""}`);
    batch = child<Record<string, Measurement>>([engine, "quick-batch", items.join(",")]);
    quickBatches.set(engine, batch);
  }
  return batch.then((all) => all[scenario] ?? Promise.reject(new Error(`${engine} quick-batch lacks ${scenario}`)));
}
for (const sc of SCENARIOS) {
  if (!wanted(sc.name)) continue;
  for (const engine of ENGINES) {
    if (!wantedEngine(engine)) continue;
    const full = quick ? sc.quick[engine] : sc.size[engine];
    if (full === undefined) continue;
    const size = peerScale !== 1 && PEER_ENGINES.has(engine) ? Math.max(100, Math.round(full * peerScale)) : full;
    const runs: Measurement[] = [];
    for (let r = 0; r < reps; r++) {
      let m: Measurement;
      try {
        if (quick) m = await quickMeasurement(engine, sc.name);
        else {
          m = await child<Measurement>([engine, sc.name, String(size)]);
          if (sc.heap && !m.unavailable) {
            const h = await child<Measurement>([engine, sc.name, String(size), "--heap"]);
            if (h.heapPerItem !== undefined) m.heapPerItem = h.heapPerItem;
            if (!h.ok) m.ok = false;
          }
        }
      } catch (e) {
        console.error(`✗ ${(e as Error).message}`);
        wrong++;
        break;
      }
      if (m.unavailable) {
        runs.push(m);
        break;
      }
      if (!m.ok) {
        console.error(`✗ ${engine} ${sc.name} ${size}: returned ${m.result}, expected ${m.expected}`);
        wrong++;
      }
      runs.push(m);
      process.stderr.write(
        `  ${sc.name} ${engine} n=${size} #${r + 1}: ${m.ms.toFixed(1)} ms${m.coldMs !== undefined ? ` (cold ${m.coldMs.toFixed(1)} ms)` : ""}${m.perSecond ? `, ${Math.round(m.perSecond).toLocaleString("en-US")}/s` : ""}${m.heapPerItem !== undefined ? `, ${Math.round(m.heapPerItem)} B/item` : ""}${m.bytesPerItem !== undefined ? `, ${Math.round(m.bytesPerItem)} journal B/event` : ""}\n`,
      );
    }
    if (runs.length === 0) continue;
    const first = runs[0] as Measurement;
    const pick = (f: (m: Measurement) => number | undefined): number[] | undefined => (f(first) === undefined ? undefined : runs.map((m) => f(m) ?? 0));
    const cold = pick((m) => m.coldMs);
    const rate = pick((m) => m.perSecond);
    const coldRate = pick((m) => m.coldPerSecond);
    const cpu = pick((m) => m.cpuPerItemUs);
    const heap = pick((m) => m.heapPerItem);
    const journalBytes = pick((m) => m.bytesPerItem);
    rows.push({
      scenario: sc.name,
      engine,
      size,
      reps: runs.length,
      unavailable: first.unavailable,
      ms: median(runs.map((m) => m.ms)),
      msRange: range(runs.map((m) => m.ms)),
      coldMs: cold && median(cold),
      coldMsRange: cold && range(cold),
      perSecond: rate && median(rate),
      perSecondRange: rate && range(rate),
      coldPerSecond: coldRate && median(coldRate),
      cpuPerItemUs: cpu && median(cpu),
      cpuPerItemUsRange: cpu && range(cpu),
      heapPerItem: heap && median(heap),
      bytesPerItem: journalBytes && median(journalBytes),
    });
  }
  save(false);
}

// The chain against its floors, in one process per repetition, alternated (bench/child.ts).
const kinds = ALTERNATE_KINDS.filter((k) => wantedEngine(k.replace("-stream", "")));
if (wanted("overhead") && kinds.length > 0) {
  const size = quick ? 2_000 : 100_000;
  const rounds = quick ? 2 : 7;
  const processes = quick ? 1 : Math.max(5, reps);
  const per: Record<string, number[]> = {};
  const perCpu: Record<string, number[]> = {};
  try {
    for (let p = 0; p < processes; p++) {
      const r = await child<AlternateResult>(["alternate", String(size), String(rounds), kinds.join(",")]);
      for (const [k, xs] of Object.entries(r.kinds)) (per[k] ??= []).push(median(xs));
      for (const [k, xs] of Object.entries(r.cpu)) (perCpu[k] ??= []).push(median(xs));
      process.stderr.write(`  overhead #${p + 1}: ${Object.entries(r.kinds).map(([k, xs]) => `${k} ${median(xs).toFixed(0)} ns (CPU ${median(r.cpu[k] ?? []).toFixed(0)})`).join(", ")}\n`);
    }
    const spreads = (m: Record<string, number[]>) => Object.fromEntries(Object.entries(m).map(([k, xs]) => [k, spread(xs)]));
    overhead = { size, rounds, processes, warm: ALTERNATE_WARM, nsPerEvent: spreads(per), cpuNsPerEvent: spreads(perCpu) };
    save(false);
  } catch (e) {
    console.error(`✗ overhead: ${(e as Error).message}`);
    wrong++;
  }
}

// Instructions per event: valgrind counts the instructions a process executes (repeatably, unlike
// time on a shared machine). Two processes per kind, identical but for the number of measured
// rounds; the difference divided by the events of the extra rounds is the warm cost per event.
if (!quick && wanted("instructions") && kinds.length > 0 && overhead) {
  if (spawnSync("valgrind", ["--version"]).status !== 0) console.error("bench: valgrind not found, instructions per event skipped (apt-get install valgrind)");
  else {
    const size = 50_000;
    const passes: [number, number] = [1, 3];
    const samples = Number(option("--instruction-samples") ?? 2);
    // The child compiled to JavaScript: under tsx every process would first run ~2 G instructions
    // of TypeScript loading, which valgrind executes slowly (they cancel out in the difference).
    const build = spawnSync(process.execPath, [join(here, "..", "node_modules", "typescript", "bin", "tsc"), "-p", join(here, "tsconfig.build.json")], { stdio: "inherit" });
    if (build.status !== 0) throw new Error("bench: could not compile bench/child.ts for valgrind (tsc -p bench/tsconfig.build.json)");
    const compiled = join(here, "..", ".bench-build", "bench", "child.js");
    const count = async (kind: string, rounds: number): Promise<number> => {
      // --predictable: V8 compiles and collects on the main thread at fixed points, so the same
      // code counts the same instructions to the last one (without it, counts moved by ±10%).
      const vg = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, "--predictable", "--expose-gc", "--max-old-space-size=4096", ...(source ? ["--conditions=stepwise-source"] : []), compiled, "alternate", String(size), String(rounds), kind];
      const { code, err } = await exec("valgrind", vg);
      const m = /I\s+refs:\s+([\d,]+)/.exec(err);
      if (code !== 0 || !m?.[1]) throw new Error(`valgrind ${kind} exited ${code}:\n${err.slice(-1500)}`);
      return Number(m[1].replaceAll(",", ""));
    };
    const jobs: (() => Promise<void>)[] = [];
    const per: Record<string, number[]> = {};
    for (let s = 0; s < samples; s++)
      for (const kind of kinds)
        jobs.push(async () => {
          const [a, b] = await Promise.all([count(kind, passes[0]), count(kind, passes[1])]);
          const perEvent = (b - a) / ((passes[1] - passes[0]) * size);
          (per[kind] ??= []).push(perEvent);
          process.stderr.write(`  instructions ${kind} #${per[kind].length}: ${Math.round(perEvent)} per event\n`);
        });
    try {
      // One job at a time, its two valgrind processes in parallel: instruction counts do not depend on load.
      for (let i = 0; i < jobs.length; i++) await (jobs[i] as () => Promise<void>)();
      overhead.instructions = { size, passes, tool: "valgrind --tool=cachegrind (I refs), node --predictable", perEvent: Object.fromEntries(Object.entries(per).map(([k, xs]) => [k, spread(xs)])) };
    } catch (e) {
      console.error(`✗ instructions: ${(e as Error).message}`);
      wrong++;
    }
  }
}

console.log(renderTable(rows, { reps, quick }));
if (overhead) console.log(`\n${renderOverhead(overhead)}`);

save(true);
if (wrong > 0) {
  console.error(`bench: ${wrong} wrong or failed measurement(s)`);
  process.exit(1);
}
if (quick) console.log("bench --quick: every result correct (times not asserted).");
