/** The only module the three teams share: the events they exchange. */
import { Event, StartEvent, StopEvent } from "stepwise-ai";

export class OrderPlaced extends StartEvent<{ orderId: string; sku: string; quantity: number; address: string }> {}
export class QuoteRequest extends Event<{ sku: string; quantity: number }> {}
export class QuoteReply extends Event<{ sku: string; total: number }> {}
export class ShipmentRequest extends Event<{ orderId: string; address: string }> {}
export class ShipmentBooked extends Event<{ orderId: string; trackingId: string }> {}
export class OrderConfirmed extends StopEvent<{ result: { orderId: string; total: number; trackingId: string } }> {}
