/**
 * The runs this process knows: those live here, and the last ones that ended here, kept so
 * that `GET /runs/:id`, their logs and the listings still answer for them without a store
 * (and without a read of it).
 *
 * A run kept as its {@link Entry} survives the young generation's collections until it is let
 * go, 1,000 runs later by default: every run's entry, its two boxed times and its input are
 * copied and promoted (27k of 293k instructions per `?wait` request, counted from the server's
 * start; BENCHMARKS.md, the tenth session). Most ended runs are plain: nobody
 * asked for their log, they streamed nothing and started no child. Such a run is kept as
 * values in arrays (its id, input, result, error and status where they are, its times
 * and flags as numbers), and its entry is made again when someone asks for it. Any other ended
 * run is kept as its entry.
 *
 * One map holds live and kept runs alike (an entry, or a kept run's slot): a run that ends
 * changes its value in place, and the map's size stays near the kept count plus the live
 * ones, where a map of live runs only shrinks and grows again as load comes and goes.
 */
import type { EventJSON } from "../index.js";
import { ENDED, Entry, NO_PROMPTS, PLAIN_STOP, type RunInfo, type Served } from "./entry.js";

/** Flags of a kept run's `#flags` byte. */
const HAS_RESULT = 1;
const PLAIN = 2;

/**
 * The runs live here, and the last `capacity` that ended here (the oldest let go first). The
 * slots' arrays grow as runs end, up to `capacity` (which may be `Infinity`: every ended run).
 */
export class KnownRuns {
  /** Run id → its entry while it is live here, or its slot once it has ended here and is kept. */
  readonly #runs = new Map<string, Entry | number>();
  #live = 0;
  readonly #capacity: number;
  /** Each slot's run id (`undefined` when free); its length is the number of slots so far. */
  readonly #ids: (string | undefined)[] = [];
  /** A run kept as its entry (not plain, or made again since someone asked for it). */
  readonly #entries: (Entry | undefined)[] = [];
  readonly #served: (Served | undefined)[] = [];
  readonly #inputs: (EventJSON | undefined)[] = [];
  readonly #results: unknown[] = [];
  readonly #errors: (RunInfo["error"] | undefined)[] = [];
  readonly #parents: (string | undefined)[] = [];
  /** Numbers only: V8 keeps them unboxed (the times as doubles, the flags as small integers). */
  readonly #created: number[] = [];
  readonly #updated: number[] = [];
  /** Each kept run's status (one of a few strings every run shares: nothing of its own). */
  readonly #status: Entry["status"][] = [];
  readonly #flags: number[] = [];
  /** Once every slot is made: the slot the next run that ends goes to (the oldest kept run's). */
  #next = 0;

  /**
   * @param capacity ended runs kept, a whole number ≥ 0 or `Infinity`. Slots are made as runs
   * end: warmed, that counts the same as making them at once (BENCHMARKS.md, the eleventh session).
   */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Runs live here now. */
  get liveCount(): number {
    return this.#live;
  }

  /** A run that is live here from now on. `again`: it may have ended here before (continued from the store), and its kept run goes. */
  start(e: Entry, again: boolean): void {
    if (again) {
      const kept = this.#runs.get(e.runId);
      if (typeof kept === "number") this.#free(kept);
    }
    this.#runs.set(e.runId, e);
    this.#live++;
  }

