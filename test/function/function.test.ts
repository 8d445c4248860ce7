/** The function-style API (issue 12.14): `step(options, handler)` and `createWorkflow`, on the same engine as classes. */
import { afterEach, describe, expect, it } from "vitest";
import {
  App,
  createWorkflow,
  Event,
  executeTask,
  HumanResponseEvent,
  InputRequiredEvent,
  MemoryStore,
  RunSuspendedError,
  StartEvent,
  step,
  StopEvent,
  suspendRun,
  Workflow,
  WorkflowRuntimeError,
  WorkflowValidationError,
  type Runtime,
  type StepTask,
} from "../../src/index.js";
import { buildFlowsDocument, toMermaid } from "../../src/draw/index.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { tempDir } from "../stores/helpers.js";

class JokeEvent extends Event<{ joke: string }> {}
class Part extends Event<{ i: number }> {}
class Done extends Event<{ i: number }> {}
class Loop extends Event<{ n: number }> {}
class Verdict extends StopEvent<{ result: string; confidence: number }> {}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The joke flow of LlamaIndex's docs, with a fake LLM. */
function jokeFlow(log: string[] = []) {
  return createWorkflow({
    name: "joke",
    timeout: 10,
    steps: {
      generate: step({ accepts: StartEvent, emits: JokeEvent }, async (ev: StartEvent<{ topic: string }>) => {
        log.push("generate");
        return new JokeEvent({ joke: `a joke about ${ev.topic}` });
      }),
      critique: step({ accepts: JokeEvent, emits: StopEvent }, async (ev) => {
        log.push("critique");
        return new StopEvent({ result: `critique of ${ev.joke}` });
      }),
    },
  });
}

describe("step(options, handler)", () => {
  it("makes a frozen step value; step(options) alone is still the decorator", () => {
    const s = step({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 }));
    expect(Object.isFrozen(s)).toBe(true);
    expect(s.options.accepts).toBe(StartEvent);
    expect(typeof step({ accepts: StartEvent })).toBe("function");
  });

  it("throws at once for a handler that is not a function", () => {
    expect(() => step({ accepts: StartEvent }, "nope" as never)).toThrow(/step\(options, handler\): the handler is string "nope", not a function/);
  });

  it("can be shared by several workflows", async () => {
    const finish = step({ accepts: JokeEvent, emits: StopEvent }, (ev) => new StopEvent({ result: ev.joke.toUpperCase() }));
    const a = createWorkflow({ name: "a", steps: { start: step({ accepts: StartEvent, emits: JokeEvent }, () => new JokeEvent({ joke: "a" })), finish } });
    const b = createWorkflow({ name: "b", steps: { start: step({ accepts: StartEvent, emits: JokeEvent }, () => new JokeEvent({ joke: "b" })), finish } });
    expect(await Promise.all([a.run(), b.run()])).toEqual(["A", "B"]);
  });
});

