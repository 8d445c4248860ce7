import { trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { getTracer, StartEvent, step, StopEvent, Workflow } from "../../src/index.js";
import { registerSdk, tree } from "./helpers.js";

class One extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  go() {
    return new StopEvent({ result: 1 });
  }
}

describe("OpenTelemetry API installed, no SDK registered", () => {
  it("traces nothing (the engine keeps its fast path) until an SDK registers a provider, then traces with nothing to configure", async () => {
    const loader = getTracer();
    expect(loader).toBeDefined();
    expect(await new One().run()).toBe(1);
    // No provider: the loader stays, tells the engine there is no trace, and the API's no-op tracer records nothing.
    expect(getTracer()).toBe(loader);
    expect(loader!.startRun({ runId: "r", workflow: "One", parentRunId: undefined, resumed: false, carrier: undefined })).toBeUndefined();
    expect(trace.getTracer("x").startSpan("probe").isRecording()).toBe(false);

    const sdk = registerSdk(); // after stepwise was imported, as an application may
    try {
      expect(await new One().run()).toBe(1);
      expect(tree(sdk.exporter.getFinishedSpans())).toEqual(["invoke_workflow One", "  step go"]);
      expect(getTracer()).not.toBe(loader); // it turned into the OpenTelemetry tracer
    } finally {
      await sdk.shutdown();
    }
    // Provider gone: the OpenTelemetry tracer finds no recording span and traces nothing again.
    expect(getTracer()!.startRun({ runId: "r2", workflow: "One", parentRunId: undefined, resumed: false, carrier: undefined })).toBeUndefined();
  });
});
