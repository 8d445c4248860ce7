/** `stepwise runs list|show|resume`: stored runs, read from (and continued in) a store. */
import { Option, type Command } from "commander";
import {
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowError,
  describeWorkflow,
  eventTypeName,
  type Event,
  type EventClass,
  type JournalEntry,
  type RunStatus,
  type Store,
  type StoredRun,
} from "../index.js";
import { follow, type Io } from "./follow.js";
import { RunFailedError, UsageError } from "./errors.js";
import { loadWorkflows, pickWorkflow } from "./load.js";
import { STORE_HELP, openStore, rememberedFile, type StoreAccess } from "./store.js";
import { clean, cleanJson } from "./text.js";

const STATUSES: readonly RunStatus[] = ["running", "waiting", "completed", "failed", "cancelled", "timed_out"];

interface StoreOption {
  store?: string;
}

const time = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
const json = (v: unknown) => JSON.stringify(v) ?? "undefined";

/** One line per journal record, for `runs show`. */
export function describeEntry(e: JournalEntry): string {
  switch (e.kind) {
    case "run_started":
      return `run started with ${e.input.type} ${json(e.input.data)}${e.parentRunId ? ` (child of ${e.parentRunId})` : ""}`;
    case "event":
      return `event #${e.seq} ${e.event.type} ${json(e.event.data)}${e.from ? ` from ${e.from}` : " from outside"}${e.to ? ` to ${e.to}` : ""}`;
    case "step_started":
      return `step ${e.step} started on #${e.seq} (${e.stepRunId}, attempt ${e.attempt})`;
    case "step_finished":
      return `step ${e.step} finished (${e.stepRunId})${e.emitted.length ? `, emitted ${e.emitted.map((s) => `#${s}`).join(", ")}` : ""}`;
    case "step_failed":
      return `step ${e.step} failed (${e.stepRunId}, attempt ${e.attempt}): ${e.error.message}${e.willRetry ? " — will retry" : ""}`;
    case "child":
      return `${e.stepRunId} started child run ${e.runId}`;
    case "state":
      return `ctx.store ${e.key} = ${json(e.value)}`;
    case "collect":
      return `collectEvents ${e.key}${e.seqs ? ` holds ${e.seqs.map((s) => `#${s}`).join(", ") || "nothing"}` : ""}${e.add !== undefined ? ` added #${e.add}` : ""}${e.taken ? `, took ${e.taken.map((s) => `#${s}`).join(", ")}` : ""}`;
    case "waiting":
      return `${e.stepRunId} waits for ${e.type}`;
    case "received":
      return `${e.stepRunId} received #${e.seq}`;
    case "stream":
      return `streamed ${e.pos}: ${e.event.type} ${json(e.event.data)}${e.origin ? ` from child run ${e.origin.runId}` : ""}${e.by ? ` (${e.by})` : ""}`;
    case "run_resumed":
      return `resumed by ${e.owner}`;
    case "run_finished":
      return `run ${e.status}${e.status === "completed" ? `: ${json(e.result)}` : e.error ? `: ${e.error.message}` : ""}`;
  }
}

/** `runs list`. */
export async function listRuns(store: Store, options: { status?: string; workflow?: string; limit?: number; json?: boolean }, io: Io): Promise<void> {
  if (options.status !== undefined && !STATUSES.includes(options.status as RunStatus)) {
    throw new UsageError(`--status must be one of ${STATUSES.join(", ")}; got "${options.status}".`, "BAD_INPUT");
  }
  const runs = await store.listRuns({
    ...(options.status === undefined ? {} : { status: options.status as RunStatus }),
    ...(options.workflow === undefined ? {} : { workflow: options.workflow }),
    limit: options.limit ?? 50,
  });
  if (options.json) {
    for (const r of runs) io.stdout.write(`${cleanJson(JSON.stringify(r))}\n`);
    return;
  }
  if (runs.length === 0) {
    io.stdout.write("No runs.\n");
    return;
  }
  const rows = [["RUN", "WORKFLOW", "STATUS", "CREATED", "UPDATED"], ...runs.map((r) => [r.runId, r.workflow, r.status, time(r.createdAt), time(r.updatedAt)].map((c) => clean(c, true)))];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) io.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
}

/** `runs show`. */
export async function showRun(store: Store, runId: string, options: { json?: boolean }, io: Io): Promise<void> {
  const run = await store.getRun(runId);
  if (!run) throw new UsageError(`The store has no run "${runId}"; see "stepwise runs list".`, "RUN_NOT_FOUND");
  const journal = await store.getJournal(runId);
  if (options.json) {
    io.stdout.write(`${cleanJson(JSON.stringify({ ...run, journal }))}\n`);
    return;
  }
  const lines = [
    `run       ${run.runId}`,
    `workflow  ${run.workflow}`,
    `status    ${run.status}`,
    `input     ${json(run.input.data)}`,
    ...(run.result !== undefined ? [`result    ${json(run.result)}`] : []),
    ...(run.error ? [`error     ${run.error.name}${run.error.code ? ` [${run.error.code}]` : ""}: ${run.error.message}`] : []),
    `created   ${time(run.createdAt)}`,
    `updated   ${time(run.updatedAt)}`,
    ...(run.parentRunId ? [`parent    ${run.parentRunId}`] : []),
    ...(run.lease ? [`lease     ${run.lease.owner} until ${time(run.lease.expiresAt)}`] : []),
    `journal   ${journal.length} record${journal.length === 1 ? "" : "s"}`,
    ...journal.map((e, i) => `  ${String(i + 1).padStart(4)}  ${time(e.at)}  ${describeEntry(e)}`),
  ];
  io.stdout.write(`${lines.map((l) => clean(l, true)).join("\n")}\n`);
}

