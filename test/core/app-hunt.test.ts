import { describe, expect, it, vi } from "vitest";
import { getEventListeners } from "node:events";
import { z } from "zod";
import { App, Event, executeTask, WorkflowValidationError, StartEvent, StopEvent, Workflow, type Context, type Runtime, type WorkflowRuntimeError } from "../../src/index.js";

class Ask extends Event<{ q: number }> {}
class Answer extends Event<{ a: number }> {}
class Go extends Event<{ x: number }> {}

describe("a waitForEvent filter that throws", () => {
  const outcome = (p: Promise<unknown>) => p.then((v) => ({ ok: v }), (e: unknown) => ({ code: (e as WorkflowRuntimeError).code, message: (e as Error).message }));

  it("fails the waiting step's wait, not the step that emitted the event; the event goes on to other waits", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Answer }, async function picky(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        try {
          await ctx.waitForEvent(Answer, { filter: () => { throw new Error("bad filter"); } });
          return new StopEvent({ result: "no error?" });
        } catch (e) {
          return new StopEvent({ result: { code: (e as WorkflowRuntimeError).code, message: (e as Error).message, cause: ((e as Error).cause as Error).message } });
        }
      })
      .addStep({ accepts: Go, emits: Answer }, async function answerer() {
        await Promise.resolve();
        return new Answer({ a: 1 });
      });
    expect(await outcome(wf.run())).toEqual({
      ok: { code: "WAIT_FILTER_FAILED", message: 'The filter of step "picky"\'s waitForEvent(Answer) threw on an Answer: bad filter', cause: "bad filter" },
    });
  });

  it("fails only its own wait: another wait for the same type still gets the event", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, Ask, StopEvent], waitsFor: Answer }, async function both(_ev, ctx) {
        const bad = ctx.waitForEvent(Answer, { filter: () => { throw new Error("bad filter"); } }).then(() => "answered", (e: unknown) => (e as WorkflowRuntimeError).code);
        const good = ctx.waitForEvent(Answer, { filter: (a) => a.a === 7 });
        ctx.sendEvent(new Go({ x: 7 }));
        return new StopEvent({ result: [await bad, (await good).a] });
      })
      .addStep({ accepts: Go, emits: Answer }, (ev) => new Answer({ a: ev.x }))
      .addStep({ accepts: Ask, emits: StopEvent }, () => undefined);
    expect(await outcome(wf.run())).toEqual({ ok: ["WAIT_FILTER_FAILED", 7] });
  });

  it("fails the wait when it throws on an event that came before the wait, as a rejected promise", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Answer }, async function late(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        await new Promise((r) => setTimeout(r, 5)); // the Answer is kept unclaimed meanwhile
        let p: Promise<unknown> | undefined;
        try {
          p = ctx.waitForEvent(Answer, { filter: () => { throw new Error("bad filter"); } });
        } catch {
          return new StopEvent({ result: "threw synchronously" });
        }
        return new StopEvent({ result: await p.then(() => "answered", (e: unknown) => (e as WorkflowRuntimeError).code) });
      })
      .addStep({ accepts: Go, emits: Answer }, (ev) => new Answer({ a: ev.x }));
    expect(await outcome(wf.run())).toEqual({ ok: "WAIT_FILTER_FAILED" });
  });
});

describe("a waitForEvent with requirements and an event whose required field is not JSON", () => {
  class Keyed extends Event<{ id: unknown }> {}

  it("does not meet them (a BigInt, a cycle): the event goes on, and the step that sent it does not fail", async () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Keyed }, async function waiter(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        const got = await ctx.waitForEvent(Keyed, { requirements: { id: "a" } });
        return new StopEvent({ result: got.id });
      })
      .addStep({ accepts: Go, emits: Keyed }, async function sender(_ev, ctx) {
        await Promise.resolve();
        ctx.sendEvent(new Keyed({ id: 5n }));
        ctx.sendEvent(new Keyed({ id: cycle }));
        return new Keyed({ id: "a" });
      });
    expect(await wf.run()).toBe("a");
  });

  it("does not meet them when it came before the wait", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Keyed }, async function waiter(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        await new Promise((r) => setTimeout(r, 5)); // both are kept unclaimed meanwhile
        const got = await ctx.waitForEvent(Keyed, { requirements: { id: "a" } });
        return new StopEvent({ result: got.id });
      })
      .addStep({ accepts: Go, emits: Keyed }, () => [new Keyed({ id: 5n }), new Keyed({ id: "a" })]);
    expect(await wf.run()).toBe("a");
  });
});

