import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { ErrorJSON } from "../../index.js";
import { describeConnection, newRedis, type RedisConnection } from "./connection.js";
import { BullMQRuntimeError } from "./errors.js";
import { keys } from "./names.js";

/** A request from a step on a worker to the scope of its run, held by the coordinator. */
export interface ScopeRequest {
  /** The process that asks (its inbox). */
  from: string;
  /** The step job it asks for: only jobs the coordinator is awaiting are served. */
  job: string;
  op: string;
  args: unknown[];
}

type Message =
  | { kind: "req"; id: string; from: string; job: string; op: string; args: unknown[] }
  | { kind: "res"; id: string; ok: true; value: unknown }
  | { kind: "res"; id: string; ok: false; error: ErrorJSON };

/**
 * The largest message sent over pub/sub. Redis drops a subscriber whose output buffer passes its
 * `client-output-buffer-limit pubsub` (32 MB by default): a bigger message never arrives, and
 * costs the subscriber its connection.
 */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** `message` as the text to publish, or why it cannot be sent (with the error code). */
function encode(message: Message): { text: string } | { problem: string; code: string } {
  let text: string;
  try {
    text = JSON.stringify(message);
  } catch (err) {
    return { problem: `it is not JSON (${err instanceof Error ? err.message : String(err)})`, code: "NOT_JSON" };
  }
  const bytes = Buffer.byteLength(text);
  if (bytes <= MAX_MESSAGE_BYTES) return { text };
  return {
    problem: `it is ${(bytes / 2 ** 20).toFixed(1)} MB, more than the ${MAX_MESSAGE_BYTES / 2 ** 20} MB a Redis pub/sub message may be (past the subscriber's output buffer limit Redis drops its connection); keep large data out of events and pass a reference (a URL, a key) instead`,
    code: "MESSAGE_TOO_LARGE",
  };
}

/** How long an abort is remembered for a job this process has not started yet. */
const REMEMBER_ABORT_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;

/**
 * Sets `key` as the newest entry of `map` (kept in the order set), first dropping the oldest ones
 * that are past {@link REMEMBER_ABORT_MS} or beyond {@link MAX_REMEMBERED}: it stops at the first
 * one kept, so each entry costs one visit, however many are remembered.
 */
function remember<V extends { at: number }>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  for (const [k, v] of map) {
    if (value.at - v.at <= REMEMBER_ABORT_MS && map.size < MAX_REMEMBERED) break;
    map.delete(k);
  }
  map.set(key, value);
}

export function errorJSON(err: unknown): ErrorJSON {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const step = (err as { step?: unknown }).step;
    return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}), ...(typeof step === "string" ? { step } : {}) };
  }
  return { name: "Error", message: String(err) };
}

/** An error that happened in another process, rebuilt from its JSON: same name, message and code. */
export class RemoteError extends BullMQRuntimeError {
  constructor(json: ErrorJSON) {
    super(json.message, json.code ?? "REMOTE_ERROR", json.step === undefined ? {} : { step: json.step });
    this.name = json.name;
  }
}

/**
 * The runtime's own messages over Redis pub/sub, one per process: aborts broadcast to every
 * worker, and scope requests and replies between a worker and a coordinator, each process
 * reading its own inbox channel. Pub/sub keeps nothing: a message sent while a process is
 * disconnected is lost, so aborts are also remembered for jobs not started yet, and a scope
 * request is bounded by the step's signal.
 */
export class Bus {
  /** This process's inbox id. */
  readonly id = randomUUID();
  readonly #prefix: string;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #aborts = new Map<string, Set<(reason: ErrorJSON) => void>>();
  readonly #aborted = new Map<string, { reason: ErrorJSON; at: number }>();
  readonly #pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; job: string; to: string; text: string }>();
  /** Requests being answered here, by id: the same request sent again meanwhile is not served twice. */
  readonly #serving = new Set<string>();
  /** Jobs whose run another coordinator took over, and its inbox. */
  readonly #moved = new Map<string, { to: string; at: number }>();
  #serve: ((req: ScopeRequest) => Promise<unknown>) | undefined;

  private constructor(prefix: string, pub: Redis, sub: Redis) {
    this.#prefix = prefix;
    this.#pub = pub;
    this.#sub = sub;
  }