/** The event class named `type` among those `wf` knows (and the built-ins). */
function eventClass(wf: Workflow, type: string): EventClass | undefined {
  const d = describeWorkflow(wf);
  const all = [StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent, ...d.externalEvents, ...d.steps.flatMap((s) => [...s.accepts, ...s.emits, ...s.waitsFor])];
  return all.find((c) => eventTypeName(c) === type);
}

/** Options of `runs resume` and `runs send`. */
export interface ResumeOptions {
  /** The file exporting the run's workflow class; default: the file `stepwise run` ran it from. */
  file?: string;
  workflow?: string;
  /** An event to deliver first, as `{"type": …, "data": {…}}` JSON. */
  send?: string;
  timeout?: number;
  /** false for `--no-input`: never prompt. */
  prompt?: boolean;
  json?: boolean;
  store?: string;
}

/** Errors that mean the command was pointed at the wrong run or file: usage errors (exit 2), not failed runs. */
const WRONG_TARGET = new Set(["RUN_NOT_FOUND", "RUN_FINISHED", "JOURNAL_MISMATCH", "UNKNOWN_EVENT_TYPE"]);

/**
 * `runs resume` and `runs send`: continue a stored run in this process with its workflow class
 * (from `--file`, or the file `stepwise run` ran it from), delivering an event first if given;
 * questions it asks are answered on the terminal, or it is left waiting again.
 */
export async function resumeRun(store: Store, storePath: string, runId: string, options: ResumeOptions, io: Io): Promise<void> {
  const stored: StoredRun | undefined = await store.getRun(runId);
  if (!stored) throw new UsageError(`The store has no run "${runId}"; see "stepwise runs list".`, "RUN_NOT_FOUND");
  const remembered = options.file === undefined ? rememberedFile(storePath, stored.workflow) : undefined;
  const file = options.file ?? remembered?.file;
  if (file === undefined) {
    throw new UsageError(`Which file exports ${stored.workflow}? "stepwise run" did not record one for this store: pass --file <file>.`, "NEEDS_FILE");
  }
  const { candidates } = await loadWorkflows(file);
  const wanted = options.workflow ?? remembered?.export ?? (candidates.some((c) => c.name === stored.workflow) ? stored.workflow : undefined);
  const picked = pickWorkflow(file, candidates, wanted);
  if (picked.value instanceof Workflow) {
    throw new UsageError(`${file} exports ${picked.name} as an instance; resuming needs the class, to construct it with this store. Export the class.`, "NEEDS_CLASS");
  }
  const wf = new picked.value({ store, ...(options.timeout === undefined ? {} : { timeout: options.timeout }) });
  const event = options.send === undefined ? undefined : parseEvent(wf, picked.name, options.send);
  const d = describeWorkflow(wf);
  try {
    await follow(() => (event ? wf.sendEvent(runId, event) : wf.resume(runId)), { name: d.name, steps: d.steps.map((s) => s.name), json: options.json === true, prompt: options.prompt !== false, storeArg: options.store, journaled: true, quiet: true }, io);
  } catch (err) {
    const cause = err instanceof RunFailedError ? err.cause : undefined;
    if (cause instanceof WorkflowError && WRONG_TARGET.has(cause.code)) throw new UsageError(`[${cause.code}] ${cause.message}`, cause.code);
    throw err;
  }
}

/** `--send`/`--event` JSON as an event of a type `wf` knows. */
function parseEvent(wf: Workflow, name: string, text: string): Event {
  let parsed: { type?: unknown; data?: unknown };
  try {
    parsed = JSON.parse(text) as { type?: unknown; data?: unknown };
  } catch (err) {
    throw new UsageError(`The event is not valid JSON (${err instanceof Error ? err.message : String(err)}); pass {"type":"HumanResponseEvent","data":{...}}.`, "BAD_INPUT");
  }
  const cls = parsed !== null && typeof parsed === "object" && typeof parsed.type === "string" ? eventClass(wf, parsed.type) : undefined;
  if (!cls) throw new UsageError(`The event needs {"type": <an event type ${name} knows>, "data": {...}}; got ${text}.`, "BAD_INPUT");
  if (parsed.data !== undefined && (parsed.data === null || typeof parsed.data !== "object" || Array.isArray(parsed.data))) {
    throw new UsageError(`The event's "data" must be a JSON object of its fields; got ${JSON.stringify(parsed.data)}.`, "BAD_INPUT");
  }
  try {
    return new (cls as new (data: unknown) => Event)(parsed.data ?? {});
  } catch (err) {
    throw new UsageError(`The event does not fit ${parsed.type as string}: ${err instanceof Error ? err.message : String(err)}`, "BAD_INPUT");
  }
}

