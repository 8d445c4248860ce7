import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { demoBrain, type FakeOpenAI, type FakeRequest } from "../../examples/agent/fake-openai.js";
import { fakeServers } from "./agent-helpers.js";

const fake = fakeServers();

const post = (server: FakeOpenAI, body: string, path = "/chat/completions", headers: Record<string, string> = {}) =>
  fetch(`${server.baseURL}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

const request = (body: Partial<FakeRequest["body"]>): FakeRequest => ({ n: 1, authorization: undefined, body: { model: "m", messages: [], ...body } });

describe("examples/agent/fake-openai: the fake OpenAI-compatible server", () => {
  it("answers the official client, streamed and not, with tool calls and usage", async () => {
    const reply = { content: "Two calls.", toolCalls: [{ name: "lookup", arguments: { topic: "x".repeat(40) } }, { name: "calculator", arguments: "not json", id: "call_fixed" }] };
    const server = await fake({ script: [reply, reply] });
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: "k", maxRetries: 0 });
    const plain = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
    const streamed = await client.chat.completions.stream({ model: "m", messages: [{ role: "user", content: "hi" }], stream_options: { include_usage: true } }).finalChatCompletion();
    for (const c of [plain, streamed]) {
      expect(c.choices[0]?.finish_reason).toBe("tool_calls");
      expect(c.choices[0]?.message.content).toBe("Two calls.");
      expect(c.choices[0]?.message.tool_calls).toEqual([
        { id: expect.stringMatching(/^call_/), type: "function", function: { name: "lookup", arguments: JSON.stringify({ topic: "x".repeat(40) }) } },
        { id: "call_fixed", type: "function", function: { name: "calculator", arguments: "not json" } },
      ]);
      expect(c.usage?.total_tokens).toBeGreaterThan(0);
    }
    expect(server.requests.map((r) => r.body.stream ?? false)).toEqual([false, true]);
  });

  it("streams server-sent chunks ending in data: [DONE], as the real API", async () => {
    const server = await fake({ script: [{ content: "a b" }] });
    const res = await post(server, JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }], stream: true }));
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const frames = (await res.text()).split("\n\n").filter(Boolean);
    expect(frames.at(-1)).toBe("data: [DONE]");
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.replace(/^data: /, "")));
    expect(chunks.map((c) => c.choices[0].delta)).toEqual([{ role: "assistant", content: "" }, { content: "a " }, { content: "b" }, {}]);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
    for (const c of chunks) expect(c).toMatchObject({ object: "chat.completion.chunk", model: "m", id: chunks[0].id });
  });

  it("refuses bad requests with OpenAI's error body: hostile JSON, wrong shapes, huge bodies, wrong paths, wrong keys", async () => {
    const server = await fake({ apiKey: "right", maxBodyBytes: 10_000 });
    const auth = { authorization: "Bearer right" };
    const cases: [string, number, RegExp][] = [
      ["{", 400, /could not parse the JSON/],
      ['"a string"', 400, /must be a JSON object/],
      ["[]", 400, /must be a JSON object/],
      ['{"messages":[{"role":"user","content":"x"}]}', 400, /model/],
      ['{"model":"m","messages":[]}', 400, /messages/],
      ['{"model":"m","messages":[null]}', 400, /messages\.0/],
      ['{"model":"m","messages":[{"role":"user"}],"tools":[{"type":"function"}]}', 400, /tools\.0\.function\.name/],
      ['{"model":"m","messages":[{"role":"user"}],"__proto__":{"polluted":true}}', 200, /./],
      // Raw control characters are not JSON; escaped, they are content like any other.
      [`{"model":"m","messages":[{"role":"user","content":"${"\u0000\u001b".repeat(10)}"}]}`, 400, /could not parse the JSON/],
      [JSON.stringify({ model: "m", messages: [{ role: "user", content: "\u0000\u001b\u202e".repeat(10) }] }), 200, /./],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(server, body, "/chat/completions", auth);
      expect([body, res.status]).toEqual([body, status]);
      if (status !== 200) expect(((await res.json()) as { error: unknown }).error).toMatchObject({ message: expect.stringMatching(message), type: "invalid_request_error" });
      else await res.text();
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const huge = await post(server, JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(50_000) }] }), "/chat/completions", auth);
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { message: string } }).error.message).toMatch(/more than 10000 bytes/);
    const unknown = await post(server, "{}", "/embeddings", auth);
    expect(unknown.status).toBe(404);
    const wrongKey = await post(server, '{"model":"m","messages":[{"role":"user"}]}', "/chat/completions", { authorization: "Bearer wrong" });
    expect(wrongKey.status).toBe(401);
    // Only the two well-formed requests were recorded and answered.
    expect(server.requests).toHaveLength(2);
  });

  it("serves a list in order and repeats its last entry; a function decides per request", async () => {
    const listed = await fake({ script: [{ content: "one" }, { content: "two" }] });
    const client = new OpenAI({ baseURL: listed.baseURL, apiKey: "k", maxRetries: 0 });
    const ask = async () => (await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "?" }] })).choices[0]?.message.content;
    expect([await ask(), await ask(), await ask()]).toEqual(["one", "two", "two"]);
  });

  it("counts requests in flight and the ones the client abandoned", async () => {
    const server = await fake({ script: [{ content: "slow", delayMs: 30_000 }] });
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: "k", maxRetries: 0 });
    const aborts = [new AbortController(), new AbortController()];
    const calls = aborts.map((a) => client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "?" }] }, { signal: a.signal }).catch((e: unknown) => e));
    await server.waitForRequests(2);
    expect(server.inFlight).toBe(2);
    expect(server.maxConcurrent).toBe(2);
    for (const a of aborts) a.abort();
    for (const e of await Promise.all(calls)) expect(e).toBeInstanceOf(OpenAI.APIUserAbortError);
    await expect.poll(() => server.abandoned).toBe(2);
    await expect.poll(() => server.inFlight).toBe(0);
  });

  it("demoBrain: looks up the names in a question at once, emails when asked, then answers; judges sentiment without tools", () => {
    const tools = ["lookup", "send_email"].map((name) => ({ type: "function", function: { name } }));
    const first = demoBrain(request({ tools, messages: [{ role: "user", content: "Compare Paris, Tokyo and Lima, then email it" }] }));
    expect(first.toolCalls?.map((c) => c.arguments)).toEqual([{ topic: "Paris" }, { topic: "Tokyo" }, { topic: "Lima" }]);
    const afterLookups = demoBrain(request({ tools, messages: [{ role: "user", content: "Paris and email it" }, { role: "assistant", tool_calls: [{ id: "1", function: { name: "lookup", arguments: "{}" } }] }, { role: "tool", content: "P!" }] }));
    expect(afterLookups.toolCalls?.[0]).toMatchObject({ name: "send_email", arguments: { body: "P!" } });
    const noNames = demoBrain(request({ tools, messages: [{ role: "user", content: "what time is it" }] }));
    expect(noNames.content).toMatch(/without tools/);
    expect(demoBrain(request({ messages: [{ role: "user", content: "Record profit, strong growth" }] })).content).toBe("Bullish");
    expect(demoBrain(request({ messages: [{ role: "user", content: "Lawsuit and layoffs" }] })).content).toBe("Bearish");
  });
});
