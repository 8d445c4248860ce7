import { setMaxListeners } from "node:events";
import { Queue, QueueEvents, type Job } from "bullmq";
import { App, describeWorkflow, executeTask, type Workflow } from "../../index.js";
import { Bus, errorJSON, type ScopeRequest } from "./bus.js";
import { bullConnection, type RedisConnection } from "./connection.js";
import { BullMQRuntimeError } from "./errors.js";
import { parseOutcome, type StepJobData } from "./job.js";
import { keys, queueName, routeField, stepJobId } from "./names.js";
import type { Runtime, StepOutcome, StepReply, StepRequest, StepScope, StepTask, StepWrite } from "../../index.js";

/** Options of {@link BullMQRuntime}. */
export interface BullMQRuntimeOptions {
  /** Where Redis is: a URL, ioredis options or an ioredis client. */
  connection: RedisConnection;
  /** Key prefix of the queues; the same as the workers' (default `"stepwise"`). */
  prefix?: string;
  /** Seconds finished jobs are kept (what makes a re-enqueue a no-op): default 3,600 completed, 86,400 failed. */
  keep?: { completed?: number; failed?: number };
}

interface Waiter {
  resolve(value: unknown): void;
  reject(reason: Error): void;
}

interface Watched {
  readonly queue: Queue;
  readonly events: QueueEvents;
  readonly ready: Promise<unknown>;
  /** Jobs awaited on this queue, by id (one job may be awaited twice: a re-enqueue). */
  readonly waiters: Map<string, Waiter[]>;
}

interface Pending {
  readonly task: StepTask;
  readonly scope: StepScope;
  readonly queue: string;
}

/** How long the queue of a step with its own queue (`keys.routes`) is cached. */
const ROUTES_TTL_MS = 5_000;
/** How often awaited jobs are looked up directly, besides their completion events. */
const SWEEP_MS = 5_000;

/**
 * Runs a workflow's steps on worker processes over BullMQ: pass it as the workflow's (or App's)
 * `runtime` option, with a store every process shares, and start workers with
 * {@link createWorker} or `stepwise worker FILE --redis URL`. Each attempt of a step is one job
 * (id from run id, stepRunId and attempt, so a re-enqueue is a no-op) on the queue of its
 * workflow or App member; its data is the JSON task, its return value the JSON outcome.
 * The run's cancel and timeouts reach the step on its worker through `ctx.signal`; BullMQ
 * retries nothing (the step's own `retry` applies once).
 * @example
 * const runtime = new BullMQRuntime({ connection: "redis://127.0.0.1:6379" });
 * const wf = new Research({ runtime, store: new PostgresStore(pool) });
 * await wf.run({ topic: "queues" });
 * await runtime.close();
 */
export class BullMQRuntime implements Runtime {
  readonly #connection: RedisConnection;
  readonly #prefix: string;
  readonly #keep: { completed: number; failed: number };
  readonly #queues = new Map<string, Watched>();
  #sweeper: NodeJS.Timeout | undefined;
  readonly #pending = new Map<string, Pending>();
  #bus: Promise<Bus> | undefined;
  #routes: { at: number; map: Map<string, string> } | undefined;
  #batch: { queue: string; job: StepJob; done: (job: Job | undefined, err?: Error) => void }[] = [];
  #closed = false;
  readonly #closing = new AbortController();
  /** Workflows (or Apps) given to `runInProcess`, by workflow or member name. */
  readonly #targets = new Map<string, Workflow>();
  /** Steps run in this process (`routeField`s). */
  readonly #here = new Set<string>();

  constructor(options: BullMQRuntimeOptions) {
    if (options === null || typeof options !== "object" || options.connection === undefined) {
      throw new BullMQRuntimeError("new BullMQRuntime() needs { connection }: a Redis URL, ioredis options or an ioredis client.", "BAD_OPTION");
    }
    const prefix = options.prefix ?? "stepwise";
    if (typeof prefix !== "string" || prefix === "" || prefix.includes(":")) throw new BullMQRuntimeError(`BullMQRuntime: prefix must be a non-empty string without ":", got ${JSON.stringify(prefix)}.`, "BAD_OPTION");
    this.#connection = options.connection;
    this.#prefix = prefix;
    this.#keep = { completed: options.keep?.completed ?? 3_600, failed: options.keep?.failed ?? 86_400 };
  }

