import type { Event, EventClass } from "../events.js";

/** What {@link takeSet} found: the set, in the listed order, and what stays buffered. */
export interface TakenSet {
  readonly taken: Event[];
  readonly rest: Event[];
}

/**
 * `ctx.collectEvents`' rule: for each listed class in order, the first buffered event of it
 * not yet taken. Returns the complete set and the rest of the buffer, or null while one is
 * missing. Linear in the buffer: a fan-in of 1,000 calls this 1,000 times.
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

/** The indexes of `types`, subclasses before their bases; undefined when no listed class derives from another. */
function deepestFirst(types: readonly EventClass[]): number[] | undefined {
  const distinct = [...new Set(types)];
  const related = distinct.some((a) => distinct.some((b) => a !== b && a.prototype instanceof b));
  if (!related) return undefined;
  const depth = new Map<EventClass, number>();
  for (const t of distinct) {
    let d = 0;
    for (let p: unknown = t; p !== null && p !== undefined; p = Object.getPrototypeOf(p)) d++;
    depth.set(t, d);
  }
  // Stable: a class listed several times keeps its listed order.
  return types.map((_, k) => k).sort((a, b) => (depth.get(types[b] as EventClass) as number) - (depth.get(types[a] as EventClass) as number));
}

/**
 * The journal key of a `collectEvents` buffer: the step and its list of types, repeats written
 * once with a count (`join|Part*1000`), so a wide fan-in's key does not grow with its width.
 * Keys journaled before in full (`join|Part,Part,…`) map to the same key.
 */
export function collectKey(step: string, typeNames: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < typeNames.length; ) {
    let j = i + 1;
    while (j < typeNames.length && typeNames[j] === typeNames[i]) j++;
    parts.push(j - i > 1 ? `${typeNames[i] as string}*${j - i}` : (typeNames[i] as string));
    i = j;
  }
  return `${step}|${parts.join(",")}`;
}

/** {@link collectKey} of a key as journaled (either form). */
export function normalCollectKey(key: string): string {
  const bar = key.indexOf("|");
  if (bar < 0 || !key.includes(",", bar)) return key;
  return collectKey(key.slice(0, bar), key.slice(bar + 1).split(","));
}
