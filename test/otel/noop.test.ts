import { trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { getTracer, StartEvent, step, StopEvent, Workflow } from "../../src/index.js";

class One extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  go() {
    return new StopEvent({ result: 1 });
  }
}

describe("OpenTelemetry API installed, no SDK registered", () => {
  it("installs a tracer on import that becomes the OpenTelemetry one on the first run, and traces nothing (the engine keeps its fast path)", async () => {
    const loader = getTracer();
    expect(loader).toBeDefined();
    expect(await new One().run()).toBe(1);
    const otel = getTracer();
    expect(otel).toBeDefined();
    expect(otel).not.toBe(loader);
    // The API's no-op provider: no span records, so no run trace, and so no step spans.
    expect(trace.getTracerProvider().getTracer("x").startSpan("probe").isRecording()).toBe(false);
    expect(otel!.startRun({ runId: "r", workflow: "One", parentRunId: undefined, resumed: false, carrier: undefined })).toBeUndefined();
  });
});
