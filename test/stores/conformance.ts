import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunFinishedError, RunLockedError, RunNotFoundError, StoreError, type JournalEntry, type Store, type StoredRun } from "../../src/index.js";

/** JSON round trip, as every persistence test does (STYLE.md). */
export const roundTrip = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** One of every journal record kind, with optional fields both present and absent. */
export const everyRecord: JournalEntry[] = [
  { kind: "run_started", workflow: "W", input: { type: "StartEvent", data: { payload: "x", n: [1, 2, { deep: null }] } }, at: 1 },
  { kind: "run_started", workflow: "W", input: { type: "StartEvent", data: {} }, parentRunId: "p-1", at: 2 },
  { kind: "event", seq: 1, event: { type: "StartEvent", data: { payload: "x" } }, at: 3 },
  { kind: "event", seq: 2, event: { type: "A", data: { s: "é ✓ \u0000 \"q\"" } }, from: "r:step:1", to: "other", at: 4 },
  { kind: "step_started", stepRunId: "r:step:1", step: "step", seq: 1, attempt: 1, at: 5 },
  { kind: "step_finished", stepRunId: "r:step:1", step: "step", emitted: [2, 3], at: 6 },
  { kind: "step_finished", stepRunId: "r:step:2", step: "step", emitted: [], at: 6 },
  { kind: "step_failed", stepRunId: "r:step:1", step: "step", attempt: 2, error: { name: "Error", message: "boom", code: "X", step: "step" }, willRetry: true, at: 7 },
  { kind: "state", key: "k", value: { a: [1, "two", true, null], b: 1.5 }, at: 8 },
  { kind: "state", key: "nothing", value: null, at: 8 },
  { kind: "collect", key: "s|A,B", seqs: [2], at: 9 },
  { kind: "collect", key: "s|A,B", seqs: [], by: 4, taken: [2, 4], at: 9 },
  { kind: "waiting", stepRunId: "r:step:3", type: "HumanResponseEvent", at: 10 },
  { kind: "received", stepRunId: "r:step:3", seq: 5, at: 11 },
  { kind: "run_resumed", owner: "host:1:abc", at: 12 },
  { kind: "run_finished", status: "completed", result: { ok: true }, at: 13 },
  { kind: "run_finished", status: "failed", error: { name: "WorkflowRuntimeError", message: "m" }, at: 14 },
];

const newRun = (runId: string, createdAt: number, workflow = "W"): Omit<StoredRun, "updatedAt" | "status" | "lease"> => ({
  runId,
  workflow,
  input: { type: "StartEvent", data: { payload: runId } },
  createdAt,
});

/** An event record with sequence number `seq`. */
const ev = (seq: number, at = seq): JournalEntry => ({ kind: "event", seq, event: { type: "A", data: { seq } }, at });

/** Rejects (sync throw or rejected promise) with what `fn` raised. */
const failure = async (fn: () => unknown): Promise<unknown> => {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure, got none");
};

/**
 * The Store contract as tests: every store runs these. `makeStore` returns a fresh, empty store
 * (and may return a cleanup function with it). `another`, when given, opens a second handle on the
 * same storage (another connection, as another process would have); the concurrency tests use it.
 */
