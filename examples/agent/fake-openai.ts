/**
 * A local stand-in for an OpenAI-compatible endpoint (`POST /v1/chat/completions`), for tests,
 * the bench and offline demos: scripted or rule-based replies, streamed as the real API streams
 * them (server-sent `chat.completion.chunk` frames, then `data: [DONE]`), tool calls, errors,
 * slow replies and replies that stall mid-stream. No network, no key.
 *
 *   npx tsx examples/agent/fake-openai.ts                       # serve on :8787 until Ctrl-C
 *   npx tsx examples/agent/fake-openai.ts -- <command> [args…]  # run a command against it, then stop
 *
 * With `--`, the command gets `OPENAI_BASE_URL` and `OPENAI_API_KEY` pointing at the server.
 * `FAKE_OPENAI_CHUNK_MS` (default 15 on the command line, 0 in code) paces the streamed chunks.
 */
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

/** One tool call the fake model makes. `arguments` is sent as given when a string (even invalid JSON), else JSON-encoded. */
export interface FakeToolCall {
  name: string;
  arguments: unknown;
  id?: string;
}

/** What the fake model answers to one request. */
export interface FakeReply {
  /** The assistant's text, streamed word by word when the request streams. */
  content?: string;
  toolCalls?: FakeToolCall[];
  /** Answer with this HTTP error instead (OpenAI's error body). `retryAfterMs` sets `retry-after-ms`, which the official client honours. */
  error?: { status: number; message: string; type?: string; retryAfterMs?: number };
  /** Wait this long before answering (a slow model). */
  delayMs?: number;
  /** Streaming only: send this many chunks, then hold the response open until the client goes away (a model stuck mid-answer). */
  stallAfterChunks?: number;
}

/** A request as the fake server saw it. */
export interface FakeRequest {
  /** 1-based arrival order. */
  readonly n: number;
  readonly body: ChatBody;
  readonly authorization: string | undefined;
}

/** The parts of a chat completion request the fake server reads. */
export interface ChatBody {
  model: string;
  messages: { role: string; content?: unknown; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }[];
  tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

/** Picks the reply to a request: a list is served in order (then the last entry again), a function decides per request. */
export type FakeScript = readonly FakeReply[] | ((request: FakeRequest) => FakeReply | Promise<FakeReply>);

export interface FakeOpenAIOptions {
  /** Default: {@link demoBrain}. */
  script?: FakeScript;
  /** Milliseconds between streamed chunks (default 0). */
  chunkDelayMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (else 401, as the real API). */
  apiKey?: string;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Largest request body accepted, in bytes (default 1 MiB; more is a 413). */
  maxBodyBytes?: number;
}

/** A running fake server and what it has seen. */
export interface FakeOpenAI {
  /** The base URL to give the client (`…/v1`). */
  readonly baseURL: string;
  /** Every well-formed chat completion request, in arrival order. */
  readonly requests: FakeRequest[];
  /** Requests being answered right now. */
  readonly inFlight: number;
  /** The most requests ever answered at once. */
  readonly maxConcurrent: number;
  /** Responses the client gave up on before they were complete (aborted or killed). */
  readonly abandoned: number;
  /** Resolves when `count` requests have arrived (or at once when they already have). */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

const STOP_WORDS = new Set(["I", "What", "Which", "Who", "How", "Compare", "Tell", "Please", "Look", "Find", "The", "A", "An", "And", "Email", "Then", "Is", "Are", "Do", "Does", "Give"]);
const POSITIVE = ["beat", "beats", "record", "growth", "up", "surge", "surges", "upgrade", "strong", "gain", "gains", "rally", "profit", "raises"];
const NEGATIVE = ["miss", "misses", "loss", "down", "cut", "cuts", "lawsuit", "downgrade", "weak", "fall", "falls", "recall", "probe", "layoffs"];

const text = (content: unknown): string =>
  typeof content === "string" ? content : Array.isArray(content) ? content.map((p: { text?: unknown }) => (typeof p?.text === "string" ? p.text : "")).join("") : "";

/**
 * The default script: a small rule-based "model" that makes the examples work offline.
 * - No tools offered: judges the sentiment of the last user message (word counts): "Bullish" or "Bearish".
 * - Tools offered, no tool results yet: calls `lookup` once per capitalised name in the question (up to 8), at once.
 * - Results in and the question mentions "email", with a `send_email` tool not yet called: calls it.
 * - Otherwise: answers with what the tools returned.
 */
export function demoBrain(request: FakeRequest): FakeReply {
  const { messages, tools } = request.body;
  const question = text([...messages].reverse().find((m) => m.role === "user")?.content);
  if (!tools || tools.length === 0) {
    const words = question.toLowerCase().split(/[^a-z]+/);
    const score = words.filter((w) => POSITIVE.includes(w)).length - words.filter((w) => NEGATIVE.includes(w)).length;
    return { content: score >= 0 ? "Bullish" : "Bearish" };
  }
  const offered = new Set(tools.map((t) => t.function.name));
  const results = messages.filter((m) => m.role === "tool").map((m) => text(m.content));
  const called = new Set(messages.flatMap((m) => m.tool_calls ?? []).map((c) => c.function.name));
  if (results.length === 0 && offered.has("lookup")) {
    const names = [...new Set(question.match(/\b[A-Z][a-zA-Z]+\b/g) ?? [])].filter((w) => !STOP_WORDS.has(w)).slice(0, 8);
    if (names.length > 0) return { content: `Let me look up ${names.join(", ")}.`, toolCalls: names.map((topic) => ({ name: "lookup", arguments: { topic } })) };
  }
  if (/\bemail\b/i.test(question) && offered.has("send_email") && !called.has("send_email")) {
    return { toolCalls: [{ name: "send_email", arguments: { to: "team@example.com", subject: "What I found", body: results.join("\n") } }] };
  }
  return { content: results.length > 0 ? `Here is what I found. ${results.join(" ")}` : `I can answer that without tools: ${question}` };
}

const openaiError = (res: ServerResponse, status: number, message: string, type = "invalid_request_error", headers: Record<string, string> = {}) => {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ error: { message, type, param: null, code: null } }));
};

