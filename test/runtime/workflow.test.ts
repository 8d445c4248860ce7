/** Whole runs whose steps execute on a BullMQ worker (in this process here; other processes in failures.test.ts). */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { App, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, WorkflowCancelledError, WorkflowRuntimeError, step, type Context } from "stepwise-ai";
import { BullMQRuntime, createWorker, type StepWorker } from "stepwise-ai/bullmq";
import { dropPrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();

class Part extends Event<{ n: number }> {}
class Done extends Event<{ n: number }> {}
class Progress extends Event<{ msg: string }> {}
class Answer extends HumanResponseEvent<{ ok: string }> {}

const pids: string[] = [];

class FanIn extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: Part })
  start(ev: StartEvent<{ n: number }>, ctx: Context) {
    ctx.writeEventToStream(new Progress({ msg: `fan out ${ev.n}` }));
    return Array.from({ length: ev.n }, (_, i) => new Part({ n: i }));
  }

  @step({ accepts: Part, emits: Done, numWorkers: Infinity })
  async work(ev: Part) {
    pids.push(`work ${ev.n}`);
    await new Promise((r) => setTimeout(r, 5));
    return new Done({ n: ev.n });
  }

  // One at a time: a step on a worker reads the state as it was when the step was handed out.
  @step({ accepts: Done, emits: StopEvent, numWorkers: 1 })
  gather(ev: Done, ctx: Context) {
    const n = ctx.store.get("n", 0) + 1;
    ctx.store.set("n", n);
    if (n < 5) return;
    return new StopEvent({ result: n });
  }
}

class Collecting extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: Part })
  start(ev: StartEvent<{ n: number }>) {
    return Array.from({ length: ev.n }, (_, i) => new Part({ n: i }));
  }

  @step({ accepts: Part, emits: Done })
  work(ev: Part) {
    return new Done({ n: ev.n * 10 });
  }

  @step({ accepts: Done, emits: StopEvent })
  gather(ev: Done, ctx: Context) {
    const all = ctx.collectEvents(ev, [Done, Done, Done]);
    if (all === null) return;
    return new StopEvent({ result: all.reduce((s, d) => s + d.n, 0) });
  }
}

let flaky = 0;
class Flaky extends Workflow<object, string> {
  @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3 } })
  attemptIt(_ev: StartEvent, ctx: Context) {
    flaky++;
    if (ctx.attempt < 2) throw new Error(`flaky attempt ${ctx.attempt}`);
    return new StopEvent({ result: `ok on attempt ${ctx.attempt}` });
  }
}

class Poison extends Workflow<object, string> {
  @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3 } })
  alwaysThrows(): StopEvent {
    throw new Error("bad input, always");
  }
}

const aborts: string[] = [];
class Hangs extends Workflow<object, string> {
  @step({ accepts: StartEvent, emits: StopEvent, timeout: 0.3 })
  async hang(_ev: StartEvent, ctx: Context) {
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    aborts.push(`hang: ${(ctx.signal.reason as Error).name}`);
    return new StopEvent({ result: "never" });
  }
}

class Forever extends Workflow<object, string> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async forever(_ev: StartEvent, ctx: Context) {
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    aborts.push(`forever: ${(ctx.signal.reason as Error).name}`);
    return new StopEvent({ result: "never" });
  }
}

class Asks extends Workflow<object, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async ask(_ev: StartEvent, ctx: Context) {
    const answer = await ctx.waitForEvent(Answer, { waiterEvent: new InputRequiredEvent({ prefix: "ok?" }) });
    return new StopEvent({ result: `answered ${answer.ok}` });
  }
}

class Ping extends Event<{ from: string }> {}
class Monitor extends Workflow {
  @step({ accepts: StartEvent, emits: Ping })
  begin() {
    return new Ping({ from: "monitor" });
  }
}
class Station extends Workflow {
  @step({ accepts: Ping, emits: StopEvent })
  answer(ev: Ping) {
    return new StopEvent({ result: `station got ${ev.from}` });
  }
}

let inside = 0;
let most = 0;
class Limited extends Workflow<object, number> {
  @step({ accepts: StartEvent, emits: Part })
  start() {
    return [1, 2, 3, 4, 5, 6].map((n) => new Part({ n }));
  }

