import { describe, expect, it } from "vitest";
import {
  Context,
  Event,
  executeTask,
  HumanResponseEvent,
  InputRequiredEvent,
  StartEvent,
  step,
  StopEvent,
  Workflow,
  WorkflowRuntimeError,
  type Runtime,
  type StepOutcome,
  type StepScope,
  type StepTask,
} from "../../src/index.js";

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * A runtime that does what a remote worker sees: every task, scope request and reply, write
 * and outcome crosses as JSON text, to another instance of the workflow.
 */
function loopback(worker: Workflow): Runtime & { tasks: StepTask[]; outcomes: StepOutcome[] } {
  const tasks: StepTask[] = [];
  const outcomes: StepOutcome[] = [];
  return {
    tasks,
    outcomes,
    async execute(task, scope) {
      const sent = json(task);
      tasks.push(sent);
      const remote: StepScope = {
        signal: scope.signal,
        apply: (writes) => scope.apply(json(writes)),
        request: (req) => {
          const reply = scope.request(json(req));
          return reply instanceof Promise ? reply.then(json) : json(reply);
        },
      };
      const out = json(await executeTask(worker, sent, remote));
      outcomes.push(out);
      return out;
    },
  };
}

class Progress extends Event<{ msg: string }> {}
class Part extends Event<{ n: number }> {}
class Done extends Event<{ n: number }> {}
class Ask extends Event<{ total: number }> {}
class Answer extends HumanResponseEvent<{ ok: string }> {}

class Pipeline extends Workflow<{ topic: string }, string> {
  ran: string[] = [];

  @step({ accepts: StartEvent, emits: Part })
  start(ev: StartEvent<{ topic: string }>, ctx: Context) {
    this.ran.push("start");
    ctx.store.set("topic", ev.topic);
    ctx.writeEventToStream(new Progress({ msg: `started ${ev.topic}` }));
    return [1, 2, 3].map((n) => new Part({ n }));
  }

  @step({ accepts: Part, emits: Done })
  async work(ev: Part) {
    this.ran.push(`work ${ev.n}`);
    await Promise.resolve();
    return new Done({ n: ev.n * 10 });
  }

  @step({ accepts: Done, emits: Ask })
  gather(ev: Done, ctx: Context) {
    this.ran.push("gather");
    const all = ctx.collectEvents(ev, [Done, Done, Done]);
    if (all === null) return;
    ctx.sendEvent(new Ask({ total: all.reduce((s, d) => s + d.n, 0) }));
  }

  @step({ accepts: Ask, emits: StopEvent, waitsFor: Answer })
  async approve(ev: Ask, ctx: Context) {
    this.ran.push("approve");
    const answer = await ctx.waitForEvent(Answer, { waiterEvent: new InputRequiredEvent({ prompt: `approve ${ev.total}?` }) });
    return new StopEvent({ result: `${ctx.store.get<string>("topic") ?? "?"}: ${ev.total} ${answer.ok}` });
  }
}

describe("runtime over JSON", () => {
  it("runs chain, fan-out, collectEvents, a send, stream writes, ctx.store and a wait answered from outside on another instance", async () => {
    const worker = new Pipeline();
    const runtime = loopback(worker);
    const coordinator = new Pipeline({ runtime, timeout: null });
    const h = coordinator.run({ topic: "AAPL" });
    const streamed: string[] = [];
    for await (const ev of h.streamEvents()) {
      streamed.push(ev.constructor.name);
      if (ev instanceof InputRequiredEvent) h.sendEvent(new Answer({ ok: "yes" }));
    }
    expect(await h).toBe("AAPL: 60 yes");
    expect(streamed).toEqual(["Progress", "InputRequiredEvent", "StopEvent"]);
    // Every step ran on the worker's instance, none on the coordinator's.
    expect(coordinator.ran).toEqual([]);
    expect(worker.ran.sort()).toEqual(["approve", "gather", "gather", "gather", "start", "work 1", "work 2", "work 3"]);
    expect(runtime.tasks.map((t) => t.step).sort()).toEqual(["approve", "gather", "gather", "gather", "start", "work", "work", "work"]);
    expect(runtime.tasks[0]).toEqual({ runId: h.runId, workflow: "Pipeline", step: "start", stepRunId: `${h.runId}:start:1`, attempt: 1, event: { type: "StartEvent", data: { topic: "AAPL" } } });
    // The store the worker saw, for the last step, came with its task.
    expect(runtime.tasks.find((t) => t.step === "approve")?.state).toEqual({ topic: "AAPL" });
    expect(runtime.outcomes.every((o) => o.ok)).toBe(true);
  });

  it("applies a step's retries once, in the run, around the runtime", async () => {
    class Flaky extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3 } })
      go(_: StartEvent, ctx: Context) {
        if (ctx.attempt < 2) throw new Error("rate limited");
        return new StopEvent({ result: ctx.attempt });
      }
    }
    const runtime = loopback(new Flaky());
    expect(await new Flaky({ runtime }).run({})).toBe(2);
    expect(runtime.tasks.map((t) => t.attempt)).toEqual([1, 2]);
    expect(runtime.outcomes[0]).toMatchObject({ ok: false, error: { name: "Error", message: "rate limited" } });
  });

  it("fails the run without retrying when the worker's step returns an event its emits does not list", async () => {
    class Other extends Event {}
    class Sloppy extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3 } })
      go() {
        return new Other() as unknown as StopEvent;
      }
      @step({ accepts: Other, emits: StopEvent })
      other() {
        return new StopEvent({});
      }
    }
    const runtime = loopback(new Sloppy());
    const err = await new Sloppy({ runtime, validate: false }).run({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err).toMatchObject({ code: "UNDECLARED_EVENT", step: "go" });
    expect(runtime.tasks).toHaveLength(1);
  });

  it("fails the run with UNKNOWN_STEP when the worker does not have the task's step", async () => {
    class Lone extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      only() {
        return new StopEvent({ result: 1 });
      }
    }
    class Elsewhere extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      other() {
        return new StopEvent({ result: 2 });
      }
    }
    const err = await new Lone({ runtime: loopback(new Elsewhere()) }).run({}).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "UNKNOWN_STEP" });
    expect((err as Error).message).toMatch(/step "only" of "Lone"/);
  });
});
