import { trace } from "@opentelemetry/api";
import { afterAll, describe, expect, it } from "vitest";
import { StartEvent, step, StopEvent, Workflow } from "../../src/index.js";
import { BullMQRuntime, createWorker } from "../../src/runtime/bullmq/index.js";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "../runtime/helpers.js";
import { registerSdk, tree } from "./helpers.js";

const available = await redisAvailable();
const sdk = registerSdk();
afterAll(() => sdk.shutdown());

class Remote extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent, kind: "tool" })
  async lookup(ev: StartEvent<{ q: string }>) {
    // The user's own instrumented call, on the worker: it must nest under the coordinator's step span.
    await trace.getTracer("user").startActiveSpan("http GET", async (span) => {
      await new Promise((r) => setTimeout(r, 1));
      span.end();
    });
    return new StopEvent({ result: ev.q.length });
  }
}

describe.skipIf(!available)("traces across BullMQ workers", () => {
  it("a step run on a worker continues the coordinator's step span: the worker's spans nest under it", async () => {
    const prefix = uniquePrefix();
    const worker = await createWorker({ connection: REDIS_URL, prefix, workflows: [new Remote()], concurrency: 2 });
    const runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    try {
      sdk.exporter.reset();
      expect(await new Remote({ runtime }).run({ q: "abc" })).toBe(3);
      expect(tree(sdk.exporter.getFinishedSpans())).toEqual(["invoke_workflow Remote", "  execute_tool lookup", "    http GET"]);
    } finally {
      await runtime.close();
      await worker.close(true);
      await dropPrefix(prefix);
    }
  });
});
