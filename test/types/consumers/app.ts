// App: independent workflows joined into one event space.
import { App, Event, StartEvent, StopEvent, Workflow, WorkflowHandler, step, type Context } from "stepwise-ai";
import { assertType } from "./assert.js";

class Order extends Event<{ sku: string; quantity: number }> {}
class Quote extends Event<{ price: number }> {}

export class Shop extends Workflow<{ sku: string }, number> {
  @step({ accepts: StartEvent, emits: Order })
  async order(ev: StartEvent<{ sku: string }>) {
    return new Order({ sku: ev.sku, quantity: 1 });
  }

  @step({ accepts: Quote, emits: StopEvent })
  async done(ev: Quote) {
    return new StopEvent({ result: ev.price });
  }
}

export class Pricing extends Workflow {
  @step({ accepts: Order, emits: Quote })
  async price(ev: Order, _ctx: Context) {
    return new Quote({ price: ev.quantity * 10 });
  }
}

export const app = new App<{ sku: string }, number>({ workflows: [new Shop(), new Pricing()], timeout: 10, entry: "Shop" });
export const named = new App({ workflows: { shop: new Shop(), pricing: new Pricing() } });

const handler = app.run({ sku: "X" });
assertType<WorkflowHandler<number>>()(handler);
assertType<ReadonlyMap<string, Workflow>>()(named.members);
// @ts-expect-error -- members are instances
new App({ workflows: [Shop] });
