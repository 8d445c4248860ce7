import { createStep, createWorkflow } from "@mastra/core/workflows";
import { z } from "zod";
import { countRight, REACT, reactAnswer, sleep, type Engine } from "../types.js";

// Mastra (@mastra/core 1.x) in the idiom of its workflow docs: steps made with createStep()
// with zod input and output schemas, composed with createWorkflow().then()/.dountil()/.foreach(),
// committed once; a run is `await wf.createRun()` then `await run.start({ inputData })`.
// No storage is configured (Mastra keeps its run snapshots in memory then).

const N = z.object({ n: z.number() });
const Id = z.object({ id: z.number() });
const Turn = z.object({ id: z.number(), seen: z.number(), turn: z.number(), wantsTool: z.boolean(), answer: z.number() });

interface Runnable<I, O> {
  createRun(): Promise<{ start(args: { inputData: I }): Promise<{ status: string; result?: O }> }>;
}

async function start<I, O>(wf: Runnable<I, O>, inputData: I): Promise<O> {
  const run = await wf.createRun();
  const out = await run.start({ inputData });
  if (out.status !== "success") throw new Error(`mastra run ended ${out.status}`);
  return out.result as O;
}

function chainWorkflow(n: number, probe?: () => void) {
  const loop = createStep({
    id: "loop",
    inputSchema: N,
    outputSchema: N,
    execute: async ({ inputData }) => {
      if (inputData.n + 1 >= n) probe?.();
      return { n: inputData.n + 1 };
    },
  });
  return createWorkflow({ id: "chain", inputSchema: N, outputSchema: N })
    .dountil(loop, async ({ inputData }) => inputData.n >= n)
    .commit();
}

export const mastra: Engine = {
  label: "mastra",

  async chain(n, probe) {
    return (await start(chainWorkflow(n, probe), { n: 0 })).n;
  },

  async fanout(n, ms) {
    const spread = createStep({
      id: "spread",
      inputSchema: N,
      outputSchema: z.array(z.object({ i: z.number() })),
      execute: async ({ inputData }) => Array.from({ length: inputData.n }, (_, i) => ({ i })),
    });
    const work = createStep({
      id: "work",
      inputSchema: z.object({ i: z.number() }),
      outputSchema: z.object({ v: z.number() }),
      execute: async ({ inputData }) => {
        await sleep(ms);
        return { v: inputData.i };
      },
    });
    const join = createStep({
      id: "join",
      inputSchema: z.array(z.object({ v: z.number() })),
      outputSchema: N,
      execute: async ({ inputData }) => ({ n: inputData.reduce((a, d) => a + d.v, 0) }),
    });
    const wf = createWorkflow({ id: "fanout", inputSchema: N, outputSchema: N }).then(spread).foreach(work, { concurrency: n }).then(join).commit();
    return (await start(wf, { n })).n;
  },

  async runs(n, gate) {
    const first = createStep({
      id: "first",
      inputSchema: Id,
      outputSchema: Id,
      execute: async ({ inputData }) => {
        if (gate) await gate.arrive();
        return { id: inputData.id };
      },
    });
    const second = createStep({ id: "second", inputSchema: Id, outputSchema: Id, execute: async ({ inputData }) => ({ id: inputData.id }) });
    const wf = createWorkflow({ id: "runs", inputSchema: Id, outputSchema: Id }).then(first).then(second).commit();
    const all = await Promise.all(Array.from({ length: n }, (_, id) => start(wf, { id })));
    return countRight(all.map((r) => r.id));
  },

  // One turn is a nested workflow (model call, then the tool it asked for, if any), looped with
  // .dountil() until the model answers: the docs' way to run several steps per iteration.
  async react(n) {
    const callModel = createStep({
      id: "model",
      inputSchema: Turn,
      outputSchema: Turn,
      execute: async ({ inputData: s }) => {
        await sleep(REACT.model);
        const turn = s.turn + 1;
        return turn === REACT.turns ? { ...s, turn, wantsTool: false, answer: s.id * 10 + s.seen } : { ...s, turn, wantsTool: true };
      },
    });
    const callTool = createStep({
      id: "tool",
      inputSchema: Turn,
      outputSchema: Turn,
      execute: async ({ inputData: s }) => {
        if (!s.wantsTool) return s;
        await sleep(REACT.tool);
        return { ...s, seen: s.seen + 1, wantsTool: false };
      },
    });
    const turn = createWorkflow({ id: "turn", inputSchema: Turn, outputSchema: Turn }).then(callModel).then(callTool).commit();
    const wf = createWorkflow({ id: "react", inputSchema: Turn, outputSchema: Turn })
      .dountil(turn, async ({ inputData }) => inputData.turn >= REACT.turns)
      .commit();
    const all = await Promise.all(Array.from({ length: n }, (_, id) => start(wf, { id, seen: 0, turn: 0, wantsTool: false, answer: -1 })));
    return countRight(all.map((r) => r.answer), reactAnswer);
  },

  missing: {
    stream: "not measured",
    "durable-sync": "storage adapter not installed",
    "durable-batched": "storage adapter not installed",
    "durable-runs-sqlite": "storage adapter not installed",
    "durable-runs-postgres": "storage adapter not installed",
  },
};
