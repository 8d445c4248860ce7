import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App, Workflow, describeWorkflow, type Store, type WorkflowOptions } from "../../index.js";
import { BullMQRuntimeError } from "./errors.js";
import { BullMQRuntime } from "./runtime.js";
import { createWorker, type StepWorker, type WorkerWorkflows } from "./worker.js";

/** How the command line loads a file's workflows (src/cli/load.ts), handed in to keep the layers apart. */
export interface WorkflowLoader {
  loadWorkflows(file: string): Promise<{ candidates: readonly { kind: "class" | "instance" | "app"; name: string; value: Workflow | (new (options?: WorkflowOptions) => Workflow) }[] }>;
  /** The error the command line prints as a usage error (exit code 2). */
  usageError(message: string, code: string): Error;
}

/** Options of `stepwise worker`. */
export interface WorkerCommandOptions {
  redis: string;
  concurrency?: number;
  queues?: string[];
  prefix?: string;
  /** Take over runs whose coordinator died, from the store FILE exports as `store`. */
  coordinate?: boolean;
}

/**
 * The workflows a worker serves from what a file exports: its App, or every workflow it exports.
 * Exported classes are constructed with `options` (a coordinating worker's store and runtime).
 */
export function workerWorkflows(file: string, candidates: Awaited<ReturnType<WorkflowLoader["loadWorkflows"]>>["candidates"], loader: WorkflowLoader, options: WorkflowOptions = {}): WorkerWorkflows {
  const make = (c: (typeof candidates)[number]): Workflow => {
    if (c.value instanceof Workflow) return c.value;
    try {
      return new c.value(options);
    } catch (err) {
      throw loader.usageError(`Could not construct ${c.name} with new ${c.name}(): ${err instanceof Error ? err.message : String(err)}. Export an instance instead.`, "CONSTRUCT_FAILED");
    }
  };
  const apps = candidates.filter((c) => c.kind === "app");
  if (apps.length > 1) throw loader.usageError(`"${file}" exports ${apps.length} Apps (${apps.map((a) => a.name).join(", ")}); a worker serves one: export one App per file.`, "SEVERAL_WORKFLOWS");
  if (apps[0]) return make(apps[0]) as App;
  if (candidates.length === 0) throw loader.usageError(`"${file}" exports no workflow. Export the Workflow subclasses (or instances, or the App) whose steps the worker runs.`, "NO_WORKFLOW");
  const list = candidates.map(make);
  const names = list.map((w) => describeWorkflow(w).name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw loader.usageError(`"${file}" exports workflow "${twice}" twice (a class and an instance?); export one.`, "SEVERAL_WORKFLOWS");
  return list;
}

/**
 * `stepwise worker FILE`: loads FILE's workflows, runs their steps until SIGINT or SIGTERM, then
 * stops taking jobs and lets the running ones finish (a second signal stops at once).
 */
export async function runWorkerFromFile(file: string, options: WorkerCommandOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }, loader: WorkflowLoader): Promise<void> {
  const { candidates } = await loader.loadWorkflows(file);
  let store: Store | undefined;
  let runtime: BullMQRuntime | undefined;
  if (options.coordinate === true) {
    // The loader imported the file already: this is the same module, with the same store instance.
    const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
    const exported = mod.store as Partial<Store> | undefined;
    if (typeof exported?.listRuns !== "function" || typeof exported.acquireLease !== "function") {
      throw loader.usageError(`--coordinate needs the store the coordinators journal runs in: export it from "${file}" as \`export const store = new PostgresStore(pool)\` (or a SqliteStore file on one machine).`, "NO_STORE");
    }
    store = exported as Store;
    runtime = new BullMQRuntime({ connection: options.redis, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
  }
  const workflows = workerWorkflows(file, candidates, loader, store && runtime ? { store, runtime } : {});
  // Steps that need the run's memory (collectEvents) run in this coordinating process once found.
  if (runtime) for (const wf of workflows instanceof App ? [workflows] : workflows) runtime.runInProcess(wf);
  let worker: StepWorker;
  try {
    worker = await createWorker({
      connection: options.redis,
      workflows,
      ...(store === undefined ? {} : { coordinate: { store, onTakeOver: ({ runId, workflow }) => io.stdout.write(`stepwise worker: taking over run ${runId} of ${workflow}\n`) } }),
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.queues === undefined ? {} : { queues: options.queues }),
      onWarning: (m) => io.stderr.write(`${m}\n`),
    });
  } catch (err) {
    await runtime?.close();
    if (err instanceof BullMQRuntimeError && (err.code === "BAD_OPTION" || err.code === "UNKNOWN_QUEUE" || err.code === "REDIS_UNAVAILABLE" || err.code === "LOCK_SETTINGS_MISMATCH")) throw loader.usageError(err.message, err.code);
    throw err;
  }
  const lock = [...worker.lock].map(([q, l]) => `${q} (lock ${l.lockDuration} ms, stall check ${l.stalledInterval} ms, max stalls ${l.maxStalledCount})`).join(", ");
  io.stdout.write(`stepwise worker ${process.pid}: taking step jobs from ${lock}${store ? "; taking over runs whose coordinator died" : ""}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        io.stderr.write(`stepwise worker: ${signal} again, stopping now\n`);
        void worker.close(true).then(() => runtime?.close()).then(resolve);
        return;
      }
      stopping = true;
      io.stdout.write(`stepwise worker: ${signal}, finishing ${worker.running} running step job(s)\n`);
      void worker.close().then(() => runtime?.close()).then(resolve);
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}
