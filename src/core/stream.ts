type Result<T> = IteratorResult<T, undefined>;

/** One reader of an {@link EventStream}: its place in the log and its pending reads. */
interface Reader<T> {
  /** Index in the log of the next item this reader gets. */
  at: number;
  closed: boolean;
  /** Its oldest pending `next()`, kept in fields: the common case allocates no record for it. */
  resolve: ((r: Result<T>) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
  /** Further pending `next()` calls, oldest first (a reader that calls next() without awaiting). */
  more: { resolve: (r: Result<T>) => void; reject: (e: unknown) => void }[] | undefined;
}

/**
 * An append-only log of events that always ends: `end()` after the last item, `fail(err)` to end
 * it with an error. Any number of readers, each from the first item (issue 12.13): a reader is a
 * cursor into the log, nothing more. The log is kept as long as the stream is reachable (for a
 * run: while its handler is), so a reader arriving late, or a second one, still gets everything;
 * a run nobody reads keeps what it wrote, as before readers could share it.
 */
export class EventStream<T> implements AsyncIterable<T> {
  #log: T[] = [];
  #done = false;
  #error: unknown = undefined;
  #failed = false;
  /** Readers with a pending read (usually none or one). */
  #parked: Reader<T>[] = [];

  /** Called when a reader is handed the error that ended the stream. */
  onError: () => void = () => {};

  // `describe` names the stream in errors; kept for callers that pass it.
  constructor(readonly describe: () => string) {}

  push(item: T): void {
    if (this.#done) return;
    this.#log.push(item);
    if (this.#parked.length !== 0) this.#wake();
  }

  end(): void {
    this.#done = true;
    if (this.#parked.length !== 0) this.#wake();
  }

  /** Feed the parked readers; one reader (the usual case) allocates nothing here. */
  #wake(): void {
    const parked = this.#parked;
    if (parked.length === 1) {
      const r = parked[0] as Reader<T>;
      parked.length = 0;
      this.#feed(r);
      return;
    }
    this.#parked = [];
    for (const r of parked) this.#feed(r);
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#error = error;
    this.#failed = true;
    this.end();
  }

  /** How many items the log holds. */
  get size(): number {
    return this.#log.length;
  }

  /** Answer `r`'s pending reads from the log, in order; park it again if some stay pending. */
  #feed(r: Reader<T>): void {
    while (r.resolve !== undefined) {
      const resolve = r.resolve;
      const reject = r.reject as (e: unknown) => void;
      if (r.at < this.#log.length) resolve({ value: this.#log[r.at++] as T, done: false });
      else if (this.#done) this.#settle(r, resolve, reject);
      else {
        this.#parked.push(r);
        return;
      }
      if (r.more === undefined || r.more.length === 0) {
        r.resolve = r.reject = undefined;
        return;
      }
      const next = r.more.shift() as { resolve: (r: Result<T>) => void; reject: (e: unknown) => void };
      r.resolve = next.resolve;
      r.reject = next.reject;
    }
  }

  /** Ends one read of `r`: the stream is over, with or without an error (the error once per reader). */
  #settle(r: Reader<T>, resolve: (r: Result<T>) => void, reject: (e: unknown) => void): void {
    if (this.#failed && !r.closed) {
      r.closed = true;
      this.onError();
      reject(this.#error);
      return;
    }
    r.closed = true;
    resolve({ value: undefined, done: true });
  }

  // A hand-written async iterator rather than an async generator: a buffered item costs one
  // resolved promise instead of a generator resume and its queue.
  #next(r: Reader<T>): Promise<Result<T>> {
    if (r.closed) return Promise.resolve({ value: undefined, done: true });
    if (r.resolve === undefined && r.at < this.#log.length) return Promise.resolve({ value: this.#log[r.at++] as T, done: false });
    return new Promise((resolve, reject) => {
      if (r.resolve !== undefined) (r.more ??= []).push({ resolve, reject });
      else {
        r.resolve = resolve;
        r.reject = reject;
        this.#feed(r);
      }
    });
  }

  /** The reader stops early (`break`, `return()`): its pending reads end, the log stays for others. */
  #close(r: Reader<T>): void {
    if (r.closed) return;
    r.closed = true;
    const i = this.#parked.indexOf(r);
    if (i >= 0) this.#parked.splice(i, 1);
    const pending = r.resolve === undefined ? [] : [r.resolve, ...(r.more ?? []).map((m) => m.resolve)];
    r.resolve = r.reject = r.more = undefined;
    for (const resolve of pending) resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncGenerator<T> {
    return this.reader();
  }

  /** A new reader, from the first item the stream holds. */
  reader(): AsyncGenerator<T> {
    const r: Reader<T> = { at: 0, closed: false, resolve: undefined, reject: undefined, more: undefined };
    const it: AsyncGenerator<T> = {
      next: () => this.#next(r),
      return: (value?: unknown) => {
        this.#close(r);
        return Promise.resolve({ value: value as T, done: true });
      },
      throw: (err?: unknown) => {
        this.#close(r);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what the caller threw in
        return Promise.reject(err);
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}
