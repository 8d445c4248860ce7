import {
  JournalMismatchError,
  RunFinishedError,
  RunLockedError,
  RunNotFoundError,
  RunSuspendedError,
  StoreVersionError,
  UnknownEventTypeError,
  WorkflowError,
  WorkflowRuntimeError,
} from "../errors.js";
import { InputRequiredEvent, isEvent, type Event } from "../events.js";
import type { WorkflowHandler } from "../handler.js";
import { retryBusy, storeFailed, type Journal } from "./journal.js";
import type { Clock } from "../clock.js";
import { findLive, hold, markResuming, takeLease, type Leasing } from "./lease.js";
import type { Plan } from "../plan.js";
import { stepNamed } from "../machine/routing.js";
import { NONE, RunMachine, type RunEffects, type StepSlot } from "../machine/run-machine.js";
import type { PendingWait } from "../machine/waits.js";
import type { StepDefinition } from "../step.js";
import { writeKey, type Restored } from "../machine/restored.js";
import { CollectBuffer, collectKeyParts, normalCollectKey } from "../machine/collect.js";
import { errorJSON, reviveEvent, reviveStreamed } from "../records.js";
import { journaledOrigin, ownOrigin, type Run } from "../driver/run.js";
import type { StreamWriter } from "../context.js";
import { isLive, JOURNAL_FORMAT, type InboxItem, type JournalEntry, type Store, type StoredRun } from "../store.js";

export type { Restored };

/** The result of {@link replay}: the restored state, the run's input, and its events by seq. */
export interface Replayed {
  restored: Restored;
  input: Event;
  events: ReadonlyMap<number, Event>;
  maxSeq: number;
}

/**
 * The replay's side of the machine: what the live run did is in the journal, so a start the
 * machine decides is recorded as pending until the journal's `step_started` for it (or, at
 * the end, handed to the resumed run as a delivery never started).
 */
class Fold implements RunEffects<StepSlot, PendingWait> {
  /** Starts the journal holds no `step_started` for yet, in the order they were decided. */
  readonly pending = new Set<{ slot: StepSlot; ev: Event }>();
  readonly #byEvent = new Map<Event, { slot: StepSlot; ev: Event }[]>();
  stop: Event | undefined;

  startStep(slot: StepSlot, ev: Event): void {
    const p = { slot, ev };
    this.pending.add(p);
    const list = this.#byEvent.get(ev);
    if (list === undefined) this.#byEvent.set(ev, [p]);
    else list.push(p);
  }

  /** The journal started `slot`'s step on `ev`: true when the machine had decided that start. */
  started(slot: StepSlot, ev: Event): boolean {
    const list = this.#byEvent.get(ev);
    const i = list === undefined ? -1 : list.findIndex((p) => p.slot === slot);
    if (list === undefined || i < 0) return false;
    this.pending.delete(list[i] as { slot: StepSlot; ev: Event });
    list.splice(i, 1);
    if (list.length === 0) this.#byEvent.delete(ev);
    return true;
  }

  completeRun(stop: Event): void {
    this.stop ??= stop;
  }
  /** The InputRequiredEvents no step took, in order: a live run streams each as it is kept. */
  readonly asked: Event[] = [];
  keepUnclaimed(ev: Event): void {
    if (ev instanceof InputRequiredEvent) this.asked.push(ev);
  }
  answerWait(): void {}
  stalled(): void {}
  statusChanged(): void {}
}

/**
 * A journal and a plan in, the state to continue from out: the journal's records fed, in
 * order, to the same {@link RunMachine} a live run feeds, so routing, `numWorkers` backlogs,
 * collect buffers and unclaimed events follow one code path live and on resume.
 * - Steps that finished are not run again; the events they emitted are routed as the live run
 *   routed them, and only starts the journal does not hold are delivered again.
 * - Invocations started but not finished (including those paused in `waitForEvent`, and those
 *   that failed their last attempt before the run's end was journaled) run again: at least once.
 * - An event that ended a wait of an invocation that runs again goes back to the unclaimed
 *   events, so its re-registered wait takes it at once: an answer is never lost.
 * - `ctx.store`, `collectEvents` buffers (putting back a set taken by an invocation that runs
 *   again) and unclaimed events are as the journal left them.
 */
