import type { Event, EventClass } from "../events.js";
import type { RunStatus } from "../inspect.js";
import type { Plan } from "../plan.js";
import type { StepDefinition } from "../step.js";
import { CollectBuffer } from "./collect.js";
import { destinations, END } from "./routing.js";
import { meets, valueOf, Waits, type PendingWait, type Requirements } from "./waits.js";

/** Unclaimed events by the values of some fields (see RunMachine's #unclaimedBy). */
interface UnclaimedIndex {
  readonly keys: readonly string[];
  readonly byValue: Map<string, Event[]>;
}

/** The list of `index` that `ev` belongs in (made when missing). */
function indexed(index: UnclaimedIndex, ev: Event): Event[] {
  const value = valueOf(ev, index.keys);
  let list = index.byValue.get(value);
  if (list === undefined) index.byValue.set(value, (list = []));
  return list;
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
  /** Events no step accepted and no wait took yet, oldest first. */
  unclaimed: Event[] = NONE as Event[];
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
      if (this.unclaimed === NONE) this.unclaimed = [];
      this.unclaimed.push(ev);
      if (this.#unclaimedBy !== undefined) for (const index of this.#unclaimedBy.values()) indexed(index, ev).push(ev);
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

  /** The oldest unclaimed event a new wait for `type` takes at once (removed), or undefined. */
  claim(type: EventClass, requirements: Requirements | undefined, filter: ((ev: Event) => boolean) | undefined): Event | undefined {
    const list = this.unclaimed;
    if (list.length === 0) return undefined;
    if (requirements !== undefined) {
      // The candidates with the required values, oldest first, from the index: W waits by id
      // after W events came cost W lookups, not W² comparisons.
      const candidates = this.#indexOf(requirements.keys).byValue.get(requirements.value);
      if (candidates === undefined) return undefined;
      for (let j = 0; j < candidates.length; j++) {
        const e = candidates[j] as Event;
        if (!(e instanceof type) || (filter !== undefined && !filter(e))) continue;
        const i = list.indexOf(e);
        // Claimed already, or its fields changed since it was indexed: out of this list (into its
        // right one, if it is still unclaimed).
        if (i < 0 || !meets(e, requirements)) {
          candidates.splice(j--, 1);
          if (i >= 0) indexed(this.#indexOf(requirements.keys), e).push(e);
          continue;
        }
        list.splice(i, 1);
        this.#unindex(e);
        return e;
      }
      return undefined;
    }
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as Event;
      if (e instanceof type && (filter === undefined || filter(e))) {
        list.splice(i, 1);
        this.#unindex(e);
        return e;
      }
    }
    return undefined;
  }

  /** Events a wait took go back, first in line (an attempt that took them failed and runs again). */
  unclaim(events: readonly Event[]): void {
    // Not unshift(...events): a resumed run's many unclaimed events would overflow the stack as arguments.
    this.unclaimed = this.unclaimed === NONE ? events.slice() : events.concat(this.unclaimed);
    if (this.#unclaimedBy === undefined) return;
    for (const index of this.#unclaimedBy.values()) {
      const back = new Map<string, Event[]>();
      for (const ev of events) {
        const value = valueOf(ev, index.keys);
        const list = back.get(value);
        if (list === undefined) back.set(value, [ev]);
        else list.push(ev);
      }
      for (const [value, evs] of back) index.byValue.set(value, evs.concat(index.byValue.get(value) ?? []));
    }
  }

  /**
   * The unclaimed events by the JSON of the fields a wait's requirements name: one index per set
   * of names, made by the first claim with them and kept up to date from then on.
   */
  #unclaimedBy: Map<string, UnclaimedIndex> | undefined;

  #indexOf(keys: readonly string[]): UnclaimedIndex {
    const all = (this.#unclaimedBy ??= new Map<string, UnclaimedIndex>());
    const sig = keys.join("\0");
    let index = all.get(sig);
    if (index === undefined) {
      all.set(sig, (index = { keys, byValue: new Map<string, Event[]>() }));
      for (const ev of this.unclaimed) indexed(index, ev).push(ev);
    }
    return index;
  }

  /** `ev` is no longer unclaimed: out of every index. */
  #unindex(ev: Event): void {
    if (this.#unclaimedBy === undefined) return;
    for (const index of this.#unclaimedBy.values()) {
      const value = valueOf(ev, index.keys);
      const list = index.byValue.get(value);
      const i = list === undefined ? -1 : list.indexOf(ev);
      if (i < 0) continue;
      if ((list as Event[]).length === 1) index.byValue.delete(value);
      else (list as Event[]).splice(i, 1);
    }
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
