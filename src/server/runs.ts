/**
 * The runs a server knows: those live in this process (with their logs) and, through the
 * store, every stored run of the served workflows.
 */
import {
  InputRequiredEvent,
  StartEvent,
  StopEvent,
  Workflow,
  describeWorkflow,
  eventTypeName,
  streamOrigin,
  suspendRun,
  type Event,
  type EventClass,
  type EventJSON,
  type JournalEntry,
  type RunStatus,
  type Store,
  type StoredRun,
  type WorkflowHandler,
} from "../index.js";
import { compareRuns, isLive } from "../core/store.js";
import { InboxWatch } from "../core/durable/resume.js";
import { ServerError, errorJSON } from "./errors.js";
import { RunLog, type LogEntry, type RunEnd } from "./log.js";
import { ENDED, Entry, NO_PROMPTS, PLAIN_STOP, type RunInfo, type Served } from "./entry.js";
import { KnownRuns } from "./known.js";
import { pendingInJournal, unanswered } from "./prompts.js";

/** Options of {@link Runs}. */
export interface RunsOptions {
  store: Store | undefined;
  keepFinished: number;
  logLimit: number;
  report: (err: unknown) => void;
}

/** Runs that end by these errors were not ended, only let go by this process (the store keeps them). */
const DETACHED = new Set(["RUN_SUSPENDED", "RUN_LOCKED", "RUN_FINISHED", "RUN_NOT_FOUND"]);

const statusOfError = (err: unknown): RunStatus => {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "WorkflowCancelledError") return "cancelled";
  if (name === "WorkflowTimeoutError") return "timed_out";
  return "failed";
};

/** The registry of runs: starts them, follows their streams into logs, answers what the API asks. */
export class Runs {
  /** The runs live in this process, and the last `keepFinished` that ended here. */
  readonly #runs: KnownRuns;
  readonly #opts: RunsOptions;
  readonly #byWorkflow = new Map<string, Served>();
  readonly served: ReadonlyMap<string, Served>;
  /** Event classes seen on live streams, by type name (events written only to the stream are declared nowhere else). */
  readonly #classes = new Map<string, EventClass>();

