/**
 * Every process hears every abort broadcast and remembers it (for a job it has not started yet),
 * up to 10,000 for 10 minutes. Remembering one more must cost the same however many are
 * remembered: counted as the Map iterator steps it takes, never timed.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { Bus } from "../../src/runtime/bullmq/bus.js";
import { keys } from "../../src/runtime/bullmq/names.js";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

describe.skipIf(!available)("abort memory of a process", () => {
  let prefix = "";
  let bus: Bus | undefined;
  let redis: Redis | undefined;
  afterEach(async () => {
    await bus?.close();
    redis?.disconnect();
    await dropPrefix(prefix);
  });

  it("past 10,000 remembered aborts, each new one costs a few steps, not one per remembered abort", async () => {
    prefix = uniquePrefix();
    const b = (bus = await Bus.open(REDIS_URL, prefix));
    const r = (redis = new Redis(REDIS_URL));
    const reason = { name: "WorkflowCancelledError", message: "cancelled" };
    /** Broadcasts aborts for jobs `from`..`to - 1` and waits until this process has heard the last. */
    const broadcast = async (from: number, to: number) => {
      const heard = new Promise<void>((resolve) => b.onAbort(`job${to - 1}`, () => resolve()));
      const pipe = r.pipeline();
      for (let i = from; i < to; i++) pipe.publish(keys.abort(prefix), JSON.stringify({ job: `job${i}`, reason }));
      await pipe.exec();
      await heard;
    };
    await broadcast(0, 10_000);
    // Count the steps of Map iterators (the memory is a Map) while 1,000 more arrive.
    const proto = Object.getPrototypeOf(new Map().entries()) as { next: (...args: unknown[]) => unknown };
    const next = proto.next;
    let steps = 0;
    proto.next = function (this: unknown, ...args: unknown[]) {
      steps++;
      return next.apply(this, args);
    };
    try {
      await broadcast(10_000, 11_000);
    } finally {
      proto.next = next;
    }
    // Before, each abort past the limit walked all 10,000 remembered ones: ten million steps.
    expect(steps).toBeLessThan(20 * 1_000);
    // The oldest were forgotten, the newest kept.
    let early = false;
    b.onAbort("job0", () => (early = true))();
    let late = false;
    b.onAbort("job10999", () => (late = true))();
    expect([early, late]).toEqual([false, true]);
  });
});