  /**
   * Run some steps of `target` (a workflow or App this runtime serves) in this process instead
   * of on workers: steps that need the run's memory at once — `ctx.collectEvents` (fan-in), and
   * `ctx.store.get` when the task carries no state — cannot run on a worker. Name them in
   * `steps` ("step", or "Member.step" in an App); a step that turns out to need it on a worker
   * (error `NEEDS_RUN_MEMORY`) is run here again and from then on. Returns the runtime.
   * @example
   * const runtime = new BullMQRuntime({ connection });
   * const wf = new FanIn({ runtime });
   * runtime.runInProcess(wf, ["gather"]);
   */
  runInProcess(target: Workflow, steps: readonly string[] = []): this {
    const d = describeWorkflow(target);
    const members = target instanceof App ? [...target.members.keys()] : [d.name];
    for (const m of members) this.#targets.set(m, target);
    for (const s of steps) {
      const def = d.steps.find((x) => x.name === s);
      if (def === undefined) throw new BullMQRuntimeError(`runInProcess: workflow "${d.name}" has no step "${s}" (it has ${d.steps.map((x) => `"${x.name}"`).join(", ")}).`, "BAD_OPTION");
      const member = d.owners.get(s);
      this.#here.add(member === undefined ? routeField(d.name, s) : routeField(member, s.slice(member.length + 1)));
    }
    return this;
  }

  /** Steps awaited now (for tests and leak checks). */
  get inFlight(): number {
    return this.#pending.size;
  }