  constructor(served: ReadonlyMap<string, Served>, opts: RunsOptions) {
    this.served = served;
    this.#opts = opts;
    this.#runs = new KnownRuns(opts.keepFinished);
    for (const s of served.values()) if (!this.#byWorkflow.has(s.workflow)) this.#byWorkflow.set(s.workflow, s);
  }

  get store(): Store | undefined {
    return this.#opts.store;
  }

  /** Runs live in this process now. */
  get liveCount(): number {
    return this.#runs.liveCount;
  }

  /** The served workflow a stored run belongs to. */
  servedFor(workflow: string): Served | undefined {
    return this.#byWorkflow.get(workflow);
  }

  /** Start a run of `served` with its StartEvent. */
  start(served: Served, start: Event): Entry {
    return this.#follow(served, served.wf.run(start), start.toJSON());
  }

  /**
   * Continue stored run `stored` in this process with `kick` (`wf.resume(id)` or `wf.sendEvent(id, ev)`)
   * and follow it, its log seeded from the journal. Resolves once the run is live here; rejects
   * with the reason it could not be (another process holds it, it ended meanwhile…).
   */
  async continueStored(served: Served, stored: StoredRun, kick: (wf: Workflow) => WorkflowHandler<unknown>): Promise<void> {
    // The continued run's stream starts with what its journal streamed, at the same positions.
    const handler = kick(served.wf);
    const started = new Promise<void>((resolve, reject) => {
      // inspect() returns the handler itself, whose outcome is handled below.
      void handler.inspect((ev) => {
        if (ev.kind === "run_started" && ev.runId === stored.runId) resolve();
      });
      handler.then(() => resolve(), reject);
    });
    await started;
    if (this.handler(stored.runId) === undefined) this.#follow(served, handler, stored.input, stored);
  }

  /**
   * Continue here the store's runs of the served workflows that are `"running"` (their process
   * died or shut down): what a server does when it starts. Runs another live process holds
   * (`RUN_LOCKED`) are left to it. Child runs are not resumed on their own: their parent's step
   * runs again. Resolves with the ids resumed and those that could not be.
   */
  async resumeStored(): Promise<{ resumed: string[]; failed: { runId: string; error: unknown }[] }> {
    const store = this.#opts.store;
    const out = { resumed: [] as string[], failed: [] as { runId: string; error: unknown }[] };
    if (!store) return out;
    for (const stored of await store.listRuns({ status: "running" })) {
      const served = this.#byWorkflow.get(stored.workflow);
      if (!served || stored.parentRunId !== undefined || this.handler(stored.runId) !== undefined) continue;
      try {
        await this.continueStored(served, stored, (wf) => wf.resume(stored.runId));
        out.resumed.push(stored.runId);
      } catch (error) {
        out.failed.push({ runId: stored.runId, error });
        if ((error as { code?: unknown } | null)?.code !== "RUN_LOCKED") this.#opts.report(error);
      }
    }
    return out;
  }

  /**
   * Deliver event `json` to run `runId`: to its live handler here, or, for a stored run waiting
   * or running with no live process, by continuing it here (`beforeContinue` may refuse, e.g.
   * while shutting down); for a run another process holds, through the store's inbox. Validates the event against the workflow's types first. Throws
   * RUN_NOT_FOUND, RUN_FINISHED (an ended run), UNKNOWN_EVENT_TYPE / INVALID_EVENT, RUN_LOCKED.
   */
  async deliver(runId: string, json: EventJSON, beforeContinue: () => void = () => {}): Promise<void> {
    let entry = this.entry(runId);
    if (entry?.handler) {
      // The prompts an answer clears are those streamed before it: the log must hold them first.
      await this.caughtUp(entry);
      // Meanwhile the run may have ended, or been let go of (then the store has it).
      entry = this.entry(runId);
    }
    if (entry?.handler) {
      const ev = fromOutside(entry.served.wf, json);
      entry.handler.sendEvent(ev);
      this.answered(runId, ev);
      return;
    }
    if (entry) throw new ServerError("RUN_FINISHED", `Run "${runId}" has already ended (${entry.status}); the ${json.type} was not delivered.`, { status: entry.status });
    const stored = await this.#stored(runId);
    const s = this.#byWorkflow.get(stored.workflow);
    if (!s) throw new ServerError("RUN_NOT_FOUND", `Run "${runId}" is a child run; send events to its top run.`, { runId });
    if (!isLive(stored.status)) throw new ServerError("RUN_FINISHED", `Run "${runId}" has already ended (${stored.status}); the ${json.type} was not delivered.`, { status: stored.status });
    const ev = fromOutside(s.wf, json);
    const store = this.#opts.store;
    if (store && stored.lease && stored.lease.expiresAt > Date.now()) {
      // Another process runs it: the event joins the run's inbox there, journaled exactly once by
      // its holder (issue 11.14); following it stays with the server that runs it.
      await store.deliver(runId, ev.toJSON());
      void this.#watchInbox(s, runId, beforeContinue);
      return;
    }
    beforeContinue();
    await this.continueStored(s, stored, (wf) => wf.sendEvent(runId, ev));
  }

  /**
   * After an event went into the inbox of a run another process held: until the inbox is empty
   * (its holder took the event), look again now and then; if the holder let go meanwhile (it was
   * suspending as the event went in) with the event still there, continue the run here, which
   * takes its inbox. Without this, an answered event would wait in the inbox of a run nobody runs.
   * An event stuck first in the inbox of a held run also leads to a try ({@link InboxWatch}, the
   * rule handlers following a run use too). One watch per run, however many events are delivered
   * to it meanwhile (`#watched` counts them, so that the watch never ends on an inbox it read
   * before the last one went in).
   */
  async #watchInbox(s: Served, runId: string, beforeContinue: () => void): Promise<void> {
    const deliveries = this.#watched.get(runId);
    if (deliveries !== undefined) {
      this.#watched.set(runId, deliveries + 1);
      return;
    }
    this.#watched.set(runId, 0);
    const store = this.#opts.store as Store;
    const watch = new InboxWatch();
    try {
      for (let wait = 20; ; wait = Math.min(wait * 2, 1000)) {
        await sleep(wait);
        if (this.handler(runId) !== undefined) return;
        const seen = this.#watched.get(runId);
        const [stored, inbox] = await Promise.all([store.getRun(runId), store.readInbox(runId, 1)]);
        if (stored === undefined || !isLive(stored.status)) return;
        if (inbox.length === 0) {
          if (this.#watched.get(runId) === seen) return;
          continue;
        }
        if (!watch.due(stored, inbox[0], Date.now())) continue;
        beforeContinue();
        try {
          await this.continueStored(s, stored, (wf) => wf.resume(runId));
          return;
        } catch (err) {
          // A live holder (or another process that took the run first, which takes the inbox too).
          if ((err as { code?: unknown } | null)?.code !== "RUN_LOCKED") throw err;
          watch.refused(Date.now());
        }
      }
    } catch (err) {
      // Ended meanwhile, or the server is closing: the event stays in the inbox for whoever
      // continues the run. Anything else is reported.
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== "RUN_FINISHED" && !(err instanceof ServerError)) this.#opts.report(err);
    } finally {
      this.#watched.delete(runId);
    }
  }
  /** Runs whose inbox is watched ({@link #watchInbox}) → events delivered to it since its watch began. */
  readonly #watched = new Map<string, number>();

