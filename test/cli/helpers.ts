/** Running the `stepwise` command from source in a subprocess, with or without a terminal. */
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { Terminal } from "@xterm/headless";

export const ROOT = join(import.meta.dirname, "../..");
const COMMAND = [process.execPath, "--import", "tsx", "--conditions=stepwise-source", join(ROOT, "src/cli/main.ts")];

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command with pipes for stdin, stdout and stderr (no terminal). */
export function stepwise(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(COMMAND[0]!, [...COMMAND.slice(1), ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, NO_COLOR: "1", ...options.env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

const shellQuote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g;

/**
 * Runs the command under a pseudo-terminal (util-linux `script`). When the screen shows text
 * matching `answer.when`, types `answer.keys`. Resolves with everything the terminal received.
 */
export function inTerminal(args: readonly string[], answer?: { when: RegExp; keys: string }): Promise<{ code: number; raw: string }> {
  return new Promise((resolve, reject) => {
    // `script` gives the pseudo-terminal no size (0 × 0); give it the size the screen below emulates.
    const command = `stty cols 100 rows 40; ${[...COMMAND, ...args].map(shellQuote).join(" ")}`;
    const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: ROOT, env: { ...process.env, TERM: "xterm-256color", COLUMNS: "100", LINES: "40" } });
    let raw = "";
    let answered = answer === undefined;
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout.on("data", (chunk: Buffer) => {
      raw += chunk.toString("utf8");
      if (!answered && answer!.when.test(raw.replace(ANSI, ""))) {
        answered = true;
        child.stdin.write(answer!.keys);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, raw });
    });
  });
}

/** What a 100-column terminal shows after receiving `raw`: its lines, scrollback included, right-trimmed. */
export function screen(raw: string): Promise<string[]> {
  const term = new Terminal({ cols: 100, rows: 40, scrollback: 1000, allowProposedApi: true });
  return new Promise((resolve) => {
    term.write(raw, () => {
      const buf = term.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? "");
      while (lines.length && lines.at(-1) === "") lines.pop();
      term.dispose();
      resolve(lines);
    });
  });
}
