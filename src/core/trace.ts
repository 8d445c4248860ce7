import type { Event } from "./events.js";
import type { RunStatus } from "./inspect.js";

/** Trace context as W3C propagation headers (`traceparent`, `tracestate`). */
export type TraceCarrier = Readonly<Record<string, string>>;

/** What a tracer is told when a run starts or resumes. */
export interface RunTraceInfo {
  readonly runId: string;
  readonly workflow: string;
  readonly parentRunId: string | undefined;
  /** The run continues from its journal (`resume`, `sendEvent`). */
  readonly resumed: boolean;
  /** The trace context the run was journaled with, when it resumes: continue that trace. */
  readonly carrier: TraceCarrier | undefined;
}

/** What a tracer is told of one step attempt. */
export interface StepTraceInfo {
  readonly runId: string;
  readonly workflow: string;
  readonly step: string;
  /** What the step does, from its options (`kind`), for span names and attributes. */
  readonly kind: StepKind | undefined;
  readonly stepRunId: string;
  readonly attempt: number;
  readonly event: Event;
}

/** What a step does, as traces name it: a tool call or a model call; a plain step when absent. */
export type StepKind = "tool" | "llm";

/**
 * Tracing plugged into the engine (the OpenTelemetry bridge is one). It is told of each run in the
 * caller's async context, so a child run's trace nests under the step that started it.
 */
export interface Tracer {
  startRun(info: RunTraceInfo): RunTrace | undefined;
}

/** One run's trace. */
export interface RunTrace {
  /** The run's trace context, journaled with the run so that a resumed run continues it. */
  readonly carrier: TraceCarrier | undefined;
  /** Run one step attempt inside its span: `body` returns the step's output, or a promise of it. */
  step(info: StepTraceInfo, body: () => unknown): unknown;
  /** The run ended (`error` unless it completed), or stopped in this process (`suspended`). */
  end(status: RunStatus | "suspended", error?: unknown): void;
}

let tracer: Tracer | undefined;

/** Set (or, with undefined, remove) the process-wide tracer; runs started from now on use it. */
export function setTracer(t: Tracer | undefined): void {
  tracer = t;
}

/** The process-wide tracer, if any. */
export function getTracer(): Tracer | undefined {
  return tracer;
}
