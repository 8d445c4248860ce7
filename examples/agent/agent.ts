/**
 * A ReAct agent as a stepwise workflow, on any OpenAI-compatible endpoint:
 *
 *   StartEvent ─▶ start ─▶ ThinkEvent ─▶ think ─┬─▶ StopEvent (the answer, or max turns)
 *                              ▲                └─▶ ToolCallEvent × n ─▶ callTool (n at once) ─▶ ToolResultEvent × n
 *                              └────────────────────── observe (collectEvents: all n) ◀──────────┘
 *
 * - The model's tokens reach the caller as they come (`TokenEvent` on `handler.streamEvents()`).
 * - The tool calls of one turn are concurrent steps; `observe` joins them with `ctx.collectEvents`.
 * - A dangerous tool asks a person first: `InputRequiredEvent` on the stream, answered with
 *   `handler.sendEvent(new HumanResponseEvent({ toolCallId, approved: true }))` (or, for a stored run,
 *   `wf.sendEvent(runId, …)` / `stepwise runs resume … --send`).
 * - With a store, a run killed mid-way resumes with `wf.resume(runId)`: model calls that had
 *   finished are not paid for again (their replies are in the journal), the one in flight is redone.
 *
 * Configuration: `OPENAI_BASE_URL`, `OPENAI_API_KEY` (read by the official client) and
 * `OPENAI_MODEL` (default `gpt-4o-mini`), or the `client` and `model` options.
 *
 *   npx stepwise run examples/agent/agent.ts --input '{"question":"Compare Paris and Tokyo"}'
 */
import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { z } from "zod";
import { Context, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, WorkflowError, step, type WorkflowOptions } from "stepwise-ai";
import { defaultTools, type Tool } from "./tools.js";

/** The run's input: the question, and at most how many model turns to spend on it. */
export class AgentStart extends StartEvent.schema(z.object({ question: z.string().min(1), maxTurns: z.number().int().min(1).max(50).optional() })) {}

/** Ask the model for turn `turn` (1-based). */
export class ThinkEvent extends Event<{ turn: number }> {}
/** A piece of the model's answer, streamed to the caller as it arrives. */
export class TokenEvent extends Event<{ turn: number; delta: string }> {}
/** One tool call of a turn: call `index` of `of`. */
export class ToolCallEvent extends Event<{ turn: number; index: number; of: number; id: string; name: string; arguments: string }> {}
/** What a tool call returned (or why it did not run), as the model will see it. */
export class ToolResultEvent extends Event<{ turn: number; index: number; of: number; id: string; name: string; content: string; ok: boolean }> {}

/** What a run returns. */
export interface AgentResult {
  /** The model's final answer; null when it ran out of turns. */
  answer: string | null;
  stoppedBy: "answer" | "max_turns";
  /** Model calls that completed in this run (a call cut off by a crash and redone counts once). */
  modelCalls: number;
  usage: { promptTokens: number; completionTokens: number };
}

/** The agent's configuration is wrong (code `AGENT_CONFIG`): the message names what to set. */
export class AgentConfigError extends WorkflowError {
  override readonly code = "AGENT_CONFIG";
}

export interface AgentOptions extends WorkflowOptions {
  /** An OpenAI client (default: `new OpenAI()`, which reads `OPENAI_BASE_URL` and `OPENAI_API_KEY`). */
  client?: OpenAI;
  /** The model (default: `OPENAI_MODEL`, else `gpt-4o-mini`). */
  model?: string;
  tools?: Tool[];
  /** Model turns when the input gives none (default 6). */
  maxTurns?: number;
  system?: string;
}

const SYSTEM = "You are a helpful assistant. Use the tools when they help; call several at once when they do not depend on each other. Answer briefly.";

interface TurnRecord {
  assistant: ChatCompletionMessageParam;
  tools?: ChatCompletionMessageParam[];
}

/** An approval answers call `id` when it names it, or names no call at all. */
const answers = (id: string) => (ev: HumanResponseEvent) => {
  const named = (ev as HumanResponseEvent<{ toolCallId?: unknown }>).toolCallId;
  return named === undefined || named === id;
};

