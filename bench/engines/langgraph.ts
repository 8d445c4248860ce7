import { Annotation, END, Send, START, StateGraph } from "@langchain/langgraph";
import { sleep, type Engine } from "../types.js";

// Idiomatic LangGraph.js (v1.7): a StateGraph over an Annotation state, conditional edges
// for the loop, Send for the fan-out with a reducer as the join, no checkpointer.

const ChainState = Annotation.Root({ n: Annotation<number> });

function chainGraph(n: number, probe?: () => void) {
  return new StateGraph(ChainState)
    .addNode("loop", async (s: typeof ChainState.State) => {
      const next = s.n < n ? s.n + 1 : s.n;
      if (next >= n) probe?.();
      return { n: next };
    })
    .addEdge(START, "loop")
    .addConditionalEdges("loop", (s: typeof ChainState.State) => (s.n >= n ? END : "loop"))
    .compile();
}

// One superstep per loop iteration; LangGraph stops at recursionLimit supersteps.
const limit = (n: number) => ({ recursionLimit: n + 10 });

const FanState = Annotation.Root({
  n: Annotation<number>,
  i: Annotation<number>,
  sum: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  result: Annotation<number>,
});

const RunState = Annotation.Root({ id: Annotation<number>, mid: Annotation<number>, result: Annotation<number> });

export const langgraph: Engine = {
  label: "langgraph",

  async chain(n, probe) {
    const out = await chainGraph(n, probe).invoke({ n: 0 }, limit(n));
    return out.n;
  },

  async fanout(n, ms) {
    const graph = new StateGraph(FanState)
      .addNode("spread", async () => ({}))
      .addNode("work", async (s: typeof FanState.State) => {
        await sleep(ms);
        return { sum: s.i };
      })
      .addNode("join", async (s: typeof FanState.State) => ({ result: s.sum }))
      .addEdge(START, "spread")
      .addConditionalEdges("spread", (s: typeof FanState.State) => Array.from({ length: s.n }, (_, i) => new Send("work", { i })))
      .addEdge("work", "join")
      .addEdge("join", END)
      .compile();
    const out = await graph.invoke({ n });
    return out.result;
  },

  async runs(n, gate) {
    const graph = new StateGraph(RunState)
      .addNode("first", async (s: typeof RunState.State) => {
        if (gate) await gate.arrive();
        return { mid: s.id };
      })
      .addNode("second", async (s: typeof RunState.State) => ({ result: s.mid }))
      .addEdge(START, "first")
      .addEdge("first", "second")
      .addEdge("second", END)
      .compile();
    const all: Promise<{ result: number }>[] = [];
    for (let id = 0; id < n; id++) all.push(graph.invoke({ id }));
    const results = await Promise.all(all);
    let ok = 0;
    for (let id = 0; id < n; id++) if (results[id]?.result === id) ok++;
    return ok;
  },

  // streamMode "updates": one chunk per node run, read as it is produced.
  async stream(n) {
    const chunks = await chainGraph(n).stream({ n: 0 }, { ...limit(n), streamMode: "updates" });
    let seen = 0;
    let last = -1;
    for await (const chunk of chunks) {
      const update = (chunk).loop;
      if (update) {
        seen++;
        last = update.n;
      }
    }
    return last === n ? seen : -1;
  },

  missing: {
    "durable-sync": "SQLite checkpointer not installed",
    "durable-batched": "no batched durability",
  },
};
