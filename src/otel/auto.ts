/**
 * Traces with nothing to configure: importing `stepwise-ai` sets a process-wide tracer that looks,
 * at each run's start, whether an OpenTelemetry tracer provider is registered (the API keeps its
 * registrations on `globalThis` under a well-known symbol: one property read). Until one is, runs
 * are not traced and `@opentelemetry/api` is not even loaded; once one is, it loads the API (the
 * application's copy) and hands this and every later run to the OpenTelemetry tracer.
 *
 * Loading is synchronous (`createRequire`, reached through `process.getBuiltinModule` so that this
 * module imports no `node:` module and bundlers see no import of the API). Where there is no
 * `process.getBuiltinModule` (browsers, Node < 20.16) or the API cannot be loaded, the tracer
 * removes itself: use `stepwise-ai/otel` there. `OTEL_SDK_DISABLED=true` turns it off;
 * `setTracer(undefined)` removes it.
 */
import { getTracer, setTracer, type RunTrace, type RunTraceInfo, type TraceCarrier, type Tracer } from "../core/trace.js";
import { activeCarrier, fromCarrier, makeOtelTracer, type OtelApiModule } from "./tracer.js";

interface NodeProcess {
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (id: string) => unknown;
}
interface ModuleBuiltin {
  createRequire(from: string): (id: string) => unknown;
}

let loaded: OtelApiModule | null | undefined;

/** `@opentelemetry/api` as the application has it installed, or null (looked for once). */
function otelApi(): OtelApiModule | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const proc = (globalThis as { process?: NodeProcess }).process;
  const mod = proc?.getBuiltinModule?.("node:module") as ModuleBuiltin | undefined;
  if (mod === undefined) return loaded;
  try {
    const api = mod.createRequire(import.meta.url)("@opentelemetry/api") as OtelApiModule;
    if (typeof api?.trace?.getTracerProvider === "function" && typeof api.context?.with === "function") loaded = api;
  } catch {
    // Not installed (or unloadable): no traces.
  }
  return loaded;
}

/** Where `@opentelemetry/api` 1.x keeps its global registrations (`trace` once a tracer provider is registered). */
const API_GLOBAL = Symbol.for("opentelemetry.js.api.1");

/** True once an application registered a tracer provider with the OpenTelemetry API (any copy of it). */
function providerRegistered(): boolean {
  const registry = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_GLOBAL];
  return registry?.trace !== undefined;
}

/** The tracer `import "stepwise-ai"` installs: it turns into the OpenTelemetry tracer once a tracer provider is registered, or removes itself. */
export const autoTracer: Tracer = {
  startRun(info: RunTraceInfo): RunTrace | undefined {
    if (!providerRegistered()) return undefined;
    const api = otelApi();
    if (api === null) {
      if (getTracer() === autoTracer) setTracer(undefined);
      return undefined;
    }
    const real = makeOtelTracer(api);
    // Replace the loader by the real tracer, unless the application set its own meanwhile.
    if (getTracer() === autoTracer) setTracer(real);
    return real.startRun(info);
  },
};

/**
 * The active trace context as W3C headers, to carry into a job or a request; undefined when the
 * OpenTelemetry API is not installed or no span is active. (For the server and the BullMQ runtime.)
 */
export function currentTraceCarrier(): TraceCarrier | undefined {
  if (!providerRegistered()) return undefined;
  const api = otelApi();
  return api ? activeCarrier(api) : undefined;
}

/**
 * Run `fn` with the trace context `carrier` names (W3C headers: `traceparent`, `tracestate`) as the
 * active one, so that a run started in it joins that trace; just `fn()` when there is none, when the
 * OpenTelemetry API is not installed, or when a span is active already (an HTTP or queue
 * instrumentation that read the same headers: its span is the better parent). (For the server and
 * the BullMQ runtime.)
 */
export function withTraceCarrier<T>(carrier: Readonly<Record<string, string | undefined>> | undefined, fn: () => T): T {
  if (!carrier || typeof carrier.traceparent !== "string" || !providerRegistered()) return fn();
  const api = otelApi();
  if (api === null || api.trace.getSpan(api.context.active()) !== undefined) return fn();
  const ctx = fromCarrier(api, carrier as TraceCarrier);
  return ctx ? api.context.with(ctx, fn) : fn();
}

const proc = (globalThis as { process?: NodeProcess }).process;
if (proc?.env?.OTEL_SDK_DISABLED?.toLowerCase() !== "true" && getTracer() === undefined) setTracer(autoTracer);

/** A request's W3C trace headers, read by `header(name)`, for {@link withTraceCarrier}. */
export function traceHeaders(header: (name: string) => string | undefined): Record<string, string | undefined> {
  return { traceparent: header("traceparent"), tracestate: header("tracestate") };
}