  /** Cancel run `runId`, live here or stored with no live process; resolves once it has ended. Throws RUN_NOT_FOUND, RUN_FINISHED, RUN_LOCKED. */
  async cancel(runId: string): Promise<void> {
    const entry = this.entry(runId);
    if (entry?.handler) {
      entry.handler.cancel();
      await entry.done;
      // A run whose end was decided before the cancel (its completion being committed) ended as it
      // would have: the same answer as a cancel that came after its end.
      if (entry.status !== "cancelled" && entry.status !== "detached") throw new ServerError("RUN_FINISHED", `Run "${runId}" has already ended (${entry.status}); there is nothing to cancel.`, { status: entry.status });
      return;
    }
    if (entry) throw new ServerError("RUN_FINISHED", `Run "${runId}" has already ended (${entry.status}); there is nothing to cancel.`, { status: entry.status });
    await this.cancelStored(await this.#stored(runId));
  }

  /** Cancel a stored run nobody runs now: take its lease, mark it cancelled, let go. */
  async cancelStored(stored: StoredRun): Promise<void> {
    const store = this.#opts.store as Store;
    if (!isLive(stored.status)) {
      throw new ServerError("RUN_FINISHED", `Run "${stored.runId}" has already ended (${stored.status}); there is nothing to cancel.`, { status: stored.status });
    }
    const owner = `stepwise-server:cancel:${stored.runId}`;
    const got = await store.acquireLease(stored.runId, owner, 30_000, Date.now());
    if (!got.acquired) {
      throw new ServerError("RUN_LOCKED", `Run "${stored.runId}" is being run by ${got.holder?.owner ?? "another process"}; cancel it through the server that runs it.`, { holder: got.holder?.owner ?? null });
    }
    try {
      // Fenced by the lease just taken: a run that ended since it was read (its holder finished
      // it and let go) is refused (RUN_FINISHED) instead of being overwritten as cancelled.
      await store.setStatus(stored.runId, "cancelled", { error: { name: "WorkflowCancelledError", message: `Run "${stored.runId}" of workflow "${stored.workflow}" was cancelled.`, code: "CANCELLED" } }, { token: got.token });
    } finally {
      await store.releaseLease(stored.runId, owner);
    }
  }

  #follow(served: Served, handler: WorkflowHandler<unknown>, input: EventJSON | undefined, stored?: StoredRun): Entry {
    const entry = new Entry(handler.runId, served, stored?.createdAt ?? Date.now(), input, handler, stored?.parentRunId);
    // A run continued here again is no longer one that ended here.
    this.#runs.start(entry, stored !== undefined);
    if (stored) this.#wakeAdopted();
    // Child runs report their start here (for `children`); a write to the stream, and the run's
    // StopEvent, are noted so that an ended run nobody read needs no handler to make its log.
    // Only run-level kinds: the run keeps its fast path for plain steps.
    void handler.inspect(
      (ev) => {
        if (ev.kind === "run_started") {
          if (ev.parentRunId !== undefined) (entry.children ??= new Map()).set(ev.runId, ev.parentRunId);
        } else if (ev.kind === "stream") entry.streamed = true;
        else if (ev.kind === "run_finished" && ev.runId === entry.runId) entry.stop = ev.stop;
      },
      INSPECT_RUN,
    );
    // The entry ends as the run does; its log is read from the handler's stream only when asked for.
    entry.done = handler.then(
      (result) => this.#ended_(entry, { status: "completed", result }),
      (err: unknown) => this.#ended_(entry, endOfError(err)),
    );
    // A continued run is one someone follows already (its id is out): its log from the start.
    if (stored) this.logOf(entry);
    return entry;
  }