  @step({ accepts: Part, emits: Done, numWorkers: Infinity })
  callModel(ev: Part) {
    return callModel(ev);
  }

  @step({ accepts: Done, emits: StopEvent, numWorkers: 1 })
  gather(_ev: Done, ctx: Context) {
    return gather(ctx);
  }
}

/** Limited's model call: counts how many run at once. */
async function callModel(ev: Part): Promise<Done> {
  most = Math.max(most, ++inside);
  await new Promise((r) => setTimeout(r, 20));
  inside--;
  return new Done({ n: ev.n });
}

/** Limited's fan-in: the sixth Done ends the run. */
function gather(ctx: Context): StopEvent | undefined {
  const n = ctx.store.get("n", 0) + 1;
  ctx.store.set("n", n);
  return n === 6 ? new StopEvent({ result: n }) : undefined;
}

describe.skipIf(!available)("workflows with runtime: BullMQRuntime", () => {
  let prefix = "";
  const workers: StepWorker[] = [];
  let runtime: BullMQRuntime;
  afterEach(async () => {
    await runtime.close();
    await Promise.all(workers.splice(0).map((w) => w.close(true)));
    await dropPrefix(prefix);
  });
  const setup = async (workflows: Workflow[] | App, extra: Partial<Parameters<typeof createWorker>[0]> = {}) => {
    prefix = uniquePrefix();
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows, concurrency: 8, ...extra }));
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    return runtime;
  };
  const completedJobs = async (queue: string) => {
    const r = new Redis(REDIS_URL);
    try {
      return await r.zcard(`${prefix}:${queue}:completed`);
    } finally {
      r.disconnect();
    }
  };

  it("runs a fan-out on the worker: every step a job, stream and store writes come back", async () => {
    const runtime = await setup([new FanIn()]);
    pids.length = 0;
    const handler = new FanIn({ runtime }).run({ n: 5 });
    const streamed: string[] = [];
    // A stream-only event class is not in the workflow's plan: it comes back from the worker as { type, data }.
    for await (const ev of handler.streamEvents()) if (ev.toJSON().type === "Progress") streamed.push((ev.toJSON().data as { msg: string }).msg);
    expect(await handler).toBe(5);
    expect(streamed).toEqual(["fan out 5"]);
    expect(pids.sort()).toEqual(["work 0", "work 1", "work 2", "work 3", "work 4"]);
    // start, 5 × work, 5 × gather: one job each.
    expect(await completedJobs("FanIn")).toBe(11);
    expect(runtime.inFlight).toBe(0);
  });

  it("a fan-in step with collectEvents fails on a worker, naming runInProcess, and runs in the coordinator once named", async () => {
    let runtime = await setup([new Collecting()]);
    await expect(new Collecting({ runtime }).run({ n: 3 })).rejects.toThrow(/collectEvents\(\) on a BullMQ worker.*runtime\.runInProcess\(workflow, \["gather"\]\)/s);
    await runtime.close();
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    const wf = new Collecting({ runtime });
    runtime.runInProcess(wf, ["gather"]);
    expect(await wf.run({ n: 3 })).toBe(30);
    // Found by itself: the first attempt on a worker says it needs the run's memory.
    const auto = new Collecting({ runtime: (runtime = new BullMQRuntime({ connection: REDIS_URL, prefix })) });
    runtime.runInProcess(auto);
    expect(await auto.run({ n: 3 })).toBe(30);
    expect(() => runtime.runInProcess(auto, ["nope"])).toThrow(/has no step "nope"/);
  });

  it("the step's retry applies once, by stepwise: each attempt one job, BullMQ retries nothing", async () => {
    const runtime = await setup([new Flaky()]);
    flaky = 0;
    expect(await new Flaky({ runtime }).run({})).toBe("ok on attempt 2");
    expect(flaky).toBe(2);
    expect(await completedJobs("Flaky")).toBe(2);
  });

  it("a step that always throws fails the run after its attempts, naming the step", async () => {
    const runtime = await setup([new Poison()]);
    const err: unknown = await new Poison({ runtime }).run({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect(err).toMatchObject({ code: "STEP_FAILED", step: "alwaysThrows" });
    expect((err as Error).message).toMatch(/Step "alwaysThrows" of workflow "Poison" failed \(attempt 3 of 3\): bad input, always/);
  });

  it("a step timeout and a run cancel reach ctx.signal of the step on the worker", async () => {
    const runtime = await setup([new Hangs(), new Forever()]);
    aborts.length = 0;
    await expect(new Hangs({ runtime }).run({})).rejects.toMatchObject({ code: "STEP_FAILED" });
    // The run ends at the timeout; the abort reaches the worker just after.
    while (aborts.length < 1 || workers[0]?.running !== 0) await new Promise((r) => setTimeout(r, 5));
    const handler = new Forever({ runtime }).run({});
    while (workers[0]?.running === 0) await new Promise((r) => setTimeout(r, 5));
    handler.cancel();
    await expect(handler).rejects.toBeInstanceOf(WorkflowCancelledError);
    while (aborts.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(aborts.sort()).toEqual(["forever: WorkflowCancelledError", "hang: WorkflowTimeoutError"]);
  });

  it("waitForEvent on a worker goes through the coordinator: the waiter event streams, the answer arrives", async () => {
    const runtime = await setup([new Asks()]);
    const handler = new Asks({ runtime }).run({});
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) handler.sendEvent(new Answer({ ok: "yes" }));
    }
    expect(await handler).toBe("answered yes");
  });

  it("App members on their own queues: a worker per member", async () => {
    prefix = uniquePrefix();
    const app = () => new App({ workflows: [new Monitor(), new Station()] });
    const onlyMonitor = await createWorker({ connection: REDIS_URL, prefix, workflows: app(), queues: ["Monitor"] });
    const onlyStation = await createWorker({ connection: REDIS_URL, prefix, workflows: app(), queues: ["Station"] });
    workers.push(onlyMonitor, onlyStation);
    expect([onlyMonitor.queues, onlyStation.queues]).toEqual([["Monitor"], ["Station"]]);
    runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
    const coordinator = new App({ workflows: [new Monitor(), new Station()], runtime });
    expect(await coordinator.run({})).toBe("station got monitor");
    expect([await completedJobs("Monitor"), await completedJobs("Station")]).toEqual([1, 1]);
  });

  it("globalConcurrency gives a step its own queue with BullMQ's cluster-wide limit", async () => {
    const runtime = await setup([new Limited()], { globalConcurrency: { "Limited.callModel": 1 } });
    expect(workers[0]?.queues).toEqual(["Limited", "Limited.callModel"]);
    // A second worker process, as another machine would be.
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Limited()], concurrency: 8, globalConcurrency: { "Limited.callModel": 1 } }));
    inside = most = 0;
    expect(await new Limited({ runtime }).run({})).toBe(6);
    expect(most).toBe(1);
    expect(await completedJobs("Limited.callModel")).toBe(6);
    await expect(createWorker({ connection: REDIS_URL, prefix, workflows: [new Limited()], globalConcurrency: { "Limited.callModel": 0 } })).rejects.toThrow(/globalConcurrency of step "Limited.callModel" must be a whole number ≥ 1, got 0/);
  });

  it("the step option globalConcurrency does the same, declared where the step is", async () => {
    class Declared extends Workflow<object, number> {
      @step({ accepts: StartEvent, emits: Part })
      start() {
        return [1, 2, 3, 4, 5, 6].map((n) => new Part({ n }));
      }
      @step({ accepts: Part, emits: Done, numWorkers: Infinity, globalConcurrency: 2 })
      callModel(ev: Part) {
        return callModel(ev);
      }
      @step({ accepts: Done, emits: StopEvent, numWorkers: 1 })
      gather(_ev: Done, ctx: Context) {
        return gather(ctx);
      }
    }
    const runtime = await setup([new Declared()]);
    expect(workers[0]?.queues).toEqual(["Declared", "Declared.callModel"]);
    workers.push(await createWorker({ connection: REDIS_URL, prefix, workflows: [new Declared()], concurrency: 8 }));
    inside = most = 0;
    expect(await new Declared({ runtime }).run({})).toBe(6);
    expect(most).toBe(2);
    expect(await completedJobs("Declared.callModel")).toBe(6);
    class Bad extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, globalConcurrency: 0.5 })
      only() {
        return new StopEvent({ result: 1 });
      }
    }
    await expect(new Bad().run()).rejects.toThrow(/Step "only": globalConcurrency must be a whole number ≥ 1, got 0.5/);
  });
});
