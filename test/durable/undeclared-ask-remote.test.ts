/**
 * A step on a remote worker (BullMQ) with an InputRequiredEvent subclass declared nowhere: as its
 * wait's `waiterEvent` and written to the stream. The coordinator revives it as an
 * InputRequiredEvent of the same type (the worker says it asks), instead of failing on the
 * unknown type.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Event, InputRequiredEvent, StartEvent, step, StopEvent, Workflow, type Context } from "../../src/index.js";
import { BullMQRuntime, createWorker, type StepWorker } from "../../src/runtime/bullmq/index.js";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "../runtime/helpers.js";

const available = await redisAvailable();

class Ask extends InputRequiredEvent<{ prefix: string; who: string }> {}
class Note extends InputRequiredEvent<{ prefix: string }> {}
class Reply extends Event<{ who: string; text: string }> {}

class Remote extends Workflow<object, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply })
  async ask(_ev: StartEvent, ctx: Context) {
    ctx.writeEventToStream(new Note({ prefix: "about to ask" }));
    const reply = await ctx.waitForEvent(Reply, { requirements: { who: "bob" }, waiterEvent: new Ask({ prefix: "name?", who: "bob" }) });
    return new StopEvent({ result: `hi ${reply.text}` });
  }
}

describe.skipIf(!available)("undeclared InputRequiredEvents from a remote step", () => {
  let prefix = "";
  const workers: StepWorker[] = [];
  let runtime: BullMQRuntime | undefined;
  afterEach(async () => {
    await runtime?.close();
    await Promise.all(workers.splice(0).map((w) => w.close(true)));
    await dropPrefix(prefix);
  });

  it("reach the coordinator's stream as InputRequiredEvents, and the run is answered", async () => {
    prefix = uniquePrefix();
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Remote()], concurrency: 2 }));
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    const handler = new Remote({ runtime, timeout: 20 }).run({});
    handler.catch(() => undefined);
    const prompts: unknown[] = [];
    for await (const ev of handler.streamEvents()) {
      if (!(ev instanceof InputRequiredEvent)) continue;
      prompts.push(ev.toJSON());
      if (ev.toJSON().type === "Ask") handler.sendEvent(new Reply({ who: "bob", text: "Bob" }));
    }
    expect(await handler).toBe("hi Bob");
    expect(prompts).toEqual([
      { type: "Note", data: { prefix: "about to ask" } },
      { type: "Ask", data: { prefix: "name?", who: "bob" } },
    ]);
  });
});
