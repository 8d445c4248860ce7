import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Event, EventValidationError, StartEvent, StopEvent, UnknownEventTypeError, Workflow, eventTypeName, isEvent, WorkflowError } from "../../src/index.js";

class BaseEvent extends Event<{ payload: string | Record<string, unknown> | null }> {}
class SecondStepEvent extends BaseEvent {}
class Named extends Event<{ n: number }> {
  static readonly type = "acme.Named";
}
class Trade extends Event.schema(z.object({ sentiment: z.enum(["Bullish", "Bearish"]), stock: z.string() })) {}

describe("events", () => {
  it("makes fields typed properties and keeps subclass routing", () => {
    const e = new SecondStepEvent({ payload: "hi" });
    expect(e.payload).toBe("hi");
    expect(e).toBeInstanceOf(BaseEvent);
    expect(e).toBeInstanceOf(Event);
    expect(isEvent(e)).toBe(true);
    expect(isEvent({ payload: "hi" })).toBe(false);
  });

  it("names types by class name or static type, not inherited by subclasses", () => {
    expect(eventTypeName(SecondStepEvent)).toBe("SecondStepEvent");
    expect(eventTypeName(Named)).toBe("acme.Named");
    class Sub extends Named {}
    expect(eventTypeName(Sub)).toBe("Sub");
    expect(eventTypeName(StartEvent)).toBe("StartEvent");
  });

  it("round-trips through JSON", () => {
    const e = new BaseEvent({ payload: { a: 1, b: [1, 2] } });
    const json = JSON.parse(JSON.stringify(e));
    expect(json).toEqual({ type: "BaseEvent", data: { payload: { a: 1, b: [1, 2] } } });
    const back = new BaseEvent(json.data);
    expect(back).toEqual(e);
  });

  it("validates schema events and names the bad field", () => {
    expect(new Trade({ sentiment: "Bullish", stock: "X" }).sentiment).toBe("Bullish");
    let err: unknown;
    try {
      new Trade({ sentiment: "Sideways" as "Bullish", stock: "X" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EventValidationError);
    expect(err).toBeInstanceOf(WorkflowError);
    expect((err as EventValidationError).code).toBe("INVALID_EVENT");
    expect((err as Error).message).toContain('"sentiment"');
    expect((err as Error).message).toContain("Trade");
    expect((err as EventValidationError).eventType).toBe("Trade");
    expect(() => new Trade({ sentiment: "Bullish" } as never)).toThrow(/"stock"/);
  });

  it("rejects data that is not an object", () => {
    expect(() => new BaseEvent("x" as never)).toThrow(EventValidationError);
    expect(() => new BaseEvent([] as never)).toThrow(/an array/);
  });

  it("applies the schema nearest the class built, once, to its subclasses too, and gives the event what it returns", () => {
    let outer = 0;
    let inner = 0;
    const counted = <T extends z.ZodType>(schema: T, count: () => void) => z.preprocess((v) => (count(), v), schema);
    class Order extends Event.schema(counted(z.object({ id: z.string() }), () => inner++)) {}
    class Priced extends Order.schema(counted(z.object({ id: z.string(), price: z.coerce.number() }), () => outer++)) {}
    class Sale extends Priced {}
    const sale = new Sale({ id: "a", price: "3" as never });
    expect(sale.price).toBe(3); // the schema's output, not the input
    expect([outer, inner]).toEqual([1, 0]);
    expect(eventTypeName(Sale)).toBe("Sale");
    expect(() => new Sale({ id: "a" })).toThrow(/Invalid Sale/);
    expect(new Order({ id: "b" }).id).toBe("b");
    expect(inner).toBe(1);
    // A schema whose output is not an object of fields is refused like such input.
    class Odd extends (Event.schema(z.string() as never) as unknown as typeof Event) {}
    expect(() => new Odd("x" as never)).toThrow(/Odd takes an object of fields, got string "x"/);
  });

  it("takes own fields only: an enumerable key added to Object.prototype is neither copied nor refused", () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = "yes";
    try {
      const e = new BaseEvent({ payload: "p" });
      expect(Object.keys(e)).toEqual(["payload"]);
      expect(Object.hasOwn(e, "polluted")).toBe(false);
      expect(() => new BaseEvent(JSON.parse('{"payload":"p","polluted":"own"}'))).toThrow(/"polluted"/);
    } finally {
      delete proto.polluted;
    }
  });

  it("has StartEvent carrying any input and StopEvent a result", () => {
    const s = new StartEvent({ payload: "AAPL", n: 1 });
    expect(s.payload).toBe("AAPL");
    expect(new StopEvent({ result: 42 }).result).toBe(42);
  });

  it("errors keep instanceof across duplicate installs through their brand", () => {
    const foreign = Object.assign(new Error("x"), { [Symbol.for("stepwise.error.brand")]: ["EventValidationError", "WorkflowError"] });
    expect(foreign).toBeInstanceOf(WorkflowError);
    expect(foreign).toBeInstanceOf(EventValidationError);
    expect(new Error("plain")).not.toBeInstanceOf(WorkflowError);
  });
});

describe("reviving events from JSON", () => {
  const wf = new Workflow()
    .addStep({ accepts: StartEvent, emits: Trade }, async () => new Trade({ sentiment: "Bullish", stock: "X" }))
    .addStep({ accepts: Trade, emits: StopEvent }, async () => new StopEvent());

  it("rebuilds an event of the workflow's own class from { type, data }", () => {
    const original = new Trade({ sentiment: "Bearish", stock: "AAPL" });
    const back = wf.reviveEvent(JSON.parse(JSON.stringify(original)));
    expect(back).toBeInstanceOf(Trade);
    expect(back).toEqual(original);
    expect(wf.reviveEvent({ type: "StopEvent", data: { result: 1 } })).toBeInstanceOf(StopEvent);
  });

  it("validates revived data and refuses unknown types and bad JSON", () => {
    expect(() => wf.reviveEvent({ type: "Trade", data: { sentiment: "Up", stock: "X" } })).toThrow(/Invalid Trade: "sentiment"/);
    const err = (() => {
      try {
        wf.reviveEvent({ type: "Gone", data: {} });
      } catch (e) {
        return e as UnknownEventTypeError;
      }
    })();
    expect(err).toBeInstanceOf(UnknownEventTypeError);
    expect(err?.message).toMatch(/^Workflow "Workflow" has no event class named "Gone" \(it knows .*Trade/);
    expect(() => wf.reviveEvent({ kind: "Trade" } as never)).toThrow(/An event's JSON is \{ type: string, data: object \}/);
  });
});
