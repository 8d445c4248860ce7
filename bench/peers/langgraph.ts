import { Annotation, END, Send, START, StateGraph } from "@langchain/langgraph";
import { countRight, REACT, reactAnswer, sleep, type Engine } from "../types.js";

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

// The ReAct shape of LangGraph's docs: an agent node and a tools node, a conditional edge from
// the agent to the tools or to END, an edge back from the tools to the agent.
const ReactState = Annotation.Root({ id: Annotation<number>, seen: Annotation<number>, turn: Annotation<number>, wantsTool: Annotation<boolean>, answer: Annotation<number> });

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
    return countRight((await Promise.all(all)).map((r) => r.result));
  },

  // streamMode "updates": one chunk per node run, read as it is produced.
  async stream(n) {
    const chunks = await chainGraph(n).stream({ n: 0 }, { ...limit(n), streamMode: "updates" });
    let seen = 0;
    let last = -1;
    for await (const chunk of chunks) {
      const update = chunk.loop;
      if (update) {
        seen++;
        last = update.n;
      }
    }
    return last === n ? seen : -1;
  },

  async react(n) {
    type S = typeof ReactState.State;
    const graph = new StateGraph(ReactState)
      .addNode("agent", async (s: S) => {
        await sleep(REACT.model);
        const turn = (s.turn ?? 0) + 1;
        return turn === REACT.turns ? { turn, wantsTool: false, answer: s.id * 10 + (s.seen ?? 0) } : { turn, wantsTool: true };
      })
      .addNode("tools", async (s: S) => {
        await sleep(REACT.tool);
        return { seen: (s.seen ?? 0) + 1 };
      })
      .addEdge(START, "agent")
      .addConditionalEdges("agent", (s: S) => (s.wantsTool ? "tools" : END))
      .addEdge("tools", "agent")
      .compile();
    const answers = await Promise.all(Array.from({ length: n }, (_, id) => graph.invoke({ id })));
    return countRight(answers.map((a) => a.answer), reactAnswer);
  },

  missing: {
    "durable-sync": "SQLite checkpointer not installed",
    "durable-batched": "no batched durability",
    "durable-runs-sqlite": "SQLite checkpointer not installed",
    "durable-runs-postgres": "PostgreSQL checkpointer not installed",
  },
};
