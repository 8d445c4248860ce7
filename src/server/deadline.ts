/**
 * Timeouts for many requests at once, on one timer: the engine's {@link DeadlineList} (every
 * request's deadline of one duration joins a list in the order it was set, which is the order
 * they fall due, under one timer armed for the oldest), unref'd so that it never holds the
 * process open. Setting and clearing a deadline is a link in and out of the list: no timer per
 * request, under load or not.
 */
import { systemClock } from "../core/clock.js";
import { Deadline, DeadlineList } from "../core/driver/deadlines.js";

/** One pending request's deadline: what to do when it passes. */
class Pending extends Deadline {
  constructor(readonly onExpire: () => void) {
    super();
  }
  expire(): void {
    this.onExpire();
  }
}

/**
 * A wait for something that calls {@link done}, or for its deadline, whichever comes first:
 * {@link ended} resolves `true` or `false`. One object and one promise, where racing a promise
 * takes a promise derived from it and a closure for each way it can settle.
 */
export class EndWait extends Deadline {
  readonly ended: Promise<boolean>;
  #resolve!: (ended: boolean) => void;
  /** The timer of a wait beyond the lists a {@link DeadlineSet} keeps. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  constructor() {
    super();
    this.ended = new Promise<boolean>((resolve) => (this.#resolve = resolve));
  }
  /** What it waited for happened (before the deadline, or it has no effect). */
  done(): void {
    this.dlList?.remove(this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.#resolve(true);
  }
  expire(): void {
    this.#resolve(false);
  }
}

/** Deadlines of one duration (`ms`), on one timer. */
export class Deadlines {
  readonly #list: DeadlineList;

  constructor(readonly ms: number) {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Deadlines: ms must be a finite number >= 0, got ${ms}.`);
    this.#list = new DeadlineList(systemClock, ms, { unref: true });
  }

  /** Deadlines pending now. */
  get size(): number {
    return this.#list.size;
  }

  /**
   * Settle as `p` does, or, when `p` has not settled within `ms`, with `onTimeout()` (whose
   * throw rejects; whose value resolves).
   */
  race<T, U>(p: Promise<T>, onTimeout: () => U): Promise<T | U> {
    return new Promise<T | U>((resolve, reject) => {
      const pending = new Pending(() => {
        try {
          resolve(onTimeout());
        } catch (err) {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what was thrown
          reject(err);
        }
      });
      this.#list.add(pending);
      p.then(
        (v) => {
          this.#list.remove(pending);
          resolve(v);
        },
        (err: unknown) => {
          this.#list.remove(pending);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what was thrown
          reject(err);
        },
      );
    });
  }

  /** Wait in the list until `d` expires or is taken out. */
  add(d: Deadline): void {
    this.#list.add(d);
  }

  /** Clear every pending deadline without firing it, and the timer. */
  stop(): void {
    this.#list.clear();
  }
}

/**
 * Deadlines of any duration: a {@link Deadlines} list per duration, for the few durations a server
 * uses (its request timeout, the `?wait=` values clients send); past `maxLists` durations, a
 * deadline gets a timer of its own.
 */
export class DeadlineSet {
  readonly #lists = new Map<number, Deadlines>();
  constructor(readonly maxLists = 32) {}

  /** Settle as `p` does, or with `onTimeout()` after `ms`. */
  race<T, U>(p: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
    const list = this.#list(ms);
    return list === undefined ? raceTimer(p, ms, onTimeout) : list.race(p, onTimeout);
  }

  /** Start `w`'s deadline, `ms` from now. */
  wait(w: EndWait, ms: number): void {
    const list = this.#list(ms);
    if (list !== undefined) list.add(w);
    else (w.timer = setTimeout(() => w.expire(), ms)).unref?.();
  }

  /** The list of deadlines of `ms`, made if there is room for one more. */
  #list(ms: number): Deadlines | undefined {
    let list = this.#lists.get(ms);
    if (!list) {
      if (this.#lists.size >= this.maxLists) return undefined;
      this.#lists.set(ms, (list = new Deadlines(ms)));
    }
    return list;
  }

  /** Clear every pending deadline and timer. */
  stop(): void {
    for (const l of this.#lists.values()) l.stop();
    this.#lists.clear();
  }
}

function raceTimer<T, U>(p: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<U>((resolve, reject) => {
      timer = setTimeout(() => {
        try {
          resolve(onTimeout());
        } catch (err) {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what was thrown
          reject(err);
        }
      }, ms);
      timer.unref?.();
    }),
  ]).finally(() => clearTimeout(timer));
}
