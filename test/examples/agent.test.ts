import OpenAI from "openai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventValidationError, HumanResponseEvent, InputRequiredEvent, StopEvent, TestClock, WorkflowCancelledError, WorkflowRuntimeError, WorkflowTimeoutError, type Event } from "stepwise-ai";
import { AgentConfigError, ReActAgent, TokenEvent, type AgentOptions, type AgentResult } from "../../examples/agent/agent.js";
import type { FakeOpenAI, FakeRequest } from "../../examples/agent/fake-openai.js";
import { calculate, calculatorTool, lookupTool, sendEmailTool, type Tool } from "../../examples/agent/tools.js";
import { fakeServers } from "./agent-helpers.js";

type Outbox = { to: string; subject: string; body: string }[];
const fake = fakeServers();
afterEach(() => void vi.unstubAllEnvs());

const clientFor = (server: FakeOpenAI) => new OpenAI({ baseURL: server.baseURL, apiKey: "test-key", maxRetries: 2 });
const agentOn = (server: FakeOpenAI, options: AgentOptions = {}) => new ReActAgent({ client: clientFor(server), model: "fake-model", timeout: 10, ...options });

/** Runs to the end, answering every approval with `approve`; returns the streamed events and the result. */
async function drive(agent: ReActAgent, input: { question: string; maxTurns?: number }, approve?: (ask: InputRequiredEvent) => HumanResponseEvent | undefined) {
  const handler = agent.run(input);
  const streamed: Event[] = [];
  for await (const ev of handler.streamEvents()) {
    streamed.push(ev);
    if (ev instanceof InputRequiredEvent && approve) {
      const reply = approve(ev);
      if (reply) handler.sendEvent(reply);
    }
  }
  return { streamed, result: await handler, handler };
}

const toolMessages = (r: FakeRequest) => r.body.messages.filter((m) => m.role === "tool");

/** A tool whose calls wait until `n` of them are running at once: it records the most seen together. */
function barrierTool(n: number) {
  const state = { inFlight: 0, max: 0, finishedOrder: [] as string[] };
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  const tool: Tool = {
    name: "fetch_page",
    description: "Fetch a page.",
    parameters: { type: "object", properties: { page: { type: "string" } } },
    async run(args) {
      state.inFlight++;
      state.max = Math.max(state.max, state.inFlight);
      if (state.inFlight === n) open();
      // Run one after another, the calls would never meet: the 1 s escape only makes such a failure quick.
      await Promise.race([all, new Promise((r) => setTimeout(r, 1000))]);
      // Finish in reverse order, so the join must restore the model's order.
      await new Promise((r) => setTimeout(r, (n - Number(String(args.page).slice(1))) * 2));
      state.inFlight--;
      state.finishedOrder.push(String(args.page));
      return `content of ${String(args.page)}`;
    },
  };
  return { tool, state };
}

