/**
 * SVG bar charts from a results file, one per scenario and one for the chain's floors: no
 * charting library, plain SVG text.
 *
 *   npx tsx bench/chart.ts [bench/results/<date>.json]   (default: the newest) → bench/results/charts/
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KIND_LABEL, type Results } from "./results.js";
import { LABEL, SCENARIOS, type EngineName } from "./table.js";

export interface Bar {
  label: string;
  value: number;
  range?: [number, number] | undefined;
  /** Drawn in the accent colour. */
  mine?: boolean;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (v: number) => (v >= 100 ? Math.round(v).toLocaleString("en-US") : v >= 10 ? v.toFixed(1) : v.toPrecision(2));

/**
 * A horizontal bar chart. Values spanning more than 20× are drawn on a log scale (the peers
 * differ from stepwise by up to three orders of magnitude), said in the subtitle.
 */
export function barChart(title: string, unit: string, bars: Bar[], higherIsBetter: boolean): string {
  const width = 760;
  const labelW = 330;
  const barH = 22;
  const top = 52;
  const plotW = width - labelW - 130;
  const values = bars.map((b) => b.value).filter((v) => v > 0);
  const max = Math.max(...values, ...bars.map((b) => b.range?.[1] ?? 0));
  const min = Math.min(...values);
  const log = max / min > 20;
  const lo = log ? Math.pow(10, Math.floor(Math.log10(min))) : 0;
  const x = (v: number) => (log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(max) - Math.log10(lo)) : v / max) * plotW;
  const height = top + bars.length * (barH + 8) + 16;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">${esc(`${unit}, ${higherIsBetter ? "longer is better" : "shorter is better"}${log ? ", log scale" : ""}; whiskers: range over processes`)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * (barH + 8);
    const w = Math.max(1, x(b.value));
    out.push(`<text x="${labelW - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.mine ? "#2563eb" : "#9ca3af"}"/>`);
    if (b.range) {
      const [a, c] = b.range.map((v) => labelW + x(v));
      out.push(`<line x1="${(a as number).toFixed(1)}" x2="${(c as number).toFixed(1)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#111" stroke-width="1.5"/>`);
    }
    out.push(`<text x="${labelW + w + 6}" y="${y + barH / 2 + 4}">${esc(num(b.value))}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** Writes one SVG per scenario (its first metric) and `floors.svg`, `instructions.svg`. */
export function writeCharts(results: Results, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const write = (name: string, svg: string) => {
    writeFileSync(join(dir, name), svg);
    written.push(name);
  };
  for (const sc of SCENARIOS) {
    const metric = sc.metrics[0];
    if (!metric) continue;
    const bars: Bar[] = [];
    for (const r of results.rows) {
      if (r.scenario !== sc.name || r.unavailable) continue;
      const v = metric.pick(r);
      if (v === undefined) continue;
      const label = LABEL[r.engine as EngineName] ?? r.engine;
      bars.push({ label: r.size !== sc.size.stepwise ? `${label} (n=${r.size.toLocaleString("en-US")})` : label, value: v, range: metric.spread?.(r), mine: r.engine === "stepwise" });
    }
    if (bars.length > 0) write(`${sc.name}.svg`, barChart(sc.title, metric.label, bars, metric.higherIsBetter));
  }
  const o = results.overhead;
  if (o) {
    const kinds = (per: Record<string, { median: number; range: [number, number] }>) =>
      Object.entries(per).map(([k, s]) => ({ label: KIND_LABEL[k] ?? k, value: s.median, range: s.range, mine: k.startsWith("stepwise") }));
    write("floors.svg", barChart("The chain against its floors, alternated in one process", "wall ns per event", kinds(o.nsPerEvent), false));
    if (o.cpuNsPerEvent) write("floors-cpu.svg", barChart("The chain against its floors, alternated in one process", "CPU ns per event", kinds(o.cpuNsPerEvent), false));
    if (o.instructions) write("instructions.svg", barChart("The chain against its floors, counted by valgrind", "instructions per event", kinds(o.instructions.perEvent), false));
  }
  return written;
}

/** The newest bench/results/*.json. */
export function newestResults(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}-\d{2}-\d{2}.*\.json$/.test(f))
    .sort();
  return files.length ? join(dir, files.at(-1) as string) : undefined;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = process.argv[2] ?? newestResults(join(here, "results"));
  if (!file) throw new Error("no bench/results/*.json: run `npm run bench` first");
  const names = writeCharts(JSON.parse(readFileSync(file, "utf8")) as Results, join(here, "results", "charts"));
  console.log(`charts from ${file}: ${names.join(", ")}`);
}
