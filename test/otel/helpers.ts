import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";

/** Register an SDK with an in-memory exporter and an AsyncLocalStorage context manager, as an application would. */
export function registerSdk() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  trace.setGlobalTracerProvider(provider);
  return {
    exporter,
    provider,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The parent span id of a finished span (SDK 2.x: parentSpanContext). */
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

/**
 * The finished spans as an indented tree of names (siblings sorted, for concurrent steps),
 * one line each; spans whose parent was not exported are roots.
 */
export function tree(spans: readonly ReadableSpan[]): string[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const s of spans) {
    const p = parentOf(s);
    const key = p && ids.has(p) ? p : undefined;
    children.set(key, [...(children.get(key) ?? []), s]);
  }
  // Siblings sorted by their whole subtree's text: concurrent steps in a fixed order.
  const render = (key: string | undefined, depth: number): string[] =>
    (children.get(key) ?? [])
      .map((s) => [`${"  ".repeat(depth)}${s.name}`, ...render(s.spanContext().spanId, depth + 1)])
      .sort((a, b) => a.join("\n").localeCompare(b.join("\n")))
      .flat();
  return render(undefined, 0);
}

/** The one finished span named `name`. */
export function only(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one span "${name}", found ${found.length} among ${spans.map((s) => s.name).join(", ")}`);
  return found[0] as ReadableSpan;
}
