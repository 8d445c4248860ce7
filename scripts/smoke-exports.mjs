// Imports every subpath export of the BUILT package by its public name, as a user would
// (no `stepwise-source` condition): run after `npm run build`.
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const expected = {
  "stepwise-ai": ["Workflow", "step", "Event", "StartEvent", "StopEvent", "App", "Context", "MemoryStore", "WorkflowError"],
  "stepwise-ai/draw": ["drawAllPossibleFlows", "drawMostRecentExecution", "toMermaid"],
  "stepwise-ai/sqlite": ["SqliteStore"],
  "stepwise-ai/postgres": ["PostgresStore"],
  "stepwise-ai/server": ["createServer", "serve", "ServerError"],
  "stepwise-ai/client": ["createClient", "ClientError", "StepwiseClient"],
  "stepwise-ai/bullmq": ["BullMQRuntime", "createWorker", "BullMQRuntimeError", "DEFAULT_LOCK_SETTINGS"],
  "stepwise-ai/otel": ["otelTracer", "installOtel", "traceCarrier", "withTraceCarrier"],
};
let failed = false;
for (const sub of Object.keys(pkg.exports).filter((k) => k !== "./package.json")) {
  const name = sub === "." ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
  try {
    const mod = await import(name);
    const missing = (expected[name] ?? []).filter((k) => !(k in mod));
    if (missing.length) throw new Error(`missing exports: ${missing.join(", ")}`);
    console.log(`ok   ${name} (${Object.keys(mod).length} exports)`);
  } catch (err) {
    failed = true;
    console.error(`FAIL ${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
process.exit(failed ? 1 : 0);
