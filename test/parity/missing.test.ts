/**
 * What LlamaIndex Workflows had and stepwise lacked (issue 12.10–12.16), ported from
 * run-llama/workflows-py tests/test_workflow_typed_state.py, tests/test_resources.py and the
 * issue's own cases, through the typed API (docs/coming-from-llamaindex.md lists it).
 */
import { describe, expect, it } from "vitest";
import { App, createWorkflow, describeWorkflow, Event, HumanResponseEvent, MemoryStore, StartEvent, StateValidationError, suspendRun, StopEvent, TestClock, Workflow, WorkflowTimeoutError, provide, resource, step } from "stepwise-ai";
import { z } from "zod";

import { flowGraph, toMermaid } from "stepwise-ai/draw";
import { gate, tick } from "./helpers.js";


class WorkerEvent extends Event {}
class ResultEvent extends Event {}
class GatherEvent extends Event {}
class SecondEvent extends Event<{ msg: string }> {}

describe("LlamaIndex parity: test_workflow_typed_state.py (12.11)", () => {
  const MyState = z.object({ name: z.string().default("Jane"), age: z.number().default(25) });

  it("[12.11] test_typed_state: a state schema gives defaults; set, getState and setState; the final state is on the handler", async () => {
    const wf = new Workflow({ state: MyState }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      const store = ctx.store;
      expect(store.getState()).toEqual({ name: "Jane", age: 25 });
      store.set("name", "John");
      store.set("age", 30);
      const state = store.getState();
      state.age += 1;
      store.setState(state);
      return new StopEvent({});
    });
    const handler = wf.run();
    await handler;
    expect(handler.state).toEqual({ name: "John", age: 31 });
  });

  it("[12.11] test_typed_state_with_context_manager: ctx.store.edit() is atomic across concurrent steps", async () => {
    const wf = new Workflow({ state: z.object({ val: z.number().default(0) }) })
      .addStep({ accepts: StartEvent, emits: [WorkerEvent, GatherEvent] }, async function init(_ev, ctx) {
        for (let i = 0; i < 10; i++) ctx.sendEvent(new WorkerEvent());
        return new GatherEvent();
      })
      .addStep({ accepts: WorkerEvent, emits: ResultEvent, numWorkers: 10 }, async function worker(_ev, ctx) {
        await ctx.store.edit(async (state) => {
          state.val += 1;
          await tick();
          if (state.val % 2 === 0) state.val -= 1;
        });
        return new ResultEvent();
      })
      .addStep({ accepts: [GatherEvent, ResultEvent], emits: StopEvent }, async function gather(ev, ctx) {
        const results = ctx.collectEvents(ev, [GatherEvent, ...Array.from({ length: 10 }, () => ResultEvent)]);
        return results === null ? undefined : new StopEvent({ result: ctx.store.getState().val });
      });
    expect(await wf.run()).toBe(1);
  });

  it("[12.11] dotted paths, initial state from run(input, { state }), refused when the schema refuses it", async () => {
    const wf = new Workflow({ state: z.object({ user: z.object({ name: z.string() }).default({ name: "?" }) }) }).addStep(
      { accepts: StartEvent, emits: StopEvent },
      async (_ev, ctx) => new StopEvent({ result: ctx.store.get("user.name") }),
    );
    expect(await wf.run({}, { state: { user: { name: "Ada" } } })).toBe("Ada");
    expect(await wf.run()).toBe("?");
    // @ts-expect-error -- the state's type comes from the schema
    await expect(wf.run({}, { state: { user: { name: 1 } } })).rejects.toThrow(StateValidationError);
    // @ts-expect-error -- checked at run time too, naming the path
    await expect(wf.run({}, { state: { user: { name: 1 } } })).rejects.toThrow(/"user\.name"/);
  });
});