export function replay(plan: Plan, runId: string, entries: readonly JournalEntry[], stored?: StoredRun): Replayed {
  return fold(plan, runId, entries, stored).replayed;
}

/** {@link replay}, with the machine it folded the journal into (for tests comparing it with a live run's). */
export function fold(plan: Plan, runId: string, entries: readonly JournalEntry[], stored?: StoredRun): { replayed: Replayed; machine: RunMachine<StepSlot> } {
  // A live run offers an event to the pending waits before routing it: an event some wait took
  // (a `received` record, journaled after it) was not routed.
  const received = new Map<number, string>();
  for (const e of entries) if (e.kind === "received") received.set(e.seq, e.stepRunId);
  let inputJson = stored?.input;
  if (inputJson === undefined) for (const e of entries) if (e.kind === "run_started") (inputJson ??= e.input);
  if (inputJson === undefined) {
    throw new JournalMismatchError(`Run "${runId}" has no input in its store, so it cannot be resumed.`, { workflow: plan.workflow, runId }, "NO_INPUT");
  }
  const input = reviveEvent(plan, inputJson, runId);
  // The sender of a send is journaled as its step name; of a step's output, as its stepRunId.
  const isOutput = (from: string | undefined) => from !== undefined && from.startsWith(`${runId}:`);
  const sender = (from: string | undefined) => (from === undefined || !isOutput(from) ? from : from.slice(runId.length + 1, from.lastIndexOf(":")));
  const stepOf = (name: string, what: string, from?: string): StepDefinition => {
    const def = stepNamed(plan, name, sender(from));
    if (def !== undefined) return def;
    throw new JournalMismatchError(
      `The journal of run "${runId}" ${what} step "${name}", which workflow "${plan.workflow}" does not have (steps: ${[...plan.byName.keys()].join(", ")}). Resume with the version of the workflow that wrote the run.`,
      { workflow: plan.workflow, runId, step: name },
    );
  };

  const slots: StepSlot[] = plan.steps.map((def) => ({ def, inFlight: 0, backlog: NONE as Event[], head: 0 }));
  const effects = new Fold();
  const m = new RunMachine<StepSlot>(plan, slots, effects);
  const events = new Map<number, Event>();
  const seqOf = new Map<Event, number>();
  const sends: { by: string; attempt: number; n: number }[] = [];
  /** Each invocation's last attempt that failed and was retried: its effects are not the re-run's. */
  const failed = new Map<string, number>();
  const childRecs: { stepRunId: string; attempt: number; n: number; runId: string }[] = [];
  const started = new Map<string, { step: string; slot: StepSlot | undefined; seq: number; attempt: number }>();
  const ended = new Set<string>();
  const state = new Map<string, unknown>();
  const collects: Extract<JournalEntry, { kind: "collect" }>[] = [];
  let maxNo = 0;
  let maxSeq = 0;
  let trace: Record<string, string> | undefined;
  const eventAt = (seq: number) => events.get(seq) ?? (seq === 1 ? input : undefined);
  for (const e of entries) {
    switch (e.kind) {
      case "run_started":
        trace ??= e.trace;
        break;
      case "event": {
        const ev = reviveEvent(plan, e.event, runId);
        events.set(e.seq, ev);
        seqOf.set(ev, e.seq);
        // A send follows the start of the attempt that made it.
        if (typeof e.by === "string" && typeof e.n === "number") sends.push({ by: e.by, attempt: started.get(e.by)?.attempt ?? 1, n: e.n });
        if (e.seq > maxSeq) maxSeq = e.seq;
        // A step's output is routed with its step_finished; an event a wait took was not routed.
        if (isOutput(e.from) || received.has(e.seq)) break;
        m.emit(ev, undefined, e.to === undefined ? undefined : m.slotOf(stepOf(e.to, "sends an event to", e.from)));
        break;
      }
      case "step_started": {
        const no = Number(e.stepRunId.slice(e.stepRunId.lastIndexOf(":") + 1));
        if (Number.isInteger(no) && no > maxNo) maxNo = no;
        const prev = started.get(e.stepRunId);
        if (prev !== undefined) {
          // A retry, or a re-run after an earlier resume.
          if (e.attempt > prev.attempt) prev.attempt = e.attempt;
          break;
        }
        const def = plan.byName.get(e.step);
        const slot = def === undefined ? undefined : m.slotOf(def);
        const ev = eventAt(e.seq);
        if (slot !== undefined && !(ev !== undefined && effects.started(slot, ev))) {
          // Not a start the machine decided (a journal from an older version, a resumed run that
          // delivered in another order): take it from the backlog if it waits there, and count it.
          if (ev !== undefined) m.unqueue(slot, ev);
          m.resume(slot);
        }
        started.set(e.stepRunId, { step: e.step, slot, seq: e.seq, attempt: e.attempt });
        break;
      }
      case "step_finished": {
        const s = started.get(e.stepRunId);
        if (ended.has(e.stepRunId)) break;
        ended.add(e.stepRunId);
        const emitted: Event[] = [];
        for (const seq of e.emitted) {
          const ev = events.get(seq);
          if (ev !== undefined && !received.has(seq)) emitted.push(ev);
        }
        if (s?.slot !== undefined) m.finish(s.slot, emitted);
        else for (const ev of emitted) m.emit(ev, undefined, undefined);
        break;
      }
      case "step_failed":
        if (e.willRetry) failed.set(e.stepRunId, Math.max(e.attempt, failed.get(e.stepRunId) ?? 0));
        break;
      case "child":
        childRecs.push({ ...e, attempt: started.get(e.stepRunId)?.attempt ?? 1 });
        break;
      case "state":
        state.set(e.key, e.value);
        break;
      case "collect": {
        const c = { ...e, key: normalCollectKey(e.key) };
        collects.push(c);
        // The whole buffer (older journals), or a change of it.
        if (c.seqs !== undefined) {
          (m.collects ??= new Map()).set(c.key, CollectBuffer.of(c.seqs.map((seq) => events.get(seq)).filter((ev): ev is Event => ev !== undefined)));
          break;
        }
        const added = c.add === undefined ? undefined : events.get(c.add);
        if (added !== undefined) {
          const buffer = m.buffer(c.key);
          if (!buffer.has(added)) buffer.push(added);
        }
        if (c.taken !== undefined) m.uncollect(c.key, c.taken.map((seq) => events.get(seq)).filter((ev): ev is Event => ev !== undefined));
        break;
      }
      default:
        break;
    }
  }
  // A journal cut before the input got its seq: the input still has to reach its steps.
  if (events.size === 0 && started.size === 0) m.emit(input, undefined, undefined);

  const inFlight: { step: string; event: Event; no: number; attempt: number }[] = [];
  const inFlightIds = new Set<string>();
  for (const [id, s] of started) {
    if (ended.has(id)) continue;
    const event = eventAt(s.seq);
    if (event === undefined) throw new JournalMismatchError(`The journal of run "${runId}" starts step "${s.step}" on event #${s.seq}, which it never recorded.`, { workflow: plan.workflow, runId }, "CORRUPT_JOURNAL");
    inFlight.push({ step: s.slot?.def.name ?? stepOf(s.step, "started").name, event, no: Number(id.slice(id.lastIndexOf(":") + 1)), attempt: s.attempt + 1 });
    inFlightIds.add(id);
  }
  inFlight.sort((a, b) => a.no - b.no);
  // What an in-flight invocation's attempts since its last failed one sent, wrote and started (across one
  // crash or several: a re-run skips what it would repeat, so only the first made them), keyed by
  // the attempt its re-run will be. A failed attempt's sends and writes are the retry's to make anew.
  const rerun = (stepRunId: string, attempt: number): number | undefined => {
    if (!inFlightIds.has(stepRunId) || attempt <= (failed.get(stepRunId) ?? 0)) return undefined;
    return (started.get(stepRunId)?.attempt ?? attempt) + 1;
  };
  const sent = new Set<string>();
  for (const { by, attempt, n } of sends) {
    const next = rerun(by, attempt);
    if (next !== undefined) sent.add(writeKey(by, next, n));
  }
  // The stream in order of position; an in-flight invocation's writes as `rerun` keys them.
  // A child's write (with its origin) is one the parent holds: handed up again, it is skipped.
  const streamed: NonNullable<Restored["streamed"]>[number][] = [];
  const childWrites = new Set<string>();
  const restreamed = new Set<string>();
  // A run's own write with no writer is an InputRequiredEvent no step took (the run streams it
  // right after the step that returned it finished): one the journal lacks is streamed on resume.
  let asksStreamed = 0;
  for (const r of streamRecords(entries)) {
    const writer = writerOfRecord(r);
    streamed.push({ event: reviveStreamed(plan, r.event, runId, r.asks === true), ...(r.origin ? { origin: r.origin } : {}), ...(writer ? { writer } : {}) });
    if (writer === undefined && r.origin === undefined) asksStreamed++;
    if (writer === undefined) continue;
    if (r.origin !== undefined) childWrites.add(writeKey(writer.stepRunId, writer.attempt, writer.n));
    const next = rerun(writer.stepRunId, writer.attempt);
    if (next !== undefined) restreamed.add(writeKey(writer.stepRunId, next, writer.n));
  }
  // The child runs a re-run re-attaches to, as `rerun` keys them (a retry starts its own).
  const children = new Map<string, string>();
  for (const c of childRecs) {
    const next = rerun(c.stepRunId, c.attempt);
    if (next !== undefined) children.set(writeKey(c.stepRunId, next, c.n), c.runId);
  }

  // Events no step took, and those whose wait runs again, in the order they were journaled.
  const unclaimed = [...m.unclaimed];
  for (const [seq, taker] of received) if (inFlightIds.has(taker)) unclaimed.push(events.get(seq) as Event);
  unclaimed.sort((a, b) => (seqOf.get(a) ?? 0) - (seqOf.get(b) ?? 0));
  // Starts the journal never got to, then each step's backlog.
  const deliveries: { step: string; event: Event }[] = [];
  for (const { slot, ev } of effects.pending) deliveries.push({ step: slot.def.name, event: ev });
  for (const slot of slots) for (let i = slot.head; i < slot.backlog.length; i++) deliveries.push({ step: slot.def.name, event: slot.backlog[i] as Event });

  // A set taken by an invocation that runs again goes back to its buffer: the re-run takes it again.
  for (const c of collects) {
    if (c.taken === undefined || c.by === undefined) continue;
    const step = collectKeyParts(c.key)?.step;
    const rerun = inFlight.some((f) => f.step === step && f.event === events.get(c.by as number));
    if (!rerun) continue;
    const buf = m.buffer(c.key);
    for (const t of c.taken) {
      const ev = events.get(t);
      if (ev !== undefined && !buf.has(ev)) buf.push(ev);
    }
  }
  const collect = new Map<string, Event[]>();
  if (m.collects !== undefined) for (const [key, buffer] of m.collects) collect.set(key, buffer.toArray());
  const stop = effects.stop;
  const asks = effects.asked.slice(asksStreamed);

  return {
    replayed: {
      restored: { state, collect, unclaimed, inFlight, deliveries, invocations: maxNo, external: [], ...(sent.size > 0 ? { sent } : {}), ...(streamed.length > 0 ? { streamed } : {}), ...(restreamed.size > 0 ? { restreamed } : {}), ...(childWrites.size > 0 ? { childWrites } : {}), ...(children.size > 0 ? { children } : {}), ...(stop ? { stop } : {}), ...(asks.length > 0 ? { asks } : {}), ...(trace ? { trace } : {}) },
      input,
      events,
      maxSeq,
    },
    machine: m,
  };
}

