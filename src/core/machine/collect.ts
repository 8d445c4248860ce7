import type { Event, EventClass } from "../events.js";

/** The indexes of `types`, subclasses before their bases; undefined when no listed class derives from another. */
export function deepestFirst(types: readonly EventClass[]): number[] | undefined {
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

/** What a {@link CollectBuffer} keeps for the list of classes it collects for. */
interface Spec {
  /** The list, as last given (compared by reference first, then element by element). */
  types: readonly EventClass[];
  /** Its distinct classes. */
  readonly classes: readonly EventClass[];
  /** For each list entry, its class's index in `classes`. */
  readonly entry: readonly number[];
  /** For each class, how many list entries it or a subclass of it has: a set needs that many of its instances. */
  readonly need: readonly number[];
  /** For each class, how many buffered events are its instances. */
  readonly count: number[];
  /** How many classes have fewer buffered instances than they need: a set is complete at 0. */
  deficit: number;
  /** For each class, the positions of its buffered instances, in order (taken ones left behind from `heads` on). */
  readonly queues: number[][];
  readonly heads: number[];
  /** List indexes with subclasses before their bases; undefined when no listed class derives from another. */
  readonly order: readonly number[] | undefined;
}

/**
 * One `ctx.collectEvents` buffer: the events in the order they arrived, and, for the list of
 * classes it collects for, how many instances of each it holds and where.
 *
 * `ctx.collectEvents`' rule: for each listed class in order, the first buffered event of it not
 * yet taken; the set is complete once every listed class has one. When the list holds a class and
 * its subclass (`[Base, Sub]`), taking in list order can give a Sub to the Base and leave the Sub
 * with none, though a set is there (a Sub came first, then a Base): then the subclasses take
 * first, which finds a set whenever there is one (classes nest or are apart, so what a subclass
 * takes, its base could have taken too). (test/core/collect-rule.ts states the rule as a plain
 * function over an array, which the tests check this buffer against.)
 *
 * The cost is not the buffer's length per event: an event joining costs one
 * `instanceof` per distinct listed class, a set is looked for only once the counts say one is
 * there (Hall's condition, exact for classes that nest or are apart), and taking a set of k walks
 * about k positions. A long run of one class waiting for another (a thousand `Left`s before the
 * first `Right`) no longer rescans or copies the buffer for each event.
 */
export class CollectBuffer {
  /** Arrival order; a taken event leaves a hole (undefined) until the next compaction. */
  #events: (Event | undefined)[] = [];
  #holes = 0;
  /** Each buffered event's position, made when first asked ({@link has}, {@link remove}). */
  #where: Map<Event, number> | undefined;
  #spec: Spec | undefined;

  /** A buffer holding `events`, in order. */
  static of(events: Iterable<Event>): CollectBuffer {
    const b = new CollectBuffer();
    for (const ev of events) b.push(ev);
    return b;
  }

  /** How many events it holds. */
  get size(): number {
    return this.#events.length - this.#holes;
  }

  /** The events it holds, in order (a copy). */
  toArray(): Event[] {
    const out: Event[] = [];
    for (const ev of this.#events) if (ev !== undefined) out.push(ev);
    return out;
  }

  has(ev: Event): boolean {
    return this.#index().has(ev);
  }

  /** `ev` joins the buffer, at its end. */
  push(ev: Event): void {
    const p = this.#events.length;
    this.#events.push(ev);
    this.#where?.set(ev, p);
    const spec = this.#spec;
    if (spec !== undefined) this.#count(spec, ev, p);
  }

  /** Whether `ev` is an instance of a class of `types` (what `collectEvents` collects). */
  accepts(ev: Event, types: readonly EventClass[]): boolean {
    const spec = this.#use(types);
    for (const cls of spec.classes) if (ev instanceof cls) return true;
    return false;
  }

  /** `events` leave the buffer (those it does not hold are ignored). */
  remove(events: readonly Event[]): void {
    const where = this.#index();
    for (const ev of events) {
      const p = where.get(ev);
      if (p !== undefined) this.#drop(p);
    }
    this.#compact();
  }

  /** The complete set for `types` by the rule above, taken out; null while there is none. */
  take(types: readonly EventClass[]): Event[] | null {
    const spec = this.#use(types);
    if (spec.deficit > 0) return null;
    const at = this.#pick(spec, undefined) ?? (spec.order === undefined ? null : this.#pick(spec, spec.order));
    if (at === null) return null;
    const taken = at.map((p) => this.#events[p] as Event);
    for (const p of at) this.#drop(p);
    for (let d = 0; d < spec.queues.length; d++) this.#advance(spec, d);
    this.#compact();
    return taken;
  }

  /** The positions of a set, each list entry (in `order`, else as listed) taking its class's first instance not taken. */
  #pick(spec: Spec, order: readonly number[] | undefined): number[] | null {
    const events = this.#events;
    const n = spec.entry.length;
    const at = new Array<number>(n);
    const cursor = spec.heads.slice();
    const picked = new Set<number>();
    for (let j = 0; j < n; j++) {
      const k = order === undefined ? j : (order[j] as number);
      const d = spec.entry[k] as number;
      const queue = spec.queues[d] as number[];
      let i = cursor[d] as number;
      while (i < queue.length && (events[queue[i] as number] === undefined || picked.has(queue[i] as number))) i++;
      if (i === queue.length) return null;
      const p = queue[i] as number;
      picked.add(p);
      at[k] = p;
      cursor[d] = i + 1;
    }
    return at;
  }

  /** The spec for `types`, made (from what is buffered) when the list is new. */
  #use(types: readonly EventClass[]): Spec {
    const spec = this.#spec;
    if (spec !== undefined) {
      if (spec.types === types) return spec;
      if (spec.types.length === types.length && spec.types.every((t, i) => t === types[i])) {
        spec.types = types;
        return spec;
      }
    }
    const classes = [...new Set(types)];
    const entry = types.map((t) => classes.indexOf(t));
    const need = classes.map((c) => types.filter((t) => t === c || t.prototype instanceof c).length);
    const related = classes.some((a) => classes.some((b) => a !== b && a.prototype instanceof b));
    const made: Spec = {
      types,
      classes,
      entry,
      need,
      count: classes.map(() => 0),
      deficit: classes.length,
      queues: classes.map(() => []),
      heads: classes.map(() => 0),
      order: related ? deepestFirst(types) : undefined,
    };
    this.#spec = made;
    this.#events.forEach((ev, p) => {
      if (ev !== undefined) this.#count(made, ev, p);
    });
    return made;
  }

  #count(spec: Spec, ev: Event, p: number): void {
    const { classes, count, need, queues } = spec;
    for (let d = 0; d < classes.length; d++) {
      if (!(ev instanceof (classes[d] as EventClass))) continue;
      (queues[d] as number[]).push(p);
      if (++(count[d] as number) === need[d]) spec.deficit--;
    }
  }

  /** The event at `p` leaves (its queue entries stay behind until passed). */
  #drop(p: number): void {
    const ev = this.#events[p] as Event;
    this.#events[p] = undefined;
    this.#holes++;
    this.#where?.delete(ev);
    const spec = this.#spec;
    if (spec === undefined) return;
    const { classes, count, need } = spec;
    for (let d = 0; d < classes.length; d++) {
      if (!(ev instanceof (classes[d] as EventClass))) continue;
      if ((count[d] as number)-- === need[d]) spec.deficit++;
    }
  }

  /** Class `d`'s queue starts at its first event still buffered. */
  #advance(spec: Spec, d: number): void {
    const queue = spec.queues[d] as number[];
    let i = spec.heads[d] as number;
    while (i < queue.length && this.#events[queue[i] as number] === undefined) i++;
    spec.heads[d] = i;
  }

  /** Once holes outnumber events, the buffer is rebuilt without them (each event moved once per halving: amortized constant). */
  #compact(): void {
    if (this.#holes < 32 || this.#holes < this.size) return;
    const live = this.toArray();
    this.#events = [];
    this.#holes = 0;
    const spec = this.#spec;
    if (spec !== undefined) {
      for (let d = 0; d < spec.classes.length; d++) {
        (spec.queues[d] as number[]).length = 0;
        spec.heads[d] = 0;
        spec.count[d] = 0;
      }
      spec.deficit = spec.classes.length;
    }
    const hadIndex = this.#where !== undefined;
    this.#where = undefined;
    for (const ev of live) this.push(ev);
    if (hadIndex) this.#index();
  }

  #index(): Map<Event, number> {
    let where = this.#where;
    if (where === undefined) {
      where = new Map();
      this.#events.forEach((ev, p) => {
        if (ev !== undefined) (where as Map<Event, number>).set(ev, p);
      });
      this.#where = where;
    }
    return where;
  }
}

