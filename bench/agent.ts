/**
 * The agent example's concurrency win, in numbers: one ReAct run whose model asks for 8 tool
 * calls of `--tool-ms` (200) each, then answers; the model is the local fake server (replies at
 * once, streamed). Compared:
 *
 *   stepwise, parallel     examples/agent's ReActAgent (the 8 calls are concurrent steps)
 *   stepwise, sequential   the same agent with callTool's numWorkers set to 1
 *   plain async            the same requests and tools in a hand-written loop (Promise.all / for…of)
 *
 * and the engine's share of the agent's wall time: (stepwise − plain async) / stepwise, with the
 * tools at 200 ms and at 0 ms (the worst case: nothing slow left to hide the engine), without a
 * store and journaled in SQLite.
 *
 *   npm run build && npx tsx bench/agent.ts [--reps 20] [--tool-ms 200]      # the built package, as users run it
 *   npx tsx --conditions=stepwise-source bench/agent.ts                       # from the sources (slower: tsx's transform)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { Context, step, type Store } from "stepwise-ai";
import { SqliteStore } from "stepwise-ai/sqlite";
import { ReActAgent, TokenEvent, ToolCallEvent, ToolResultEvent, type AgentOptions } from "../examples/agent/agent.js";
import { startFakeOpenAI, type FakeRequest, type FakeReply } from "../examples/agent/fake-openai.js";
import { isMain } from "../examples/shared.js";
import { delay, type Tool } from "../examples/agent/tools.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const REPS = option("--reps", 20);
const TOOL_MS = option("--tool-ms", 200);
const CALLS = 8;

/** The agent with one tool call at a time: the only change is callTool's numWorkers. */
export class SequentialAgent extends ReActAgent {
  @step({ accepts: ToolCallEvent, emits: ToolResultEvent, numWorkers: 1 })
  override async callTool(ev: ToolCallEvent, ctx: Context) {
    return super.callTool(ev, ctx);
  }
}

/** A tool that waits `ms`, then answers `done <id>`. */
export const waitTool = (ms: number): Tool => ({
  name: "wait",
  description: "Wait for a while (an API call stand-in).",
  parameters: { type: "object", properties: { id: { type: "number" } } },
  async run(a, signal) {
    if (ms > 0) await delay(ms, signal);
    return `done ${String(a.id)}`;
  },
});

/** The fake model: turn 1 asks for eight calls at once; turn 2 answers in 60 words. */
export const benchScript = (r: FakeRequest): FakeReply =>
  r.body.messages.some((m) => m.role === "tool")
    ? { content: Array.from({ length: 60 }, (_, i) => `word${i}`).join(" ") }
    : { content: "Let me wait.", toolCalls: Array.from({ length: CALLS }, (_, id) => ({ name: "wait", arguments: { id } })) };

export const SYSTEM = "You are a helpful assistant.";

/** The same conversation without stepwise: what the agent's steps do, in one async function. */
export async function plainAgent(client: OpenAI, tools: Tool[], question: string, parallel: boolean, onToken: (d: string) => void): Promise<string | null> {
  const specs: ChatCompletionTool[] = tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } }));
  const byName = new Map(tools.map((t) => [t.name, t]));
  const messages: ChatCompletionMessageParam[] = [
    { role: "system", content: SYSTEM },
    { role: "user", content: question },
  ];
  const signal = new AbortController().signal;
  for (let turn = 1; turn <= 6; turn++) {
    const stream = client.chat.completions.stream({ model: "bench", messages, tools: specs, stream_options: { include_usage: true } });
    stream.on("content", onToken);
    const message = (await stream.finalChatCompletion()).choices[0]?.message;
    const calls = (message?.tool_calls ?? []).flatMap((c) => (c.type === "function" ? [c] : []));
    messages.push({ role: "assistant", content: message?.content ?? null, ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: "function" as const, function: c.function })) } : {}) });
    if (calls.length === 0) return message?.content ?? null;
    const run = async (c: (typeof calls)[number]): Promise<ChatCompletionMessageParam> => ({ role: "tool", tool_call_id: c.id, content: await byName.get(c.function.name)!.run(JSON.parse(c.function.arguments) as Record<string, unknown>, signal, c.id) });
    if (parallel) messages.push(...(await Promise.all(calls.map(run))));
    else for (const c of calls) messages.push(await run(c));
  }
  return null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

interface Sample {
  wall: number;
  /** User + system CPU of this process (engine, client and fake server together). */
  cpu: number;
  /** For stepwise runs: the time no step was running (routing, journal commits, the run's start and end). */
  between: number;
}

async function timed(once: () => Promise<unknown>): Promise<Sample> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const between = await once();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000, between: typeof between === "number" ? between : Number.NaN };
}

/**
 * Runs every variant once per round, in a shuffled order, round after round (so a busy machine
 * weighs on all alike), after 3 warm-up rounds; returns each variant's samples.
 */
async function rounds<K extends string>(variants: Record<K, () => Promise<unknown>>): Promise<Record<K, Samples>> {
  const keys = Object.keys(variants) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, { wall: [], cpu: [], between: [] }])) as unknown as Record<K, Samples>;
  for (let r = -3; r < REPS; r++) {
    // A fresh order each round: no variant always follows the slow one-at-a-time runs.
    const order = keys.map((k) => [Math.random(), k] as const).sort((a, b) => a[0] - b[0]).map(([, k]) => k);
    for (const k of order) {
      const t = await timed(variants[k]);
      if (r >= 0) {
        out[k].wall.push(t.wall);
        out[k].cpu.push(t.cpu);
        out[k].between.push(t.between);
      }
    }
  }
  return out;
}

