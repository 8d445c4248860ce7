/**
 * `stepwise serve FILE`: serve every workflow a file exports. Kept out of the `stepwise-ai/server`
 * entry point (it loads files through the command line's loader); `src/cli/main.ts` registers it.
 */
import { instantiate, loadWorkflows } from "../cli/load.js";
import { openStore } from "../cli/store.js";
import { UsageError } from "../cli/errors.js";
import type { Store, Workflow } from "../index.js";
import { createServer } from "./app.js";
import { serve, type RunningServer } from "./serve.js";

/** Options of `stepwise serve`. */
export interface ServeFileOptions {
  port?: string | number;
  host?: string;
  /** SQLite file or `postgres://` URL (default: the CLI's store location); `false` for none. */
  store?: string | boolean;
  /** Bearer token the server requires (default: `STEPWISE_TOKEN` from the environment, else none). */
  token?: string;
  /** Also speak LlamaIndex's WorkflowServer protocol under this prefix (`true`: `/llamaindex`). */
  llamaindex?: string | boolean;
}

/** Serve what `file` exports until a signal closes the server; resolves when it has closed. */
export async function serveFile(file: string, options: ServeFileOptions, io: { stderr: { write(s: string): unknown } }): Promise<RunningServer> {
  const port = options.port === undefined ? 3000 : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0-65535), got ${JSON.stringify(options.port)}.`, "BAD_USAGE");
  const { candidates } = await loadWorkflows(file);
  if (candidates.length === 0) throw new UsageError(`"${file}" exports no workflow. Export a Workflow subclass, a Workflow instance, or an App.`, "NO_WORKFLOW");
  const store = await storeFor(options.store);
  const workflows: Record<string, Workflow> = {};
  for (const c of candidates) {
    const name = c.exportName === "default" ? c.name : c.exportName;
    workflows[name] = instantiate(c, store ? { store } : {});
    if (c.kind !== "class" && store) io.stderr.write(`stepwise: ${name} is an exported instance; it keeps its own store option (pass the same store to list and resume its runs).\n`);
  }
  const token = options.token ?? process.env.STEPWISE_TOKEN;
  const app = createServer({ workflows, ...(store ? { store } : {}), ...(token ? { auth: { token } } : {}), ...(options.llamaindex ? { llamaindex: options.llamaindex } : {}) });
  const running = await serve(app, { port, hostname: options.host ?? "127.0.0.1", handleSignals: true });
  const { resumed } = await app.ready;
  io.stderr.write(`stepwise: serving ${Object.keys(workflows).join(", ")} on ${running.url}${resumed.length ? ` (resumed ${resumed.length} run${resumed.length > 1 ? "s" : ""})` : ""}\n`);
  void running.closed.then(() => store?.close?.());
  return running;
}

async function storeFor(option: string | boolean | undefined): Promise<Store | undefined> {
  if (option === false) return undefined;
  if (typeof option === "string" && /^postgres(ql)?:\/\//.test(option)) {
    const { PostgresStore } = await import("../stores/postgres.js");
    return new PostgresStore(option);
  }
  return (await openStore(typeof option === "string" ? option : undefined, "create")).store;
}
