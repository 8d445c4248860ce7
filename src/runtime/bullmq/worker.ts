import { Queue, Worker, type Job } from "bullmq";
import { App, RunFinishedError, RunLockedError, RunSuspendedError, Workflow, describeWorkflow, executeTask, suspendRun, type StepDefinition, type Store, type WorkflowHandler } from "../../index.js";
import { Bus, errorJSON, RemoteError } from "./bus.js";
import { bullConnection, type RedisConnection } from "./connection.js";
import { BullMQRuntimeError } from "./errors.js";
import { crossingProblem, parseStepJob, type RequestPosition, type SentOutcome, type StepJobData } from "./job.js";
import { withTraceCarrier } from "../../otel/auto.js";
import { lockProblems, sharedLockSettings, type LockSettings } from "./locks.js";
import { keys, queueName, routeField } from "./names.js";
import type { StepOutcome, StepReply, StepRequest, StepScope, StepWrite } from "../../index.js";

/**
 * The workflows a worker runs: a list (each by its workflow name), or an App (its members by
 * their member names; to run only some members here, pass the App and `queues`).
 */
export type WorkerWorkflows = readonly Workflow[] | App;

/** Options of {@link createWorker}. */
export interface CreateWorkerOptions {
  /** Where Redis is: a URL, ioredis options or an ioredis client. */
  connection: RedisConnection;
  /** Key prefix of the queues; the same as the coordinators' `BullMQRuntime` (default `"stepwise"`). */
  prefix?: string;
  /** The workflows whose steps this worker runs: the same definitions as the coordinators' (a list, or an App). */
  workflows: WorkerWorkflows;
  /** Step jobs run at once per queue in this process (default 1). */
  concurrency?: number;
  /** Consume only these queues (names as {@link StepWorker.queues} lists them); default all. */
  queues?: readonly string[];
  /**
   * Lock settings; every worker of a queue shares them through Redis. Leave them out to take the
   * queue's stored settings (or the defaults for a new queue); giving different ones is refused.
   */
  lock?: Partial<LockSettings>;
  /**
   * Cluster-wide limits on a step's running invocations, by `"Workflow.step"`, e.g.
   * `{ "Research.callModel": 5 }`; added to a step's own `globalConcurrency` option. Such a step
   * gets a queue of its own (BullMQ's global concurrency is per queue).
   */
  globalConcurrency?: Readonly<Record<string, number>>;
  /** Seconds finished jobs are kept (what makes a re-enqueue a no-op): default 3,600 completed, 86,400 failed. */
  keep?: { completed?: number; failed?: number };
  /** Called with warnings (a step blocking the event loop); default `console.warn`. */
  onWarning?: (message: string) => void;
  /**
   * Also coordinate: take over runs whose coordinator died. Every `intervalMs` the worker looks
   * in `store` for live runs (running or waiting) of its workflows whose lease expired, and
   * resumes them here: steps that finished on workers meanwhile are not run again (their
   * outcome is taken from their job), steps still running on a worker are awaited, the rest run
   * as their next attempt. The workflows runs are resumed with must have this `store` and a
   * `BullMQRuntime` as `runtime` (or their steps run in this process).
   */
  coordinate?: CoordinateOptions;
}

/** Options of {@link CreateWorkerOptions.coordinate}. */
export interface CoordinateOptions {
  /** The store the coordinators journal runs in (shared: a PostgresStore, or one SQLite file on one machine). */
  store: Store;
  /** The workflows (or App) to resume runs with; default the worker's `workflows`. */
  workflows?: WorkerWorkflows;
  /** Milliseconds between looks for runs whose lease expired (default 2,000). */
  intervalMs?: number;
  /** Called for each run taken over, with its handler (a promise of the run's result). */
  onTakeOver?: (run: { runId: string; workflow: string; handler: WorkflowHandler<unknown> }) => void;
}