  /**
   * The run's log, made now if nobody asked for it yet: read from the handler's stream (every event
   * from the first, at the same positions), ended once the stream and the run have. A log made
   * now catches up within the current macrotask (its stream's held events come through microtasks):
   * callers that answer from it at once await {@link caughtUp}.
   */
  logOf(entry: Entry): RunLog {
    if (entry.log !== undefined) return entry.log;
    const log = (entry.log = new RunLog(this.#opts.logLimit));
    if (entry.source === undefined) {
      // An ended run that streamed nothing: its stream was its StopEvent (if it completed), then its end.
      if (entry.stop !== undefined) this.#append(entry, log, entry.stop === PLAIN_STOP ? new StopEvent({ result: entry.result }) : entry.stop);
      log.finish(entry.end as RunEnd);
      return log;
    }
    const source = entry.source;
    // The server is the run's one stream reader: every event goes to the log, read by any number
    // of HTTP readers. Read with `then` rather than `for await`: one promise per event.
    const read = this.#read(entry, log, source.streamEvents()).catch(() => undefined);
    void Promise.all([read, entry.done]).then(() => {
      log.finish(entry.end as RunEnd);
      // The log holds the run's events now: the ended run's handler may go.
      if (entry.handler === undefined) entry.source = undefined;
    });
    return log;
  }

  /** The run's log, caught up with its stream as it was when the log was made (made now if needed). */
  caughtUp(entry: Entry): Promise<RunLog> {
    if (entry.caughtUp === undefined) {
      const log = this.logOf(entry);
      entry.caughtUp = nextMacrotask().then(() => log);
    }
    return entry.caughtUp;
  }

  /** Append the run's events to its log until its stream ends. */
  #read(entry: Entry, log: RunLog, events: AsyncGenerator<Event>): Promise<void> {
    return events.next().then((r) => {
      if (r.done) return undefined;
      this.#append(entry, log, r.value);
      return this.#read(entry, log, events);
    });
  }

  #append(entry: Entry, log: RunLog, ev: Event): void {
    const asks = ev instanceof InputRequiredEvent;
    const e = log.append(asks ? { ...this.#toEntry(entry, ev), inputRequired: true } : this.#toEntry(entry, ev));
    // An ended run's log made late does not make the run newer.
    if (entry.handler !== undefined) entry.updatedAt = Date.now();
    // Prompts count only while the run is live here (an ended run's log is read after its end).
    if (e && asks && entry.handler !== undefined) entry.prompts = [...entry.prompts, e];
  }

  #ended_(entry: Entry, end: RunEnd): void {
    entry.status = end.status as Entry["status"];
    if ("result" in end) {
      entry.hasResult = true;
      entry.result = end.result;
    }
    if (end.error) entry.error = end.error;
    entry.handler = undefined;
    entry.prompts = NO_PROMPTS;
    // Nobody asked for the log of a run that streamed nothing: it is known without the handler (the
    // StopEvent noted, checked against the result), which goes now instead of with the entry.
    if (entry.log === undefined && !entry.streamed) {
      if (end.status !== "completed") entry.stop = undefined;
      if (end.status !== "completed" || (entry.stop !== undefined && resultOf(entry.stop) === end.result)) entry.source = undefined;
      // A plain `StopEvent({ result })` of the top run is made again when its log is: the kept
      // entry holds one object less.
      if (entry.source === undefined && entry.stop !== undefined && isPlainStop(entry.stop)) entry.stop = PLAIN_STOP;
    }
    // Those who wait for the end hold its promise already; the kept entry holds a shared one.
    entry.done = ENDED;
    const waits = entry.waits;
    if (waits !== undefined) {
      entry.waits = undefined;
      for (const w of waits) w.done();
    }
    entry.updatedAt = Date.now();
    this.#runs.end(entry);
  }

  #toEntry(entry: Entry, ev: Event): Omit<LogEntry, "id"> {
    const { type, data } = ev.toJSON();
    if (!this.#classes.has(type)) this.#classes.set(type, ev.constructor as EventClass);
    const origin = streamOrigin(ev);
    if (!origin) return { type, data };
    const path = [origin.runId];
    const parents = entry.children;
    for (let p = parents?.get(origin.runId); p !== undefined && path.length < 64; p = parents?.get(p)) path.unshift(p);
    if (path[0] !== entry.runId) path.unshift(entry.runId);
    return { type, data, origin: { runId: origin.runId, workflow: origin.workflow, path } };
  }

  #adopted: { promise: Promise<"adopted">; resolve: (v: "adopted") => void } | undefined;

  /** Resolves when a stored run next becomes live here (readers of its journal then switch to its live log). */
  adopted(): Promise<"adopted"> {
    if (!this.#adopted) {
      let resolve!: (v: "adopted") => void;
      const promise = new Promise<"adopted">((r) => (resolve = r));
      this.#adopted = { promise, resolve };
    }
    return this.#adopted.promise;
  }

  #wakeAdopted(): void {
    const a = this.#adopted;
    this.#adopted = undefined;
    a?.resolve("adopted");
  }

  /**
   * Tell `w` when `entry`'s run has ended and the entry says so (at once if it has): what
   * awaiting `entry.done` does, without a promise and a closure per waiter.
   */
  onEnd(entry: Entry, w: { done(): void }): void {
    if (entry.handler === undefined) w.done();
    else if (entry.waits === undefined) entry.waits = [w];
    else entry.waits.push(w);
  }

  /** The class of an event type seen on a live stream here, if any. */
  classOf(type: string): EventClass | undefined {
    return this.#classes.get(type);
  }

  /** The live handler of a run in this process. */
  handler(runId: string): WorkflowHandler<unknown> | undefined {
    return this.#runs.live(runId)?.handler;
  }

  /** A run known to this process (live or ended recently). */
  entry(runId: string): Entry | undefined {
    const e = this.#runs.get(runId);
    // A run this process let go of (suspended here, or taken over by another process) is the
    // store's to answer for: it may be waiting, running elsewhere or ended there since.
    return e !== undefined && e.status === "detached" && this.#opts.store !== undefined ? undefined : e;
  }

