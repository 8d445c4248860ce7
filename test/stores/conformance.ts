import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JournalEntry, Store, StoredRun } from "../../src/index.js";

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

/**
 * The Store contract as tests: every store runs these. `makeStore` returns a fresh, empty store
 * (and may return a cleanup function with it).
 */
export function describeStoreConformance(name: string, makeStore: () => Promise<{ store: Store; cleanup?: () => Promise<void> | void }>): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let cleanup: (() => Promise<void> | void) | undefined;
    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
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

    it("leases: one holder at a time, renewal, expiry, release", async () => {
      await store.createRun(newRun("r", 1));
      expect(await store.acquireLease("r", "p1", 1000, 10_000)).toEqual({ acquired: true });
      expect(roundTrip(await store.getRun("r"))?.lease).toEqual({ owner: "p1", expiresAt: 11_000 });
      expect(await store.acquireLease("r", "p2", 1000, 10_500)).toEqual({ acquired: false, holder: { owner: "p1", expiresAt: 11_000 } });
      expect(await store.acquireLease("r", "p1", 1000, 10_900)).toEqual({ acquired: true });
      expect(await store.acquireLease("r", "p2", 1000, 11_800)).toEqual({ acquired: false, holder: { owner: "p1", expiresAt: 11_900 } });
      expect(await store.acquireLease("r", "p2", 1000, 12_000)).toEqual({ acquired: true });
      await store.releaseLease("r", "p1");
      expect((await store.getRun("r"))?.lease?.owner).toBe("p2");
      await store.releaseLease("r", "p2");
      expect((await store.getRun("r"))?.lease).toBeUndefined();
      expect(await store.acquireLease("r", "p3", 1000, 12_001)).toEqual({ acquired: true });
      expect(await store.acquireLease("ghost", "p3", 1000, 1)).toEqual({ acquired: false, holder: undefined });
    });

    it("grants a contended lease to exactly one of many at once", async () => {
      await store.createRun(newRun("r", 1));
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => Promise.resolve(store.acquireLease("r", `p${i}`, 60_000, Date.now()))));
      expect(results.filter((r) => r.acquired)).toHaveLength(1);
    });
  });
}
