import { describe, expect, it } from "vitest";
import {
  App,
  Context,
  Event,
  StartEvent,
  step,
  StopEvent,
  streamOrigin,
  TestClock,
  Workflow,
  WorkflowCancelledError,
  WorkflowRuntimeError,
  WorkflowTimeoutError,
  WorkflowValidationError,
} from "../../src/index.js";
import { ComplexTradeMonitorV2 } from "../../examples/complex-trade-monitor-v2.js";
import { ComplexTradeMonitorV3, TradeStation as TradeStationV3, tradingApp } from "../../examples/complex-trade-monitor-v3.js";
import { StockTrader } from "../../examples/shared.js";
import { TradeStation } from "../../examples/trade-station.js";
import { shop } from "../../examples/teams/app.js";
import { Pricing } from "../../examples/teams/pricing.js";
import { Shipping } from "../../examples/teams/shipping.js";

class Note extends Event<{ text: string }> {}
const tick = () => new Promise((r) => setImmediate(r));
const quiet = () => {};
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

class Child extends Workflow<{ n: number }, number> {
  runs = 0;
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(ev: StartEvent<{ n: number }>, ctx: Context) {
    this.runs++;
    ctx.writeEventToStream(new Note({ text: `child got ${ev.n}` }));
    return new StopEvent({ result: ev.n * 2 });
  }
}

class Parent extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(ev: StartEvent<{ n: number }>, ctx: Context) {
    ctx.writeEventToStream(new Note({ text: "parent" }));
    const doubled = await ctx.runWorkflow(Child, { n: ev.n });
    return new StopEvent({ result: doubled + 1 });
  }
}