describe("ctx.call with one request event in several calls at once", () => {
  it("the run's end rejects every call of the group still pending", async () => {
    const seen: string[] = [];
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function asker(_ev, ctx) {
        const ask = new Ask({ q: 1 });
        await Promise.allSettled([ctx.call(ask, Answer), ctx.call(ask, Answer)].map((p) => p.catch((e: unknown) => seen.push((e as WorkflowRuntimeError).code))));
        return new StopEvent({ result: seen });
      })
      .addStep({ accepts: Ask, emits: Answer }, async function never() {
        await new Promise(() => {});
      });
    const h = wf.run();
    await vi.waitFor(() => expect(h.status === "running" || h.status === "waiting").toBe(true));
    await new Promise((r) => setTimeout(r, 5));
    h.cancel();
    await expect(h).rejects.toThrow(/cancelled/);
    await vi.waitFor(() => expect(seen).toEqual(["CANCELLED", "CANCELLED"]));
  });

  it("answers each call, in the order they were made, instead of leaving the first one pending until the run ends", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function asker(_ev, ctx) {
        const ask = new Ask({ q: 3 });
        const replies = await Promise.all([ctx.call(ask, Answer), ctx.call(ask, Answer), ctx.call(ask, Answer)]);
        return new StopEvent({ result: replies.map((r) => r.a) });
      })
      .addStep({ accepts: Ask, emits: Answer }, async function square(ev) {
        await Promise.resolve();
        return new Answer({ a: ev.q * ev.q });
      });
    expect(await wf.run()).toEqual([9, 9, 9]);
  });

  it("an invocation that answered with ctx.sendEvent does not also answer (or fail) the next call of the group when it returns", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function asker(_ev, ctx) {
        const ask = new Ask({ q: 4 });
        const replies = await Promise.all([ctx.call(ask, Answer), ctx.call(ask, Answer)]);
        return new StopEvent({ result: replies.map((r) => r.a) });
      })
      // One at a time: the first invocation returns while the second call still waits.
      .addStep({ accepts: Ask, emits: Answer, numWorkers: 1 }, async function sender(ev, ctx) {
        await Promise.resolve();
        ctx.sendEvent(new Answer({ a: ev.q + 1 }));
      });
    expect(await wf.run()).toEqual([5, 5]);
  });

  it("a call of the group that times out leaves the next one to be answered", async () => {
    let started = 0;
    const release: (() => void)[] = [];
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function asker(_ev, ctx) {
        const ask = new Ask({ q: 2 });
        const first = ctx.call(ask, Answer, { timeout: 0.01 }).then((r) => r.a, (e: unknown) => (e as WorkflowRuntimeError).code);
        const second = ctx.call(ask, Answer).then((r) => r.a);
        const out = await first;
        release.splice(0).forEach((f) => f());
        return new StopEvent({ result: [out, await second] });
      })
      .addStep({ accepts: Ask, emits: Answer, numWorkers: 1 }, async function held(ev) {
        started++;
        await new Promise<void>((r) => release.push(r));
        return new Answer({ a: ev.q * 10 });
      });
    expect(await wf.run()).toEqual(["TIMEOUT", 20]);
    expect(started).toBeGreaterThanOrEqual(1);
  });
});

describe("child runs started at once by one step", () => {
  const N = 50;
  let cancelled = 0;
  const child = () =>
    new Workflow({ name: "Child", timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx: Context) => {
      await new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => {
          cancelled++;
          reject(ctx.signal.reason as Error);
        }),
      );
    });

  it(`${N} children of a step without a step timeout put no abort listener on the run's signal (no MaxListenersExceededWarning), and the parent's cancel still reaches each`, async () => {
    cancelled = 0;
    let listeners = -1;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const parent = new Workflow({ name: "Parent", timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async function fan(_ev, ctx) {
        const runs = Array.from({ length: N }, () => ctx.runWorkflow(child()));
        listeners = getEventListeners(ctx.signal, "abort").length;
        await Promise.all(runs);
        return new StopEvent({ result: "all done?" });
      });
      const h = parent.run();
      await vi.waitFor(() => expect(listeners).toBeGreaterThanOrEqual(0));
      await new Promise((r) => setTimeout(r, 5));
      h.cancel();
      await expect(h).rejects.toThrow(/cancelled/);
      await vi.waitFor(() => expect(cancelled).toBe(N));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", onWarning);
    }
    expect(listeners).toBe(0);
    expect(warnings).toEqual([]);
  });
});

