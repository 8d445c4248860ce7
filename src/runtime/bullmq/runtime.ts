import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { Queue, QueueEvents } from "bullmq";
import { App, describeWorkflow, executeTask, type Workflow } from "../../index.js";
import { Bus, errorJSON, type ScopeRequest } from "./bus.js";
import { bullConnection, type RedisConnection } from "./connection.js";
import { BullMQRuntimeError } from "./errors.js";
import { crossingProblem, parseOutcome, parsePosition, type SentOutcome, type StepJobData } from "./job.js";
import { currentTraceCarrier } from "../../otel/auto.js";
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
  /** Writes of the job's executions applied so far (an execution run again sends its first ones again). */
  applied: number;
  /** The job's requests by position, with the request's JSON: an execution run again joins them. */
  readonly asked: Map<number, { readonly key: string; readonly reply: Promise<StepReply> }>;
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
  #batch: { queue: string; job: StepJob; done: (found: Found | undefined, err?: Error) => void }[] = [];
  #closed = false;
  /** Attempts awaited here that ended badly (see `#remember`). */
  readonly #ended = new Set<string>();
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
    // Every step awaited listens to it.
    setMaxListeners(0, this.#closing.signal);
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
    // Opened after close() (a step being enqueued meanwhile), it would never be closed.
    if (this.#closed) return Promise.reject(closedError());
    this.#bus ??= Bus.open(this.#connection, this.#prefix).then((bus) => {
      bus.serve((req) => this.#serve(req));
      return bus;
    });
    return this.#bus;
  }

  #queue(name: string): Watched {
    let q = this.#queues.get(name);
    if (!q) {
      if (this.#closed) throw closedError();
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

  /** Settles the waiters of job `id` from its hash fields, if it ended (or is gone). */
  #settleFrom(name: string, id: string, fields: readonly (string | null)[]): void {
    const q = this.#queues.get(name);
    if (!q) return;
    const [timestamp = null, finishedOn = null, returnvalue = null, failedReason = null] = fields;
    if (timestamp === null) {
      settle(q.waiters, id, (w) => w.reject(new BullMQRuntimeError(`Step job "${id}" is gone from queue "${name}" before it finished (removed by hand, or the queue was emptied).`, "WORKER_LOST")));
    } else if (finishedOn !== null) {
      if (returnvalue !== null && failedReason === null) settle(q.waiters, id, (w) => w.resolve(safeParse(returnvalue)));
      else settle(q.waiters, id, (w) => w.reject(new Error(failedReason ?? "failed")));
    }
  }

  /** Looks awaited jobs up in Redis every few seconds (an event missed while QueueEvents was starting, a job removed by hand). */
  async #check(name: string, ids: readonly string[]): Promise<void> {
    if (!this.#queues.has(name) || ids.length === 0) return;
    const bus = await this.#openBus();
    const pipe = bus.redis.pipeline();
    for (const id of ids) pipe.hmget(this.#jobKey(name, id), ...FIELDS);
    const rows = (await pipe.exec()) ?? [];
    ids.forEach((id, i) => {
      const [err, fields] = rows[i] ?? [];
      if (!err && Array.isArray(fields)) this.#settleFrom(name, id, fields as (string | null)[]);
    });
  }

  #jobKey(name: string, id: string): string {
    return `${this.#prefix}:${name}:${id}`;
  }

  /**
   * What the ids of jobs just added held: `"new"` (added now), `"same"` (the same task, added
   * before: by a coordinator that died, whose run this one took over), `"other"` (another task
   * under the id: an invocation the dead coordinator handed out before its journal said so).
   * Settles the waiters of jobs that ended already, except `"other"` ones.
   */
  async #afterAdd(name: string, jobs: readonly StepJob[]): Promise<Found[]> {
    const bus = await this.#openBus();
    const pipe = bus.redis.pipeline();
    for (const j of jobs) pipe.hmget(this.#jobKey(name, j.opts.jobId), ...FIELDS);
    const rows = ((await pipe.exec()) ?? []).map(([err, f]) => (err || !Array.isArray(f) ? undefined : (f as (string | null)[])));
    const older = jobs.map((j, i) => {
      const stamp = rows[i]?.[0];
      return stamp !== null && stamp !== undefined && stamp !== String(j.opts.timestamp);
    });
    const found: Found[] = jobs.map(() => ({ kind: "new" }));
    if (older.some(Boolean)) {
      const data = bus.redis.pipeline();
      jobs.forEach((j, i) => older[i] && data.hget(this.#jobKey(name, j.opts.jobId), "data"));
      const got = ((await data.exec()) ?? []).map(([, v]) => v);
      let k = 0;
      jobs.forEach((j, i) => {
        if (older[i]) found[i] = compare(j.data.task, got[k++]);
      });
    }
    jobs.forEach((j, i) => {
      const fields = rows[i];
      if (fields && found[i]?.kind !== "other") this.#settleFrom(name, j.opts.jobId, fields);
    });
    return found;
  }

  /** Job `id` as it is, without adding it: `"absent"`, or as {@link #afterAdd} says; settles its waiters if it ended. */
  async #lookup(name: string, id: string, task: StepTask): Promise<Found | { kind: "absent" }> {
    const bus = await this.#openBus();
    const fields = await bus.redis.hmget(this.#jobKey(name, id), ...FIELDS, "data");
    if (fields[0] === null) return { kind: "absent" };
    const found = compare(task, fields[4]);
    if (found.kind !== "other") this.#settleFrom(name, id, fields.slice(0, 4));
    return found;
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
    const [writes, request, position] = req.args as [StepWrite[], StepRequest, unknown];
    if (req.op !== "request" || !Array.isArray(writes) || typeof request !== "object" || request === null) {
      throw new BullMQRuntimeError(`Malformed scope request "${req.op}" for job "${req.job}".`, "BAD_TASK");
    }
    const at = parsePosition(position);
    if (at === undefined) {
      if (writes.length > 0) p.scope.apply(writes);
      return (await p.scope.request(request)) satisfies StepReply;
    }
    // A job runs again when its worker died or stalled past its lock (while the first one may go
    // on): what an earlier execution sent is taken once, its waits and calls joined, not repeated.
    for (let i = Math.max(0, p.applied - at.writes); i < writes.length; i++) {
      p.scope.apply([writes[i] as StepWrite]);
      p.applied = at.writes + i + 1;
    }
    const key = canonical(request);
    const known = p.asked.get(at.request);
    if (known !== undefined && known.key === key) return await known.reply;
    const reply = (async () => p.scope.request(request))();
    p.asked.set(at.request, { key, reply });
    reply.catch(() => {});
    return (await reply) satisfies StepReply;
  }

  /** `outcome` without the writes the job's executions sent with requests already (see {@link #serve}). */
  #unsent(outcome: SentOutcome, p: Pending): StepOutcome {
    const { sent = 0, ...rest } = outcome;
    const skip = Math.max(0, p.applied - (Number.isSafeInteger(sent) ? sent : 0));
    return skip === 0 ? rest : { ...rest, writes: rest.writes.slice(skip) };
  }

  /** Adds jobs asked for in the same tick with one `addBulk` per queue: a fan-out is one round trip. */
  #enqueue(queue: string, job: StepJob): Promise<Found> {
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
          await q.queue.addBulk(list.map((b) => b.job));
          const found = await this.#afterAdd(name, list.map((b) => b.job));
          list.forEach((b, i) => b.done(found[i]));
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
    const failed = (error: unknown, writes: readonly StepWrite[] = []): StepOutcome => ({ ok: false, error: { ...errorJSON(error), step: task.step }, writes });
    if (this.#closed) return failed(new BullMQRuntimeError("The BullMQRuntime was closed; the step was not enqueued.", "CLOSED", { runId: task.runId, step: task.step }));
    if (scope.signal.aborted) return failed(scope.signal.reason);
    const bad = crossingProblem(task, { task: true });
    if (bad !== undefined) return failed(bad.error);
    let bus: Bus;
    let queue: string;
    try {
      bus = await this.#openBus();
      queue = await this.#queueOf(task, bus);
    } catch (err) {
      return failed(err);
    }
    // A run taken over from a coordinator that died goes on with the next attempt of the steps it
    // had in flight; the attempt that coordinator handed out may have finished on a worker since
    // (its outcome is taken, the step does not run again) or still run there (it is awaited).
    // An attempt this runtime awaited itself and that ended badly is retried as usual.
    if (task.attempt > 1) {
      const prev = stepJobId(task.runId, task.stepRunId, task.attempt - 1);
      if (!this.#ended.delete(prev)) {
        const outcome = await this.#await(task, scope, bus, queue, prev, false);
        if (outcome !== undefined && (outcome.ok || scope.signal.aborted || this.#closed)) return outcome;
      }
    }
    const jobId = stepJobId(task.runId, task.stepRunId, task.attempt);
    // The id may hold another task: an invocation the dead coordinator handed out under the same
    // stepRunId before its journal recorded it. This task then takes an id of its own, the same one each time.
    for (const id of [jobId, `${jobId}~${fingerprint(task)}`]) {
      const outcome = await this.#await(task, scope, bus, queue, id, true);
      if (outcome !== undefined) return outcome;
    }
    return failed(new BullMQRuntimeError(`Step job ids "${jobId}" and "${jobId}~${fingerprint(task)}" on queue "${queue}" both hold other tasks; remove them from the queue and resume the run.`, "BAD_TASK", { runId: task.runId, step: task.step }));
  }

  /**
   * Awaits job `jobId` for `task`: adds it first (`add`), or only looks it up. Resolves with its
   * outcome, or `undefined` when the id holds another task (or, not adding, nothing).
   */
  async #await(task: StepTask, scope: StepScope, bus: Bus, queue: string, jobId: string, add: boolean): Promise<StepOutcome | undefined> {
    const failed = (error: unknown, writes: readonly StepWrite[] = []): StepOutcome => ({ ok: false, error: { ...errorJSON(error), step: task.step }, writes });
    const mine: Pending = { task, scope, queue, applied: 0, asked: new Map() };
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
    let result: StepOutcome | undefined;
    const aborted = new Promise<StepOutcome>((resolve) => {
      onAbort = () => {
        resolve(failed(scope.signal.reason));
        // Drop the job if no worker took it yet; else tell the worker running it.
        const q = this.#queues.get(queue)?.queue;
        if (q === undefined) return; // closed: its queues with it
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
      const done = (async (): Promise<StepOutcome | undefined> => {
        const watched = this.#queue(queue);
        // Listening before the job exists: its completion cannot be missed.
        const finished = new Promise<unknown>((resolve, reject) => {
          waiter = { resolve, reject };
          const list = watched.waiters.get(jobId);
          if (list) list.push(waiter);
          else watched.waiters.set(jobId, [waiter]);
        });
        finished.catch(() => {});
        let found: Found | { kind: "absent" };
        try {
          if (add) {
            found = await this.#enqueue(queue, {
              name: task.step,
              data: { task, coordinator: bus.id, ...traceOf() },
              opts: { jobId, timestamp: Date.now(), attempts: 1, removeOnComplete: { age: this.#keep.completed }, removeOnFail: { age: this.#keep.failed } },
            });
          } else {
            await watched.ready;
            found = await this.#lookup(queue, jobId, task);
          }
        } catch (err) {
          unwait();
          throw err;
        }
        if (found.kind === "other" || found.kind === "absent") {
          unwait();
          return undefined;
        }
        if (found.kind === "same" && found.coordinator !== bus.id) {
          // Added by a coordinator that died: its worker's requests come here from now on.
          void this.#takeOver(watched.queue, jobId, bus).catch(() => {});
        }
        try {
          return this.#unsent(parseOutcome(await finished, jobId), mine);
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
      result = await Promise.race([done.catch((err: unknown) => failed(err)), aborted, closed]);
      return result;
    } finally {
      unwait();
      if (onAbort) scope.signal.removeEventListener("abort", onAbort);
      if (onClose) this.#closing.signal.removeEventListener("abort", onClose);
      if (this.#pending.get(jobId) === mine) this.#pending.delete(jobId);
      if (result !== undefined && !result.ok) this.#remember(jobId);
    }
  }

  /** Points a job a dead coordinator added at this one: its data for a worker yet to start it, a broadcast for the one running it. */
  async #takeOver(queue: Queue, jobId: string, bus: Bus): Promise<void> {
    const job = await queue.getJob(jobId);
    if (job && job.finishedOn === undefined) await job.updateData({ ...(job.data as StepJobData), coordinator: bus.id });
    await bus.moved(jobId);
  }

  /** Remembers an attempt that ended badly here, so its retry does not wait for it again. */
  #remember(jobId: string): void {
    if (this.#ended.size >= MAX_ENDED) this.#ended.delete(this.#ended.values().next().value as string);
    this.#ended.add(jobId);
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

type StepJob = { name: string; data: StepJobData; opts: { jobId: string; timestamp: number; attempts: 1; removeOnComplete: { age: number }; removeOnFail: { age: number } } };

/** What a job id held when a job was added under it (see `#afterAdd`). */
type Found = { kind: "new" } | { kind: "same"; coordinator: string | undefined } | { kind: "other" };

/** What a runtime used after close() says. */
const closedError = () => new BullMQRuntimeError("The BullMQRuntime was closed; the step was not enqueued.", "CLOSED");

/** The hash fields of a job that say whether and how it ended. */
const FIELDS = ["timestamp", "finishedOn", "returnvalue", "failedReason"] as const;
/** How many attempts that ended badly are remembered (their retries skip the look for a finished copy). */
const MAX_ENDED = 10_000;

/** JSON with its keys sorted: the same value gives the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** What makes two tasks the same invocation: workflow, step and event. */
const identity = (t: StepTask): string => canonical([t.workflow, t.step, t.event]);

/** A short hash of a task's identity, for a job id of its own. */
function fingerprint(task: StepTask): string {
  return createHash("sha256").update(identity(task)).digest("hex").slice(0, 12);
}

/** Whether a stored job's data (`raw`) is `task`'s invocation. */
function compare(task: StepTask, raw: unknown): Found {
  if (typeof raw !== "string") return { kind: "other" };
  try {
    const data = JSON.parse(raw) as Partial<StepJobData>;
    if (data.task === undefined || identity(data.task) !== identity(task)) return { kind: "other" };
    return { kind: "same", coordinator: typeof data.coordinator === "string" ? data.coordinator : undefined };
  } catch {
    return { kind: "other" };
  }
}

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

/** The active trace context (the step span's), for the job's data. */
function traceOf(): { trace?: Readonly<Record<string, string>> } {
  const carrier = currentTraceCarrier();
  return carrier ? { trace: carrier } : {};
}
