// What a step attempt leaves open when it ends: its waits and calls are dropped (they take no
// later event, keep no run "waiting", hold nothing), their promises reject with WAIT_DROPPED /
// CALL_DROPPED (marked handled: a wait never awaited raises no unhandled rejection), and a wait
// or call begun after the attempt ended is refused (ATTEMPT_ENDED).
import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, StartEvent, step, StopEvent, Workflow, WorkflowRuntimeError } from "../../src/index.js";

class Go extends Event {}
class Answer extends Event<{ v: string }> {}
class Other extends Event<{ v: string }> {}
class Request extends Event<{ q: string }> {}
class Reply extends Event<{ a: string }> {}

/** A promise and its resolver. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

async function ticks(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe("a wait its step left pending when it returned", () => {
  it("is dropped: a later event of its type reaches the step that accepts it instead of vanishing into it", async () => {
    let dropped: unknown;
    class Leaky extends Workflow {
      @step({ accepts: StartEvent, emits: Go, waitsFor: Answer })
      ask(_ev: StartEvent, ctx: Context) {
        ctx.waitForEvent(Answer).catch((err: unknown) => (dropped = err));
        return new Go();
      }
      @step({ accepts: Go, emits: Answer })
      answer() {
        return new Answer({ v: "for take" });
      }
      @step({ accepts: Answer, emits: StopEvent })
      take(ev: Answer) {
        return new StopEvent({ result: ev.v });
      }
    }
    expect(await new Leaky({ timeout: 5 }).run()).toBe("for take");
    expect(dropped).toBeInstanceOf(WorkflowRuntimeError);
    expect((dropped as WorkflowRuntimeError).code).toBe("WAIT_DROPPED");
    expect((dropped as Error).message).toMatch(/^Step "ask".s waitForEvent\(Answer\) was dropped: attempt 1 returned/);
  });

  it("the loser of Promise.race between two waits does not take the other event when it comes later", async () => {
    class Racer extends Workflow {
      @step({ accepts: StartEvent, emits: Go, waitsFor: [Answer, Other] })
      async race(_ev: StartEvent, ctx: Context) {
        const first = await Promise.race([ctx.waitForEvent(Answer), ctx.waitForEvent(Other)]);
        ctx.store.set("first", first.v);
        return new Go();
      }
      @step({ accepts: Go, emits: Other })
      later() {
        return new Other({ v: "later" });
      }
      @step({ accepts: Other, emits: StopEvent })
      take(ev: Other, ctx: Context) {
        return new StopEvent({ result: `${String(ctx.store.get("first"))} then ${ev.v}` });
      }
    }
    const h = new Racer({ timeout: 5, externalEvents: [Answer, Other] }).run();
    await ticks(2);
    h.sendEvent(new Answer({ v: "answer" }));
    expect(await h).toBe("answer then later");
  });

  it("keeps no journaled run 'waiting' while another step runs", async () => {
    const store = new MemoryStore();
    const hold = gate();
    class Busy extends Workflow {
      @step({ accepts: StartEvent, emits: Go, waitsFor: Answer })
      ask(_ev: StartEvent, ctx: Context) {
        void ctx.waitForEvent(Answer);
        return new Go();
      }
      @step({ accepts: Go, emits: StopEvent })
      async work() {
        await hold.p;
        return new StopEvent({ result: "done" });
      }
    }
    const h = new Busy({ store, timeout: 5, externalEvents: [Answer] }).run();
    await ticks();
    // One step runs; the only wait belonged to a step that has returned.
    expect(store.getRun(h.runId)?.status).toBe("running");
    hold.open();
    expect(await h).toBe("done");
  });

  it("is dropped when the attempt throws, and the retry's own wait gets the answer", async () => {
    const errors: string[] = [];
    class Retry extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer, retry: { maxAttempts: 2 } })
      async ask(_ev: StartEvent, ctx: Context) {
        const wait = ctx.waitForEvent(Answer);
        if (ctx.attempt === 1) {
          wait.catch((err: unknown) => errors.push((err as WorkflowRuntimeError).code));
          throw new Error("first attempt fails");
        }
        return new StopEvent({ result: (await wait).v });
      }
    }
    const h = new Retry({ timeout: 5, externalEvents: [Answer] }).run();
    await ticks();
    h.sendEvent(new Answer({ v: "to the retry" }));
    expect(await h).toBe("to the retry");
    expect(errors).toEqual(["WAIT_DROPPED"]);
  });

  it("a wait or call begun after its attempt ended is refused and registers nothing", async () => {
    let late: Context | undefined;
    class Late extends Workflow {
      @step({ accepts: StartEvent, emits: [Go, Request], waitsFor: [Answer, Reply] })
      ask(_ev: StartEvent, ctx: Context) {
        late = ctx;
        return new Go();
      }
      @step({ accepts: Go, emits: StopEvent, waitsFor: Answer })
      async stop(_ev: Go, ctx: Context) {
        return new StopEvent({ result: (await ctx.waitForEvent(Answer)).v });
      }
      @step({ accepts: Request, emits: Reply })
      reply() {
        return new Reply({ a: "r" });
      }
    }
    const h = new Late({ timeout: 5, externalEvents: [Answer] }).run();
    await ticks();
    const ctx = late as Context;
    await expect(ctx.waitForEvent(Answer)).rejects.toMatchObject({ code: "ATTEMPT_ENDED" });
    await expect(ctx.call(new Request({ q: "?" }), Reply)).rejects.toMatchObject({ code: "ATTEMPT_ENDED" });
    h.sendEvent(new Answer({ v: "to stop" }));
    expect(await h).toBe("to stop");
  });
});

describe("a ctx.call its step left pending when it returned", () => {
  it("is dropped: the reply goes on as an event instead of into the dropped call", async () => {
    let dropped: unknown;
    class Caller extends Workflow {
      @step({ accepts: StartEvent, emits: Request, waitsFor: Reply })
      ask(_ev: StartEvent, ctx: Context) {
        ctx.call(new Request({ q: "?" }), Reply).catch((err: unknown) => (dropped = err));
      }
      @step({ accepts: Request, emits: Reply })
      async reply(ev: Request) {
        await ticks(2);
        return new Reply({ a: `reply to ${ev.q}` });
      }
      @step({ accepts: Reply, emits: StopEvent })
      take(ev: Reply) {
        return new StopEvent({ result: ev.a });
      }
    }
    expect(await new Caller({ timeout: 5 }).run()).toBe("reply to ?");
    expect((dropped as WorkflowRuntimeError).code).toBe("CALL_DROPPED");
  });
});
