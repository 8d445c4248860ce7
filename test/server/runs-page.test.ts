import { describe, expect, it } from "vitest";
import { MemoryStore, type RunFilter, type Store, type StoredRun } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";
import { Greeter } from "./fixtures.js";

const input = { type: "Greet", data: { name: "x" } };

/** `store` with its listRuns counted: the rows every call returned, and the filters asked. */
function counted(store: Store): { store: Store; rows: () => number; calls: RunFilter[]; reset: () => void } {
  let rows = 0;
  const calls: RunFilter[] = [];
  const wrapped = new Proxy(store, {
    get(target, key, receiver) {
      if (key === "listRuns") {
        return async (filter?: RunFilter) => {
          calls.push({ ...filter });
          const out = await target.listRuns(filter);
          rows += out.length;
          return out;
        };
      }
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: wrapped, rows: () => rows, calls, reset: () => ((rows = 0), calls.splice(0)) };
}

/** The order GET /runs lists in: newest first, ties by runId descending. */
const order = (a: StoredRun, b: StoredRun) => b.createdAt - a.createdAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0);

describe("GET /runs from a store, page by page", () => {
  it("a page reads about limit + 1 rows from the store when it holds 1,000 runs, not 1,000; the pages are the same runs in the same order, with the same cursors", async () => {
    const memory = new MemoryStore();
    // 1,000 runs: five a millisecond (ties), every 7th a child run, every 10th of a workflow the
    // server does not serve, every 4th completed.
    for (let i = 0; i < 1000; i++) {
      const runId = `run-${String((i * 7919) % 1000).padStart(4, "0")}`;
      memory.createRun({ runId, workflow: i % 10 === 9 ? "Unserved" : "Greeter", input, createdAt: 1_000 + Math.floor(i / 5), ...(i % 7 === 3 ? { parentRunId: "run-0000" } : {}) });
      if (i % 4 === 0) memory.setStatus(runId, "completed", { result: "hello x" });
    }
    const all = [...memory.listRuns({})].filter((r) => r.workflow === "Greeter").sort(order);
    const c = counted(memory);
    // Not resumed: the stored runs stay as they are (their "running" ones are not this test's).
    const app = createServer({ workflows: { greeter: Greeter }, store: c.store, resume: false });
    const page = async (query: string): Promise<{ runs: { runId: string; status: string }[]; nextCursor: string | null }> => {
      const res = await app.request(`/runs?${query}`);
      expect(res.status).toBe(200);
      return (await res.json()) as never;
    };
    for (const [query, expected] of [
      ["limit=20", all],
      ["limit=20&status=completed", all.filter((r) => r.status === "completed")],
      ["limit=20&workflow=greeter&status=running", all.filter((r) => r.status === "running")],
    ] as const) {
      const seen: string[] = [];
      const reads: number[] = [];
      let cursor: string | null = null;
      do {
        c.reset();
        const body = await page(`${query}${cursor ? `&cursor=${cursor}` : ""}`);
        reads.push(c.rows());
        seen.push(...body.runs.map((r) => r.runId));
        expect(body.runs.length === 20 || body.nextCursor === null).toBe(true);
        cursor = body.nextCursor;
      } while (cursor !== null && reads.length < 200);
      expect(seen).toEqual(expected.map((r) => r.runId));
      // limit + 1 served runs, and the few unserved ones among them (one in ten): never the whole store.
      expect({ query, reads: reads.map((n) => n <= 21 + 5) }).toEqual({ query, reads: reads.map(() => true) });
    }
    // One page in the middle: after its cursor, limit + 1 asked for.
    const first = await page("limit=5");
    c.reset();
    const second = await page(`limit=5&cursor=${first.nextCursor}`);
    expect(second.runs.map((r) => r.runId)).toEqual(all.slice(5, 10).map((r) => r.runId));
    expect(c.calls[0]).toMatchObject({ limit: 6, before: { createdAt: all[4]!.createdAt, runId: all[4]!.runId } });
  });

  it("runs of workflows the server does not serve are skipped however many come first: the store is read again after them until the page is full", async () => {
    const memory = new MemoryStore();
    for (let i = 0; i < 30; i++) memory.createRun({ runId: `old-${String(i).padStart(2, "0")}`, workflow: "Greeter", input, createdAt: 100 + i });
    for (let i = 0; i < 100; i++) memory.createRun({ runId: `other-${String(i).padStart(3, "0")}`, workflow: "Unserved", input, createdAt: 200 + i });
    const c = counted(memory);
    const app = createServer({ workflows: { greeter: Greeter }, store: c.store, resume: false });
    const body = (await (await app.request("/runs?limit=10")).json()) as { runs: { runId: string }[]; nextCursor: string | null };
    expect(body.runs.map((r) => r.runId)).toEqual(Array.from({ length: 10 }, (_, k) => `old-${29 - k}`));
    expect(body.nextCursor).not.toBeNull();
    const rest = (await (await app.request(`/runs?limit=20&cursor=${body.nextCursor}`)).json()) as { runs: { runId: string }[]; nextCursor: string | null };
    expect(rest.runs.map((r) => r.runId)).toEqual(Array.from({ length: 20 }, (_, k) => `old-${String(19 - k).padStart(2, "0")}`));
    expect(rest.nextCursor).toBeNull();
  });

  it("GET /handlers (LlamaIndex) lists the top runs, newest first, reading no child run from the store", async () => {
    const memory = new MemoryStore();
    for (let i = 0; i < 100; i++) memory.createRun({ runId: `run-${String(i).padStart(3, "0")}`, workflow: "Greeter", input, createdAt: 1_000 + Math.floor(i / 3), ...(i % 4 === 1 ? { parentRunId: "run-000" } : {}) });
    const top = [...memory.listRuns({})].filter((r) => r.parentRunId === undefined).sort(order);
    const c = counted(memory);
    const app = createServer({ workflows: { greeter: Greeter }, store: c.store, resume: false, llamaindex: "/llamaindex" });
    const body = (await (await app.request("/llamaindex/handlers")).json()) as { handlers: { handler_id: string }[] };
    expect(body.handlers.map((h) => h.handler_id)).toEqual(top.map((r) => r.runId));
    expect(c.rows()).toBe(top.length);
  });
});