type Samples = { wall: number[]; cpu: number[]; between: number[] };

async function main(): Promise<void> {
  const fake = await startFakeOpenAI({ script: benchScript });
  const client = new OpenAI({ baseURL: fake.baseURL, apiKey: "bench", maxRetries: 0 });
  const dir = mkdtempSync(join(tmpdir(), "stepwise-agent-bench-"));
  const stores: Store[] = [];
  const QUESTION = "Wait eight times.";

  /** One run; returns the milliseconds during which none of its steps was running. */
  async function runAgent(agent: ReActAgent): Promise<number> {
    const t0 = performance.now();
    const handler = agent.run({ question: QUESTION });
    let running = 0;
    let idleSince = t0;
    let between = 0;
    // inspect() returns the handler, a promise: awaited below.
    void handler.inspect((e) => {
      if (e.kind === "step_started" && running++ === 0) between += performance.now() - idleSince;
      else if ((e.kind === "step_finished" || e.kind === "step_failed") && --running === 0) idleSince = performance.now();
    });
    let tokens = 0;
    for await (const ev of handler.streamEvents()) if (ev instanceof TokenEvent) tokens++;
    const result = await handler;
    if (result.modelCalls !== 2 || tokens < 60) throw new Error(`unexpected run: ${JSON.stringify(result)}, ${tokens} tokens`);
    return between + (performance.now() - idleSince);
  }

  const sqlite = () => {
    const s = new SqliteStore(join(dir, `runs-${stores.length}.db`));
    stores.push(s);
    return s;
  };
  const opts = (tools: Tool[], store?: Store): AgentOptions => ({ client, model: "bench", tools, system: SYSTEM, timeout: null, ...(store ? { store } : {}) });
  const onToken = () => {};

  async function variants(toolMs: number) {
    const tools = [waitTool(toolMs)];
    const [parallel, durable, sequential] = [new ReActAgent(opts(tools)), new ReActAgent(opts(tools, sqlite())), new SequentialAgent(opts(tools))];
    process.stderr.write(`tools of ${toolMs} ms…\n`);
    return rounds({
      stepwise: () => runAgent(parallel),
      stepwiseSqlite: () => runAgent(durable),
      plain: () => plainAgent(client, tools, QUESTION, true, onToken),
      stepwiseSequential: () => runAgent(sequential),
      plainSequential: () => plainAgent(client, tools, QUESTION, false, onToken),
    });
  }

  const slow = await variants(TOOL_MS);
  const fast = await variants(0);
  await fake.close();
  for (const s of stores) await s.close?.();
  rmSync(dir, { recursive: true, force: true });

  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const wall = (x: Samples) => ms(median(x.wall));
  /** The engine's CPU per run: the median of stepwise's CPU less plain async's, as a share of stepwise's wall time. */
  const engine = (x: Samples, plain: Samples) => {
    const extra = median(x.cpu) - median(plain.cpu);
    return `${ms(extra)} (${((extra / median(x.wall)) * 100).toFixed(1)} % of ${wall(x)})`;
  };
  /** The time no step ran, as a share of the run's wall time (medians of each round's share). */
  const gaps = (x: Samples) => {
    const m = median(x.between);
    return `${ms(m)} (${(median(x.between.map((b, i) => b / (x.wall[i] as number))) * 100).toFixed(1)} % of ${wall(x)})`;
  };
  const lines = [
    `One agent run: 2 streamed model calls to the local fake server (replies at once, 60 tokens) and ${CALLS} tool calls. Medians of ${REPS} rounds; Node ${process.version}.`,
    "",
    `| ${CALLS} tool calls of … | ${TOOL_MS} ms | 0 ms |`,
    "| --- | --- | --- |",
    `| stepwise: concurrent steps (numWorkers 16) | ${wall(slow.stepwise)} | ${wall(fast.stepwise)} |`,
    `| stepwise: concurrent, journaled in SQLite | ${wall(slow.stepwiseSqlite)} | ${wall(fast.stepwiseSqlite)} |`,
    `| stepwise: one at a time (numWorkers 1) | ${wall(slow.stepwiseSequential)} | ${wall(fast.stepwiseSequential)} |`,
    `| plain async: Promise.all | ${wall(slow.plain)} | ${wall(fast.plain)} |`,
    `| plain async: one after another | ${wall(slow.plainSequential)} | ${wall(fast.plainSequential)} |`,
    `| concurrency win: one at a time ÷ concurrent | ${(median(slow.stepwiseSequential.wall) / median(slow.stepwise.wall)).toFixed(1)}× | |`,
    `| time with no step running, no store | ${gaps(slow.stepwise)} | ${gaps(fast.stepwise)} |`,
    `| time with no step running, SQLite | ${gaps(slow.stepwiseSqlite)} | ${gaps(fast.stepwiseSqlite)} |`,
    `| engine CPU per run over plain async, no store | ${engine(slow.stepwise, slow.plain)} | ${engine(fast.stepwise, fast.plain)} |`,
    `| engine CPU per run over plain async, SQLite | ${engine(slow.stepwiseSqlite, slow.plain)} | ${engine(fast.stepwiseSqlite, fast.plain)} |`,
  ];
  console.log(lines.join("\n"));
}

if (isMain(import.meta.url)) await main();
