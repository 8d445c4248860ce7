/**
 * `runtime.close()` while a run's steps are being enqueued: nothing the runtime opens may outlive
 * it. Counted as the process's open TCP sockets (Redis connections), never timed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { BullMQRuntime, createWorker, type StepWorker } from "stepwise-ai/bullmq";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

class Part extends Event<{ n: number }> {}
class FanOut extends Workflow<object, number> {
  @step({ accepts: StartEvent, emits: Part })
  start() {
    return Array.from({ length: 20 }, (_, n) => new Part({ n }));
  }

  @step({ accepts: Part, emits: StopEvent, numWorkers: Infinity })
  work(ev: Part) {
    return ev.n === 19 ? new StopEvent({ result: 1 }) : undefined;
  }
}

const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;

describe.skipIf(!available)("BullMQRuntime.close() while steps are enqueued", () => {
  let prefix = "";
  let worker: StepWorker | undefined;
  afterEach(async () => {
    await worker?.close(true);
    await dropPrefix(prefix);
  });

  it("leaves no Redis connection open, whenever in the enqueuing it comes", async () => {
    prefix = uniquePrefix();
    worker = await createWorker({ connection: REDIS_URL, prefix, workflows: [new FanOut()], concurrency: 4 });
    const base = sockets();
    // Close after 0, 1, 2, … turns of the event loop: each lands at another await of the enqueuing.
    for (let turns = 0; turns < 16; turns++) {
      const runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
      expect(await new FanOut({ runtime }).run({})).toBe(1);
      const handler = new FanOut({ runtime }).run({});
      const ended = handler.then(
        () => "completed",
        (e: unknown) => (e as Error).message,
      );
      for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
      await runtime.close();
      const outcome = await ended;
      expect(outcome === "completed" || /closed/.test(outcome)).toBe(true);
      for (let i = 0; i < 200 && sockets() > base; i++) await new Promise((r) => setTimeout(r, 10));
      expect({ turns, open: sockets() - base }).toEqual({ turns, open: 0 });
    }
  }, 60_000);
});
