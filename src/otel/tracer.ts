/**
 * The OpenTelemetry implementation of the engine's {@link Tracer} seam, written against the
 * `@opentelemetry/api` module it is handed (so that the auto-install can load the API lazily and
 * the `stepwise-ai/otel` subpath can import it): a span per run, a span per step attempt.
 * See docs/traces.md for the span tree, the attributes and the choices behind them.
 */
import type * as OtelApi from "@opentelemetry/api";
import { eventTypeName, isEvent, type Event } from "../core/events.js";
import type { RunStatus } from "../core/inspect.js";
import type { RunTrace, RunTraceInfo, StepTraceInfo, TraceCarrier, Tracer } from "../core/trace.js";

/** The `@opentelemetry/api` module. */
export type OtelApiModule = typeof OtelApi;

/** Options of the OpenTelemetry tracer. */
export interface OtelTracerOptions {
  /** Where spans go; the globally registered provider (`trace.getTracerProvider()`, looked up at each run) when absent. */
  tracerProvider?: OtelApi.TracerProvider;
  /**
   * Record events and step outputs as JSON on the spans (`input.value`, `output.value`,
   * `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`). Off unless set, or unless the
   * environment says `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`: payloads may hold personal data.
   */
  captureContent?: boolean;
  /**
   * Which version of the (still "Development") GenAI conventions to emit: `"default"` (semantic
   * conventions v1.41: `gen_ai.workflow.name` on runs) or `"latest"` (the GenAI conventions' latest
   * experimental version: the workflow name in `gen_ai.agent.name`). When absent, `"latest"` if
   * `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`, else `"default"`.
   */
  semconv?: "default" | "latest";
}

/** The instrumentation scope the spans are reported under. */
export const INSTRUMENTATION_NAME = "stepwise-ai";
const INSTRUMENTATION_VERSION = "0.1.0";

/** Error codes that mean "stopped", not "failed": a cancelled run, a run suspended to resume elsewhere. */
const NOT_FAILURES = new Set(["CANCELLED", "RUN_SUSPENDED"]);

type Env = Record<string, string | undefined>;
const env = (): Env => (globalThis as { process?: { env?: Env } }).process?.env ?? {};

/** True when `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list) opts in to the latest GenAI conventions. */
export function latestGenAiOptIn(value = env().OTEL_SEMCONV_STABILITY_OPT_IN): boolean {
  return (value ?? "").split(",").some((v) => v.trim() === "gen_ai_latest_experimental");
}

