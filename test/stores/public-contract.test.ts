import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { duplicateSeqError, fenceError, isLive, MemoryStore, RunFinishedError, RunLockedError, RunNotFoundError, StoreError, type AppendOptions, type InboxItem, type LeaseOptions, type RunEnd, type Store, type WriteOptions } from "stepwise-ai";

const STORES = join(import.meta.dirname, "../../src/stores");

describe("the Store contract as a third-party store sees it", () => {
  it("exports the contract's option types and error helpers from the public index", async () => {
    const store: Store = new MemoryStore();
    await store.createRun({ runId: "r", workflow: "w", input: { type: "StartEvent", data: {} }, createdAt: 1 });
    const lease = await store.acquireLease("r", "me", 1000, 1, {} satisfies LeaseOptions);
    expect(lease.acquired).toBe(true);
    const token = lease.acquired ? lease.token : -1;
    const write: WriteOptions = { token };
    const append: AppendOptions = { ...write, claim: [] };
    await store.append("r", [{ kind: "state", key: "k", value: 1, at: 2 }], append);
    const end: RunEnd = { status: "completed", result: 1 };
    await store.finish("r", [], end, write);
    const inbox: readonly InboxItem[] = await store.readInbox("r");
    expect(inbox).toEqual([]);

    expect(isLive("running") && isLive("waiting") && !isLive("completed")).toBe(true);
    expect(duplicateSeqError("A store", "r", 3)).toBeInstanceOf(StoreError);
    expect(duplicateSeqError("A store", "r", 3).code).toBe("JOURNAL_CONFLICT");
    expect(fenceError("A store", "r", undefined, 1)).toBeInstanceOf(RunNotFoundError);
    expect(fenceError("A store", "r", await store.getRun("r"), 1)).toBeInstanceOf(RunFinishedError);
    const live = { runId: "x", workflow: "w", status: "running" as const, input: { type: "StartEvent", data: {} }, createdAt: 1, updatedAt: 1, lease: { owner: "o", expiresAt: 5, token: 2 } };
    expect(fenceError("A store", "x", live, 1)).toBeInstanceOf(RunLockedError);
  });

  it("src/stores reach the core through the public index only, as a third-party store would", () => {
    const bad: string[] = [];
    for (const file of ["sqlite.ts", "postgres.ts", "rows.ts"]) {
      const specs = ts.preProcessFile(readFileSync(join(STORES, file), "utf8"), true, true).importedFiles.map((f) => f.fileName);
      for (const s of specs) if (s.includes("/core/")) bad.push(`${file} imports ${s}`);
    }
    expect(bad).toEqual([]);
  });
});
