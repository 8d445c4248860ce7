/**
 * `ctx.collectEvents`' rule as a plain function over an array, linear in the buffer: the model the
 * tests check the engine's CollectBuffer against (src/core/machine/collect.ts), which follows the
 * same rule in work that does not grow with what is buffered.
 */
import type { Event, EventClass } from "../../src/core/events.js";
import { deepestFirst } from "../../src/core/machine/collect.js";

/** What {@link takeSet} found: the set, in the listed order, and what stays buffered. */
export interface TakenSet {
  readonly taken: Event[];
  readonly rest: Event[];
}

/**
 * `ctx.collectEvents`' rule: for each listed class in order, the first buffered event of it
 * not yet taken. Returns the complete set and the rest of the buffer, or null while one is
 * missing.
 *
 * When the list holds a class and its subclass (`[Base, Sub]`), taking in list order can give a
 * Sub to the Base and leave the Sub with none, though a set is there (a Sub came first, then a
 * Base): then the subclasses take first, which finds a set whenever there is one (classes nest
 * or are apart, so what a subclass takes, its base could have taken too).
 */
export function takeSet(buffer: readonly Event[], types: readonly EventClass[]): TakenSet | null {
  if (buffer.length < types.length) return null;
  const inOrder = pick(buffer, types, undefined);
  if (inOrder !== null) return inOrder;
  const order = deepestFirst(types);
  return order === undefined ? null : pick(buffer, types, order);
}

/** takeSet taking for the listed classes in `order` (indexes into `types`; undefined: as listed). */
function pick(buffer: readonly Event[], types: readonly EventClass[], order: readonly number[] | undefined): TakenSet | null {
  const picked = new Uint8Array(buffer.length);
  const taken: number[] = new Array<number>(types.length);
  const cursor = new Map<EventClass, number>();
  for (let j = 0; j < types.length; j++) {
    const k = order === undefined ? j : (order[j] as number);
    const t = types[k] as EventClass;
    let i = cursor.get(t) ?? 0;
    while (i < buffer.length && (picked[i] === 1 || !(buffer[i] instanceof t))) i++;
    if (i === buffer.length) return null;
    picked[i] = 1;
    taken[k] = i;
    cursor.set(t, i + 1);
  }
  return { taken: taken.map((i) => buffer[i] as Event), rest: buffer.filter((_, j) => picked[j] === 0) };
}