export { storeFailed };

/** What `wf.resume` and `wf.sendEvent` ask of the run starter. */
export interface Resuming {
  readonly runId: string;
  /** Events to deliver once resumed; sends made while the resume is under way are added here. */
  readonly events: Event[];
}

/** A journal's stream records, in order of position. */
function streamRecords(entries: readonly JournalEntry[]): Extract<JournalEntry, { kind: "stream" }>[] {
  return entries.filter((e): e is Extract<JournalEntry, { kind: "stream" }> => e.kind === "stream").sort((a, b) => a.pos - b.pos);
}

/** The attempt that wrote a stream record and the how-manieth of its writes it was, when journaled. */
function writerOfRecord(r: Extract<JournalEntry, { kind: "stream" }>): StreamWriter | undefined {
  return r.by !== undefined && r.attempt !== undefined && r.n !== undefined ? { stepRunId: r.by, attempt: r.attempt, n: r.n } : undefined;
}

/**
 * A child run that ended before its parent crashed, re-attached by the parent's step run again:
 * its journaled stream writes go up to the parent once more, in order. The parent keeps those
 * its own journal lost in the crash and skips those it holds ({@link Restored.childWrites}).
 */
export async function restreamEnded(store: Store, plan: Plan, runId: string, parent: Run): Promise<void> {
  let entries: readonly JournalEntry[];
  try {
    entries = await store.getJournal(runId);
  } catch (err) {
    throw storeFailed(err, plan.workflow, runId);
  }
  for (const r of streamRecords(entries)) {
    parent.toStream(reviveStreamed(plan, r.event, runId), writerOfRecord(r), undefined, r.origin === undefined ? ownOrigin(runId, plan.workflow) : journaledOrigin(r.origin, runId));
  }
}

