import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, setTracer, StartEvent, step, StopEvent, Workflow, type RunTrace, type StepTraceInfo, type Tracer } from "../../src/index.js";

/** A tracer that writes down what the engine tells it; its "span" is an ALS value, as OpenTelemetry's context is. */
function recorder() {
  const als = new AsyncLocalStorage<string>();
  const log: string[] = [];
  const carriers: (Readonly<Record<string, string>> | undefined)[] = [];
  const tracer: Tracer = {
    startRun(info): RunTrace {
      carriers.push(info.carrier);
      log.push(`run ${info.workflow}${info.resumed ? " resumed" : ""} under ${als.getStore() ?? "-"}`);
      return {
        carrier: info.carrier ?? { traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01` },
        step(s: StepTraceInfo, body) {
          log.push(`step ${s.step}${s.kind ? ` (${s.kind})` : ""} #${s.attempt}`);
          return als.run(`${info.workflow}.${s.step}`, body);
        },
        end(status, error) {
          log.push(`end ${info.workflow} ${status}${error instanceof Error ? `: ${error.message}` : ""}`);
        },
      };
    },
  };
  return { tracer, log, carriers, als };
}

class Mid extends Event<{ n: number }> {}

class Child extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  only(ev: StartEvent<{ n: number }>) {
    return new StopEvent({ result: ev.n * 2 });
  }
}

class Parent extends Workflow {
  @step({ accepts: StartEvent, emits: Mid, kind: "tool" })
  async first(ev: StartEvent<{ n: number }>) {
    await Promise.resolve();
    return new Mid({ n: ev.n + 1 });
  }
  @step({ accepts: Mid, emits: StopEvent, calls: Child })
  async second(ev: Mid, ctx: Context) {
    await new Promise((r) => setTimeout(r, 1));
    return new StopEvent({ result: await ctx.runWorkflow(new Child(), { n: ev.n }) });
  }
}

afterEach(() => setTracer(undefined));

describe("the tracer seam", () => {
  it("is told of the run, each step attempt (inside its body's async context) and the end; a child run starts under its caller's step", async () => {
    const { tracer, log } = recorder();
    setTracer(tracer);
    expect(await new Parent().run({ n: 1 })).toBe(4);
    expect(log).toEqual(["run Parent under -", "step first (tool) #1", "step second #1", "run Child under Parent.second", "step only #1", "end Child completed", "end Parent completed"]);
  });

  it("is told of every attempt and of a failure", async () => {
    const { tracer, log } = recorder();
    setTracer(tracer);
    class Flaky extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 2 } })
      boom(): StopEvent {
        throw new Error("no luck");
      }
    }
    await expect(new Flaky().run()).rejects.toThrow("no luck");
    expect(log).toEqual(["run Flaky under -", "step boom #1", "step boom #2", expect.stringMatching(/^end Flaky failed: .*no luck/)]);
  });

  it("journals the run's trace context, and a resumed run continues it", async () => {
    const { tracer, carriers, log } = recorder();
    setTracer(tracer);
    class Waits extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      async ask(_: StartEvent, ctx: Context) {
        const answer = await ctx.waitForEvent(Mid);
        return new StopEvent({ result: answer.n });
      }
    }
    const store = new MemoryStore();
    const h = new Waits({ store }).run();
    for (let i = 0; i < 100 && (store.getRun(h.runId))?.status !== "waiting"; i++) await new Promise((r) => setTimeout(r, 2));
    const started = (store.getJournal(h.runId)).find((e) => e.kind === "run_started");
    expect(started).toMatchObject({ trace: { traceparent: expect.stringMatching(/^00-1{32}-2{16}-01$/) } });
    h.cancel();
    await h.catch(() => {});
    // Another process would now resume it; the journal still says the run waits (cancel ended it here: use sendEvent on a copy).
    const copy = new MemoryStore();
    const run = store.getRun(h.runId);
    copy.createRun({ runId: h.runId, workflow: run!.workflow, input: run!.input, createdAt: run!.createdAt });
    copy.append(h.runId, (store.getJournal(h.runId)).filter((e) => e.kind !== "run_finished"));
    expect(await new Waits({ store: copy }).sendEvent(h.runId, new Mid({ n: 7 }))).toBe(7);
    expect(log).toContain("run Waits resumed under -");
    expect(carriers.at(-1)).toEqual(started && "trace" in started ? started.trace : undefined);
  });

  it("leaves runs alone when no tracer is set", async () => {
    const { tracer, log } = recorder();
    setTracer(tracer);
    setTracer(undefined);
    expect(await new Parent().run({ n: 1 })).toBe(4);
    expect(log).toEqual([]);
  });
});
