// Branching and looping steps, as a new user writes them in the first hour (issue 12.1).
import { Event, StartEvent, StopEvent, Workflow, step, type Context } from "stepwise-ai";
import { assertType } from "./assert.js";

class GetSentiment extends Event<{ stock: string }> {}
class Buy extends Event<{ stock: string }> {}
class Sell extends Event<{ stock: string }> {}
class Loop extends Event<{ cycle: number }> {}

export class TradeMonitor extends Workflow<{ stock: string }, string> {
  cycles = 0;

  @step({ accepts: [StartEvent, Loop], emits: [GetSentiment, StopEvent] })
  async begin(ev: StartEvent<{ stock: string }> | Loop, _ctx: Context) {
    if (ev instanceof Loop && ev.cycle >= 2) return new StopEvent({ result: "done" });
    return new GetSentiment({ stock: "AAPL" });
  }

  @step({ accepts: GetSentiment, emits: [Buy, Sell] })
  async sentiment(ev: GetSentiment) {
    return ev.stock.length > 3 ? new Buy({ stock: ev.stock }) : new Sell({ stock: ev.stock });
  }

  @step({ accepts: [Buy, Sell], emits: Loop })
  async trade(ev: Buy | Sell) {
    assertType<Buy | Sell>()(ev);
    return new Loop({ cycle: ++this.cycles });
  }

  // @ts-expect-error -- Loop is not in emits
  @step({ accepts: GetSentiment, emits: [Buy] })
  async undeclared(ev: GetSentiment) {
    return new Loop({ cycle: ev.stock.length });
  }

  // Buy and Sell have the same fields, so TypeScript's structural types cannot tell them
  // apart: this compiles, and the run fails with UNDECLARED_EVENT instead.
  @step({ accepts: GetSentiment, emits: [Buy] })
  async sameShape(ev: GetSentiment) {
    return new Sell({ stock: ev.stock });
  }
}

// The same loop with addStep: the handler's event and result are checked from the options.
export const looped = new Workflow<{ stock: string }, string>().addStep(
  { accepts: [StartEvent, Loop], emits: [Loop, StopEvent] },
  async (ev) => (ev instanceof Loop && ev.cycle > 2 ? new StopEvent({ result: "done" }) : new Loop({ cycle: 1 })),
);

// A step that only stops compiles everywhere.
export const single = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async () => new StopEvent({ result: 1 }));

// @ts-expect-error -- a string is not an event
new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async () => "done");
