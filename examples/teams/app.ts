/** The composition root: the only place that knows all three teams. */
import { App } from "stepwise-ai";
import { isMain } from "../shared.js";
import { Orders } from "./orders.js";
import { Pricing } from "./pricing.js";
import { Shipping } from "./shipping.js";

export const shop = () => new App({ workflows: [new Orders(), new Pricing(), new Shipping()], timeout: 10 });

if (isMain(import.meta.url)) {
  const confirmed = await shop().run({ orderId: "A-1", sku: "book-42", quantity: 2, address: "1 Main St" });
  console.log((confirmed as { result: unknown }).result);
}