/** Check what `wf.sendEvent(runId, ev)` was given before anything starts. */
export function checkSendable(ev: unknown, runId: string, workflow: string): void {
  if (!isEvent(ev)) throw new WorkflowRuntimeError(`sendEvent("${runId}", ...) takes an Event instance, got ${ev === null ? "null" : typeof ev}.`, "NOT_AN_EVENT", { workflow, runId });
}

/**
 * Continue stored run `resuming.runId` in `run` (already created with that id and `journal`):
 * check it, take its lease, replay its journal, and start the run from there. Any problem
 * settles the handler with a clear error and leaves the journal as it was.
 */
export function beginResume(store: Store | undefined, plan: Plan, run: Run, handler: WorkflowHandler<unknown>, journal: Journal | null, resuming: Resuming, leasing: Leasing, resumeHere: () => PromiseLike<unknown>): void {
  const { runId } = resuming;
  const ctx = { workflow: plan.workflow, runId };
  journal?.hold();
  void (async () => {
    if (!store || !journal) throw new WorkflowError(`Workflow "${plan.workflow}" has no store, so it cannot resume run "${runId}"; pass one, e.g. { store: new SqliteStore(".stepwise/runs.db") }.`, ctx);
    let stored: StoredRun | undefined;
    try {
      stored = await store.getRun(runId);
    } catch (err) {
      throw storeFailed(err, plan.workflow, runId);
    }
    if (!stored) throw new RunNotFoundError(`The store has no run "${runId}" to resume (workflow "${plan.workflow}"). List runs with store.listRuns() or \`stepwise runs list\`.`, ctx);
    if (stored.workflow !== plan.workflow) {
      throw new JournalMismatchError(`Run "${runId}" is a run of workflow "${stored.workflow}", not "${plan.workflow}"; resume it with that workflow.`, ctx, "WRONG_WORKFLOW");
    }
    const format = stored.format ?? JOURNAL_FORMAT;
    if (format > JOURNAL_FORMAT) {
      throw new StoreVersionError(`Run "${runId}" was journaled by a newer stepwise (journal format ${format}; this version reads up to ${JOURNAL_FORMAT}). Resume it with that version.`, format, JOURNAL_FORMAT, ctx);
    }
    if (stored.status !== "running" && stored.status !== "waiting") {
      const why = stored.error ? `: ${stored.error.message}` : "";
      throw new RunFinishedError(`Run "${runId}" of workflow "${plan.workflow}" has already ${stored.status === "completed" ? "completed" : `ended (${stored.status})${why}`}; there is nothing to resume.`, stored.status, ctx);
    }
    const owner = leasing.owner.next();
    let token: number;
    try {
      token = await takeLease(store, runId, owner, plan.workflow, leasing);
    } catch (err) {
      if (!(err instanceof RunLockedError)) throw storeFailed(err, plan.workflow, runId);
      // Another process runs it: events sent go to the run's inbox there (exactly once), and
      // this handler follows the run to its end (issue 11.14). A bare resume is refused.
      if (resuming.events.length === 0) throw err;
      markResuming(store, runId, undefined);
      const events = resuming.events.splice(0);
      try {
        for (const ev of events) await retryBusy(leasing.clock, () => store.deliver(runId, ev.toJSON()));
      } catch (deliverErr) {
        throw deliverErr instanceof RunFinishedError ? deliverErr : storeFailed(deliverErr, plan.workflow, runId);
      }
      run.followRemote(follow(store, runId, plan.workflow, leasing.clock, resumeHere));
      return;
    }
    try {
      let entries: readonly JournalEntry[];
      try {
        entries = await store.getJournal(runId);
      } catch (err) {
        throw storeFailed(err, plan.workflow, runId);
      }
      // It ended between the status check and the lease: ending is one transaction, so its journal says so.
      const end = entries.find((e) => e.kind === "run_finished");
      if (end !== undefined) throw new RunFinishedError(`Run "${runId}" of workflow "${plan.workflow}" has already ended (${end.status}); there is nothing to resume.`, end.status, ctx);
      let r: Replayed;
      try {
        r = replay(plan, runId, entries, stored);
      } catch (err) {
        // An event type this program no longer has (its class removed in a deploy): the run can
        // never resume, so it fails once, here, instead of on every resume (issue 11.11).
        if (err instanceof UnknownEventTypeError) {
          const clock = leasing.clock;
          const error = errorJSON(err);
          await store.finish(runId, [{ kind: "run_finished", status: "failed", error, at: clock.now() }], { status: "failed", error }, { token });
        }
        throw err;
      }
      // Cancelled (or otherwise ended) while loading: leave the stored run as it was.
      if (run.status !== "running") {
        await store.releaseLease(runId, owner);
        return;
      }
      journal.adopt(r.events, r.maxSeq);
      journal.fence(token);
      journal.record({ kind: "run_resumed", owner });
      if (stored.status === "waiting") journal.status("running");
      hold({ run, handler, journal, store, owner, token }, leasing);
      // From here sends reach the live run; those made meanwhile are delivered with the restore.
      markResuming(store, runId, undefined);
      run.start(r.input, { ...r.restored, external: resuming.events.splice(0) });
    } catch (err) {
      await Promise.resolve(store.releaseLease(runId, owner)).catch(() => {});
      throw err;
    }
  })().catch((err: unknown) => {
    if (store) markResuming(store, runId, undefined);
    run.suspend(err);
  });
}

