/**
 * `numConcurrentRuns`: at most `limit` runs of one workflow instance at once; the runs beyond it
 * wait in order of `run()` calls and start as places free up (issue 12.12). A waiting run exists
 * (its handler, id and `sendEvent` work) but has not begun: its timeout starts when it does.
 */
export class Admission {
  #active = 0;
  /** Waiting tickets from `#head` on, in order; cancelled ones stay until passed or compacted. */
  #queue: Ticket[] = [];
  #head = 0;
  #cancelled = 0;

  constructor(readonly limit: number) {}

  /** How many runs wait for a place. */
  get waiting(): number {
    return this.#queue.length - this.#head - this.#cancelled;
  }

  /**
   * Take a place: `now` when one is free (the caller starts the run itself), else `later` is
   * called when one frees up. `leave` is what to call once the run has ended (or was cancelled
   * while it waited).
   */
  enter(later: () => void): { readonly now: boolean; readonly leave: () => void } {
    const ticket: Ticket = { start: later, held: false, gone: false };
    if (this.#active < this.limit) {
      this.#active++;
      ticket.held = true;
    } else this.#queue.push(ticket);
    const leave = () => {
      if (ticket.gone) return;
      ticket.gone = true;
      if (ticket.held) this.#pass();
      else this.#dropped();
    };
    return { now: ticket.held, leave };
  }

  /** A place freed: the next waiting run takes it. */
  #pass(): void {
    for (;;) {
      const next = this.#queue[this.#head];
      if (next === undefined) {
        this.#active--;
        this.#queue = [];
        this.#head = 0;
        return;
      }
      this.#queue[this.#head++] = undefined as unknown as Ticket;
      if (next.gone) {
        this.#cancelled--;
        continue;
      }
      next.held = true;
      if (this.#head > 32 && this.#head * 2 > this.#queue.length) this.#compact();
      next.start();
      return;
    }
  }

  /**
   * A waiting run was cancelled: it is skipped when its turn comes, in O(1) (10,000 waiting runs
   * cancelled one by one cost 10,000 steps, not 10,000²); the queue is compacted when more than
   * half of what it holds is cancelled or passed (also in {@link #pass}).
   */
  #dropped(): void {
    this.#cancelled++;
    if ((this.#cancelled + this.#head) * 2 > this.#queue.length && this.#queue.length > 32) this.#compact();
  }

  #compact(): void {
    this.#queue = this.#queue.slice(this.#head).filter((t) => !t.gone);
    this.#head = 0;
    this.#cancelled = 0;
  }

  /** Slots the queue holds (waiting, cancelled not yet skipped, passed not yet dropped). @internal for tests */
  get held(): number {
    return this.#queue.length;
  }
}

interface Ticket {
  readonly start: () => void;
  held: boolean;
  gone: boolean;
}