describe("an App as a member of an App", () => {
  class Priced extends Event<{ by: string; price: number }> {}
  class Shipped extends Event<{ by: string[] }> {}
  class Pricing extends Workflow {
    readonly who = "pricing";
    constructor() {
      super();
      this.addStep({ accepts: StartEvent, emits: Priced }, function price(this: Pricing, _ev, ctx) {
        ctx.store.set("n", 1);
        return new Priced({ by: this.who, price: 5 });
      });
    }
  }
  class Shipping extends Workflow {
    readonly who = "shipping";
    constructor() {
      super();
      this.addStep({ accepts: Priced, emits: Shipped }, function ship(this: Shipping, ev, ctx) {
        ctx.store.set("n", 2);
        return new Shipped({ by: [ev.by, this.who] });
      });
    }
  }
  const done = new Workflow({ name: "Done" }).addStep({ accepts: Shipped, emits: StopEvent }, function finish(ev) {
    return new StopEvent({ result: ev.by });
  });

  it("runs each inner member's steps on its own instance, with its own ctx.store keys", async () => {
    const shop = new App({ workflows: [new Pricing(), new Shipping()] });
    const app = new App({ workflows: { shop, done } });
    const h = app.run();
    expect(await h).toEqual(["pricing", "shipping"]);
    expect(h.state).toEqual({ "shop.Pricing/n": 1, "shop.Shipping/n": 2 });
  });

  it("runs them on a runtime's worker too: the task names the inner member by its path", async () => {
    const make = (runtime?: Runtime) => new App({ workflows: { shop: new App({ workflows: [new Pricing(), new Shipping()] }), done }, ...(runtime === undefined ? {} : { runtime }) });
    const worker = make();
    const tasks: string[] = [];
    const runtime: Runtime = {
      execute: async (task, scope) => {
        tasks.push(`${task.workflow} ${task.step}`);
        return executeTask(worker, task, scope);
      },
    };
    const app = make(runtime);
    const h = app.run();
    expect(await h).toEqual(["pricing", "shipping"]);
    expect(h.state).toEqual({ "shop.Pricing/n": 1, "shop.Shipping/n": 2 });
    expect(tasks).toEqual(["shop.Pricing price", "shop.Shipping ship", "done finish"]);
  });
});

describe("a step with a step timeout, doing many things at once on its attempt's signal", () => {
  it("20 calls, 20 waits and 20 child runs at once put one abort listener on ctx.signal, not one each (no MaxListenersExceededWarning); the step's timeout still ends them all", async () => {
    const N = 20;
    class Ping extends Event<{ i: number }> {}
    let listeners = -1;
    let childrenCancelled = 0;
    const child = () =>
      new Workflow({ name: "Child", timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx: Context) => {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener("abort", () => {
            childrenCancelled++;
            reject(ctx.signal.reason as Error);
          }),
        );
      });
    const outcomes: string[] = [];
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const wf = new Workflow({ name: "W", timeout: 5 })
        .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: [Answer, Ping], timeout: 0.05 }, async function busy(_ev, ctx) {
          const all = [
            ...Array.from({ length: N }, (_, q) => ctx.call(new Ask({ q }), Answer)),
            ...Array.from({ length: N }, () => ctx.waitForEvent(Ping)),
            ...Array.from({ length: N }, () => ctx.runWorkflow(child())),
          ].map((p) => p.then(() => "done", (e: unknown) => (e as WorkflowRuntimeError).code));
          listeners = getEventListeners(ctx.signal, "abort").length;
          outcomes.push(...(await Promise.all(all)));
          throw new Error("timed out?");
        })
        .addStep({ accepts: Ask, emits: Answer, numWorkers: Infinity }, async function never() {
          await new Promise(() => {});
        });
      await expect(wf.run()).rejects.toThrow(/timed out after 0.05s/);
      await vi.waitFor(() => expect(outcomes).toHaveLength(3 * N));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", onWarning);
    }
    expect(listeners).toBeLessThanOrEqual(1);
    expect(warnings).toEqual([]);
    // The calls and waits fail with the step's timeout; the children are cancelled by it.
    expect(outcomes).toEqual([...Array<string>(2 * N).fill("TIMEOUT"), ...Array<string>(N).fill("CANCELLED")]);
    expect(childrenCancelled).toBe(N);
  });

  it("20 attempts with a step timeout reading ctx.signal at once put one abort listener on the run's signal, not one each", async () => {
    const N = 20;
    class Job extends Event<{ i: number }> {}
    let runSignal: AbortSignal | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: Job }, (_ev, ctx) => {
        runSignal = ctx.signal;
        return Array.from({ length: N }, (_, i) => new Job({ i }));
      })
      .addStep({ accepts: Job, emits: StopEvent, timeout: 5, numWorkers: Infinity }, async function job(ev, ctx) {
        void ctx.signal;
        await gate;
        if (ev.i === N - 1) return new StopEvent({ result: "ok" });
      });
    const h = wf.run();
    let seen = -1;
    await vi.waitFor(() => {
      seen = runSignal === undefined ? -1 : getEventListeners(runSignal, "abort").length;
      expect(seen).toBeGreaterThanOrEqual(0);
    });
    await new Promise((r) => setTimeout(r, 5));
    seen = getEventListeners(runSignal as AbortSignal, "abort").length;
    release();
    expect(await h).toBe("ok");
    expect(seen).toBe(1);
  });
});

