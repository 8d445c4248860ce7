#!/usr/bin/env node
/**
 * The `stepwise` command: run a workflow file with live progress, or draw it.
 * This is the composition root: the one place that imports everything.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { drawCommand, runCommand, type DrawCommandOptions, type RunCommandOptions } from "./commands.js";
import { RunFailedError, RunWaitingError, UsageError } from "./errors.js";
import { STORE_HELP } from "./store.js";
import { WorkflowValidationError } from "../index.js";
import { MissingDependencyError, ownPackage } from "../optional.js";
import { noInputOption, registerRunsCommand } from "./runs.js";
import { clean } from "./text.js";
import { loadWorkflows } from "./load.js";
import { registerWorkerCommand } from "../runtime/bullmq/command.js";

const version = ownPackage().version;

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
    // Commander echoes the arguments it rejects; they may hold control characters.
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(clean(s)) })
    .exitOverride();
  cli
    .command("run")
    .description("Run the workflow (or App) that FILE exports, with live progress, and print its result.")
    .argument("<file>", "a TypeScript or JavaScript file exporting a Workflow class, instance or App")
    .option("-w, --workflow <name>", "which exported workflow to run, when FILE exports several (export or class name)")
    .option("-i, --input <json>", "the StartEvent's fields as a JSON object")
    .option("--input-file <file>", "read the input JSON from a file")
    .addOption(noInputOption("never prompt: a run that asks for input is left waiting (answer it with `stepwise runs send`)"))
    .option("--json", "print every inspection event and then the result as JSON lines")
    .option("-t, --timeout <seconds>", "fail the run after this many seconds", positiveSeconds)
    .option("-s, --store <file>", `journal the run in this SQLite file, so \`stepwise runs\` can show and resume it (${STORE_HELP})`)
    .option("--no-store", "do not journal the run")
    .addHelpText("after", `\nExamples:\n  $ stepwise run examples/trade-monitor-v2.ts --input '{"payload":"AAPL"}'\n  $ stepwise run flows.ts --workflow Checkout --input-file order.json --json\n\nA run that asks for input (an InputRequiredEvent) is asked about on the terminal; without one, or with --no-input, it is left waiting.\n\nExit codes: 0 success, 1 the run failed, 2 bad usage or input, 3 the run waits for input (stepwise runs send answers it).`)
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
  cli
    .command("serve")
    .description("Serve the workflows FILE exports over HTTP (API, event streams, and a page at /).")
    .argument("<file>", "a TypeScript or JavaScript file exporting Workflow classes, instances or Apps")
    .option("-p, --port <port>", "port to listen on", "3000")
    .option("--host <host>", "interface to listen on (0.0.0.0 for every one)", "127.0.0.1")
    .option("-s, --store <file|url>", "SQLite file or postgres:// URL for the runs (default: .stepwise/runs.db)")
    .option("--no-store", "keep runs in memory only")
    .option("--token <token>", "require Authorization: Bearer <token> (default: $STEPWISE_TOKEN)")
    .option("--llamaindex [prefix]", "also speak LlamaIndex's WorkflowServer protocol under this prefix (default /llamaindex)")
    .exitOverride()
    .action(async (file: string, options: import("../server/file.js").ServeFileOptions) => (await (await import("../server/file.js")).serveFile(file, options, io)).closed);
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
    // A workflow file that does not validate and a missing optional package are fixed by the user, like bad usage.
    if (err instanceof WorkflowValidationError) {
      io.stderr.write(`stepwise: the workflow is invalid [${err.code}]: ${clean(err.message)}\n`);
      return 2;
    }
    if (err instanceof UsageError || err instanceof MissingDependencyError) {
      io.stderr.write(`stepwise: ${clean(err.message)}\n`);
      return 2;
    }
    if (err instanceof RunWaitingError) {
      io.stderr.write(`stepwise: ${clean(err.message)}\n`);
      return 3;
    }
    if (err instanceof RunFailedError) {
      io.stderr.write(`stepwise: the run failed [${clean(err.code, true)}]: ${clean(err.message)}\n`);
      return 1;
    }
    io.stderr.write(`stepwise: unexpected error: ${clean(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Steps still sleeping after the result (aborted, or fire-and-forget) must not keep the process alive.
process.exit(code);