/** Build the tracer on the given API module. */
export function makeOtelTracer(api: OtelApiModule, options: OtelTracerOptions = {}): Tracer {
  const latest = options.semconv ? options.semconv === "latest" : latestGenAiOptIn();
  const capture = options.captureContent ?? env().OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.toLowerCase() === "true";
  const fixed = options.tracerProvider?.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
  // The global provider can change (registered after stepwise was imported, or replaced): the
  // tracer is looked up again only when it did.
  let provider: OtelApi.TracerProvider | undefined;
  let global: OtelApi.Tracer | undefined;
  const otelTracer = (): OtelApi.Tracer => {
    if (fixed) return fixed;
    const p = api.trace.getTracerProvider();
    if (p !== provider || global === undefined) {
      provider = p;
      global = p.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    }
    return global;
  };

  return {
    startRun(info: RunTraceInfo): RunTrace | undefined {
      const tracer = otelTracer();
      const active = api.context.active();
      // A resumed run continues the trace it was journaled with: its span is a child of the first
      // run span (ended, maybe in another process), linked to whatever resumed it here.
      const journaled = info.resumed && info.carrier ? fromCarrier(api, info.carrier) : undefined;
      const parent = journaled ?? active;
      const activeSpan = journaled ? api.trace.getSpan(active) : undefined;
      const links = activeSpan && api.trace.isSpanContextValid(activeSpan.spanContext()) ? [{ context: activeSpan.spanContext(), attributes: { "stepwise.link": "resumed_by" } }] : undefined;
      const attributes: OtelApi.Attributes = {
        "gen_ai.operation.name": "invoke_workflow",
        [latest ? "gen_ai.agent.name" : "gen_ai.workflow.name"]: info.workflow,
        "stepwise.run.id": info.runId,
        "stepwise.workflow": info.workflow,
        "openinference.span.kind": "CHAIN",
        "langfuse.observation.type": "chain",
      };
      if (info.parentRunId !== undefined) attributes["stepwise.parent_run.id"] = info.parentRunId;
      if (info.resumed) attributes["stepwise.run.resumed"] = true;
      if (api.trace.getSpan(parent) === undefined) attributes["langfuse.trace.name"] = info.workflow;
      const span = tracer.startSpan(`invoke_workflow ${info.workflow}`, { kind: api.SpanKind.INTERNAL, attributes, ...(links ? { links } : {}) }, parent);
      // No SDK registered (the API's no-op tracer) or not sampled: nothing to record, and the
      // engine keeps its fast path (no step spans).
      if (!span.isRecording()) return undefined;
      const runContext = api.trace.setSpan(parent, span);
      const carrier = info.carrier ?? toCarrier(span.spanContext());
      /** Step spans not ended yet (a timed-out attempt's body may never settle: the run's end closes it). */
      const open = new Set<OtelApi.Span>();
      let ended = false;

      const finishStep = (stepSpan: OtelApi.Span, ok: boolean, value: unknown, tool: boolean): void => {
        if (!open.delete(stepSpan)) return;
        if (ok) {
          const out = outputs(value);
          if (out) stepSpan.setAttribute("stepwise.events.out", out.map((e) => eventTypeName(e.constructor as never)));
          if (capture && out) {
            const json = JSON.stringify(out.length === 1 ? out[0] : out);
            stepSpan.setAttribute("output.value", json);
            stepSpan.setAttribute("output.mime_type", "application/json");
            if (tool) stepSpan.setAttribute("gen_ai.tool.call.result", json);
          }
        } else recordError(api, stepSpan, value);
        stepSpan.end();
      };

      return {
        carrier,
        step(s: StepTraceInfo, body: () => unknown): unknown {
          if (ended) return body();
          const tool = s.kind === "tool";
          const stepAttributes: OtelApi.Attributes = {
            "stepwise.run.id": s.runId,
            "stepwise.workflow": s.workflow,
            "stepwise.step.name": s.step,
            "stepwise.step.run_id": s.stepRunId,
            "stepwise.step.attempt": s.attempt,
            "stepwise.event.in": eventTypeName(s.event.constructor as never),
            "openinference.span.kind": tool ? "TOOL" : s.kind === "llm" ? "LLM" : "CHAIN",
            "langfuse.observation.type": tool ? "tool" : s.kind === "llm" ? "generation" : "span",
          };
          if (tool) {
            stepAttributes["gen_ai.operation.name"] = "execute_tool";
            stepAttributes["gen_ai.tool.name"] = s.step;
            stepAttributes["gen_ai.tool.type"] = "function";
            stepAttributes["tool.name"] = s.step;
          }
          if (capture) {
            const json = JSON.stringify(s.event);
            stepAttributes["input.value"] = json;
            stepAttributes["input.mime_type"] = "application/json";
            if (tool) stepAttributes["gen_ai.tool.call.arguments"] = json;
          }
          // A step started by another step of this run (ctx.sendEvent, ctx.call) links to it; all
          // step spans are children of the run's span.
          const active = api.context.active();
          const sender = api.trace.getSpan(active);
          const links = sender !== undefined && open.has(sender) ? [{ context: sender.spanContext(), attributes: { "stepwise.link": "sent_by" } }] : undefined;
          const stepSpan = otelTracer().startSpan(tool ? `execute_tool ${s.step}` : `step ${s.step}`, { kind: api.SpanKind.INTERNAL, attributes: stepAttributes, ...(links ? { links } : {}) }, runContext);
          open.add(stepSpan);
          let out: unknown;
          try {
            // The body runs in the step span's context: the user's own instrumented calls nest under it.
            out = api.context.with(api.trace.setSpan(active, stepSpan), body);
          } catch (err) {
            finishStep(stepSpan, false, err, tool);
            throw err;
          }
          if (out !== null && typeof out === "object" && typeof (out as PromiseLike<unknown>).then === "function") {
            return (out as PromiseLike<unknown>).then(
              (v) => {
                finishStep(stepSpan, true, v, tool);
                return v;
              },
              (err: unknown) => {
                finishStep(stepSpan, false, err, tool);
                throw err;
              },
            );
          }
          finishStep(stepSpan, true, out, tool);
          return out;
        },
        end(status: RunStatus | "suspended", error?: unknown): void {
          if (ended) return;
          ended = true;
          span.setAttribute("stepwise.run.status", status);
          for (const s of open) {
            s.setAttribute("stepwise.step.abandoned", true);
            s.end();
          }
          open.clear();
          if (status === "failed" || status === "timed_out") recordError(api, span, error);
          span.end();
        },
      };
    },
  };
}