describe("typed state: writes checked, edits serialized, resume (12.11)", () => {
  const Shape = z.object({ count: z.number().default(0), user: z.object({ name: z.string() }).default({ name: "?" }), tags: z.array(z.string()).default([]) });

  it("a write that does not fit the schema throws StateValidationError naming the path and changes nothing", async () => {
    const wf = new Workflow({ state: Shape }).addStep({ accepts: StartEvent, emits: StopEvent }, (_ev, ctx) => {
      ctx.store.set("user.name", "Ada");
      // @ts-expect-error -- a number is not a name
      expect(() => ctx.store.set("user.name", 5)).toThrow(/"user\.name"/);
      expect(() => ctx.store.setState({ count: -1, user: { name: "x" }, tags: [1 as unknown as string] })).toThrow(StateValidationError);
      const copy = ctx.store.get("user");
      copy.name = "changed through a copy";
      return new StopEvent({ result: ctx.store.getState() });
    });
    expect(await wf.run()).toEqual({ count: 0, user: { name: "Ada" }, tags: [] });
  });

  it("an edit that throws leaves the state as it was and the next edit still runs", async () => {
    const wf = new Workflow({ state: Shape }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      await expect(
        ctx.store.edit((s) => {
          s.count = 99;
          throw new Error("no");
        }),
      ).rejects.toThrow("no");
      const r = await ctx.store.edit((s) => {
        s.tags.push("a");
        return s.tags.length;
      });
      return new StopEvent({ result: [r, ctx.store.getState()] });
    });
    expect(await wf.run()).toEqual([1, { count: 0, user: { name: "?" }, tags: ["a"] }]);
  });

  it("the typed state, defaults included, survives a suspend and resume", async () => {
    const store = new MemoryStore();
    const build = () =>
      new Workflow<Record<string, never>, unknown, z.infer<typeof Shape>>({ state: Shape, store, timeout: null })
        .addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async function ask(_ev, ctx) {
          await ctx.store.edit((s) => {
            s.count += 1;
          });
          const answer = await ctx.waitForEvent(HumanResponseEvent);
          ctx.store.set("user.name", String(answer.response));
          return new StopEvent({ result: ctx.store.getState() });
        });
    const handler = build().run();
    for (let i = 0; i < 5; i++) await tick();
    await suspendRun(handler);
    await handler.catch(() => {});
    const resumed = build().sendEvent(handler.runId, new HumanResponseEvent({ response: "Ada" }));
    // The step runs again after the resume (it was waiting), so its edit counts twice; the default tags came from the journal.
    expect(await resumed).toEqual({ count: 2, user: { name: "Ada" }, tags: [] });
    expect(resumed.state).toEqual({ count: 2, user: { name: "Ada" }, tags: [] });
  });

  it("a state option that is not a Standard Schema is a TypeError; without a schema a non-object state is refused", async () => {
    expect(() => new Workflow({ state: { parse: () => ({}) } as never })).toThrow(/Standard Schema/);
    const plain = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({}));
    await expect(plain.run({}, { state: [] as never })).rejects.toThrow(/takes an object of state keys, got an array/);
  });
});

