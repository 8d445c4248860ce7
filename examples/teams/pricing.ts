/** The pricing team: answers quote requests. */
import { Workflow, step } from "stepwise-ai";
import { QuoteReply, QuoteRequest } from "./events.js";

const PRICES: Record<string, number> = { "book-42": 12.5, "mug-7": 8 };

export class Pricing extends Workflow {
  @step({ accepts: QuoteRequest, emits: QuoteReply })
  async quote(ev: QuoteRequest) {
    const unit = PRICES[ev.sku];
    if (unit === undefined) throw new Error(`no price for "${ev.sku}"`);
    return new QuoteReply({ sku: ev.sku, total: unit * ev.quantity });
  }
}