/** A running worker: {@link createWorker}'s result. */
export interface StepWorker {
  /** The queues consumed, e.g. `["Checkout", "Checkout.callModel"]`. */
  readonly queues: readonly string[];
  /** The lock settings in force, per queue. */
  readonly lock: ReadonlyMap<string, LockSettings>;
  /** Step jobs running now. */
  readonly running: number;
  /** Runs taken over and coordinated here now (with `coordinate`). */
  readonly coordinating: number;
  /** Stops taking jobs, waits for the running ones (unless `force`), and disconnects. */
  close(force?: boolean): Promise<void>;
}

interface Served {
  /** What `executeTask` runs a task against: the workflow, or the App for its members' tasks. */
  readonly target: Workflow;
  /** The workflow (or member) the steps belong to. */
  readonly workflow: Workflow;
  readonly name: string;
  readonly steps: ReadonlyMap<string, StepDefinition>;
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;

function servedWorkflows(workflows: WorkerWorkflows): Served[] {
  let entries: [string, unknown][];
  if (workflows instanceof App) {
    const problems = describeWorkflow(workflows).problems;
    if (problems.length > 0) throw new BullMQRuntimeError(`createWorker: the App is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`, "BAD_OPTION");
    entries = [...workflows.members];
  } else if (Array.isArray(workflows)) entries = (workflows as readonly unknown[]).map((w) => [w instanceof Workflow ? describeWorkflow(w).name : "?", w]);
  else throw new BullMQRuntimeError(`createWorker: workflows must be a list of workflow instances or an App, got ${typeof workflows === "object" ? "an object" : String(workflows)}.`, "BAD_OPTION");
  if (entries.length === 0) throw new BullMQRuntimeError("createWorker: workflows is empty; pass the workflows whose steps this worker runs.", "BAD_OPTION");
  const seen = new Set<string>();
  return entries.map(([name, wf]) => {
    if (!(wf instanceof Workflow)) throw new BullMQRuntimeError(`createWorker: workflow "${name}" is not a Workflow instance; pass instances (new ${name}()), not classes.`, "BAD_OPTION");
    if (wf instanceof App) throw new BullMQRuntimeError(`createWorker: "${name}" is an App inside the list; pass the App itself as workflows.`, "BAD_OPTION");
    if (seen.has(name)) throw new BullMQRuntimeError(`createWorker: two workflows are named "${name}"; give one another name with the workflow option name.`, "BAD_OPTION");
    seen.add(name);
    const d = describeWorkflow(wf);
    // An App member alone may not validate (its events come from other members); the App did.
    if (!(workflows instanceof App) && d.problems.length > 0) throw new BullMQRuntimeError(`createWorker: workflow "${name}" is invalid:\n${d.problems.map((p) => `  - ${p}`).join("\n")}`, "BAD_OPTION");
    return { target: workflows instanceof App ? workflows : wf, workflow: wf, name, steps: new Map(d.steps.map((s) => [s.name, s])) };
  });
}

/** A step's cluster-wide limit: the worker's option for it, else the step's own `globalConcurrency` option. */
function globalLimit(def: StepDefinition, workflow: string, option: Readonly<Record<string, number>> | undefined): number | undefined {
  const given = option?.[`${workflow}.${def.name}`] ?? def.globalConcurrency;
  if (given === undefined) return undefined;
  if (!positiveInt(given)) throw new BullMQRuntimeError(`globalConcurrency of step "${workflow}.${def.name}" must be a whole number ≥ 1, got ${JSON.stringify(given)}.`, "BAD_OPTION");
  return given;
}

/**
 * Runs the steps of `workflows` for coordinators elsewhere (processes whose workflows use a
 * {@link BullMQRuntime} with the same Redis and prefix): one BullMQ worker per queue, a queue per
 * workflow (or App member) and per step with a global concurrency limit. Resolves once it takes jobs.
 * @example
 * const worker = await createWorker({ connection: "redis://127.0.0.1:6379", workflows: [new Research()], concurrency: 8 });
 * process.on("SIGTERM", () => void worker.close());
 */
export async function createWorker(options: CreateWorkerOptions): Promise<StepWorker> {
  const { connection, prefix = "stepwise", concurrency = 1, keep } = options;
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const problems = [...lockProblems(options.lock ?? {})];
  if (!positiveInt(concurrency)) problems.push(`concurrency must be a whole number ≥ 1, got ${String(concurrency)}.`);
  if (typeof prefix !== "string" || prefix === "" || prefix.includes(":")) problems.push(`prefix must be a non-empty string without ":", got ${JSON.stringify(prefix)}.`);
  const coord = options.coordinate;
  if (coord !== undefined) {
    if (coord === null || typeof coord !== "object" || typeof coord.store?.listRuns !== "function") problems.push("coordinate.store must be the Store the coordinators journal runs in.");
    else if (coord.intervalMs !== undefined && !positiveInt(coord.intervalMs)) problems.push(`coordinate.intervalMs must be a whole number ≥ 1, got ${String(coord.intervalMs)}.`);
  }
  if (problems.length > 0) throw new BullMQRuntimeError(`createWorker: ${problems.join(" ")}`, "BAD_OPTION");
  const served = servedWorkflows(options.workflows);
  const resumers = coord === undefined ? undefined : coordinated(coord.workflows ?? options.workflows);
  const byName = new Map(served.map((s) => [s.name, s]));

  // Which queues exist, and the steps routed to a queue of their own.
  const all = new Map<string, { limit?: number; route?: string }>();
  for (const s of served) {
    all.set(queueName(s.name), {});
    for (const def of s.steps.values()) {
      const limit = globalLimit(def, s.name, options.globalConcurrency);
      if (limit !== undefined) all.set(queueName(s.name, def.name), { limit, route: routeField(s.name, def.name) });
    }
  }
  const unknown = (options.queues ?? []).filter((q) => !all.has(q));
  if (unknown.length > 0) throw new BullMQRuntimeError(`createWorker: no queue named ${unknown.map((q) => `"${q}"`).join(", ")}; the workflows given have ${[...all.keys()].map((q) => `"${q}"`).join(", ")}.`, "UNKNOWN_QUEUE");
  const chosen = options.queues ? [...all].filter(([q]) => options.queues?.includes(q)) : [...all];

  const bus = await Bus.open(connection, prefix);
  const locks = new Map<string, LockSettings>();
  const workers: Worker[] = [];
  const running = new Map<string, { step: string; started: number }>();
  // Steps that ran since the last tick of the event-loop watch (a synchronous step is over by then).
  let seen = new Set<string>();
  let maxLock = Infinity;

  const process = async (job: Job<StepJobData, SentOutcome>, _token?: string, bullSignal?: AbortSignal): Promise<SentOutcome> => {
    const jobId = job.id ?? "";
    const { task, coordinator, trace } = parseStepJob(job.data, job.id);
    const wf = byName.get(task.workflow);
    if (!wf) throw new BullMQRuntimeError(`This worker does not run workflow "${task.workflow}" (it runs ${[...byName.keys()].map((n) => `"${n}"`).join(", ")}); job "${jobId}" is on the wrong queue.`, "BAD_TASK", { runId: task.runId, step: task.step });
    const controller = new AbortController();
    const stop = bus.onAbort(jobId, (reason) => controller.abort(new RemoteError(reason)));
    const onBull = () => controller.abort(bullSignal?.reason);
    bullSignal?.addEventListener("abort", onBull, { once: true });
    // Writes the step made before a request travel with it, so the coordinator applies them first.
    let unsent: StepWrite[] = [];
    // Writes sent with requests so far, and requests made: a run of this job again (its worker
    // died or stalled) sends its first ones again, and the coordinator takes each once by position.
    let sent = 0;
    let asked = 0;
    const scope: StepScope = {
      signal: controller.signal,
      apply(writes) {
        unsent.push(...writes);
      },
      request(req: StepRequest): StepReply | Promise<StepReply> {
        // The step's API answers these synchronously; a round trip to the coordinator cannot.
        // A task without state means the run had none when it was handed out: same as a snapshot.
        if (req.kind === "store.get" && task.state === undefined) return { kind: "store.get", found: false };
        if (req.kind === "collect" || req.kind === "store.get") {
          throw new BullMQRuntimeError(
            `Step "${task.step}" of workflow "${task.workflow}" called ${req.kind === "collect" ? "ctx.collectEvents()" : "ctx.store.get()"} on a BullMQ worker; it needs the run's memory at once. ` +
              `Run it in the coordinating process: runtime.runInProcess(workflow, ["${task.step}"]).`,
            "NEEDS_RUN_MEMORY",
            { runId: task.runId, step: task.step },
          );
        }
        const bad = crossingProblem(task, { writes: unsent, request: req });
        if (bad !== undefined) throw bad.error;
        const writes = unsent;
        const at: RequestPosition = { writes: sent, request: asked };
        const what = `Step "${task.step}" of workflow "${task.workflow}": its request to the run (${req.kind}, with its writes since the last one)`;
        // Throws, sending nothing, when it is too large for pub/sub: the writes then go with the outcome.
        const reply = bus.request(coordinator, jobId, "request", [writes, req, at], controller.signal, what) as Promise<StepReply>;
        unsent = [];
        asked++;
        sent += writes.length;
        return reply;
      },
    };
    running.set(jobId, { step: `${task.workflow}.${task.step}`, started: Date.now() });
    seen.add(`${task.workflow}.${task.step}`);
    try {
      const outcome = await withTraceCarrier(trace, () => executeTask(wf.target, task, scope));
      const writes = unsent.length === 0 ? outcome.writes : [...unsent, ...outcome.writes];
      let rest: StepOutcome = unsent.length === 0 ? outcome : { ...outcome, writes };
      // Data JSON cannot carry fails the attempt here, naming it, with the writes made before it.
      const bad = crossingProblem(task, { writes, ...(outcome.ok ? { emitted: outcome.emitted } : {}) });
      if (bad !== undefined) rest = { ok: false, error: errorJSON(bad.error), writes: writes.slice(0, bad.writesBefore) };
      return sent === 0 ? rest : { ...rest, sent };
    } finally {
      running.delete(jobId);
      stop();
      bullSignal?.removeEventListener("abort", onBull);
    }
  };

  try {
    for (const [queue, { limit, route }] of chosen) {
      const lock = await sharedLockSettings(bus.redis, prefix, queue, options.lock);
      locks.set(queue, lock);
      maxLock = Math.min(maxLock, lock.lockDuration);
      if (limit !== undefined && route !== undefined) {
        const q = new Queue(queue, { connection: bullConnection(connection), prefix });
        await q.setGlobalConcurrency(limit);
        await q.close();
        await bus.redis.hset(keys.routes(prefix), route, queue);
      }
      const worker = new Worker<StepJobData, SentOutcome>(queue, process, {
        connection: bullConnection(connection),
        prefix,
        concurrency,
        lockDuration: lock.lockDuration,
        stalledInterval: lock.stalledInterval,
        maxStalledCount: lock.maxStalledCount,
        removeOnComplete: { age: keep?.completed ?? 3_600 },
        removeOnFail: { age: keep?.failed ?? 86_400 },
        autorun: false,
      });
      // BullMQ reports connection trouble here; without a listener Node would crash the process.
      worker.on("error", (err) => warn(`stepwise worker, queue "${queue}": ${err.message}`));
      workers.push(worker);
      await worker.waitUntilReady();
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.close(true)));
    await bus.close();
    throw err;
  }
  for (const w of workers) void w.run().catch((err: unknown) => warn(`stepwise worker stopped: ${err instanceof Error ? err.message : String(err)}`));