describe("createWorkflow", () => {
  it("runs a chain and returns a Workflow instance named by its name option", async () => {
    const log: string[] = [];
    const flow = jokeFlow(log);
    expect(flow).toBeInstanceOf(Workflow);
    expect(await flow.run({ topic: "pirates" })).toBe("critique of a joke about pirates");
    expect(log).toEqual(["generate", "critique"]);
    const names: string[] = [];
    await flow.run({ topic: "x" }).inspect((e) => e.kind === "step_started" && names.push(`${e.workflow}.${e.step}`));
    expect(names.sort()).toEqual(["joke.critique", "joke.generate"]);
  });

  it("branches and loops, with a union accepts", async () => {
    const flow = createWorkflow({
      name: "loop",
      steps: {
        begin: step({ accepts: [StartEvent, Loop], emits: [Loop, StopEvent] }, (ev: StartEvent<{ max: number }> | Loop, ctx) => {
          if (ev instanceof Loop) return ev.n >= ctx.store.get("max", 0) ? new StopEvent({ result: ev.n }) : new Loop({ n: ev.n + 1 });
          ctx.store.set("max", ev.max);
          return new Loop({ n: 0 });
        }),
      },
    });
    expect(await flow.run({ max: 3 })).toBe(3);
  });

  it("fans out and in with collectEvents", async () => {
    const flow = createWorkflow({
      name: "fan",
      steps: {
        split: step({ accepts: StartEvent, emits: Part }, (ev: StartEvent<{ n: number }>) => Array.from({ length: ev.n }, (_, i) => new Part({ i }))),
        work: step({ accepts: Part, emits: Done, numWorkers: Infinity }, async (ev) => new Done({ i: ev.i * 10 })),
        join: step({ accepts: Done, emits: StopEvent, numWorkers: 1 }, (ev, ctx) => {
          const all = ctx.collectEvents(ev, [Done, Done, Done]);
          return all && new StopEvent({ result: all.map((d) => d.i).sort((x, y) => x - y) });
        }),
      },
    });
    expect(await flow.run({ n: 3 })).toEqual([0, 10, 20]);
  });

  it("waits for a person with waitForEvent", async () => {
    const flow = createWorkflow({
      name: "approve",
      steps: {
        ask: step({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async (ev: StartEvent<{ amount: number }>, ctx) => {
          const answer = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: new InputRequiredEvent({ prefix: `approve ${ev.amount}?` }) });
          return new StopEvent({ result: `${String(answer.response)} ${ev.amount}` });
        }),
      },
    });
    const h = flow.run({ amount: 5 });
    for await (const ev of h.streamEvents()) {
      if (ev instanceof InputRequiredEvent) {
        expect(ev.prefix).toBe("approve 5?");
        h.sendEvent(new HumanResponseEvent({ response: "yes" }));
      }
    }
    expect(await h).toBe("yes 5");
  });

  it("returns a custom StopEvent whole", async () => {
    const flow = createWorkflow({ name: "judge", steps: [step({ name: "judge", accepts: StartEvent, emits: Verdict }, () => new Verdict({ result: "buy", confidence: 0.5 }))] });
    const v = await flow.run();
    expect(v).toBeInstanceOf(Verdict);
    expect(v.confidence).toBe(0.5);
  });

  it("starts from a StartEvent subclass built from the run's input", async () => {
    class Topic extends StartEvent<{ topic: string }> {}
    const flow = createWorkflow<{ topic: string }, string>({
      name: "topic",
      steps: { echo: step({ accepts: Topic, emits: StopEvent }, (ev) => new StopEvent({ result: `${ev.constructor.name} ${ev.topic}` })) },
    });
    expect(await flow.run({ topic: "owls" })).toBe("Topic owls");
  });

  it("applies retry and per-step timeout options", async () => {
    let attempts = 0;
    const flow = createWorkflow({
      name: "flaky",
      steps: {
        flaky: step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3 } }, (_ev, ctx) => {
          attempts++;
          if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
          return new StopEvent({ result: ctx.attempt });
        }),
      },
    });
    expect(await flow.run()).toBe(3);
    expect(attempts).toBe(3);
    const slow = createWorkflow({ name: "slow", steps: { hang: step({ accepts: StartEvent, emits: StopEvent, timeout: 0.01 }, () => new Promise<never>(() => {})) } });
    await expect(slow.run()).rejects.toSatisfy((e) => e instanceof WorkflowRuntimeError && e.step === "hang");
  });

  it("takes a list of named steps (the name option or the function's name)", async () => {
    const flow = createWorkflow({
      name: "list",
      steps: [
        step({ accepts: StartEvent, emits: JokeEvent }, function generate() {
          return new JokeEvent({ joke: "j" });
        }),
        step({ name: "finish", accepts: JokeEvent, emits: StopEvent }, (ev) => new StopEvent({ result: ev.joke })),
      ],
    });
    expect(await flow.run()).toBe("j");
    expect(toMermaid(flow)).toContain('step_generate["generate"]');
  });

  it("refuses steps without a stable name, values that are not steps, and a name option that contradicts the key", () => {
    expect(() => createWorkflow({ name: "x", steps: [step({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent())] })).toThrow(/steps\[0\] has no name; give it a name option/);
    expect(() => createWorkflow({ name: "x", steps: { a: step({ accepts: StartEvent }) as never } })).toThrow(/steps\.a is function .*step\(options\) with no handler is the decorator/);
    expect(() => createWorkflow({ name: "x", steps: { a: step({ name: "b", accepts: StartEvent, emits: StopEvent }, () => new StopEvent()) } })).toThrow(/steps\.a has name "b" in its options/);
    expect(() => createWorkflow({ steps: {} } as never)).toThrow(/name must be a non-empty string/);
  });

  it("validates like a class: every problem at once", async () => {
    const flow = createWorkflow({ name: "broken", steps: { a: step({ accepts: StartEvent, emits: JokeEvent }, () => new JokeEvent({ joke: "" })) } });
    expect(() => flow.validate()).toThrow(WorkflowValidationError);
    await expect(flow.run()).rejects.toThrow(/no step emits StopEvent|StopEvent/);
  });

  it("adds more steps with addStep, chainable", async () => {
    const flow = createWorkflow({ name: "more", steps: { a: step({ accepts: StartEvent, emits: JokeEvent }, () => new JokeEvent({ joke: "x" })) } }).addStep(
      { name: "b", accepts: JokeEvent, emits: StopEvent },
      (ev) => new StopEvent({ result: ev.joke }),
    );
    expect(await flow.run()).toBe("x");
  });
});

