import { SpanStatusCode, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { App, Context, Event, getTracer, MemoryStore, StartEvent, step, StopEvent, Workflow, type WorkflowHandler } from "../../src/index.js";
import { only, registerSdk, tree } from "./helpers.js";

const sdk = registerSdk();
beforeAll(() => {
  // Nothing configured in stepwise: importing it installed the tracer that turns into OpenTelemetry's.
  expect(getTracer()).toBeDefined();
});
afterAll(() => sdk.shutdown());
beforeEach(() => sdk.exporter.reset());
const spans = () => sdk.exporter.getFinishedSpans();

class Part extends Event<{ n: number }> {}
class Done extends Event<{ n: number }> {}

class FanOut extends Workflow {
  @step({ accepts: StartEvent, emits: Part })
  split() {
    return [1, 2, 3].map((n) => new Part({ n }));
  }
  @step({ accepts: Part, emits: Done, kind: "tool", numWorkers: 3 })
  async lookup(ev: Part) {
    await new Promise((r) => setTimeout(r, 1));
    return new Done({ n: ev.n * 10 });
  }
  @step({ accepts: Done, emits: StopEvent })
  gather(ev: Done, ctx: Context) {
    const all = ctx.collectEvents(ev, [Done, Done, Done]);
    if (all === null) return null;
    return new StopEvent({ result: all.reduce((s, d) => s + d.n, 0) });
  }
}

class Child extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent, kind: "llm" })
  answer(ev: StartEvent<{ n: number }>) {
    return new StopEvent({ result: ev.n * 2 });
  }
}

class Parent extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent, calls: Child })
  async delegate(ev: StartEvent<{ n: number }>, ctx: Context) {
    // A span of the user's own, in the step body: it nests under the step's span.
    const inner = await trace.getTracer("user").startActiveSpan("user work", async (span) => {
      span.end();
      return ctx.runWorkflow(new Child(), { n: ev.n });
    });
    return new StopEvent({ result: inner });
  }
}

