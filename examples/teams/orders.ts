/** The orders team: takes an order, asks pricing and shipping, confirms. Imports neither team. */
import { Context, Workflow, step } from "stepwise-ai";
import { OrderConfirmed, OrderPlaced, QuoteReply, QuoteRequest, ShipmentBooked, ShipmentRequest } from "./events.js";

export class Orders extends Workflow {
  @step({ accepts: OrderPlaced, emits: [QuoteRequest, ShipmentRequest, OrderConfirmed], waitsFor: [QuoteReply, ShipmentBooked] })
  async placeOrder(ev: OrderPlaced, ctx: Context) {
    // Both requests go out at once; each reply comes back to this call, whoever sends it.
    const [quote, shipment] = await Promise.all([
      ctx.call(new QuoteRequest({ sku: ev.sku, quantity: ev.quantity }), QuoteReply, { timeout: 10 }),
      ctx.call(new ShipmentRequest({ orderId: ev.orderId, address: ev.address }), ShipmentBooked, { timeout: 10 }),
    ]);
    return new OrderConfirmed({ result: { orderId: ev.orderId, total: quote.total, trackingId: shipment.trackingId } });
  }
}
