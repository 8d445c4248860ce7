import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, StartEvent, StopEvent, Workflow, step, suspendRun, type Store } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { Ping, Pings, sendMany, TOTAL } from "../fixtures/durable/inbox.js";
import { ReadCountingStore, tempDir } from "../stores/helpers.js";

// wf.sendEvent(runId, ev) to a run another process holds puts the event in the run's inbox and
// follows the run to its end. If that holder lets go of the run without taking the event (it was
// suspending as the event went in) or dies, nobody would run it: the follower continues it.

class Answer extends Event<{ text: string }> {}

/** Waits for two answers, then completes with them joined. */
class TwoAnswers extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async ask(_: StartEvent, ctx: Context) {
    const a = await ctx.waitForEvent(Answer);
    const b = await ctx.waitForEvent(Answer);
    return new StopEvent({ result: [a.text, b.text].sort().join("+") });
  }
}

async function until<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 2000; i++) {
    const v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A run of `wf` waiting for answers, stored and released (no process holds it). */
async function storedWaiting(wf: Workflow, store: Store): Promise<string> {
  const h = wf.run({});
  h.catch(() => {});
  await until(() => store.getRun(h.runId), (r) => r?.status === "waiting", "the run to wait");
  await suspendRun(h);
  return h.runId;
}

async function pingsJournaled(store: Store, runId: string): Promise<string[]> {
  return (await store.getJournal(runId)).flatMap((e) => (e.kind === "event" && e.event.type === "Ping" ? [`${(e.event.data as { from: string }).from}:${(e.event.data as { i: number }).i}`] : []));
}

async function answersJournaled(store: Store, runId: string): Promise<string[]> {
  return (await store.getJournal(runId)).flatMap((e) => (e.kind === "event" && e.event.type === "Answer" ? [(e.event.data as { text: string }).text] : []));
}

/** A TwoAnswers run stored waiting, its lease taken by `owner` for `ttlMs` (another process), and a first answer sent to it, in its inbox. */
async function heldElsewhere(owner: string, ttlMs: number, text: string) {
  const store = new MemoryStore();
  const wf = new TwoAnswers({ store, timeout: null });
  const runId = await storedWaiting(wf, store);
  expect(store.acquireLease(runId, owner, ttlMs, Date.now()).acquired).toBe(true);
  const first = wf.sendEvent(runId, new Answer({ text }));
  await until(() => store.readInbox(runId), (i) => i.length === 1, "the first answer in the inbox");
  return { store, wf, runId, first };
}

describe("wf.sendEvent to a run held by another process that lets go of it without taking the event", () => {
  it("the follower continues the run once the lease is released: the handler resolves, the event is journaled once", async () => {
    // Another process holds it (as if it had resumed it and was now suspending it).
    const { store, wf, runId, first } = await heldElsewhere("other-process", 60_000, "a");
    const second = wf.sendEvent(runId, new Answer({ text: "b" }));
    await until(() => store.readInbox(runId), (i) => i.length === 2, "the second answer in the inbox");
    let settled = false;
    void Promise.allSettled([first, second]).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false); // still held there: followed, not taken
    store.releaseLease(runId, "other-process");
    expect(await first).toBe("a+b");
    expect(await second).toBe("a+b");
    expect(store.readInbox(runId)).toEqual([]);
    expect((await answersJournaled(store, runId)).sort()).toEqual(["a", "b"]);
    expect(store.getRun(runId)).toMatchObject({ status: "completed", result: "a+b" });
  });

  it("the follower continues the run once the holder's lease expired (it died holding it)", async () => {
    const { store, wf, runId, first } = await heldElsewhere("dead-process", 400, "x");
    const second = wf.sendEvent(runId, new Answer({ text: "y" }));
    expect(await first).toBe("x+y");
    expect(await second).toBe("x+y");
    expect((await answersJournaled(store, runId)).sort()).toEqual(["x", "y"]);
    expect(store.getRun(runId)?.lease).toBeUndefined();
  });

  it("a follower whose event the holder took does not continue the run when the holder lets go: it follows it to its end", async () => {
    // Two stores on one SQLite file: two processes, as far as either knows.
    const tmp = tempDir();
    const path = join(tmp.dir, "runs.db");
    const here = new SqliteStore(path);
    const there = new SqliteStore(path);
    try {
      const runId = await storedWaiting(new TwoAnswers({ store: here, timeout: null }), here);
      const holding = new TwoAnswers({ store: there, timeout: null, leaseOwner: "other-process" }).resume(runId);
      holding.catch(() => {});
      await until(() => here.getRun(runId), (r) => r?.lease?.owner.startsWith("other-process") === true, "the other process to hold the run");
      const wf = new TwoAnswers({ store: here, timeout: null });
      const first = wf.sendEvent(runId, new Answer({ text: "a" }));
      let settled = false;
      void first.then(
        () => (settled = true),
        () => (settled = true),
      );
      // The holder takes the answer from the inbox, then lets go of the run.
      await until(async () => (await answersJournaled(here, runId)).length, (n) => n === 1, "the holder to journal the answer");
      await suspendRun(holding);
      expect(here.readInbox(runId)).toEqual([]);
      await new Promise((r) => setTimeout(r, 600));
      expect(settled).toBe(false);
      expect(here.getRun(runId)?.lease).toBeUndefined(); // nobody took it over
      // The second answer continues it here, as a stored run nobody holds.
      expect(await wf.sendEvent(runId, new Answer({ text: "b" }))).toBe("a+b");
      expect(await first).toBe("a+b");
      expect((await answersJournaled(here, runId)).sort()).toEqual(["a", "b"]);
    } finally {
      here.close();
      there.close();
      tmp.remove();
    }
  });
});

