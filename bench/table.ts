import { cpus } from "node:os";
import { REACT, REACT_IDEAL_MS } from "./types.js";

export const ENGINES = ["stepwise", "workflow-core", "workflow-core-stop", "langgraph", "mastra", "baseline", "floor", "floor-queue"] as const;
export type EngineName = (typeof ENGINES)[number];

export const LABEL: Record<EngineName, string> = {
  stepwise: "stepwise",
  "workflow-core": "workflow-core (stream idiom, documented)",
  "workflow-core-stop": "workflow-core (stop-handler idiom)",
  langgraph: "LangGraph (StateGraph)",
  mastra: "Mastra (workflows)",
  baseline: "plain async",
  floor: "minimal floor",
  "floor-queue": "queue floor",
};

interface Metric {
  label: string;
  pick: (r: Row) => number | undefined;
  /** The measured range of the metric over the repetitions, where it has one. */
  spread?: (r: Row) => [number, number] | undefined;
  format: (v: number) => string;
  /** True when more is better (a rate); ratios are printed as stepwise/peer either way. */
  higherIsBetter: boolean;
}

export interface Scenario {
  name: string;
  title: string;
  /** Size per engine; an engine without one is not run. */
  size: Partial<Record<EngineName, number>>;
  quick: Partial<Record<EngineName, number>>;
  metrics: Metric[];
  /** Also run a heap pass (its own process) for this scenario. */
  heap?: boolean;
}

/** One cell: the medians (and ranges) over the repetitions of one engine in one scenario. */
export interface Row {
  scenario: string;
  engine: string;
  size: number;
  reps: number;
  unavailable: string | undefined;
  ms: number;
  msRange: [number, number];
  coldMs?: number | undefined;
  coldMsRange?: [number, number] | undefined;
  perSecond?: number | undefined;
  perSecondRange?: [number, number] | undefined;
  coldPerSecond?: number | undefined;
  cpuPerItemUs?: number | undefined;
  cpuPerItemUsRange?: [number, number] | undefined;
  heapPerItem?: number | undefined;
  bytesPerItem?: number | undefined;
}

const int = (v: number) => Math.round(v).toLocaleString("en-US");
const ms = (v: number) => `${v < 100 ? v.toFixed(1) : int(v)} ms`;
const us = (v: number) => `${v < 100 ? v.toFixed(1) : int(v)} µs`;
const bytes = (v: number) => (Math.abs(v) >= 1024 ? `${(v / 1024).toFixed(1)} KB` : `${Math.round(v)} B`);

const rate = (unit: string): Metric => ({ label: `${unit}/s, warm`, pick: (r) => r.perSecond, spread: (r) => r.perSecondRange, format: int, higherIsBetter: true });
const coldRate = (unit: string): Metric => ({ label: `${unit}/s, cold`, pick: (r) => r.coldPerSecond, format: int, higherIsBetter: true });
const wall: Metric = { label: "wall time, warm", pick: (r) => r.ms, spread: (r) => r.msRange, format: ms, higherIsBetter: false };
const coldWall: Metric = { label: "wall time, cold", pick: (r) => r.coldMs, spread: (r) => r.coldMsRange, format: ms, higherIsBetter: false };
const heap = (per: string): Metric => ({ label: `heap per ${per}`, pick: (r) => r.heapPerItem, format: bytes, higherIsBetter: false });
const cpu = (per: string): Metric => ({ label: `CPU per ${per}, warm`, pick: (r) => r.cpuPerItemUs, spread: (r) => r.cpuPerItemUsRange, format: us, higherIsBetter: false });
const journalBytes: Metric = { label: "journal bytes per event", pick: (r) => r.bytesPerItem, format: bytes, higherIsBetter: false };
/** Scenario 6's runs journal three events each (StartEvent, Mid, StopEvent): its rate in events. */
const runEvents: Metric = { label: "journaled events/s (3 per run), warm", pick: (r) => (r.perSecond === undefined ? undefined : r.perSecond * 3), format: int, higherIsBetter: true };
const overIdeal: Metric = { label: `wall − ideal ${REACT_IDEAL_MS} ms, warm`, pick: (r) => r.ms - REACT_IDEAL_MS, format: ms, higherIsBetter: false };

