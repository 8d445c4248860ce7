import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  Context,
  Event,
  MemoryStore,
  RunFinishedError,
  RunLockedError,
  StartEvent,
  step,
  StopEvent,
  StoreError,
  TestClock,
  Workflow,
  WorkflowTimeoutError,
  type Store,
} from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { tempDir } from "../stores/helpers.js";

class Go extends Event {}
class Half extends Event<{ n: number }> {}

/** A store that records every call and its options, and can be made to fail or hang. */
function faulty<S extends Store>(store: S) {
  const calls: { method: string; args: unknown[] }[] = [];
  const state = { down: false, hang: false, failNext: "" as string };
  const proxy = new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const method = String(prop);
        calls.push({ method, args });
        if (state.hang && method !== "getRun" && method !== "getJournal") return new Promise(() => {});
        if (state.down || state.failNext === method) {
          state.failNext = "";
          throw new StoreError("connection to the database was lost", "STORE_FAILED");
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls, state };
}

class Waits extends Workflow {
  @step({ accepts: StartEvent, emits: Half, waitsFor: Go })
  async first(_: StartEvent, ctx: Context) {
    await ctx.waitForEvent(Go);
    return new Half({ n: 1 });
  }
  @step({ accepts: Half, emits: StopEvent })
  async second(ev: Half) {
    return new StopEvent({ result: ev.n + 1 });
  }
}

const settle = (p: Promise<unknown>) => p.then((v) => ({ v }), (e: unknown) => ({ e }));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("ending a run (issue 11.8)", () => {
  it("is one store.finish with run_finished, the outcome and the lease released, carrying the lease's token", async () => {
    const { store, calls } = faulty(new MemoryStore());
    const h = new Waits({ store, timeout: null }).run({});
    await until(() => calls.some((c) => c.method === "setStatus"), "waiting");
    h.sendEvent(new Go());
    expect(await h).toBe(2);
    const finishes = calls.filter((c) => c.method === "finish");
    expect(finishes).toHaveLength(1);
    const [, entries, end, options] = finishes[0]!.args as [string, { kind: string }[], unknown, { token?: number }];
    expect(entries.at(-1)?.kind).toBe("run_finished");
    expect(end).toEqual({ status: "completed", result: 2 });
    // No status change ends a run, and nothing is written after the end.
    expect(calls.filter((c) => c.method === "setStatus").map((c) => c.args[1])).toEqual(["waiting", "running"]);
    expect(calls.findIndex((c) => c.method === "append" || c.method === "setStatus") < calls.indexOf(finishes[0]!)).toBe(true);
    expect(calls.slice(calls.indexOf(finishes[0]!) + 1).filter((c) => ["append", "setStatus", "finish", "releaseLease"].includes(c.method))).toEqual([]);
    expect(store.getRun(h.runId)).toMatchObject({ status: "completed", result: 2 });
    expect(store.getRun(h.runId)?.lease).toBeUndefined();
    expect(options.token).toBe(1);
  });

  it("resuming, or sending to, a run whose journal holds its end is RunFinishedError and changes nothing", async () => {
    const store = new MemoryStore();
    const h = new Waits({ store, timeout: null }).run({});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    h.sendEvent(new Go());
    await h;
    // A store written before ending was one transaction: the end journaled, the status not changed.
    const stale = new MemoryStore();
    stale.createRun({ runId: h.runId, workflow: "Waits", input: store.getRun(h.runId)!.input, createdAt: 1 });
    stale.append(h.runId, store.getJournal(h.runId));
    const journal = stale.getJournal(h.runId);
    await expect(new Waits({ store: stale, timeout: null }).resume(h.runId)).rejects.toBeInstanceOf(RunFinishedError);
    await expect(new Waits({ store: stale, timeout: null }).sendEvent(h.runId, new Go())).rejects.toBeInstanceOf(RunFinishedError);
    expect(stale.getJournal(h.runId)).toEqual(journal);
    expect(stale.getRun(h.runId)).toMatchObject({ status: "running" });
    expect(stale.getRun(h.runId)?.lease).toBeUndefined();
    // And an ended run refuses both, as it did.
    await expect(new Waits({ store, timeout: null }).sendEvent(h.runId, new Go())).rejects.toBeInstanceOf(RunFinishedError);
  });
});

describe("fencing in the run loop (issue 11.7)", () => {
  it("every append, status change and end carries the lease's token", async () => {
    const { store, calls } = faulty(new MemoryStore());
    const h = new Waits({ store, timeout: null }).run({});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    h.sendEvent(new Go());
    await h;
    const writes = calls.filter((c) => ["append", "setStatus", "finish"].includes(c.method));
    expect(writes.length).toBeGreaterThan(3);
    for (const w of writes) expect(w.args.at(-1)).toMatchObject({ token: 1 });
    // Renewals renew that token only.
    const renewals = calls.filter((c) => c.method === "acquireLease").slice(1);
    for (const r of renewals) expect(r.args[4]).toEqual({ token: 1 });
  });

  it("a holder that lost its lease stops at its next write with RunLockedError; nothing of it is written after", async () => {
    const store = new MemoryStore();
    const h = new Waits({ store, timeout: null, leaseTtlMs: 60_000 }).run({});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    // Paused past its lease (as seen from a clock a minute later), another process took the run.
    expect(store.acquireLease(h.runId, "other-host:1:x", 60_000, Date.now() + 120_000)).toEqual({ acquired: true, token: 2 });
    const before = store.getJournal(h.runId).length;
    h.sendEvent(new Go());
    const err = await h.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunLockedError);
    expect(err).toMatchObject({ holder: "other-host:1:x" });
    expect(store.getJournal(h.runId)).toHaveLength(before);
    expect(store.getRun(h.runId)).toMatchObject({ status: "waiting", lease: { owner: "other-host:1:x", token: 2 } });
  });
});