  /**
   * Connects and subscribes; resolves once messages can be received. Fails with
   * `REDIS_UNAVAILABLE` when Redis does not answer within `timeoutMs`.
   */
  static async open(connection: RedisConnection, prefix: string, timeoutMs = 10_000): Promise<Bus> {
    const bus = new Bus(prefix, newRedis(connection, "stepwise-bus"), newRedis(connection, "stepwise-bus-sub"));
    let lastError = "no answer";
    let failFast: ((err: Error) => void) | undefined;
    // Later errors (Redis restarted) are retried by ioredis; a listener keeps them from being fatal.
    const note = (err: Error) => {
      lastError = err.message;
      failFast?.(err);
    };
    bus.#pub.on("error", note);
    bus.#sub.on("error", note);
    bus.#sub.on("message", (channel: string, text: string) => bus.#receive(channel, text));
    // Pub/sub keeps nothing: what was published to this process while it was disconnected is lost.
    let opened = false;
    bus.#sub.on("ready", () => {
      if (opened) void bus.#resync();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      // At start, fail at the first error: a worker that cannot reach Redis should say so, not hang.
      await Promise.race([
        Promise.all([bus.#sub.subscribe(keys.abort(prefix), keys.inbox(prefix, bus.id)), bus.#pub.ping()]),
        new Promise((_, reject) => {
          failFast = reject;
          timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
        }),
      ]);
    } catch {
      bus.#sub.disconnect();
      bus.#pub.disconnect();
      throw new BullMQRuntimeError(`Cannot reach Redis at ${describeConnection(connection)} within ${timeoutMs / 1000} s (${lastError}); is it running, and is the URL right?`, "REDIS_UNAVAILABLE");
    } finally {
      clearTimeout(timer);
      failFast = undefined;
    }
    opened = true;
    return bus;
  }

  /**
   * After a reconnect of the subscriber: asks again what this process awaits (a reply published
   * meanwhile was lost), and tells the others to send again what they await of it (a request
   * published meanwhile was lost). Requests are served once by position (see the runtime), so a
   * request that had arrived is joined, not repeated.
   */
  async #resync(): Promise<void> {
    try {
      await this.#sub.subscribe(keys.abort(this.#prefix), keys.inbox(this.#prefix, this.id));
      for (const p of this.#pending.values()) await this.#pub.publish(keys.inbox(this.#prefix, this.coordinatorOf(p.job) ?? p.to), p.text);
      await this.#pub.publish(keys.abort(this.#prefix), JSON.stringify({ resend: this.id }));
    } catch {
      // Disconnected again: the next reconnect tries again.
    }
  }

  /** The connection for the runtime's own commands (lock settings). */
  get redis(): Redis {
    return this.#pub;
  }

  #receive(channel: string, text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // not ours: anyone with access to Redis may publish here
    }
    if (typeof msg !== "object" || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (channel === keys.abort(this.#prefix)) {
      if (typeof m.job === "string" && typeof m.reason === "object" && m.reason !== null) this.#abortLocal(m.job, m.reason as ErrorJSON);
      if (typeof m.job === "string" && typeof m.moved === "string") this.#movedLocal(m.job, m.moved);
      if (typeof m.resend === "string" && m.resend !== this.id) {
        for (const p of this.#pending.values()) if ((this.coordinatorOf(p.job) ?? p.to) === m.resend) this.#pub.publish(keys.inbox(this.#prefix, m.resend), p.text).catch(() => {});
      }
      return;
    }
    if (m.kind === "res" && typeof m.id === "string") {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok === true) p.resolve(m.value);
      else p.reject(new RemoteError((m.error ?? { name: "Error", message: "unknown error" }) as ErrorJSON));
      return;
    }
    if (m.kind === "req" && typeof m.id === "string" && typeof m.from === "string" && typeof m.job === "string" && typeof m.op === "string" && Array.isArray(m.args)) {
      // Sent again (after a reconnect) while its answer is still on the way: that answer will do.
      if (this.#serving.has(m.id)) return;
      const id = m.id;
      this.#serving.add(id);
      void this.#answer(m as Extract<Message, { kind: "req" }>).finally(() => this.#serving.delete(id));
    }
  }

  async #answer(req: Extract<Message, { kind: "req" }>): Promise<void> {
    let reply: Message;
    try {
      if (!this.#serve) throw new BullMQRuntimeError(`This process serves no scope requests (asked for "${req.op}").`, "BAD_TASK");
      reply = { kind: "res", id: req.id, ok: true, value: await this.#serve(req) };
    } catch (err) {
      reply = { kind: "res", id: req.id, ok: false, error: errorJSON(err) };
    }
    let encoded = encode(reply);
    if ("problem" in encoded) {
      // An answer that cannot travel is an error the step gets, not a reply that never comes.
      const kind = (req.args[1] as { kind?: unknown } | null | undefined)?.kind;
      const error = new BullMQRuntimeError(`The answer to the request${typeof kind === "string" ? ` (${kind})` : ""} of step job "${req.job}" cannot be sent to its worker: ${encoded.problem}.`, encoded.code);
      encoded = encode({ kind: "res", id: req.id, ok: false, error: errorJSON(error) });
    }
    if ("problem" in encoded) return;
    try {
      await this.#pub.publish(keys.inbox(this.#prefix, req.from), encoded.text);
    } catch {
      // The asker waits on its step's signal; nothing else to do without Redis.
    }
  }

  #abortLocal(job: string, reason: ErrorJSON): void {
    remember(this.#aborted, job, { reason, at: Date.now() });
    for (const fn of this.#aborts.get(job) ?? []) fn(reason);
  }

  #movedLocal(job: string, to: string): void {
    remember(this.#moved, job, { to, at: Date.now() });
    // Requests the dead coordinator never answered are asked again of the new one.
    for (const p of this.#pending.values()) if (p.job === job) this.#pub.publish(keys.inbox(this.#prefix, to), p.text).catch(() => {});
  }

  /** The coordinator that took over `job`'s run, if another one did since the job was added. */
  coordinatorOf(job: string): string | undefined {
    return this.#moved.get(job)?.to;
  }

  /** Tells every worker that the run of `job` is coordinated by this process now: its requests come here. */
  async moved(job: string): Promise<void> {
    await this.#pub.publish(keys.abort(this.#prefix), JSON.stringify({ job, moved: this.id }));
  }

  /** Calls `fn` when `job` is aborted (at once if it already was); returns the unsubscribe. */
  onAbort(job: string, fn: (reason: ErrorJSON) => void): () => void {
    const known = this.#aborted.get(job);
    if (known && Date.now() - known.at <= REMEMBER_ABORT_MS) {
      fn(known.reason);
      return () => {};
    }
    let set = this.#aborts.get(job);
    if (!set) this.#aborts.set(job, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.#aborts.delete(job);
    };
  }

  /** Tells every worker that `job` must abort. */
  async abort(job: string, reason: ErrorJSON): Promise<void> {
    await this.#pub.publish(keys.abort(this.#prefix), JSON.stringify({ job, reason }));
  }

  /** Serve scope requests addressed to this process with `fn`. */
  serve(fn: (req: ScopeRequest) => Promise<unknown>): void {
    this.#serve = fn;
  }

  /**
   * Asks process `to` to run `op(...args)` on the scope of `job`; rejects when `signal` aborts.
   * Throws at once, sending nothing, when the request cannot go over pub/sub (`what` names it).
   */
  request(to: string, job: string, op: string, args: unknown[], signal: AbortSignal, what = `The scope request "${op}" of job "${job}"`): Promise<unknown> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const id = randomUUID();
    const encoded = encode({ kind: "req", id, from: this.id, job, op, args });
    if ("problem" in encoded) throw new BullMQRuntimeError(`${what} cannot be sent: ${encoded.problem}.`, encoded.code);
    const text = encoded.text;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        reject(signal.reason as Error);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
        reject: (e: Error) => (signal.removeEventListener("abort", onAbort), reject(e)),
        job,
        to,
        text,
      });
      this.#pub.publish(keys.inbox(this.#prefix, this.coordinatorOf(job) ?? to), text).catch((err: unknown) => {
        this.#pending.get(id)?.reject(err instanceof Error ? err : new Error(String(err)));
        this.#pending.delete(id);
      });
    });
  }

  /** Requests in flight (for tests and leak checks). */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  async close(): Promise<void> {
    for (const p of this.#pending.values()) p.reject(new BullMQRuntimeError("The BullMQ runtime was closed while a scope request was in flight.", "CLOSED"));
    this.#pending.clear();
    this.#sub.disconnect();
    await this.#pub.quit().catch(() => this.#pub.disconnect());
  }
}
