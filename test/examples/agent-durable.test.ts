import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { HumanResponseEvent, InputRequiredEvent, type Event } from "stepwise-ai";
import { SqliteStore } from "stepwise-ai/sqlite";
import { ReActAgent, TokenEvent, type AgentResult } from "../../examples/agent/agent.js";
import { startFakeOpenAI, type FakeOpenAI, type FakeReply, type FakeRequest } from "../../examples/agent/fake-openai.js";
import { loggedTools } from "../fixtures/agent/logged-tools.js";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURE = join(ROOT, "test/fixtures/agent/durable-agent.ts");

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(script: (r: FakeRequest) => FakeReply) {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-agent-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const fake = await startFakeOpenAI({ script });
  cleanups.push(() => fake.close());
  return { dir, db: join(dir, "runs.db"), log: join(dir, "tools.log"), fake };
}

/** The agent in a child process; its stdout lines parsed as JSON. */
function child(fake: FakeOpenAI, db: string, log: string, question: string): { proc: ChildProcess; lines: Record<string, unknown>[]; stderr: () => string; exited: Promise<void> } {
  const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", FIXTURE, db, log, question], {
    cwd: ROOT,
    env: { ...process.env, OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: "fake-key" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push(() => void proc.kill("SIGKILL"));
  const lines: Record<string, unknown>[] = [];
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    for (let i; (i = out.indexOf("\n")) >= 0; out = out.slice(i + 1)) lines.push(JSON.parse(out.slice(0, i)) as Record<string, unknown>);
  });
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  return { proc, lines, stderr: () => err, exited };
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const toolRuns = (log: string) => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);

/** The same agent in this process, on the same journal and server. */
function agentHere(db: string, log: string, fake: FakeOpenAI) {
  const store = new SqliteStore(db);
  cleanups.push(() => store.close());
  return new ReActAgent({ store, client: new OpenAI({ baseURL: fake.baseURL, apiKey: "fake-key", maxRetries: 0 }), model: "fake-model", tools: loggedTools(log, appendFileSync) });
}

describe("examples/agent: durable across SIGKILL", () => {
  it("resumes a run killed during a model call without paying again for the calls that had finished", async () => {
    const { db, log, fake } = await setup((r) => {
      if (r.n === 1) return { content: "Looking up.", toolCalls: ["Paris", "Tokyo", "Lima"].map((topic) => ({ name: "lookup", arguments: { topic } })) };
      // The second call stalls mid-stream: the process is killed while it is in flight.
      if (r.n === 2) return { content: "Paris is smaller than", stallAfterChunks: 3 };
      return { content: "Paris is smaller than Tokyo and Lima." };
    });
    const first = child(fake, db, log, "Compare Paris, Tokyo and Lima");
    await fake.waitForRequests(2);
    const runId = first.lines[0]?.runId as string;
    expect(runId).toEqual(expect.any(String));
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(first.proc.signalCode).toBe("SIGKILL");
    expect(first.stderr()).toBe("");
    expect(first.lines).toHaveLength(1); // no result: it died
    expect(toolRuns(log)).toHaveLength(3);

    const handler = agentHere(db, log, fake).resume(runId);
    const streamed: Event[] = [];
    for await (const ev of handler.streamEvents()) streamed.push(ev);
    const result: AgentResult = await handler;

    expect(result).toMatchObject({ answer: "Paris is smaller than Tokyo and Lima.", stoppedBy: "answer", modelCalls: 2 });
    // Three requests in all: turn 1 once, turn 2 twice (cut off, then redone). Not four.
    expect(fake.requests).toHaveLength(3);
    expect(fake.requests[0]!.body.messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(fake.requests[2]!.body.messages).toEqual(fake.requests[1]!.body.messages);
    expect(fake.requests[2]!.body.messages.filter((m) => m.role === "tool")).toHaveLength(3);
    expect(fake.abandoned).toBe(1); // the killed process's connection
    // The tools ran once, before the kill; only the redone turn streams tokens again.
    expect(toolRuns(log)).toHaveLength(3);
    expect(new Set(streamed.filter((e): e is TokenEvent => e instanceof TokenEvent).map((t) => t.turn))).toEqual(new Set([2]));
  }, 30_000);

  it("a run killed while waiting for approval is answered later, without asking the model again", async () => {
    const { db, log, fake } = await setup((r) => {
      if (r.n === 1) return { toolCalls: [{ name: "lookup", arguments: { topic: "AAPL" } }, { name: "send_email", arguments: { to: "cfo@example.com", body: "AAPL" } }] };
      return { content: "Looked it up and mailed the CFO." };
    });
    const first = child(fake, db, log, "Look up AAPL and email the CFO");
    await until(() => first.lines.some((l) => "asked" in l) || first.proc.exitCode !== null, "the approval question");
    expect(first.stderr()).toBe("");
    const runId = first.lines[0]?.runId as string;
    const toolCallId = first.lines.find((l) => "asked" in l)?.asked as string;
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(fake.requests).toHaveLength(1);
    expect(toolRuns(log)).toEqual([expect.stringMatching(/^lookup call_\S+ \{"topic":"AAPL"\}$/)]); // the mail waits for a person

    const store = new SqliteStore(db);
    cleanups.push(() => store.close());
    // Not yet "waiting" (a sibling tool was running when the wait began; the engine does not revisit that).
    expect(["running", "waiting"]).toContain(store.getRun(runId)?.status);

    // The resumed run asks again (the waiting step runs again from its start); the answer ends it.
    const wf = agentHere(db, log, fake);
    const handler = wf.resume(runId);
    for await (const ev of handler.streamEvents()) {
      if (ev instanceof InputRequiredEvent) handler.sendEvent(new HumanResponseEvent({ toolCallId, approved: true }));
    }
    expect((await handler).answer).toBe("Looked it up and mailed the CFO.");
    expect(fake.requests).toHaveLength(2);
    // The mail went once, with the call id the model gave before the crash (an idempotency key that survives it).
    expect(toolRuns(log)).toEqual([expect.stringMatching(/^lookup /), `send_email ${toolCallId} {"to":"cfo@example.com","body":"AAPL"}`]);
    expect(store.getRun(runId)?.status).toBe("completed");
  }, 30_000);
});