const approved = (ev: HumanResponseEvent): boolean => {
  const { approved: yes, response } = ev as HumanResponseEvent<{ approved?: unknown; response?: unknown }>;
  return yes === true || (typeof response === "string" && /^\s*(y|yes|ok|approve[d]?)\s*$/i.test(response));
};

/** A ReAct agent: think, call tools (concurrently), observe, until it answers or runs out of turns. */
export class ReActAgent extends Workflow<{ question: string; maxTurns?: number }, AgentResult> {
  readonly #client: OpenAI | undefined;
  readonly model: string;
  readonly tools: ReadonlyMap<string, Tool>;
  readonly maxTurns: number;
  readonly system: string;
  #lazyClient: OpenAI | undefined;

  constructor({ client, model, tools = defaultTools(), maxTurns = 6, system = SYSTEM, ...options }: AgentOptions = {}) {
    // Waiting for a person can take a while; a run has five minutes unless told otherwise.
    super({ timeout: 300, ...options });
    this.#client = client;
    this.model = model ?? process.env.OPENAI_MODEL ?? "gpt-4o-mini";
    this.tools = new Map(tools.map((t) => [t.name, t]));
    this.maxTurns = maxTurns;
    this.system = system;
  }

  /** The client, made on first use so that constructing the workflow (e.g. by `stepwise draw`) needs no key. */
  get client(): OpenAI {
    if (this.#client) return this.#client;
    if (!this.#lazyClient) {
      if (!process.env.OPENAI_API_KEY) {
        throw new AgentConfigError("OPENAI_API_KEY is not set. Set it to your key, or to any value for a local server (OPENAI_BASE_URL=http://127.0.0.1:8787/v1 with examples/agent/fake-openai.ts); or pass the client option.");
      }
      this.#lazyClient = new OpenAI();
    }
    return this.#lazyClient;
  }

  @step({ accepts: AgentStart, emits: ThinkEvent })
  async start(ev: AgentStart, ctx: Context) {
    ctx.store.set("maxTurns", ev.maxTurns ?? this.maxTurns);
    ctx.store.set("base", [
      { role: "system", content: this.system },
      { role: "user", content: ev.question },
    ] satisfies ChatCompletionMessageParam[]);
    return new ThinkEvent({ turn: 1 });
  }

  @step({ accepts: ThinkEvent, emits: [ToolCallEvent, StopEvent] })
  async think(ev: ThinkEvent, ctx: Context) {
    const { turn } = ev;
    const usage = ctx.store.get("usage", { promptTokens: 0, completionTokens: 0 });
    const modelCalls = ctx.store.get("modelCalls", 0);
    if (turn > ctx.store.get("maxTurns", this.maxTurns)) {
      return new StopEvent({ result: { answer: null, stoppedBy: "max_turns", modelCalls, usage } satisfies AgentResult });
    }
    const stream = this.client.chat.completions.stream(
      { model: this.model, messages: this.#history(ctx, turn), ...this.#toolSpecs(), stream_options: { include_usage: true } },
      { signal: ctx.signal },
    );
    stream.on("content", (delta) => ctx.writeEventToStream(new TokenEvent({ turn, delta })));
    const completion = await stream.finalChatCompletion();
    const message = completion.choices[0]?.message;
    if (!message) throw new Error(`The model returned no choice for turn ${turn} (completion ${completion.id}).`);
    const calls = (message.tool_calls ?? []).flatMap((c) => (c.type === "function" ? [c] : []));
    // Only what the next request needs, as plain JSON: the journal keeps it, so a resumed run does not ask again.
    const assistant: ChatCompletionMessageParam = {
      role: "assistant",
      content: message.content ?? null,
      ...(calls.length > 0 ? { tool_calls: calls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.function.name, arguments: c.function.arguments } })) } : {}),
    };
    ctx.store.set(`turn:${turn}`, { assistant } satisfies TurnRecord);
    ctx.store.set("modelCalls", modelCalls + 1);
    const total = { promptTokens: usage.promptTokens + (completion.usage?.prompt_tokens ?? 0), completionTokens: usage.completionTokens + (completion.usage?.completion_tokens ?? 0) };
    ctx.store.set("usage", total);
    if (calls.length === 0) {
      return new StopEvent({ result: { answer: message.content ?? "", stoppedBy: "answer", modelCalls: modelCalls + 1, usage: total } satisfies AgentResult });
    }
    return calls.map((c, index) => new ToolCallEvent({ turn, index, of: calls.length, id: c.id, name: c.function.name, arguments: c.function.arguments }));
  }

  // Every call of a turn at once (a model asks for a handful; 16 is a guard, not a target).
  @step({ accepts: ToolCallEvent, emits: ToolResultEvent, waitsFor: [HumanResponseEvent], numWorkers: 16 })
  async callTool(ev: ToolCallEvent, ctx: Context) {
    const result = (content: string, ok: boolean) => new ToolResultEvent({ turn: ev.turn, index: ev.index, of: ev.of, id: ev.id, name: ev.name, content, ok });
    const tool = this.tools.get(ev.name);
    if (!tool) return result(`Error: there is no tool "${ev.name}"; the tools are ${[...this.tools.keys()].join(", ")}.`, false);
    let args: unknown;
    try {
      args = JSON.parse(ev.arguments === "" ? "{}" : ev.arguments);
    } catch {
      return result(`Error: the arguments of ${ev.name} are not valid JSON: ${ev.arguments.slice(0, 200)}`, false);
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) return result(`Error: the arguments of ${ev.name} must be a JSON object.`, false);
    if (tool.dangerous) {
      const answer = await ctx.waitForEvent(HumanResponseEvent, {
        filter: answers(ev.id),
        waiterEvent: new InputRequiredEvent({ prefix: `Allow ${ev.name}(${ev.arguments.slice(0, 500)})? Answer with {"toolCallId":"${ev.id}","approved":true|false}`, toolCallId: ev.id, tool: ev.name, arguments: args }),
      });
      if (!approved(answer)) return result(`The user did not allow ${ev.name}; do not try it again.`, false);
    }
    try {
      return result(await tool.run(args as Record<string, unknown>, ctx.signal, ev.id), true);
    } catch (err) {
      // The run ending (timeout, cancel) is not the tool's answer to the model.
      if (ctx.signal.aborted) throw err;
      return result(`Error: ${err instanceof Error ? err.message : String(err)}`, false);
    }
  }

  @step({ accepts: ToolResultEvent, emits: ThinkEvent })
  async observe(ev: ToolResultEvent, ctx: Context) {
    const all = ctx.collectEvents(ev, Array.from({ length: ev.of }, () => ToolResultEvent));
    if (!all) return undefined;
    const record = ctx.store.get<TurnRecord>(`turn:${ev.turn}`);
    if (!record) throw new Error(`No model reply is recorded for turn ${ev.turn}.`);
    const tools = [...all].sort((a, b) => a.index - b.index).map((r): ChatCompletionMessageParam => ({ role: "tool", tool_call_id: r.id, content: r.content }));
    ctx.store.set(`turn:${ev.turn}`, { ...record, tools } satisfies TurnRecord);
    return new ThinkEvent({ turn: ev.turn + 1 });
  }

  /** The conversation up to turn `turn`, from the run's store (so a resumed run has it too). */
  #history(ctx: Context, turn: number): ChatCompletionMessageParam[] {
    const messages = [...ctx.store.get<ChatCompletionMessageParam[]>("base", [])];
    for (let t = 1; t < turn; t++) {
      const record = ctx.store.get<TurnRecord>(`turn:${t}`);
      if (record) messages.push(record.assistant, ...(record.tools ?? []));
    }
    return messages;
  }

  #toolSpecs(): { tools?: ChatCompletionTool[] } {
    if (this.tools.size === 0) return {};
    return { tools: [...this.tools.values()].map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } })) };
  }
}