describe("nested runs", () => {
  it("runs a child by class, using the instance added with addWorkflows", async () => {
    const child = new Child();
    const parent = new Parent().addWorkflows({ child });
    expect(await parent.run({ n: 5 })).toBe(11);
    expect(child.runs).toBe(1);
  });

  it("makes a child instance when none was added", async () => {
    expect(await new Parent().run({ n: 1 })).toBe(3);
  });

  it("runs a child given as an instance", async () => {
    const child = new Child();
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => new StopEvent({ result: await ctx.runWorkflow(child, { n: 4 }) }));
    expect(await wf.run()).toBe(8);
    expect(child.runs).toBe(1);
  });

  it("sends the child's streamed events to the parent's stream, marked with the child's run id", async () => {
    const runIds: string[] = [];
    const h = new Parent().run({ n: 2 }).inspect((e) => {
      if (e.kind === "run_started") runIds.push(e.runId);
    });
    const got: [string, string | undefined][] = [];
    for await (const ev of h.streamEvents()) {
      if (ev instanceof Note) got.push([ev.text, streamOrigin(ev)?.workflow]);
      if (ev instanceof Note && streamOrigin(ev)) expect(streamOrigin(ev)?.runId).toBe(runIds[1]);
    }
    expect(got).toEqual([
      ["parent", undefined],
      ["child got 2", "Child"],
    ]);
    expect(runIds).toHaveLength(2);
    expect(runIds[0]).toBe(h.runId);
  });

  it("runs children of children", async () => {
    class Grand extends Workflow<{ n: number }, number> {
      @step({ accepts: StartEvent, emits: StopEvent })
      async go(ev: StartEvent<{ n: number }>, ctx: Context) {
        return new StopEvent({ result: (await ctx.runWorkflow(Parent, { n: ev.n })) * 10 });
      }
    }
    const h = new Grand().run({ n: 1 });
    const notes: string[] = [];
    for await (const ev of h.streamEvents()) if (ev instanceof Note) notes.push(`${streamOrigin(ev)?.workflow}:${ev.text}`);
    expect(await h).toBe(30);
    expect(notes).toEqual(["Parent:parent", "Child:child got 1"]);
  });

  it("cancelling the parent cancels a running child", async () => {
    let childSignal: AbortSignal | undefined;
    class Slow extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      async wait(_ev: StartEvent, ctx: Context) {
        childSignal = ctx.signal;
        await new Promise((r) => ctx.signal.addEventListener("abort", r));
        return new StopEvent();
      }
    }
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      await ctx.runWorkflow(Slow);
      return new StopEvent();
    });
    const h = wf.run();
    while (!childSignal) await tick();
    h.cancel();
    await expect(h).rejects.toBeInstanceOf(WorkflowCancelledError);
    expect(childSignal.aborted).toBe(true);
    expect(childSignal.reason).toBeInstanceOf(WorkflowCancelledError);
  });

  it("the parent's timeout reaches the child", async () => {
    const clock = new TestClock();
    let childSignal: AbortSignal | undefined;
    const slow = new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      childSignal = ctx.signal;
      await new Promise(() => {});
    });
    const wf = new Workflow({ clock, timeout: 3 }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => new StopEvent({ result: await ctx.runWorkflow(slow) }));
    const h = wf.run();
    const caught = h.catch((e: unknown) => e);
    await clock.advance(3000);
    expect(await caught).toBeInstanceOf(WorkflowTimeoutError);
    expect(childSignal?.aborted).toBe(true);
  });

  it("a child's failure surfaces as the parent step's error with both run ids", async () => {
    let childRunId = "";
    const failing = new Workflow({ name: "Failing" }).addStep({ accepts: StartEvent, emits: StopEvent }, async function explode(_ev, ctx) {
      childRunId = ctx.runId;
      throw new Error("broker down");
    });
    const wf = new Workflow({ name: "Caller" }).addStep({ accepts: StartEvent, emits: StopEvent }, async function delegate(_ev, ctx) {
      return new StopEvent({ result: await ctx.runWorkflow(failing) });
    });
    const h = wf.run();
    const err = (await h.catch((e: unknown) => e)) as WorkflowRuntimeError;
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err.step).toBe("delegate");
    expect(err.runId).toBe(h.runId);
    const cause = err.cause as WorkflowRuntimeError;
    expect(cause.code).toBe("CHILD_FAILED");
    expect(cause.runId).toBe(childRunId);
    expect(err.message).toBe(`Step "delegate" of workflow "Caller" failed: Child workflow "Failing" (run "${childRunId}") failed: Step "explode" of workflow "Failing" failed: broker down`);
    expect((cause.cause as WorkflowRuntimeError).step).toBe("explode");
  });

  it("rejects a target that is not a workflow", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => new StopEvent({ result: await ctx.runWorkflow({} as never) }));
    await expect(wf.run()).rejects.toThrow(/ctx.runWorkflow\(\) takes a Workflow class or instance, got an object/);
    expect(() => new Workflow().addWorkflows({ x: {} as never })).toThrow(/"x" is an object \(Object\), not a Workflow instance/);
  });

  it("runs the seed's ComplexTradeMonitorV2 with its nested TradeStation", async () => {
    const trader = new StockTrader(0, quiet);
    const monitor = new ComplexTradeMonitorV2({ random: sequence(0.5, 0.5, 0.5, 0.9, 0.9, 0.9), speed: 0.001, log: quiet, timeout: 10 });
    monitor.addWorkflows({ tradeStation: new TradeStation({ trader, log: quiet, timeout: 10 }) });
    expect(await monitor.run({ payload: "NVDA" })).toBe("We are done for the day.");
    expect(trader.orders).toEqual(["buy NVDA"]);
  });
});

