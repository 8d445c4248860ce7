/**
 * The OpenTelemetry SDK, set up the usual way: stepwise needs nothing more. The OTLP exporter reads
 * the standard environment variables (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS); the service is named by
 * OTEL_SERVICE_NAME. Import this module before the code that runs workflows.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-node";

/** Register a tracer provider exporting to `exporter` (OTLP over HTTP by default); shut it down to flush. */
export function startTracing(exporter: SpanExporter = new OTLPTraceExporter()): NodeTracerProvider {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": process.env.OTEL_SERVICE_NAME ?? "stepwise-example" }),
    // Batch what goes over the network; export at once what stays in memory (tests).
    spanProcessors: [exporter instanceof OTLPTraceExporter ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter)],
  });
  provider.register(); // the global provider, an AsyncLocalStorage context manager, W3C propagation
  return provider;
}
