/**
 * A child process of the crash matrix (matrix.crash.ts):
 *   child.ts start  <flow> <sqlite|postgres> <path|schema> <dir>           prints {"runId"}, then {"result"} (and {"appends"})
 *   child.ts resume <flow> <sqlite|postgres> <path|schema> <dir> <runId>   prints {"result"} or {"ended"}
 * With CRASH_AFTER=N (start only) the store is wrapped so that the process SIGKILLs itself right
 * after its Nth journal commit returns: a kill at every commit boundary, from outside the engine.
 * Every step invocation appends "<phase> <step> <stepRunId> <attempt>" to <dir>/steps.log.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../fixtures/durable/open-store.js";
import { App, Context, Event, InputRequiredEvent, RunFinishedError, StartEvent, step, StopEvent, Workflow, type Store } from "stepwise-ai";

const [mode = "", flow = "", kind = "", where = "", dir = "", runId] = process.argv.slice(2);

const log = (name: string, ctx: Context): void => appendFileSync(join(dir, "steps.log"), `${mode} ${name} ${ctx.stepRunId} ${ctx.attempt}\n`);
const nap = (ms: number) => new Promise((r) => setTimeout(r, ms));

/* ------------------------------------------------------------------ flows */

class C1 extends Event<{ v: number }> {}
class C2 extends Event<{ v: number }> {}
class C3 extends Event<{ v: number }> {}

class Chain extends Workflow {
  @step({ accepts: StartEvent, emits: C1 })
  async a(ev: StartEvent<{ x: number }>, ctx: Context) {
    log("a", ctx);
    await nap(3);
    ctx.store.set("a", ev.x);
    return new C1({ v: ev.x + 1 });
  }
  @step({ accepts: C1, emits: C2 })
  async b(ev: C1, ctx: Context) {
    log("b", ctx);
    await nap(3);
    return new C2({ v: ev.v * 2 });
  }
  @step({ accepts: C2, emits: C3 })
  async c(ev: C2, ctx: Context) {
    log("c", ctx);
    await nap(3);
    ctx.store.set("c", ev.v);
    return new C3({ v: ev.v + 3 });
  }
  @step({ accepts: C3, emits: StopEvent })
  async d(ev: C3, ctx: Context) {
    log("d", ctx);
    return new StopEvent({ result: { v: ev.v, a: ctx.store.get("a"), c: ctx.store.get("c") } });
  }
}

class Task extends Event<{ i: number }> {}
class Done extends Event<{ i: number; v: number }> {}
const WIDTH = 6;

/** Fan-out: `spread` returns WIDTH tasks (byArray) or sends them with ctx.sendEvent; `join` collects. */
function fanOut(byArray: boolean) {
  class FanOut extends Workflow {
    @step({ accepts: StartEvent, emits: Task })
    async spread(_: StartEvent, ctx: Context) {
      log("spread", ctx);
      const tasks = Array.from({ length: WIDTH }, (_, i) => new Task({ i }));
      if (byArray) return tasks;
      // Sends while it works: a commit may fall between the sends and the step's completion.
      for (const [i, t] of tasks.entries()) {
        ctx.sendEvent(t);
        if (i % 2 === 1) await nap(8);
      }
      return undefined;
    }
    @step({ accepts: Task, emits: Done, numWorkers: 3 })
    async work(ev: Task, ctx: Context) {
      log("work", ctx);
      await nap(2 + ev.i);
      return new Done({ i: ev.i, v: ev.i * ev.i });
    }
    @step({ accepts: Done, emits: StopEvent })
    async join(ev: Done, ctx: Context) {
      log("join", ctx);
      const all = ctx.collectEvents(ev, Array<typeof Done>(WIDTH).fill(Done));
      if (all === null) return undefined;
      return new StopEvent({ result: { sum: all.reduce((s, d) => s + d.v, 0), seen: all.map((d) => d.i).sort() } });
    }
  }
  return FanOut;
}

class Ping extends Event<{ n: number }> {}
class Pong extends Event<{ n: number }> {}