  // A step that blocks the event loop stops lock renewal: past the lock duration another worker
  // runs it a second time. Warn well before that, naming the step.
  const tick = 100;
  let last = Date.now();
  const watch = setInterval(() => {
    const now = Date.now();
    const blocked = now - last - tick;
    last = now;
    const suspects = seen;
    seen = new Set([...running.values()].map((r) => r.step));
    if (blocked > maxLock / 2 && suspects.size > 0) {
      const steps = [...suspects].map((s) => `"${s}"`).join(", ");
      warn(
        `stepwise worker: the event loop was blocked for ${blocked} ms while step ${steps} ran, more than half the lock duration (${maxLock} ms). ` +
          "If it reaches the lock duration, the step's lock expires and another worker starts it again while it still runs. " +
          "Move CPU-heavy work off the event loop (node:worker_threads, a child process), or raise lock.lockDuration for every worker of the queue.",
      );
    }
  }, tick);
  watch.unref();

  const takeover = coord !== undefined && resumers !== undefined ? startTakeover(coord, resumers, warn) : undefined;

  let closing: Promise<void> | undefined;
  return {
    queues: chosen.map(([q]) => q),
    lock: locks,
    get running() {
      return running.size;
    },
    get coordinating() {
      return takeover?.live.size ?? 0;
    },
    close(force = false) {
      closing ??= (async () => {
        clearInterval(watch);
        await takeover?.stop(force);
        await Promise.all(workers.map((w) => w.close(force)));
        await bus.close();
      })();
      return closing;
    },
  };
}

