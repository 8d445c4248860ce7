import type { Event } from "./events.js";
import { inspectorOf, type InspectOptions, type Inspector, type RunStatus } from "./inspect.js";
import type { EventStream } from "./stream.js";

/** What a handler needs from its run: a port implemented by the run's driver. @internal */
export interface RunControl {
  readonly id: string;
  readonly status: RunStatus;
  /** The run's promise, made with `new WorkflowHandler(...)`: it becomes the handler. */
  readonly promise: Promise<unknown>;
  readonly stream: EventStream<Event>;
  /** A copy of the run's state (`ctx.store`) now. */
  stateNow(): Record<string, unknown>;
  sendExternal(ev: Event, step?: string): void;
  cancel(reason?: unknown): void;
  addInspector(fn: Inspector): void;
}

/** `recorded` of a run without a store: settled from the start, one for every such run. */
const RECORDED: Promise<void> = Promise.resolve();

/**
 * A started run. It is a Promise of the run's result (`await handler`), and more:
 * its stream of events, a way in for events from outside, and cancellation.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class WorkflowHandler<R = unknown, S = Record<string, any>> extends Promise<R> {
  // `then` and friends return plain promises, not handlers.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  #run!: RunControl;
  #recorded!: Promise<void>;

  /** @internal */
  static attach<R>(run: RunControl, recorded: Promise<void> = RECORDED): WorkflowHandler<R> {
    const h = run.promise as WorkflowHandler<R>;
    h.#run = run;
    // Its failure is the run's failure, reported by the handler: nobody has to listen here.
    if (recorded !== RECORDED) recorded.catch(() => {});
    h.#recorded = recorded;
    return h;
  }

  /**
   * Resolves once the run is recorded in its store (at once without a store): from then on a crash
   * loses nothing and `resume(runId)` finds it. Rejects when the store could not record it.
   */
  get recorded(): Promise<void> {
    return this.#recorded;
  }

  /** The run's id. */
  get runId(): string {
    return this.#run.id;
  }

  /**
   * A copy of the run's state (`ctx.store`) as it is now; after the run, its final state. Hand it
   * to `wf.run(input, { state })` to start another run from it.
   */
  get state(): S {
    return this.#run.stateNow() as S;
  }

  /** The run's status now. */
  get status(): RunStatus {
    return this.#run.status;
  }

  /**
   * The events steps write with `ctx.writeEventToStream`, then the StopEvent. The iteration
   * ends when the run ends; it throws the run's error if the run failed, timed out or was cancelled.
   * Any number of readers, each from the run's first streamed event, at once or one after
   * another (also after the run ended); the events are kept while the handler is reachable.
   */
  streamEvents(): AsyncGenerator<Event> {
    const stream = this.#run.stream;
    const reader = stream.reader();
    // The reader is handed the run's error: the handler's own rejection then counts as handled.
    stream.onError = () => {
      this.catch(() => {});
    };
    return reader;
  }

  /** Send an event into the run from outside, e.g. a person's answer. With `step`, only that step gets it. */
  sendEvent(ev: Event, options: { step?: string } = {}): void {
    this.#run.sendExternal(ev, options.step);
  }

  /** Stop the run: in-flight steps are aborted through `ctx.signal`; the handler rejects with `WorkflowCancelledError`. */
  cancel(reason?: unknown): void {
    this.#run.cancel(reason);
  }

  /**
   * Watch this run's inspection events (steps started and finished, events streamed…), and its
   * child runs'. With `kinds`, only those.
   */
  inspect(listener: Inspector, options?: InspectOptions): this {
    this.#run.addInspector(inspectorOf(listener, options));
    return this;
  }
}
