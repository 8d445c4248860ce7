import { WorkflowError, type ErrorContext } from "../../index.js";

/**
 * Something about the BullMQ runtime's setup or its messages is wrong. `code` tells which:
 * `LOCK_SETTINGS_MISMATCH` (a worker's lock settings differ from the ones stored for its
 * queue), `BAD_OPTION` (an option of `createWorker` / `BullMQRuntime` is invalid),
 * `BAD_TASK` (a job's data is not a step task this worker can run), `UNKNOWN_QUEUE`,
 * `WORKER_LOST` (a step's job failed because the workers running it kept dying or stalling),
 * `REDIS_UNAVAILABLE`, `MESSAGE_TOO_LARGE` and `NOT_JSON` (a step's request to its run, or the
 * answer, cannot go over Redis pub/sub).
 */
export class BullMQRuntimeError extends WorkflowError {
  override readonly code: string;
  constructor(message: string, code: string, context: ErrorContext = {}) {
    super(message, context);
    this.code = code;
  }
}
