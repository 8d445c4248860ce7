import { context, propagation, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, describe, expect, it } from "vitest";
import { Research } from "../../examples/otel/research.js";
import { createServer } from "../../src/server/index.js";
import { startTracing } from "../../examples/otel/tracing.js";
import { currentTraceCarrier, withTraceCarrier as withHeaders } from "../../src/otel/auto.js";
import { traceCarrier, withTraceCarrier as withJobTrace } from "../../src/otel/index.js";
import { tree } from "./helpers.js";

// The example's SDK set-up, exporting to memory instead of OTLP (CI has no collector).
const exporter = new InMemorySpanExporter();
const provider = startTracing(exporter);
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});
const spans = () => exporter.getFinishedSpans();

describe("examples/otel", () => {
  it("loads its OTLP exporter, configured by the standard variables, without sending anything", async () => {
    const otlp = new OTLPTraceExporter();
    await otlp.shutdown();
  });

  it("traces the research workflow: a plan, three tool calls, a child run for the model", async () => {
    exporter.reset();
    expect(await new Research().run({ topic: "x" })).toBe(`${["x papers", "x news", "x code"].reduce((s, q) => s + q.length, 0)} results`);
    expect(tree(spans())).toEqual([
      "invoke_workflow Research",
      "  execute_tool search",
      "  execute_tool search",
      "  execute_tool search",
      "  step answer",
      "  step answer",
      "  step answer",
      "    invoke_workflow Summarize",
      "      step summarize",
      "  step plan",
    ]);
  });

  it("joins the trace a traceparent header names (what the server does around runs.start)", async () => {
    exporter.reset();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const headers = { traceparent: `00-${traceId}-00f067aa0ba902b7-01` };
    // The server's change: start the run inside the context the headers name.
    await withHeaders(headers, () => new Research().run({ topic: "y" }));
    const run = spans().find((s) => s.name === "invoke_workflow Research");
    expect(run?.spanContext().traceId).toBe(traceId);
    expect(run?.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
  });

  it("a run started over HTTP, on either protocol, joins the trace its traceparent header names", async () => {
    const app = createServer({ workflows: { research: new Research() }, llamaindex: "/llamaindex" });
    for (const [path, body, n] of [
      ["/workflows/research/runs?wait=5", { topic: "h" }, "1"],
      ["/llamaindex/workflows/research/run", { start_event: { topic: "l" } }, "2"],
    ] as const) {
      exporter.reset();
      const traceId = n.repeat(32);
      const res = await app.request(path, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json", traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      expect(res.status).toBe(200);
      const run = spans().find((s) => s.name === "invoke_workflow Research");
      expect(run?.spanContext().traceId, path).toBe(traceId);
      expect(run?.parentSpanContext?.spanId, path).toBe("00f067aa0ba902b7");
    }
    await app.shutdown(0);
  });

  it("leaves the parent to an HTTP instrumentation's span when one is active", async () => {
    exporter.reset();
    const headers = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" };
    await trace.getTracer("http").startActiveSpan("POST /workflows/Research/runs", async (server) => {
      await withHeaders(headers, () => new Research().run({ topic: "z" }));
      server.end();
    });
    expect(tree(spans()).slice(0, 2)).toEqual(["POST /workflows/Research/runs", "  invoke_workflow Research"]);
    const carrier = trace.getTracer("http").startActiveSpan("s", (s) => {
      s.end();
      return { carrier: currentTraceCarrier(), spanId: s.spanContext().spanId };
    });
    expect(carrier.carrier?.traceparent).toContain(`-${carrier.spanId}-`);
  });

  it("carries the trace into a job and out on the worker (what the BullMQ runtime does)", async () => {
    exporter.reset();
    let job: { data: unknown; trace: Readonly<Record<string, string>> | undefined } | undefined;
    await trace.getTracer("test").startActiveSpan("enqueue", async (span) => {
      job = { data: 1, trace: traceCarrier() };
      span.end();
    });
    expect(job?.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // On the worker, in another process: the work runs in the job's trace context.
    await withJobTrace(job?.trace, () => trace.getTracer("test").startActiveSpan("work", async (span) => span.end()));
    expect(tree(spans())).toEqual(["enqueue", "  work"]);
  });
});