/** How long a live run without a lease is left alone before it is taken over. */
const UNHELD_GRACE_MS = 5_000;

/** The workflows runs are resumed with, by the workflow name their runs are stored under. */
function coordinated(workflows: WorkerWorkflows): Map<string, Workflow> {
  const list = workflows instanceof App ? [workflows] : Array.isArray(workflows) ? (workflows as readonly Workflow[]) : [];
  const map = new Map<string, Workflow>();
  for (const wf of list) {
    if (!(wf instanceof Workflow)) throw new BullMQRuntimeError("createWorker: coordinate.workflows must be a list of workflow instances or an App.", "BAD_OPTION");
    map.set(describeWorkflow(wf).name, wf);
  }
  if (map.size === 0) throw new BullMQRuntimeError("createWorker: coordinate.workflows is empty.", "BAD_OPTION");
  return map;
}

/**
 * Looks for live runs of `workflows` whose lease expired in `options.store` every interval,
 * and resumes them here. Another process taking a run first is not an error (`RunLockedError`).
 */
function startTakeover(options: CoordinateOptions, workflows: ReadonlyMap<string, Workflow>, warn: (m: string) => void) {
  const { store, intervalMs = 2_000 } = options;
  const live = new Map<string, WorkflowHandler<unknown>>();
  let stopped = false;
  let polling = false;
  const poll = async () => {
    if (polling || stopped) return;
    polling = true;
    try {
      for (const [name, wf] of workflows) {
        for (const status of ["running", "waiting"] as const) {
          const runs = await store.listRuns({ status, workflow: name });
          const now = Date.now();
          for (const run of runs) {
            if (stopped || live.has(run.runId)) continue;
            // A lease that expired (its holder died), or none on a run left running (handed back by a
            // coordinator that stopped) for a while: a run just created has none for a moment.
            const orphan = run.lease === undefined ? status === "running" && now - run.updatedAt > UNHELD_GRACE_MS : run.lease.expiresAt < now;
            if (!orphan) continue;
            const handler = wf.resume(run.runId);
            live.set(run.runId, handler);
            handler.then(
              () => live.delete(run.runId),
              (err: unknown) => {
                live.delete(run.runId);
                // Another coordinator took it first, it ended meanwhile, or this worker stopped: not this run's failure.
                if (err instanceof RunLockedError || err instanceof RunFinishedError || err instanceof RunSuspendedError) return;
                warn(`stepwise worker: run "${run.runId}" of "${name}", taken over here, failed: ${err instanceof Error ? err.message : String(err)}`);
              },
            );
            options.onTakeOver?.({ runId: run.runId, workflow: name, handler });
          }
        }
      }
    } catch (err) {
      warn(`stepwise worker: looking for runs to take over failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), intervalMs);
  void poll();
  return {
    live,
    /** Stops looking; hands the runs coordinated here back to the store (another process takes them at once), unless `force`. */
    async stop(force: boolean): Promise<void> {
      stopped = true;
      clearInterval(timer);
      if (!force) await Promise.all([...live.values()].map((h) => suspendRun(h).catch(() => {})));
    },
  };
}
