/**
 * What tracing costs: chain throughput (one run of N events) and short runs (N two-step runs),
 * with no tracer, with `@opentelemetry/api` installed but no SDK (the automatic tracer, and the
 * OpenTelemetry tracer over the API's no-op provider), and
 * with an SDK recording every span (to an exporter that drops them). Alternated in one process,
 * medians of several rounds, per CPU second. Benchmark only: nothing is asserted.
 *
 *   npx tsx --conditions=stepwise-source bench/otel.ts [--rounds 7] [--chain 100000] [--runs 10000] [--sdk]
 */
import { Event, getTracer, setTracer, StartEvent, StopEvent, Workflow, type Tracer } from "stepwise-ai";

const args = process.argv.slice(2);
const option = (name: string, d: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const rounds = option("--rounds", 7);
const chainN = option("--chain", 100_000);
const runsN = option("--runs", 10_000);

class Loop extends Event<{ n: number }> {}
class Mid extends Event<{ id: number }> {}

const chain = new Workflow().addStep({ accepts: [StartEvent, Loop], emits: [Loop, StopEvent] }, async function loop(ev) {
  const i = ev instanceof Loop ? ev.n : 0;
  return i < chainN ? new Loop({ n: i + 1 }) : new StopEvent({ result: i });
});
const two = new Workflow()
  .addStep({ accepts: StartEvent, emits: Mid }, async function first(ev: StartEvent<{ id: number }>) {
    return new Mid({ id: ev.id });
  })
  .addStep({ accepts: Mid, emits: StopEvent }, async function second(ev) {
    return new StopEvent({ result: ev.id });
  });

// CPU time (user + system) rather than wall time: steadier on a shared machine.
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};
async function chainRate(): Promise<number> {
  const t = process.cpuUsage();
  await chain.run();
  return chainN / cpuSeconds(t);
}
async function runsRate(): Promise<number> {
  const t = process.cpuUsage();
  const hs = [];
  for (let id = 0; id < runsN; id++) hs.push(two.run({ id }));
  await Promise.all(hs);
  return runsN / cpuSeconds(t);
}

// The tracer importing stepwise-ai installed (it waits for a provider to be registered), and the
// OpenTelemetry tracer itself over the API's no-op provider (what installOtel() sets).
const auto = getTracer() as Tracer;
const { installOtel } = await import("stepwise-ai/otel");
const explicit = installOtel();
const modes: [string, () => void][] = [
  ["no tracer", () => setTracer(undefined)],
  ["auto, no SDK", () => setTracer(auto)],
  ["installOtel, no SDK", () => setTracer(explicit)],
];
if (args.includes("--sdk")) {
  const { trace, context } = await import("@opentelemetry/api");
  const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
  const { BasicTracerProvider, SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const drop = { export: (_: unknown, done: (r: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(drop)] });
  const sdkTracer = installOtel({ tracerProvider: provider });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  void trace;
  modes.push(["SDK, recording", () => setTracer(sdkTracer)]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const [label, measure] of [["chain (events/s)", chainRate], ["runs (runs/s)", runsRate]] as const) {
  const rates = new Map<string, number[]>(modes.map(([m]) => [m, []]));
  for (let r = 0; r < rounds + 1; r++) {
    for (const [m, set] of r % 2 ? [...modes].reverse() : modes) {
      set();
      const rate = await measure();
      if (r > 0) rates.get(m)!.push(rate); // round 0 warms up
    }
  }
  const base = median(rates.get("no tracer")!);
  for (const [m] of modes) {
    const med = median(rates.get(m)!);
    console.log(`${label.padEnd(18)} ${m.padEnd(20)} ${Math.round(med).toString().padStart(9)}  ${(med / base).toFixed(3)}× of no tracer`);
  }
}