// The peers are far slower, and workflow-core's chain slows down as it grows (its handler
// contexts form a linked chain that is retained until the run ends), so they run smaller sizes:
// a rate measured at a smaller size flatters them.
export const SCENARIOS: Scenario[] = [
  {
    name: "chain",
    title: "1. chain: one step re-emitting a loop event",
    size: { stepwise: 100_000, "workflow-core": 2_000, "workflow-core-stop": 10_000, langgraph: 1_000, mastra: 1_000, baseline: 100_000, floor: 100_000, "floor-queue": 100_000 },
    quick: { stepwise: 1_000, "workflow-core": 100, "workflow-core-stop": 100, langgraph: 30, mastra: 30, baseline: 1_000, floor: 1_000, "floor-queue": 1_000 },
    metrics: [rate("events"), coldRate("events"), cpu("event"), heap("event")],
    heap: true,
  },
  {
    name: "fanout",
    title: "2. fan-out/fan-in: 1,000 × 10 ms tasks, joined",
    size: { stepwise: 1_000, "workflow-core": 1_000, "workflow-core-stop": 1_000, langgraph: 1_000, mastra: 1_000, baseline: 1_000 },
    quick: { stepwise: 50, "workflow-core": 50, "workflow-core-stop": 50, langgraph: 20, mastra: 20, baseline: 50 },
    metrics: [wall, coldWall],
  },
  {
    name: "runs",
    title: "3. concurrent runs: two-step runs started at once",
    size: { stepwise: 10_000, "workflow-core": 1_000, "workflow-core-stop": 5_000, langgraph: 1_000, mastra: 1_000, baseline: 10_000 },
    quick: { stepwise: 200, "workflow-core": 100, "workflow-core-stop": 100, langgraph: 20, mastra: 20, baseline: 200 },
    metrics: [wall, coldWall, rate("runs"), cpu("run"), heap("in-flight run")],
    heap: true,
  },
  {
    name: "stream",
    title: "4. streaming: the chain with a stream consumer",
    size: { stepwise: 100_000, "workflow-core": 2_000, langgraph: 1_000, baseline: 100_000 },
    quick: { stepwise: 1_000, "workflow-core": 100, langgraph: 30, baseline: 1_000 },
    metrics: [rate("events"), coldRate("events"), cpu("event")],
  },
  {
    name: "durable-sync",
    title: '5a. durable chain on SQLite, durability: "sync"',
    size: { stepwise: 10_000, baseline: 10_000 },
    quick: { stepwise: 200, baseline: 200 },
    metrics: [rate("journaled events"), coldRate("journaled events")],
  },
  {
    name: "durable-batched",
    title: '5b. durable chain on SQLite, durability: "batched"',
    size: { stepwise: 100_000, baseline: 100_000 },
    quick: { stepwise: 1_000, baseline: 1_000 },
    metrics: [rate("journaled events"), coldRate("journaled events")],
  },
  {
    name: "durable-runs-sqlite",
    title: "6a. 1,000 short durable runs at once on SQLite",
    size: { stepwise: 1_000, baseline: 1_000 },
    quick: { stepwise: 50, baseline: 50 },
    metrics: [wall, coldWall, runEvents, cpu("run")],
  },
  {
    name: "durable-runs-postgres",
    title: "6b. 1,000 short durable runs at once on PostgreSQL",
    size: { stepwise: 1_000, baseline: 1_000 },
    quick: { stepwise: 50, baseline: 50 },
    metrics: [wall, coldWall, runEvents, cpu("run")],
  },
  {
    name: "durable-sync-postgres",
    title: '5c. durable chain on PostgreSQL, durability: "sync"',
    size: { stepwise: 2_000 },
    quick: { stepwise: 100 },
    metrics: [rate("journaled events"), coldRate("journaled events")],
  },
  {
    name: "durable-batched-postgres",
    title: '5d. durable chain on PostgreSQL, durability: "batched"',
    size: { stepwise: 20_000 },
    quick: { stepwise: 500 },
    metrics: [rate("journaled events"), coldRate("journaled events")],
  },
  {
    name: "react",
    title: `7. ReAct: 1,000 concurrent runs, ${REACT.turns} model calls (${REACT.model} ms) and ${REACT.turns - 1} tool calls (${REACT.tool} ms) each`,
    size: { stepwise: 1_000, "workflow-core": 1_000, "workflow-core-stop": 1_000, langgraph: 1_000, mastra: 1_000, baseline: 1_000 },
    quick: { stepwise: 50, "workflow-core": 20, "workflow-core-stop": 20, langgraph: 10, mastra: 10, baseline: 50 },
    metrics: [wall, overIdeal, coldWall, cpu("run")],
  },
  // Costs that must grow linearly (issue 11): each pair is read as a ratio of its two rows.
  {
    name: "chain-no-timeout",
    title: "8a. 30,000-step chain, steps without a timeout",
    size: { stepwise: 30_000 },
    quick: { stepwise: 1_000 },
    metrics: [wall, rate("events")],
  },
  {
    name: "chain-step-timeout",
    title: "8b. the same chain, every step with `timeout` (goal: within 1.5× of 8a)",
    size: { stepwise: 30_000 },
    quick: { stepwise: 1_000 },
    metrics: [wall, rate("events")],
  },
  {
    name: "waiters-1k",
    title: "9a. 1,000 steps waiting at once in ctx.waitForEvent (each by requirements: its id), then answered",
    size: { stepwise: 1_000 },
    quick: { stepwise: 100 },
    metrics: [wall, cpu("waiter")],
  },
  {
    name: "waiters-10k",
    title: "9b. 10,000 waiting at once (goal: within 15× of 9a's time)",
    size: { stepwise: 10_000 },
    quick: { stepwise: 1_000 },
    metrics: [wall, cpu("waiter")],
  },
  {
    name: "journal-fanout-100",
    title: "10a. durable fan-out of width 100 joined by collectEvents (SQLite, batched)",
    size: { stepwise: 100 },
    quick: { stepwise: 100 },
    metrics: [journalBytes, wall],
  },
  {
    name: "journal-fanout-1000",
    title: "10b. the same at width 1,000 (goal: journal bytes per event flat from 10a)",
    size: { stepwise: 1_000 },
    quick: { stepwise: 300 },
    metrics: [journalBytes, wall],
  },
];