describe("many handlers following one run held elsewhere", () => {
  it(`${TOTAL} sends share one follower: the store is read as often as for one, and every handler settles with the run`, async () => {
    const store = new ReadCountingStore();
    const h = new Pings({ store, timeout: null }).run({});
    h.catch(() => {});
    await until(() => store.getRun(h.runId), (r) => r?.status === "waiting", "the run to wait");
    await suspendRun(h);
    const runId = h.runId;
    expect(store.acquireLease(runId, "other-process", 60_000, Date.now()).acquired).toBe(true);
    // One at a time, each once the one before is in the inbox: sends made together join one resume
    // (and one follower) anyway; these each follow the run on their own.
    const wf = new Pings({ store, timeout: null });
    const handlers: Promise<unknown>[] = [];
    for (let i = 0; i < TOTAL; i++) {
      handlers.push(wf.sendEvent(runId, new Ping({ from: "a", i })));
      await until(() => store.readInbox(runId).length, (n) => n === i + 1, `ping ${i} in the inbox`);
    }
    const sending = Promise.all(handlers.map((p) => p.then((result) => ({ result }))));
    const before = store.reads;
    await new Promise((r) => setTimeout(r, 1000));
    // One follower polls every 200 ms (its run, then its inbox): about 10 reads a second.
    expect(store.reads - before).toBeLessThanOrEqual(16);
    store.releaseLease(runId, "other-process");
    const want = { a: Array.from({ length: TOTAL }, (_, i) => i) };
    expect(await sending).toEqual(Array.from({ length: TOTAL }, () => ({ result: want })));
    expect((await pingsJournaled(store, runId)).sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => `a:${i}`).sort());
  });
});