describe("handler.inspect on a run with nested child runs", () => {
  class Deep extends Workflow<{ d: number }, number> {
    constructor() {
      super({ name: "Deep", timeout: null });
      this.addStep({ accepts: StartEvent, emits: StopEvent }, async function go(ev: StartEvent<{ d: number }>, ctx) {
        if (ev.d === 0) return new StopEvent({ result: 0 });
        const below: number = await ctx.runWorkflow(Deep, { d: ev.d - 1 });
        return new StopEvent({ result: 1 + below });
      });
    }
  }

  it("sees the runs of every depth, not only its children's", async () => {
    const h = new Deep().run({ d: 3 });
    const started: (string | undefined)[] = [];
    void h.inspect((e) => {
      if (e.kind === "run_started") started.push(e.parentRunId);
    });
    expect(await h).toBe(3);
    expect(started).toHaveLength(4);
    expect(new Set(started).size).toBe(4); // the top run, and three parents
  });
});

describe("the timeout of ctx.call and ctx.waitForEvent", () => {
  const tried = (timeout: unknown, how: "call" | "wait") =>
    new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function asker(_ev, ctx) {
        const options = { timeout } as { timeout: number };
        const p = how === "call" ? ctx.call(new Ask({ q: 1 }), Answer, options) : ctx.waitForEvent(Answer, options);
        return new StopEvent({ result: await p.then((a) => a.a, (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`) });
      })
      .addStep({ accepts: Ask, emits: Answer }, async (ev) => {
        await new Promise((r) => setTimeout(r, 5));
        return new Answer({ a: ev.q });
      })
      .run();

  it.each([-1, Number.NaN, "10"])("refuses %s, naming it, instead of timing out at once or taking a string", async (bad) => {
    for (const how of ["call", "wait"] as const) {
      const what = how === "call" ? "ctx.call" : "ctx.waitForEvent";
      expect(await tried(bad, how)).toBe(`TypeError: ${what}'s timeout is in seconds and must be a number ≥ 0 or null, got ${typeof bad === "string" ? `string "${bad}"` : `number ${String(bad)}`}.`);
    }
  });

  it("takes a number, null or nothing", async () => {
    expect(await tried(5, "call")).toBe(1);
    expect(await tried(null, "call")).toBe(1);
    expect(await tried(undefined, "call")).toBe(1);
  });
});

describe("ctx.call with a reply type that is not an event class", () => {
  it("fails the call naming it, not the step handling the request", async () => {
    let handled = 0;
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function asker(_ev, ctx) {
        const p = ctx.call(new Ask({ q: 1 }), "Answer" as unknown as typeof Answer);
        return new StopEvent({ result: await p.then(() => "answered", (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`) });
      })
      .addStep({ accepts: Ask, emits: Answer }, async function oracle(ev) {
        handled++;
        return new Answer({ a: ev.q });
      });
    expect(await wf.run()).toBe('TypeError: ctx.call\'s reply type must be an event class, got string "Answer".');
    expect(handled).toBe(0);
  });
});

describe("ctx.waitForEvent with a type that is not an event class", () => {
  it("fails the wait naming it, not the step whose event arrives next", async () => {
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [Go, StopEvent], waitsFor: Answer }, async function waiter(_ev, ctx) {
        ctx.sendEvent(new Go({ x: 1 }));
        const p = ctx.waitForEvent("Answer" as unknown as typeof Answer);
        return new StopEvent({ result: await p.then(() => "answered", (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`) });
      })
      .addStep({ accepts: Go, emits: Answer }, async (ev) => {
        await Promise.resolve();
        return new Answer({ a: ev.x });
      });
    expect(await wf.run()).toBe('TypeError: ctx.waitForEvent takes an event class, got string "Answer".');
  });
});

describe("waits by requirements for events that came before them", () => {
  /** A field value whose JSON is counted: each comparison of an event by requirements makes it once. */
  let made = 0;
  class Id {
    constructor(readonly n: number) {}
    toJSON() {
      made++;
      return this.n;
    }
  }
  class Req extends Event<{ n: number }> {}
  class Rep extends Event<{ id: Id }> {}

  it("W replies that came in reverse order, awaited one by one by id, are compared O(W) times, not O(W²)", async () => {
    const W = 2000;
    made = 0;
    const wf = new Workflow({ name: "W", timeout: null })
      .addStep({ accepts: StartEvent, emits: [Req, StopEvent], waitsFor: Rep }, async function gather(_ev, ctx) {
        ctx.sendEvent(new Req({ n: W }));
        let sum = 0;
        for (let id = 0; id < W; id++) sum += (await ctx.waitForEvent(Rep, { requirements: { id: id as unknown as Id } })).id.n;
        return new StopEvent({ result: sum });
      })
      .addStep({ accepts: Req, emits: Rep }, (ev) => Array.from({ length: ev.n }, (_, i) => new Rep({ id: new Id(ev.n - 1 - i) })));
    expect(await wf.run()).toBe((W * (W - 1)) / 2);
    expect(made).toBeLessThanOrEqual(4 * W);
  });
});

describe("App validation of what its members bring", () => {
  const Counter = z.object({ count: z.number().default(0) });
  const counter = () =>
    new Workflow<Record<string, never>, number, z.infer<typeof Counter>>({ name: "Counter", state: Counter }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      await ctx.store.edit((s) => {
        s.count += 1;
      });
      return new StopEvent({ result: ctx.store.get("count") });
    });

  it("refuses a member with a state schema, naming it, instead of running its steps on untyped state without defaults", async () => {
    expect(await counter().run({})).toBe(1);
    const app = new App({ workflows: [counter()] });
    const err = (await app.run({}).catch((e: unknown) => e)) as WorkflowValidationError;
    expect(err).toBeInstanceOf(WorkflowValidationError);
    expect(err.message).toContain('App member "Counter" has a state schema, which an App does not apply');
  });

  it("refuses one instance added twice under two names, instead of running each of its steps twice per event", async () => {
    let ran = 0;
    const wf = new Workflow({ name: "Once" }).addStep({ accepts: StartEvent, emits: StopEvent }, () => {
      ran++;
      return new StopEvent({ result: ran });
    });
    const err = (await new App({ workflows: { a: wf, b: wf }, entry: "a" }).run().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(WorkflowValidationError);
    expect(err.message).toContain('App members "a" and "b" are the same workflow instance');
    expect(ran).toBe(0);
  });

  it("names a workflows option that is not a list or an object of members, instead of a TypeError from Object.entries", () => {
    for (const [given, shown] of [[undefined, "undefined"], [null, "null"], ["abc", 'string "abc"']] as const) {
      const app = new App({ workflows: given } as unknown as ConstructorParameters<typeof App>[0]);
      expect(() => app.validate()).toThrow(`The App has no member workflows (workflows is ${shown}); pass workflows: [new SomeWorkflow(), ...].`);
    }
  });

  it("keeps the problems of an App's own options when that App is a member of another", () => {
    const inner = new App({ workflows: { a: new Workflow({ name: "A" }), b: "not a workflow" as unknown as Workflow } });
    const outer = new App({ workflows: { inner, done: new Workflow({ name: "Done" }).addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 })) } });
    expect(() => outer.validate()).toThrow('In App member "inner": App member "b" is not a Workflow instance');
  });
});
