/**
 * A small research workflow to look at in a trace viewer: a plan, three tool calls in parallel, a
 * child run that stands in for a model call, and an answer. Run it with an OTLP endpoint:
 *
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npx tsx --conditions=stepwise-source examples/otel/research.ts
 */
import { Context, Event, StartEvent, step, StopEvent, Workflow } from "stepwise-ai";
import { isMain, sleep } from "../shared.js";

class Search extends Event<{ query: string }> {}
class Found extends Event<{ query: string; hits: number }> {}

/** Stands in for a model: the step is marked `kind: "llm"` (an LLM span in Phoenix, a generation in Langfuse). */
export class Summarize extends Workflow<{ hits: number[] }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, kind: "llm" })
  async summarize(ev: StartEvent<{ hits: number[] }>) {
    await sleep(20);
    return new StopEvent({ result: `${ev.hits.reduce((a, b) => a + b, 0)} results` });
  }
}

export class Research extends Workflow<{ topic: string }, string> {
  @step({ accepts: StartEvent, emits: Search })
  plan(ev: StartEvent<{ topic: string }>) {
    return ["papers", "news", "code"].map((where) => new Search({ query: `${ev.topic} ${where}` }));
  }

  /** A tool: an `execute_tool search` span each, concurrently. */
  @step({ accepts: Search, emits: Found, kind: "tool", numWorkers: 3 })
  async search(ev: Search) {
    await sleep(30 + ev.query.length);
    return new Found({ query: ev.query, hits: ev.query.length });
  }

  @step({ accepts: Found, emits: StopEvent, calls: Summarize })
  async answer(ev: Found, ctx: Context) {
    const all = ctx.collectEvents(ev, [Found, Found, Found]);
    if (all === null) return null;
    // A child run: its span nests under this step's.
    const summary = await ctx.runWorkflow(new Summarize(), { hits: all.map((f) => f.hits) });
    return new StopEvent({ result: summary });
  }
}

if (isMain(import.meta.url)) {
  const { startTracing } = await import("./tracing.js");
  const provider = startTracing();
  console.log(await new Research().run({ topic: "durable workflows" }));
  await provider.shutdown(); // flush the spans
}
