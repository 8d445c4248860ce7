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

/** `handler.streamEvents()` was called a second time on one run. */
export class StreamConsumedError extends WorkflowError {
  override readonly code = "STREAM_CONSUMED";
}
