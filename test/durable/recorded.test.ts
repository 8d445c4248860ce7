import { describe, expect, it } from "vitest";
import { MemoryStore, StartEvent, step, StopEvent, StoreError, Workflow, type Store } from "../../src/index.js";

class Echo extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  echo(ev: StartEvent<{ x: number }>) {
    return new StopEvent({ result: ev.x });
  }
}

/**
 * A store whose createRun and createRunHeld wait for `gate` (or fail when `fail`); with `held`
 * false it has no createRunHeld (a new run is created, then leased).
 */
function slowStore(gate: Promise<void>, fail = false, held = true): Store {
  const inner = new MemoryStore();
  return new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === "createRunHeld" && !held) return undefined;
      if (prop === "createRun" || prop === "createRunHeld") return async (...args: unknown[]) => {
        await gate;
        if (fail) throw new Error("disk full");
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("handler.recorded", () => {
  it.each([
    ["created with its lease (createRunHeld)", true],
    ["created, then leased (a store without createRunHeld)", false],
  ])("resolves only once the run is in its store: %s", async (_, held) => {
    let open!: () => void;
    const store = slowStore(new Promise<void>((r) => (open = r)), false, held);
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

  it.each([true, false])("rejects with StoreError naming the run when the store cannot record it, like the handler (createRunHeld: %s)", async (held) => {
    const handler = new Echo({ store: slowStore(Promise.resolve(), true, held) }).run({ x: 1 });
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