  /** Runs live here, for shutdown. */
  liveEntries(): Entry[] {
    return this.#runs.liveEntries();
  }

  /** Forget the prompts delivered event `ev` answers (see prompts.ts), and only those. */
  answered(runId: string, ev: Event): void {
    const e = this.#runs.live(runId);
    if (e?.handler) {
      const left = unanswered(e.served.wf, ev, e.prompts);
      e.prompts = left.length === 0 ? NO_PROMPTS : left;
    }
  }

  /** The run's log: the live one, or one rebuilt from the store's journal (ended, or run elsewhere). */
  async log(runId: string): Promise<{ log: RunLog; live: boolean }> {
    const e = this.entry(runId);
    if (e) return { log: await this.caughtUp(e), live: true };
    const stored = await this.#stored(runId);
    const store = this.#opts.store;
    const { entries } = await this.#journalLog(stored, store ? await store.getJournal(runId) : []);
    const log = new RunLog(Math.max(this.#opts.logLimit, entries.length));
    for (const x of entries) log.append(x);
    if (!isLive(stored.status)) log.finish(endOf(stored));
    return { log, live: false };
  }

  /** A run as the API shows it. Throws RUN_NOT_FOUND. */
  async info(runId: string): Promise<RunInfo> {
    const e = this.entry(runId);
    const store = this.#opts.store;
    if (e) return this.entryInfo(e);
    const stored = await this.#stored(runId);
    const children = store ? (await store.listRuns({ parentRunId: runId })).map((r) => r.runId) : [];
    const live = stored.status === "waiting" || stored.status === "running";
    const journal = live ? await (store as Store).getJournal(runId) : [];
    // Its prompts still unanswered, as its journal log shows them (prompts.ts).
    const served = this.#byWorkflow.get(stored.workflow);
    const inputRequired = live && served ? pendingInJournal(served.wf, journal, (await this.#journalLog(stored, journal)).entries.map((e, i) => ({ id: i + 1, ...e }))) : [];
    return { ...this.#fromStored(stored), children, waitingFor: waitsOf(journal), inputRequired, live: false };
  }

  /**
   * What {@link info} answers for a run this process knows; without awaiting anything unless its
   * journal must be read, or it is live and its log (its prompts) was not made yet.
   */
  entryInfo(e: Entry): RunInfo | Promise<RunInfo> {
    return e.handler === undefined ? this.#infoNow(e) : this.caughtUp(e).then(() => this.#infoNow(e));
  }

  #infoNow(e: Entry): RunInfo | Promise<RunInfo> {
    const r = recordOf(e) as RunInfo;
    r.children = e.children === undefined ? [] : [...e.children.keys()];
    const store = this.#opts.store;
    r.inputRequired = e.prompts;
    r.live = e.handler !== undefined;
    if (store && e.handler?.status === "waiting") {
      return Promise.resolve(store.getJournal(e.runId)).then((journal) => {
        r.waitingFor = waitsOf(journal);
        return r;
      });
    }
    r.waitingFor = e.prompts.length === 0 ? [] : [...new Set(e.prompts.map((p) => p.type))];
    return r;
  }

  /** A run's status, outcome and times, without its journal or children (cheap). Throws RUN_NOT_FOUND. */
  async record(runId: string): Promise<RunRecord> {
    const e = this.entry(runId);
    if (e) return recordOf(e);
    return this.#fromStored(await this.#stored(runId));
  }

  /**
   * Every top run of the served workflows, newest first: from the store when there is one (with
   * the live status of those running here), else those this process knows.
   */
  async records(): Promise<RunRecord[]> {
    const store = this.#opts.store;
    let all: RunRecord[];
    if (store) {
      // Top-level runs only: the store reads no child run's row (a store that ignores the filter is filtered here).
      all = (await store.listRuns({ topLevel: true }))
        .filter((r) => r.parentRunId === undefined && this.#byWorkflow.has(r.workflow))
        .map((r) => {
          const live = this.#runs.live(r.runId);
          return live?.handler ? recordOf(live) : this.#fromStored(r);
        });
    } else {
      all = this.#runs.all().filter((e) => e.parentRunId === undefined).map(recordOf);
    }
    return all.sort(compareRuns);
  }

  #fromStored(r: StoredRun): Omit<RunInfo, "children" | "waitingFor" | "inputRequired" | "live"> {
    return {
      runId: r.runId,
      workflow: this.#byWorkflow.get(r.workflow)?.name ?? r.workflow,
      status: r.status,
      input: r.input,
      ...("result" in r ? { result: r.result } : {}),
      ...(r.error ? { error: r.error } : {}),
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      ...(r.parentRunId !== undefined ? { parentRunId: r.parentRunId } : {}),
    };
  }

  /**
   * Runs newest first, `limit` at a time after `cursor`: from the store when there is one
   * (runs of the served workflows), else those this process knows.
   */
  async list(filter: { workflow?: Served; status?: RunStatus; cursor?: Cursor; limit: number }): Promise<{ runs: RunSummary[]; next: Cursor | undefined }> {
    const store = this.#opts.store;
    let all: RunSummary[];
    if (store) {
      const page = await this.#storedPage(store, filter);
      if (page !== undefined) return page;
      const stored = await store.listRuns({ ...(filter.status ? { status: filter.status } : {}), ...(filter.workflow ? { workflow: filter.workflow.workflow } : {}) });
      all = stored.filter((r) => this.#byWorkflow.has(r.workflow)).map((r) => summary(this.#fromStored(r), this.#runs.live(r.runId)));
    } else {
      all = this.#runs.all()
        .filter((e) => !filter.workflow || e.served === filter.workflow)
        .map((e) => summary({ runId: e.runId, workflow: e.served.name, status: e.status, createdAt: e.createdAt, updatedAt: e.updatedAt }, e.handler ? e : undefined))
        .filter((r) => !filter.status || r.status === filter.status);
    }
    all.sort(compareRuns);
    const c = filter.cursor;
    const after = c ? all.filter((r) => compareRuns(c, r) < 0) : all;
    const runs = after.slice(0, filter.limit);
    const last = runs[runs.length - 1];
    return { runs, next: after.length > filter.limit && last ? { createdAt: last.createdAt, runId: last.runId } : undefined };
  }

  /**
   * {@link list} from the store, a page at a time: `limit + 1` runs after the cursor (the one more
   * tells whether there is a next page), read again after the last one read while runs of
   * workflows this server does not serve left the page short. Undefined when the store does not
   * page (a store written before `RunFilter.before`, which answers runs not after the cursor, or
   * out of order): then {@link list} reads every run.
   */
  async #storedPage(store: Store, filter: { workflow?: Served; status?: RunStatus; cursor?: Cursor; limit: number }): Promise<{ runs: RunSummary[]; next: Cursor | undefined } | undefined> {
    const want = filter.limit + 1;
    const found: StoredRun[] = [];
    let before: Cursor | undefined = filter.cursor;
    let read = 0;
    for (let ask = want; ; ) {
      const batch = await store.listRuns({
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.workflow ? { workflow: filter.workflow.workflow } : {}),
        ...(before ? { before } : {}),
        limit: ask,
      });
      read += batch.length;
      for (const r of batch) {
        if (before !== undefined && compareRuns(before, r) >= 0) return undefined;
        before = { createdAt: r.createdAt, runId: r.runId };
        if (this.#byWorkflow.has(r.workflow) && found.push(r) === want) break;
      }
      if (found.length === want || batch.length < ask) break;
      // As many more as the served share read so far says the page lacks (twice as many while none was).
      const need = want - found.length;
      ask = Math.min(Math.max(need, found.length === 0 ? read * 2 : Math.ceil((need * read) / found.length)), Math.max(want, 1000));
    }
    const runs = found.slice(0, filter.limit).map((r) => summary(this.#fromStored(r), this.#runs.live(r.runId)));
    const last = runs[runs.length - 1];
    return { runs, next: found.length > filter.limit && last ? { createdAt: last.createdAt, runId: last.runId } : undefined };
  }

  async #stored(runId: string): Promise<StoredRun> {
    const store = this.#opts.store;
    const stored = store ? await store.getRun(runId) : undefined;
    if (!stored || !this.#byWorkflow.has(stored.workflow)) {
      // A child run of a served workflow's run is served too: its workflow may not be listed.
      if (stored?.parentRunId !== undefined) return stored;
      throw new ServerError("RUN_NOT_FOUND", `No run "${runId}" here${store ? "" : " (this server has no store, so it knows only the runs it started since it began)"}. List runs with GET /runs.`, { runId });
    }
    return stored;
  }

  /** A stored run of a served workflow (throws RUN_NOT_FOUND). */
  stored(runId: string): Promise<StoredRun> {
    return this.#stored(runId);
  }

  /**
   * A run's stream as its journal holds it, at the positions it had live: the events it streamed
   * (its children's with their origin), then, if it completed, its StopEvent. `journal` is the
   * stored run's, as its caller read it.
   */
  async #journalLog(stored: StoredRun, journal: readonly JournalEntry[]): Promise<{ entries: Omit<LogEntry, "id">[] }> {
    const store = this.#opts.store;
    if (!store) return { entries: [] };
    const runId = stored.runId;
    const served = this.#byWorkflow.get(stored.workflow);
    const streamed = journal.filter((j): j is JournalEntry & { kind: "stream" } => j.kind === "stream").sort((a, b) => a.pos - b.pos);
    // Child runs' events carry the run ids from this run down to the writer: journaled with them,
    // or, in journals written before the path was, found through the stored runs' parents.
    let parents: Map<string, string> | undefined;
    if (streamed.some((j) => j.origin !== undefined && j.origin.path === undefined)) {
      parents = new Map();
      for (const r of await store.listRuns({})) if (r.parentRunId !== undefined) parents.set(r.runId, r.parentRunId);
    }
    const pathOf = (id: string): string[] => {
      const path = [id];
      for (let p = parents?.get(id); p !== undefined && p !== runId && path.length < 64; p = parents?.get(p)) path.unshift(p);
      path.unshift(runId);
      return path;
    };
    const entries: Omit<LogEntry, "id">[] = streamed.map((j) => {
      const base = { type: j.event.type, data: j.event.data, journal: true as const };
      const withOrigin = j.origin === undefined ? base : { ...base, origin: { runId: j.origin.runId, workflow: j.origin.workflow, path: j.origin.path ?? pathOf(j.origin.runId) } };
      // The record says it asks (journals since `asks`), or the class is known here as a prompt.
      return j.asks === true || this.#asks(j.event.type, served) ? { ...withOrigin, inputRequired: true as const } : withOrigin;
    });
    const end = journal.findLast((j) => j.kind === "run_finished");
    if (end?.kind === "run_finished" && end.status === "completed") {
      const stop = journal.findLast((j) => j.kind === "event" && this.#isStop(j.event.type, served));
      if (stop?.kind === "event") entries.push({ type: stop.event.type, data: stop.event.data, journal: true });
    }
    return { entries };
  }

  /** Whether events of type name `type` are InputRequiredEvents, as far as this server knows the class. */
  #asks(type: string, served: Served | undefined): boolean {
    const cls = this.#typeOf(type, served);
    return cls !== undefined ? cls === InputRequiredEvent || cls.prototype instanceof InputRequiredEvent : type === "InputRequiredEvent";
  }

  #isStop(type: string, served: Served | undefined): boolean {
    const cls = this.#typeOf(type, served);
    return cls !== undefined ? cls === StopEvent || cls.prototype instanceof StopEvent : type === "StopEvent";
  }

  /** The class of event type `type`: seen live here, or one the served workflow knows. */
  #typeOf(type: string, served: Served | undefined): EventClass | undefined {
    const seen = this.#classes.get(type);
    if (seen !== undefined || served === undefined) return seen;
    try {
      return served.wf.reviveEvent({ type, data: {} }).constructor as EventClass;
    } catch {
      return undefined; // unknown to the workflow, or its schema refuses empty data: not a class to reason about
    }
  }

  /** Let go of every live run: suspend those with a store (they stay there to be resumed), cancel the others. */
  async detachAll(): Promise<void> {
    await Promise.all(
      this.liveEntries().map(async (e) => {
        if (this.#opts.store) await suspendRun(e.runId).catch(this.#opts.report);
        else e.handler?.cancel(new Error("The server shut down."));
        await e.done;
      }),
    );
  }
}

/** What the server listens to of each run it follows (none of a step attempt's kinds). */
const RUN_KINDS = ["run_started", "stream", "run_finished"] as const;
/** The options of the server's inspector, one object for every run. */
const INSPECT_RUN = { kinds: RUN_KINDS };

/** A `StopEvent` whose only field is its result, and not a child run's: `new StopEvent({ result })` gives the same log entry. */
function isPlainStop(stop: Event): boolean {
  if (stop.constructor !== StopEvent || streamOrigin(stop) !== undefined) return false;
  const keys = Object.keys(stop);
  return keys.length === 1 && keys[0] === "result";
}

/** The result a run ends with by StopEvent `stop` (the engine's rule: a subclass is its own result). */
const resultOf = (stop: Event): unknown => (stop.constructor === StopEvent ? (stop as StopEvent).result : stop);

/** Resolves in a later macrotask: every microtask queued before it (a log's catching up) has run. */
const nextMacrotask = () =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, 0);
  });

