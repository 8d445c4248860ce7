// Events: typed fields, subclasses, JSON, schemas.
import { Event, StartEvent, type EventJSON, isEvent, eventTypeName } from "stepwise-ai";
import { assertType } from "./assert.js";

export class Base extends Event<{ payload: string | null }> {}
export class Derived extends Base {}
export class Named extends Event<{ id: number }> {
  static readonly type = "named.v1";
}
export class Empty extends Event {}

const d = new Derived({ payload: "x" });
assertType<string | null>()(d.payload);
assertType<EventJSON>()(d.toJSON());
assertType<string>()(eventTypeName(Named));
new Empty();
const unknownValue: unknown = d;
if (isEvent(unknownValue)) assertType<Event>()(unknownValue);

const start = new StartEvent({ stock: "AAPL", cycles: 2 });
assertType<string>()(start.stock);

// @ts-expect-error -- missing field
new Base({});
// @ts-expect-error -- wrong field type
new Named({ id: "1" });
// @ts-expect-error -- fields are read-only
d.payload = "y";