describe("examples/agent: the ReAct agent", () => {
  it("answers without tools, streaming the tokens as they come", async () => {
    const server = await fake({ script: [{ content: "Forty two, said the fake model." }] });
    const { streamed, result } = await drive(agentOn(server), { question: "What is the answer?" });
    const tokens = streamed.filter((e): e is TokenEvent => e instanceof TokenEvent);
    expect(tokens.length).toBeGreaterThan(3);
    expect(tokens.map((t) => t.delta).join("")).toBe("Forty two, said the fake model.");
    expect(streamed.at(-1)).toBeInstanceOf(StopEvent);
    expect(result).toMatchObject({ answer: "Forty two, said the fake model.", stoppedBy: "answer", modelCalls: 1 } satisfies Partial<AgentResult>);
    expect(result.usage.promptTokens).toBeGreaterThan(0);
    expect(server.requests).toHaveLength(1);
    const body = server.requests[0]!.body;
    expect(body).toMatchObject({ model: "fake-model", stream: true, stream_options: { include_usage: true } });
    expect(body.messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(body.tools?.map((t) => t.function.name)).toEqual(["lookup", "calculator", "send_email"]);
    expect(server.requests[0]!.authorization).toBe("Bearer test-key");
  });

  it("hands tokens to the caller before the model has finished its reply", async () => {
    const server = await fake({ script: [{ content: "one two three four five six", stallAfterChunks: 3 }] });
    const handler = agentOn(server).run({ question: "Count" });
    const seen: string[] = [];
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof TokenEvent) seen.push(ev.delta);
      if (seen.length === 2) break;
    }
    // The reply is held open after its third chunk (role, "one ", "two "): these two came through mid-reply.
    expect(seen).toEqual(["one ", "two "]);
    expect(server.inFlight).toBe(1);
    handler.cancel();
    await expect(handler).rejects.toBeInstanceOf(WorkflowCancelledError);
  });

  it("runs the tool calls of one turn as concurrent steps and joins them in the model's order", async () => {
    const { tool, state } = barrierTool(8);
    const pages = Array.from({ length: 8 }, (_, i) => ({ name: "fetch_page", arguments: { page: `p${i}` } }));
    const server = await fake({ script: [{ toolCalls: pages }, { content: "Read them all." }] });
    const { result } = await drive(agentOn(server, { tools: [tool] }), { question: "Read 8 pages" });
    expect(result).toMatchObject({ answer: "Read them all.", modelCalls: 2 });
    expect(state.max).toBe(8); // all eight were running at once
    expect(state.finishedOrder[0]).toBe("p7");
    const second = server.requests[1]!;
    const calls = second.body.messages.find((m) => m.role === "assistant")?.tool_calls ?? [];
    expect(calls.map((c) => JSON.parse(c.function.arguments).page)).toEqual(["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"]);
    expect(toolMessages(second).map((m) => m.tool_call_id)).toEqual(calls.map((c) => c.id));
    expect(toolMessages(second).map((m) => m.content)).toEqual(pages.map((p) => `content of ${p.arguments.page}`));
  });

  it("loops think → tools → observe until the model answers, then replays the whole conversation", async () => {
    const server = await fake({
      script: [
        { toolCalls: [{ name: "lookup", arguments: { topic: "Paris" } }, { name: "calculator", arguments: { expression: "2 * (3 + 4)" } }] },
        { toolCalls: [{ name: "calculator", arguments: { expression: "14 / 4" } }] },
        { content: "Paris; 14; 3.5." },
      ],
    });
    const { result } = await drive(agentOn(server, { tools: [lookupTool(0), calculatorTool] }), { question: "Go" });
    expect(result).toMatchObject({ answer: "Paris; 14; 3.5.", stoppedBy: "answer", modelCalls: 3 });
    expect(server.requests.map((r) => r.body.messages.map((m) => m.role).join(","))).toEqual([
      "system,user",
      "system,user,assistant,tool,tool",
      "system,user,assistant,tool,tool,assistant,tool",
    ]);
    expect(toolMessages(server.requests[2]!).map((m) => m.content)).toEqual(["Paris is the capital of France, population about 2.1 million.", "14", "3.5"]);
  });

  it("stops after maxTurns model calls when the model never answers", async () => {
    const server = await fake({ script: [{ toolCalls: [{ name: "calculator", arguments: { expression: "1+1" } }] }] });
    const { result } = await drive(agentOn(server, { tools: [calculatorTool] }), { question: "Loop forever", maxTurns: 3 });
    expect(result).toMatchObject({ answer: null, stoppedBy: "max_turns", modelCalls: 3 });
    expect(server.requests).toHaveLength(3);
    // The workflow's own default applies when the input gives none.
    const again = await fake({ script: [{ toolCalls: [{ name: "calculator", arguments: { expression: "1+1" } }] }] });
    expect((await drive(agentOn(again, { tools: [calculatorTool], maxTurns: 2 }), { question: "Loop" })).result.modelCalls).toBe(2);
    expect(again.requests).toHaveLength(2);
  });

  it("shows the model its bad tool calls instead of failing: unknown tool, bad JSON, not an object, a throwing tool", async () => {
    const server = await fake({
      script: [
        {
          toolCalls: [
            { name: "teleport", arguments: {} },
            { name: "calculator", arguments: '{"expression": "1+' },
            { name: "calculator", arguments: "[1,2]" },
            { name: "calculator", arguments: { expression: "1 +* 2" } },
            { name: "lookup", arguments: { topic: "" } },
            { name: "calculator", arguments: "" },
          ],
        },
        { content: "Sorry." },
      ],
    });
    const { result } = await drive(agentOn(server, { tools: [lookupTool(0), calculatorTool] }), { question: "Break things" });
    expect(result.answer).toBe("Sorry.");
    const seen = toolMessages(server.requests[1]!).map((m) => String(m.content));
    expect(seen[0]).toBe('Error: there is no tool "teleport"; the tools are lookup, calculator.');
    expect(seen[1]).toMatch(/^Error: the arguments of calculator are not valid JSON: \{"expression": "1\+$/);
    expect(seen[2]).toBe("Error: the arguments of calculator must be a JSON object.");
    expect(seen[3]).toMatch(/^Error: expected a number at 3/);
    expect(seen[4]).toBe('Error: lookup needs {"topic": "<non-empty string>"}');
    expect(seen[5]).toBe('Error: calculator needs {"expression": "<string>"}');
  });

  it("asks a person before a dangerous tool runs, and runs it only once approved", async () => {
    const outbox: Outbox = [];
    const server = await fake({ script: [{ toolCalls: [{ name: "send_email", arguments: { to: "a@example.com", body: "hi" } }, { name: "lookup", arguments: { topic: "Lima" } }] }, { content: "Mailed." }] });
    const handler = agentOn(server, { tools: [sendEmailTool(outbox), lookupTool(0)] }).run({ question: "Mail" });
    const asked: InputRequiredEvent<{ toolCallId: string }>[] = [];
    for await (const ev of handler.streamEvents()) {
      if (!(ev instanceof InputRequiredEvent)) continue;
      asked.push(ev as InputRequiredEvent<{ toolCallId: string }>);
      // An answer for another call does not release this one.
      handler.sendEvent(new HumanResponseEvent({ toolCallId: "someone-else", approved: true }));
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(outbox).toHaveLength(0);
      expect(server.requests).toHaveLength(1);
      handler.sendEvent(new HumanResponseEvent({ toolCallId: asked[0]!.toolCallId, approved: true }));
    }
    expect(asked).toHaveLength(1);
    expect((await handler).answer).toBe("Mailed.");
    expect(outbox).toEqual([{ to: "a@example.com", subject: "", body: "hi" }]);
    expect(toolMessages(server.requests[1]!).map((m) => m.content)).toEqual(["Sent to a@example.com.", "Lima is the capital of Peru, population about 10 million."]);
  });

  it("tells the model when the person declines, and sends nothing", async () => {
    const outbox: Outbox = [];
    const server = await fake({ script: [{ toolCalls: [{ name: "send_email", arguments: { to: "boss@example.com", body: "I quit" } }] }, { content: "Not sent." }] });
    const questions: unknown[] = [];
    const { result } = await drive(agentOn(server, { tools: [sendEmailTool(outbox)] }), { question: "Mail" }, (ask) => {
      questions.push({ ...ask });
      return new HumanResponseEvent({ toolCallId: (ask as InputRequiredEvent<{ toolCallId: string }>).toolCallId, approved: false });
    });
    expect(questions).toEqual([expect.objectContaining({ tool: "send_email", arguments: { to: "boss@example.com", body: "I quit" }, toolCallId: expect.stringMatching(/^call_/) })]);
    expect(result.answer).toBe("Not sent.");
    expect(outbox).toEqual([]);
    expect(toolMessages(server.requests[1]!)[0]?.content).toBe("The user did not allow send_email; do not try it again.");
  });

  it("accepts a plain yes as approval, and an answer naming no call", async () => {
    const outbox: Outbox = [];
    const server = await fake({ script: [{ toolCalls: [{ name: "send_email", arguments: { to: "x@example.com", body: "b" } }] }, { content: "ok" }] });
    const wf = agentOn(server, { tools: [sendEmailTool(outbox)] });
    await drive(wf, { question: "Mail" }, () => new HumanResponseEvent({ response: "yes" }));
    expect(outbox).toHaveLength(1);
  });

  it("survives a server error: the official client retries a 500 (retry-after-ms honoured)", async () => {
    const server = await fake({ script: [{ error: { status: 500, message: "The server had an error", retryAfterMs: 0 } }, { content: "Fine now." }] });
    const { result } = await drive(agentOn(server), { question: "Hi" });
    expect(result.answer).toBe("Fine now.");
    expect(server.requests).toHaveLength(2);
  });

  it("fails the run with the API's error when the request is refused (401)", async () => {
    const server = await fake({ apiKey: "right-key" });
    const err = await agentOn(server).run({ question: "Hi" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect((err as WorkflowRuntimeError).code).toBe("STEP_FAILED");
    expect((err as WorkflowRuntimeError).step).toBe("think");
    expect((err as Error).cause).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as Error).message).toMatch(/Incorrect API key/);
  });

  it("aborts the model request when the run is cancelled during a slow reply", async () => {
    const server = await fake({ script: [{ content: "too late", delayMs: 30_000 }] });
    const handler = agentOn(server).run({ question: "Hi" });
    await server.waitForRequests(1);
    handler.cancel();
    await expect(handler).rejects.toBeInstanceOf(WorkflowCancelledError);
    await vi.waitFor(() => expect(server.abandoned).toBe(1));
  });

  it("aborts the model request when the run times out (on the injected clock)", async () => {
    const server = await fake({ script: [{ content: "too late", delayMs: 30_000 }] });
    const clock = new TestClock();
    const handler = agentOn(server, { clock, timeout: 60 }).run({ question: "Hi" });
    const failed = expect(handler).rejects.toBeInstanceOf(WorkflowTimeoutError);
    await server.waitForRequests(1);
    await clock.advance(60_000);
    await failed;
    await vi.waitFor(() => expect(server.abandoned).toBe(1));
  });

  it("is configured by OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL", async () => {
    const server = await fake({ apiKey: "env-key", script: [{ content: "from env" }] });
    vi.stubEnv("OPENAI_BASE_URL", server.baseURL);
    vi.stubEnv("OPENAI_API_KEY", "env-key");
    vi.stubEnv("OPENAI_MODEL", "env-model");
    expect((await new ReActAgent({ timeout: 10 }).run({ question: "Hi" })).answer).toBe("from env");
    expect(server.requests[0]?.body.model).toBe("env-model");
  });

  it("fails with AGENT_CONFIG naming the variable when no key is set", async () => {
    vi.stubEnv("OPENAI_API_KEY", "");
    const err = await new ReActAgent({ timeout: 10 }).run({ question: "Hi" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    const cause = (err as Error).cause;
    expect(cause).toBeInstanceOf(AgentConfigError);
    expect((cause as AgentConfigError).code).toBe("AGENT_CONFIG");
    expect((cause as Error).message).toMatch(/OPENAI_API_KEY is not set/);
  });

  it("rejects bad input before anything runs", async () => {
    const server = await fake();
    const wf = agentOn(server);
    await expect(wf.run({ question: "" })).rejects.toThrow(EventValidationError);
    await expect(wf.run({ question: "q", maxTurns: 0 })).rejects.toThrow(/"maxTurns"/);
    await expect(wf.run({ question: 42 } as never)).rejects.toThrow(/"question"/);
    expect(server.requests).toHaveLength(0);
  });
});

describe("examples/agent/tools", () => {
  it("calculates with precedence and parentheses, never evaluating code", () => {
    expect(calculate("1 + 2 * 3")).toBe(7);
    expect(calculate("(1 + 2) * 3")).toBe(9);
    expect(calculate("-4 / 2 - 1")).toBe(-3);
    expect(() => calculate("process.exit(1)")).toThrow(/expected a number/);
    expect(() => calculate("1 + 1; 2")).toThrow(/unexpected ";"/);
    expect(() => calculate("(1 + 2")).toThrow(/expected "\)"/);
    expect(() => calculate("1+".repeat(150))).toThrow(/longer than 200/);
  });
});