describe("App", () => {
  it("fails validation for ComplexTradeMonitorV3 alone, naming TradeEventV2", () => {
    const err = (() => {
      try {
        new ComplexTradeMonitorV3().validate();
      } catch (e) {
        return e as WorkflowValidationError;
      }
    })();
    expect(err).toBeInstanceOf(WorkflowValidationError);
    expect(err?.problems).toEqual(expect.arrayContaining([expect.stringMatching(/emits TradeEventV2, which no step accepts/), "No step emits StopEvent, so a run could never end."]));
  });

  it("joins ComplexTradeMonitorV3 and TradeStation so the monitor's event reaches the station", async () => {
    const trader = new StockTrader(0, quiet);
    const monitor = new ComplexTradeMonitorV3({ random: sequence(0.5, 0.5, 0.5, 0.1, 0.1, 0.9), speed: 0.001, log: quiet });
    const app = tradingApp({ monitor, station: new TradeStationV3({ trader, log: quiet }) });
    expect(() => app.validate()).not.toThrow();
    const h = app.run({ payload: "AMD" });
    expect(await h).toBe("Done!");
    expect(trader.orders).toEqual(["sell AMD"]);
    expect(monitor.stock).toBe("AMD"); // each member keeps its own instance state
  });

  it("keeps a ctx.store namespace per member, with one run id and one stream", async () => {
    class Ping extends Event {}
    const seen: string[] = [];
    const a = new Workflow({ name: "A" }).addStep({ accepts: StartEvent, emits: Ping }, async (_ev, ctx) => {
      ctx.store.set("who", "a");
      seen.push(ctx.runId);
      ctx.writeEventToStream(new Note({ text: "from a" }));
      return new Ping();
    });
    const b = new Workflow({ name: "B" }).addStep({ accepts: Ping, emits: StopEvent }, async (_ev, ctx) => {
      seen.push(ctx.runId);
      ctx.writeEventToStream(new Note({ text: "from b" }));
      return new StopEvent({ result: [ctx.store.get("who", "unset"), ctx.store.has("who")] });
    });
    const h = new App({ workflows: [a, b] }).run();
    const notes: string[] = [];
    for await (const ev of h.streamEvents()) if (ev instanceof Note) notes.push(ev.text);
    expect(await h).toEqual(["unset", false]);
    expect(notes).toEqual(["from a", "from b"]);
    expect(seen).toEqual([h.runId, h.runId]);
  });

  it("refuses two members that accept StartEvent unless entry names one", async () => {
    const mk = (name: string) => new Workflow({ name }).addStep({ accepts: StartEvent, emits: StopEvent }, async () => new StopEvent({ result: name }));
    expect(() => new App({ workflows: [mk("One"), mk("Two")] }).validate()).toThrow(/Members "One" and "Two" all accept StartEvent; name the one that starts the App with entry: "One"/);
    expect(await new App({ workflows: [mk("One"), mk("Two")], entry: "Two" }).run()).toBe("Two");
    expect(() => new App({ workflows: [mk("One")], entry: "Nope" }).validate()).toThrow(/entry "Nope" is not a member of the App \(members: One\)/);
  });

  it("lists every problem of an invalid App graph", () => {
    class Orphan extends Event {}
    class Unused extends Event {}
    const a = new Workflow({ name: "A" }).addStep({ accepts: StartEvent, emits: Unused }, async () => {});
    const b = new Workflow({ name: "B" }).addStep({ accepts: Orphan, emits: StopEvent }, async () => {});
    const err = (() => {
      try {
        new App({ workflows: [a, b, a] }).validate();
      } catch (e) {
        return e as WorkflowValidationError;
      }
    })();
    expect(err?.problems).toEqual(
      expect.arrayContaining([
        'Two App members are named "A"; pass workflows as { someName: instance, otherName: instance }, or give each a name option.',
        expect.stringMatching(/Step "A\.step\d+" emits Unused, which no step accepts/),
        expect.stringMatching(/Step "B\.step\d+" accepts Orphan, which no step emits/),
      ]),
    );
    expect(() => new App({ workflows: [] }).validate()).toThrow(/The App has no member workflows/);
  });

  it("runs the teams example: three modules that share only events", async () => {
    const confirmed = (await shop().run({ orderId: "A-7", sku: "mug-7", quantity: 3, address: "2 Side St" })) as { result: unknown };
    expect(confirmed.result).toEqual({ orderId: "A-7", total: 24, trackingId: "TRK-A-7-1" });
  });
});

