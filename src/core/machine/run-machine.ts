import type { Event, EventClass } from "../events.js";
import type { RunStatus } from "../inspect.js";
import type { Plan } from "../plan.js";
import type { StepDefinition } from "../step.js";
import { CollectBuffer } from "./collect.js";
import { destinations, END } from "./routing.js";
import { meets, valueOf, Waits, type PendingWait, type Requirements } from "./waits.js";

/** An unclaimed event's place in line; `ev` is undefined once a wait took it (a dead entry). */
interface Kept {
  ev: Event | undefined;
}

const SKIP = 0;
const TAKE = 1;
const DROP = 2;

/**
 * Kept entries oldest first, from `head` on. {@link take} removes the first a judge takes, and
 * every dead or dropped entry it passed, by moving the live ones it passed up behind them: a
 * take costs the live entries before the one taken, never the whole line.
 */
class Line {
  items: Kept[] = [];
  head = 0;

  /** The first live entry `judge` takes (out of the line), or undefined; entries it drops leave too. */
  take(judge: (k: Kept, ev: Event) => number): Kept | undefined {
    const items = this.items;
    const end = items.length;
    let found: Kept | undefined;
    let dropped: Kept[] | undefined;
    let r = this.head;
    for (; r < end; r++) {
      const k = items[r] as Kept;
      if (k.ev === undefined) continue;
      const verdict = judge(k, k.ev);
      if (verdict === TAKE) {
        found = k;
        break;
      }
      if (verdict === DROP) (dropped ??= []).push(k);
    }
    const stays = (k: Kept) => k.ev !== undefined && (dropped === undefined || !dropped.includes(k));
    if (found === undefined) {
      // Nothing taken: the dead and dropped go, the rest close up in place.
      let w = this.head;
      for (let i = this.head; i < end; i++) if (stays(items[i] as Kept)) items[w++] = items[i] as Kept;
      items.length = w;
      if (w === this.head) this.#reset();
      return undefined;
    }
    // Close up behind the one taken: the live entries passed move up to end at `r`.
    let w = r;
    for (let i = r - 1; i >= this.head; i--) if (stays(items[i] as Kept)) items[w--] = items[i] as Kept;
    for (let i = this.head; i <= w; i++) items[i] = undefined as unknown as Kept;
    this.head = w + 1;
    if (this.head === end) this.#reset();
    return found;
  }

  #reset(): void {
    this.items.length = 0;
    this.head = 0;
  }
}

/** Unclaimed events by the values of some fields (see RunMachine's #unclaimedBy). */
interface UnclaimedIndex {
  readonly keys: readonly string[];
  readonly byValue: Map<string, Line>;
}

/** The line of `index` that `ev` belongs in (made when missing). */
function indexed(index: UnclaimedIndex, ev: Event): Line {
  const value = valueOf(ev, index.keys);
  let line = index.byValue.get(value);
  if (line === undefined) index.byValue.set(value, (line = new Line()));
  return line;
}

/** A step's place in one run: its invocations in flight and the events waiting for one of its `numWorkers`. */
export interface StepSlot {
  readonly def: StepDefinition;
  inFlight: number;
  /** Queued events from `head` on (taken from the front without shifting). */
  backlog: Event[];
  head: number;
}

/**
 * What the machine decides, told to whoever carries it out: the driver in a live run, the
 * replay fold on resume (which records instead of running). Method calls, not effect objects,
 * so a live run's hot path allocates nothing for them.
 */
export interface RunEffects<S extends StepSlot, W extends PendingWait> {
  /** Begin an invocation of `slot`'s step on `ev`: its worker and the run's active count are taken already. */
  startStep(slot: S, ev: Event): void;
  /** A StopEvent was emitted: the run completes with it. */
  completeRun(stop: Event): void;
  /** No step takes `ev` and no wait did: it is kept for a later `waitForEvent`. */
  keepUnclaimed(ev: Event): void;
  /** `ev` ends wait `wait`. */
  answerWait(wait: W, ev: Event): void;
  /** Nothing runs, nothing is queued, no StopEvent, and the workflow takes no outside events. */
  stalled(): void;
  /** Only waits are in flight (`"waiting"`), or a step runs again (`"running"`). */
  statusChanged(status: "running" | "waiting"): void;
}

/**
 * One run as data: where each event goes (one routing rule, {@link destinations}), each step's
 * workers and backlog (`numWorkers`), how many invocations and deliveries are active, the
 * events no step took, the pending waits, the `collectEvents` buffers and the run's status.
 * Its methods are the inputs; what follows from them is told to its {@link RunEffects}.
 * No timers, promises or I/O: a live run feeds it as things happen, `replay` feeds it the
 * journal, and both end in the same state.
 */