describe("LlamaIndex parity: test_resources.py (12.15)", () => {
  it("[12.15] test_resource / test_resource_async: a step gets what it declares from a factory, sync or async", async () => {
    const memory = { put: [] as string[] };
    const getMemory = resource(async () => memory);
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: SecondEvent }, async function start_step() {
        return new SecondEvent({ msg: "Hello" });
      })
      .addStep({ accepts: SecondEvent, emits: StopEvent, resources: { memory: getMemory } }, async function f1(ev, _ctx, res) {
        res.memory.put.push(ev.msg);
        return new StopEvent({});
      });
    await wf.run();
    expect(memory.put).toEqual(["Hello"]);
  });

  it("[12.15] test_caching_behavior / test_non_caching_behavior: one instance per run shared by steps, or a fresh one per invocation", async () => {
    class CounterThing {
      counter = 0;
    }
    const shared = resource(() => new CounterThing());
    const fresh = resource(() => new CounterThing(), { scope: "invocation" });
    const seen: number[] = [];
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: SecondEvent, resources: { c: shared, f: fresh } }, async function test_step(_ev, _ctx, r) {
        r.c.counter++;
        r.f.counter++;
        return new SecondEvent({ msg: "" });
      })
      .addStep({ accepts: SecondEvent, emits: StopEvent, resources: { c: shared, f: fresh } }, async function test_step_2(_ev, _ctx, r) {
        seen.push(++r.c.counter, ++r.f.counter);
        return new StopEvent({});
      });
    await wf.run();
    await wf.run();
    expect(seen).toEqual([2, 1, 2, 1]);
  });

  it("[12.15] a resource is replaceable in tests, and the seed's trade station is handed in as one", async () => {
    class TradeStation extends Workflow<{ stock: string }, string> {
      @step({ accepts: StartEvent, emits: StopEvent })
      async trade(ev: StartEvent<{ stock: string }>) {
        return new StopEvent({ result: `traded ${ev.stock}` });
      }
    }
    const station = resource((): TradeStation => new TradeStation({ timeout: 10 }), { scope: "workflow", name: "tradeStation" });
    const monitor = () =>
      new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, resources: { station } }, async (_ev, ctx, r) => new StopEvent({ result: await ctx.runWorkflow(r.station, { stock: "AAPL" }) }));
    expect(await monitor().run()).toBe("traded AAPL");
    class FakeStation extends Workflow<{ stock: string }, string> {
      @step({ accepts: StartEvent, emits: StopEvent })
      async trade() {
        return new StopEvent({ result: "fake" });
      }
    }
    expect(await monitor().run({}, { resources: [provide(station, new FakeStation())] })).toBe("fake");
  });

  it("[12.15] scope workflow: one value per workflow instance, shared by its runs; a new instance makes its own", async () => {
    let made = 0;
    const pool = resource(() => ({ id: ++made }), { scope: "workflow" });
    const build = () => new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, resources: { pool } }, (_ev, _ctx, r) => new StopEvent({ result: r.pool.id }));
    const a = build();
    expect([await a.run(), await a.run()]).toEqual([1, 1]);
    expect(await build().run()).toBe(2);
    expect(made).toBe(2);
  });

  it("[12.15] an async run-scoped factory is called once even when steps need it at the same time; a failing factory fails the step and is tried again", async () => {
    let calls = 0;
    const slow = resource(async () => {
      calls++;
      await tick();
      return { n: calls };
    });
    class Go extends Event<{ i: number }> {}
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: Go }, (_ev, ctx) => {
        for (let i = 0; i < 3; i++) ctx.sendEvent(new Go({ i }));
      })
      .addStep({ accepts: Go, emits: StopEvent, resources: { slow }, numWorkers: 3 }, (ev, ctx, r) => {
        const all = ctx.collectEvents(ev, [Go, Go, Go]);
        return all === null ? undefined : new StopEvent({ result: r.slow.n });
      });
    expect(await wf.run()).toBe(1);
    expect(calls).toBe(1);
    let tries = 0;
    const flaky = resource(() => {
      if (++tries === 1) throw new Error("no connection");
      return "connected";
    });
    const retried = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, resources: { flaky }, retry: { maxAttempts: 2 } }, (_ev, _ctx, r) => new StopEvent({ result: r.flaky }));
    expect(await retried.run()).toBe("connected");
    const failing = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, resources: { bad: resource(() => Promise.reject(new Error("down"))) } }, () => new StopEvent({}));
    await expect(failing.run()).rejects.toMatchObject({ code: "STEP_FAILED", cause: { message: "down" } });
  });

  it("[12.15] bad input: a resources entry not made with resource(), a bad scope, a bad provide", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, resources: { llm: (() => 1) as never } }, () => new StopEvent({}));
    expect(() => wf.validate()).toThrow(/resources\.llm is function.*not made with resource\(factory\)/);
    expect(() => resource(() => 1, { scope: "forever" as never })).toThrow(/scope must be "run", "invocation" or "workflow"/);
    expect(() => resource(42 as never)).toThrow(/factory must be a function/);
    const ok = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 }));
    await expect(ok.run({}, { resources: [{ value: 1 } as never] })).rejects.toThrow(/item 0 .*not provide\(resource, value\)/);
  });

  it("[12.15] a step's resources are listed in the drawing model, under the step", () => {
    const llm = resource(() => ({}), { name: "openai" });
    const memory = resource(() => [], { scope: "invocation" });
    const wf = new Workflow({ name: "Drawn" }).addStep({ accepts: StartEvent, emits: StopEvent, resources: { llm, memory } }, function answer() {
      return new StopEvent({});
    });
    const node = flowGraph("g", "Drawn", [{ name: "Drawn", description: describeWorkflow(wf) }], false).nodes.find((n) => n.label === "answer");
    expect(node?.details).toEqual(["uses llm: openai (run)", "uses memory (invocation)"]);
    expect(toMermaid(wf)).toContain("uses llm: openai (run)");
  });

  it("[12.15] a step with resources on a runtime's worker fails the run at once, naming the step", async () => {
    let executed = 0;
    const runtime = { execute: () => ((executed++, Promise.reject(new Error("not reached")))) };
    const wf = new Workflow({ runtime }).addStep({ accepts: StartEvent, emits: StopEvent, resources: { llm: resource(() => 1) }, retry: { maxAttempts: 3 } }, function remote() {
      return new StopEvent({});
    });
    await expect(wf.run()).rejects.toMatchObject({ code: "RESOURCES_ON_RUNTIME", step: "remote" });
    expect(executed).toBe(0);
  });

  it("[12.15] the function style: step(options, handler) with resources, typed", async () => {
    const greeting = resource(() => "hello");
    const greet = step({ accepts: StartEvent, emits: StopEvent, resources: { greeting } }, (ev: StartEvent<{ name: string }>, _ctx, r) => {
      // @ts-expect-error -- the value is typed from the factory: a string
      expect(typeof r.greeting.toFixed).toBe("undefined");
      return new StopEvent({ result: `${r.greeting} ${ev.name}` });
    });
    const wf = createWorkflow({ name: "Greeter", steps: { greet } });
    expect(await wf.run({ name: "Ada" })).toBe("hello Ada");
    expect(await wf.run({ name: "Bob" }, { resources: [provide(greeting, "hi")] })).toBe("hi Bob");
  });
});

