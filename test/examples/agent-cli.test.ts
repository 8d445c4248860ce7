import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fakeServers } from "./agent-helpers.js";

const ROOT = join(import.meta.dirname, "../..");
// The command as `npm start` runs it: from the sources.
const STEPWISE = ["--import", "tsx", "--conditions=stepwise-source", "src/cli/main.ts"];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fake = fakeServers();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-agent-cli-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 30_000, env: { ...process.env, NO_COLOR: "1", ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr });
    });
  });
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, any>);

describe("examples/agent from the command line", () => {
  it("stepwise run examples/agent/agent.ts answers, streaming the tokens as it goes", async () => {
    const server = await fake();
    const env = { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: "fake-key", OPENAI_MODEL: "cli-model" };
    const { code, stdout, stderr } = await run([...STEPWISE, "run", "examples/agent/agent.ts", "--input", '{"question":"Compare Paris and Tokyo"}', "--json", "--no-store"], env);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    const tokens = lines.filter((l) => l.kind === "stream" && l.event.type === "TokenEvent").map((l) => l.event.data.delta as string);
    const result = lines.at(-1);
    expect(result).toMatchObject({ kind: "result", status: "completed", result: { stoppedBy: "answer", modelCalls: 2 } });
    expect(result?.result.answer).toMatch(/^Here is what I found\. Paris is the capital of France.*Tokyo is the capital of Japan/);
    expect(tokens.join("")).toContain(result?.result.answer);
    expect(lines.filter((l) => l.kind === "step_started" && l.step === "callTool")).toHaveLength(2);
    expect(server.requests.map((r) => r.body.model)).toEqual(["cli-model", "cli-model"]);
  }, 40_000);

  it("exits 2 naming the field when the input does not fit the agent's StartEvent", async () => {
    const { code, stderr } = await run([...STEPWISE, "run", "examples/agent/agent.ts", "--input", '{"question":""}', "--no-store"], {});
    expect(code).toBe(2);
    expect(stderr).toMatch(/"question"/);
  }, 40_000);

  it("a run waiting for approval is left waiting (exit 3) and answered with stepwise runs resume --send", async () => {
    const server = await fake();
    const db = join(tempDir(), "runs.db");
    const env = { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: "fake-key" };
    const first = spawn(process.execPath, [...STEPWISE, "run", "examples/agent/agent.ts", "--input", '{"question":"Look up Lima and email the team"}', "--json", "--store", db], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    cleanups.push(() => void first.kill("SIGKILL"));
    let out = "";
    const asked = new Promise<Record<string, any>>((resolve) => {
      first.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n").find((l) => l.includes('"InputRequiredEvent"'));
        if (line) resolve(JSON.parse(line) as Record<string, any>);
      });
    });
    const question = await asked;
    const runId = question.runId as string;
    expect(question.event.data).toMatchObject({ tool: "send_email", toolCallId: expect.any(String) });
    // With no terminal to ask on, the command leaves the run waiting in the store and exits 3.
    const exitCode = await new Promise<number | null>((r) => (first.exitCode !== null ? r(first.exitCode) : first.on("exit", (code) => r(code))));
    expect(exitCode).toBe(3);
    expect(server.requests).toHaveLength(2);

    const send = JSON.stringify({ type: "HumanResponseEvent", data: { toolCallId: question.event.data.toolCallId, approved: true } });
    const second = await run([...STEPWISE, "runs", "resume", runId, "--file", "examples/agent/agent.ts", "--store", db, "--send", send], env);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout.trim().split("\n").at(-1) as string)).toMatchObject({ answer: expect.stringMatching(/Sent to team@example\.com\.$/), modelCalls: 3 });
    // Turn 1 (the lookups) and turn 2 (the mail) were not asked again: one more request, for turn 3.
    expect(server.requests).toHaveLength(3);
  }, 60_000);

  it("fake-openai.ts -- <command> runs the command against a fresh server and passes its exit code on", async () => {
    const script = "console.log(process.env.OPENAI_BASE_URL + ' ' + process.env.OPENAI_API_KEY); process.exit(3)";
    const { code, stdout } = await run(["--import", "tsx", "examples/agent/fake-openai.ts", "--", process.execPath, "-e", script], {});
    expect(code).toBe(3);
    expect(stdout.trim()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1 fake-key$/);
  }, 40_000);
});
