import { createWorkflow, workflowEvent, type Workflow } from "@llamaindex/workflow-core";
import { runWorkflow } from "@llamaindex/workflow-core/stream/run";
import { countRight, REACT, reactAnswer, sleep, type Engine } from "../types.js";

// @llamaindex/workflow-core (v1.3): events made with workflowEvent(), handlers registered with
// workflow.handle(), a run is a context. Two ways to get a run's result:
// - "stream", the one its README documents ("Trigger workflow", and the `runWorkflow` helper):
//   read the context's stream until the stop event (`stream.until(stop).toArray()`);
// - "stop handler": register a handler for the stop event that resolves the caller's promise,
//   and never read the stream.

const start = workflowEvent<number>({ debugLabel: "start" });
const loop = workflowEvent<number>({ debugLabel: "loop" });
const stop = workflowEvent<{ id: number; v: number }>({ debugLabel: "stop" });
const task = workflowEvent<number>({ debugLabel: "task" });
const done = workflowEvent<number>({ debugLabel: "done" });
const mid = workflowEvent<number>({ debugLabel: "mid" });
const toolCall = workflowEvent<{ id: number; seen: number; turn: number }>({ debugLabel: "toolCall" });
const toolResult = workflowEvent<{ id: number; seen: number; turn: number }>({ debugLabel: "toolResult" });

export type Idiom = "stream" | "stop handler";

/** Runs `id`'s start event through `wf` and resolves to the stop event's value, in the given idiom. */
interface Runner {
  wf: Workflow;
  run(id: number): Promise<number>;
}

function runner(idiom: Idiom): Runner {
  const wf = createWorkflow();
  if (idiom === "stream") {
    return { wf, run: async (id) => (await runWorkflow(wf, start.with(id), stop)).data.v };
  }
  const waiting = new Map<number, (v: number) => void>();
  wf.handle([stop], (_ctx, ev) => {
    waiting.get(ev.data.id)?.(ev.data.v);
    waiting.delete(ev.data.id);
  });
  return {
    wf,
    run: (id) =>
      new Promise<number>((resolve) => {
        waiting.set(id, resolve);
        wf.createContext().sendEvent(start.with(id));
      }),
  };
}

function chain(idiom: Idiom, n: number, probe?: () => void): Runner {
  const r = runner(idiom);
  r.wf.handle([start], async () => loop.with(0));
  r.wf.handle([loop], async (_ctx, ev) => {
    if (ev.data < n) return loop.with(ev.data + 1);
    probe?.();
    return stop.with({ id: 0, v: ev.data });
  });
  return r;
}

export function workflowCore(idiom: Idiom): Engine {
  return {
    label: `workflow-core (${idiom})`,

    chain: (n, probe) => chain(idiom, n, probe).run(0),

    // The package's own fan-out pattern (README "Fan-out"): the starting handler sends the
    // events, then reads the context's stream until every result has arrived.
    async fanout(n, ms) {
      const r = runner(idiom);
      r.wf.handle([start], async (ctx) => {
        for (let i = 0; i < n; i++) ctx.sendEvent(task.with(i));
        const results = await ctx.stream.filter(done).take(n).toArray();
        let sum = 0;
        for (const d of results) sum += d.data;
        return stop.with({ id: 0, v: sum });
      });
      r.wf.handle([task], async (_ctx, ev) => {
        await sleep(ms);
        return done.with(ev.data);
      });
      return r.run(0);
    },

    async runs(n, gate) {
      const r = runner(idiom);
      r.wf.handle([start], async (_ctx, ev) => {
        if (gate) await gate.arrive();
        return mid.with(ev.data);
      });
      r.wf.handle([mid], async (_ctx, ev) => stop.with({ id: ev.data, v: ev.data }));
      return countRight(await Promise.all(Array.from({ length: n }, (_, id) => r.run(id))));
    },

    // Every event is on a workflow-core run's stream; the consumer counts them as they come
    // (the same in both idioms: reading the stream is the point here).
    async stream(n) {
      const { stream, sendEvent } = chain("stream", n).wf.createContext();
      sendEvent(start.with(0));
      let seen = 0;
      for await (const ev of stream) {
        if (loop.include(ev)) seen++;
        if (stop.include(ev)) return ev.data.v === n ? seen : -1;
      }
      return -1;
    },

    async react(n) {
      const r = runner(idiom);
      const agent = async (id: number, seen: number, turn: number) => {
        await sleep(REACT.model);
        return turn + 1 === REACT.turns ? stop.with({ id, v: id * 10 + seen }) : toolCall.with({ id, seen, turn: turn + 1 });
      };
      r.wf.handle([start], async (_ctx, ev) => agent(ev.data, 0, 0));
      r.wf.handle([toolResult], async (_ctx, ev) => agent(ev.data.id, ev.data.seen, ev.data.turn));
      r.wf.handle([toolCall], async (_ctx, ev) => {
        await sleep(REACT.tool);
        return toolResult.with({ ...ev.data, seen: ev.data.seen + 1 });
      });
      return countRight(await Promise.all(Array.from({ length: n }, (_, id) => r.run(id))), reactAnswer);
    },

    missing: {
      "durable-sync": "no durable store",
      "durable-batched": "no durable store",
      "durable-runs-sqlite": "no durable store",
      "durable-runs-postgres": "no durable store",
    },
  };
}
