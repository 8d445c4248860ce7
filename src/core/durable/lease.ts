import { nextTag, randomId } from "../ids.js";
import type { Clock } from "../clock.js";
import { RunLockedError } from "../errors.js";
import type { WorkflowHandler } from "../handler.js";
import type { Run } from "../driver/run.js";
import type { Event } from "../events.js";
import type { Store } from "../store.js";
import { retryBusy, type Journal } from "./journal.js";

/**
 * Who takes a run's lease in this process: the `leaseOwner` workflow option. Leases let only
 * one process run a run at a time (BullMQ's LockManager does the same for jobs).
 */
export interface LeaseOwner {
  /** A new owner id, for one run this process takes. */
  next(): string;
  /** True when `owner`, a lease's holder, is known to be gone (a process that ended): its lease is taken over at once. */
  isGone?(owner: string): boolean;
}

/** Lease ids `<prefix>:<random>`: a fixed name for this process (a pod, a host) and a random part per run. */
export function namedOwner(prefix: string): LeaseOwner {
  return { next: () => `${prefix}:${nextTag()}` };
}

interface NodeLikeProcess {
  pid: number;
  env: Record<string, string | undefined>;
  kill(pid: number, signal: number): unknown;
  getBuiltinModule?(id: string): unknown;
}

/** The host's process, where there is one (Node, Bun, Deno's Node mode); read, never imported. */
function hostProcess(): NodeLikeProcess | undefined {
  const p = (globalThis as { process?: Partial<NodeLikeProcess> }).process;
  return typeof p?.pid === "number" && typeof p.kill === "function" ? (p as NodeLikeProcess) : undefined;
}

let fallback: LeaseOwner | undefined;

/**
 * The default {@link LeaseOwner}: `host:pid:random` where the host runs processes, so that a
 * run whose process died on this host is taken over at once instead of after its lease
 * expires; elsewhere (a browser, an edge worker) a random id.
 */
export function defaultLeaseOwner(): LeaseOwner {
  if (fallback !== undefined) return fallback;
  const proc = hostProcess();
  const os = proc?.getBuiltinModule?.("node:os") as { hostname(): string } | undefined;
  if (proc === undefined || os === undefined) return (fallback = { next: () => randomId() });
  const host = os.hostname();
  return (fallback = {
    next: () => `${host}:${proc.pid}:${nextTag()}`,
    isGone: (owner) => {
      const parts = owner.split(":");
      const pid = Number(parts[parts.length - 2]);
      if (parts.slice(0, -2).join(":") !== host || !Number.isInteger(pid) || pid === proc.pid) return false;
      try {
        proc.kill(pid, 0);
        return false;
      } catch (err) {
        return (err as { code?: string }).code === "ESRCH";
      }
    },
  });
}

/**
 * How long a lease lasts unless renewed (renewed every third of it while the run is live here).
 * Default 30 s; the `leaseTtlMs` option, or `STEPWISE_LEASE_TTL_MS` in the environment, overrides it.
 */
export function defaultLeaseTtlMs(): number {
  const env = Number(hostProcess()?.env.STEPWISE_LEASE_TTL_MS);
  return Number.isFinite(env) && env > 0 ? env : 30_000;
}

/** How this process takes and keeps leases: given by the run's starter. */
export interface Leasing {
  readonly clock: Clock;
  readonly owner: LeaseOwner;
  readonly ttlMs: number;
}

interface Live {
  run: Run;
  handler: WorkflowHandler<unknown>;
  journal: Journal;
  store: Store;
  owner: string;
  /** The lease's fencing token. */
  token: number;
}

/** How often a live run reads its inbox in a store that cannot wake it (`subscribe`). */
const INBOX_POLL_MS = 250;

const RESUMING = new WeakMap<Store, Map<string, Resumption>>();

/** A resume under way in this process: later sends to the run join it (queued onto the run). */
export interface Resumption {
  readonly handler: WorkflowHandler<unknown>;
  readonly events: Event[];
}

/** Register (or, with `undefined`, forget) the resume of `runId` under way in this process. */
export function markResuming(store: Store, runId: string, r: Resumption | undefined): void {
  let runs = RESUMING.get(store);
  if (r === undefined) {
    runs?.delete(runId);
    return;
  }
  if (!runs) RESUMING.set(store, (runs = new Map<string, Resumption>()));
  runs.set(runId, r);
}