/** Two waits in a row, each answered by another step of the run. */
class Waits extends Workflow {
  @step({ accepts: StartEvent, emits: [Ping, StopEvent], waitsFor: Pong })
  async ask(_: StartEvent, ctx: Context) {
    log("ask", ctx);
    ctx.sendEvent(new Ping({ n: 2 }));
    const first = await ctx.waitForEvent(Pong, { filter: (p) => p.n === 12 });
    ctx.sendEvent(new Ping({ n: 5 }));
    const second = await ctx.waitForEvent(Pong, { filter: (p) => p.n === 30 });
    return new StopEvent({ result: [first.n, second.n] });
  }
  @step({ accepts: Ping, emits: Pong })
  async answer(ev: Ping, ctx: Context) {
    log("answer", ctx);
    await nap(3);
    return new Pong({ n: ev.n * 6 });
  }
}

class R1 extends Event<{ attempts: number }> {}

/** A step that fails twice, then succeeds; the result does not depend on how often it ran. */
class Retries extends Workflow {
  @step({ accepts: StartEvent, emits: R1, retry: { maxAttempts: 6, delay: 0.002, backoff: 1 } })
  async flaky(_: StartEvent, ctx: Context) {
    log("flaky", ctx);
    await nap(2);
    if (ctx.attempt < 3) throw new Error(`transient failure on attempt ${ctx.attempt}`);
    return new R1({ attempts: 3 });
  }
  @step({ accepts: R1, emits: StopEvent })
  async after(ev: R1, ctx: Context) {
    log("after", ctx);
    return new StopEvent({ result: { ok: true, atLeast: ev.attempts } });
  }
}

class I1 extends Event<{ n: number }> {}
class O1 extends Event<{ v: number }> {}

class Inner extends Workflow {
  @step({ accepts: StartEvent, emits: I1 })
  async inA(ev: StartEvent<{ n: number }>, ctx: Context) {
    log("inA", ctx);
    await nap(3);
    return new I1({ n: ev.n + 1 });
  }
  @step({ accepts: I1, emits: StopEvent })
  async inB(ev: I1, ctx: Context) {
    log("inB", ctx);
    await nap(3);
    return new StopEvent({ result: ev.n * 10 });
  }
}

/** A parent that runs two child runs, one after the other. */
class Outer extends Workflow {
  @step({ accepts: StartEvent, emits: O1, calls: [Inner] })
  async first(ev: StartEvent<{ x: number }>, ctx: Context) {
    log("first", ctx);
    // Child runs journaled in the same (wrapped) store, each a run of its own.
    const a = (await ctx.runWorkflow(new Inner({ store, timeout: null }), { n: ev.x })) as number;
    const b = (await ctx.runWorkflow(new Inner({ store, timeout: null }), { n: a })) as number;
    return new O1({ v: a + b });
  }
  @step({ accepts: O1, emits: StopEvent })
  async second(ev: O1, ctx: Context) {
    log("second", ctx);
    return new StopEvent({ result: ev.v });
  }
}

class Ask extends Event<{ q: number }> {}
class Answer extends Event<{ a: number }> {}

class Caller extends Workflow {
  @step({ accepts: StartEvent, emits: [Ask, StopEvent], waitsFor: Answer })
  async ask(_: StartEvent, ctx: Context) {
    log("ask", ctx);
    const replies = await Promise.all([1, 2, 3].map((q) => ctx.call(new Ask({ q }), Answer)));
    return new StopEvent({ result: replies.map((r) => r.a) });
  }
}
class Callee extends Workflow {
  @step({ accepts: Ask, emits: Answer })
  async square(ev: Ask, ctx: Context) {
    log("square", ctx);
    await nap(2 + ev.q);
    return new Answer({ a: ev.q * ev.q });
  }
}

class Note extends Event<{ step: string; k: number }> {}

class Noisy extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async s1(ev: StartEvent<{ x: number }>, ctx: Context) {
    log("s1", ctx);
    ctx.writeEventToStream(new Note({ step: "s1", k: 1 }));
    await nap(3);
    ctx.writeEventToStream(new Note({ step: "s1", k: 2 }));
    return new StopEvent({ result: { v: ev.x } });
  }
}

