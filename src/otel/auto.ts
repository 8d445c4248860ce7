/**
 * Traces with nothing to configure: importing `stepwise-ai` sets a process-wide tracer that, on the
 * first run, loads `@opentelemetry/api` if the application has it installed and from then on hands
 * each run to the OpenTelemetry tracer (which records nothing, at the cost of one no-op span per
 * run, until an SDK registers a tracer provider). Without the package, or where there is no
 * `process.getBuiltinModule` (browsers, Node < 20.16), it removes itself after that first run.
 *
 * Loading is synchronous (`createRequire`, reached through `process.getBuiltinModule` so that this
 * module imports no `node:` module and bundlers see no import of the API) and happens on the first
 * run, not at import: `import "stepwise-ai"` costs nothing more.
 * `OTEL_SDK_DISABLED=true` turns it off; `setTracer(undefined)` removes it.
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
export function otelApi(): OtelApiModule | null {
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

/** The tracer `import "stepwise-ai"` installs: it becomes the OpenTelemetry tracer on the first run, or removes itself. */
export const autoTracer: Tracer = {
  startRun(info: RunTraceInfo): RunTrace | undefined {
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
  const api = otelApi();
  return api ? activeCarrier(api) : undefined;
}

/**
 * Run `fn` with the trace context `carrier` names (W3C headers: `traceparent`, `tracestate`) as the
 * active one, so that a run started in it joins that trace; just `fn()` when there is none or the
 * OpenTelemetry API is not installed. (For the server and the BullMQ runtime.)
 */
export function withTraceCarrier<T>(carrier: Readonly<Record<string, string | undefined>> | undefined, fn: () => T): T {
  if (!carrier || typeof carrier.traceparent !== "string") return fn();
  const api = otelApi();
  if (api === null) return fn();
  const ctx = fromCarrier(api, carrier as TraceCarrier);
  return ctx ? api.context.with(ctx, fn) : fn();
}

const proc = (globalThis as { process?: NodeProcess }).process;
if (proc?.env?.OTEL_SDK_DISABLED?.toLowerCase() !== "true" && getTracer() === undefined) setTracer(autoTracer);