/** How often a handler following a run in another process looks at its stored status. */
const FOLLOW_POLL_MS = 200;

/** The runs held elsewhere that handlers of this process follow, per store: one follower each, whatever the number of handlers. */
const FOLLOWED = new WeakMap<Store, Map<string, Promise<unknown>>>();

/** {@link followEnd}, shared by every handler of this process that follows `runId` on `store`. */
function follow(store: Store, runId: string, workflow: string, clock: Clock, resumeHere: () => PromiseLike<unknown>): Promise<unknown> {
  let runs = FOLLOWED.get(store);
  if (runs === undefined) FOLLOWED.set(store, (runs = new Map<string, Promise<unknown>>()));
  const known = runs.get(runId);
  if (known !== undefined) return known;
  const followed = followEnd(store, runId, workflow, clock, resumeHere);
  runs.set(runId, followed);
  const done = () => {
    if (runs.get(runId) === followed) runs.delete(runId);
  };
  followed.then(done, done);
  return followed;
}

/**
 * How long an event may sit first in the inbox of a run whose holder seems alive before a
 * follower tries to take the run over: longer than a live holder takes to drain its inbox (its
 * poll is 250 ms).
 */
const STUCK_INBOX_MS = 1000;

/**
 * When a follower of a run held elsewhere (a handler here, the server's watch of an inbox it
 * delivered into) should try to continue the run itself: there is an event in its inbox, and
 * nobody holds the run, or that event has sat first in the inbox for {@link STUCK_INBOX_MS}. The
 * try takes the lease from a holder known to be gone (a dead process on this host); a live holder
 * refuses it (RUN_LOCKED), and {@link refused} starts the wait again.
 */