/** The resume of `runId` under way in this process on `store`, if any. */
export function resuming(store: Store | undefined, runId: string): Resumption | undefined {
  return store ? RESUMING.get(store)?.get(runId) : undefined;
}

/**
 * Owners whose run stopped in this process without its lease released yet (the store failed):
 * this process may take their leases over at once (item 11.5: not locked out of its own run).
 */
const STRANDED = new Set<string>();

const LIVE = new WeakMap<Store, Map<string, Live>>();

/** Take the lease on `runId` as `owner`, taking it over from a holder known to be gone; else a {@link RunLockedError}. */
export async function takeLease(store: Store, runId: string, owner: string, workflow: string, leasing: Leasing): Promise<number> {
  const { clock, ttlMs } = leasing;
  let got = await retryBusy(clock, () => store.acquireLease(runId, owner, ttlMs, clock.now()));
  if (!got.acquired && got.holder && (STRANDED.has(got.holder.owner) || leasing.owner.isGone?.(got.holder.owner) === true)) {
    const gone = got.holder.owner;
    await retryBusy(clock, () => store.releaseLease(runId, gone));
    STRANDED.delete(gone);
    got = await retryBusy(clock, () => store.acquireLease(runId, owner, ttlMs, clock.now()));
  }
  if (got.acquired) return got.token;
  const holder = got.holder ?? { owner: "unknown", expiresAt: 0 };
  throw new RunLockedError(
    `Run "${runId}" of workflow "${workflow}" is being run by ${holder.owner} (lease until ${new Date(holder.expiresAt).toISOString()}). ` +
      `Only one process runs a run at a time: send events through that process, or retry after its lease expires.`,
    holder.owner,
    holder.expiresAt,
    { workflow, runId },
  );
}

/**
 * Register a run that now holds its lease in this process; renew it on the clock every third
 * of its time to live while the run is live, and release it once the run's end is committed.
 */
export function hold(live: Live, leasing: Leasing): void {
  trackStore(live.store);
  live.journal.fence(live.token);
  let runs = LIVE.get(live.store);
  if (!runs) LIVE.set(live.store, (runs = new Map<string, Live>()));
  runs.set(live.run.id, live);
  new Holding(live, leasing, runs).begin();
}

/**
 * One run's lease while it is live here: its renewals, its inbox, its release. A class with
 * prototype methods rather than closures: a short run pays for one object, not a closure each.
 */
class Holding {
  #timer: unknown;
  #poll: unknown;
  #ended = false;
  #failures = 0;
  /** Inbox ids already handed to the run (made on the first delivery: most runs get none). */
  #claimed: Set<number> | undefined;
  #draining = false;
  #again = false;
  #unsubscribe: (() => void) | undefined;

  constructor(
    readonly live: Live,
    readonly leasing: Leasing,
    readonly runs: Map<string, Live>,
  ) {}

