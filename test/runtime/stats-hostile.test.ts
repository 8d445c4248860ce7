/**
 * queueStats reads job names from Redis, where anyone with access may add a job: a job named
 * `__proto__`, `constructor` or `toString` is counted under its name and changes no prototype
 * of the process serving the dashboard.
 */
import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { queueStats } from "stepwise-ai/bullmq";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

describe.skipIf(!available)("queueStats and foreign job names", () => {
  let prefix = "";
  afterEach(async () => {
    delete (Object.prototype as Record<string, unknown>).waiting;
    await dropPrefix(prefix);
  });

  it("counts jobs named __proto__, constructor and toString under their names, polluting nothing", async () => {
    prefix = uniquePrefix();
    const queue = new Queue("Foreign", { connection: { url: REDIS_URL }, prefix });
    try {
      await queue.addBulk(["__proto__", "__proto__", "constructor", "toString", "ok"].map((name) => ({ name, data: {} })));
    } finally {
      await queue.close();
    }
    const [stats] = await queueStats({ connection: REDIS_URL, prefix, queues: ["Foreign"] });
    expect(({} as Record<string, unknown>).waiting).toBeUndefined();
    expect(stats?.waiting).toBe(5);
    const steps = stats?.steps ?? {};
    expect(Object.keys(steps).sort()).toEqual(["__proto__", "constructor", "ok", "toString"]);
    expect(Object.getOwnPropertyDescriptor(steps, "__proto__")?.value).toEqual({ waiting: 2, active: 0, failed: 0 });
    expect(Object.getOwnPropertyDescriptor(steps, "constructor")?.value).toEqual({ waiting: 1, active: 0, failed: 0 });
    expect(JSON.parse(JSON.stringify(stats))).toMatchObject({ steps: { ok: { waiting: 1 }, toString: { waiting: 1 } } });
  });
});
