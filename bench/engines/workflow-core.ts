import { createWorkflow, workflowEvent } from "@llamaindex/workflow-core";
import { sleep, type Engine } from "../types.js";

// Idiomatic @llamaindex/workflow-core (v1.3): events made with workflowEvent(), handlers
// registered with workflow.handle(), a run is a context whose stream is read until the stop event.

const start = workflowEvent<{ id: number } | undefined>({ debugLabel: "start" });
const loop = workflowEvent<number>({ debugLabel: "loop" });
const stop = workflowEvent<number>({ debugLabel: "stop" });
const task = workflowEvent<number>({ debugLabel: "task" });
const done = workflowEvent<number>({ debugLabel: "done" });
const mid = workflowEvent<number>({ debugLabel: "mid" });

function chainWorkflow(n: number, probe?: () => void) {
  const wf = createWorkflow();
  wf.handle([start], () => loop.with(0));
  wf.handle([loop], async (_ctx, ev) => {
    if (ev.data < n) return loop.with(ev.data + 1);
    probe?.();
    return stop.with(ev.data);
  });
  return wf;
}

export const workflowCore: Engine = {
  label: "workflow-core",

  async chain(n, probe) {
    const { stream, sendEvent } = chainWorkflow(n, probe).createContext();
    sendEvent(start.with(undefined));
    const last = await stream.untilEvent(stop);
    return last.data as number;
  },

  // The package's own fan-out pattern (README "Fan-out"): the starting handler sends the
  // events, then reads the context's stream until every result has arrived.
  async fanout(n, ms) {
    const wf = createWorkflow();
    wf.handle([start], async (ctx) => {
      for (let i = 0; i < n; i++) ctx.sendEvent(task.with(i));
      const results = await ctx.stream.filter(done).take(n).toArray();
      let sum = 0;
      for (const r of results) sum += r.data;
      return stop.with(sum);
    });
    wf.handle([task], async (_ctx, ev) => {
      await sleep(ms);
      return done.with(ev.data);
    });
    const { stream, sendEvent } = wf.createContext();
    sendEvent(start.with(undefined));
    return (await stream.untilEvent(stop)).data;
  },

  async runs(n, gate) {
    const wf = createWorkflow();
    wf.handle([start], async (_ctx, ev) => {
      if (gate) await gate.arrive();
      return mid.with(ev.data?.id ?? -1);
    });
    wf.handle([mid], async (_ctx, ev) => stop.with(ev.data));
    const all: Promise<number>[] = [];
    for (let id = 0; id < n; id++) {
      const { stream, sendEvent } = wf.createContext();
      sendEvent(start.with({ id }));
      all.push(stream.untilEvent(stop).then((e) => e.data));
    }
    const results = await Promise.all(all);
    let ok = 0;
    for (let id = 0; id < n; id++) if (results[id] === id) ok++;
    return ok;
  },

  // Every event is on a workflow-core run's stream; the consumer counts them as they come.
  async stream(n) {
    const { stream, sendEvent } = chainWorkflow(n).createContext();
    sendEvent(start.with(undefined));
    let seen = 0;
    for await (const ev of stream) {
      if (loop.include(ev)) seen++;
      if (stop.include(ev)) return ev.data === n ? seen : -1;
    }
    return -1;
  },

  missing: {
    "durable-sync": "no durable store",
    "durable-batched": "no durable store",
  },
};
