import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance("MemoryStore", async () => ({ store: new MemoryStore() }));

describe("MemoryStore listings by parent", () => {
  it("listRuns({ parentRunId }) walks that run's children, not every run the store holds", () => {
    // Elements walked by the Array methods a listing uses, while it lists.
    const walked = (fn: () => unknown): number => {
      const proto = Array.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
      const names = ["map", "filter", "sort", "slice", "forEach", "find", "some", "every", "indexOf", "includes"];
      const originals = names.map((n) => proto[n] as (...args: unknown[]) => unknown);
      let n = 0;
      names.forEach((name, i) => {
        const original = originals[i] as (...args: unknown[]) => unknown;
        proto[name] = function (this: unknown[], ...args: unknown[]) {
          n += this.length;
          return original.apply(this, args);
        };
      });
      try {
        fn();
      } finally {
        names.forEach((name, i) => (proto[name] = originals[i] as (...args: unknown[]) => unknown));
      }
      return n;
    };
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
