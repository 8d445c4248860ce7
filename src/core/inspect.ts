import type { Event } from "./events.js";

interface Base {
  runId: string;
  workflow: string;
  /** Milliseconds since the epoch, from the run's clock. */
  time: number;
}

/** What the engine does, as it does it: the one stream that verbose output, drawings and the CLI read. */
export type InspectionEvent =
  | (Base & { kind: "run_started"; input: Event; parentRunId: string | undefined })
  | (Base & { kind: "step_started"; step: string; stepRunId: string; attempt: number; event: Event })
  | (Base & { kind: "step_finished"; step: string; stepRunId: string; attempt: number; emitted: readonly Event[]; durationMs: number })
  | (Base & { kind: "step_failed"; step: string; stepRunId: string; attempt: number; error: unknown; willRetry: boolean; durationMs: number })
  | (Base & { kind: "event_sent"; step: string | undefined; event: Event; to: string | undefined })
  | (Base & { kind: "stream"; event: Event })
  | (Base & {
      kind: "run_finished";
      status: RunStatus;
      result?: unknown;
      /** The StopEvent the run completed with (a subclass keeps its own fields). */
      stop?: Event;
      error?: unknown;
      durationMs: number;
    });

/** A run's state. */
export type RunStatus = "running" | "waiting" | "completed" | "failed" | "cancelled" | "timed_out";

/** Receives inspection events; must not throw (errors are reported and ignored). */
export type Inspector = (event: InspectionEvent) => void;

/** What `handler.inspect` may be told to listen to. */
export interface InspectOptions {
  /**
   * Only these kinds. An inspector that wants none of a step attempt's kinds (`step_started`,
   * `step_finished`, `step_failed`) leaves the run on its fast path for plain steps.
   */
  kinds?: readonly InspectionEvent["kind"][];
}

const STEP_KINDS: ReadonlySet<string> = new Set(["step_started", "step_finished", "step_failed"]);

/** What one options object asks for, worked out once: servers pass the same options for every run. */
interface KindsWanted {
  /** The kinds as they were when worked out: an options object changed since is worked out again. */
  readonly kinds: readonly string[];
  readonly wanted: ReadonlySet<string>;
  /** None of a step attempt's kinds. */
  readonly stepBlind: boolean;
}
const WANTED = new WeakMap<InspectOptions, KindsWanted>();

/** A listener told only some kinds; `stepBlind` when none of them is a step attempt's. */
type KindsInspector = Inspector & { readonly stepBlind?: true };

/** `fn`, told only of `options.kinds`. @internal */
export function inspectorOf(fn: Inspector, options: InspectOptions | undefined): Inspector {
  const kinds = options?.kinds;
  if (options === undefined || kinds === undefined) return fn;
  let w = WANTED.get(options);
  if (w === undefined || !sameKinds(w.kinds, kinds)) {
    WANTED.set(options, (w = { kinds: [...kinds], wanted: new Set(kinds), stepBlind: !kinds.some((k) => STEP_KINDS.has(k)) }));
  }
  const { wanted, stepBlind } = w;
  const only = (e: InspectionEvent): void => {
    if (wanted.has(e.kind)) fn(e);
  };
  if (stepBlind) (only as { stepBlind?: true }).stepBlind = true;
  return only;
}

function sameKinds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether one of `list` wants to hear of step attempts. @internal */
export function watchesSteps(list: readonly Inspector[] | null): boolean {
  return list !== null && list.some((fn) => (fn as KindsInspector).stepBlind !== true);
}

const globalInspectors: Inspector[] = [];

/**
 * Watch every run in this process (drawing, tracing, the CLI).
 * @returns a function that stops watching
 */
export function inspect(listener: Inspector): () => void {
  globalInspectors.push(listener);
  return () => {
    const i = globalInspectors.indexOf(listener);
    if (i >= 0) globalInspectors.splice(i, 1);
  };
}

/** The process-wide inspectors (read by the run loop). */
export function globalInspectorList(): readonly Inspector[] {
  return globalInspectors;
}

const typeList = (events: readonly Event[]) => events.map((e) => e.constructor.name).join(", ");

/** The `verbose: true` printer, in LlamaIndex's words. */
export function verbosePrinter(log: (line: string) => void = console.log): Inspector {
  return (e) => {
    if (e.kind === "step_started") log(`Running step ${e.step}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}`);
    else if (e.kind === "step_finished") log(e.emitted.length ? `Step ${e.step} produced event ${typeList(e.emitted)}` : `Step ${e.step} produced no event`);
    else if (e.kind === "step_failed") log(`Step ${e.step} failed: ${e.error instanceof Error ? e.error.message : String(e.error)}${e.willRetry ? " (retrying)" : ""}`);
  };
}
