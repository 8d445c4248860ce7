#!/usr/bin/env node
/**
 * The `stepwise` command: run a workflow file with live progress, or draw it.
 * This is the composition root: the one place that imports everything.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { drawCommand, runCommand, type DrawCommandOptions, type RunCommandOptions } from "./commands.js";
import { RunFailedError, UsageError } from "./errors.js";
import { registerRunsCommand } from "./runs.js";
import { loadWorkflows } from "./load.js";
import { registerWorkerCommand } from "../runtime/bullmq/command.js";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError("must be a number of seconds > 0.");
  return n;
}

/** The command-line program. */
function program(io = { stdout: process.stdout, stderr: process.stderr }): Command {
  const cli = new Command()
    .name("stepwise")
    .description("Run and draw stepwise workflows.")
    .version(version, "-v, --version")
    .showHelpAfterError('(run "stepwise --help" for usage)')
    .exitOverride();
  cli
    .command("run")
    .description("Run the workflow (or App) that FILE exports, with live progress, and print its result.")
    .argument("<file>", "a TypeScript or JavaScript file exporting a Workflow class, instance or App")
    .option("-w, --workflow <name>", "which exported workflow to run, when FILE exports several (export or class name)")
    .option("-i, --input <json>", "the StartEvent's fields as a JSON object")
    .addOption(new Option("--input-file <file>", "read the input JSON from a file").conflicts("input"))
    .option("--json", "print every inspection event and then the result as JSON lines")
    .option("-t, --timeout <seconds>", "fail the run after this many seconds", positiveSeconds)
    .option("-s, --store <file>", "journal the run in this SQLite file, so `stepwise runs` can show and resume it (default: .stepwise/runs.db)")
    .option("--no-store", "do not journal the run")
    .addHelpText("after", `\nExamples:\n  $ stepwise run examples/trade-monitor-v2.ts --input '{"payload":"AAPL"}'\n  $ stepwise run flows.ts --workflow Checkout --input-file order.json --json\n\nExit codes: 0 success, 1 the run failed, 2 bad usage or input.`)
    .exitOverride()
    .action(async (file: string, options: RunCommandOptions) => runCommand(file, options, io));
  cli
    .command("draw")
    .description("Draw every step, event and edge of the workflow FILE exports, as one offline HTML file (or Mermaid text).")
    .argument("<file>", "a TypeScript or JavaScript file exporting a Workflow class, instance or App")
    .option("-w, --workflow <name>", "which exported workflow to draw, when FILE exports several")
    .option("-o, --output <file>", "where to write (default: <WorkflowName>.html; with --mermaid, stdout)")
    .option("--mermaid", "write Mermaid flowchart text instead of HTML")
    .addHelpText("after", `\nExamples:\n  $ stepwise draw examples/trade-monitor.ts -o trade-monitor.html\n  $ stepwise draw examples/trade-monitor.ts --mermaid`)
    .exitOverride()
    .action(async (file: string, options: DrawCommandOptions) => drawCommand(file, options, io));
  registerRunsCommand(cli, io);
  registerWorkerCommand(cli, io, { loadWorkflows, usageError: (message, code) => new UsageError(message, code) });
  return cli;
}

/** Parses `argv` and runs the command; resolves to the exit code. */
async function main(argv: readonly string[], io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    await program(io).parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the message (or the help) already.
      return err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version" ? 0 : 2;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`stepwise: ${err.message}\n`);
      return 2;
    }
    if (err instanceof RunFailedError) {
      io.stderr.write(`stepwise: the run failed [${err.code}]: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`stepwise: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Steps still sleeping after the result (aborted, or fire-and-forget) must not keep the process alive.
process.exit(code);
