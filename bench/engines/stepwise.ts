import { Event, StartEvent, StopEvent, Workflow, type Store } from "stepwise-ai";
import { countRight, REACT, reactAnswer, sleep, Unavailable, type DurableDb, type Durability, type Engine, type Gate } from "../types.js";

class Loop extends Event<{ n: number }> {}
class Task extends Event<{ i: number }> {}
class Done extends Event<{ v: number }> {}
class Mid extends Event<{ id: number }> {}
class ToolCall extends Event<{ id: number; seen: number; turn: number }> {}
class ToolResult extends Event<{ id: number; seen: number; turn: number }> {}
class Ask extends Event<{ i: number }> {}
class Asked extends Event<{ i: number }> {}
class Answer extends Event<{ i: number }> {}
class Got extends Event<{ v: number }> {}

// Idiomatic stepwise: default options (45 s run timeout, validation on), one workflow
// instance reused for every run, as an application would.

function twoSteps(options: { store?: Store } = {}, gate?: Gate) {
  return new Workflow(options)
    .addStep({ accepts: StartEvent, emits: Mid }, async function first(ev: StartEvent<{ id: number }>) {
      if (gate) await gate.arrive();
      return new Mid({ id: ev.id });
    })
    .addStep({ accepts: Mid, emits: StopEvent }, async function second(ev) {
      return new StopEvent({ result: ev.id });
    });
}

async function openStore(db: DurableDb): Promise<Store> {
  if (db.kind === "sqlite") {
    const { SqliteStore } = await import("stepwise-ai/sqlite");
    return new SqliteStore(db.file);
  }
  const { PostgresStore } = await import("stepwise-ai/postgres");
  return new PostgresStore(db.url, { schema: db.schema });
}

/** The chain, every step with (or without) a step `timeout` of 30 s that never fires. */
function timeoutChain(n: number, withTimeout: boolean) {
  return new Workflow().addStep({ accepts: [StartEvent, Loop], emits: [Loop, StopEvent], ...(withTimeout ? { timeout: 30 } : {}) }, async function loop(ev) {
    const i = ev instanceof Loop ? ev.n : 0;
    if (i < n) return new Loop({ n: i + 1 });
    return new StopEvent({ result: i });
  });
}

/** n Tasks returned at once, each done by its own worker (after `ms`, when given), joined by collectEvents into their sum. */
function fanOutWorkflow(n: number, options: { store?: Store; durability?: Durability }, ms?: number) {
  const expected = Array<typeof Done>(n).fill(Done);
  return new Workflow(options)
    .addStep({ accepts: StartEvent, emits: Task }, async function spread() {
      return Array.from({ length: n }, (_, i) => new Task({ i }));
    })
    .addStep({ accepts: Task, emits: Done, numWorkers: Infinity }, async function work(ev) {
      if (ms !== undefined) await sleep(ms);
      return new Done({ v: ev.i });
    })
    .addStep({ accepts: Done, emits: StopEvent }, async function join(ev, ctx) {
      const all = ctx.collectEvents(ev, expected);
      if (all === null) return undefined;
      let sum = 0;
      for (const d of all) sum += d.v;
      return new StopEvent({ result: sum });
    });
}

/**
 * The chain's event written the other way stepwise takes (README, "Events"): a class that sets
 * its own field in its constructor, as the floors' events do, instead of handing the base class
 * a data object to copy. JSON revival still calls `new FieldLoop(data)`.
 */
class FieldLoop extends Event {
  readonly n: number;
  constructor(data: { n: number }) {
    super();
    this.n = data.n;
  }
}

/** {@link chainWorkflow} with {@link FieldLoop}: the second line of the floors table. */
function fieldChainWorkflow(n: number, probe?: () => void) {
  return new Workflow().addStep({ accepts: [StartEvent, FieldLoop], emits: [FieldLoop, StopEvent] }, async function loop(ev) {
    const i = ev instanceof FieldLoop ? ev.n : 0;
    if (i < n) return new FieldLoop({ n: i + 1 });
    probe?.();
    return new StopEvent({ result: i });
  });
}

/** stepwise's chain with events that set their own fields (bench kind `stepwise-fields`). */
export const stepwiseFields: Engine = {
  label: "stepwise, events setting their own fields",
  async chain(n, probe) {
    return (await fieldChainWorkflow(n, probe).run()) as number;
  },
};

function chainWorkflow(n: number, options: { store?: Store; durability?: Durability } = {}, probe?: () => void, stream = false) {
  return new Workflow(options).addStep({ accepts: [StartEvent, Loop], emits: [Loop, StopEvent] }, async function loop(ev, ctx) {
    const i = ev instanceof Loop ? ev.n : 0;
    if (stream) ctx.writeEventToStream(ev);
    if (i < n) return new Loop({ n: i + 1 });
    probe?.();
    return new StopEvent({ result: i });
  });
}

