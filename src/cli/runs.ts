/** `stepwise runs list|show|resume`: stored runs, read from (and continued in) a store. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import {
  HumanResponseEvent,
  InputRequiredEvent,
  RunNotFoundError,
  StartEvent,
  StopEvent,
  StoreError,
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
import type { SqliteStore } from "../stores/sqlite.js";
import { RunFailedError, UsageError } from "./errors.js";
import { loadWorkflows, pickWorkflow } from "./load.js";

/** Where `stepwise runs` writes. */
export interface RunsIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** The store the command line uses unless `--store` names another file. */
export const DEFAULT_STORE = ".stepwise/runs.db";

const STATUSES: readonly RunStatus[] = ["running", "waiting", "completed", "failed", "cancelled", "timed_out"];

interface StoreOption {
  store?: string;
}

/**
 * Opens the SQLite store at `path`; a missing file or a file that is not a store is a usage error.
 * The driver is an optional peer dependency, so it is loaded only here: `stepwise run` works without it.
 */
export async function openStore(path: string | undefined, create: boolean): Promise<SqliteStore> {
  const file = resolve(path ?? DEFAULT_STORE);
  if (!create && !existsSync(file)) {
    throw new UsageError(`No store at ${path ?? DEFAULT_STORE} (looked for ${file}). Runs are stored there when a workflow has store: new SqliteStore("${path ?? DEFAULT_STORE}"); pass --store <file> for another file.`, "NO_STORE");
  }
  let Sqlite: typeof SqliteStore;
  try {
    ({ SqliteStore: Sqlite } = await import("../stores/sqlite.js"));
  } catch (err) {
    throw new UsageError(`"stepwise runs" needs the better-sqlite3 package: npm install better-sqlite3 (${err instanceof Error ? err.message : String(err)}).`, "NO_DRIVER");
  }
  try {
    return new Sqlite(file);
  } catch (err) {
    if (err instanceof StoreError) throw new UsageError(err.message, err.code);
    throw err;
  }
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
    case "state":
      return `ctx.store ${e.key} = ${json(e.value)}`;
    case "collect":
      return `collectEvents ${e.key} holds ${e.seqs.map((s) => `#${s}`).join(", ") || "nothing"}${e.taken ? `, took ${e.taken.map((s) => `#${s}`).join(", ")}` : ""}`;
    case "waiting":
      return `${e.stepRunId} waits for ${e.type}`;
    case "received":
      return `${e.stepRunId} received #${e.seq}`;
    case "run_resumed":
      return `resumed by ${e.owner}`;
    case "run_finished":
      return `run ${e.status}${e.status === "completed" ? `: ${json(e.result)}` : e.error ? `: ${e.error.message}` : ""}`;
  }
}

/** `runs list`. */
export async function listRuns(store: Store, options: { status?: string; workflow?: string; limit?: number; json?: boolean }, io: RunsIo): Promise<void> {
  if (options.status !== undefined && !STATUSES.includes(options.status as RunStatus)) {
    throw new UsageError(`--status must be one of ${STATUSES.join(", ")}; got "${options.status}".`, "BAD_INPUT");
  }
  const runs = await store.listRuns({
    ...(options.status === undefined ? {} : { status: options.status as RunStatus }),
    ...(options.workflow === undefined ? {} : { workflow: options.workflow }),
    limit: options.limit ?? 50,
  });
  if (options.json) {
    for (const r of runs) io.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  if (runs.length === 0) {
    io.stdout.write("No runs.\n");
    return;
  }
  const rows = [["RUN", "WORKFLOW", "STATUS", "CREATED", "UPDATED"], ...runs.map((r) => [r.runId, r.workflow, r.status, time(r.createdAt), time(r.updatedAt)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) io.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
}

/** `runs show`. */
export async function showRun(store: Store, runId: string, options: { json?: boolean }, io: RunsIo): Promise<void> {
  const run = await store.getRun(runId);
  if (!run) throw new UsageError(`The store has no run "${runId}"; see "stepwise runs list".`, "RUN_NOT_FOUND");
  const journal = await store.getJournal(runId);
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ ...run, journal })}\n`);
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
  io.stdout.write(`${lines.join("\n")}\n`);
}

/** The event class named `type` among those `wf` knows (and the built-ins). */
function eventClass(wf: Workflow, type: string): EventClass | undefined {
  const d = describeWorkflow(wf);
  const all = [StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent, ...d.externalEvents, ...d.steps.flatMap((s) => [...s.accepts, ...s.emits, ...s.waitsFor])];
  return all.find((c) => eventTypeName(c) === type);
}

/** `runs resume`: continue a stored run with the workflow FILE exports, optionally sending it an event first. */
export async function resumeRun(
  store: Store,
  runId: string,
  options: { file: string; workflow?: string; send?: string; timeout?: number },
  io: RunsIo,
): Promise<void> {
  const stored: StoredRun | undefined = await store.getRun(runId);
  if (!stored) throw new UsageError(`The store has no run "${runId}"; see "stepwise runs list".`, "RUN_NOT_FOUND");
  const { candidates } = await loadWorkflows(options.file);
  const picked = pickWorkflow(options.file, candidates, options.workflow ?? (candidates.some((c) => c.name === stored.workflow) ? stored.workflow : undefined));
  if (picked.value instanceof Workflow) {
    throw new UsageError(`${options.file} exports ${picked.name} as an instance; "runs resume" needs the class, to construct it with this store. Export the class.`, "NEEDS_CLASS");
  }
  const wf = new picked.value({ store, ...(options.timeout === undefined ? {} : { timeout: options.timeout }) });
  let event: Event | undefined;
  if (options.send !== undefined) {
    let parsed: { type?: unknown; data?: unknown };
    try {
      parsed = JSON.parse(options.send) as { type?: unknown; data?: unknown };
    } catch (err) {
      throw new UsageError(`--send is not valid JSON (${err instanceof Error ? err.message : String(err)}); pass {"type":"HumanResponseEvent","data":{...}}.`, "BAD_INPUT");
    }
    const cls = typeof parsed?.type === "string" ? eventClass(wf, parsed.type) : undefined;
    if (!cls) throw new UsageError(`--send needs {"type": <an event type ${picked.name} knows>, "data": {...}}; got ${options.send}.`, "BAD_INPUT");
    try {
      event = new (cls as new (data: unknown) => Event)(parsed.data ?? {});
    } catch (err) {
      throw new UsageError(`--send does not fit ${parsed.type as string}: ${err instanceof Error ? err.message : String(err)}`, "BAD_INPUT");
    }
  }
  const handler = event ? wf.sendEvent(runId, event) : wf.resume(runId);
  let result: unknown;
  try {
    result = await handler;
  } catch (err) {
    if (err instanceof RunNotFoundError) throw new UsageError(err.message, err.code);
    const code = err instanceof WorkflowError ? err.code : "ERROR";
    throw new RunFailedError(err instanceof Error ? err.message : String(err), code, { cause: err });
  }
  io.stdout.write(`${typeof result === "string" ? result : json(result)}\n`);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--limit must be a whole number > 0; got "${value}".`, "BAD_INPUT");
  return n;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new UsageError(`--timeout must be a number of seconds > 0; got "${value}".`, "BAD_INPUT");
  return n;
}