  /** Live entry `e` has ended: keep it (letting go of the oldest kept run when full), or forget it when nothing is kept. */
  end(e: Entry): void {
    this.#live--;
    if (this.#capacity === 0) {
      this.#runs.delete(e.runId);
      return;
    }
    const made = this.#ids.length;
    let i = made;
    if (made < this.#capacity) this.#grow();
    else {
      i = this.#next;
      this.#next = (i + 1) % made;
      const old = this.#ids[i];
      if (old !== undefined) this.#runs.delete(old);
    }
    this.#ids[i] = e.runId;
    this.#runs.set(e.runId, i);
    if (isPlain(e)) {
      this.#entries[i] = undefined;
      this.#served[i] = e.served;
      this.#inputs[i] = e.input;
      this.#results[i] = e.result;
      this.#errors[i] = e.error;
      this.#parents[i] = e.parentRunId;
      this.#created[i] = e.createdAt;
      this.#updated[i] = e.updatedAt;
      this.#status[i] = e.status;
      this.#flags[i] = (e.hasResult ? HAS_RESULT : 0) | (e.stop === PLAIN_STOP ? PLAIN : 0);
    } else {
      this.#clear(i);
      this.#entries[i] = e;
    }
  }

  /** Run `runId`'s entry while it is live here. */
  live(runId: string): Entry | undefined {
    const v = this.#runs.get(runId);
    return typeof v === "object" ? v : undefined;
  }

  /**
   * Run `runId`'s entry, live or kept: a run kept as values is made again, and kept as that
   * entry from then on (its caller may give it a log).
   */
  get(runId: string): Entry | undefined {
    const v = this.#runs.get(runId);
    if (typeof v !== "number") return v;
    const kept = this.#entries[v];
    if (kept !== undefined) return kept;
    const e = this.#entryAt(v);
    this.#clear(v);
    this.#entries[v] = e;
    return e;
  }

  /** The runs live here. */
  liveEntries(): Entry[] {
    const out: Entry[] = [];
    for (const v of this.#runs.values()) if (typeof v === "object") out.push(v);
    return out;
  }

  /** Every run known: those live here, then the kept ones, oldest first (made again for the call when kept as values, not kept as those entries). */
  all(): Entry[] {
    const out = this.liveEntries();
    const made = this.#ids.length;
    for (let k = 0; k < made; k++) {
      const i = (this.#next + k) % made;
      if (this.#ids[i] !== undefined) out.push(this.#entries[i] ?? this.#entryAt(i));
    }
    return out;
  }

  #entryAt(i: number): Entry {
    const e = new Entry(this.#ids[i] as string, this.#served[i] as Served, this.#created[i] as number, this.#inputs[i], undefined, this.#parents[i]);
    e.updatedAt = this.#updated[i] as number;
    e.status = this.#status[i] as Entry["status"];
    const flags = this.#flags[i] as number;
    e.hasResult = (flags & HAS_RESULT) !== 0;
    e.result = this.#results[i];
    e.error = this.#errors[i];
    e.stop = (flags & PLAIN) !== 0 ? PLAIN_STOP : undefined;
    e.done = ENDED;
    return e;
  }

  /** One more slot, at the end of every array (filled by the caller). */
  #grow(): void {
    this.#ids.push(undefined);
    this.#entries.push(undefined);
    this.#served.push(undefined);
    this.#inputs.push(undefined);
    this.#results.push(undefined);
    this.#errors.push(undefined);
    this.#parents.push(undefined);
    this.#created.push(0);
    this.#updated.push(0);
    this.#status.push("completed");
    this.#flags.push(0);
  }

  /** Slot `i` holds no run now (its run is live again). */
  #free(i: number): void {
    this.#ids[i] = undefined;
    this.#entries[i] = undefined;
    this.#clear(i);
  }

  /** Drop slot `i`'s values (what they hold may be collected). */
  #clear(i: number): void {
    this.#served[i] = undefined;
    this.#inputs[i] = undefined;
    this.#results[i] = undefined;
    this.#errors[i] = undefined;
    this.#parents[i] = undefined;
  }
}

/**
 * An ended entry whose every other field is what a run made again from its values has: no
 * handler, log or child, nothing streamed, no prompt, its StopEvent none or a plain one.
 */
function isPlain(e: Entry): boolean {
  return (
    e.handler === undefined &&
    e.source === undefined &&
    e.log === undefined &&
    e.caughtUp === undefined &&
    e.children === undefined &&
    !e.streamed &&
    e.prompts === NO_PROMPTS &&
    e.waits === undefined &&
    (e.stop === undefined || e.stop === PLAIN_STOP)
  );
}
