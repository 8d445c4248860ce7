import { describe, expectTypeOf, it } from "vitest";
import { Context, Event, StartEvent, StopEvent, Workflow, WorkflowHandler, step } from "../../src/index.js";

class A extends Event<{ a: string }> {}
class B extends Event<{ b: number }> {}
class C extends Event<{ c: boolean }> {}
interface Input {
  stock: string;
}

// These assertions are checked by `npm run typecheck` (tsc); at run time they are no-ops.
describe("types", () => {
  it("types event fields as properties", () => {
    expectTypeOf(new A({ a: "x" }).a).toEqualTypeOf<string>();
    expectTypeOf(new StartEvent<Input>({ stock: "X" }).stock).toEqualTypeOf<string>();
    // @ts-expect-error -- a missing field is a compile error
    new B({});
  });

  it("types a handler's event as the union of its accepted classes", () => {
    new Workflow().addStep({ accepts: [A, B], emits: C }, async (ev, ctx) => {
      expectTypeOf(ev).toEqualTypeOf<A | B>();
      expectTypeOf(ctx).toEqualTypeOf<Context>();
      return new C({ c: true });
    });
  });

  it("types collectEvents as the tuple of the listed classes, or null", () => {
    new Workflow().addStep({ accepts: [A, B, C] }, async (ev, ctx) => {
      const r = ctx.collectEvents(ev, [A, B, C]);
      expectTypeOf(r).toEqualTypeOf<[A, B, C] | null>();
    });
  });

  it("types waitForEvent's result", () => {
    new Workflow().addStep({ accepts: A }, async (_ev, ctx) => {
      expectTypeOf(await ctx.waitForEvent(B)).toEqualTypeOf<B>();
    });
  });

  it("resolves run() to the declared result type", () => {
    class Typed extends Workflow<Input, number> {
      @step({ accepts: StartEvent, emits: StopEvent })
      async go(ev: StartEvent<Input>) {
        return new StopEvent({ result: ev.stock.length });
      }
    }
    const h = new Typed().run({ stock: "AAPL" });
    expectTypeOf(h).toEqualTypeOf<WorkflowHandler<number>>();
    expectTypeOf(h).resolves.toEqualTypeOf<number>();
    // @ts-expect-error -- input must match the declared input type
    void new Typed().run({ stok: "AAPL" }).catch(() => {});
  });

  it("refuses a decorated method whose return type its emits does not allow", () => {
    class W extends Workflow {
      // @ts-expect-error -- returns a string, not an event
      @step({ accepts: StartEvent, emits: StopEvent })
      async bad() {
        return "nope";
      }

      // @ts-expect-error -- emits nothing, so it may not return an event
      @step({ accepts: A })
      async silent() {
        return new B({ b: 1 });
      }
    }
    void W;
  });
});

describe("types of composition", () => {
  it("types ctx.runWorkflow's result from the child's declared result, and ctx.call's reply", () => {
    class Child extends Workflow<{ n: number }, number> {}
    new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
      expectTypeOf(await ctx.runWorkflow(Child, { n: 1 })).toEqualTypeOf<number>();
      expectTypeOf(await ctx.runWorkflow(new Child(), { n: 1 })).toEqualTypeOf<number>();
      // @ts-expect-error -- the child's input type is checked
      void ctx.runWorkflow(Child, { m: 1 });
      expectTypeOf(await ctx.call(new A({ a: "x" }), B)).toEqualTypeOf<B>();
      return new StopEvent({ result: 1 });
    });
  });
});
