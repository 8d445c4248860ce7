/** A run as the server knows it in this process: {@link Entry}, and what it is served as. */
import { StopEvent, type Event, type EventJSON, type RunStatus, type Workflow, type WorkflowHandler } from "../index.js";
import type { LogEntry, RunEnd, RunLog } from "./log.js";

/** A workflow as served: the name in URLs, the instance, its own (stored) name. */
export interface Served {
  readonly name: string;
  readonly wf: Workflow;
  /** The workflow's own name, as its stored runs carry it. */
  readonly workflow: string;
}

/** A run as the HTTP API shows it. */
export interface RunInfo {
  runId: string;
  /** The served name (`/workflows/:name`), when the run is of a served workflow. */
  workflow: string;
  status: RunStatus | "detached";
  input?: EventJSON;
  result?: unknown;
  error?: { name: string; message: string; code?: string; step?: string };
  /** Ms since the epoch. */
  createdAt: number;
  updatedAt: number;
  parentRunId?: string;
  /** Child runs (ctx.runWorkflow) started by this run, as far as this server knows. */
  children: string[];
  /** Event types the run's steps wait for (from the journal, or InputRequiredEvents seen live). */
  waitingFor: string[];
  /** InputRequiredEvents the run streamed and that no event sent since has answered (the rule: src/server/prompts.ts). */
  inputRequired: LogEntry[];
  /** True when this server process runs it now. */
  live: boolean;
}

/**
 * A run live in this process, or ended here recently. Every field is set at creation (optional
 * ones to `undefined`), so that all entries share one shape.
 *
 * Its log is made the first time someone asks for it ({@link Runs.logOf}), read from its handler's
 * stream, which keeps every streamed event from the first: a run answered by `?wait` that nobody
 * follows costs no stream reader and no second copy of its events, and a log made late holds the
 * same events at the same positions as one made at the start.
 */
export class Entry {
  updatedAt: number;
  /** The run's handler while it runs here; `undefined` once it has ended. */
  handler: WorkflowHandler<unknown> | undefined;
  /** The handler whose stream the log is read from, kept after the run ended until the log is made and read. */
  source: WorkflowHandler<unknown> | undefined;
  /** The run's log, once someone asked for it. */
  log: RunLog | undefined = undefined;
  /** Resolves to the log once it has caught up with the stream as it was when first asked for ({@link Runs.caughtUp}). */
  caughtUp: Promise<RunLog> | undefined = undefined;
  status: RunStatus | "detached" = "running";
  /** Set once the run has ended: whether it ended with a result, and that result. */
  hasResult = false;
  result: unknown = undefined;
  error: RunInfo["error"] | undefined = undefined;
  /** Child run id → its parent run id (for origin paths); made at the first child. */
  children: Map<string, string> | undefined = undefined;
  /** Whether the run (or a child) wrote to its stream: if not, its log is at most its StopEvent. */
  streamed = false;
  /** The StopEvent the run completed with (its log's last event). */
  stop: Event | undefined = undefined;
  /** InputRequiredEvents not answered yet (empty, shared, while there are none). */
  prompts: LogEntry[] = NO_PROMPTS;
  /** Settles once the run has ended and the entry says so (set by `Runs.#follow` as soon as the entry is made). */
  done!: Promise<void>;
  /** Told once the run has ended and the entry says so ({@link Runs.onEnd}); `undefined` while none waits. */
  waits: { done(): void }[] | undefined = undefined;
  /** How the run ended, once it has (made when asked: an ended entry kept among the last ones holds no copy). */
  get end(): RunEnd | undefined {
    if (this.handler !== undefined) return undefined;
    const end: RunEnd = { status: this.status };
    if (this.hasResult) end.result = this.result;
    if (this.error) end.error = this.error;
    return end;
  }
  constructor(
    readonly runId: string,
    readonly served: Served,
    readonly createdAt: number,
    readonly input: EventJSON | undefined,
    /** `undefined` for an entry of a run that has ended (see `KnownRuns`). */
    handler: WorkflowHandler<unknown> | undefined,
    readonly parentRunId: string | undefined,
  ) {
    this.updatedAt = createdAt;
    this.handler = handler;
    this.source = handler;
  }
}

/** An entry's `prompts` while it has none: one array for all. */
export const NO_PROMPTS: LogEntry[] = [];

/** What an ended entry's `done` is once those who waited for it were told. */
export const ENDED: Promise<void> = Promise.resolve();

/** An ended entry's `stop` when it was a plain `StopEvent({ result })` of the run's result (made again when asked for). */
export const PLAIN_STOP: Event = new StopEvent({ result: undefined });