/** Streams from its own steps, from a child run (forwarded with its path), after a wait's waiterEvent, and an InputRequiredEvent no step takes. */
class Streams extends Workflow {
  @step({ accepts: StartEvent, emits: O1, calls: [Noisy] })
  async first(ev: StartEvent<{ x: number }>, ctx: Context) {
    log("first", ctx);
    ctx.writeEventToStream(new Note({ step: "first", k: 1 }));
    const child: unknown = await ctx.runWorkflow(new Noisy({ store, timeout: null }), { x: ev.x });
    ctx.writeEventToStream(new Note({ step: "first", k: 2 }));
    await nap(3);
    ctx.writeEventToStream(new Note({ step: "first", k: 3 }));
    return new O1({ v: typeof child === "object" && child !== null ? 1 : 0 });
  }
  @step({ accepts: O1, emits: [Ping, StopEvent], waitsFor: Pong })
  async second(ev: O1, ctx: Context) {
    log("second", ctx);
    ctx.writeEventToStream(new Note({ step: "second", k: ev.v }));
    ctx.sendEvent(new Ping({ n: 3 }));
    const pong = await ctx.waitForEvent(Pong, { waiterEvent: new Note({ step: "second-waits", k: 0 }) });
    ctx.writeEventToStream(new Note({ step: "second", k: pong.n }));
    return new StopEvent({ result: pong.n });
  }
  @step({ accepts: Ping, emits: [Pong, InputRequiredEvent] })
  async pong(ev: Ping, ctx: Context) {
    log("pong", ctx);
    await nap(3);
    ctx.writeEventToStream(new Note({ step: "pong", k: ev.n }));
    // An InputRequiredEvent no step takes: the run streams it once this step's end is journaled.
    return [new Pong({ n: ev.n * 7 }), new InputRequiredEvent({ prefix: "noted" })];
  }
}

const FLOWS: Record<string, (store: Store) => Workflow> = {
  chain: (store) => new Chain({ store, timeout: null }),
  "fanout-array": (store) => new (fanOut(true))({ store, timeout: null }),
  "fanout-send": (store) => new (fanOut(false))({ store, timeout: null }),
  waits: (store) => new Waits({ store, timeout: null }),
  retries: (store) => new Retries({ store, timeout: null }),
  nested: (store) => new Outer({ store, timeout: null }),
  "app-call": (store) => new App({ workflows: [new Caller(), new Callee()], store, timeout: null }),
  stream: (store) => new Streams({ store, timeout: null }),
};

/* ------------------------------------------------------------------ the store, and the kill */

/** Wraps `store`: counts journal commits (append, finish) and SIGKILLs this process right after the `after`th returns. */
function crashing(store: Store, after: number, counted: { n: number }): Store {
  const hit = () => {
    if (++counted.n === after) process.kill(process.pid, "SIGKILL");
  };
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop !== "append" && prop !== "finish") return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (out instanceof Promise) return out.then((x: unknown) => (hit(), x));
        hit();
        return out;
      };
    },
  });
}

const print = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);
const make = FLOWS[flow];
if (!make) throw new Error(`unknown flow "${flow}"; one of ${Object.keys(FLOWS).join(", ")}`);
const raw = await openStore(kind, where);
const counted = { n: 0 };
const store = crashing(raw, Number(process.env.CRASH_AFTER ?? 0), counted);
const wf = make(store);
if (mode === "start") {
  const handler = wf.run({ x: 4 });
  // The id is worth keeping once the run is in the store: a kill before then leaves nothing to resume.
  await handler.recorded;
  print({ runId: handler.runId });
  print({ result: await handler });
  // Commits after the result (the end, the lease) count too: wait for them.
  await new Promise((r) => setTimeout(r, 100));
  print({ appends: counted.n });
} else {
  try {
    print({ result: await wf.resume(runId as string) });
  } catch (err) {
    if (!(err instanceof RunFinishedError)) throw err;
    print({ ended: err.status });
  }
}
await raw.close?.();