/**
 * The journal key of a `collectEvents` buffer: the step and its list of types, repeats written
 * once with a count (`join|Part*1000`), so a wide fan-in's key does not grow with its width.
 * A `\`, `|`, `,` or `*` inside a name is escaped with `\`, so no names make two keys alike
 * (names without them give the keys journals have always held).
 */
export function collectKey(step: string, typeNames: readonly string[]): string {
  let key = `${escapeName(step)}|`;
  for (let i = 0; i < typeNames.length; ) {
    let j = i + 1;
    while (j < typeNames.length && typeNames[j] === typeNames[i]) j++;
    if (i > 0) key += ",";
    key += escapeName(typeNames[i] as string);
    if (j - i > 1) key += `*${j - i}`;
    i = j;
  }
  return key;
}

function escapeName(name: string): string {
  return /[\\|,*]/.test(name) ? name.replace(/[\\|,*]/g, "\\$&") : name;
}

/** A collect key's step and its list, as runs of one type name and their lengths. */
export interface CollectKeyParts {
  readonly step: string;
  readonly types: readonly (readonly [string, number])[];
}

/**
 * The parts of a collect key: one {@link collectKey} made, or one journaled before names were
 * escaped (`step|A,B*3`, or in full `step|A,B,B,B`). A `\` not before `\ | , *` is itself, so
 * old keys read as they were written (names that held the separators were ambiguous there
 * already: the first `|` ends the step). Undefined when there is no `|`.
 */
