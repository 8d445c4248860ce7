import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { describeStoreConformance } from "./conformance.js";
import { countArrayWalks } from "../fixtures/array-walks.js";

describeStoreConformance("MemoryStore", async () => ({ store: new MemoryStore() }));

/** Elements walked by the Array methods a listing uses, while `fn` runs. */
function walked(fn: () => unknown): number {
  const stop = countArrayWalks(["map", "filter", "sort", "slice", "forEach", "find", "some", "every", "indexOf", "includes"]);
  try {
    fn();
  } finally {
    stop();
  }
  return stop();
}

describe("MemoryStore listings by parent", () => {
  it("listRuns({ parentRunId }) walks that run's children, not every run the store holds", () => {
    const input = { type: "StartEvent", data: {} };
    const work: number[] = [];
    for (const others of [200, 2000]) {
      const store = new MemoryStore();
      for (let i = 0; i < others; i++) store.createRun({ runId: `top-${i}`, workflow: "W", input, createdAt: i, ...(i % 4 === 0 ? { parentRunId: "top-0" } : {}) });
      store.createRun({ runId: "c1", workflow: "W", input, createdAt: 1, parentRunId: "p" });
      store.createRun({ runId: "c2", workflow: "W", input, createdAt: 2, parentRunId: "p" });
      let ids: string[] = [];
      work.push(walked(() => (ids = store.listRuns({ parentRunId: "p" }).map((r) => r.runId))));
      expect(ids).toEqual(["c2", "c1"]);
    }
    expect(work[1]).toBe(work[0]);
  });
});

describe("MemoryStore pages", () => {
  it("a page (limit, before) examines about limit runs however many the store holds, with every filter a server pages by", async () => {
    // Rows a listing examined: elements the Array methods it calls walk, and (since it pages
    // without them) the runs its own loop reads.
    const reads = (await import("../../src/core/store.js")) as { memoryListReads?: { rows: number } };
    const counted = (fn: () => unknown): number => {
      const before = reads.memoryListReads?.rows ?? 0;
      return walked(fn) + (reads.memoryListReads?.rows ?? 0) - before;
    };
    const input = { type: "StartEvent", data: {} };
    const cost: Record<string, number[]> = {};
    for (const total of [1_000, 20_000]) {
      const store = new MemoryStore();
      // Two workflows, a child run in every ten, ten runs a millisecond.
      for (let i = 0; i < total; i++) store.createRun({ runId: `r-${String(i).padStart(6, "0")}`, workflow: i % 2 ? "A" : "B", input, createdAt: Math.floor(i / 10), ...(i % 10 === 3 ? { parentRunId: "r-000000" } : {}) });
      const middle = { createdAt: Math.floor(total / 20), runId: `r-${String(total / 2).padStart(6, "0")}` };
      const pages: [string, Parameters<MemoryStore["listRuns"]>[0]][] = [
        ["first", { limit: 51 }],
        ["after", { before: middle, limit: 51 }],
        ["workflow", { workflow: "A", before: middle, limit: 51 }],
        ["top", { topLevel: true, before: middle, limit: 51 }],
        ["status", { status: "running", before: middle, limit: 51 }],
      ];
      for (const [name, filter] of pages) {
        let runs: readonly { runId: string; createdAt: number }[] = [];
        (cost[name] ??= []).push(counted(() => (runs = store.listRuns(filter))));
        expect(runs).toHaveLength(51);
        if (filter?.before) expect(runs[0]!.createdAt).toBeLessThanOrEqual(filter.before.createdAt);
      }
    }
    // 20x the runs: the same runs examined, about a page's (51, and the children skipped).
    for (const [name, [small, large]] of Object.entries(cost)) {
      expect({ name, large }).toEqual({ name, large: small });
      expect({ name, small: small! <= 55 }).toEqual({ name, small: true });
    }
  });
});
