import { StreamConsumedError } from "./errors.js";

/**
 * A single-reader queue of events that always ends: `end()` after the last item,
 * `fail(err)` to end it with an error. Items written before the reader arrives are kept.
 */
export class EventStream<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #done = false;
  #error: unknown = undefined;
  #failed = false;
  #wake: (() => void) | undefined;
  #taken = false;

  /** Called when the reader is handed the error that ended the stream. */
  onError: () => void = () => {};

  constructor(private readonly describe: () => string) {}

  push(item: T): void {
    if (this.#done) return;
    this.#items.push(item);
    this.#wake?.();
  }

  end(): void {
    this.#done = true;
    this.#wake?.();
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#error = error;
    this.#failed = true;
    this.end();
  }

  /** True once a reader has taken the stream. */
  get taken(): boolean {
    return this.#taken;
  }

  async *#read(): AsyncGenerator<T> {
    for (;;) {
      while (this.#head < this.#items.length) {
        const item = this.#items[this.#head] as T;
        this.#items[this.#head++] = undefined as T;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        yield item;
      }
      if (this.#done) {
        if (this.#failed) {
          this.onError();
          throw this.#error;
        }
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<T> {
    return this.reader();
  }

  /** The one reader of this stream. */
  reader(): AsyncGenerator<T> {
    if (this.#taken) {
      throw new StreamConsumedError(`streamEvents() was already called for ${this.describe()}; a run's stream has one reader. Keep the first iterator, or fan it out yourself.`);
    }
    this.#taken = true;
    return this.#read();
  }
}
