/** Where an error happened: any of these may be absent. */
export interface ErrorContext {
  workflow?: string | undefined;
  runId?: string | undefined;
  step?: string | undefined;
  attempt?: number | undefined;
  cause?: unknown;
}

const BRAND = Symbol.for("stepwise.error.brand");

/**
 * Root of every error stepwise throws. `code` is stable and machine-readable; the context
 * fields say which workflow, run, step and attempt it concerns. `instanceof` works across
 * duplicate installs of the package (errors are branded by name).
 */
export class WorkflowError extends Error {
  /** Stable, machine-readable error code, e.g. `"STEP_FAILED"`. */
  readonly code: string = "WORKFLOW_ERROR";
  readonly workflow: string | undefined;
  readonly runId: string | undefined;
  readonly step: string | undefined;
  readonly attempt: number | undefined;

  constructor(message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.workflow = context.workflow;
    this.runId = context.runId;
    this.step = context.step;
    this.attempt = context.attempt;
    const names: string[] = [];
    for (let c: unknown = new.target; c && c !== Error; c = Object.getPrototypeOf(c)) names.push((c as { name: string }).name);
    Object.defineProperty(this, BRAND, { value: names });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    const names = (value as { [BRAND]?: string[] } | null)?.[BRAND];
    return Array.isArray(names) && names.includes(this.name);
  }
}

/** The workflow's definition is wrong; `problems` lists every problem found. */
export class WorkflowValidationError extends WorkflowError {
  override readonly code = "INVALID_WORKFLOW";
  readonly problems: readonly string[];
  constructor(workflow: string, problems: readonly string[]) {
    super(
      `Workflow "${workflow}" is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
      { workflow },
    );
    this.problems = problems;
  }
}

/** An event's data was rejected by its schema. `issues` are the schema's own issues. */
export class EventValidationError extends WorkflowError {
  override readonly code = "INVALID_EVENT";
  readonly eventType: string;
  readonly issues: readonly unknown[];
  constructor(message: string, details: { eventType: string; issues: readonly unknown[] } & ErrorContext) {
    super(message, details);
    this.eventType = details.eventType;
    this.issues = details.issues;
  }
}

/** A run's state does not fit the workflow's `state` schema (`run(input, { state })`, `ctx.store.set`, `setState`, `edit`). */
export class StateValidationError extends WorkflowError {
  override readonly code = "INVALID_STATE";
  /** The schema's issues, each with its `path`. */
  readonly issues: readonly unknown[];
  constructor(message: string, details: { issues: readonly unknown[] } & ErrorContext) {
    super(message, details);
    this.issues = details.issues;
  }
}

/** A run (or a step, or a wait) took longer than its timeout. */
export class WorkflowTimeoutError extends WorkflowError {
  override readonly code: string = "TIMEOUT";
  /** The timeout that passed, in seconds. */
  readonly timeout: number;
  constructor(message: string, timeout: number, context: ErrorContext = {}) {
    super(message, context);
    this.timeout = timeout;
  }
}

/**
 * A step failed (after its retries), broke its contract, or the run could not go on.
 * `code` tells which: `STEP_FAILED`, `UNDECLARED_EVENT`, `NOT_AN_EVENT`, `UNKNOWN_STEP`, `STALLED`…
 */
export class WorkflowRuntimeError extends WorkflowError {
  override readonly code: string;
  constructor(message: string, code: string, context: ErrorContext = {}) {
    super(message, context);
    this.code = code;
  }
}

/** The run was cancelled with `handler.cancel()` (or its parent was). */
export class WorkflowCancelledError extends WorkflowError {
  override readonly code = "CANCELLED";
}

/**
 * Was thrown by a second `handler.streamEvents()` on one run; no longer thrown since every
 * reader gets every event (issue 12.13). Kept exported for code that checks for it.
 * @deprecated Nothing throws it.
 */
export class StreamConsumedError extends WorkflowError {
  override readonly code = "STREAM_CONSUMED";
}

/**
 * A store could not do its work: the database went away, a write failed, or the file or
 * database is not a stepwise store. `code`: `STORE_FAILED` or `NOT_A_STEPWISE_STORE`.
 * The journal keeps what was committed before the failure.
 */
export class StoreError extends WorkflowError {
  override readonly code: string;
  constructor(message: string, code = "STORE_FAILED", context: ErrorContext = {}) {
    super(message, context);
    this.code = code;
  }
}

/** A store or journal was written by a newer stepwise (format `found`; this one reads up to `supported`). */
export class StoreVersionError extends StoreError {
  readonly found: number;
  readonly supported: number;
  constructor(message: string, found: number, supported: number, context: ErrorContext = {}) {
    super(message, "STORE_VERSION", context);
    this.found = found;
    this.supported = supported;
  }
}

/** `resume` or `sendEvent` named a run the store does not have. */
export class RunNotFoundError extends WorkflowError {
  override readonly code = "RUN_NOT_FOUND";
}

/** Another process holds the run's lease: it is running the run now (or did until `expiresAt`). */
export class RunLockedError extends WorkflowError {
  override readonly code = "RUN_LOCKED";
  /** Who holds the lease. */
  readonly holder: string;
  /** When the holder's lease runs out unless renewed (ms since the epoch). */
  readonly expiresAt: number;
  constructor(message: string, holder: string, expiresAt: number, context: ErrorContext = {}) {
    super(message, context);
    this.holder = holder;
    this.expiresAt = expiresAt;
  }
}

/** `resume` or `sendEvent` named a run that has already ended (`status` says how). */
export class RunFinishedError extends WorkflowError {
  override readonly code = "RUN_FINISHED";
  readonly status: string;
  constructor(message: string, status: string, context: ErrorContext = {}) {
    super(message, context);
    this.status = status;
  }
}

/**
 * A stored run does not fit the workflow resuming it: a step its journal names is gone
 * (`UNKNOWN_STEP_IN_JOURNAL`), or it is a run of another workflow (`WRONG_WORKFLOW`).
 */
export class JournalMismatchError extends WorkflowError {
  override readonly code: string;
  constructor(message: string, context: ErrorContext = {}, code = "UNKNOWN_STEP_IN_JOURNAL") {
    super(message, context);
    this.code = code;
  }
}

/** A stored journal holds an event type the workflow no longer has (or never listed). */
export class UnknownEventTypeError extends JournalMismatchError {
  readonly eventType: string;
  constructor(message: string, eventType: string, context: ErrorContext = {}) {
    super(message, context, "UNKNOWN_EVENT_TYPE");
    this.eventType = eventType;
  }
}

/** The run was suspended in this process (`suspendRun`): it stays in its store, to be resumed anywhere. */
export class RunSuspendedError extends WorkflowError {
  override readonly code = "RUN_SUSPENDED";
}