describe("OpenTelemetry traces", () => {
  it("gives a fan-out one run span with a span per step attempt; tool steps are execute_tool spans", async () => {
    expect(await new FanOut().run()).toBe(60);
    expect(tree(spans())).toEqual(["invoke_workflow FanOut", "  execute_tool lookup", "  execute_tool lookup", "  execute_tool lookup", "  step gather", "  step gather", "  step gather", "  step split"]);
    const run = only(spans(), "invoke_workflow FanOut");
    expect(run.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_workflow",
      "gen_ai.workflow.name": "FanOut",
      "stepwise.workflow": "FanOut",
      "stepwise.run.id": expect.any(String),
      "stepwise.run.status": "completed",
      "openinference.span.kind": "CHAIN",
      "langfuse.trace.name": "FanOut",
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);
    const split = only(spans(), "step split");
    expect(split.attributes).toMatchObject({ "stepwise.step.name": "split", "stepwise.step.attempt": 1, "stepwise.event.in": "StartEvent", "stepwise.events.out": ["Part", "Part", "Part"], "stepwise.step.run_id": expect.any(String) });
    const tool = spans().find((s) => s.name === "execute_tool lookup");
    expect(tool?.attributes).toMatchObject({ "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup", "gen_ai.tool.type": "function", "openinference.span.kind": "TOOL", "stepwise.event.in": "Part", "stepwise.events.out": ["Done"] });
    expect(tool?.attributes).not.toHaveProperty("input.value"); // content is opt-in
    for (const s of spans()) expect(s.spanContext().traceId).toBe(run.spanContext().traceId);
  });

  it("nests a child run under the step that started it, and the user's spans under the step", async () => {
    expect(await new Parent().run({ n: 4 })).toBe(8);
    expect(tree(spans())).toEqual(["invoke_workflow Parent", "  step delegate", "    user work", "      invoke_workflow Child", "        step answer"]);
    const child = only(spans(), "invoke_workflow Child");
    expect(child.attributes["stepwise.parent_run.id"]).toBe(only(spans(), "invoke_workflow Parent").attributes["stepwise.run.id"]);
    expect(child.attributes).not.toHaveProperty("langfuse.trace.name"); // only the trace's root names it
    expect(only(spans(), "step answer").attributes).toMatchObject({ "openinference.span.kind": "LLM", "langfuse.observation.type": "generation" });
  });

  it("nests a run under the caller's active span", async () => {
    await trace.getTracer("app").startActiveSpan("request", async (span) => {
      await new FanOut().run();
      span.end();
    });
    expect(tree(spans())[0]).toBe("request");
    expect(tree(spans())[1]).toBe("  invoke_workflow FanOut");
  });

  it("nests an App's members' steps under the App's run, and links a step ctx.call started to its caller", async () => {
    class Ask extends Event<{ q: number }> {}
    class Answer extends Event<{ a: number }> {}
    const asker = new Workflow({ name: "Asker" }).addStep({ name: "ask", accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer }, async (_ev, ctx) => {
      const reply = await ctx.call(new Ask({ q: 3 }), Answer);
      return new StopEvent({ result: reply.a });
    });
    const answerer = new Workflow({ name: "Answerer" }).addStep({ name: "square", accepts: Ask, emits: Answer, kind: "tool" }, async (ev) => {
      return new Answer({ a: ev.q * ev.q });
    });
    const app = new App({ workflows: [asker, answerer] });
    expect(await trace.getTracer("app").startActiveSpan("caller", async (span) => {
      const r = await app.run();
      span.end();
      return r;
    })).toBe(9);
    expect(tree(spans())).toEqual(["caller", "  invoke_workflow App", "    execute_tool Answerer.square", "    step Asker.ask"]);
    const ask = only(spans(), "step Asker.ask");
    const square = only(spans(), "execute_tool Answerer.square");
    expect(square.links).toEqual([expect.objectContaining({ context: expect.objectContaining({ spanId: ask.spanContext().spanId }), attributes: { "stepwise.link": "sent_by" } })]);
  });

  it("records a failed attempt and a failed run as errors", async () => {
    class Flaky extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 2 } })
      boom(): StopEvent {
        throw new Error("no luck");
      }
    }
    await expect(new Flaky().run()).rejects.toThrow("no luck");
    expect(tree(spans())).toEqual(["invoke_workflow Flaky", "  step boom", "  step boom"]);
    const attempts = spans().filter((s) => s.name === "step boom");
    expect(attempts.map((s) => s.attributes["stepwise.step.attempt"]).sort()).toEqual([1, 2]);
    for (const s of attempts) {
      expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: "no luck" });
      expect(s.events.map((e) => e.name)).toEqual(["exception"]);
      expect(s.attributes["error.type"]).toBe("Error");
    }
    const run = only(spans(), "invoke_workflow Flaky");
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    expect(run.attributes["stepwise.run.status"]).toBe("failed");
    expect(run.attributes["error.type"]).toEqual(expect.any(String));
  });

  it("does not call waiting for input, or a cancelled run, an error", async () => {
    class Reply extends Event<{ n: number }> {}
    class Waits extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply })
      async ask(_: StartEvent, ctx: Context) {
        return new StopEvent({ result: (await ctx.waitForEvent(Reply)).n });
      }
    }
    const h = new Waits().run();
    await waitFor(h, "waiting");
    expect(spans()).toEqual([]); // still open while it waits
    h.cancel();
    await h.catch(() => {});
    expect(tree(spans())).toEqual(["invoke_workflow Waits", "  step ask"]);
    for (const s of spans()) expect(s.status.code).toBe(SpanStatusCode.UNSET);
    expect(only(spans(), "invoke_workflow Waits").attributes["stepwise.run.status"]).toBe("cancelled");
  });

  it("continues the journaled trace when a run resumes, linked to what resumed it", async () => {
    class Reply extends Event<{ n: number }> {}
    class Waits extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply })
      async ask(_: StartEvent, ctx: Context) {
        return new StopEvent({ result: (await ctx.waitForEvent(Reply)).n });
      }
    }
    const store = new MemoryStore();
    const h = new Waits({ store }).run();
    await waitFor(h, "waiting", store);
    h.cancel();
    await h.catch(() => {});
    const first = only(spans(), "invoke_workflow Waits");
    // Another process resumes it from its journal (a copy without the cancellation).
    const copy = new MemoryStore();
    const stored = store.getRun(h.runId);
    copy.createRun({ runId: h.runId, workflow: stored!.workflow, input: stored!.input, createdAt: stored!.createdAt });
    copy.append(h.runId, store.getJournal(h.runId).filter((e) => e.kind !== "run_finished"));
    sdk.exporter.reset();
    const result = await trace.getTracer("app").startActiveSpan("http POST /events", async (span) => {
      const r = await new Waits({ store: copy }).sendEvent(h.runId, new Reply({ n: 7 }));
      span.end();
      return r;
    });
    expect(result).toBe(7);
    const resumed = only(spans(), "invoke_workflow Waits");
    expect(resumed.spanContext().traceId).toBe(first.spanContext().traceId);
    expect(resumed.parentSpanContext?.spanId).toBe(first.spanContext().spanId);
    expect(resumed.attributes).toMatchObject({ "stepwise.run.resumed": true, "stepwise.run.id": h.runId, "stepwise.run.status": "completed" });
    const request = only(spans(), "http POST /events");
    expect(resumed.links.map((l) => l.context.spanId)).toEqual([request.spanContext().spanId]);
    expect(spans().filter((s) => s.name === "step ask").every((s) => s.spanContext().traceId === first.spanContext().traceId)).toBe(true);
  });

  it("records events as JSON when content capture is on", async () => {
    const { installOtel } = await import("../../src/otel/index.js");
    const before = getTracer();
    installOtel({ captureContent: true, semconv: "latest" });
    try {
      await new FanOut().run();
    } finally {
      const { setTracer } = await import("../../src/index.js");
      setTracer(before);
    }
    const tool = spans().find((s) => s.name === "execute_tool lookup");
    expect(JSON.parse(tool?.attributes["input.value"] as string)).toMatchObject({ type: "Part", data: { n: expect.any(Number) } });
    expect(tool?.attributes["gen_ai.tool.call.result"]).toEqual(expect.stringContaining('"Done"'));
    const run = only(spans(), "invoke_workflow FanOut");
    expect(run.attributes["gen_ai.agent.name"]).toBe("FanOut");
    expect(run.attributes).not.toHaveProperty("gen_ai.workflow.name");
  });
});

async function waitFor(h: WorkflowHandler<unknown>, status: string, store?: MemoryStore): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((store ? store.getRun(h.runId)?.status : h.status) === status) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`run ${h.runId} never became ${status}`);
}