/** Why `body` is not a chat completion request, or undefined when it is one. */
function badRequest(body: unknown): string | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return "The body must be a JSON object.";
  const b = body as Record<string, unknown>;
  if (typeof b.model !== "string" || b.model === "") return "you must provide a model parameter";
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "'messages' must be a non-empty array";
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (m === null || typeof m !== "object" || typeof (m as { role?: unknown }).role !== "string") return `'messages.${i}' must be an object with a 'role'`;
  }
  if (b.tools !== undefined) {
    if (!Array.isArray(b.tools)) return "'tools' must be an array";
    for (const [i, t] of (b.tools as unknown[]).entries()) {
      const fn = (t as { function?: { name?: unknown } } | null)?.function;
      if (typeof fn?.name !== "string") return `'tools.${i}.function.name' is required`;
    }
  }
  return undefined;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/** Start a fake OpenAI-compatible server on 127.0.0.1. */
export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const script = options.script ?? demoBrain;
  const chunkDelay = options.chunkDelayMs ?? 0;
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const requests: FakeRequest[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let inFlight = 0;
  let maxConcurrent = 0;
  let abandoned = 0;
  let ids = 0;

  const pick = async (request: FakeRequest): Promise<FakeReply> => {
    if (typeof script === "function") return script(request);
    const list = script;
    if (list.length === 0) return { content: "" };
    return list[Math.min(request.n, list.length) - 1] as FakeReply;
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return openaiError(res, 400, "We could not parse the JSON body of your request.");
    }
    const why = badRequest(body);
    if (why) return openaiError(res, 400, why);
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return openaiError(res, 401, "Incorrect API key provided.", "invalid_api_key");
    }
    const request: FakeRequest = { n: requests.length + 1, body: body as ChatBody, authorization: req.headers.authorization };
    requests.push(request);
    for (const w of waiters.filter((w) => requests.length >= w.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    // The client going away (abort, timeout, a killed process) ends the work on its reply.
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) {
        abandoned++;
        gone.abort();
      }
    });
    const reply = await pick(request);
    await sleep(reply.delayMs ?? 0, gone.signal);
    if (gone.signal.aborted) return;
    if (reply.error) {
      const { status, message, type, retryAfterMs } = reply.error;
      return openaiError(res, status, message, type ?? "server_error", retryAfterMs === undefined ? {} : { "retry-after-ms": String(retryAfterMs) });
    }
    const id = `chatcmpl-fake${++ids}`;
    const model = request.body.model;
    const created = Math.floor(Date.now() / 1000);
    const calls = (reply.toolCalls ?? []).map((c, i) => ({
      id: c.id ?? `call_${ids}_${i + 1}`,
      type: "function" as const,
      function: { name: c.name, arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments) },
    }));
    const content = reply.content ?? null;
    const finish = calls.length > 0 ? "tool_calls" : "stop";
    const usage = { prompt_tokens: JSON.stringify(request.body.messages).length >> 2, completion_tokens: ((content ?? "").length + JSON.stringify(calls).length) >> 2, total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;

    if (!request.body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content, refusal: null, ...(calls.length ? { tool_calls: calls } : {}) }, finish_reason: finish, logprobs: null }], usage }));
      return;
    }

    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const frame = (delta: object, finishReason: string | null = null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] })}\n\n`;
    const frames: string[] = [frame({ role: "assistant", content: "" })];
    for (const piece of (content ?? "").match(/\S+\s*|\s+/g) ?? []) frames.push(frame({ content: piece }));
    calls.forEach((c, index) => {
      frames.push(frame({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.function.name, arguments: "" } }] }));
      // Arguments arrive in pieces, as from the real API.
      for (let k = 0; k < c.function.arguments.length; k += 16) frames.push(frame({ tool_calls: [{ index, function: { arguments: c.function.arguments.slice(k, k + 16) } }] }));
    });
    frames.push(frame({}, finish));
    if (request.body.stream_options?.include_usage) frames.push(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage })}\n\n`);
    frames.push("data: [DONE]\n\n");
    for (const [i, f] of frames.entries()) {
      if (reply.stallAfterChunks !== undefined && i >= reply.stallAfterChunks) {
        // Held open until the client goes away, or the server closes.
        await new Promise<void>((resolve) => gone.signal.addEventListener("abort", () => resolve(), { once: true }));
        return;
      }
      if (gone.signal.aborted) return;
      res.write(f);
      if (chunkDelay > 0) await sleep(chunkDelay, gone.signal);
    }
    res.end();
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== "/v1/chat/completions") {
      req.resume();
      return openaiError(res, 404, `Unknown request URL: ${req.method ?? ""} ${req.url ?? ""}. This fake serves POST /v1/chat/completions only.`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size > maxBody) {
        if (!tooBig) openaiError(res, 413, `Request body too large: more than ${maxBody} bytes.`);
        tooBig = true;
        return;
      }
      chunks.push(d);
    });
    req.on("end", () => {
      if (tooBig) return;
      inFlight++;
      maxConcurrent = Math.max(maxConcurrent, inFlight);
      answer(req, res, Buffer.concat(chunks).toString("utf8"))
        .catch((err: unknown) => openaiError(res, 500, `Fake server failure: ${err instanceof Error ? err.message : String(err)}`, "server_error"))
        .finally(() => inFlight--);
    });
  });
  // Keep-alive sockets would hold close() open; the fake has no use for them.
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxConcurrent() {
      return maxConcurrent;
    },
    get abandoned() {
      return abandoned;
    },
    waitForRequests(count) {
      if (requests.length >= count) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ count, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Run as a program (not imported): it depends on nothing from stepwise, so plain `tsx` starts it.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const dash = args.indexOf("--");
  const portArg = args.indexOf("--port");
  const port = portArg >= 0 ? Number(args[portArg + 1]) : dash >= 0 ? 0 : 8787;
  const fake = await startFakeOpenAI({ port, chunkDelayMs: Number(process.env.FAKE_OPENAI_CHUNK_MS ?? 15) });
  if (dash >= 0 && args.length > dash + 1) {
    const [command, ...rest] = args.slice(dash + 1) as [string, ...string[]];
    const child = spawn(command, rest, { stdio: "inherit", env: { ...process.env, OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: "fake-key" } });
    const code = await new Promise<number>((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    await fake.close();
    process.exit(code);
  } else {
    console.log(`Fake OpenAI-compatible server listening. Use:\n  export OPENAI_BASE_URL=${fake.baseURL} OPENAI_API_KEY=fake-key`);
  }
}
