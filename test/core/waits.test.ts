import { describe, expect, it } from "vitest";
import { Context, Event, executeTask, InputRequiredEvent, StartEvent, step, StopEvent, Workflow, type Runtime } from "../../src/index.js";

class Ask extends Event<{ i: number }> {}
class Asked extends Event<{ i: number }> {}
class Answer extends Event<{ i: number; tag?: string }> {}
class Got extends Event<{ v: number }> {}

/** n steps wait at once, each for the Answer with its own id; answered in reverse once all wait. */
function waiters(n: number, onFilter?: () => void) {
  return new Workflow({ timeout: null })
    .addStep({ accepts: StartEvent, emits: Ask }, function spread() {
      return Array.from({ length: n }, (_, i) => new Ask({ i }));
    })
    .addStep({ accepts: Ask, emits: Got, waitsFor: Answer, numWorkers: Infinity }, async function wait(ev, ctx) {
      const a = await ctx.waitForEvent(Answer, {
        requirements: { i: ev.i },
        waiterEvent: new Asked({ i: ev.i }),
        ...(onFilter ? { filter: () => (onFilter(), true) } : {}),
      });
      return new Got({ v: a.i });
    })
    .addStep({ accepts: Got, emits: StopEvent }, function join(ev, ctx) {
      const seen = ctx.store.get("seen", 0) + 1;
      ctx.store.set("seen", seen);
      ctx.store.set("sum", ctx.store.get("sum", 0) + ev.v);
      return seen === n ? new StopEvent({ result: ctx.store.get("sum", 0) }) : undefined;
    });
}

async function answerAll(wf: Workflow, n: number): Promise<unknown> {
  const handler = wf.run();
  let asked = 0;
  for await (const ev of handler.streamEvents()) {
    if (ev instanceof Asked && ++asked === n) for (let i = n - 1; i >= 0; i--) handler.sendEvent(new Answer({ i }));
  }
  return handler;
}

describe("ctx.waitForEvent with requirements (LlamaIndex's wait_for_event requirements)", () => {
  it("ends only the waits whose required field values the event has", async () => {
    const n = 50;
    expect(await answerAll(waiters(n), n)).toBe((n * (n - 1)) / 2);
  });

  it("is indexed: W waits answered by W events examine W candidates, not W²", async () => {
    // A filter next to requirements runs only for the waits the requirements select.
    for (const n of [100, 1_000]) {
      let calls = 0;
      expect(await answerAll(waiters(n, () => calls++), n)).toBe((n * (n - 1)) / 2);
      expect(calls).toBe(n);
    }
  });

  it("takes an event that came before the wait only when it meets them; compares as JSON; reads own fields only", async () => {
    const wf = new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async function ask(_ev, ctx: Context) {
      ctx.store.set("phase", "waiting");
      const tagged = await ctx.waitForEvent(Answer, { requirements: { tag: "b", i: 2 } });
      // A field named like a prototype member is read from the event's own data, never its prototype.
      const proto = await Promise.race([ctx.waitForEvent(Answer, { requirements: { constructor: Answer } as never }).then(() => "matched"), Promise.resolve("pending")]);
      return new StopEvent({ result: [tagged.tag, tagged.i, proto] });
    });
    const handler = wf.run();
    handler.sendEvent(new Answer({ i: 2, tag: "a" }));
    handler.sendEvent(new Answer({ i: 1, tag: "b" }));
    handler.sendEvent(new Answer({ i: 2, tag: "b" }));
    expect(await handler).toEqual(["b", 2, "pending"]);
  });

  it("refuses requirements that are not an object of JSON values, naming them", async () => {
    const wf = new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async function ask(_ev, ctx: Context) {
      await ctx.waitForEvent(Answer, { requirements: [1] as never });
      return new StopEvent({});
    });
    await expect(wf.run()).rejects.toThrow(/requirements must be an object of field values, got an array/);
    const big = new Workflow({ timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async function ask(_ev, ctx: Context) {
      await ctx.waitForEvent(Answer, { requirements: { i: 1n } as never });
      return new StopEvent({});
    });
    await expect(big.run()).rejects.toThrow(/requirements must hold JSON values/);
  });

  it("reach the run from a step on a runtime's worker (a filter cannot)", async () => {
    class Waits extends Workflow<object, number> {
      @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
      async ask(_ev: StartEvent, ctx: Context) {
        const a = await ctx.waitForEvent(Answer, { requirements: { i: 7 }, waiterEvent: new InputRequiredEvent({ prefix: "7?" }) });
        return new StopEvent({ result: a.i });
      }
    }
    const worker = new Waits();
    const runtime: Runtime = { execute: (task, scope) => executeTask(worker, JSON.parse(JSON.stringify(task)) as typeof task, scope) };
    const handler = new Waits({ runtime, timeout: null }).run({});
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) {
        handler.sendEvent(new Answer({ i: 6 }));
        handler.sendEvent(new Answer({ i: 7 }));
      }
    }
    expect(await handler).toBe(7);
  });
});
