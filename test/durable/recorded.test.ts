import { describe, expect, it } from "vitest";
import { MemoryStore, StartEvent, step, StopEvent, StoreError, Workflow, type Store } from "../../src/index.js";

class Echo extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  echo(ev: StartEvent<{ x: number }>) {
    return new StopEvent({ result: ev.x });
  }
}

/** A store whose createRun waits for `gate` (or fails when `fail`). */
function slowStore(gate: Promise<void>, fail = false): Store {
  const inner = new MemoryStore();
  return new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === "createRun") return async (...args: unknown[]) => {
        await gate;
        if (fail) throw new Error("disk full");
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("handler.recorded", () => {
  it("resolves only once the run is in its store", async () => {
    let open!: () => void;
    const store = slowStore(new Promise<void>((r) => (open = r)));
    const handler = new Echo({ store }).run({ x: 3 });
    let done = false;
    void handler.recorded.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false);
    expect(await store.getRun(handler.runId)).toBeUndefined();
    open();
    await handler.recorded;
    expect((await store.getRun(handler.runId))?.runId).toBe(handler.runId);
    expect(await handler).toBe(3);
  });

  it("resolves at once without a store", async () => {
    const handler = new Echo().run({ x: 1 });
    await expect(handler.recorded).resolves.toBeUndefined();
    expect(await handler).toBe(1);
  });

  it("rejects with StoreError naming the run when the store cannot record it, like the handler", async () => {
    const handler = new Echo({ store: slowStore(Promise.resolve(), true) }).run({ x: 1 });
    const err = await handler.recorded.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toContain(handler.runId);
    expect((err as StoreError).message).toContain("disk full");
    await expect(handler).rejects.toBeInstanceOf(StoreError);
  });

  it("rejects with the run's error when the input is bad", async () => {
    const handler = new Echo().run(new StopEvent({ result: 1 }));
    await expect(handler.recorded).rejects.toThrow();
    await expect(handler).rejects.toThrow();
  });
});
