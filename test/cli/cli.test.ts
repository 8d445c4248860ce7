import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "dist/cli/main.js");
const fixture = (name: string) => join("test/fixtures/cli", name);
const tmp = mkdtempSync(join(tmpdir(), "stepwise-cli-"));
// Written here rather than kept as a fixture, so the repository's own typecheck and lint stay clean.
const brokenFile = join(tmp, "broken.mts");
writeFileSync(brokenFile, "export const x = ;\n");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a subprocess, without a terminal (stdout and stderr are pipes). */
function cli(args: readonly string[], timeout = 20_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout, env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const ESC = String.fromCharCode(27);

const shellQuote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** Runs the built CLI under a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function cliInTerminal(args: readonly string[]): Result {
  const command = [process.execPath, bin, ...args].map(shellQuote).join(" ");
  try {
    const stdout = execFileSync("script", ["-qec", command, "/dev/null"], { cwd: root, encoding: "utf8", timeout: 20_000, env: { ...process.env, TERM: "xterm-256color" } });
    return { code: 0, stdout, stderr: "" };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(() => {
  // The tests run the built command, as users and `npx stepwise` do.
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: root, stdio: "pipe" });
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("stepwise --help", () => {
  it("prints usage for the program and each command and exits 0", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Usage: stepwise/);
    expect(top.stdout).toMatch(/run \[options\] <file>/);
    expect(top.stdout).toMatch(/draw \[options\] <file>/);
    const run = await cli(["run", "--help"]);
    expect(run.code).toBe(0);
    for (const flag of ["--workflow", "--input", "--input-file", "--json", "--timeout", "Exit codes"]) expect(run.stdout).toContain(flag);
    const draw = await cli(["draw", "--help"]);
    expect(draw.code).toBe(0);
    for (const flag of ["--output", "--mermaid", "--workflow"]) expect(draw.stdout).toContain(flag);
  });

  it("prints the version", async () => {
    const r = await cli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("stepwise run without a terminal", () => {
  it("runs a TypeScript file, prints plain progress lines and the result, exits 0", async () => {
    const r = await cli(["run", fixture("greeter.ts"), "--input", '{"name":"Ada","times":2}']);
    expect(r.stderr).not.toContain(`${ESC}[`); // no escape codes in a pipe
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hello Ada, hello Ada\n");
    // The first run in a fresh checkout also says, once, where it made the journal.
    const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("stepwise: journaling runs in "));
    expect(lines[0]).toMatch(/^\[\s*0\.\d\ds\] run Greeter started/);
    const order = ["step greet running (on GreetStart)", 'stream Note {"note":"greeting Ada"}', "step greet done in", "step finish running (on Greeted)", "step finish done in", "run Greeter completed in"];
    let at = -1;
    for (const want of order) {
      const i = lines.findIndex((l, j) => j > at && l.includes(want));
      expect(i, `"${want}" after line ${at} in:\n${r.stderr}`).toBeGreaterThan(at);
      at = i;
    }
  });

  it("reads the input from --input-file", async () => {
    const file = join(tmp, "input.json");
    writeFileSync(file, JSON.stringify({ name: "Grace" }));
    const r = await cli(["run", fixture("greeter.ts"), "--input-file", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hello Grace\n");
  });

  it("prints the events and then the result as JSON lines with --json", async () => {
    const r = await cli(["run", fixture("greeter.ts"), "--input", '{"name":"Ada"}', "--json"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(["run_started", "step_started", "stream", "step_finished", "step_started", "stream", "step_finished", "run_finished", "result"]);
    expect(lines[0].input).toEqual({ type: "GreetStart", data: { name: "Ada", times: 1 } });
    expect(lines[2].event).toEqual({ type: "Note", data: { note: "greeting Ada" } });
    expect(lines[3].emitted).toEqual([{ type: "Greeted", data: { text: "hello Ada" } }]);
    expect(lines.at(-1)).toMatchObject({ kind: "result", status: "completed", result: "hello Ada" });
    expect(r.stderr).toBe("");
  });

  it("runs a plain JavaScript file exporting an instance, printing a non-string result as JSON", async () => {
    const r = await cli(["run", fixture("plain.mjs"), "--input", '{"n":21}']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ doubled: 42 });
  });

  it("picks the workflow --workflow names, by export name or class name", async () => {
    const lower = await cli(["run", fixture("several.ts"), "--workflow", "Lower", "--input", '{"text":"AbC"}']);
    expect(lower.code).toBe(0);
    expect(lower.stdout).toBe("abc\n");
    const instance = await cli(["run", fixture("several.ts"), "--workflow", "shouting", "--input", '{"text":"AbC"}']);
    expect(instance.code).toBe(0);
    expect(instance.stdout).toBe("ABC\n");
    expect(instance.stderr).toContain("run Shouting started");
  });

  it("runs the App a file exports along with its members' classes, its steps named by member", async () => {
    const r = await cli(["run", fixture("team.ts"), "--input", '{"q":"life"}']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("answer to life\n");
    expect(r.stderr).toContain("step Front.ask done");
    expect(r.stderr).toContain("step Back.answer done");
    const member = await cli(["run", fixture("team.ts"), "--workflow", "Front", "--input", '{"q":"life"}']);
    expect(member.code).toBe(2); // the file's workflow is wrong: bad input, not a failed run
    expect(member.stderr).toMatch(/\[INVALID_WORKFLOW\]: Workflow "Front" is invalid/);
  });
});

describe("stepwise run when the run fails", () => {
  it("exits 1 with the error's code and message, and no stack trace", async () => {
    const r = await cli(["run", fixture("fails.ts")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the run failed \[STEP_FAILED\]: .*the flux capacitor is empty/);
    expect(r.stderr).toContain("step explode failed");
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).toBe("");
  });

  it("reports the error as a JSON line with --json", async () => {
    const r = await cli(["run", fixture("fails.ts"), "--json"]);
    expect(r.code).toBe(1);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(last).toMatchObject({ kind: "error", code: "STEP_FAILED" });
    expect(last.message).toContain("the flux capacitor is empty");
  });

  it("fails with TIMEOUT after --timeout seconds", async () => {
    // The step would take two minutes; cli() kills the process after 20 s (code null), so only
    // the timeout can give exit code 1 with TIMEOUT. No wall-clock bound: CI machines are loaded.
    const r = await cli(["run", fixture("slow.ts"), "--timeout", "0.3"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[TIMEOUT\]/);
  });
});

describe("stepwise run with bad usage or input exits 2 with a clear message", () => {
  const cases: [string, string[], RegExp][] = [
    ["a missing file", ["run", "test/fixtures/cli/nope.ts"], /File "test\/fixtures\/cli\/nope\.ts" not found/],
    ["a file that exports no workflow", ["run", fixture("none.ts")], /exports no workflow\. Export a Workflow subclass/],
    ["several workflows and no --workflow", ["run", fixture("several.ts")], /exports 3 workflows: Lower, Upper, shouting \(Shouting\)\. Choose one with --workflow <name>/],
    ["a --workflow that is not exported", ["run", fixture("several.ts"), "--workflow", "Sideways"], /no workflow named "Sideways"; it exports: Lower, Upper, shouting/],
    ["input that is not valid JSON", ["run", fixture("greeter.ts"), "--input", "{name: Ada}"], /--input is not valid JSON .*e\.g\. --input '\{"payload":"AAPL"\}'/],
    ["input that is not an object", ["run", fixture("greeter.ts"), "--input", "[1,2]"], /--input must be a JSON object of StartEvent fields, got an array/],
    ["input the StartEvent's schema rejects", ["run", fixture("greeter.ts"), "--input", '{"name":"Ada","times":-3}'], /does not fit GreetStart, the StartEvent of Greeter: Invalid GreetStart: "times"/],
    ["a missing --input-file", ["run", fixture("greeter.ts"), "--input-file", "missing.json"], /Cannot read --input-file "missing\.json": no such file/],
    ["a file that does not compile", ["run", brokenFile], /Could not load ".*broken\.mts": Transform failed.*\n.*Unexpected ";"/],
    ["an unknown option", ["run", fixture("greeter.ts"), "--frobnicate"], /unknown option '--frobnicate'/],
    ["a bad --timeout", ["run", fixture("greeter.ts"), "--timeout", "soon"], /--timeout.*must be a number of seconds > 0/],
    ["no file", ["run"], /missing required argument 'file'/],
    ["an unknown command", ["fly"], /unknown command 'fly'/],
  ];
  it.each(cases)("%s", async (_name, args, message) => {
    const r = await cli(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).toBe("");
  });
});

describe("stepwise run on a terminal", () => {
  it("shows a live view: steps running then done, counts, elapsed time, streamed events", () => {
    const r = cliInTerminal(["run", fixture("greeter.ts"), "--input", '{"name":"Ada"}']);
    expect(r.code).toBe(0);
    const out = r.stdout;
    // Redrawn in place: log-update moves the cursor up and erases lines.
    expect(out).toContain("\x1b[1A");
    expect(out).toContain("\x1b[2K");
    const plain = out.replace(ANSI, "");
    expect(plain).toMatch(/greet\s+running\s+×1/);
    expect(plain).toMatch(/greet\s+done\s+×1\s+0\.\d\ds/);
    expect(plain).toMatch(/finish\s+done\s+×1/);
    expect(plain).toMatch(/finish\s+waiting/);
    expect(plain).toMatch(/Greeter\s+✔ completed\s+\d+\.\d\ds/);
    expect(plain).toMatch(/2 step runs · 2 done · 0 failed · \d+ events · 2 streamed/);
    expect(plain).toContain('↳ Note {"note":"greeting Ada"}');
    expect(plain.trimEnd().split(/\r?\n/).at(-1)).toBe("hello Ada");
  });

  it("shows the failure in the live view and exits 1", () => {
    const r = cliInTerminal(["run", fixture("fails.ts")]);
    expect(r.code).toBe(1);
    const plain = r.stdout.replace(ANSI, "");
    expect(plain).toMatch(/explode\s+failed/);
    expect(plain).toMatch(/✖ failed/);
    expect(plain).toContain("the run failed [STEP_FAILED]");
  });
});

describe("stepwise draw", () => {
  it("writes a self-contained HTML drawing with -o", async () => {
    const out = join(tmp, "greeter.html");
    const r = await cli(["draw", fixture("greeter.ts"), "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Wrote ${out}`);
    const html = readFileSync(out, "utf8");
    expect(html).toContain('"label":"GreetStart"');
    expect(html).toContain('"label":"greet"');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
  });

  it("prints Mermaid text with --mermaid", async () => {
    const r = await cli(["draw", fixture("several.ts"), "--workflow", "Lower", "--mermaid"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^flowchart TD\n/);
    expect(r.stdout).toContain("event_StartEvent --> step_down");
    expect(r.stdout).toContain("step_down --> event_StopEvent");
  });

  it("draws an App with its members", async () => {
    const out = join(tmp, "team.html");
    const r = await cli(["draw", fixture("team.ts"), "-o", out]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toContain('"owner":"Back"');
  });

  it("exits 2 on bad usage", async () => {
    const r = await cli(["draw", fixture("several.ts")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Choose one with --workflow/);
    expect(existsSync(join(root, "Upper.html"))).toBe(false);
  });
});

describe("npm start", () => {
  it("runs the seed's trade monitor through the stepwise command", () => {
    const script = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
    expect(script).toMatch(/src\/cli\/main\.ts run examples\/trade-monitor-v2\.ts/);
    const stdout = execFileSync("npm", ["start", "--silent"], { cwd: root, encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe"] });
    expect(stdout.trim()).toBe("We're done for the day.");
  }, 40_000);
});

describe("stepwise run --store", () => {
  it("journals a run of an exported class in SQLite, where `stepwise runs` finds it", async () => {
    const db = join(tmp, "runs.db");
    const ran = await cli(["run", fixture("greeter.ts"), "--input", '{"name":"Ada"}', "--store", db]);
    expect(ran.code).toBe(0);
    const listed = await cli(["runs", "list", "--store", db, "--json"]);
    expect(listed.code).toBe(0);
    const runs = listed.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe("completed");
  });

  it("journals nothing with --no-store", async () => {
    const db = join(tmp, "none.db");
    const ran = await cli(["run", fixture("greeter.ts"), "--input", '{"name":"Ada"}', "--store", db, "--no-store"]);
    expect(ran.code).toBe(0);
    expect(existsSync(db)).toBe(false);
  });

  it("refuses --store for an exported instance, whose options are its own", async () => {
    const r = await cli(["run", fixture("several.ts"), "--workflow", "shouting", "--input", '{"text":"a"}', "--store", join(tmp, "x.db")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--store works for an exported class/);
  });
});