describe("ctx.call", () => {
  class Ask extends Event<{ q: number }> {}
  class Answer extends Event<{ a: number }> {}

  const asker = (calls: number, timeout?: number) =>
    new Workflow({ name: "Asker" }).addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async function ask(_ev, ctx) {
      const replies = await Promise.all(Array.from({ length: calls }, (_, q) => ctx.call(new Ask({ q }), Answer, timeout === undefined ? {} : { timeout })));
      return new StopEvent({ result: replies.map((r) => r.a) });
    });

  it("gives each of 1,000 concurrent calls its own reply", async () => {
    const answerer = new Workflow({ name: "Answerer" }).addStep({ accepts: Ask, emits: Answer }, async (ev) => {
      await new Promise((r) => setTimeout(r, ev.q % 3)); // replies come back out of order
      return new Answer({ a: ev.q * ev.q });
    });
    const result = await new App({ workflows: [asker(1000), answerer] }).run();
    expect(result).toEqual(Array.from({ length: 1000 }, (_, q) => q * q));
  });

  it("takes a reply sent with ctx.sendEvent, within one workflow", async () => {
    const wf = asker(3).addStep({ accepts: Ask, emits: Answer }, async (ev, ctx) => {
      ctx.sendEvent(new Answer({ a: -ev.q }));
    });
    expect(await wf.run()).toEqual([-0, -1, -2]);
  });

  it("fails clearly when nothing accepts the request", async () => {
    const wf = new Workflow({ validate: false }).addStep({ accepts: StartEvent, emits: [Ask, StopEvent] }, async function lonely(_ev, ctx) {
      await ctx.call(new Ask({ q: 1 }), Answer);
    });
    const err = (await wf.run().catch((e: unknown) => e)) as WorkflowRuntimeError;
    expect(err.code).toBe("UNKNOWN_STEP");
    expect(err.message).toBe('Step "lonely" called with Ask, which no step accepts.');
  });

  it("rejects the call when the handling step fails, and lets the caller recover", async () => {
    const wf = new Workflow({ name: "W" })
      .addStep({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async (_ev, ctx) => {
        try {
          await ctx.call(new Ask({ q: 1 }), Answer);
          return new StopEvent({ result: "no error?" });
        } catch (e) {
          return new StopEvent({ result: [(e as WorkflowRuntimeError).code, (e as Error).message] });
        }
      })
      .addStep({ accepts: Ask, emits: Answer }, async function oracle() {
        throw new Error("oracle offline");
      });
    expect(await wf.run()).toEqual(["CALL_FAILED", 'Step "oracle", handling Ask for ctx.call, failed: oracle offline']);
  });

  it("rejects the call when the handling step emits no reply", async () => {
    const wf = asker(1).addStep({ accepts: Ask, emits: Answer }, async function mute() {});
    await expect(wf.run()).rejects.toThrow(/Step "mute" handled Ask for ctx.call but emitted no Answer/);
  });

  it("times out a call", async () => {
    const clock = new TestClock();
    const wf = asker(1, 2)
      .addStep({ accepts: Ask, emits: Answer }, async function slow() {
        await new Promise(() => {});
      });
    const app = new App({ workflows: [wf], clock, timeout: null });
    const h = app.run();
    const caught = h.catch((e: unknown) => e);
    await clock.advance(2000);
    const err = (await caught) as WorkflowRuntimeError;
    expect(err.cause).toBeInstanceOf(WorkflowTimeoutError);
    expect((err.cause as Error).message).toBe('Step "Asker.ask" called with Ask and got no Answer within 2s.');
  });
});

describe("unbound steps across files", () => {
  it("registers steps on one class from several modules", async () => {
    const { Application } = await import("../fixtures/unbound/application.js");
    await import("../fixtures/unbound/greeting-team.js");
    await import("../fixtures/unbound/closing-team.js");
    expect(await new Application().run({ user: "ada" })).toBe("hello ada, goodbye");
  });

  it("the teams' workflows fail validation alone and pass together", () => {
    expect(() => new Pricing().validate()).toThrow(WorkflowValidationError);
    expect(() => new Shipping().validate()).toThrow(WorkflowValidationError);
    expect(() => shop().validate()).not.toThrow();
  });
});