/** Resolves after `ms`, on a timer that keeps no process alive. @internal */
export const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref?.();
  });

/** Where `GET /runs` goes on from. */
export interface Cursor {
  createdAt: number;
  runId: string;
}

/** A run in `GET /runs`. */
export interface RunSummary {
  runId: string;
  workflow: string;
  status: RunStatus | "detached";
  createdAt: number;
  updatedAt: number;
  parentRunId?: string;
  live: boolean;
}

function summary(r: Omit<RunInfo, "children" | "waitingFor" | "inputRequired" | "live">, live: Entry | undefined): RunSummary {
  return {
    runId: r.runId,
    workflow: r.workflow,
    status: live?.handler ? live.handler.status : r.status,
    createdAt: r.createdAt,
    updatedAt: live ? Math.max(live.updatedAt, r.updatedAt) : r.updatedAt,
    ...(r.parentRunId !== undefined ? { parentRunId: r.parentRunId } : {}),
    live: live?.handler !== undefined,
  };
}

function endOf(r: StoredRun): RunEnd {
  return { status: r.status, ...("result" in r ? { result: r.result } : {}), ...(r.error ? { error: r.error } : {}) };
}

/** Types that invocations wait for in `waitForEvent` and have not received, from a journal. */
function waitsOf(journal: readonly JournalEntry[]): string[] {
  const waits = new Map<string, string>();
  for (const j of journal) {
    if (j.kind === "waiting") waits.set(j.stepRunId, j.type);
    else if (j.kind === "received" || (j.kind === "step_finished" && waits.has(j.stepRunId))) waits.delete(j.stepRunId);
    else if (j.kind === "run_resumed") waits.clear();
  }
  return [...new Set(waits.values())];
}

