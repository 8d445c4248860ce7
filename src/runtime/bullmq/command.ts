/**
 * `stepwise worker FILE --redis URL`: registered by the command line (src/cli/main.ts); BullMQ is
 * loaded only when the command runs, so the rest of the command line works without it.
 */
import { InvalidArgumentError, type Command } from "commander";
import type { WorkerCommandOptions, WorkflowLoader } from "./cli.js";

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1)) throw new InvalidArgumentError("must be a whole number ≥ 1.");
  return n;
}

/** Adds `stepwise worker` to `cli`. */
export function registerWorkerCommand(cli: Command, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }, loader: WorkflowLoader): void {
  cli
    .command("worker")
    .description("Run the steps of the workflows FILE exports for coordinators elsewhere (workflows whose runtime is a BullMQRuntime), until stopped with Ctrl-C or SIGTERM.")
    .argument("<file>", "a TypeScript or JavaScript file exporting the same workflows (or App) as the coordinators")
    .requiredOption("-r, --redis <url>", "the Redis the coordinators use, e.g. redis://127.0.0.1:6379")
    .option("-c, --concurrency <n>", "step jobs run at once per queue in this process (default 1)", wholeNumber)
    .option("-q, --queues <names...>", "consume only these queues (workflow or App member names)")
    .option("-p, --prefix <prefix>", "Redis key prefix of the queues (default stepwise)")
    .option("--coordinate", "also take over runs whose coordinator died (lease expired) and continue them here; FILE must export the shared store as `store`")
    .addHelpText(
      "after",
      `\nExamples:\n  $ stepwise worker flows.ts --redis redis://127.0.0.1:6379 --concurrency 8\n  $ stepwise worker app.ts --redis redis://cache:6379 --queues TradeStation\n  $ stepwise worker flows.ts --redis redis://cache:6379 --coordinate   # flows.ts: export const store = new PostgresStore(pool)`,
    )
    .exitOverride()
    .action(async (file: string, options: WorkerCommandOptions) => {
      const { runWorkerFromFile } = await import("./cli.js");
      await runWorkerFromFile(file, options, io, loader);
    });
}