export function collectKeyParts(key: string): CollectKeyParts | undefined {
  let step: string | undefined;
  const types: [string, number][] = [];
  let name = "";
  // Where in `name` an unescaped `*` was last put: a count may follow it.
  let star = -1;
  const endPart = () => {
    const count = star < 0 ? "" : name.slice(star + 1);
    const counted = /^[1-9][0-9]*$/.test(count);
    const type = counted ? name.slice(0, star) : name;
    const n = counted ? Number(count) : 1;
    const last = types[types.length - 1];
    if (last !== undefined && last[0] === type) last[1] += n;
    else types.push([type, n]);
    name = "";
    star = -1;
  };
  for (let i = 0; i < key.length; i++) {
    const c = key[i] as string;
    const next = key[i + 1];
    if (c === "\\" && next !== undefined && "\\|,*".includes(next)) {
      name += next;
      i++;
    } else if (step === undefined && c === "|") {
      step = name;
      name = "";
    } else if (step !== undefined && c === ",") endPart();
    else {
      if (step !== undefined && c === "*") star = name.length;
      name += c;
    }
  }
  if (step === undefined) return undefined;
  endPart();
  return { step, types };
}

/** {@link collectKey} of a key as journaled (either form); a string with no `|` stays as it is. */
export function normalCollectKey(key: string): string {
  const parts = collectKeyParts(key);
  if (parts === undefined) return key;
  const names: string[] = [];
  for (const [name, n] of parts.types) for (let i = 0; i < n; i++) names.push(name);
  return collectKey(parts.step, names);
}

/** A collect key's list for messages: `A,B*3`. */
export function collectListText(parts: CollectKeyParts): string {
  return parts.types.map(([name, n]) => (n > 1 ? `${name}*${n}` : name)).join(",");
}