export class InboxWatch {
  #first: number | undefined;
  #since = 0;

  /** Whether to try now, given the run and the first item of its inbox as just read. */
  due(stored: StoredRun, next: InboxItem | undefined, now: number): boolean {
    if (next === undefined) return false;
    if (next.id !== this.#first) [this.#first, this.#since] = [next.id, now];
    return stored.lease === undefined || stored.lease.expiresAt <= now || now - this.#since >= STUCK_INBOX_MS;
  }

  /** The try was refused at `now`: the holder lives. */
  refused(now: number): void {
    this.#since = now;
  }
}

/**
 * Resolves with the result of `runId` once it completed in whichever process runs it; rejects if
 * it ended otherwise. Its holder may let go of it without taking the events delivered to its inbox
 * (they went in as it was being suspended), or die: then the run is continued here (`resumeHere`,
 * which takes the inbox) and followed to its end (when: {@link InboxWatch}).
 */
async function followEnd(store: Store, runId: string, workflow: string, clock: Clock, resumeHere: () => PromiseLike<unknown>): Promise<unknown> {
  const watch = new InboxWatch();
  for (;;) {
    const stored = await store.getRun(runId);
    if (stored === undefined) throw new RunNotFoundError(`Run "${runId}" is no longer in the store.`, { workflow, runId });
    if (stored.status === "completed") return stored.result;
    if (!isLive(stored.status)) {
      const why = stored.error ? `: ${stored.error.message}` : "";
      throw new RunFinishedError(`Run "${runId}" of workflow "${workflow}" ended ${stored.status} in the process running it${why}`, stored.status, { workflow, runId });
    }
    const [next] = await store.readInbox(runId, 1);
    if (watch.due(stored, next, clock.now())) {
      try {
        return await resumeHere();
      } catch (err) {
        // Taken by another process first (which takes the inbox too), held by a live one, or ended meanwhile: follow on.
        if (!(err instanceof RunLockedError) && !(err instanceof RunFinishedError)) throw err;
      }
      watch.refused(clock.now());
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, FOLLOW_POLL_MS));
  }
}

/**
 * Stop running `runId` in this process and release it, leaving it in its store (as `"waiting"`
 * if only waits were in flight, else `"running"`) to be resumed or sent an event from any
 * process. Its handler rejects with {@link RunSuspendedError}. Resolves once the journal is
 * committed and the lease released; does nothing if the run is not live here.
 * @example
 * for await (const ev of handler.streamEvents()) if (ev instanceof InputRequiredEvent) break;
 * await suspendRun(handler); // the process may exit; later: wf.sendEvent(runId, answer)
 */
export async function suspendRun(target: string | { readonly runId: string }): Promise<void> {
  const runId = typeof target === "string" ? target : target.runId;
  const live = findLive(runId);
  if (!live) return;
  await live.journal.flushed();
  live.run.suspend(new RunSuspendedError(`Run "${runId}" of workflow "${live.run.workflowName}" was suspended in this process; resume it with wf.resume("${runId}") or wf.sendEvent("${runId}", ev).`, { workflow: live.run.workflowName, runId }));
  await live.journal.flushed();
  await live.store.releaseLease(runId, live.owner);
}
