import { App, Workflow, describeWorkflow, type WorkflowOptions } from "../../index.js";
import { BullMQRuntimeError } from "./errors.js";
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
}

/** The workflows a worker serves from what a file exports: its App, or every workflow it exports. */
export function workerWorkflows(file: string, candidates: Awaited<ReturnType<WorkflowLoader["loadWorkflows"]>>["candidates"], loader: WorkflowLoader): WorkerWorkflows {
  const make = (c: (typeof candidates)[number]): Workflow => {
    if (c.value instanceof Workflow) return c.value;
    try {
      return new c.value();
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
  const workflows = workerWorkflows(file, candidates, loader);
  let worker: StepWorker;
  try {
    worker = await createWorker({
      connection: options.redis,
      workflows,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.queues === undefined ? {} : { queues: options.queues }),
      onWarning: (m) => io.stderr.write(`${m}\n`),
    });
  } catch (err) {
    if (err instanceof BullMQRuntimeError && (err.code === "BAD_OPTION" || err.code === "UNKNOWN_QUEUE" || err.code === "REDIS_UNAVAILABLE" || err.code === "LOCK_SETTINGS_MISMATCH")) throw loader.usageError(err.message, err.code);
    throw err;
  }
  const lock = [...worker.lock].map(([q, l]) => `${q} (lock ${l.lockDuration} ms, stall check ${l.stalledInterval} ms, max stalls ${l.maxStalledCount})`).join(", ");
  io.stdout.write(`stepwise worker ${process.pid}: taking step jobs from ${lock}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        io.stderr.write(`stepwise worker: ${signal} again, stopping now\n`);
        void worker.close(true).then(resolve);
        return;
      }
      stopping = true;
      io.stdout.write(`stepwise worker: ${signal}, finishing ${worker.running} running step job(s)\n`);
      void worker.close().then(resolve);
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}
