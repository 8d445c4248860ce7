import type { Event, EventClass } from "../events.js";

/** A wait's `requirements` in the form its index looks them up by. */
export interface Requirements {
  /** The required fields' names, sorted. */
  readonly keys: readonly string[];
  /** The required values, in `keys` order, as JSON. */
  readonly value: string;
}

/** What {@link Waits} needs of a pending `ctx.waitForEvent`. */
export interface PendingWait {
  readonly type: EventClass;
  readonly filter: ((ev: Event) => boolean) | undefined;
  readonly requirements: Requirements | undefined;
}

/**
 * `requirements` of `ctx.waitForEvent` in indexed form, or undefined when there are none.
 * Throws a TypeError naming the problem when they are not a plain object of JSON values.
 */
export function requirementsOf(requirements: unknown): Requirements | undefined {
  if (requirements === undefined || requirements === null) return undefined;
  if (typeof requirements !== "object" || Array.isArray(requirements)) {
    throw new TypeError(`ctx.waitForEvent's requirements must be an object of field values, got ${Array.isArray(requirements) ? "an array" : typeof requirements}.`);
  }
  const keys = Object.keys(requirements).sort();
  if (keys.length === 0) return undefined;
  const values = keys.map((k) => (requirements as Record<string, unknown>)[k]);
  let value: string;
  try {
    value = JSON.stringify(values);
  } catch (err) {
    throw new TypeError(`ctx.waitForEvent's requirements must hold JSON values: ${(err as Error).message}`);
  }
  return { keys, value };
}

/**
 * The JSON of `ev`'s own fields `keys`, comparable with a {@link Requirements.value}; a field
 * with no JSON (a BigInt, a cycle: data of a run without a store) gives "", which meets none.
 */
export function valueOf(ev: Event, keys: readonly string[]): string {
  const fields = ev as unknown as Record<string, unknown>;
  try {
    return JSON.stringify(keys.map((k) => (Object.hasOwn(fields, k) ? fields[k] : undefined)));
  } catch {
    return "";
  }
}

interface Group<W> {
  readonly keys: readonly string[];
  readonly byValue: Map<string, Set<W>>;
}

/**
 * The pending waits of a run. A wait with `requirements` is found through an index by event
 * class, required field names and required values, so an event offered to W such waits costs
 * the same as offered to one; a wait with only a `filter` is tried against every event.
 */
export class Waits<W extends PendingWait> {
  /** Every pending wait, in the order they began. */
  readonly all = new Set<W>();
  readonly #scanned = new Set<W>();
  #keyed: Map<EventClass, Map<string, Group<W>>> | undefined;

  get size(): number {
    return this.all.size;
  }

  add(w: W): void {
    this.all.add(w);
    const req = w.requirements;
    if (req === undefined) {
      this.#scanned.add(w);
      return;
    }
    const keyed = (this.#keyed ??= new Map<EventClass, Map<string, Group<W>>>());
    let byType = keyed.get(w.type);
    if (byType === undefined) keyed.set(w.type, (byType = new Map<string, Group<W>>()));
    const sig = req.keys.join("\0");
    let group = byType.get(sig);
    if (group === undefined) byType.set(sig, (group = { keys: req.keys, byValue: new Map<string, Set<W>>() }));
    let set = group.byValue.get(req.value);
    if (set === undefined) group.byValue.set(req.value, (set = new Set<W>()));
    set.add(w);
  }

  delete(w: W): void {
    if (!this.all.delete(w)) return;
    const req = w.requirements;
    if (req === undefined) {
      this.#scanned.delete(w);
      return;
    }
    const byType = this.#keyed?.get(w.type);
    const sig = req.keys.join("\0");
    const group = byType?.get(sig);
    const set = group?.byValue.get(req.value);
    if (set === undefined || group === undefined || byType === undefined) return;
    set.delete(w);
    if (set.size > 0) return;
    group.byValue.delete(req.value);
    if (group.byValue.size > 0) return;
    byType.delete(sig);
    if (byType.size === 0) this.#keyed?.delete(w.type);
  }

  /** The waits `ev` ends (every one it matches), or undefined when none. */
  matching(ev: Event): W[] | undefined {
    let taken: W[] | undefined;
    for (const w of this.#scanned) if (ev instanceof w.type && (w.filter === undefined || w.filter(ev))) (taken ??= []).push(w);
    if (this.#keyed !== undefined) {
      for (const [type, byType] of this.#keyed) {
        if (!(ev instanceof type)) continue;
        for (const group of byType.values()) {
          const set = group.byValue.get(valueOf(ev, group.keys));
          if (set !== undefined) for (const w of set) if (w.filter === undefined || w.filter(ev)) (taken ??= []).push(w);
        }
      }
    }
    return taken;
  }
}

/** Whether `ev` meets `req` (for an event that arrived before the wait began). */
export function meets(ev: Event, req: Requirements | undefined): boolean {
  return req === undefined || valueOf(ev, req.keys) === req.value;
}
