/**
 * `npm run bench:compare [-- FILE] [--fail]`: compares a results file (default: the newest in
 * bench/results/) with the last committed one, metric by metric, and flags every change larger
 * than the noise both runs measured (the relative range of their repetitions, at least 3 %).
 * --fail exits 1 when something got worse beyond the noise.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { newestResults } from "./chart.js";
import type { Results, Spread } from "./results.js";

/** One compared figure. */
export interface Change {
  what: string;
  before: number;
  after: number;
  /** (after − before) / before. */
  change: number;
  /** The relative noise both runs measured (or an assumed 10 % where a run has a single sample). */
  noise: number;
  verdict: "better" | "worse" | "same";
}

/** The smallest change ever flagged: below it, equal medians of repeatable counts would flag jitter. */
export const MIN_NOISE = 0.03;
/** Assumed where a figure has no range (one repetition). */
export const UNKNOWN_NOISE = 0.1;

/** The relative range of a figure over its samples; unknown (undefined) with fewer than two. */
const rel = (r: [number, number] | undefined, median: number, samples: number): number | undefined => (r && samples > 1 && median !== 0 ? (r[1] - r[0]) / Math.abs(median) : undefined);

function judge(what: string, before: number, after: number, noises: (number | undefined)[], higherIsBetter: boolean): Change {
  const known = noises.filter((n): n is number => n !== undefined);
  const noise = Math.max(MIN_NOISE, known.length < noises.length ? UNKNOWN_NOISE : 0, ...known);
  const change = (after - before) / before;
  const verdict = Math.abs(change) <= noise ? "same" : change > 0 === higherIsBetter ? "better" : "worse";
  return { what, before, after, change, noise, verdict };
}

/** Every figure present in both runs, judged against the noise. */
export function compare(before: Results, after: Results): Change[] {
  const out: Change[] = [];
  for (const a of after.rows) {
    const b = before.rows.find((r) => r.scenario === a.scenario && r.engine === a.engine && r.size === a.size);
    if (!b || a.unavailable || b.unavailable) continue;
    const name = `${a.scenario} ${a.engine}`;
    out.push(judge(`${name}: wall ms`, b.ms, a.ms, [rel(b.msRange, b.ms, b.reps), rel(a.msRange, a.ms, a.reps)], false));
    if (a.coldMs !== undefined && b.coldMs !== undefined) out.push(judge(`${name}: cold ms`, b.coldMs, a.coldMs, [rel(b.coldMsRange, b.coldMs, b.reps), rel(a.coldMsRange, a.coldMs, a.reps)], false));
    if (a.cpuPerItemUs !== undefined && b.cpuPerItemUs !== undefined)
      out.push(judge(`${name}: CPU µs per item`, b.cpuPerItemUs, a.cpuPerItemUs, [rel(b.cpuPerItemUsRange, b.cpuPerItemUs, b.reps), rel(a.cpuPerItemUsRange, a.cpuPerItemUs, a.reps)], false));
  }
  const spreads = (what: string, x: Record<string, Spread> | undefined, y: Record<string, Spread> | undefined) => {
    for (const [k, s] of Object.entries(y ?? {})) {
      const t = x?.[k];
      if (t) out.push(judge(`${what} ${k}`, t.median, s.median, [rel(t.range, t.median, t.samples.length), rel(s.range, s.median, s.samples.length)], false));
    }
  };
  spreads("chain ns per event:", before.overhead?.nsPerEvent, after.overhead?.nsPerEvent);
  spreads("chain CPU ns per event:", before.overhead?.cpuNsPerEvent, after.overhead?.cpuNsPerEvent);
  spreads("chain instructions per event:", before.overhead?.instructions?.perEvent, after.overhead?.instructions?.perEvent);
  return out;
}

const pct = (v: number) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)} %`;
const num = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : v.toPrecision(3));

export function renderChanges(changes: Change[]): string {
  const lines = ["| figure | before | after | change | noise | |", "| --- | --- | --- | --- | --- | --- |"];
  for (const c of changes) lines.push(`| ${c.what} | ${num(c.before)} | ${num(c.after)} | ${pct(c.change)} | ±${(c.noise * 100).toFixed(0)} % | ${c.verdict === "same" ? "" : c.verdict === "better" ? "✓ better" : "✗ worse"} |`);
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, "..");
  const argv = process.argv.slice(2);
  const file = argv.find((a) => !a.startsWith("--")) ?? newestResults(join(here, "results"));
  if (!file) throw new Error("no bench/results/*.json: run `npm run bench` first");
  const git = (...a: string[]) => execFileSync("git", a, { cwd: root, encoding: "utf8" });
  const path = relative(root, file);
  const tracked = git("ls-files", "bench/results/").split("\n").filter((f) => /\/\d{4}-\d{2}-\d{2}[^/]*\.json$/.test(f)).sort();
  // The last committed result: this same file as committed, if it was and has changed since;
  // otherwise the newest committed file that is not this one.
  let baseName: string | undefined;
  let base: string | undefined;
  if (tracked.includes(path) && git("status", "--porcelain", "--", path).trim() !== "") {
    baseName = `${path} (as committed)`;
    base = git("show", `HEAD:${path}`);
  } else {
    const other = tracked.filter((f) => f !== path).at(-1);
    if (other) {
      baseName = other;
      base = git("show", `HEAD:${other}`);
    }
  }
  if (!base || !baseName) {
    console.log(`bench:compare: no committed result to compare ${path} with.`);
    process.exit(0);
  }
  const changes = compare(JSON.parse(base) as Results, JSON.parse(readFileSync(file, "utf8")) as Results);
  console.log(`${path} against ${baseName}:\n\n${renderChanges(changes)}`);
  const worse = changes.filter((c) => c.verdict === "worse");
  console.log(`\n${worse.length} worse and ${changes.filter((c) => c.verdict === "better").length} better beyond the noise, of ${changes.length} figures.`);
  if (worse.length > 0 && argv.includes("--fail")) process.exit(1);
}
