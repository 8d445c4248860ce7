// A short durable run's fixed costs (issue 11.21): what it asks of the store and of the process,
// counted, and the paths those savings changed (busy retries, lease options), checked.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Event, EventValidationError, MemoryStore, StartEvent, StopEvent, StoreError, Workflow, type Store } from "../../src/index.js";
import { randomId } from "../../src/core/ids.js";

// Every random id the engine makes, counted.
vi.mock("../../src/core/ids.js", async (original) => {
  const ids = await original<typeof import("../../src/core/ids.js")>();
  return { ...ids, randomId: vi.fn(ids.randomId) };
});

class Mid extends Event<{ id: number }> {}

function twoSteps(store: Store, options: { store?: Store; leaseTtlMs?: number } = { store }) {
  return new Workflow(options)
    .addStep({ accepts: StartEvent, emits: Mid }, async function first(ev: StartEvent<{ id: number }>) {
      return new Mid({ id: ev.id });
    })
    .addStep({ accepts: Mid, emits: StopEvent }, async function second(ev) {
      return new StopEvent({ result: ev.id });
    });
}

/** `store` with its calls counted by method. */
function counted(store: Store): { store: Store; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== "function" || typeof key !== "string") return v;
      return (...args: unknown[]) => {
        calls[key] = (calls[key] ?? 0) + 1;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/** `inner` as a store that has no `createRunHeld` (a custom store written before it). */
function withoutCreateRunHeld(inner: MemoryStore): Store {
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (key === "createRunHeld") return undefined;
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** `inner` with its `append` replaced. */
function withAppend(inner: MemoryStore, append: (...args: Parameters<MemoryStore["append"]>) => void | Promise<void>): Store {
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (key === "append") return append;
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a short durable run's fixed costs", () => {
  it("one UUID per run (its id): the lease owner's per-run part is counted, not a second UUID", async () => {
    const uuid = vi.mocked(randomId);
    uuid.mockClear();
    const created = vi.spyOn(MemoryStore.prototype, "createRunHeld");
    const store = new MemoryStore();
    const wf = twoSteps(store);
    const results = await Promise.all(Array.from({ length: 5 }, (_, id) => wf.run({ id })));
    expect(results).toEqual([0, 1, 2, 3, 4]);
    expect(uuid).toHaveBeenCalledTimes(5);
    // Each run's lease had its own owner, host:pid:<8 hex digits>.
    const owners = created.mock.calls.map((c) => c[1].owner);
    expect(new Set(owners).size).toBe(5);
    for (const o of owners) expect(o).toMatch(/:[0-9a-f]{8}$/);
  });

  it("store calls per run: createRunHeld (the run row with its lease), readInbox, subscribe, two appends (sync durability) and finish", async () => {
    const { store, calls } = counted(new MemoryStore());
    expect(await twoSteps(store).run({ id: 7 })).toBe(7);
    expect(calls).toEqual({ createRunHeld: 1, subscribe: 1, readInbox: 1, append: 2, finish: 1 });
  });

  it("a store without createRunHeld gets createRun then acquireLease", async () => {
    const { store, calls } = counted(withoutCreateRunHeld(new MemoryStore()));
    expect(await twoSteps(store).run({ id: 7 })).toBe(7);
    expect(calls).toEqual({ createRun: 1, acquireLease: 1, subscribe: 1, readInbox: 1, append: 2, finish: 1 });
  });

  it("a store busy for a while (thrown at once, or rejected) is retried, and the run completes with its whole journal", async () => {
    for (const how of ["throws", "rejects"] as const) {
      const inner = new MemoryStore();
      let busy = 2;
      let appends = 0;
      const store = withAppend(inner, (...args) => {
        appends++;
        if (busy > 0) {
          busy--;
          const err = new StoreError("busy", "STORE_BUSY");
          if (how === "throws") throw err;
          return Promise.reject(err);
        }
        return inner.append(...args);
      });
      const h = twoSteps(store).run({ id: 3 });
      expect(await h).toBe(3);
      expect(appends).toBe(4);
      const kinds = inner.getJournal(h.runId).map((e) => e.kind);
      expect(kinds).toEqual(["run_started", "event", "step_started", "event", "step_finished", "step_started", "event", "step_finished", "run_finished"]);
    }
  });

  it("a store that fails otherwise is not retried: the run stops with a StoreError after one try", async () => {
    const inner = new MemoryStore();
    let appends = 0;
    const store = withAppend(inner, () => {
      appends++;
      throw new StoreError("disk full", "STORE_FAILED");
    });
    await expect(twoSteps(store).run({ id: 1 })).rejects.toBeInstanceOf(StoreError);
    expect(appends).toBe(1);
  });

  it("a lease TTL changed on the workflow's options between runs is the next run's TTL", async () => {
    const store = new MemoryStore();
    const options: { store: Store; leaseTtlMs?: number } = { store, leaseTtlMs: 60_000 };
    const wf = twoSteps(store, options);
    const spy = vi.spyOn(MemoryStore.prototype, "createRunHeld");
    await wf.run({ id: 1 });
    options.leaseTtlMs = 90_000;
    await wf.run({ id: 2 });
    expect(spy.mock.calls.map((c) => c[1].ttlMs)).toEqual([60_000, 90_000]);
  });

  it("event data nested 40 deep is journaled when plain, and refused naming the field when not", async () => {
    class Deep extends Event<{ v: unknown }> {}
    const nest = (leaf: unknown): unknown => {
      let v: unknown = leaf;
      for (let i = 0; i < 40; i++) v = { v };
      return v;
    };
    const wf = (leaf: unknown) =>
      new Workflow({ store: new MemoryStore() })
        .addStep({ accepts: StartEvent, emits: Deep }, async function make() {
          return new Deep({ v: nest(leaf) });
        })
        .addStep({ accepts: Deep, emits: StopEvent }, async function end() {
          return new StopEvent({ result: "ok" });
        });
    expect(await wf("fine").run()).toBe("ok");
    const err: unknown = await wf(10n).run().then(() => undefined, (e: unknown) => e);
    const cause = (err as { cause?: unknown }).cause ?? err;
    expect(cause).toBeInstanceOf(EventValidationError);
    expect((cause as Error).message).toContain(`data${".v".repeat(41)} is a BigInt`);
  });
});