/** Build the served map from `createServer`'s `workflows` option (classes are constructed with the store). */
export function servedWorkflows(workflows: Readonly<Record<string, unknown>>, store: Store | undefined): Map<string, Served> {
  const out = new Map<string, Served>();
  for (const [name, value] of Object.entries(workflows)) {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw new TypeError(`createServer: workflow name "${name}" must be 1-100 letters, digits, "_", "." or "-" (it goes in URLs).`);
    let wf: Workflow;
    if (value instanceof Workflow) wf = value as Workflow;
    else if (typeof value === "function" && (value as { prototype: unknown }).prototype instanceof Workflow) {
      wf = new (value as new (o: object) => Workflow)(store ? { store } : {});
    } else {
      throw new TypeError(`createServer: workflows.${name} must be a Workflow (or App) instance or a Workflow class, got ${value === null ? "null" : typeof value}.`);
    }
    out.set(name, { name, wf, workflow: describeWorkflow(wf).name });
  }
  if (out.size === 0) throw new TypeError("createServer: pass at least one workflow, e.g. createServer({ workflows: { hello: new Hello() } }).");
  return out;
}

/**
 * Event `json` revived as `wf`'s class for it, to be sent into a run from outside. A run's start,
 * end and questions are its own: a StartEvent would run its first step again, a StopEvent end it
 * with the sender's result, an InputRequiredEvent put the sender's question in its stream.
 * Throws INVALID_EVENT for those, UNKNOWN_EVENT_TYPE / INVALID_EVENT as `reviveEvent` does.
 */