  #openBus(): Promise<Bus> {
    this.#bus ??= Bus.open(this.#connection, this.#prefix).then((bus) => {
      bus.serve((req) => this.#serve(req));
      return bus;
    });
    return this.#bus;
  }

  #queue(name: string): Watched {
    let q = this.#queues.get(name);
    if (!q) {
      const connection = bullConnection(this.#connection);
      const queue = new Queue(name, { connection, prefix: this.#prefix });
      const events = new QueueEvents(name, { connection, prefix: this.#prefix });
      // Connection trouble is retried by ioredis; a listener keeps Node from treating it as fatal.
      queue.on("error", () => {});
      events.on("error", () => {});
      const waiters = new Map<string, Waiter[]>();
      events.on("completed", ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
        settle(waiters, jobId, (w) => w.resolve(typeof returnvalue === "string" ? safeParse(returnvalue) : returnvalue));
      });
      events.on("failed", ({ jobId, failedReason }: { jobId: string; failedReason: string }) => {
        settle(waiters, jobId, (w) => w.reject(new Error(failedReason)));
      });
      q = { queue, events, waiters, ready: Promise.all([queue.waitUntilReady(), events.waitUntilReady()]) };
      this.#queues.set(name, q);
      this.#sweeper ??= setInterval(() => void this.#sweep(), SWEEP_MS).unref();
    }
    return q;
  }

  /**
   * Looks awaited jobs up in Redis: after they are added (one that existed already may be done),
   * and every few seconds (an event missed while QueueEvents was starting, a job removed by hand).
   */
  async #check(name: string, ids: readonly string[]): Promise<void> {
    const q = this.#queues.get(name);
    if (!q || ids.length === 0) return;
    const bus = await this.#openBus();
    const pipe = bus.redis.pipeline();
    for (const id of ids) pipe.hmget(`${this.#prefix}:${name}:${id}`, "timestamp", "finishedOn", "returnvalue", "failedReason");
    const rows = (await pipe.exec()) ?? [];
    ids.forEach((id, i) => {
      const [err, fields] = rows[i] ?? [];
      if (err || !Array.isArray(fields)) return;
      const [timestamp = null, finishedOn = null, returnvalue = null, failedReason = null] = fields as (string | null)[];
      if (timestamp === null) {
        settle(q.waiters, id, (w) => w.reject(new BullMQRuntimeError(`Step job "${id}" is gone from queue "${name}" before it finished (removed by hand, or the queue was emptied).`, "WORKER_LOST")));
      } else if (finishedOn !== null) {
        if (returnvalue !== null && failedReason === null) settle(q.waiters, id, (w) => w.resolve(safeParse(returnvalue)));
        else settle(q.waiters, id, (w) => w.reject(new Error(failedReason ?? "failed")));
      }
    });
  }

  async #sweep(): Promise<void> {
    for (const [name, q] of this.#queues) await this.#check(name, [...q.waiters.keys()]).catch(() => {});
  }

  /** The queue of a task: its workflow's, or its step's own when a worker registered one. */
  async #queueOf(task: StepTask, bus: Bus): Promise<string> {
    if (!this.#routes || Date.now() - this.#routes.at > ROUTES_TTL_MS) {
      const all = await bus.redis.hgetall(keys.routes(this.#prefix));
      this.#routes = { at: Date.now(), map: new Map(Object.entries(all)) };
    }
    return this.#routes.map.get(routeField(task.workflow, task.step)) ?? queueName(task.workflow);
  }

  /** Scope requests from steps on workers: only for jobs this process awaits. */
  async #serve(req: ScopeRequest): Promise<unknown> {
    const p = this.#pending.get(req.job);
    if (!p) throw new BullMQRuntimeError(`No step job "${req.job}" is awaited by this coordinator (it finished, was aborted, or the run moved to another process).`, "BAD_TASK");
    const [writes, request] = req.args as [StepWrite[], StepRequest];
    if (req.op !== "request" || !Array.isArray(writes) || typeof request !== "object" || request === null) {
      throw new BullMQRuntimeError(`Malformed scope request "${req.op}" for job "${req.job}".`, "BAD_TASK");
    }
    if (writes.length > 0) p.scope.apply(writes);
    return (await p.scope.request(request)) satisfies StepReply;
  }

  /** Adds jobs asked for in the same tick with one `addBulk` per queue: a fan-out is one round trip. */
  #enqueue(queue: string, job: StepJob): Promise<Job> {
    return new Promise((resolve, reject) => {
      if (this.#batch.length === 0) queueMicrotask(() => void this.#flush());
      this.#batch.push({ queue, job, done: (added, err) => (added ? resolve(added) : reject(err ?? new Error("addBulk returned no job"))) });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    const byQueue = new Map<string, typeof batch>();
    for (const b of batch) {
      let list = byQueue.get(b.queue);
      if (!list) byQueue.set(b.queue, (list = []));
      list.push(b);
    }
    await Promise.all(
      [...byQueue].map(async ([name, list]) => {
        try {
          const q = this.#queue(name);
          await q.ready;
          const added = await q.queue.addBulk(list.map((b) => b.job));
          await this.#check(name, list.map((b) => b.job.opts.jobId));
          list.forEach((b, i) => b.done(added[i]));
        } catch (err) {
          for (const b of list) b.done(undefined, err instanceof Error ? err : new Error(String(err)));
        }
      }),
    );
  }

  /** Enqueue one attempt and resolve with its outcome; `scope.signal` aborts it on its worker. */
  async execute(task: StepTask, scope: StepScope): Promise<StepOutcome> {
    const route = routeField(task.workflow, task.step);
    const target = this.#targets.get(task.workflow);
    if (target !== undefined && this.#here.has(route)) return executeTask(target, task, scope);
    const outcome = await this.#remote(task, scope);
    if (outcome.ok || outcome.error.code !== "NEEDS_RUN_MEMORY" || scope.signal.aborted) return outcome;
    if (target === undefined) {
      const hint = ` (the step ran on a BullMQ worker: call runtime.runInProcess(workflow, ["${task.step}"]) in the coordinating process to run it there)`;
      return { ...outcome, error: { ...outcome.error, message: outcome.error.message + hint } };
    }
    this.#here.add(route);
    return executeTask(target, task, scope);
  }

  async #remote(task: StepTask, scope: StepScope): Promise<StepOutcome> {
    const jobId = stepJobId(task.runId, task.stepRunId, task.attempt);
    const failed = (error: unknown, writes: readonly StepWrite[] = []): StepOutcome => ({ ok: false, error: { ...errorJSON(error), step: task.step }, writes });
    if (this.#closed) return failed(new BullMQRuntimeError("The BullMQRuntime was closed; the step was not enqueued.", "CLOSED", { runId: task.runId, step: task.step }));
    if (scope.signal.aborted) return failed(scope.signal.reason);
    let bus: Bus;
    let queue: string;
    try {
      bus = await this.#openBus();
      queue = await this.#queueOf(task, bus);
    } catch (err) {
      return failed(err);
    }
    const mine: Pending = { task, scope, queue };
    this.#pending.set(jobId, mine);
    let waiter: Waiter | undefined;
    const unwait = () => {
      const list = this.#queues.get(queue)?.waiters.get(jobId);
      const i = waiter && list ? list.indexOf(waiter) : -1;
      if (i >= 0) list?.splice(i, 1);
      if (list?.length === 0) this.#queues.get(queue)?.waiters.delete(jobId);
    };
    let onAbort: (() => void) | undefined;
    let onClose: (() => void) | undefined;
    const aborted = new Promise<StepOutcome>((resolve) => {
      onAbort = () => {
        resolve(failed(scope.signal.reason));
        // Drop the job if no worker took it yet; else tell the worker running it.
        const q = this.#queue(queue).queue;
        void q
          .remove(jobId)
          .catch(() => 0)
          .then((removed) => (removed ? undefined : bus.abort(jobId, errorJSON(scope.signal.reason))))
          .catch(() => {});
      };
      // Every step in flight of a run listens to the run's signal: a fan-out of 1,000 is 1,000 listeners, removed as they end.
      setMaxListeners(0, scope.signal);
      scope.signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const done = (async (): Promise<StepOutcome> => {
        const watched = this.#queue(queue);
        // Listening before the job exists: its completion cannot be missed.
        const finished = new Promise<unknown>((resolve, reject) => {
          waiter = { resolve, reject };
          const list = watched.waiters.get(jobId);
          if (list) list.push(waiter);
          else watched.waiters.set(jobId, [waiter]);
        });
        try {
          await this.#enqueue(queue, {
            name: task.step,
            data: { task, coordinator: bus.id },
            opts: { jobId, attempts: 1, removeOnComplete: { age: this.#keep.completed }, removeOnFail: { age: this.#keep.failed } },
          });
        } catch (err) {
          unwait();
          throw err;
        }
        try {
          return parseOutcome(await finished, jobId);
        } catch (err) {
          if (err instanceof BullMQRuntimeError) throw err;
          // The job failed in BullMQ: its workers kept dying or stalling, or it was not a task they could run.
          const why = err instanceof Error ? err.message : String(err);
          throw new BullMQRuntimeError(
            `Step "${task.step}" of workflow "${task.workflow}" (attempt ${task.attempt}, job "${jobId}" on queue "${queue}") failed on the workers: ${why}. ` +
              "A step that kills or blocks its worker every time fails this way once BullMQ's maxStalledCount is passed.",
            "WORKER_LOST",
            { runId: task.runId, step: task.step, attempt: task.attempt },
          );
        }
      })();
      const closing = this.#closing.signal;
      const closed = new Promise<StepOutcome>((resolve) => {
        onClose = () => resolve(failed(closing.reason));
        if (closing.aborted) onClose();
        else closing.addEventListener("abort", onClose, { once: true });
      });
      return await Promise.race([done.catch((err: unknown) => failed(err)), aborted, closed]);
    } finally {
      unwait();
      if (onAbort) scope.signal.removeEventListener("abort", onAbort);
      if (onClose) this.#closing.signal.removeEventListener("abort", onClose);
      if (this.#pending.get(jobId) === mine) this.#pending.delete(jobId);
    }
  }

  /** Closes the queues and connections this runtime opened. Steps still awaited end with `CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort(new BullMQRuntimeError("The BullMQRuntime was closed while the step ran on a worker.", "CLOSED"));
    clearInterval(this.#sweeper);
    const bus = this.#bus;
    this.#bus = undefined;
    await Promise.all([...this.#queues.values()].map(async ({ queue, events }) => Promise.all([queue.close(), events.close()])));
    this.#queues.clear();
    if (bus) await (await bus.catch(() => undefined))?.close();
  }
}

type StepJob = { name: string; data: StepJobData; opts: { jobId: string; attempts: 1; removeOnComplete: { age: number }; removeOnFail: { age: number } } };

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // parseOutcome says what is wrong with it
  }
}

/** Calls `fn` for every waiter of `jobId` and forgets them. */
function settle(waiters: Map<string, Waiter[]>, jobId: string, fn: (w: Waiter) => void): void {
  const list = waiters.get(jobId);
  if (!list) return;
  waiters.delete(jobId);
  for (const w of list) fn(w);
}
