type Result<T> = IteratorResult<T, undefined>;
type Resolve<T> = (r: Result<T>) => void;
type Reject = (e: unknown) => void;

// One executor shared by every pending read: `new Promise(capture)` hands its resolving
// functions over through these two slots, so a read that waits allocates no closure of its own.
let capturedResolve: Resolve<unknown> | undefined;
let capturedReject: Reject | undefined;
function capture(resolve: Resolve<unknown>, reject: Reject): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/*
 * Readers are woken in batches. A reader waiting for the next item is not handed each item the
 * moment it is pushed: a step that streams many events inside one turn of the event loop would
 * pay, per event, a new promise, a resolution and a switch to the reader and back (issue 17.6).
 * The first push to a waiting reader asks for a wake in the next task; the reader then takes
 * everything pushed meanwhile as already-resolved reads. A reader also wakes at once after
 * BATCH items, so a writer that never yields to the event loop (a chain of synchronous steps)
 * still streams as it goes and its readers keep up.
 */
const BATCH = 64;

/** Runs `fn` in a later task: `setImmediate` where the host has it (Node, Bun, Deno), else a MessageChannel, else a timer. */
const later: (fn: () => void) => void = (() => {
  const g = globalThis as unknown as { setImmediate?: (fn: () => void) => unknown; MessageChannel?: new () => { port1: { onmessage: (() => void) | null }; port2: { postMessage(m: unknown): void } } };
  if (typeof g.setImmediate === "function") return (fn: () => void) => void (g.setImmediate as (fn: () => void) => unknown)(fn);
  if (typeof g.MessageChannel === "function") {
    const queue: (() => void)[] = [];
    const channel = new g.MessageChannel();
    channel.port1.onmessage = () => {
      const fns = queue.splice(0);
      for (const fn of fns) fn();
    };
    return (fn: () => void) => {
      if (queue.push(fn) === 1) channel.port2.postMessage(0);
    };
  }
  return (fn: () => void) => void setTimeout(fn, 0);
})();

/** The items of an {@link EventStream} and the readers waiting on it, shared with its readers. */
class Log<T> {
  readonly items: T[] = [];
  done = false;
  failed = false;
  error: unknown = undefined;
  /** The reader waiting longest for the next item (usually the only one), then the others. */
  waiting: StreamReader<T> | undefined = undefined;
  others: StreamReader<T>[] | undefined = undefined;
  /** Items pushed since the waiting readers were last woken. */
  #unseen = 0;
  /** A wake in a later task is asked for. */
  #asked = false;

  constructor(readonly stream: EventStream<T>) {}

  park(r: StreamReader<T>): void {
    if (this.waiting === undefined) this.waiting = r;
    else (this.others ??= []).push(r);
  }

  unpark(r: StreamReader<T>): void {
    if (this.waiting === r) this.waiting = this.others?.shift();
    else if (this.others !== undefined) {
      const i = this.others.indexOf(r);
      if (i >= 0) this.others.splice(i, 1);
    }
  }

  /** An item was pushed while readers wait: wake them in a later task, or now after a batch. */
  pushed(): void {
    if (++this.#unseen >= BATCH) this.wake();
    else if (!this.#asked) {
      this.#asked = true;
      later(() => {
        this.#asked = false;
        if (this.waiting !== undefined) this.wake();
      });
    }
  }

  /** Feed the waiting readers, in the order they parked; one reader (the usual case) allocates nothing. */
  wake(): void {
    this.#unseen = 0;
    const first = this.waiting as StreamReader<T>;
    const others = this.others;
    this.waiting = this.others = undefined;
    first.feed();
    if (others !== undefined) for (const r of others) r.feed();
  }
}

/**
 * One reader of an {@link EventStream}: a cursor into its log and its pending reads. A class with
 * prototype methods rather than an object of closures, and a hand-written async iterator rather
 * than an async generator: a buffered item costs one resolved promise, a waiting read one promise.
 */
class StreamReader<T> implements AsyncGenerator<T> {
  readonly #log: Log<T>;
  /** Index in the log of the next item this reader gets. */
  #at = 0;
  #closed = false;
  /** Its oldest pending `next()`, kept in fields: the common case allocates no record for it. */
  #resolve: Resolve<T> | undefined = undefined;
  #reject: Reject | undefined = undefined;
  /** Further pending `next()` calls, oldest first (a reader that calls next() without awaiting). */
  #more: { resolve: Resolve<T>; reject: Reject }[] | undefined = undefined;

