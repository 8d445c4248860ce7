/**
 * Human in the loop on the command line: a run that streams an `InputRequiredEvent` is asked
 * about on the terminal and sent the answer as a `HumanResponseEvent`; without a terminal (or
 * with `--no-input`) a stored run is suspended so that `stepwise runs send` answers it later.
 */
import type { Writable } from "node:stream";
import {
  HumanResponseEvent,
  InputRequiredEvent,
  RunSuspendedError,
  WorkflowError,
  WorkflowTimeoutError,
  WorkflowValidationError,
  inspect,
  suspendRun,
  type Event,
  type InspectionEvent,
  type WorkflowHandler,
} from "../index.js";
import { RunFailedError, RunWaitingError } from "./errors.js";
import { JsonView, LiveView, PlainView, errorJson, safeJson, type ProgressView } from "./progress.js";
import { clean } from "./text.js";

/** The question an `InputRequiredEvent` asks: its `prefix` (LlamaIndex's field), `message`, `question` or `prompt`, else its data. */
export function questionOf(ev: Event): string {
  const data = ev.toJSON().data as Record<string, unknown> | undefined;
  for (const key of ["prefix", "message", "question", "prompt"]) {
    const v = data?.[key];
    if (typeof v === "string" && v.trim() !== "") return v;
  }
  return `Input required: ${JSON.stringify(data ?? {})}`;
}

/** How to answer a waiting run later, as a command to copy. */
export function answerCommand(runId: string, storeArg: string | undefined): string {
  const store = storeArg === undefined ? "" : ` --store ${shellQuote(storeArg)}`;
  return `stepwise runs send ${runId} --event '{"type":"HumanResponseEvent","data":{"response":"…"}}'${store}`;
}

const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

/** Options of {@link InputFollower}. */
export interface FollowOptions {
  /** Ask on the terminal (stdin and stderr are terminals, and no `--no-input`). */
  interactive: boolean;
  /** Where prompts are drawn. */
  output: Writable;
  /** Paused while a prompt is on screen. */
  view: ProgressView;
}

/** Watches one run's inspection events for `InputRequiredEvent`s and answers them, one at a time. */
export class InputFollower {
  readonly #handler: WorkflowHandler<unknown>;
  readonly #options: FollowOptions;
  readonly #abort = new AbortController();
  #queue: Promise<void> = Promise.resolve();
  #settled = false;
  #seen = 0;
  /** Set when the run was ended for want of an answer: the error to report. */
  failure: RunFailedError | undefined;
  /** The question the run was left waiting on (suspended, or cancelled for want of an answer). */
  waitingOn: string | undefined;

  constructor(handler: WorkflowHandler<unknown>, options: FollowOptions) {
    this.#handler = handler;
    this.#options = options;
    const done = () => {
      this.#settled = true;
      // A prompt still on screen when the run ends (timeout, failure) is taken down.
      this.#abort.abort();
    };
    handler.then(done, done);
  }

