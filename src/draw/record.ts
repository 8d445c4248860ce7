/** Keeps the inspection events of the most recent runs, so a run can be drawn after it ended. */
import { inspect, type InspectionEvent } from "../index.js";

/** How many runs (nested runs count as runs) are kept; the oldest are forgotten first. */
export const KEPT_RUNS = 50;
/** Inspection events kept per run; a run that produces more keeps its first ones and is marked truncated. */
export const KEPT_EVENTS_PER_RUN = 10_000;

interface Recorded {
  events: InspectionEvent[];
  truncated: boolean;
}

const runs = new Map<string, Recorded>();
let stop: (() => void) | undefined;

function record(e: InspectionEvent): void {
  let r = runs.get(e.runId);
  if (!r) {
    if (e.kind !== "run_started") return;
    runs.set(e.runId, (r = { events: [], truncated: false }));
    // Map keeps insertion order: the first keys are the oldest runs.
    while (runs.size > KEPT_RUNS) runs.delete(runs.keys().next().value as string);
  }
  if (r.events.length >= KEPT_EVENTS_PER_RUN) r.truncated = true;
  else r.events.push(e);
}

/**
 * Start recording every run of this process (idempotent). Importing `stepwise-ai/draw` does
 * this, so runs started after the import can be drawn with `drawMostRecentExecution`.
 */
export function startRecording(): void {
  stop ??= inspect(record);
}

/** Stop recording and forget what was recorded. */
export function stopRecording(): void {
  stop?.();
  stop = undefined;
  runs.clear();
}

/** The recorded events of a run and of the runs nested in it, or undefined if it was not recorded. */
export function recordedRun(runId: string): { events: InspectionEvent[]; truncated: boolean } | undefined {
  const root = runs.get(runId);
  if (!root) return undefined;
  const ids = new Set([runId]);
  // Children start after their parent, so one pass in insertion order finds every descendant.
  for (const [id, r] of runs) {
    const first = r.events[0];
    if (first?.kind === "run_started" && first.parentRunId !== undefined && ids.has(first.parentRunId)) ids.add(id);
  }
  const events: InspectionEvent[] = [];
  let truncated = false;
  for (const id of ids) {
    const r = runs.get(id)!;
    events.push(...r.events);
    truncated ||= r.truncated;
  }
  return { events, truncated };
}

/** The id of the most recent top-level run recorded, if any. */
export function latestRunId(): string | undefined {
  let latest: string | undefined;
  for (const [id, r] of runs) {
    const first = r.events[0];
    if (first?.kind === "run_started" && first.parentRunId === undefined) latest = id;
  }
  return latest;
}