/** Mark `span` failed with `error`, unless the error only says the work was cancelled or suspended. */
function recordError(api: OtelApiModule, span: OtelApi.Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && NOT_FAILURES.has(code)) {
    span.setAttribute("stepwise.stopped", code);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  span.setAttribute("error.type", typeof code === "string" ? code : error instanceof Error ? error.name : "_OTHER");
  if (error instanceof Error) span.recordException(error);
  else span.recordException(message);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message });
}

/** The events a step attempt returned (an event or a list), when that is what it returned. */
function outputs(value: unknown): Event[] | undefined {
  if (isEvent(value)) return [value];
  if (Array.isArray(value)) {
    const evs = value.filter((v): v is Event => isEvent(v));
    return evs.length > 0 ? evs : undefined;
  }
  return undefined;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** W3C `traceparent` (and `tracestate`) for a span context. */
export function toCarrier(sc: OtelApi.SpanContext): TraceCarrier {
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, "0");
  const state = sc.traceState?.serialize();
  return { traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}`, ...(state ? { tracestate: state } : {}) };
}

/** The remote parent context a W3C carrier names (the global propagator's reading when one is registered), or undefined. */
export function fromCarrier(api: OtelApiModule, carrier: TraceCarrier, base: OtelApi.Context = api.context.active()): OtelApi.Context | undefined {
  const viaGlobal = api.propagation.extract(base, carrier);
  const sc = api.trace.getSpanContext(viaGlobal);
  if (sc && api.trace.isSpanContextValid(sc) && sc !== api.trace.getSpanContext(base)) return viaGlobal;
  // No propagator registered (the API's default is a no-op): read the W3C header ourselves.
  const m = TRACEPARENT.exec(carrier.traceparent ?? "");
  if (!m) return undefined;
  const state = carrier.tracestate ? { traceState: api.createTraceState(carrier.tracestate) } : {};
  const parsed: OtelApi.SpanContext = { traceId: m[1] as string, spanId: m[2] as string, traceFlags: parseInt(m[3] as string, 16), isRemote: true, ...state };
  if (!api.trace.isSpanContextValid(parsed)) return undefined;
  return api.trace.setSpanContext(base, parsed);
}

/** The active context as a W3C carrier (the global propagator's fields when one is registered), or undefined when no span is active. */
export function activeCarrier(api: OtelApiModule): TraceCarrier | undefined {
  const ctx = api.context.active();
  const sc = api.trace.getSpanContext(ctx);
  if (!sc || !api.trace.isSpanContextValid(sc)) return undefined;
  const carrier: Record<string, string> = {};
  api.propagation.inject(ctx, carrier);
  return carrier.traceparent ? carrier : { ...toCarrier(sc) };
}
