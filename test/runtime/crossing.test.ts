/**
 * Data JSON cannot carry between a coordinator and a worker (a BigInt, a Date, NaN, a Map, a
 * cycle) in a step's task, its returned or sent events, its stream writes, ctx.store values or a
 * request's event: the attempt fails with an error naming the step and the field, nothing is
 * changed on the way (a Date is not turned into a string), and what the step wrote before it stays.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { Event, HumanResponseEvent, StartEvent, StopEvent, Workflow, step, type Context } from "stepwise-ai";
import { BullMQRuntime, createWorker, type StepWorker } from "stepwise-ai/bullmq";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

class Out extends Event<{ v: unknown }> {}
class Note extends Event<{ text: string }> {}
class Reply extends HumanResponseEvent<{ ok: boolean }> {}

type Input = { kind: string; v?: unknown };
const values: Record<string, () => unknown> = { bigint: () => 10n, date: () => new Date(0), nan: () => NaN, map: () => new Map([[1, 2]]), cycle: () => { const o: Record<string, unknown> = {}; o.self = o; return o; } };

class Crossing extends Workflow<Input, unknown> {
  @step({ accepts: StartEvent, emits: [Out, StopEvent], waitsFor: Reply })
  async make(ev: StartEvent<Input>, ctx: Context) {
    ctx.writeEventToStream(new Note({ text: "before" }));
    const v = values[ev.kind.split(":")[1] ?? ""]?.();
    switch (ev.kind.split(":")[0]) {
      case "return":
        return new Out({ v });
      case "send":
        ctx.sendEvent(new Out({ v }));
        // The bad send goes with this request: the wait fails at once, naming it.
        await ctx.waitForEvent(Reply);
        return new StopEvent({ result: "unreachable" });
      case "wait":
        return new StopEvent({ result: (await ctx.waitForEvent(Reply)).ok });
      case "store":
        ctx.store.set("k", v);
        return new StopEvent({ result: "stored" });
      default:
        return new StopEvent({ result: ev.v });
    }
  }

  @step({ accepts: Out, emits: StopEvent })
  end(ev: Out) {
    return new StopEvent({ result: ev.v });
  }
}

describe.skipIf(!available)("data a worker and its coordinator cannot exchange", () => {
  let prefix = "";
  let worker: StepWorker | undefined;
  let runtime: BullMQRuntime | undefined;
  const warnings: string[] = [];
  afterEach(async () => {
    await runtime?.close();
    await worker?.close(true);
    await dropPrefix(prefix);
  });
  const setup = async () => {
    prefix = uniquePrefix();
    warnings.length = 0;
    worker = await createWorker({ connection: REDIS_URL, prefix, workflows: [new Crossing()], onWarning: (m) => warnings.push(m) });
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    return runtime;
  };
  /** The run's error message, and what it streamed. */
  const run = async (wf: Crossing, input: Input) => {
    const handler = wf.run(input);
    const streamed: string[] = [];
    const reading = (async () => {
      // Note is a stream-only class: it comes back from the worker as a stand-in of the same type.
      for await (const e of handler.streamEvents()) if (e.toJSON().type === "Note") streamed.push((e.toJSON().data as { text: string }).text);
    })().catch(() => {});
    const message = await handler.then(
      (v) => `resolved ${String(v)}`,
      (e: unknown) => (e as Error).message,
    );
    await reading;
    return { message, streamed };
  };

  it("a returned event holding a BigInt, a Date, NaN or a Map fails the step naming the field, not the worker; the write before it is streamed", async () => {
    const runtime = await setup();
    const wf = new Crossing({ runtime });
    const expected: Record<string, string> = { bigint: "data.v is a BigInt", date: "data.v is a Date, which would come back as a string", nan: "data.v is NaN", map: "data.v is a Map", cycle: "data.v.self refers back" };
    for (const [kind, problem] of Object.entries(expected)) {
      const { message, streamed } = await run(wf, { kind: `return:${kind}` });
      expect(message).toContain(`Step "make" of workflow "Crossing" returned event Out, which cannot reach the run from its BullMQ worker (only JSON crosses): ${problem}`);
      expect(message).not.toMatch(/WORKER_LOST|kills or blocks its worker/);
      expect(streamed).toEqual(["before"]);
    }
    // The worker had nothing to report: each job ended with its (failed) outcome.
    expect(warnings).toEqual([]);
  });

  it("an event sent before a wait, holding a BigInt: the wait fails naming it, before anything is sent", async () => {
    const runtime = await setup();
    const { message, streamed } = await run(new Crossing({ runtime }), { kind: "send:bigint" });
    expect(message).toContain(`Step "make" of workflow "Crossing" sent event Out, which cannot reach the run from its BullMQ worker (only JSON crosses): data.v is a BigInt`);
    // The stream write made before it went with the failed attempt's writes.
    expect(streamed).toEqual(["before"]);
    expect(warnings).toEqual([]);
  });

  it("a ctx.store value holding a Date fails the step naming the key", async () => {
    const runtime = await setup();
    const { message } = await run(new Crossing({ runtime }), { kind: "store:date" });
    expect(message).toContain(`Step "make" of workflow "Crossing" set ctx.store key "k", which cannot reach the run from its BullMQ worker (only JSON crosses): value is a Date`);
  });

  it("an answer that is not JSON (a BigInt sent to a run without a store) fails the step instead of never arriving", async () => {
    const runtime = await setup();
    const handler = new Crossing({ runtime, timeout: 15 }).run({ kind: "wait" });
    handler.sendEvent(new Reply({ ok: 10n as unknown as boolean }));
    await expect(handler).rejects.toThrow(/The answer to the request \(wait\) of step job ".*" cannot be sent to its worker: it is not JSON \(Do not know how to serialize a BigInt\)/);
  });

  it("a task whose event holds a Map is not enqueued: the step fails naming the field", async () => {
    const runtime = await setup();
    const { message } = await run(new Crossing({ runtime }), { kind: "echo", v: new Map([[1, 2]]) });
    expect(message).toContain(`Step "make" of workflow "Crossing" cannot be handed to a BullMQ worker (only JSON crosses): the StartEvent it handles: data.v is a Map`);
    const r = new Redis(REDIS_URL);
    try {
      expect(await r.exists(`${prefix}:Crossing:id`)).toBe(0);
    } finally {
      r.disconnect();
    }
  });
});