describe("a failing store leaves the run resumable (issue 11.5)", () => {
  it("the handler rejects with StoreError, the run stays running, and this process resumes it at once", async () => {
    const { store, state } = faulty(new MemoryStore());
    const h = new Waits({ store, timeout: null }).run({});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    // The database goes away: the next write fails, and so does releasing the lease.
    state.down = true;
    h.sendEvent(new Go());
    const err = await h.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ runId: h.runId, workflow: "Waits" });
    state.down = false;
    const stored = store.getRun(h.runId);
    expect(stored?.status).not.toMatch(/failed|completed|cancelled/);
    expect(stored?.lease).toBeDefined();
    expect(store.getJournal(h.runId).some((e) => e.kind === "run_finished")).toBe(false);
    // Back: the same process takes its own stranded lease over at once.
    expect(await new Waits({ store, timeout: null }).sendEvent(h.runId, new Go())).toBe(2);
  });

  it("a store failure at the end leaves the run resumable too; resume gives the right result", async () => {
    const { store, state } = faulty(new MemoryStore());
    const h = new Waits({ store, timeout: null }).run({});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    state.failNext = "finish";
    h.sendEvent(new Go());
    await expect(h).rejects.toBeInstanceOf(StoreError);
    expect(store.getRun(h.runId)?.status).toBe("running");
    expect(await new Waits({ store, timeout: null }).resume(h.runId)).toBe(2);
    expect(store.getRun(h.runId)).toMatchObject({ status: "completed", result: 2 });
  });
});

describe("a store that hangs (issue 11.6)", () => {
  it("does not keep the run past its timeout", async () => {
    const clock = new TestClock(0);
    const { store, state } = faulty(new MemoryStore());
    class Slow extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      async slow(_: StartEvent, ctx: Context) {
        await new Promise((r) => ctx.signal.addEventListener("abort", r));
        return new StopEvent({ result: "late" });
      }
    }
    const h = new Slow({ store, clock, timeout: 2 }).run({});
    await h.recorded;
    await clock.advance(0);
    state.hang = true;
    await clock.advance(10);
    const out = settle(h);
    await clock.advance(2_000);
    await clock.advance(5_000);
    const got = await Promise.race([out, new Promise((r) => setTimeout(() => r("still pending"), 50))]);
    expect(got).toMatchObject({ e: expect.any(WorkflowTimeoutError) });
  });
});

describe("SQLite's write lock held by another connection (issue 11.4)", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  it("lease renewals that find the store busy neither throw out of their timer nor stop the run", async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const path = join(tmp.dir, "runs.db");
    const { store, calls } = faulty(new SqliteStore(path, { busyTimeoutMs: 20 }));
    cleanups.push(() => store.close());
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    cleanups.push(() => process.off("uncaughtException", onUncaught));
    const h = new Waits({ store, timeout: null, leaseTtlMs: 150 }).run({});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    const holder = new Database(path);
    holder.exec("BEGIN IMMEDIATE");
    const renewals = () => calls.filter((c) => c.method === "acquireLease").length;
    const seen = renewals();
    await until(() => renewals() >= seen + 2, "two renewals while the lock is held");
    holder.exec("ROLLBACK");
    holder.close();
    h.sendEvent(new Go());
    expect(await h).toBe(2);
    expect(uncaught).toEqual([]);
  });

  it("a journal commit that finds the store busy is retried with backoff, and the run completes", async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const path = join(tmp.dir, "runs.db");
    const store = new SqliteStore(path, { busyTimeoutMs: 20 });
    cleanups.push(() => store.close());
    const holder = new Database(path);
    cleanups.push(() => holder.open && holder.close());
    class Locks extends Workflow {
      @step({ accepts: StartEvent, emits: Half })
      async first() {
        // Another connection takes the write lock for a moment: this step's completion finds it busy.
        holder.exec("BEGIN IMMEDIATE");
        setTimeout(() => holder.exec("ROLLBACK"), 30);
        return new Half({ n: 1 });
      }
      @step({ accepts: Half, emits: StopEvent })
      async second(ev: Half) {
        return new StopEvent({ result: ev.n + 1 });
      }
    }
    const h = new Locks({ store, timeout: null }).run({});
    expect(await h).toBe(2);
    expect(store.getRun(h.runId)?.status).toBe("completed");
    expect(store.getJournal(h.runId).filter((e) => e.kind === "step_finished")).toHaveLength(2);
  });
});
