import { describe, expect, it } from "vitest";
import { z } from "zod";
import { MemoryStore, StartEvent, StateValidationError, StopEvent, Workflow, type StateStore } from "../../src/index.js";

describe("typed state against hostile paths and keys", () => {
  const schema = z.object({ user: z.object({ name: z.string() }).default({ name: "?" }) }).passthrough();

  it.each(["__proto__.polluted", "constructor.prototype.polluted", "user.__proto__.polluted", "prototype", "user..name", ""])("refuses the path %j with StateValidationError and pollutes nothing", async (path) => {
    const wf = new Workflow({ state: schema }).addStep({ accepts: StartEvent, emits: StopEvent }, (_ev, ctx) => {
      (ctx.store as unknown as { set(p: string, v: unknown): void }).set(path, "yes");
      return new StopEvent({});
    });
    const err = await wf.run().then(
      () => undefined,
      (e: unknown) => e as Error & { cause?: unknown },
    );
    expect(err?.cause).toBeInstanceOf(StateValidationError);
    expect(String((err?.cause as Error).message)).toMatch(/path/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("a state key named __proto__ (from JSON) never becomes the state object's prototype", async () => {
    const store = new MemoryStore();
    const wf = new Workflow({ state: z.record(z.string(), z.unknown()), store }).addStep({ accepts: StartEvent, emits: StopEvent }, (_ev, ctx) => {
      const store = ctx.store as unknown as StateStore<Record<string, unknown>>;
      store.setState(JSON.parse('{"__proto__": {"isAdmin": true}, "ok": 1}') as Record<string, unknown>);
      const state = store.getState();
      return new StopEvent({ result: { proto: Object.getPrototypeOf(state) === Object.prototype, isAdmin: (state as { isAdmin?: unknown }).isAdmin, keys: Object.keys(state).sort() } });
    });
    // The schema may drop the key or keep it as data; either way it is not a prototype.
    expect(await wf.run()).toMatchObject({ proto: true, isAdmin: undefined, keys: expect.arrayContaining(["ok"]) as unknown });
  });
});