export function describeStoreConformance(
  name: string,
  makeStore: () => Promise<{ store: Store; cleanup?: () => Promise<void> | void; another?: () => Store }>,
): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let cleanup: (() => Promise<void> | void) | undefined;
    let another: (() => Store) | undefined;
    const others: Store[] = [];
    /** A second handle on the same storage (the same store when the factory has none). */
    const second = (): Store => {
      if (!another) return store;
      const s = another();
      others.push(s);
      return s;
    };
    beforeEach(async () => {
      ({ store, cleanup, another } = await makeStore());
    });
    afterEach(async () => {
      for (const s of others.splice(0)) await s.close?.();
      await store.close?.();
      await cleanup?.();
    });

    it("creates a run as running and reads it back through JSON", async () => {
      await store.createRun(newRun("r1", 1000));
      const run = roundTrip(await store.getRun("r1"));
      expect(run).toMatchObject({ runId: "r1", workflow: "W", status: "running", input: { type: "StartEvent", data: { payload: "r1" } }, createdAt: 1000 });
      expect(run?.lease).toBeUndefined();
      expect(await store.getRun("nope")).toBeUndefined();
    });

    it("keeps parentRunId and refuses a second run with one id", async () => {
      await store.createRun({ ...newRun("child", 1), parentRunId: "parent" });
      expect((await store.getRun("child"))?.parentRunId).toBe("parent");
      await expect(Promise.resolve().then(() => store.createRun(newRun("child", 2)))).rejects.toThrow();
    });

    it("round-trips every journal record through JSON, in order, across appends", async () => {
      await store.createRun(newRun("r1", 1));
      await store.append("r1", roundTrip(everyRecord.slice(0, 5)));
      await store.append("r1", []);
      await store.append("r1", roundTrip(everyRecord.slice(5)));
      const journal = roundTrip(await store.getJournal("r1"));
      expect(journal).toEqual(everyRecord);
      expect(await store.getJournal("unknown")).toEqual([]);
    });

    it("returns copies: changing what it returned or was given changes nothing stored", async () => {
      await store.createRun(newRun("r1", 1));
      const entries = roundTrip(everyRecord.slice(8, 9));
      await store.append("r1", entries);
      (entries[0] as { key: string }).key = "changed";
      const got = await store.getJournal("r1");
      (got[0] as { key: string }).key = "changed too";
      expect(await store.getJournal("r1")).toEqual(everyRecord.slice(8, 9));
    });

    it("keeps journals of different runs apart", async () => {
      await store.createRun(newRun("a", 1));
      await store.createRun(newRun("b", 2));
      await store.append("a", [everyRecord[2] as JournalEntry]);
      await store.append("b", [everyRecord[3] as JournalEntry]);
      expect(await store.getJournal("a")).toEqual([everyRecord[2]]);
      expect(await store.getJournal("b")).toEqual([everyRecord[3]]);
    });

    it("fails to append to a run it does not have", async () => {
      await expect(Promise.resolve().then(() => store.append("ghost", [everyRecord[0] as JournalEntry]))).rejects.toThrow(/ghost/);
    });

    it("sets status with result or error, bumping updatedAt", async () => {
      await store.createRun(newRun("ok", 1));
      await store.createRun(newRun("bad", 2));
      await store.createRun(newRun("w", 3));
      await store.setStatus("ok", "completed", { result: { answer: [42, "x"] } });
      await store.setStatus("bad", "failed", { error: { name: "WorkflowRuntimeError", message: "boom", code: "STEP_FAILED", step: "s" } });
      await store.setStatus("w", "waiting");
      const ok = roundTrip(await store.getRun("ok"));
      expect(ok).toMatchObject({ status: "completed", result: { answer: [42, "x"] } });
      expect(ok?.updatedAt).toBeGreaterThanOrEqual(1);
      expect(roundTrip(await store.getRun("bad"))).toMatchObject({ status: "failed", error: { name: "WorkflowRuntimeError", message: "boom", code: "STEP_FAILED", step: "s" } });
      const w = await store.getRun("w");
      expect(w?.status).toBe("waiting");
      expect(w?.result).toBeUndefined();
      expect(w?.error).toBeUndefined();
      await store.setStatus("ok", "completed", { result: null });
      expect((await store.getRun("ok"))?.result).toBeNull();
      await expect(Promise.resolve().then(() => store.setStatus("ghost", "failed"))).rejects.toThrow(/ghost/);
    });

    it("lists runs newest first, filtered by status and workflow, limited", async () => {
      await store.createRun(newRun("old", 100, "A"));
      await store.createRun(newRun("mid", 200, "B"));
      await store.createRun(newRun("new", 300, "A"));
      await store.setStatus("mid", "completed", { result: 1 });
      const ids = async (f?: Parameters<Store["listRuns"]>[0]) => roundTrip(await store.listRuns(f)).map((r) => r.runId);
      expect(await ids()).toEqual(["new", "mid", "old"]);
      expect(await ids({ status: "running" })).toEqual(["new", "old"]);
      expect(await ids({ workflow: "A" })).toEqual(["new", "old"]);
      expect(await ids({ workflow: "A", status: "completed" })).toEqual([]);
      expect(await ids({ limit: 2 })).toEqual(["new", "mid"]);
    });

    it("lists the children of one run with parentRunId (newest first, with the other filters and limit); none for a run without children", async () => {
      await store.createRun(newRun("p1", 10));
      await store.createRun(newRun("p2", 20));
      await store.createRun({ ...newRun("c1", 30, "Child"), parentRunId: "p1" });
      await store.createRun({ ...newRun("c2", 40, "Other"), parentRunId: "p1" });
      await store.createRun({ ...newRun("c3", 50, "Child"), parentRunId: "p2" });
      await store.createRun({ ...newRun("g1", 60, "Child"), parentRunId: "c1" });
      await store.setStatus("c2", "completed", { result: 1 });
      const ids = async (f?: Parameters<Store["listRuns"]>[0]) => roundTrip(await store.listRuns(f)).map((r) => r.runId);
      expect(await ids({ parentRunId: "p1" })).toEqual(["c2", "c1"]);
      expect(await ids({ parentRunId: "p2" })).toEqual(["c3"]);
      // Children only: not grandchildren, not the parent itself.
      expect(await ids({ parentRunId: "c1" })).toEqual(["g1"]);
      expect(await ids({ parentRunId: "p1", status: "running" })).toEqual(["c1"]);
      expect(await ids({ parentRunId: "p1", workflow: "Other" })).toEqual(["c2"]);
      expect(await ids({ parentRunId: "p1", limit: 1 })).toEqual(["c2"]);
      expect(await ids({ parentRunId: "c3" })).toEqual([]);
      expect(await ids({ parentRunId: "ghost" })).toEqual([]);
      expect(await ids({ parentRunId: "" })).toEqual([]);
      expect((await store.listRuns({ parentRunId: "p1" }))[0]).toMatchObject({ runId: "c2", parentRunId: "p1", workflow: "Other", status: "completed", result: 1 });
    });

    it("lists in one order in every store, ties included (createdAt descending, then runId descending), and pages after a cursor (before) with status, workflow, parentRunId, topLevel and limit", async () => {
      // Created out of runId order, three (and a child) in the same millisecond.
      await store.createRun(newRun("a", 100, "A"));
      await store.createRun(newRun("c", 100, "A"));
      await store.createRun(newRun("b", 100, "B"));
      await store.createRun(newRun("d", 200, "A"));
      await store.createRun({ ...newRun("e", 50, "B"), parentRunId: "d" });
      await store.createRun({ ...newRun("f", 100, "A"), parentRunId: "d" });
      await store.createRun(newRun("g", 300, "B"));
      await store.setStatus("c", "completed", { result: 1 });
      await store.setStatus("f", "completed", { result: 2 });
      const ids = async (f?: Parameters<Store["listRuns"]>[0]) => roundTrip(await store.listRuns(f)).map((r) => r.runId);
      const at = (createdAt: number, runId: string) => ({ createdAt, runId });
      expect(await ids()).toEqual(["g", "d", "f", "c", "b", "a", "e"]);
      // Strictly after the cursor; it need not be a run.
      expect(await ids({ before: at(100, "c") })).toEqual(["b", "a", "e"]);
      expect(await ids({ before: at(100, "cc") })).toEqual(["c", "b", "a", "e"]);
      expect(await ids({ before: at(100, "") })).toEqual(["e"]);
      expect(await ids({ before: at(100, "zzz") })).toEqual(["f", "c", "b", "a", "e"]);
      expect(await ids({ before: at(1000, "") })).toEqual(["g", "d", "f", "c", "b", "a", "e"]);
      expect(await ids({ before: at(50, "e") })).toEqual([]);
      expect(await ids({ before: at(100, "c"), limit: 2 })).toEqual(["b", "a"]);
      // Page by page, each after the last of the one before: every run once, in order.
      const paged: string[] = [];
      let before: { createdAt: number; runId: string } | undefined;
      for (let page = 0; page < 10; page++) {
        const runs = roundTrip(await store.listRuns({ ...(before ? { before } : {}), limit: 2 }));
        paged.push(...runs.map((r) => r.runId));
        const last = runs[runs.length - 1];
        if (runs.length < 2 || !last) break;
        before = at(last.createdAt, last.runId);
      }
      expect(paged).toEqual(["g", "d", "f", "c", "b", "a", "e"]);
      expect(await ids({ status: "running", before: at(200, "d") })).toEqual(["b", "a", "e"]);
      expect(await ids({ status: "completed", before: at(100, "f") })).toEqual(["c"]);
      expect(await ids({ workflow: "A", before: at(100, "f") })).toEqual(["c", "a"]);
      expect(await ids({ workflow: "A", status: "running", before: at(300, "g"), limit: 2 })).toEqual(["d", "a"]);
      // Top-level runs only: no run's children.
      expect(await ids({ topLevel: true })).toEqual(["g", "d", "c", "b", "a"]);
      expect(await ids({ topLevel: false })).toEqual(["g", "d", "f", "c", "b", "a", "e"]);
      expect(await ids({ topLevel: true, before: at(100, "c") })).toEqual(["b", "a"]);
      expect(await ids({ topLevel: true, status: "completed" })).toEqual(["c"]);
      expect(await ids({ topLevel: true, workflow: "B", limit: 1 })).toEqual(["g"]);
      expect(await ids({ topLevel: true, workflow: "B", before: at(300, "g") })).toEqual(["b"]);
      expect(await ids({ topLevel: true, parentRunId: "d" })).toEqual([]);
      expect(await ids({ parentRunId: "d" })).toEqual(["f", "e"]);
      expect(await ids({ parentRunId: "d", before: at(100, "f") })).toEqual(["e"]);
      expect(await ids({ parentRunId: "d", before: at(100, "g"), status: "completed" })).toEqual(["f"]);
    });

    it("reads a limit that is not a count the same in every store: negative or NaN is none, a fraction is rounded down", async () => {
      await store.createRun(newRun("a", 1));
      await store.createRun(newRun("b", 2));
      await store.createRun(newRun("c", 3));
      await store.deliver("a", { type: "Go", data: { n: 1 } });
      await store.deliver("a", { type: "Go", data: { n: 2 } });
      await store.deliver("a", { type: "Go", data: { n: 3 } });
      const ids = async (limit: number) => roundTrip(await store.listRuns({ limit })).map((r) => r.runId);
      const inbox = async (limit: number) => roundTrip(await store.readInbox("a", limit)).map((i) => i.event.data);
      // Before, MemoryStore's slice(0, -1) handed back all but the last.
      expect(await ids(-1)).toEqual([]);
      expect(await ids(-2)).toEqual([]);
      expect(await ids(Number.NaN)).toEqual([]);
      expect(await ids(1.9)).toEqual(["c"]);
      expect(await ids(Infinity)).toEqual(["c", "b", "a"]);
      expect(await inbox(-1)).toEqual([]);
      expect(await inbox(Number.NaN)).toEqual([]);
      expect(await inbox(2.5)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(await inbox(Infinity)).toHaveLength(3);
    });

    it("leases: one holder at a time, renewal, expiry, release", async () => {
      await store.createRun(newRun("r", 1));
      expect(await store.acquireLease("r", "p1", 1000, 10_000)).toEqual({ acquired: true, token: 1 });
      expect(roundTrip(await store.getRun("r"))?.lease).toEqual({ owner: "p1", expiresAt: 11_000, token: 1 });
      expect(await store.acquireLease("r", "p2", 1000, 10_500)).toEqual({ acquired: false, holder: { owner: "p1", expiresAt: 11_000, token: 1 } });
      expect(await store.acquireLease("r", "p1", 1000, 10_900)).toEqual({ acquired: true, token: 1 });
      expect(await store.acquireLease("r", "p2", 1000, 11_800)).toEqual({ acquired: false, holder: { owner: "p1", expiresAt: 11_900, token: 1 } });
      expect(await store.acquireLease("r", "p2", 1000, 12_000)).toEqual({ acquired: true, token: 2 });
      await store.releaseLease("r", "p1");
      expect((await store.getRun("r"))?.lease?.owner).toBe("p2");
      await store.releaseLease("r", "p2");
      expect((await store.getRun("r"))?.lease).toBeUndefined();
      expect(await store.acquireLease("r", "p3", 1000, 12_001)).toEqual({ acquired: true, token: 3 });
      expect(await store.acquireLease("ghost", "p3", 1000, 1)).toEqual({ acquired: false, holder: undefined });
    });

    it("grants a contended lease to exactly one of many at once, from two connections", async () => {
      await store.createRun(newRun("r", 1));
      const other = second();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => Promise.resolve((i % 2 ? other : store).acquireLease("r", `p${i}`, 60_000, Date.now()))));
      expect(results.filter((r) => r.acquired)).toEqual([{ acquired: true, token: 1 }]);
    });

    it("fences writes: a holder whose lease changed hands writes nothing and gets RunLockedError", async () => {
      await store.createRun(newRun("r", 1));
      const first = await store.acquireLease("r", "p1", 1000, 10_000);
      if (!first.acquired) throw new Error("not acquired");
      await store.append("r", [ev(1)], { token: first.token });
      await store.setStatus("r", "waiting", {}, { token: first.token });
      // p1 is paused past its TTL; p2 takes the run.
      const taken = await store.acquireLease("r", "p2", 1000, 20_000);
      expect(taken).toEqual({ acquired: true, token: first.token + 1 });
      if (!taken.acquired) return;
      const stale = await failure(() => store.append("r", [ev(2)], { token: first.token }));
      expect(stale).toBeInstanceOf(RunLockedError);
      expect(stale).toMatchObject({ code: "RUN_LOCKED", holder: "p2", runId: "r" });
      expect(String((stale as Error).message)).toMatch(/"r".*taken over/);
      expect(await failure(() => store.setStatus("r", "running", {}, { token: first.token }))).toBeInstanceOf(RunLockedError);
      expect(await failure(() => store.finish("r", [ev(2)], { status: "completed", result: "stale" }, { token: first.token }))).toBeInstanceOf(RunLockedError);
      // Its renewal fails too, and hands out nothing.
      expect(await store.acquireLease("r", "p1", 1000, 20_001, { token: first.token })).toMatchObject({ acquired: false, holder: { owner: "p2" } });
      expect(roundTrip(await store.getJournal("r"))).toEqual([ev(1)]);
      expect((await store.getRun("r"))?.status).toBe("waiting");
      // The new holder writes, renews with its token (even past expiry: nobody took it since), and ends the run.
      await store.append("r", [ev(2)], { token: taken.token });
      expect(await store.acquireLease("r", "p2", 1000, 50_000, { token: taken.token })).toEqual({ acquired: true, token: taken.token });
      expect((await store.getRun("r"))?.lease).toEqual({ owner: "p2", expiresAt: 51_000, token: taken.token });
      await store.finish("r", [ev(3)], { status: "completed", result: 3 }, { token: taken.token });
      expect(roundTrip(await store.getJournal("r"))).toEqual([ev(1), ev(2), ev(3)]);
      // Unfenced writes (no token) keep working as before.
      await store.createRun(newRun("plain", 2));
      await store.append("plain", [ev(1)]);
      await store.setStatus("plain", "waiting");
      expect((await store.getRun("plain"))?.status).toBe("waiting");
    });

    it("createRunHeld (where a store has it): a new run held by its creator, fenced by the returned token", async (ctx) => {
      if (store.createRunHeld === undefined) return ctx.skip();
      const token = await store.createRunHeld({ ...newRun("r", 1000), parentRunId: "p" }, { owner: "p1", ttlMs: 1000, now: 10_000 });
      expect(token).toBe(1);
      const run = roundTrip(await store.getRun("r"));
      expect(run).toMatchObject({ runId: "r", workflow: "W", status: "running", parentRunId: "p", input: { type: "StartEvent", data: { payload: "r" } }, createdAt: 1000 });
      expect(run?.lease).toEqual({ owner: "p1", expiresAt: 11_000, token: 1 });
      // Held: another owner cannot take it before it expires; the holder renews with the token.
      expect(await store.acquireLease("r", "p2", 1000, 10_500)).toEqual({ acquired: false, holder: { owner: "p1", expiresAt: 11_000, token: 1 } });
      expect(await store.acquireLease("r", "p1", 1000, 10_600, { token })).toEqual({ acquired: true, token: 1 });
      // An existing id is refused as createRun refuses it, by either call, and nothing changes.
      await expect(Promise.resolve().then(() => store.createRunHeld!(newRun("r", 2000), { owner: "p3", ttlMs: 1000, now: 10_700 }))).rejects.toThrow();
      await store.createRun(newRun("plain", 1));
      await expect(Promise.resolve().then(() => store.createRunHeld!(newRun("plain", 2), { owner: "p3", ttlMs: 1000, now: 10_700 }))).rejects.toThrow();
      expect(roundTrip(await store.getRun("r"))).toMatchObject({ createdAt: 1000, lease: { owner: "p1", expiresAt: 11_600, token: 1 } });
      expect((await store.getRun("plain"))?.lease).toBeUndefined();
      // Fenced writes: with the token they go in; with another they are refused.
      await store.append("r", [ev(1)], { token });
      expect(await failure(() => store.append("r", [ev(2)], { token: token + 1 }))).toBeInstanceOf(RunLockedError);
      // The lease changes hands after expiry: token + 1; the creator's writes stop.
      expect(await store.acquireLease("r", "p2", 1000, 20_000)).toEqual({ acquired: true, token: 2 });
      expect(await failure(() => store.append("r", [ev(2)], { token }))).toBeInstanceOf(RunLockedError);
      await store.finish("r", [ev(2)], { status: "completed", result: 2 }, { token: 2 });
      expect(roundTrip(await store.getJournal("r"))).toEqual([ev(1), ev(2)]);
    });

    it("a released lease keeps its token: a renewal fails, the next holder gets token + 1", async () => {
      await store.createRun(newRun("r", 1));
      const a = await store.acquireLease("r", "p1", 1000, 1);
      expect(a).toEqual({ acquired: true, token: 1 });
      await store.releaseLease("r", "p1");
      expect((await store.acquireLease("r", "p1", 1000, 2, { token: 1 })).acquired).toBe(false);
      expect(await store.acquireLease("r", "p1", 1000, 3)).toEqual({ acquired: true, token: 2 });
      expect(await failure(() => store.append("r", [ev(1)], { token: 1 }))).toBeInstanceOf(RunLockedError);
      await store.append("r", [ev(1)], { token: 2 });
      expect(await failure(() => store.append("ghost", [ev(1)], { token: 1 }))).toBeInstanceOf(Error);
    });

    it("keeps (run, seq) unique: a repeated event seq is refused whole, across and within appends", async () => {
      await store.createRun(newRun("r", 1));
      await store.createRun(newRun("s", 2));
      await store.append("r", [ev(1), ev(2)]);
      await store.append("s", [ev(1)]); // another run may use the same seq
      const again = await failure(() => store.append("r", [ev(3), ev(2, 99)]));
      expect(again).toBeInstanceOf(StoreError);
      expect(again).toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect(String((again as Error).message)).toMatch(/"r".*event 2/);
      expect(await failure(() => store.append("r", [ev(5), ev(5)]))).toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect(roundTrip(await store.getJournal("r"))).toEqual([ev(1), ev(2)]);
      // Nothing of a refused append was kept: its other seqs are still free.
      await store.append("r", [ev(3), { kind: "state", key: "k", value: 1, at: 3 }, ev(5)]);
      expect(roundTrip(await store.getJournal("r")).map((e) => (e.kind === "event" ? e.seq : e.kind))).toEqual([1, 2, 3, "state", 5]);
    });

    it("finishes a run in one step: last entries, status, outcome, lease released; never twice", async () => {
      await store.createRun(newRun("r", 1));
      const lease = await store.acquireLease("r", "p1", 60_000, Date.now());
      if (!lease.acquired) throw new Error("not acquired");
      await store.append("r", [ev(1)], { token: lease.token });
      const end: JournalEntry = { kind: "run_finished", status: "completed", result: { ok: [1] }, at: 5 };
      await store.finish("r", [ev(2), end], { status: "completed", result: { ok: [1] } }, { token: lease.token });
      const run = roundTrip(await store.getRun("r"));
      expect(run).toMatchObject({ status: "completed", result: { ok: [1] } });
      expect(run?.lease).toBeUndefined();
      expect(roundTrip(await store.getJournal("r"))).toEqual([ev(1), ev(2), end]);
      // Ending again, or writing with the old token, is refused and changes nothing.
      const twice = await failure(() => store.finish("r", [{ kind: "run_finished", status: "failed", error: { name: "E", message: "late" }, at: 6 }], { status: "failed", error: { name: "E", message: "late" } }));
      expect(twice).toBeInstanceOf(RunFinishedError);
      expect(twice).toMatchObject({ code: "RUN_FINISHED", status: "completed" });
      expect(await failure(() => store.append("r", [ev(3)], { token: lease.token }))).toBeInstanceOf(RunFinishedError);
      expect(await failure(() => store.setStatus("r", "running", {}, { token: lease.token }))).toBeInstanceOf(RunFinishedError);
      expect(roundTrip(await store.getRun("r"))).toMatchObject({ status: "completed", result: { ok: [1] } });
      expect(await store.getJournal("r")).toHaveLength(3);
      expect(await failure(() => store.finish("ghost", [], { status: "cancelled" }))).toBeInstanceOf(RunNotFoundError);
    });

    it("finish is all or nothing: a refused entry leaves the run live and its journal as it was", async () => {
      await store.createRun(newRun("r", 1));
      await store.append("r", [ev(1)]);
      expect(await failure(() => store.finish("r", [ev(1)], { status: "failed", error: { name: "E", message: "m" } }))).toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect((await store.getRun("r"))?.status).toBe("running");
      expect(await store.getJournal("r")).toHaveLength(1);
      // Two processes ending one run at once: one wins.
      const other = second();
      const both = await Promise.allSettled([
        Promise.resolve().then(() => store.finish("r", [ev(2)], { status: "completed", result: "a" })),
        Promise.resolve().then(() => other.finish("r", [ev(3)], { status: "completed", result: "b" })),
      ]);
      expect(both.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = both.find((r) => r.status === "rejected");
      expect(lost?.status === "rejected" && lost.reason).toBeInstanceOf(RunFinishedError);
      expect(await store.getJournal("r")).toHaveLength(2);
    });

    it("inbox: delivers from any connection, in order; the holder claims each event exactly once with its append", async () => {
      await store.createRun(newRun("r", 1));
      const other = second();
      // 50 senders on two connections at once.
      const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => Promise.resolve((i % 2 ? other : store).deliver("r", { type: "Ping", data: { i } }))));
      expect(new Set(ids).size).toBe(50);
      const inbox = roundTrip(await store.readInbox("r"));
      expect(inbox.map((x) => x.id)).toEqual([...ids].sort((a, b) => a - b));
      expect(inbox.map((x) => (x.event.data as { i: number }).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(inbox.every((x) => typeof x.at === "number" && x.event.type === "Ping")).toBe(true);
      expect((await store.readInbox("r", 3)).map((x) => x.id)).toEqual(inbox.slice(0, 3).map((x) => x.id));
      const lease = await store.acquireLease("r", "holder", 60_000, Date.now());
      if (!lease.acquired) throw new Error("not acquired");
      // Two claimers of the same events (a stale holder without a token, say): exactly one journals them.
      const claim = inbox.slice(0, 10).map((x) => x.id);
      const records = inbox.slice(0, 10).map((x, i) => ({ kind: "event" as const, seq: i + 1, event: x.event, at: 1 }));
      const both = await Promise.allSettled([
        Promise.resolve().then(() => store.append("r", records, { token: lease.token, claim })),
        Promise.resolve().then(() => other.append("r", records.map((r) => ({ ...r, seq: r.seq + 100 })), { claim })),
      ]);
      expect(both.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(await store.getJournal("r")).toHaveLength(10);
      expect((await store.readInbox("r")).map((x) => x.id)).toEqual(inbox.slice(10).map((x) => x.id));
      const gone = await failure(() => store.append("r", [ev(500)], { claim: [claim[0] as number] }));
      expect(gone).toMatchObject({ code: "INBOX_CLAIMED" });
      expect(await store.getJournal("r")).toHaveLength(10);
      // The rest, claimed by ending the run; then the run takes no more.
      await store.finish("r", [ev(11)], { status: "completed", result: 1 }, { token: lease.token, claim: inbox.slice(10).map((x) => x.id) });
      expect(await store.readInbox("r")).toEqual([]);
      const late = await failure(() => other.deliver("r", { type: "Ping", data: {} }));
      expect(late).toBeInstanceOf(RunFinishedError);
      expect(await store.readInbox("r")).toEqual([]);
      expect(await failure(() => store.deliver("ghost", { type: "Ping", data: {} }))).toBeInstanceOf(RunNotFoundError);
      expect(await store.readInbox("ghost")).toEqual([]);
    });

    it("inbox ids are never reused after a claim", async () => {
      await store.createRun(newRun("r", 1));
      const a = await store.deliver("r", { type: "Ping", data: { n: 1 } });
      await store.append("r", [ev(1)], { claim: [a] });
      const b = await store.deliver("r", { type: "Ping", data: { n: 2 } });
      expect(b).toBeGreaterThan(a);
    });

    it("subscribe (where a store has it) wakes a subscriber on delivery from another connection, until unsubscribed", async () => {
      if (!store.subscribe) return;
      await store.createRun(newRun("r", 1));
      await store.createRun(newRun("s", 2));
      const woke: string[] = [];
      let wake: () => void = () => {};
      const next = () => new Promise<void>((r) => (wake = r));
      const off = store.subscribe("r", () => {
        woke.push("r");
        wake();
      });
      const offS = store.subscribe("s", () => woke.push("s"));
      // PostgreSQL: LISTEN is in place once a first delivery gets through; deliver until one does.
      let got = next();
      const other = second();
      await other.deliver("r", { type: "Ping", data: {} });
      for (let i = 0; i < 50 && woke.length === 0; i++) {
        await Promise.race([got, new Promise((r) => setTimeout(r, 20))]);
        if (woke.length === 0) await other.deliver("r", { type: "Ping", data: {} });
      }
      expect(woke[0]).toBe("r");
      expect(woke).not.toContain("s");
      got = next();
      await other.deliver("r", { type: "Ping", data: {} });
      await got;
      off();
      offS();
      const before = woke.length;
      await other.deliver("r", { type: "Ping", data: {} });
      await other.deliver("s", { type: "Ping", data: {} });
      await new Promise((r) => setTimeout(r, 50));
      expect(woke).toHaveLength(before);
    });
  });
}
