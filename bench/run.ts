/**
 * `npm run bench`: every scenario, for stepwise, its peers and a plain-async baseline, each
 * measurement in a fresh child process, several repetitions, medians in one table.
 *
 *   npm run bench                        all scenarios, 3 repetitions
 *   npm run bench -- --reps 5            more repetitions
 *   npm run bench -- --only chain,runs   some scenarios
 *   npm run bench -- --engines stepwise  some engines
 *   npm run bench -- --json out.json     also write the raw measurements
 *   npm run bench -- --source            measure src/*.ts through tsx instead of the built dist/
 *   npm run bench -- --quick             CI smoke test: each scenario once, small sizes; checks
 *                                        every result and exits 1 on a wrong one; times are printed, never asserted
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Measurement } from "./child.js";
import { ENGINES, renderTable, SCENARIOS, type Row } from "./table.js";

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

/** One child process: node --expose-gc; the bench's own TypeScript through tsx. */
function child(engine: string, scenario: string, size: number, heap = false): Promise<Measurement> {
  const argv = ["--expose-gc", "--max-old-space-size=4096", "--import", "tsx", ...(source ? ["--conditions=stepwise-source"] : []), join(here, "child.ts"), engine, scenario, String(size), ...(quick ? ["--quick"] : []), ...(heap ? ["--heap"] : [])];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => {
      const line = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !line.startsWith("{")) return reject(new Error(`${engine} ${scenario} ${size} exited ${code}:\n${err.slice(-2000)}`));
      resolve(JSON.parse(line) as Measurement);
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const rows: Row[] = [];
let wrong = 0;
for (const sc of SCENARIOS) {
  if (only && !only.includes(sc.name)) continue;
  for (const engine of ENGINES) {
    if (engineFilter && !engineFilter.includes(engine)) continue;
    const size = quick ? sc.quick[engine] : sc.size[engine];
    if (size === undefined) continue;
    const runs: Measurement[] = [];
    for (let r = 0; r < reps; r++) {
      let m: Measurement;
      try {
        m = await child(engine, sc.name, size);
        if (sc.heap && !m.unavailable) {
          const h = await child(engine, sc.name, size, true);
          if (h.heapPerItem !== undefined) m.heapPerItem = h.heapPerItem;
          if (!h.ok) m.ok = false;
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
      process.stderr.write(`  ${sc.name} ${engine} n=${size} #${r + 1}: ${m.ms.toFixed(1)} ms${m.perSecond ? `, ${Math.round(m.perSecond).toLocaleString("en-US")}/s` : ""}${m.heapPerItem !== undefined ? `, ${Math.round(m.heapPerItem)} B/item` : ""}\n`);
    }
    if (runs.length === 0) continue;
    const first = runs[0] as Measurement;
    rows.push({
      scenario: sc.name,
      engine,
      size,
      reps: runs.length,
      unavailable: first.unavailable,
      ms: median(runs.map((m) => m.ms)),
      perSecond: first.perSecond === undefined ? undefined : median(runs.map((m) => m.perSecond ?? 0)),
      heapPerItem: first.heapPerItem === undefined ? undefined : median(runs.map((m) => m.heapPerItem ?? 0)),
    });
  }
}

console.log(renderTable(rows, { reps, quick }));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
if (wrong > 0) {
  console.error(`bench: ${wrong} wrong or failed measurement(s)`);
  process.exit(1);
}
if (quick) console.log("bench --quick: every result correct (times not asserted).");
