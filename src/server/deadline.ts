/**
 * Timeouts for many requests at once, on one timer: every request's deadline of one duration
 * joins a list in the order it was set (which is the order they fall due), and one timer, armed
 * for the oldest, fails those whose time has come. Setting and clearing a deadline is a link in
 * and out of the list: no timer per request, under load or not.
 */

/** One pending deadline: its due time (ms since the epoch) and what to do when it passes. */
class Node {
  prev: Node | undefined = undefined;
  next: Node | undefined = undefined;
  constructor(
    readonly at: number,
    readonly expire: () => void,
  ) {}
}

/** Deadlines of one duration (`ms`), on one timer. */
export class Deadlines {
  #head: Node | undefined;
  #tail: Node | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #size = 0;

  constructor(readonly ms: number) {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Deadlines: ms must be a finite number >= 0, got ${ms}.`);
  }

  /** Deadlines pending now. */
  get size(): number {
    return this.#size;
  }

  /**
   * Settle as `p` does, or, when `p` has not settled within `ms`, with `onTimeout()` (whose
   * throw rejects; whose value resolves).
   */
  race<T, U>(p: Promise<T>, onTimeout: () => U): Promise<T | U> {
    return new Promise<T | U>((resolve, reject) => {
      const node = this.#add(() => {
        try {
          resolve(onTimeout());
        } catch (err) {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what was thrown
          reject(err);
        }
      });
      p.then(
        (v) => {
          this.#remove(node);
          resolve(v);
        },
        (err: unknown) => {
          this.#remove(node);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what was thrown
          reject(err);
        },
      );
    });
  }

  /** Clear every pending deadline without firing it, and the timer. */
  stop(): void {
    for (let n = this.#head; n; n = n.next) n.prev = undefined;
    this.#head = this.#tail = undefined;
    this.#size = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #add(expire: () => void): Node {
    const node = new Node(Date.now() + this.ms, expire);
    const tail = this.#tail;
    if (tail) {
      tail.next = node;
      node.prev = tail;
    } else this.#head = node;
    this.#tail = node;
    this.#size++;
    if (this.#timer === undefined) this.#arm(this.ms);
    return node;
  }

  #remove(node: Node): void {
    if (node.prev === undefined && this.#head !== node) return; // gone already (fired or stopped)
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = node.next = undefined;
    this.#size--;
  }

  #arm(ms: number): void {
    const t = setTimeout(() => this.#fire(), ms);
    t.unref?.();
    this.#timer = t;
  }

  #fire(): void {
    this.#timer = undefined;
    const now = Date.now();
    // Nodes are in due order: expire from the head until one is not due.
    for (let n = this.#head; n !== undefined && n.at <= now; n = this.#head) {
      this.#remove(n);
      n.expire();
    }
    if (this.#head) this.#arm(Math.max(1, this.#head.at - now));
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
    let list = this.#lists.get(ms);
    if (!list) {
      if (this.#lists.size >= this.maxLists) return raceTimer(p, ms, onTimeout);
      this.#lists.set(ms, (list = new Deadlines(ms)));
    }
    return list.race(p, onTimeout);
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