  begin(): void {
    const { run, store } = this.live;
    this.#renew();
    // The run's inbox (events delivered from other processes): drained on a store's wake-up, else
    // polled; like PostgreSQL's LISTEN connection, the poll keeps the process alive while the run is live.
    this.#unsubscribe = store.subscribe?.(run.id, () => void this.#drain());
    if (this.#unsubscribe === undefined) this.#tick();
    void this.#drain();
    const end = () => this.#end();
    run.promise.then(end, end);
  }

  #renew(): void {
    const { clock, ttlMs } = this.leasing;
    const every = Math.max(10, ttlMs / 3);
    const timer = clock.setTimeout(() => void this.#renewal(), this.#failures === 0 ? every : Math.min(every, 50 * 2 ** this.#failures));
    // A renewal timer alone must not keep a process alive (Node's timers have unref; others need not).
    (timer as { unref?: () => void } | null)?.unref?.();
    this.#timer = timer;
  }

  async #renewal(): Promise<void> {
    const { run, store, owner, token } = this.live;
    const { clock, ttlMs } = this.leasing;
    try {
      // No store call from a timer may throw out of it (a synchronous store throws in the call).
      const r = await store.acquireLease(run.id, owner, ttlMs, clock.now(), { token });
      if (!r.acquired) {
        if (!this.#ended) run.suspend(new RunLockedError(`Run "${run.id}" lost its lease to ${r.holder?.owner ?? "another process"}; it stopped here and goes on there.`, r.holder?.owner ?? "unknown", r.holder?.expiresAt ?? 0, { workflow: run.workflowName, runId: run.id }));
        return;
      }
      this.#failures = 0;
    } catch {
      // A busy or failing store: try again sooner, with backoff. The lease is not lost until its
      // TTL passes, and a holder that lost it is stopped by fencing at its next write.
      this.#failures++;
    }
    if (!this.#ended) this.#renew();
  }

  #tick(): void {
    const { clock, ttlMs } = this.leasing;
    const every = Math.min(INBOX_POLL_MS, Math.max(10, ttlMs / 3));
    this.#poll = clock.setTimeout(() => {
      void this.#drain().then(() => {
        if (!this.#ended) this.#tick();
      });
    }, every);
  }

  async #drain(): Promise<void> {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = true;
    const { run, store } = this.live;
    try {
      do {
        this.#again = false;
        const items = await store.readInbox(run.id);
        for (const item of items) {
          if (this.#ended) return;
          const claimed = (this.#claimed ??= new Set<number>());
          if (claimed.has(item.id)) continue;
          claimed.add(item.id);
          run.deliverFromInbox(item.event, item.id);
        }
      } while (this.#again && !this.#ended);
    } catch {
      // A store that fails to read: the next wake-up or poll tries again.
    } finally {
      this.#draining = false;
    }
  }

  #end(): void {
    const { run, journal, owner } = this.live;
    const clock = this.leasing.clock;
    this.#ended = true;
    this.#unsubscribe?.();
    if (this.#poll !== undefined) clock.clearTimeout(this.#poll);
    clock.clearTimeout(this.#timer);
    if (this.runs.get(run.id) === this.live) this.runs.delete(run.id);
    // Ended in the store: `finish` released the lease. Stopped here (suspended, the store failed):
    // release it, and until that works let this process take it over at once.
    STRANDED.add(owner);
    const settled = () => this.#released();
    void journal.flushed().then(settled, settled);
  }

  /** The journal is flushed (or failed): release the lease unless the run's end released it. */
  #released(): void {
    const { run, store, journal, owner } = this.live;
    if (journal.ended) {
      STRANDED.delete(owner);
      return;
    }
    void retryBusy(this.leasing.clock, () => store.releaseLease(run.id, owner)).then(
      () => STRANDED.delete(owner),
      () => {},
    );
  }
}

/** A new run's lease, taken as it was created: its owner and, once the run is in its store, its token. */
export interface NewHold {
  readonly owner: string;
  token: number;
}

/**
 * Record a new durable run that starts at once already held by `held.owner`, in one store call
 * (`store.createRunHeld`, which the caller checked is there); sets `held.token`.
 */
export async function createHeld(store: Store, row: Parameters<Store["createRun"]>[0], held: NewHold, leasing: Leasing): Promise<void> {
  held.token = await store.createRunHeld!(row, { owner: held.owner, ttlMs: leasing.ttlMs, now: leasing.clock.now() });
}

/**
 * A new durable run: keep its lease while the run is live here. `held`: the lease it was created
 * with ({@link createHeld}); without it (a run that waited for a place, a store without
 * `createRunHeld`) take the lease now (a new run's lease is free).
 */
export function holdNewRun(store: Store, run: Run, handler: WorkflowHandler<unknown>, journal: Journal, leasing: Leasing, held?: NewHold): void | Promise<void> {
  if (held !== undefined) return hold({ run, handler, journal, store, owner: held.owner, token: held.token }, leasing);
  const owner = leasing.owner.next();
  return takeLease(store, run.id, owner, run.workflowName, leasing).then((token) => hold({ run, handler, journal, store, owner, token }, leasing));
}

/** The handler of `runId` when it is live in this process on `store`. */
export function liveHandler(store: Store | undefined, runId: string): WorkflowHandler<unknown> | undefined {
  return store ? LIVE.get(store)?.get(runId)?.handler : undefined;
}

/** The run `runId` live in this process, on any store. */
export function findLive(runId: string): Live | undefined {
  for (const ref of ALL_STORES) {
    const store = ref.deref();
    const live = store && LIVE.get(store)?.get(runId);
    if (live) return live;
  }
  return undefined;
}

const ALL_STORES = new Set<WeakRef<Store>>();
const SEEN = new WeakSet<Store>();

/** Remember `store` so runs can be found by id alone. */
function trackStore(store: Store): void {
  if (SEEN.has(store)) return;
  SEEN.add(store);
  ALL_STORES.add(new WeakRef(store));
}
