/**
 * The one place where errors become HTTP responses: every route throws, this maps.
 * The body is always `{ error: { code, message, details } }`; stack traces never leave the process.
 */
import { EventValidationError, RunFinishedError, RunLockedError, RunNotFoundError, StoreError, UnknownEventTypeError, WorkflowError } from "../index.js";

/** Codes the server answers with, and their HTTP status. */
const STATUS = {
  BAD_REQUEST: 400,
  BAD_JSON: 400,
  REQUEST_ABORTED: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  RUN_FINISHED: 409,
  RUN_LOCKED: 409,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INVALID_INPUT: 422,
  INVALID_EVENT: 422,
  UNKNOWN_EVENT_TYPE: 422,
  INTERNAL: 500,
  NO_STORE: 501,
  SHUTTING_DOWN: 503,
  STORE_UNAVAILABLE: 503,
  REQUEST_TIMEOUT: 504,
} as const;

/** An error code of the HTTP API. */
export type ServerErrorCode = keyof typeof STATUS;

/** What an error response's body holds. */
export interface ErrorBody {
  error: { code: string; message: string; details: unknown };
}

/** An error the server answers with: `code` picks the HTTP status. */
export class ServerError extends Error {
  readonly code: ServerErrorCode;
  readonly details: unknown;
  constructor(code: ServerErrorCode, message: string, details: unknown = null) {
    super(message);
    this.name = "ServerError";
    this.code = code;
    this.details = details;
  }

  /** The HTTP status this error is answered with. */
  get status(): number {
    return STATUS[this.code];
  }
}

/** Schema issues as `{ path, message }`, the path dotted ("items.0.name"). */
export function issueList(issues: readonly unknown[]): { path: string; message: string }[] {
  return issues.map((raw) => {
    const issue = raw as { path?: readonly (PropertyKey | { key: PropertyKey })[]; message?: unknown };
    const path = (issue.path ?? []).map((p) => (typeof p === "object" && p !== null ? String(p.key) : String(p))).join(".");
    return { path, message: typeof issue.message === "string" ? issue.message : String(issue.message) };
  });
}

/**
 * Map any thrown value to a status and body. Unknown errors become a 500 whose message says
 * nothing about the inside; `report` receives them so the operator still sees what happened.
 */
export function toErrorResponse(err: unknown, report: (err: unknown) => void = () => {}): { status: number; body: ErrorBody } {
  const e = known(err);
  if (e.code === "INTERNAL") report(err);
  return { status: STATUS[e.code], body: { error: { code: e.code, message: e.message, details: e.details } } };
}

function known(err: unknown): ServerError {
  if (err instanceof ServerError) return err;
  // The client went away while its body was read (node's "aborted", ECONNRESET): nothing failed
  // here, and the answer goes nowhere.
  if (isAbortedRequest(err)) return new ServerError("REQUEST_ABORTED", "The client closed the connection before its request's body arrived.");
  if (err instanceof UnknownEventTypeError) return new ServerError("UNKNOWN_EVENT_TYPE", err.message, { type: err.eventType });
  if (err instanceof EventValidationError) return new ServerError("INVALID_EVENT", err.message, { type: err.eventType, issues: issueList(err.issues) });
  if (err instanceof RunFinishedError) return new ServerError("RUN_FINISHED", err.message, { status: err.status });
  if (err instanceof RunLockedError) return new ServerError("RUN_LOCKED", err.message, { holder: err.holder, expiresAt: err.expiresAt });
  if (err instanceof RunNotFoundError) return new ServerError("RUN_NOT_FOUND", err.message, null);
  if (err instanceof StoreError) return new ServerError("STORE_UNAVAILABLE", `The run store failed (${err.code}); retry once it is back.`, { code: err.code });
  // Hono's HTTPException (timeout middleware) carries a status; match it by shape, not class.
  const status = (err as { status?: unknown } | null)?.status;
  if (status === 504 || status === 408) return new ServerError("REQUEST_TIMEOUT", "The request took longer than the server's request timeout; retry, or raise requestTimeout.");
  if (err instanceof WorkflowError) return new ServerError("INTERNAL", `The workflow engine failed (${err.code}).`);
  return new ServerError("INTERNAL", "The server failed while handling this request; its log has the cause.");
}

/** Node's error for a request whose connection closed before its body ended (matched by shape). */
function isAbortedRequest(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e !== null && typeof e === "object" && e.code === "ECONNRESET" && e.message === "aborted";
}

/**
 * What an HTTPException (Hono's, matched by shape) thrown by the user's middleware asks to answer:
 * its status (a rate limit's 429, an auth check's 401), its message, and the response it carries
 * when it has one. Undefined for anything else, and for 504 and 408 (answered as REQUEST_TIMEOUT).
 */
export function httpExceptionOf(err: unknown): { status: number; message: string; response: Response | undefined } | undefined {
  const e = err as { status?: unknown; message?: unknown; res?: unknown; getResponse?: unknown } | null;
  if (e === null || typeof e !== "object" || typeof e.getResponse !== "function") return undefined;
  const status = e.status;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599 || status === 504 || status === 408) return undefined;
  const message = typeof e.message === "string" && e.message !== "" ? e.message : `HTTP ${status}`;
  return { status, message, response: e.res instanceof Response ? (e.getResponse as () => Response).call(e) : undefined };
}

/** An error as it appears in a run's JSON: name, message, code, step. */
export function errorJSON(err: unknown): { name: string; message: string; code?: string; step?: string } {
  if (err instanceof Error) {
    const { code, step } = err as { code?: unknown; step?: unknown };
    return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}), ...(typeof step === "string" ? { step } : {}) };
  }
  return { name: "Error", message: String(err) };
}