describe("function-style API (12.14)", () => {
  it("[12.14] createWorkflow with step(options, handler) specs from other modules, no classes or decorators", async () => {
    class Second extends Event<{ payload: string }> {}
    // LlamaIndex.TS calls the step spec createStep; stepwise's is step(options, handler) (docs/coming-from-llamaindex.md).
    const start = step({ accepts: StartEvent, emits: Second }, async (ev: StartEvent<{ payload: string }>) => new Second({ payload: ev.payload }));
    const finish = step({ accepts: Second, emits: StopEvent }, async (ev: Second) => new StopEvent({ result: ev.payload }));
    const wf = createWorkflow({ name: "Simple", timeout: 10, steps: { start, finish } });
    expect(wf).toBeInstanceOf(Workflow);
    expect(await wf.run({ payload: "hello world" })).toBe("hello world");
  });
});

describe("errors and App (12.3, 12.10, 12.16)", () => {
  it("[12.3] @step under experimentalDecorators throws an error naming the tsconfig flag", () => {
    // What TypeScript's legacy decorators call: (prototype, name, descriptor), no context object.
    const legacy = step({ accepts: StartEvent, emits: StopEvent }) as unknown as (target: object, key: string, descriptor: PropertyDescriptor) => void;
    const method = () => new StopEvent({});
    expect(() => legacy({}, "go", { value: method })).toThrow(/experimentalDecorators/);
  });

  it("[12.10] the run-timeout error names the steps still active and what each waits for", async () => {
    const clock = new TestClock();
    const held = gate();
    const wf = new Workflow({ timeout: 5, clock })
      .addStep({ accepts: StartEvent, emits: [WorkerEvent, StopEvent], waitsFor: HumanResponseEvent }, async function approve(_ev, ctx) {
        ctx.sendEvent(new WorkerEvent());
        await ctx.waitForEvent(HumanResponseEvent);
        return new StopEvent({});
      })
      .addStep({ accepts: WorkerEvent }, async function slow() {
        await held.promise;
      });
    const settled = Promise.allSettled([wf.run()]);
    await clock.advance(5_000);
    const [outcome] = await settled;
    const reason = (outcome as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(WorkflowTimeoutError);
    expect(reason.message).toMatch(/approve.*HumanResponseEvent/);
    expect(reason.message).toMatch(/slow/);
    held.open();
  });

  it("[12.16] two App members that are plain new Workflow() get unique names; the App runs", async () => {
    class Order extends Event<{ n: number }> {}
    const shop = new Workflow().addStep({ accepts: StartEvent, emits: Order }, async () => new Order({ n: 2 }));
    const pricing = new Workflow().addStep({ accepts: Order, emits: StopEvent }, async (ev) => new StopEvent({ result: ev.n * 10 }));
    expect(await new App({ workflows: [shop, pricing] }).run()).toBe(20);
  });

  it("[12.16] members named with the name option are told apart today", async () => {
    class Order extends Event<{ n: number }> {}
    const shop = new Workflow({ name: "Shop" }).addStep({ accepts: StartEvent, emits: Order }, async () => new Order({ n: 2 }));
    const pricing = new Workflow({ name: "Pricing" }).addStep({ accepts: Order, emits: StopEvent }, async (ev) => new StopEvent({ result: ev.n * 10 }));
    expect(await new App({ workflows: [shop, pricing] }).run()).toBe(20);
  });
});
