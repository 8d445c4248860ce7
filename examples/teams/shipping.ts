/** The shipping team: books shipments. */
import { Context, Workflow, step } from "stepwise-ai";
import { ShipmentBooked, ShipmentRequest } from "./events.js";

export class Shipping extends Workflow {
  @step({ accepts: ShipmentRequest, emits: ShipmentBooked })
  async book(ev: ShipmentRequest, ctx: Context) {
    const booked = ctx.store.get("booked", 0) + 1;
    ctx.store.set("booked", booked);
    return new ShipmentBooked({ orderId: ev.orderId, trackingId: `TRK-${ev.orderId}-${booked}` });
  }
}
