// App member names become ctx.store namespaces ("member/key"), qualified step names
// ("member.step") and the paths a runtime's task names a member by ("shop.Pricing"). Names that
// would meet in those spaces are refused by validation (WorkflowValidationError, INVALID_WORKFLOW,
// naming both members) instead of sharing keys, steps or tasks.
import { describe, expect, it } from "vitest";
import { App, Event, executeTask, StartEvent, StopEvent, Workflow, WorkflowValidationError, type Runtime } from "../../src/index.js";

class Ping extends Event {}

/** A member that sets one ctx.store key and ends the run with what it reads back. */
function writer(name: string, key: string, value: number, entry: boolean) {
  const wf = new Workflow({ name });
  if (entry) {
    wf.addStep({ accepts: StartEvent, emits: Ping }, function first(_ev, ctx) {
      ctx.store.set(key, value);
      return new Ping();
    });
  } else {
    wf.addStep({ accepts: Ping, emits: StopEvent }, function second(_ev, ctx) {
      ctx.store.set(key, value);
      return new StopEvent({ result: "done" });
    });
  }
  return wf;
}

async function refusal(app: App): Promise<WorkflowValidationError> {
  const err = (await app.run().catch((e: unknown) => e)) as WorkflowValidationError;
  expect(err).toBeInstanceOf(WorkflowValidationError);
  expect(err.code).toBe("INVALID_WORKFLOW");
  return err;
}

describe("App member names that meet in the store key space", () => {
  it('refuses "a" beside "a/b": a\'s key "b/x" would be a/b\'s key "x"', async () => {
    const app = new App({ workflows: { a: writer("A", "b/x", 1, true), "a/b": writer("AB", "x", 2, false) } });
    const err = await refusal(app);
    expect(err.problems).toContainEqual(expect.stringContaining('App members "a" and "a/b" would share ctx.store keys'));
  });

  it('refuses them however deep the prefix: "x" beside "x/y/z"', async () => {
    const app = new App({ workflows: { "x/y/z": writer("Z", "k", 2, false), x: writer("X", "y/z/k", 1, true) } });
    const err = await refusal(app);
    expect(err.problems).toContainEqual(expect.stringContaining('App members "x" and "x/y/z" would share ctx.store keys'));
  });

  it('refuses a member named "shop.Pricing" beside an App "shop" whose member is "Pricing"', async () => {
    const shop = new App({ workflows: { Pricing: writer("Pricing", "k", 1, true) } });
    const app = new App({ workflows: { shop, "shop.Pricing": writer("Flat", "k", 2, false) }, entry: "shop" });
    const err = await refusal(app);
    expect(err.problems).toContainEqual(expect.stringContaining('App members "shop" (its member "Pricing") and "shop.Pricing" are both "shop.Pricing"'));
  });

  it("refuses a member of an inner App that meets a member of the outer App", async () => {
    const inner = new App({ workflows: { "b/c": writer("BC", "k", 1, true) } });
    const app = new App({ workflows: { a: inner, "a.b": writer("AB", "c/k", 2, false) } });
    const err = await refusal(app);
    expect(err.problems).toContainEqual(expect.stringContaining('App members "a.b" and "a" (its member "b/c") would share ctx.store keys: "a.b"\'s key "c/…"'));
  });

  it("runs members whose names only look alike: a, a.b (an inner App's member), ab, a-b", async () => {
    const inner = new App({ workflows: { b: writer("B", "k", 1, true) } });
    const app = new App({ workflows: { a: inner, ab: writer("AB", "k", 2, false), "a-b": writer("A-B", "k", 3, false), "a b": writer("A B", "k", 4, false) }, entry: "a" });
    const h = app.run();
    expect(await h).toBe("done");
    // Each member's own key, apart.
    expect(Object.keys(h.state).sort()).toEqual(["a b/k", "a-b/k", "a.b/k", "ab/k"]);
  });

  it("the same on a runtime's worker: the task's member path names one member only", async () => {
    const shop = new App({ workflows: { Pricing: writer("Pricing", "k", 1, true) } });
    const make = (runtime?: Runtime) => new App({ workflows: { shop, "shop.Pricing": writer("Flat", "k", 2, false) }, entry: "shop", ...(runtime ? { runtime } : {}) });
    const worker = make();
    const runtime: Runtime = { execute: (task, scope) => executeTask(worker, task, scope) };
    await refusal(make(runtime));
  });
});