  constructor(log: Log<T>) {
    this.#log = log;
  }

  next(): Promise<Result<T>> {
    const log = this.#log;
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    if (this.#resolve === undefined && this.#at < log.items.length) return Promise.resolve({ value: log.items[this.#at++] as T, done: false });
    const p = new Promise<Result<T>>(capture as (resolve: Resolve<T>, reject: Reject) => void);
    const resolve = capturedResolve as Resolve<T>;
    const reject = capturedReject as Reject;
    capturedResolve = capturedReject = undefined;
    if (this.#resolve !== undefined) (this.#more ??= []).push({ resolve, reject });
    else {
      this.#resolve = resolve;
      this.#reject = reject;
      this.feed();
    }
    return p;
  }

  /** Answer the pending reads from the log, in order; park again if some stay pending. @internal */
  feed(): void {
    const log = this.#log;
    while (this.#resolve !== undefined) {
      const resolve = this.#resolve;
      const reject = this.#reject as Reject;
      if (this.#at < log.items.length) resolve({ value: log.items[this.#at++] as T, done: false });
      else if (log.done) this.#settle(resolve, reject);
      else {
        log.park(this);
        return;
      }
      const more = this.#more;
      if (more === undefined || more.length === 0) {
        this.#resolve = this.#reject = undefined;
        return;
      }
      const next = more.shift() as { resolve: Resolve<T>; reject: Reject };
      this.#resolve = next.resolve;
      this.#reject = next.reject;
    }
  }

  /** Ends one read: the stream is over, with or without an error (the error once per reader). */
  #settle(resolve: Resolve<T>, reject: Reject): void {
    const log = this.#log;
    const failed = log.failed && !this.#closed;
    this.#closed = true;
    if (failed) {
      log.stream.onError();
      reject(log.error);
      return;
    }
    resolve({ value: undefined, done: true });
  }

  /** The reader stops early (`break`, `return()`): its pending reads end, the log stays for others. */
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#log.unpark(this);
    const first = this.#resolve;
    const more = this.#more;
    this.#resolve = this.#reject = this.#more = undefined;
    if (first === undefined) return;
    first({ value: undefined, done: true });
    if (more !== undefined) for (const m of more) m.resolve({ value: undefined, done: true });
  }

  return(value?: unknown): Promise<Result<T>> {
    this.#close();
    return Promise.resolve({ value: value as undefined, done: true });
  }

  throw(err?: unknown): Promise<Result<T>> {
    this.#close();
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what the caller threw in
    return Promise.reject(err);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * An append-only log of events that always ends: `end()` after the last item, `fail(err)` to end
 * it with an error. Any number of readers, each from the first item (issue 12.13): a reader is a
 * cursor into the log, nothing more. The log is kept as long as the stream is reachable (for a
 * run: while its handler is), so a reader arriving late, or a second one, still gets everything;
 * a run nobody reads keeps what it wrote, as before readers could share it.
 */
export class EventStream<T> implements AsyncIterable<T> {
  readonly #log: Log<T> = new Log<T>(this);

  /** Called when a reader is handed the error that ended the stream. */
  onError: () => void = () => {};

  // `describe` names the stream in errors; kept for callers that pass it.
  constructor(readonly describe: () => string) {}

  push(item: T): void {
    const log = this.#log;
    if (log.done) return;
    log.items.push(item);
    if (log.waiting !== undefined) log.pushed();
  }

  end(): void {
    const log = this.#log;
    log.done = true;
    if (log.waiting !== undefined) log.wake();
  }

  fail(error: unknown): void {
    const log = this.#log;
    if (log.done) return;
    log.error = error;
    log.failed = true;
    this.end();
  }

  /** How many items the log holds. */
  get size(): number {
    return this.#log.items.length;
  }

  [Symbol.asyncIterator](): AsyncGenerator<T> {
    return this.reader();
  }

  /** A new reader, from the first item the stream holds. */
  reader(): AsyncGenerator<T> {
    return new StreamReader(this.#log);
  }
}
