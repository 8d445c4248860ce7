/** The `run` and `draw` commands, apart from argument parsing. */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { EventValidationError, WorkflowError, WorkflowTimeoutError, describeWorkflow, inspect, type Event, type InspectionEvent, type Store } from "../index.js";
import { renderHtml } from "../draw/html.js";
import { renderMermaid } from "../draw/mermaid.js";
import { buildFlowsDocument } from "../draw/model.js";
import { RunFailedError, UsageError } from "./errors.js";
import { instantiate, loadWorkflows, pickWorkflow, type Candidate } from "./load.js";
import { DEFAULT_STORE, openStore } from "./runs.js";
import { JsonView, LiveView, PlainView, errorJson, safeJson, type ProgressView } from "./progress.js";

/** Options of `stepwise run`. */
export interface RunCommandOptions {
  workflow?: string;
  input?: string;
  inputFile?: string;
  json?: boolean;
  timeout?: number;
  /** The SQLite journal (`--store FILE`; default `.stepwise/runs.db`), or false (`--no-store`). */
  store?: string | boolean;
}

/** Where the command writes; tests and the bin pass process streams. */
export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The run's input: `--input` JSON, `--input-file` JSON, or nothing. */
export function readInput(options: Pick<RunCommandOptions, "input" | "inputFile">): Record<string, unknown> | undefined {
  if (options.input !== undefined && options.inputFile !== undefined) throw new UsageError("Pass --input or --input-file, not both.");
  let text: string;
  let from: string;
  if (options.input !== undefined) {
    text = options.input;
    from = "--input";
  } else if (options.inputFile !== undefined) {
    from = `--input-file "${options.inputFile}"`;
    try {
      text = readFileSync(resolve(options.inputFile), "utf8");
    } catch (err) {
      throw new UsageError(`Cannot read ${from}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : err instanceof Error ? err.message : String(err)}.`, "FILE_NOT_FOUND");
    }
  } else {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${from} is not valid JSON (${err instanceof Error ? err.message : String(err)}). Pass an object of StartEvent fields, e.g. --input '{"payload":"AAPL"}'.`, "BAD_INPUT");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`${from} must be a JSON object of StartEvent fields, got ${Array.isArray(value) ? "an array" : JSON.stringify(value)}.`, "BAD_INPUT");
  }
  return value as Record<string, unknown>;
}

/** `stepwise run`: load, pick, check the input, run with progress, print the result. */
export async function runCommand(file: string, options: RunCommandOptions, io: Io): Promise<void> {
  const input = readInput(options);
  const { candidates } = await loadWorkflows(file);
  const picked = pickWorkflow(file, candidates, options.workflow);
  const store = await storeFor(picked, options, io);
  let wf;
  try {
    wf = instantiate(picked, { ...(options.timeout === undefined ? {} : { timeout: options.timeout }), ...(store ? { store } : {}) });
  } catch (err) {
    await store?.close?.();
    throw err;
  }
  const description = describeWorkflow(wf);
  let start: Event;
  try {
    start = new (description.startEvent as new (data?: unknown) => Event)(input);
  } catch (err) {
    if (err instanceof EventValidationError) throw new UsageError(`The input does not fit ${err.eventType}, the StartEvent of ${description.name}: ${err.message}`, "BAD_INPUT");
    throw err;
  }

  const view: ProgressView = options.json ? new JsonView(io.stdout) : io.stderr.isTTY ? new LiveView(io.stderr, description.name, description.steps.map((s) => s.name)) : new PlainView(io.stderr);
  // A global inspector sees nested runs too; this process runs nothing else.
  const seen: InspectionEvent[] = [];
  const stop = inspect((e) => {
    seen.push(e);
    view.onEvent(e);
  });
  let timer: NodeJS.Timeout | undefined;
  let timedOut: WorkflowTimeoutError | undefined;
  try {
    const handler = wf.run(start);
    // An exported instance keeps its own timeout option, so --timeout is enforced here.
    if (options.timeout !== undefined && picked.kind !== "class") {
      const seconds = options.timeout;
      timer = setTimeout(() => {
        timedOut = new WorkflowTimeoutError(`Workflow "${description.name}" timed out after ${seconds} s (--timeout).`, seconds, { workflow: description.name, runId: handler.runId });
        handler.cancel(timedOut);
      }, seconds * 1000);
    }
    let result: unknown;
    try {
      result = await handler;
    } catch (err) {
      view.finish();
      if (store && !options.json) io.stderr.write(`The run's journal is in ${storeLabel(options)}: stepwise runs show ${handler.runId}${options.store && options.store !== true ? ` --store ${options.store}` : ""}\n`);
      const e = timedOut ?? err;
      const code = e instanceof WorkflowError ? e.code : e instanceof Error ? e.name : "ERROR";
      if (options.json) io.stdout.write(`${safeJson({ kind: "error", ...errorJson(e), code })}\n`);
      throw new RunFailedError(e instanceof Error ? e.message : String(e), code, { cause: e });
    }
    view.finish();
    if (options.json) io.stdout.write(`${safeJson({ kind: "result", runId: handler.runId, status: "completed", result })}\n`);
    else io.stdout.write(`${typeof result === "string" ? result : (safeJson(result) ?? String(result))}\n`);
  } finally {
    if (timer) clearTimeout(timer);
    stop();
    await store?.close?.();
  }
}

const storeLabel = (options: RunCommandOptions) => (typeof options.store === "string" ? options.store : DEFAULT_STORE);

/**
 * The journal for a run of an exported class: SQLite at `--store` (default `.stepwise/runs.db`),
 * unless `--no-store`. An exported instance keeps its own options, so it gets none.
 */
async function storeFor(picked: Candidate, options: RunCommandOptions, io: Io): Promise<Store | undefined> {
  if (options.store === false) return undefined;
  const explicit = typeof options.store === "string";
  if (picked.kind !== "class") {
    if (explicit) throw new UsageError(`--store works for an exported class; ${picked.name} is an instance, so pass store: new SqliteStore(...) in its own options instead.`, "BAD_USAGE");
    return undefined;
  }
  try {
    return await openStore(explicit ? (options.store as string) : undefined, true);
  } catch (err) {
    if (!explicit && err instanceof UsageError && err.code === "NO_DRIVER") {
      if (!options.json) io.stderr.write("stepwise: better-sqlite3 is not installed, so this run is not journaled (npm install better-sqlite3, or pass --no-store).\n");
      return undefined;
    }
    throw err;
  }
}

/** Options of `stepwise draw`. */
export interface DrawCommandOptions {
  workflow?: string;
  output?: string;
  mermaid?: boolean;
}

/** `stepwise draw`: every possible flow as HTML (or Mermaid text). */
export async function drawCommand(file: string, options: DrawCommandOptions, io: Io): Promise<void> {
  const { candidates } = await loadWorkflows(file);
  const picked = pickWorkflow(file, candidates, options.workflow);
  const doc = buildFlowsDocument(picked.value);
  if (options.mermaid) {
    const text = renderMermaid(doc);
    if (options.output === undefined) io.stdout.write(text);
    else {
      writeFileSync(resolve(options.output), text);
      io.stderr.write(`Wrote ${resolve(options.output)}\n`);
    }
    return;
  }
  const out = resolve(options.output ?? `${picked.name}.html`);
  writeFileSync(out, renderHtml(doc));
  io.stdout.write(`Wrote ${out}\n`);
}
