/**
 * `stepwise-ai/draw`: see a workflow. Offline HTML drawings of every possible flow and of
 * one run, and Mermaid text for docs.
 *
 * Importing this module starts recording runs (their inspection events, for the most
 * recent runs only) so that `drawMostRecentExecution` can draw a run after it ended.
 * @packageDocumentation
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { InspectionEvent } from "../index.js";
import { renderHtml } from "./html.js";
import { renderMermaid } from "./mermaid.js";
import { DrawError, buildExecutionDocument, buildFlowsDocument, type DrawTarget } from "./model.js";
import { latestRunId, recordedRun, startRecording } from "./record.js";

export { renderHtml } from "./html.js";
export { MissingDependencyError } from "../optional.js";
export { renderMermaid } from "./mermaid.js";
export {
  DrawError,
  buildExecutionDocument,
  buildFlowsDocument,
  flowGraph,
  membersOf,
  type DrawDocument,
  type DrawEdge,
  type DrawGraph,
  type DrawNode,
  type DrawTarget,
  type MemberDescription,
  type TimelineEntry,
} from "./model.js";
export { KEPT_RUNS, startRecording, stopRecording } from "./record.js";

startRecording();

/** Options of the drawing functions. */
export interface DrawOptions {
  /** Where to write the HTML file (default `workflow_all_flows.html` / `workflow_execution.html`, as in LlamaIndex). */
  filename?: string;
}

/**
 * Writes one self-contained HTML file (it opens with no network) showing every step, every
 * event type and the edges between them. Takes a workflow class, an instance, or an App;
 * an App's steps are marked with the member that owns them.
 * @returns the absolute path of the file written
 * @example
 * import { drawAllPossibleFlows } from "stepwise-ai/draw";
 * drawAllPossibleFlows(TradeMonitorWorkflow, { filename: "trade-monitor.html" });
 */
export function drawAllPossibleFlows(target: DrawTarget, options: DrawOptions = {}): string {
  const file = resolve(options.filename ?? "workflow_all_flows.html");
  writeFileSync(file, renderHtml(buildFlowsDocument(target)));
  return file;
}

/** Anything with a `runId`: a `WorkflowHandler`. */
export interface HasRunId {
  readonly runId: string;
}

/**
 * Writes one self-contained HTML file showing what one run did: which steps ran, how often,
 * in what order and for how long, which events flowed, and the runs it started. It is drawn
 * from the inspection events recorded while the run went (import `stepwise-ai/draw` before
 * the run starts), never by running it again.
 *
 * Pass the run's handler or id; or the inspection events themselves (e.g. collected with
 * `handler.inspect`); or nothing, for the most recent run.
 * @returns the absolute path of the file written
 * @example
 * const handler = wf.run({ payload: "AAPL" });
 * await handler;
 * drawMostRecentExecution(handler, { filename: "run.html" });
 */
export function drawMostRecentExecution(run?: HasRunId | string | readonly InspectionEvent[], options: DrawOptions = {}): string {
  const file = resolve(options.filename ?? "workflow_execution.html");
  writeFileSync(file, renderHtml(buildExecutionDocument(...executionEvents(run))));
  return file;
}

function executionEvents(run: HasRunId | string | readonly InspectionEvent[] | undefined): [readonly InspectionEvent[], string | undefined] {
  if (Array.isArray(run)) return [run as readonly InspectionEvent[], undefined];
  const runId = run === undefined ? latestRunId() : typeof run === "string" ? run : (run as HasRunId).runId;
  if (runId === undefined) throw new DrawError("No run has been recorded yet: import \"stepwise-ai/draw\" before starting the run you want to draw.", "NO_RUN");
  const recorded = recordedRun(runId);
  if (!recorded) {
    throw new DrawError(
      `Run "${runId}" was not recorded. Runs are recorded only after "stepwise-ai/draw" is imported, and only the most recent ones are kept; import it before starting the run, or pass the run's inspection events (collected with handler.inspect).`,
      "NO_RUN",
    );
  }
  return [recorded.events, runId];
}

/**
 * Mermaid flowchart text of every possible flow, for READMEs and docs.
 * @example
 * console.log(toMermaid(TradeMonitorWorkflow)); // flowchart TD …
 */
export function toMermaid(target: DrawTarget): string {
  return renderMermaid(buildFlowsDocument(target));
}
