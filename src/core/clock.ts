/** Injectable time: timeouts, retry delays and durations all go through it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The longest delay setTimeout takes (about 24.8 days): Node fires a longer one after 1 ms. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * A timer longer than setTimeout takes (a 30-day wait for a person's answer): set for the
 * longest delay, then again for what is left, until it is due. Refs and unrefs as Node's does.
 */
class LongTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unref = false;
  readonly #at: number;
  readonly #fn: () => void;

  constructor(fn: () => void, ms: number) {
    this.#fn = fn;
    this.#at = Date.now() + ms;
    this.#arm();
  }

  #arm(): void {
    const left = this.#at - Date.now();
    if (left <= MAX_DELAY) this.#timer = setTimeout(this.#fn, Math.max(0, left));
    else this.#timer = setTimeout(() => this.#arm(), MAX_DELAY);
    if (this.#unref) (this.#timer as { unref?: () => unknown }).unref?.();
  }

  ref(): this {
    this.#unref = false;
    (this.#timer as { ref?: () => unknown } | undefined)?.ref?.();
    return this;
  }

  unref(): this {
    this.#unref = true;
    (this.#timer as { unref?: () => unknown } | undefined)?.unref?.();
    return this;
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => (ms > MAX_DELAY ? new LongTimer(fn, ms) : setTimeout(fn, ms)),
  clearTimeout: (handle) => {
    if (handle instanceof LongTimer) handle.clear();
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to, for tests: `await clock.advance(5_000)` fires every
 * timer due within five seconds, letting promise callbacks settle between timers.
 */
export class TestClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Move time forward by `ms`, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq))) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Let queued promise callbacks run (a macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
