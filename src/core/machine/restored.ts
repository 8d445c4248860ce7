import type { Event } from "../events.js";
import type { TraceCarrier } from "../trace.js";

/**
 * What a stored run's journal says, rebuilt for the run loop to continue from
 * (`Run.start(input, restored)`).
 */
export interface Restored {
  /** `ctx.store` as the journal left it. */
  readonly state: ReadonlyMap<string, unknown>;
  /** `ctx.collectEvents` buffers by key. */
  readonly collect: ReadonlyMap<string, readonly Event[]>;
  /** Events no step accepted and no wait took yet (a later `waitForEvent` may take them). */
  readonly unclaimed: readonly Event[];
  /** Invocations started but not finished: run again with their step-run number and the next attempt. */
  readonly inFlight: readonly { step: string; event: Event; no: number; attempt: number }[];
  /** Events routed to a step that never started on them. */
  readonly deliveries: readonly { step: string; event: Event }[];
  /** The highest invocation number used: new invocations are numbered after it. */
  readonly invocations: number;
  /**
   * The `ctx.sendEvent`s of invocations run again that the journal holds (already routed) from
   * their attempts since the last that failed, each as the send its re-run will make
   * ({@link writeKey} with the next attempt): the re-run does not send those again. A retry
   * after a failure sends anew, as it does in a run that never crashed.
   */
  readonly sent?: ReadonlySet<string>;
  /**
   * The child runs (`ctx.runWorkflow`) invocations run again started since their last failed
   * attempt, by the call its re-run will make ({@link writeKey} with the next attempt): the re-run
   * re-attaches to them instead of starting new ones.
   */
  readonly children?: ReadonlyMap<string, string>;
  /** The run's stream as journaled, in order (positions 1…n); new writes go on after it. */
  readonly streamed?: readonly { event: Event; origin?: { runId: string; workflow: string; path?: readonly string[] }; writer?: { stepRunId: string; attempt: number; n: number } }[];
  /**
   * The writes of child runs (`stepRunId#attempt:n` of the child's writer) the stream holds: a
   * child continued or re-attached after a crash hands its journaled writes up again, and those
   * already here are not streamed twice.
   */
  readonly childWrites?: ReadonlySet<string>;
  /**
   * The stream writes of invocations run again that the journal holds from their attempts since
   * the last that failed (one crash or several), each as the write its re-run will make
   * ({@link writeKey} with the next attempt): the re-run does not write those again.
   */
  readonly restreamed?: ReadonlySet<string>;
  /**
   * InputRequiredEvents no step took whose stream write the journal lost (a crash between the
   * returning step's end and the write): streamed on resume, after {@link streamed}.
   */
  readonly asks?: readonly Event[];
  /** A StopEvent was journaled but the run's end was not: it completes with this. */
  readonly stop?: Event;
  /** Events from outside to deliver once restored (`wf.sendEvent`). */
  readonly external: readonly Event[];
  /** The trace context the run was started under. */
  readonly trace?: TraceCarrier;
}

/** A stream write's (or a send's) identity across processes: the attempt and the how-manieth of its writes (sends). */
export function writeKey(stepRunId: string, attempt: number, n: number): string {
  return `${stepRunId}#${attempt}:${n}`;
}