/**
 * `--no-input`, stored as `prompt: false`: `run` also has `--input <json>`, which would share
 * the attribute `input` with it and be overwritten.
 */
export function noInputOption(description: string): Option {
  const option = new Option("--no-input", description);
  option.attributeName = () => "prompt";
  return option;
}

/** The most runs one `runs list` prints. */
export const MAX_LIMIT = 100_000;

function positiveInt(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0 || n > MAX_LIMIT) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}; got "${value}".`, "BAD_INPUT");
  return n;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new UsageError(`--timeout must be a number of seconds > 0; got "${value}".`, "BAD_INPUT");
  return n;
}

async function withStore<T>(path: string | undefined, access: StoreAccess, fn: (store: Store, file: string) => Promise<T>): Promise<T> {
  const { store, path: file } = await openStore(path, access);
  try {
    return await fn(store, file);
  } finally {
    store.close();
  }
}

/**
 * Adds `stepwise runs list|show|resume|send` to `cli`. The store is the SQLite file `--store`
 * names (default: see {@link defaultStorePath}).
 */
export function registerRunsCommand(cli: Command, io: Io): Command {
  const runs = cli.command("runs").description(`Stored runs: list them, show one with its journal, resume one (--store FILE; ${STORE_HELP}).`).exitOverride();
  runs
    .command("list")
    .description("List stored runs, newest first.")
    .option("--store <file>", `the SQLite store (${STORE_HELP})`)
    .option("-s, --status <status>", `only runs with this status (${STATUSES.join(", ")})`)
    .option("-w, --workflow <name>", "only runs of this workflow")
    .option("-n, --limit <n>", "at most this many (default 50)", positiveInt)
    .option("--json", "one JSON object per line")
    .exitOverride()
    .action(async (options: StoreOption & { status?: string; workflow?: string; limit?: number; json?: boolean }) =>
      withStore(options.store, "read", (store) => listRuns(store, options, io)),
    );
  runs
    .command("show")
    .description("Show a run: status, input, result or error, timestamps, lease and journal.")
    .argument("<runId>")
    .option("--store <file>", `the SQLite store (${STORE_HELP})`)
    .option("--json", "the run and its journal as one JSON object")
    .exitOverride()
    .action(async (runId: string, options: StoreOption & { json?: boolean }) => withStore(options.store, "read", (store) => showRun(store, runId, options, io)));
  const continuing = (cmd: Command, noInput: string): Command =>
    cmd
      .option("-f, --file <file>", "the file exporting the run's workflow class (default: the file `stepwise run` ran it from)")
      .option("-w, --workflow <name>", "which exported workflow (default: the one named like the run's workflow)")
      .option("-t, --timeout <seconds>", "the run's timeout from now", positiveSeconds)
      .addOption(noInputOption(noInput))
      .option("--json", "print every inspection event and then the result as JSON lines")
      .option("--store <file>", `the SQLite store (${STORE_HELP})`)
      .exitOverride();
  continuing(
    runs
      .command("resume")
      .description("Continue a stored run in this process with its workflow class, and print its result.")
      .argument("<runId>")
      .option("--send <json>", 'first deliver this event to the run, e.g. \'{"type":"HumanResponseEvent","data":{"response":"yes"}}\''),
    "never prompt: leave the run waiting when it asks for input",
  )
    .addHelpText("after", `\nExamples:\n  $ stepwise runs resume 1b2c…\n  $ stepwise runs resume 1b2c… --file examples/human-approval.ts --send '{"type":"HumanResponseEvent","data":{"response":"yes"}}'`)
    .action(async (runId: string, options: ResumeOptions) => withStore(options.store, "write", (store, file) => resumeRun(store, file, runId, options, io)));
  continuing(
    runs
      .command("send")
      .description("Answer a stored run (e.g. one waiting for a person) from any process: deliver the event, continue the run here, print its result.")
      .argument("<runId>")
      .requiredOption("-e, --event <json>", 'the event, e.g. \'{"type":"HumanResponseEvent","data":{"response":"yes"}}\''),
    "never prompt: leave the run waiting when it asks again",
  )
    .addHelpText("after", `\nExamples:\n  $ stepwise runs send 1b2c… --event '{"type":"HumanResponseEvent","data":{"response":"yes"}}'\n\nExit codes: 0 the run completed, 1 it failed, 2 bad usage or input, 3 it waits for input again.`)
    .action(async (runId: string, options: ResumeOptions & { event: string }) =>
      withStore(options.store, "write", (store, file) => resumeRun(store, file, runId, { ...options, send: options.event }, io)),
    );
  return runs;
}