const PEERS: EngineName[] = ["workflow-core", "workflow-core-stop", "langgraph", "mastra", "baseline"];

/** A ratio as printed: two significant figures, and a ✓ when stepwise is the better. */
export function formatRatio(q: number, better: boolean): string {
  return `${q >= 10 ? q.toFixed(0) : q >= 0.1 ? q.toFixed(2) : q.toPrecision(2)}×${better ? " ✓" : ""}`;
}

/** The results as one Markdown table: medians (with their range over the repetitions), then stepwise/peer ratios. */
export function renderTable(rows: Row[], info: { reps: number; quick: boolean }): string {
  const present = ENGINES.filter((e) => rows.some((r) => r.engine === e));
  const peers = PEERS.filter((p) => present.includes(p) && present.includes("stepwise"));
  const head = ["scenario", "metric", ...present.map((e) => LABEL[e]), ...peers.map((p) => `stepwise / ${LABEL[p]}`)];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  for (const sc of SCENARIOS) {
    const mine = rows.filter((r) => r.scenario === sc.name);
    if (mine.length === 0) continue;
    const nominal = sc.size.stepwise;
    for (const [mi, metric] of sc.metrics.entries()) {
      const cell = (e: EngineName): string => {
        const r = mine.find((x) => x.engine === e);
        if (!r) return "";
        if (r.unavailable) return mi === 0 ? `n/a: ${r.unavailable}` : "";
        const v = metric.pick(r);
        if (v === undefined) return "";
        const range = metric.spread?.(r);
        const spread = range && r.reps > 1 && !info.quick ? ` (${metric.format(range[0])}–${metric.format(range[1])})` : "";
        return metric.format(v) + spread + (r.size !== nominal && !info.quick ? ` (n=${int(r.size)})` : "");
      };
      const ratio = (p: EngineName): string => {
        const a = mine.find((x) => x.engine === "stepwise");
        const b = mine.find((x) => x.engine === p);
        if (!a || !b || a.unavailable || b.unavailable) return "";
        const va = metric.pick(a);
        const vb = metric.pick(b);
        // A ratio to (nearly) nothing says nothing: heap figures of a few bytes are noise.
        if (va === undefined || vb === undefined || vb === 0) return "";
        if (metric.label.startsWith("heap") && Math.abs(vb) < 8) return "—";
        const q = va / vb;
        return formatRatio(q, metric.higherIsBetter ? q >= 1 : q <= 1);
      };
      lines.push(`| ${mi === 0 ? sc.title : ""} | ${metric.label} | ${present.map(cell).join(" | ")} | ${peers.map(ratio).join(" | ")} |`);
    }
  }
  const cpuModel = cpus()[0]?.model ?? "unknown CPU";
  const footer = `\nMedians of ${info.reps} fresh process${info.reps === 1 ? "" : "es"} each (range in parentheses)${info.quick ? " (quick: small sizes, correctness only)" : ""}; Node ${process.version}, ${cpus().length} × ${cpuModel}. Ratios are stepwise/peer of the metric: for rates ✓ marks ≥ 1, for times and heap ✓ marks ≤ 1.`;
  return lines.join("\n") + "\n" + footer;
}
