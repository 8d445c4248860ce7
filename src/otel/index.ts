/**
 * OpenTelemetry traces of stepwise runs, by hand: `import "stepwise-ai"` already installs them when
 * `@opentelemetry/api` is installed; use this module to pass your own TracerProvider or options.
 * @example
 * import { installOtel } from "stepwise-ai/otel";
 * installOtel({ tracerProvider: provider, captureContent: true });
 * @packageDocumentation
 */
import * as api from "@opentelemetry/api";
import { setTracer, type TraceCarrier, type Tracer } from "../core/trace.js";
import { activeCarrier, fromCarrier, latestGenAiOptIn, makeOtelTracer, INSTRUMENTATION_NAME, type OtelTracerOptions } from "./tracer.js";

export { latestGenAiOptIn, INSTRUMENTATION_NAME, type OtelTracerOptions };

/** A stepwise {@link Tracer} that reports runs and step attempts as OpenTelemetry spans. */
export function otelTracer(options: OtelTracerOptions = {}): Tracer {
  return makeOtelTracer(api, options);
}

/** Make {@link otelTracer}`(options)` the process-wide tracer (replacing the automatic one) and return it. */
export function installOtel(options: OtelTracerOptions = {}): Tracer {
  const tracer = otelTracer(options);
  setTracer(tracer);
  return tracer;
}

/** The active trace context as W3C headers (`traceparent`, `tracestate`), to put into a job or a message; undefined when no span is active. */
export function traceCarrier(): TraceCarrier | undefined {
  return activeCarrier(api);
}

/** Run `fn` with the trace context that `carrier` (W3C headers) names as the active one: a run started in it joins that trace. */
export function withTraceCarrier<T>(carrier: Readonly<Record<string, string | undefined>> | undefined, fn: () => T): T {
  const ctx = carrier && typeof carrier.traceparent === "string" ? fromCarrier(api, carrier as TraceCarrier) : undefined;
  return ctx ? api.context.with(ctx, fn) : fn();
}
