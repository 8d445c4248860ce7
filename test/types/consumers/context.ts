// The ctx API a step sees.
import { Context, Event, StartEvent, StopEvent, Workflow, step, type RunState } from "stepwise-ai";
import { assertType } from "./assert.js";

class Ping extends Event<{ n: number }> {}
class Pong extends Event<{ n: number }> {}
class Progress extends Event<{ percent: number }> {}

export class Child extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(ev: StartEvent<{ n: number }>) {
    return new StopEvent({ result: ev.n * 2 });
  }
}

export class Parent extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: [Ping, StopEvent], waitsFor: Pong, calls: Child })
  async start(ev: StartEvent<{ n: number }>, ctx: Context) {
    assertType<string>()(ctx.runId);
    assertType<string>()(ctx.stepRunId);
    assertType<string>()(ctx.stepName);
    assertType<number>()(ctx.attempt);
    assertType<AbortSignal>()(ctx.signal);
    assertType<RunState>()(ctx.store);

    ctx.store.set("seen", 1);
    assertType<number>()(ctx.store.get("seen", 0));
    assertType<number | undefined>()(ctx.store.get<number>("seen"));
    assertType<boolean>()(ctx.store.has("seen"));

    ctx.writeEventToStream(new Progress({ percent: 50 }));
    ctx.sendEvent(new Ping({ n: ev.n }), { step: "pong" });
    const pong = await ctx.waitForEvent(Pong, { filter: (p) => p.n === ev.n, timeout: 5 });
    assertType<Pong>()(pong);
    const reply = await ctx.call(new Ping({ n: 1 }), Pong, { timeout: 5 });
    assertType<Pong>()(reply);
    const doubled = await ctx.runWorkflow(Child, { n: pong.n });
    assertType<number>()(doubled);

    // @ts-expect-error -- only events can be sent
    ctx.sendEvent({ n: 1 });
    // @ts-expect-error -- the child's input is checked
    void ctx.runWorkflow(Child, { m: 1 });
    // @ts-expect-error -- waitForEvent takes an event class
    void ctx.waitForEvent("Pong");
    return new StopEvent({ result: doubled });
  }

  @step({ accepts: Ping, emits: Pong })
  async pong(ev: Ping) {
    return new Pong({ n: ev.n });
  }
}
