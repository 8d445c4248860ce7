import type { Clock } from "../clock.js";

/** A timer that can stop and start holding the process open (Node's `Timeout`). */
interface Refable {
  ref(): unknown;
  unref(): unknown;
}

function isRefable(t: unknown): t is Refable {
  return typeof t === "object" && t !== null && typeof (t as Partial<Refable>).unref === "function" && typeof (t as Partial<Refable>).ref === "function";
}

/**
 * Something that expires: a run past its `timeout`, a step attempt past its step `timeout`.
 * Its links live in the object itself, so waiting in a {@link DeadlineList} allocates nothing.
 */
export abstract class Deadline {
  /** @internal milliseconds after the list's base */
  dlAt = 0;
  /** @internal */
  dlPrev: Deadline | undefined = undefined;
  /** @internal */
  dlNext: Deadline | undefined = undefined;
  /** @internal the list it waits in, undefined when it waits in none */
  dlList: DeadlineList | undefined = undefined;
  /** Called once when the deadline passes while it is still in its list (it has been taken out). */
  abstract expire(): void;
}

/**
 * Deadlines of one clock and one duration. Added in time order, they expire in the order they
 * were added, so they wait in a doubly linked list under one clock timer for the first: no timer
 * and no closure per deadline, O(1) to add and to remove.
 *
 * The timer is not moved when the first deadline is removed: it fires at the old time, finds
 * nothing due and is set again for the new first. So a chain of short steps, each adding and
 * removing one deadline, sets one timer per `ms`, not one per step. With `keepTimer`, an emptied
 * list keeps its timer too (for a list owned by one run, which {@link clear}s it when the run
 * ends); without, an emptied list lets go of its timer so it does not hold the process open: a
 * timer that can be unref'd (Node's) stays set, unref'd, and is ref'd again by the next deadline
 * (short runs one after another set one timer per `ms`, not one each); any other is cleared.
 * With `unref`, the timer never holds the process open (request timeouts of a server, whose
 * open socket does), and an emptied list leaves it set.
 */
export class DeadlineList {
  #first: Deadline | undefined = undefined;
  #last: Deadline | undefined = undefined;
  #timer: unknown = undefined;
  /** Deadlines are kept relative to it: a small integer is stored, a timestamp would be boxed. */
  readonly #base: number;
  /** An emptied list leaves its timer as it is (`keepTimer` or `unref`). */
  readonly #keep: boolean;
  readonly #unrefAlways: boolean;
  #size = 0;

  constructor(
    readonly clock: Clock,
    readonly ms: number,
    options: { keepTimer?: boolean; unref?: boolean } = {},
  ) {
    this.#base = clock.now();
    this.#unrefAlways = options.unref === true;
    this.#keep = options.keepTimer === true || this.#unrefAlways;
  }

  /** Deadlines waiting in the list. */
  get size(): number {
    return this.#size;
  }

  add(d: Deadline): void {
    d.dlAt = this.clock.now() - this.#base + this.ms;
    d.dlList = this;
    d.dlPrev = this.#last;
    d.dlNext = undefined;
    if (this.#last !== undefined) this.#last.dlNext = d;
    else {
      this.#first = d;
      if (this.#unrefd) {
        this.#unrefd = false;
        (this.#timer as Refable).ref();
      }
    }
    this.#last = d;
    this.#size++;
    if (this.#timer === undefined) this.#schedule(this.ms);
  }

  /** The timer is set but unref'd: the list was emptied (see the class comment). */
  #unrefd = false;

  /** Take `d` out of the list (a no-op when it is in none). */
  remove(d: Deadline): void {
    if (d.dlList !== this) return;
    d.dlList = undefined;
    const prev = d.dlPrev;
    const next = d.dlNext;
    if (prev !== undefined) prev.dlNext = next;
    else this.#first = next;
    if (next !== undefined) next.dlPrev = prev;
    else this.#last = prev;
    d.dlPrev = d.dlNext = undefined;
    this.#size--;
    if (this.#first === undefined && !this.#keep && this.#timer !== undefined) {
      if (isRefable(this.#timer)) {
        this.#timer.unref();
        this.#unrefd = true;
      } else {
        this.clock.clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    }
  }

  /** Drop every deadline without expiring it, and the timer. */
  clear(): void {
    for (let d = this.#first; d !== undefined; ) {
      const next = d.dlNext;
      d.dlList = d.dlPrev = d.dlNext = undefined;
      d = next;
    }
    this.#first = this.#last = undefined;
    this.#size = 0;
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unrefd = false;
  }

  #schedule(ms: number): void {
    this.#unrefd = false;
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#unrefd = false;
      const now = this.clock.now() - this.#base;
      for (let d = this.#first; d !== undefined && d.dlAt <= now; d = this.#first) {
        this.remove(d);
        d.expire();
      }
      const first = this.#first;
      if (first !== undefined && this.#timer === undefined) this.#schedule(Math.max(0, first.dlAt - (this.clock.now() - this.#base)));
    }, ms);
    if (this.#unrefAlways && isRefable(this.#timer)) this.#timer.unref();
  }
}
