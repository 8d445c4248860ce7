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
  instructions?: { size: number; passes: [number, number]; tool: string; perEvent: Record<string, Spread> };
}

/** What one `npm run bench` writes to bench/results/<date>.json. */
export interface Results {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; freeMemoryGiB: number; os: string };
  node: string;
  versions: Record<string, string | undefined>;
  options: { reps: number; quick: boolean; source: boolean };
  rows: Row[];
  overhead?: Overhead;
}

export const KIND_LABEL: Record<string, string> = {
  floor: "minimal floor (allocate, route by class, await)",
  "floor-queue": "queue floor (+ FIFO queue, declared-emits check)",
  baseline: "plain async (await loop)",
  stepwise: "stepwise chain",
  "stepwise-stream": "stepwise chain + streamEvents() reader",
};

const fmt = (v: number) => Math.round(v).toLocaleString("en-US");

/** The floors table: ns and instructions per event for each kind, and stepwise's ratios to each floor. */
export function renderOverhead(o: Overhead): string {
  const ins = o.instructions?.perEvent;
  const lines = [
    "| chain through | ns per event (range) | instructions per event (range) | stepwise chain / this, time | stepwise chain / this, instructions |",
    "| --- | --- | --- | --- | --- |",
  ];
  const sw = o.nsPerEvent.stepwise?.median;
  const swI = ins?.stepwise?.median;
  for (const [kind, t] of Object.entries(o.nsPerEvent)) {
    const i = ins?.[kind];
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || kind === "stepwise" ? "" : `${(a / b).toFixed(2)}×`);
    lines.push(
      `| ${KIND_LABEL[kind] ?? kind} | ${fmt(t.median)} (${fmt(t.range[0])}–${fmt(t.range[1])}) | ${i ? `${fmt(i.median)} (${fmt(i.range[0])}–${fmt(i.range[1])})` : ""} | ${ratio(sw, t.median)} | ${ratio(swI, i?.median)} |`,
    );
  }
  const stream = o.nsPerEvent["stepwise-stream"]?.median;
  const streamI = ins?.["stepwise-stream"]?.median;
  if (stream !== undefined && sw !== undefined) {
    lines.push("", `Streaming (the chain read through \`handler.streamEvents()\`) costs ${(stream / sw).toFixed(2)}× the chain in time${streamI !== undefined && swI !== undefined ? `, ${(streamI / swI).toFixed(2)}× in instructions` : ""}.`);
  }
  lines.push(
    "",
    `Time: ${o.processes} processes, each warming every kind ${o.warm} × ${fmt(o.size)} events, then ${o.rounds} rounds running each kind once in rotating order; per process the median of its rounds, then the median (range) over processes.` +
      (o.instructions ? ` Instructions: ${o.instructions.tool}, (I(${o.instructions.passes[1]} rounds) − I(${o.instructions.passes[0]} round)) / events of the extra rounds, at ${fmt(o.instructions.size)} events per round, ${o.instructions.perEvent.stepwise?.samples.length ?? 0} pairs of processes per kind.` : ""),
  );
  return lines.join("\n");
}
