import { Event, StartEvent, StopEvent, Workflow, type Store } from "stepwise-ai";
import { countRight, REACT, reactAnswer, sleep, Unavailable, type DurableDb, type Durability, type Engine, type Gate } from "../types.js";

class Loop extends Event<{ n: number }> {}
class Task extends Event<{ i: number }> {}
class Done extends Event<{ v: number }> {}
class Mid extends Event<{ id: number }> {}
class ToolCall extends Event<{ id: number; seen: number; turn: number }> {}
class ToolResult extends Event<{ id: number; seen: number; turn: number }> {}

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
    const expected = Array<typeof Done>(n).fill(Done);
    const wf = new Workflow()
      .addStep({ accepts: StartEvent, emits: Task }, async function spread() {
        return Array.from({ length: n }, (_, i) => new Task({ i }));
      })
      .addStep({ accepts: Task, emits: Done, numWorkers: Infinity }, async function work(ev) {
        await sleep(ms);
        return new Done({ v: ev.i });
      })
      .addStep({ accepts: Done, emits: StopEvent }, async function join(ev, ctx) {
        const all = ctx.collectEvents(ev, expected);
        if (all === null) return undefined;
        let sum = 0;
        for (const d of all) sum += d.v;
        return new StopEvent({ result: sum });
      });
    return (await wf.run()) as number;
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