describe("with the rest of the engine", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  it("is a member of an App, named by its name", async () => {
    class Quote extends Event<{ price: number }> {}
    class Order extends Event<{ sku: string }> {}
    const shop = createWorkflow({
      name: "shop",
      steps: {
        order: step({ accepts: StartEvent, emits: Order }, (ev: StartEvent<{ sku: string }>) => new Order({ sku: ev.sku })),
        done: step({ accepts: Quote, emits: StopEvent }, (ev) => new StopEvent({ result: ev.price })),
      },
    });
    const pricing = createWorkflow({ name: "pricing", steps: { price: step({ accepts: Order, emits: Quote }, (ev) => new Quote({ price: ev.sku.length })) } });
    const app = new App<{ sku: string }, number>({ workflows: [shop, pricing], timeout: 5 });
    expect([...app.members.keys()]).toEqual(["shop", "pricing"]);
    expect(await app.run({ sku: "ABCD" })).toBe(4);
    expect(toMermaid(app)).toMatch(/subgraph .*\["shop"\]/);
  });

  it("resumes a stored run in another instance: step names come from the keys", async () => {
    const { dir, remove } = tempDir("stepwise-fn-");
    cleanups.push(remove);
    let asked = 0;
    const make = (store: SqliteStore) =>
      createWorkflow({
        name: "approval",
        store,
        timeout: null,
        steps: {
          prepare: step({ accepts: StartEvent, emits: JokeEvent }, (ev: StartEvent<{ amount: number }>, ctx) => {
            ctx.store.set("amount", ev.amount);
            return new JokeEvent({ joke: `pay ${ev.amount}` });
          }),
          ask: step({ accepts: JokeEvent, emits: StopEvent, waitsFor: HumanResponseEvent }, async (ev, ctx) => {
            asked++;
            const answer = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: new InputRequiredEvent({ prefix: ev.joke }) });
            return new StopEvent({ result: `${String(answer.response)} ${ctx.store.get<number>("amount", 0)}` });
          }),
        },
      });
    const first = new SqliteStore(`${dir}/runs.db`);
    cleanups.push(() => first.close());
    const h = make(first).run({ amount: 7 });
    for await (const ev of h.streamEvents()) if (ev instanceof InputRequiredEvent) break;
    await until(() => first.getRun(h.runId)?.status === "waiting", "waiting");
    await suspendRun(h);
    await expect(h).rejects.toBeInstanceOf(RunSuspendedError);

    // Another process: its own store connection and its own workflow instance.
    const second = new SqliteStore(`${dir}/runs.db`);
    cleanups.push(() => second.close());
    expect(await make(second).sendEvent(h.runId, new HumanResponseEvent({ response: "ok" }))).toBe("ok 7");
    expect(asked).toBe(2);
    const journal = second.getJournal(h.runId);
    expect(new Set(journal.flatMap((e) => ("step" in e && typeof e.step === "string" ? [e.step] : [])))).toEqual(new Set(["prepare", "ask"]));
  });

  it("resumes on a MemoryStore after a crash without re-running finished steps", async () => {
    const counts = { a: 0, b: 0 };
    let block = true;
    const make = (store: MemoryStore) =>
      createWorkflow({
        name: "two",
        store,
        timeout: null,
        steps: {
          a: step({ accepts: StartEvent, emits: Part }, () => {
            counts.a++;
            return new Part({ i: 1 });
          }),
          b: step({ accepts: Part, emits: StopEvent }, async (ev) => {
            counts.b++;
            if (block) await new Promise(() => {});
            return new StopEvent({ result: ev.i });
          }),
        },
      });
    const store = new MemoryStore();
    const h = make(store).run();
    h.catch(() => {});
    await until(() => store.getJournal(h.runId).some((e) => e.kind === "step_started" && e.step === "b"), "b started");
    // What the crash leaves: the journal so far, in a store no live run holds.
    const copy = new MemoryStore();
    const run = store.getRun(h.runId);
    copy.createRun({ runId: h.runId, workflow: run?.workflow ?? "", input: run?.input ?? { type: "StartEvent", data: {} }, createdAt: run?.createdAt ?? 0 });
    copy.append(h.runId, JSON.parse(JSON.stringify(store.getJournal(h.runId))) as never);
    h.cancel();
    block = false;
    expect(await make(copy).resume(h.runId)).toBe(1);
    expect(counts).toEqual({ a: 1, b: 2 });
  });

  it("runs its steps through a runtime on another instance of the same workflow", async () => {
    const tasks: StepTask[] = [];
    const worker = jokeFlow();
    const runtime: Runtime = {
      execute: (task, scope) => {
        tasks.push(task);
        return executeTask(worker, task, scope);
      },
    };
    const local: string[] = [];
    const flow = createWorkflow({ name: "joke", runtime, steps: { generate: step({ accepts: StartEvent, emits: JokeEvent }, () => (local.push("x"), new JokeEvent({ joke: "" }))), critique: step({ accepts: JokeEvent, emits: StopEvent }, () => new StopEvent({ result: "" })) } });
    expect(await flow.run({ topic: "ducks" })).toBe("critique of a joke about ducks");
    expect(local).toEqual([]);
    expect(tasks.map((t) => `${t.workflow}.${t.step}`)).toEqual(["joke.generate", "joke.critique"]);
  });

  it("is drawn like a class", () => {
    const doc = buildFlowsDocument(jokeFlow());
    const text = JSON.stringify(doc);
    expect(text).toContain('"generate"');
    expect(toMermaid(jokeFlow())).toContain("event_JokeEvent --> step_critique");
    expect(toMermaid(jokeFlow())).toContain("step_generate --> event_JokeEvent");
  });
});