export class RunMachine<S extends StepSlot, W extends PendingWait = PendingWait> {
  status: RunStatus = "running";
  /** The StartEvent has been routed (a run restoring from its journal has not begun yet). */
  begun = false;
  /** Invocations in flight, plus deliveries under way (see {@link hold}). */
  active = 0;
  /** Events no step accepted and no wait took yet, oldest first (a copy). */
  get unclaimed(): Event[] {
    if (this.#live === 0) return NONE as Event[];
    const out: Event[] = [];
    const items = this.#kept.items;
    for (let i = this.#kept.head; i < items.length; i++) {
      const ev = (items[i] as Kept).ev;
      if (ev !== undefined) out.push(ev);
    }
    return out;
  }
  /** The unclaimed events' entries, oldest first; entries a wait took by requirements stay, dead, until passed or compacted. */
  #kept = new Line();
  /** How many of {@link #kept}'s entries are live. */
  #live = 0;
  /** Claims since the line and indexes were last made anew: at most as many dead entries are in them. */
  #stale = 0;
  /** Pending `waitForEvent` waits. */
  waits: Waits<W> = NO_WAITS as Waits<W>;
  /** `collectEvents` buffers by key, made on first use. */
  collects: Map<string, CollectBuffer> | undefined;

  readonly #index: ReadonlyMap<StepDefinition, number>;
  /** The last event class {@link destinations} sent to exactly one step, and that step's slot. */
  #lastClass: unknown;
  #lastSlot: S | undefined;

  constructor(
    readonly plan: Plan,
    /** One per step, in plan order. */
    readonly slots: readonly S[],
    readonly effects: RunEffects<S, W>,
  ) {
    this.#index = slotIndex(plan);
  }

  get running(): boolean {
    return this.status === "running" || this.status === "waiting";
  }

  /** The slot of step `def`. */
  slotOf(def: StepDefinition): S {
    return this.slots[this.#index.get(def) as number] as S;
  }

  /* ------------------------------------------------------------ events */

  /**
   * `ev` was emitted: by `from` (a step; undefined for the input and events from outside),
   * to `target` when it was sent to a named step. A StopEvent completes the run; a pending
   * wait it matches takes it first; else it goes to `target` or to every step accepting it,
   * or, when none does, it is kept unclaimed.
   */
  emit(ev: Event, from: S | undefined, target: S | undefined): void {
    if (!this.running) return;
    const cls = ev.constructor;
    // The class routed last went to one step: the same class, with no wait pending and no step
    // named, goes there again (a chain routes one class over and over).
    if (cls === this.#lastClass && target === undefined && this.waits.size === 0) return this.deliver(this.#lastSlot as S, ev);
    const routes = destinations(this.plan, ev);
    if (routes === END) return this.effects.completeRun(ev);
    if (this.waits.size > 0 && this.#offer(ev)) return;
    if (target !== undefined) return this.deliver(target, ev);
    if (routes.length === 0) {
      const k: Kept = { ev };
      this.#kept.items.push(k);
      this.#live++;
      if (this.#unclaimedBy !== undefined) for (const index of this.#unclaimedBy.values()) indexed(index, ev).items.push(k);
      this.effects.keepUnclaimed(ev);
      if (from === undefined && this.active === 0 && this.begun) this.#idle();
      return;
    }
    if (routes.length === 1) {
      const slot = this.slotOf(routes[0] as StepDefinition);
      this.#lastClass = cls;
      this.#lastSlot = slot;
      return this.deliver(slot, ev);
    }
    // Several steps take it: the delivery itself counts as active, so a synchronous step that
    // finishes silently inside it does not declare the run stalled before the others have it.
    this.active++;
    for (let i = 0; i < routes.length; i++) this.deliver(this.slotOf(routes[i] as StepDefinition), ev);
    this.settle();
  }

  /** `ev` goes to `slot`'s step: started if a worker is free, else queued in its backlog. */
  deliver(slot: S, ev: Event): void {
    if (slot.inFlight < slot.def.numWorkers) {
      slot.inFlight++;
      this.active++;
      // A run that was only waiting runs a step again.
      if (this.status === "waiting") {
        this.status = "running";
        this.effects.statusChanged("running");
      }
      this.effects.startStep(slot, ev);
    } else {
      if (slot.backlog === NONE) slot.backlog = [];
      slot.backlog.push(ev);
    }
  }

  /**
   * An invocation of `slot` finished with `emitted`: its worker is free at once (an event it
   * emits to its own step starts there), but it counts as active until all its events are
   * routed, so a synchronous step finishing inside that routing does not find the run idle.
   */
  finish(slot: S, emitted: readonly Event[]): void {
    slot.inFlight--;
    for (let i = 0; i < emitted.length; i++) this.emit(emitted[i] as Event, slot, undefined);
    this.active--;
    this.next(slot);
  }

  /** {@link finish} with the one event `ev`. */
  finishWith(slot: S, ev: Event): void {
    slot.inFlight--;
    this.emit(ev, slot, undefined);
    this.active--;
    this.next(slot);
  }

  /** An invocation of `slot` ended with nothing to route (a `ctx.call` it handled failed). */
  drop(slot: S): void {
    slot.inFlight--;
    this.active--;
    this.next(slot);
  }

  /** `slot` has a free worker: its next queued event starts; or the run is idle or only waiting. */
  next(slot: S): void {
    if (!this.running) return;
    if (slot.head < slot.backlog.length) {
      const ev = slot.backlog[slot.head] as Event;
      slot.backlog[slot.head++] = undefined as unknown as Event;
      if (slot.head === slot.backlog.length) {
        slot.backlog.length = 0;
        slot.head = 0;
      }
      this.deliver(slot, ev);
    } else this.#quieted();
  }

  /** An invocation restored from the journal runs again on `slot` (the driver starts it, with its own attempt number). */
  resume(slot: S): void {
    slot.inFlight++;
    this.active++;
  }

  /** Take `ev` out of `slot`'s backlog; false when it is not there. */
  unqueue(slot: S, ev: Event): boolean {
    const i = slot.backlog.indexOf(ev, slot.head);
    if (i < 0) return false;
    slot.backlog.splice(i, 1);
    if (slot.head === slot.backlog.length) {
      slot.backlog.length = 0;
      slot.head = 0;
    }
    return true;
  }

  /** Several deliveries are under way: the run is not idle until {@link settle}. */
  hold(): void {
    this.active++;
  }

  /** The deliveries begun with {@link hold} are done: the run may now be idle or only waiting. */
  settle(): void {
    this.active--;
    if (this.running) this.#quieted();
  }

  /** Fewer are active: with none, the run is idle; with only waits, it is waiting. */
  #quieted(): void {
    if (this.active === 0) this.#idle();
    else if (this.waits.size >= this.active) this.#waitingOnly();
  }

  #idle(): void {
    if (this.plan.external.length > 0) return;
    this.effects.stalled();
  }

  #waitingOnly(): void {
    if (this.status === "running") {
      this.status = "waiting";
      this.effects.statusChanged("waiting");
    }
  }

  /* ------------------------------------------------------------ waits */

  /**
   * The oldest unclaimed event a new wait for `type` takes at once (removed), or undefined.
   * Constant work per claim, amortized, besides the unclaimed events it passes that do not fit.
   */
  claim(type: EventClass, requirements: Requirements | undefined, filter: ((ev: Event) => boolean) | undefined): Event | undefined {
    if (this.#live === 0) return undefined;
    let k: Kept | undefined;
    if (requirements !== undefined) {
      // The candidates with the required values, oldest first, from the index: W waits by id
      // after W events came cost W lookups, not W² comparisons.
      const index = this.#indexOf(requirements.keys);
      const line = index.byValue.get(requirements.value);
      if (line === undefined) return undefined;
      k = line.take((entry, e) => {
        // Its fields changed since it was indexed: into its right line.
        if (!meets(e, requirements)) {
          indexed(index, e).items.push(entry);
          return DROP;
        }
        return e instanceof type && (filter === undefined || filter(e)) ? TAKE : SKIP;
      });
      if (line.items.length === 0) index.byValue.delete(requirements.value);
    } else k = this.#kept.take((_, e) => (e instanceof type && (filter === undefined || filter(e)) ? TAKE : SKIP));
    if (k === undefined) return undefined;
    const ev = k.ev as Event;
    k.ev = undefined;
    this.#live--;
    // A claim leaves its entry dead in the line (taken by requirements) or in the indexes: once
    // there may be more dead entries than live ones, they all go (the line and indexes anew).
    if (this.#unclaimedBy !== undefined && ++this.#stale > Math.max(this.#live, 16)) this.#rebuild([]);
    return ev;
  }

  /** Events a wait took go back, first in line (an attempt that took them failed and runs again). */
  unclaim(events: readonly Event[]): void {
    if (events.length > 0) this.#rebuild(events);
  }

  /** The line anew: `first` in front of the live entries, and every index made again from it. */
  #rebuild(first: readonly Event[]): void {
    const old = this.#kept;
    const line = new Line();
    const items = line.items;
    // Not unshift(...events): a resumed run's many unclaimed events would overflow the stack as arguments.
    for (const ev of first) items.push({ ev });
    for (let i = old.head; i < old.items.length; i++) {
      const k = old.items[i] as Kept;
      if (k.ev !== undefined) items.push(k);
    }
    this.#kept = line;
    this.#live = items.length;
    this.#stale = 0;
    if (this.#unclaimedBy === undefined) return;
    for (const index of this.#unclaimedBy.values()) {
      index.byValue.clear();
      for (const k of items) indexed(index, k.ev as Event).items.push(k);
    }
  }

  /**
   * The unclaimed events by the JSON of the fields a wait's requirements name: one index per set
   * of names, made by the first claim with them and kept up to date from then on (an entry a
   * claim took elsewhere stays, dead, until passed or the line is rebuilt).
   */
  #unclaimedBy: Map<string, UnclaimedIndex> | undefined;

  #indexOf(keys: readonly string[]): UnclaimedIndex {
    const all = (this.#unclaimedBy ??= new Map<string, UnclaimedIndex>());
    const sig = keys.join("\0");
    let index = all.get(sig);
    if (index === undefined) {
      all.set(sig, (index = { keys, byValue: new Map<string, Line>() }));
      const items = this.#kept.items;
      for (let i = this.#kept.head; i < items.length; i++) {
        const k = items[i] as Kept;
        if (k.ev !== undefined) indexed(index, k.ev).items.push(k);
      }
    }
    return index;
  }

  /** A wait begins: if only waits are in flight now, the run is waiting. */
  addWait(w: W): void {
    if (this.waits === NO_WAITS) this.waits = new Waits<W>();
    this.waits.add(w);
    if (this.waits.size >= this.active) this.#waitingOnly();
  }

  /** A wait ended (answered, timed out, aborted): a waiting run is running again. */
  removeWait(w: W): void {
    this.waits.delete(w);
    if (this.status === "waiting") {
      this.status = "running";
      this.effects.statusChanged("running");
    }
  }

  /** Hand `ev` to every wait it matches (one answer ends each parallel wait for it). */
  #offer(ev: Event): boolean {
    const taken = this.waits.matching(ev);
    if (taken === undefined) return false;
    for (const w of taken) this.effects.answerWait(w, ev);
    return true;
  }

  /* ------------------------------------------------------------ collect buffers */

  /** The buffer under `key` (made when missing). */
  buffer(key: string): CollectBuffer {
    const collects = (this.collects ??= new Map<string, CollectBuffer>());
    let buffer = collects.get(key);
    if (buffer === undefined) collects.set(key, (buffer = new CollectBuffer()));
    return buffer;
  }

  /**
   * `ctx.collectEvents(ev, types)` under `key`: `ev` joins the buffer (once only, with `once`:
   * a step run again collects its event again), and the complete set is taken out if there is
   * one. Returns the set (null while incomplete) and whether `ev` was added. An event of no
   * listed class is not collected (`added` false) and completes nothing.
   * Constant work per event, amortized, however long the buffer ({@link CollectBuffer}).
   */
  collect(key: string, ev: Event, types: readonly EventClass[], once: boolean): { set: Event[] | null; added: boolean } {
    const buffer = this.buffer(key);
    if (!buffer.accepts(ev, types)) return { set: null, added: false };
    const added = !once || !buffer.has(ev);
    if (added) buffer.push(ev);
    return { set: buffer.take(types), added };
  }

  /** The journal says `events` left the buffer under `key` (a set was taken). */
  uncollect(key: string, events: readonly Event[]): void {
    this.buffer(key).remove(events);
  }

  /* ------------------------------------------------------------ end */

  /** The run ended with `status`: returns the waits still pending (the driver rejects them). */
  end(status: RunStatus): readonly W[] {
    this.status = status;
    if (this.waits.size === 0) return NONE as W[];
    const waits = [...this.waits.all];
    this.waits = NO_WAITS as Waits<W>;
    return waits;
  }
}

/** The shared, frozen stand-in for a list nothing was put in yet. */
export const NONE: readonly unknown[] = Object.freeze([]);
/** The shared stand-in for a run's waits before its first (never added to). */
const NO_WAITS: Waits<PendingWait> = new Waits();

// Slots in plan order, found through an index shared by every run of the plan: a Map per run cost ~190 bytes.
const SLOT_INDEX = new WeakMap<Plan, Map<StepDefinition, number>>();
function slotIndex(plan: Plan): Map<StepDefinition, number> {
  let index = SLOT_INDEX.get(plan);
  if (index === undefined) {
    index = new Map();
    plan.steps.forEach((def, i) => index?.set(def, i));
    SLOT_INDEX.set(plan, index);
  }
  return index;
}
