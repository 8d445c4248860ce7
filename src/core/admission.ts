/**
 * `numConcurrentRuns`: at most `limit` runs of one workflow instance at once; the runs beyond it
 * wait in order of `run()` calls and start as places free up (issue 12.12). A waiting run exists
 * (its handler, id and `sendEvent` work) but has not begun: its timeout starts when it does.
 */
export class Admission {
  #active = 0;
  readonly #queue: Ticket[] = [];

  constructor(readonly limit: number) {}

  /** How many runs wait for a place. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Calls `start` now if a place is free, else when one frees up. Returns what to call once the run has ended. */
  enter(start: () => void): () => void {
    const ticket: Ticket = { start, held: false, gone: false };
    if (this.#active < this.limit) {
      this.#active++;
      ticket.held = true;
      start();
    } else this.#queue.push(ticket);
    return () => {
      if (ticket.gone) return;
      ticket.gone = true;
      if (ticket.held) this.#pass();
      else this.#queue.splice(this.#queue.indexOf(ticket), 1);
    };
  }

  /** A place freed: the next waiting run takes it. */
  #pass(): void {
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#active--;
      return;
    }
    next.held = true;
    next.start();
  }
}

interface Ticket {
  readonly start: () => void;
  held: boolean;
  gone: boolean;
}
