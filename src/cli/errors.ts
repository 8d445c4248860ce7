/** Errors the command line reports without a stack trace. */

/** The command was used wrongly or given bad input: the message says what to change. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  readonly code: string;
  constructor(message: string, code = "BAD_USAGE") {
    super(message);
    this.name = "UsageError";
    this.code = code;
  }
}

/** The workflow ran and failed (or timed out). Exit code 1. */
export class RunFailedError extends Error {
  readonly exitCode = 1;
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RunFailedError";
    this.code = code;
  }
}

/** The run stopped to wait for an answer that nobody here could give; it is stored and can be answered later. Exit code 3. */
export class RunWaitingError extends Error {
  readonly exitCode = 3;
  readonly code = "WAITING_FOR_INPUT";
  readonly runId: string;
  constructor(message: string, runId: string) {
    super(message);
    this.name = "RunWaitingError";
    this.runId = runId;
  }
}