  /** Feed every inspection event here. */
  onEvent(e: InspectionEvent): void {
    this.#seen++;
    if (e.kind !== "stream" || e.runId !== this.#handler.runId || !(e.event instanceof InputRequiredEvent)) return;
    const question = questionOf(e.event);
    this.#queue = this.#queue.then(() => this.#answer(question)).catch((err: unknown) => this.#handler.cancel(err));
  }

  async #answer(question: string): Promise<void> {
    // A resumed run asks again, though the answer may be journaled already and end the wait at
    // once: decide only once the run has gone quiet.
    await this.#quiet();
    if (this.#settled || this.waitingOn !== undefined) return;
    if (!this.#options.interactive) return this.#leave(question);
    const { text, isCancel } = await import("@clack/prompts");
    this.#options.view.pause?.();
    let answer: string | symbol;
    try {
      answer = await text({ message: clean(question), output: this.#options.output, signal: this.#abort.signal });
    } finally {
      this.#options.view.resume?.();
    }
    if (this.#settled) return;
    if (isCancel(answer)) return this.#leave(question);
    this.#handler.sendEvent(new HumanResponseEvent({ response: answer }));
  }

  /**
   * Resolves once the run waits for nothing but answers (its status is "waiting") and a
   * macrotask turn passed with no inspection event, or once the run has ended. Quiet alone is
   * not enough: a resumed run whose answer arrived may be busy on I/O (a model call) for long.
   */
  async #quiet(): Promise<void> {
    for (;;) {
      const before = this.#seen;
      await new Promise((resolve) => setTimeout(resolve, 0));
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#settled) return;
      if (this.#seen === before && this.#handler.status === "waiting") return;
      // Busy: look again when something happens, or shortly.
      if (this.#seen === before) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** No answer now: suspend a stored run to be answered later; a run without a store cannot wait, so it ends. */
  async #leave(question: string): Promise<void> {
    this.waitingOn = question;
    await suspendRun(this.#handler);
    // suspendRun does nothing to a run that has no store; give a suspended run's rejection a turn to land.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.#settled) return;
    this.#handler.cancel(
      (this.failure = new RunFailedError(
        `The run asked "${question}" and nobody can answer: there is no terminal to ask on (or --no-input was given), and the run has no store to be answered from later. Run it in a terminal, or journal it (drop --no-store, or give the exported instance a store).`,
        "INPUT_REQUIRED",
      )),
    );
  }

  /** The error to end the command with when the run was suspended waiting for an answer. */
  waiting(runId: string, storeArg: string | undefined): RunWaitingError {
    return new RunWaitingError(`The run ${runId} waits for an answer to "${this.waitingOn ?? ""}". Answer it from any terminal with:\n  ${answerCommand(runId, storeArg)}`, runId);
  }
}

/** Where the command writes; tests and the bin pass process streams. */
export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** How {@link follow} shows and steers a run. */
export interface FollowRunOptions {
  name: string;
  steps: readonly string[];
  json: boolean;
  /** Ask on the terminal when the run needs input (false: `--no-input`). */
  prompt: boolean;
  /** Cancel the run after this many seconds (for instances, whose own timeout option stands). */
  timeout?: number | undefined;
  /** `--store` as given, for the commands printed to the user. */
  storeArg?: string | undefined;
  /** The run is journaled where `stepwise runs` looks. */
  journaled: boolean;
  /** Without a terminal, print no progress (only the result). */
  quiet?: boolean;
}

/**
 * Starts a run with `start()`, shows its progress, answers its questions on the terminal (or
 * leaves it waiting to be answered with `stepwise runs send`), and prints its result.
 */
export async function follow(start: () => WorkflowHandler<unknown>, options: FollowRunOptions, io: Io): Promise<void> {
  const view: ProgressView = options.json
    ? new JsonView(io.stdout)
    : io.stderr.isTTY
      ? new LiveView(io.stderr, options.name, options.steps)
      : options.quiet
        ? { onEvent: () => {}, finish: () => {} }
        : new PlainView(io.stderr);
  let follower: InputFollower | undefined;
  // A global inspector sees nested runs too; this process runs nothing else.
  const stop = inspect((e) => {
    view.onEvent(e);
    follower?.onEvent(e);
  });
  let timer: NodeJS.Timeout | undefined;
  let timedOut: WorkflowTimeoutError | undefined;
  try {
    const handler = start();
    follower = new InputFollower(handler, { interactive: options.prompt && !options.json && process.stdin.isTTY === true && io.stderr.isTTY === true, output: io.stderr, view });
    if (options.timeout !== undefined) {
      const seconds = options.timeout;
      timer = setTimeout(() => {
        timedOut = new WorkflowTimeoutError(`Workflow "${options.name}" timed out after ${seconds} s (--timeout).`, seconds, { workflow: options.name, runId: handler.runId });
        handler.cancel(timedOut);
      }, seconds * 1000);
    }
    let result: unknown;
    try {
      result = await handler;
    } catch (err) {
      view.finish();
      if (err instanceof RunSuspendedError && follower.waitingOn !== undefined) {
        if (options.json) io.stdout.write(`${safeJson({ kind: "waiting", runId: handler.runId, question: follower.waitingOn, answer: answerCommand(handler.runId, options.storeArg) })}\n`);
        throw follower.waiting(handler.runId, options.storeArg);
      }
      if (options.journaled && !options.json) io.stderr.write(`The run's journal: stepwise runs show ${handler.runId}${options.storeArg === undefined ? "" : ` --store ${options.storeArg}`}\n`);
      const e = follower.failure ?? timedOut ?? err;
      if (e instanceof WorkflowValidationError) throw e;
      const code = e instanceof WorkflowError || e instanceof RunFailedError ? e.code : e instanceof Error ? e.name : "ERROR";
      if (options.json) io.stdout.write(`${safeJson({ kind: "error", ...errorJson(e), code })}\n`);
      if (e instanceof RunFailedError) throw e;
      throw new RunFailedError(e instanceof Error ? e.message : String(e), code, { cause: e });
    }
    view.finish();
    if (options.json) io.stdout.write(`${safeJson({ kind: "result", runId: handler.runId, status: "completed", result })}\n`);
    else io.stdout.write(`${typeof result === "string" ? clean(result) : safeJson(result)}\n`);
  } finally {
    if (timer) clearTimeout(timer);
    stop();
  }
}