function fromOutside(wf: Workflow, json: EventJSON): Event {
  const ev = wf.reviveEvent(json);
  if (ev instanceof StartEvent || ev instanceof StopEvent || ev instanceof InputRequiredEvent) {
    const kind = ev instanceof StartEvent ? "StartEvent" : ev instanceof StopEvent ? "StopEvent" : "InputRequiredEvent";
    throw new ServerError("INVALID_EVENT", `${json.type === kind ? `A ${kind}` : `A ${json.type} (a ${kind})`} is the run's own and is not sent into it from outside; send the event its steps wait for (e.g. a HumanResponseEvent), or cancel the run with POST /runs/:id/cancel.`, { type: json.type });
  }
  return ev;
}

/** Each served workflow's StartEvent class (its steps are fixed once served). */
const startClasses = new WeakMap<Workflow, EventClass>();

/** The StartEvent of `served` built from a request body: validated as its constructor does. */
export function startEventOf(served: Served, body: unknown): Event {
  const cls = startClasses.get(served.wf) ?? startClasses.set(served.wf, describeWorkflow(served.wf).startEvent).get(served.wf)!;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ServerError("INVALID_INPUT", `The body of POST /workflows/${served.name}/runs is the run's input: a JSON object of ${eventTypeName(cls)} fields, got ${Array.isArray(body) ? "an array" : JSON.stringify(body)}.`, { issues: [{ path: "", message: "Expected an object" }] });
  }
  return new (cls as unknown as new (data: unknown) => Event)(body);
}

/** A run's status, outcome and times (what `Runs.record` gives). */
export type RunRecord = Omit<RunInfo, "children" | "waitingFor" | "inputRequired" | "live">;

function recordOf(e: Entry): RunRecord {
  const r: RunRecord = { runId: e.runId, workflow: e.served.name, status: e.handler ? e.handler.status : e.status, createdAt: e.createdAt, updatedAt: e.updatedAt };
  if (e.input) r.input = e.input;
  if (e.hasResult) r.result = e.result;
  if (e.error) r.error = e.error;
  if (e.parentRunId !== undefined) r.parentRunId = e.parentRunId;
  return r;
}

/** How a run that rejected ended: let go by this process (it goes on elsewhere), or failed, cancelled, timed out. */
function endOfError(err: unknown): RunEnd {
  const code = String((err as { code?: unknown } | null)?.code);
  return { status: DETACHED.has(code) ? "detached" : statusOfError(err), error: errorJSON(err) };
}
