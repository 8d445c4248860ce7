import { describe, expect, it } from "vitest";
import { App, Context, Event, HumanResponseEvent, MemoryStore, StartEvent, step, StopEvent, suspendRun, Workflow } from "../../src/index.js";

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

class Question extends Event<{ q: string }> {}
class Answer extends HumanResponseEvent<{ text: string }> {}

describe("App routing after resume", () => {
  it("sends a member's unqualified step name to its own step, live and after suspend + sendEvent", async () => {
    const ran: string[] = [];
    class A extends Workflow {
      @step({ accepts: Question, emits: StopEvent })
      handle(ev: Question) {
        ran.push(`A.handle:${ev.q}`);
        return new StopEvent({ result: "A answered" });
      }
    }
    class B extends Workflow {
      @step({ accepts: StartEvent, emits: [Question, StopEvent], waitsFor: Answer })
      async ask(_: StartEvent, ctx: Context) {
        ctx.sendEvent(new Question({ q: "why" }), { step: "handle" });
        const answer = await ctx.waitForEvent(Answer);
        return new StopEvent({ result: `B got ${answer.text}` });
      }
      @step({ accepts: Question })
      handle(ev: Question) {
        ran.push(`B.handle:${ev.q}`);
      }
    }
    const store = new MemoryStore();
    const make = () => new App({ workflows: [new A(), new B()], entry: "B", store, timeout: null });
    const h = make().run({});
    h.catch(() => {});
    await until(() => store.getRun(h.runId)?.status === "waiting", "waiting");
    expect(ran).toEqual(["B.handle:why"]);
    await suspendRun(h);

    const result = await make().sendEvent(h.runId, new Answer({ text: "because" }));
    expect(result).toBe("B got because");
    expect(ran.every((r) => r.startsWith("B.handle"))).toBe(true);
    expect(store.getRun(h.runId)?.status).toBe("completed");
  });
});