async function withStore<T>(path: string | undefined, create: boolean, fn: (store: SqliteStore) => Promise<T>): Promise<T> {
  const store = await openStore(path, create);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/**
 * Adds `stepwise runs list|show|resume` to `cli`. The store is the SQLite file `--store`
 * names (default `.stepwise/runs.db`).
 */
export function registerRunsCommand(cli: Command, io: RunsIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const runs = cli.command("runs").description(`Stored runs: list them, show one with its journal, resume one (store: --store, default ${DEFAULT_STORE}).`).exitOverride();
  runs
    .command("list")
    .description("List stored runs, newest first.")
    .option("--store <file>", `the SQLite store (default ${DEFAULT_STORE})`)
    .option("-s, --status <status>", `only runs with this status (${STATUSES.join(", ")})`)
    .option("-w, --workflow <name>", "only runs of this workflow")
    .option("-n, --limit <n>", "at most this many (default 50)", positiveInt)
    .option("--json", "one JSON object per line")
    .exitOverride()
    .action(async (options: StoreOption & { status?: string; workflow?: string; limit?: number; json?: boolean }) =>
      withStore(options.store, false, (store) => listRuns(store, options, io)),
    );
  runs
    .command("show")
    .description("Show a run: status, input, result or error, timestamps, lease and journal.")
    .argument("<runId>")
    .option("--store <file>", `the SQLite store (default ${DEFAULT_STORE})`)
    .option("--json", "the run and its journal as one JSON object")
    .exitOverride()
    .action(async (runId: string, options: StoreOption & { json?: boolean }) => withStore(options.store, false, (store) => showRun(store, runId, options, io)));
  runs
    .command("resume")
    .description("Continue a stored run in this process with the workflow FILE exports, and print its result.")
    .argument("<runId>")
    .requiredOption("-f, --file <file>", "the file exporting the run's workflow class")
    .option("-w, --workflow <name>", "which exported workflow (default: the one named like the run's workflow)")
    .option("--send <json>", 'first deliver this event to the run, e.g. \'{"type":"HumanResponseEvent","data":{"response":"yes"}}\'')
    .option("-t, --timeout <seconds>", "the run's timeout from now", positiveSeconds)
    .option("--store <file>", `the SQLite store (default ${DEFAULT_STORE})`)
    .addHelpText("after", `\nExamples:\n  $ stepwise runs resume 1b2c… --file examples/human-approval.ts --send '{"type":"HumanResponseEvent","data":{"response":"yes"}}'`)
    .exitOverride()
    .action(async (runId: string, options: StoreOption & { file: string; workflow?: string; send?: string; timeout?: number }) =>
      withStore(options.store, false, (store) => resumeRun(store, runId, options, io)),
    );
  return runs;
}
