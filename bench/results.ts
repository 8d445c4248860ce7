import type { Row } from "./table.js";

/** A measured value over several processes: the median, the range, every sample. */
export interface Spread {
  median: number;
  range: [number, number];
  samples: number[];
}

/** The chain against its floors (bench/child.ts alternate): ns per event, and instructions per event. */
export interface Overhead {
  size: number;
  rounds: number;
  processes: number;
  warm: number;
  /** Per kind: the median over processes of each process's median over its rounds. */
  nsPerEvent: Record<string, Spread>;
  /** The same, in process CPU time. */
  cpuNsPerEvent?: Record<string, Spread>;
  instructions?: { size: number; passes: [number, number]; tool: string; perEvent: Record<string, Spread> };
}

/** What one `npm run bench` writes to bench/results/<date>.json. */
export interface Results {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; freeMemoryGiB: number; os: string };
  node: string;
  versions: Record<string, string | undefined>;
  options: { reps: number; quick: boolean; source: boolean; peerScale?: number };
  rows: Row[];
  overhead?: Overhead;
}

export const KIND_LABEL: Record<string, string> = {
  floor: "minimal floor (allocate, route by class, await)",
  "floor-queue": "queue floor (+ FIFO queue, declared-emits check)",
  baseline: "plain async (await loop)",
  stepwise: "stepwise chain",
  "stepwise-fields": "stepwise chain, its event setting its own field (second idiom)",
  "floor-stream": "streaming floor (minimal floor + a kept log read by for await)",
  "stepwise-stream": "stepwise chain + streamEvents() reader",
};

const fmt = (v: number) => Math.round(v).toLocaleString("en-US");

/** The floors table: ns and instructions per event for each kind, and stepwise's ratios to each floor. */
export function renderOverhead(o: Overhead): string {
  const ins = o.instructions?.perEvent;
  const cpu = o.cpuNsPerEvent;
  const lines = [
    "| chain through | instructions per event (range) | CPU ns per event (range) | wall ns per event (range) | stepwise chain / this: instructions | CPU time | wall time |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  const cell = (s: Spread | undefined) => (s ? `${fmt(s.median)} (${fmt(s.range[0])}–${fmt(s.range[1])})` : "");
  for (const [kind, t] of Object.entries(o.nsPerEvent)) {
    const ratio = (per: Record<string, Spread> | undefined) => {
      const a = per?.stepwise?.median;
      const b = per?.[kind]?.median;
      return a === undefined || b === undefined || kind.startsWith("stepwise") || kind.endsWith("-stream") ? "" : `${(a / b).toFixed(2)}×`;
    };
    lines.push(`| ${KIND_LABEL[kind] ?? kind} | ${cell(ins?.[kind])} | ${cell(cpu?.[kind])} | ${cell(t)} | ${ratio(ins)} | ${ratio(cpu)} | ${ratio(o.nsPerEvent)} |`);
  }
  // The second idiom against both floors: what the chain costs when its event is built as the floors build theirs.
  const fieldsOver = (per: Record<string, Spread> | undefined, floor: string) => {
    const a = per?.["stepwise-fields"]?.median;
    const b = per?.[floor]?.median;
    return a === undefined || b === undefined ? undefined : `${(a / b).toFixed(2)}×`;
  };
  const fields: string[] = [];
  for (const [what, per] of [["instructions", ins], ["CPU time", cpu]] as const) {
    const a = fieldsOver(per, "floor");
    const b = fieldsOver(per, "floor-queue");
    if (a !== undefined && b !== undefined) fields.push(`${a} the minimal floor and ${b} the queue floor in ${what}`);
  }
  if (fields.length > 0) lines.push("", `With its event setting its own field (the second idiom), stepwise's chain costs ${fields.join("; ")}.`);
  const streamCost = (per: Record<string, Spread> | undefined) => {
    const a = per?.["stepwise-stream"]?.median;
    const b = per?.stepwise?.median;
    return a === undefined || b === undefined ? undefined : `${(a / b).toFixed(2)}×`;
  };
  const costs = [["instructions", streamCost(ins)], ["CPU time", streamCost(cpu)], ["wall time", streamCost(o.nsPerEvent)]].filter(([, v]) => v !== undefined);
  if (costs.length > 0) lines.push("", `Streaming (the chain read through \`handler.streamEvents()\`) costs ${costs.map(([w, v]) => `${v} the chain in ${w}`).join(", ")}.`);
  const overFloor = (per: Record<string, Spread> | undefined) => {
    const a = per?.["stepwise-stream"]?.median;
    const b = per?.["floor-stream"]?.median;
    return a === undefined || b === undefined ? undefined : `${(a / b).toFixed(2)}×`;
  };
  const floors = [["instructions", overFloor(ins)], ["CPU time", overFloor(cpu)], ["wall time", overFloor(o.nsPerEvent)]].filter(([, v]) => v !== undefined);
  if (floors.length > 0) lines.push("", `Against the streaming floor (the same chain and reader in plain code, the log kept), stepwise's streaming costs ${floors.map(([w, v]) => `${v} in ${w}`).join(", ")}.`);
  lines.push(
    "",
    `Time: ${o.processes} processes, each warming every kind ${o.warm} × ${fmt(o.size)} events, then ${o.rounds} rounds running each kind once in rotating order; per process the median of its rounds, then the median (range) over processes.` +
      (o.instructions ? ` Instructions: ${o.instructions.tool}, (I(${o.instructions.passes[1]} rounds) − I(${o.instructions.passes[0]} round)) / events of the extra rounds, at ${fmt(o.instructions.size)} events per round, ${o.instructions.perEvent.stepwise?.samples.length ?? 0} pairs of processes per kind.` : ""),
  );
  return lines.join("\n");
}