describe("across processes", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A SQLite file with a run of Pings stored waiting, released (no process holds it). */
  async function pingsWaiting(): Promise<{ path: string; store: SqliteStore; runId: string }> {
    const tmp = tempDir();
    const path = join(tmp.dir, "runs.db");
    const store = new SqliteStore(path);
    cleanups.push(() => tmp.remove(), () => store.close());
    const runId = await storedWaiting(new Pings({ store, timeout: null }), store);
    return { path, store, runId };
  }

  /** A run of Pings stored waiting, then held by another process (`inbox.ts hold`), which is stopped (SIGSTOP) before it takes anything. */
  async function heldByStopped(): Promise<{ store: SqliteStore; runId: string; holder: ReturnType<typeof spawn>; signal: Promise<NodeJS.Signals | null>; leaseEnds: number }> {
    const { path, store, runId } = await pingsWaiting();
    const root = join(import.meta.dirname, "../..");
    const fixture = join(import.meta.dirname, "../fixtures/durable/inbox.ts");
    const holder = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", fixture, "hold", "sqlite", path, runId], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    const signal = new Promise<NodeJS.Signals | null>((r) => holder.on("exit", (_code, sig) => r(sig)));
    cleanups.push(() => holder.kill("SIGKILL"));
    let out = "";
    holder.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await until(() => out, (o) => o.includes("holding"), "the other process to hold the run");
    holder.kill("SIGSTOP");
    const leaseEnds = store.getRun(runId)!.lease!.expiresAt;
    expect(leaseEnds).toBeGreaterThan(Date.now() + 10_000); // the default 30 s
    return { store, runId, holder, signal, leaseEnds };
  }

  const want = { a: Array.from({ length: TOTAL }, (_, i) => i) };

  it(`the process holding the run is stopped while ${TOTAL} senders here deliver to its inbox, then SIGKILLed: the senders take the run over (a dead holder on this host, long before its lease ends), every event journaled once`, async () => {
    const { store, runId, holder, signal, leaseEnds } = await heldByStopped();
    const sending = sendMany(store, runId, "a", TOTAL);
    await until(() => store.readInbox(runId).length, (n) => n === TOTAL, `${TOTAL} pings in the inbox`);
    holder.kill("SIGKILL");
    expect(await signal).toBe("SIGKILL");
    expect(await sending).toEqual(Array.from({ length: TOTAL }, () => ({ result: want })));
    const journaled = await pingsJournaled(store, runId);
    expect(journaled).toHaveLength(TOTAL);
    expect(new Set(journaled).size).toBe(TOTAL);
    expect(store.readInbox(runId)).toEqual([]);
    expect(store.getRun(runId)).toMatchObject({ status: "completed", result: want });
    expect(Date.now()).toBeLessThan(leaseEnds);
  });

  it(`the process holding the run is stopped for 2.5 s while ${TOTAL} senders here deliver to its inbox, then continued: the senders' tries to take the run over fail (it lives) and it takes its inbox itself, every event journaled once`, async () => {
    const { store, runId, holder, signal } = await heldByStopped();
    const sending = sendMany(store, runId, "a", TOTAL);
    await until(() => store.readInbox(runId).length, (n) => n === TOTAL, `${TOTAL} pings in the inbox`);
    // Longer than a follower waits for an event stuck in the inbox (1 s), shorter than the lease.
    await new Promise((r) => setTimeout(r, 2500));
    expect(store.getRun(runId)?.lease?.owner).not.toMatch(new RegExp(`:${process.pid}:`));
    holder.kill("SIGCONT");
    expect(await sending).toEqual(Array.from({ length: TOTAL }, () => ({ result: want })));
    const journaled = await pingsJournaled(store, runId);
    expect(journaled).toHaveLength(TOTAL);
    expect(new Set(journaled).size).toBe(TOTAL);
    expect(store.getRun(runId)).toMatchObject({ status: "completed", result: want });
    // The holder ran the run to its end: every run_resumed in the journal is its own.
    const owners = store.getJournal(runId).flatMap((e) => (e.kind === "run_resumed" ? [e.owner] : []));
    expect(owners).toHaveLength(1);
    holder.kill("SIGKILL");
    await signal;
  });

  it(`${TOTAL} senders in another process, the run held here and let go of with their events in its inbox: that process continues it`, async () => {
    const { path, store, runId } = await pingsWaiting();
    expect((await store.acquireLease(runId, "this-process", 60_000, Date.now())).acquired).toBe(true);
    const root = join(import.meta.dirname, "../..");
    const fixture = join(import.meta.dirname, "../fixtures/durable/inbox.ts");
    const child = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", fixture, "send", "sqlite", path, runId, "b", String(TOTAL)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    await until(() => store.readInbox(runId).length, (n) => n === TOTAL, `${TOTAL} pings in the inbox`);
    await store.releaseLease(runId, "this-process");
    expect(await exited, err).toBe(0);
    const want = { b: Array.from({ length: TOTAL }, (_, i) => i) };
    expect((JSON.parse(out) as { results: unknown[] }).results).toEqual(Array.from({ length: TOTAL }, () => ({ result: want })));
    expect(store.readInbox(runId)).toEqual([]);
    expect(store.getRun(runId)).toMatchObject({ status: "completed", result: want });
  });
});