export const stepwise: Engine = {
  label: "stepwise",

  async chain(n, probe) {
    return (await chainWorkflow(n, {}, probe).run()) as number;
  },

  async fanout(n, ms) {
    return (await fanOutWorkflow(n, {}, ms).run()) as number;
  },

  async runs(n, gate) {
    const wf = twoSteps({}, gate);
    const handlers = [];
    for (let id = 0; id < n; id++) handlers.push(wf.run({ id }));
    return countRight(await Promise.all(handlers));
  },

  async stream(n) {
    const handler = chainWorkflow(n, {}, undefined, true).run();
    let seen = 0;
    for await (const ev of handler.streamEvents()) if (ev instanceof Loop || ev instanceof StartEvent) seen++;
    const result = (await handler) as number;
    return result === n ? seen : -1;
  },

  async durable(n, durability, file) {
    let mod: { SqliteStore: new (filename: string) => Store };
    try {
      // Written concurrently by the durable-runs work; this scenario lights up once it lands.
      mod = await import("stepwise-ai/sqlite");
    } catch (err) {
      throw new Unavailable(`stepwise/sqlite is not available yet (${(err as Error).message.split("\n")[0] ?? ""})`);
    }
    const store = new mod.SqliteStore(file);
    try {
      return (await chainWorkflow(n, { store, durability }).run()) as number;
    } finally {
      await store.close?.();
    }
  },

  async durableRuns(n, db) {
    const store = await openStore(db);
    try {
      const wf = twoSteps({ store });
      const results = await Promise.all(Array.from({ length: n }, (_, id) => wf.run({ id })));
      return countRight(results);
    } finally {
      await store.close?.();
    }
  },

  async durableChain(n, durability, db) {
    const store = await openStore(db);
    try {
      return (await chainWorkflow(n, { store, durability }).run()) as number;
    } finally {
      await store.close?.();
    }
  },

  async stepTimeoutChain(n, withTimeout) {
    return (await timeoutChain(n, withTimeout).run()) as number;
  },

  // n invocations wait at once, each for the Answer with its id (by `requirements`, LlamaIndex's
  // idiom for it, which stepwise indexes); the caller answers them all once it has seen every wait
  // registered (each writes its waiterEvent to the stream first).
  async waiters(n) {
    const wf = new Workflow({ timeout: 600 })
      .addStep({ accepts: StartEvent, emits: Ask }, async function spread() {
        return Array.from({ length: n }, (_, i) => new Ask({ i }));
      })
      .addStep({ accepts: Ask, emits: Got, numWorkers: Infinity }, async function wait(ev, ctx) {
        const a = await ctx.waitForEvent(Answer, { requirements: { i: ev.i }, waiterEvent: new Asked({ i: ev.i }) });
        return new Got({ v: a.i });
      })
      .addStep({ accepts: Got, emits: StopEvent }, async function join(ev, ctx) {
        const seen = ctx.store.get("seen", 0) + 1;
        const sum = ctx.store.get("sum", 0) + ev.v;
        ctx.store.set("seen", seen);
        ctx.store.set("sum", sum);
        return seen === n ? new StopEvent({ result: sum }) : undefined;
      });
    const handler = wf.run();
    let asked = 0;
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof Asked && ++asked === n) for (let i = 0; i < n; i++) handler.sendEvent(new Answer({ i }));
    }
    return (await handler) as number;
  },

  async fanoutJournal(n, file, report) {
    const { SqliteStore } = await import("stepwise-ai/sqlite");
    const store = new SqliteStore(file);
    try {
      const handler = fanOutWorkflow(n, { store, durability: "batched" }).run();
      const result = (await handler) as number;
      const journal = store.getJournal(handler.runId);
      let bytes = 0;
      let events = 0;
      for (const e of journal) {
        bytes += JSON.stringify(e).length;
        if (e.kind === "event") events++;
      }
      report(bytes / events);
      return result;
    } finally {
      store.close();
    }
  },

  // The ReAct loop as a workflow: the agent step calls the model and either asks for a tool
  // (ToolCall) or answers (StopEvent); the tool step runs the tool and hands the result back.
  async react(n) {
    const wf = new Workflow()
      .addStep({ accepts: [StartEvent, ToolResult], emits: [ToolCall, StopEvent] }, async function agent(ev: StartEvent<{ id: number }> | ToolResult) {
        const { id, seen, turn } = ev instanceof ToolResult ? ev : { id: ev.id, seen: 0, turn: 0 };
        await sleep(REACT.model);
        if (turn + 1 === REACT.turns) return new StopEvent({ result: id * 10 + seen });
        return new ToolCall({ id, seen, turn: turn + 1 });
      })
      .addStep({ accepts: ToolCall, emits: ToolResult }, async function tool(ev) {
        await sleep(REACT.tool);
        return new ToolResult({ id: ev.id, seen: ev.seen + 1, turn: ev.turn });
      });
    return countRight(await Promise.all(Array.from({ length: n }, (_, id) => wf.run({ id }))), reactAnswer);
  },
};
