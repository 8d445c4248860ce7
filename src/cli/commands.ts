/** The `run` and `draw` commands, apart from argument parsing. */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { EventValidationError, describeWorkflow, type Event } from "../index.js";
import { renderHtml } from "../draw/html.js";
import { renderMermaid } from "../draw/mermaid.js";
import { buildFlowsDocument } from "../draw/model.js";
import { UsageError } from "./errors.js";
import { instantiate, loadWorkflows, pickWorkflow, type Candidate } from "./load.js";
import { follow, type Io } from "./follow.js";
import { openStore, rememberFile, type OpenedStore } from "./store.js";
import { clean } from "./text.js";

/** Options of `stepwise run`. */
export interface RunCommandOptions {
  workflow?: string;
  input?: string;
  /** false for `--no-input`: never prompt. */
  prompt?: boolean;
  inputFile?: string;
  json?: boolean;
  timeout?: number;
  /** The SQLite journal (`--store FILE`; default {@link defaultStorePath}), or false (`--no-store`). */
  store?: string | boolean;
}

/** The run's input: `--input` JSON, `--input-file` JSON, or nothing. */
export function readInput(options: Pick<RunCommandOptions, "input" | "inputFile">): Record<string, unknown> | undefined {
  const inline = options.input;
  if (inline !== undefined && options.inputFile !== undefined) throw new UsageError("Pass --input or --input-file, not both.");
  let text: string;
  let from: string;
  if (inline !== undefined) {
    text = inline;
    from = "--input";
  } else if (options.inputFile !== undefined) {
    from = `--input-file "${options.inputFile}"`;
    try {
      text = readFileSync(resolve(options.inputFile), "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`Cannot read ${from}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : err instanceof Error ? err.message : String(err)}.`, "FILE_NOT_FOUND");
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
  const { path, candidates } = await loadWorkflows(file);
  const picked = pickWorkflow(file, candidates, options.workflow);
  const opened = await storeFor(picked, options, io);
  const store = opened?.store;
  let wf;
  try {
    wf = instantiate(picked, { ...(options.timeout === undefined ? {} : { timeout: options.timeout }), ...(store ? { store } : {}) });
  } catch (err) {
    store?.close();
    throw err;
  }
  if (opened) rememberFile(opened.path, picked, path);
  const description = describeWorkflow(wf);
  let start: Event;
  try {
    start = new (description.startEvent as new (data?: unknown) => Event)(input);
  } catch (err) {
    store?.close();
    if (err instanceof EventValidationError) throw new UsageError(`The input does not fit ${err.eventType}, the StartEvent of ${description.name}: ${err.message}`, "BAD_INPUT");
    throw err;
  }
  const storeArg = typeof options.store === "string" ? options.store : undefined;
  try {
    await follow(() => wf.run(start), { name: description.name, steps: description.steps.map((s) => s.name), json: options.json === true, prompt: options.prompt !== false, timeout: picked.kind === "class" ? undefined : options.timeout, storeArg, journaled: opened !== undefined }, io);
  } finally {
    store?.close();
  }
}

/**
 * The journal for a run of an exported class: SQLite at `--store` (default {@link defaultStorePath}),
 * unless `--no-store`. An exported instance keeps its own options, so it gets none.
 */
async function storeFor(picked: Candidate, options: RunCommandOptions, io: Io): Promise<OpenedStore | undefined> {
  if (options.store === false) return undefined;
  const explicit = typeof options.store === "string" ? options.store : undefined;
  if (picked.kind !== "class") {
    if (explicit !== undefined) throw new UsageError(`--store works for an exported class; ${picked.name} is an instance, so pass store: new SqliteStore(...) in its own options instead.`, "BAD_USAGE");
    return undefined;
  }
  try {
    const opened = await openStore(explicit, "create");
    // Said once, when the file is made: where runs go, and how to look at them.
    if (opened.created && !options.json) io.stderr.write(`stepwise: journaling runs in ${clean(opened.path, true)} (made now; "stepwise runs list" shows them, --store picks another file, --no-store none).\n`);
    return opened;
  } catch (err) {
    if (explicit === undefined && err instanceof UsageError && err.code === "NO_DRIVER") {
      if (!options.json) io.stderr.write(`stepwise: ${err.message.replace(/^Stored runs need/, "this run is not journaled: that needs")}\n`);
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
    if (options.output === undefined) io.stdout.write(clean(text));
    else {
      writeOut(resolve(options.output), text);
      io.stderr.write(`Wrote ${clean(resolve(options.output), true)}\n`);
    }
    return;
  }
  const out = resolve(options.output ?? `${picked.name}.html`);
  writeOut(out, renderHtml(doc));
  io.stdout.write(`Wrote ${clean(out, true)}\n`);
}

function writeOut(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new UsageError(`Cannot write ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "its folder does not exist" : err instanceof Error ? err.message : String(err)}. Pick another -o path.`, "BAD_OUTPUT");
  }
}
