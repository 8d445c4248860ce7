import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { App, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, inspect, step, type InspectionEvent } from "stepwise-ai";
import {
  DrawError,
  KEPT_RUNS,
  buildExecutionDocument,
  buildFlowsDocument,
  drawAllPossibleFlows,
  drawMostRecentExecution,
  renderHtml,
  toMermaid,
} from "stepwise-ai/draw";
import { TradeMonitorWorkflow } from "../../examples/trade-monitor.js";
import { ComplexTradeMonitorV2 } from "../../examples/complex-trade-monitor-v2.js";
import { TradeStation } from "../../examples/trade-station.js";
import { StockTrader } from "../../examples/shared.js";

const tmp = mkdtempSync(join(tmpdir(), "stepwise-draw-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const quiet = { log: () => {}, speed: 0.001 };
const ids = (doc: { graphs: readonly { nodes: readonly { id: string }[] }[] }, i = 0) => doc.graphs[i]!.nodes.map((n) => n.id).sort();
const edges = (doc: { graphs: readonly { edges: readonly { from: string; to: string; kind: string; label?: string }[] }[] }, i = 0) =>
  doc.graphs[i]!.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}${e.label ? ` ${e.label}` : ""}`).sort();

describe("buildFlowsDocument", () => {
  it("draws a step's declared calls as an edge to a linked box of the nested workflow", () => {
    const doc = buildFlowsDocument(ComplexTradeMonitorV2);
    const box = doc.graphs[0]!.nodes.find((n) => n.kind === "workflow" && n.label === "TradeStation")!;
    expect(box).toBeDefined();
    expect(doc.graphs[0]!.edges).toContainEqual({ from: "step:trade", to: box.id, kind: "calls" });
    expect(doc.graphs.map((g) => g.title)).toContain("TradeStation");
  });

  it("has every step, every event type and the edges between them", () => {
    const doc = buildFlowsDocument(TradeMonitorWorkflow);
    expect(doc.kind).toBe("flows");
    expect(doc.title).toBe("TradeMonitorWorkflow");
    expect(ids(doc)).toEqual(
      ["event:BuyEvent", "event:GetSentimentEvent", "event:LoopEvent", "event:SellEvent", "event:StartEvent", "event:StopEvent", "step:begin", "step:buy", "step:getSentiment", "step:sell"].sort(),
    );
    expect(edges(doc)).toEqual(
      [
        "event:StartEvent -accepts-> step:begin",
        "event:LoopEvent -accepts-> step:begin",
        "step:begin -emits-> event:GetSentimentEvent",
        "step:begin -emits-> event:StopEvent",
        "event:GetSentimentEvent -accepts-> step:getSentiment",
        "step:getSentiment -emits-> event:BuyEvent",
        "step:getSentiment -emits-> event:SellEvent",
        "event:BuyEvent -accepts-> step:buy",
        "step:buy -emits-> event:LoopEvent",
        "event:SellEvent -accepts-> step:sell",
        "step:sell -emits-> event:LoopEvent",
      ].sort(),
    );
  });

  it("marks StartEvent and StopEvent, and orders nodes from the start so only loops point back", () => {
    const g = buildFlowsDocument(new TradeMonitorWorkflow(quiet)).graphs[0]!;
    expect(g.nodes.find((n) => n.id === "event:StartEvent")?.role).toBe("start");
    expect(g.nodes.find((n) => n.id === "event:StopEvent")?.role).toBe("stop");
    expect(g.nodes.find((n) => n.id === "event:BuyEvent")?.role).toBe("event");
    expect(g.nodes.map((n) => n.id).slice(0, 3)).toEqual(["event:StartEvent", "step:begin", "event:GetSentimentEvent"]);
  });

  it("draws waitsFor as its own edge kind and human-input events as input", () => {
    class Question extends InputRequiredEvent<{ q: string }> {}
    class Answer extends HumanResponseEvent<{ a: string }> {}
    class Asker extends Workflow {
      @step({ accepts: StartEvent, emits: [Question, StopEvent], waitsFor: Answer })
      async ask() {
        return new StopEvent();
      }
    }
    const g = buildFlowsDocument(Asker).graphs[0]!;
    expect(g.edges).toContainEqual({ from: "event:Answer", to: "step:ask", kind: "waitsFor" });
    expect(g.nodes.find((n) => n.id === "event:Question")?.role).toBe("input");
    expect(toMermaid(Asker)).toContain("event_Answer -.-> step_ask");
  });

  it("shows which member owns each step of an App, sharing the events between members", () => {
    class Asked extends Event<{ q: string }> {}
    class Front extends Workflow {
      @step({ accepts: StartEvent, emits: Asked })
      async ask() {
        return new Asked({ q: "?" });
      }
    }
    class Back extends Workflow {
      @step({ accepts: Asked, emits: StopEvent })
      async ask() {
        return new StopEvent();
      }
    }
    for (const target of [new App({ workflows: [new Front(), new Back()], name: "Desk" }), { workflows: [new Front(), Back], name: "Desk" }]) {
      const doc = buildFlowsDocument(target);
      expect(doc.title).toBe("Desk");
      expect(doc.owners).toEqual(["Front", "Back"]);
      const g = doc.graphs[0]!;
      // Both members have a step named "ask": owners keep them apart.
      expect(g.nodes.filter((n) => n.kind === "step").map((n) => [n.id, n.owner])).toEqual([
        ["step:Front/ask", "Front"],
        ["step:Back/ask", "Back"],
      ]);
      expect(g.nodes.filter((n) => n.id === "event:Asked")).toHaveLength(1);
      // Back is reached only through Front's event: it adds no StartEvent of its own.
      expect(g.nodes.filter((n) => n.role === "start")).toHaveLength(1);
      expect(g.edges).toContainEqual({ from: "step:Front/ask", to: "event:Asked", kind: "emits" });
      expect(g.edges).toContainEqual({ from: "event:Asked", to: "step:Back/ask", kind: "accepts" });
    }
    const mermaid = toMermaid(new App({ workflows: [new Front(), new Back()] }));
    expect(mermaid).toMatch(/subgraph owner_Front\["Front"\]\n\s+step_Front_ask\["ask"\]:::step\n\s+end/);
  });

  it("draws nested workflows as linked boxes with their own graphs", () => {
    const monitor = new ComplexTradeMonitorV2(quiet);
    monitor.addWorkflows({ tradeStation: new TradeStation() });
    const doc = buildFlowsDocument(monitor);
    expect(doc.graphs.map((g) => g.id)).toEqual(["main", "workflow:TradeStation"]);
    expect(doc.graphs[0]!.nodes).toContainEqual({ id: "workflow:TradeStation", kind: "workflow", label: "TradeStation", link: "workflow:TradeStation" });
    expect(ids(doc, 1)).toContain("step:trade");
    expect(toMermaid(monitor)).toMatch(/subgraph section_workflow_TradeStation\["TradeStation"\]/);
  });

  it("refuses what is not a workflow, saying what to pass", () => {
    expect(() => buildFlowsDocument(Object.create(null) as never)).toThrow(DrawError);
    expect(() => buildFlowsDocument(42 as never)).toThrow(/pass a Workflow class, a Workflow instance, or an App/);
    expect(() => buildFlowsDocument({ workflows: [1] })).toThrow(/App member 0 is number 1, not a workflow/);
  });
});

describe("toMermaid", () => {
  it("returns a flowchart with stadium events, box steps and styled start/stop", () => {
    const text = toMermaid(TradeMonitorWorkflow);
    expect(text.split("\n")[0]).toBe("flowchart TD");
    expect(text).toContain('event_StartEvent(["StartEvent"]):::start');
    expect(text).toContain('event_StopEvent(["StopEvent"]):::stop');
    expect(text).toContain('step_begin["begin"]:::step');
    expect(text).toContain("event_LoopEvent --> step_begin");
    expect(text).toContain("step_sell --> event_LoopEvent");
    expect(text).toMatch(/classDef start .*stroke-width:3px/);
  });

  it("keeps ids valid and labels escaped for odd names", () => {
    class Weird extends Event {
      static readonly type = 'say "hi" <now>';
    }
    const wf = new Workflow({ name: "odd" }).addStep({ accepts: StartEvent, emits: Weird, name: "a-b" }, async () => new Weird()).addStep({ accepts: Weird, emits: StopEvent, name: "c.d" }, async () => new StopEvent());
    const text = toMermaid(wf);
    expect(text).toContain('step_a_b["a-b"]');
    expect(text).toContain('(["say #quot;hi#quot; #lt;now#gt;"])');
    for (const line of text.split("\n").filter((l) => l.includes("-->"))) expect(line).toMatch(/^\s+\w+ --> \w+$/);
  });
});

describe("renderHtml", () => {
  it("is self-contained: inline elkjs and renderer, no external script, style or font", () => {
    const file = drawAllPossibleFlows(TradeMonitorWorkflow, { filename: join(tmp, "flows.html") });
    const html = readFileSync(file, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("g.ELK = f()");
    expect(html).not.toMatch(/<(script|img|iframe)[^>]+src=/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
  });

  it("escapes names so they cannot break out of the page", () => {
    const wf = new Workflow({ name: "</script><b>x</b>" }).addStep({ accepts: StartEvent, emits: StopEvent, name: "s" }, async () => new StopEvent());
    const html = renderHtml(buildFlowsDocument(wf));
    expect(html).not.toContain("<b>x</b>");
    expect(html).toContain("&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;");
    expect(html).toContain("\\u003c/script>\\u003cb>x\\u003c/b>");
  });

  it("writes workflow_all_flows.html by default, as LlamaIndex does", () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      expect(drawAllPossibleFlows(TradeMonitorWorkflow)).toBe(join(tmp, "workflow_all_flows.html"));
      expect(existsSync(join(tmp, "workflow_all_flows.html"))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("execution drawings", () => {
  it("draw what a run did from its inspection events: steps, counts, order, durations, events", async () => {
    const wf = new TradeMonitorWorkflow({ ...quiet, totalCycle: 2, random: () => 0.9 });
    const handler = wf.run({ payload: "AAPL" });
    await handler;
    const file = drawMostRecentExecution(handler, { filename: join(tmp, "run.html") });
    const html = readFileSync(file, "utf8");
    expect(html).toContain(handler.runId);
    expect(html).toContain("Timeline");

    const events: InspectionEvent[] = [];
    const wf2 = new TradeMonitorWorkflow({ ...quiet, totalCycle: 2, random: () => 0.9, inspect: (e) => events.push(e) });
    await wf2.run({ payload: "AAPL" });
    const doc = buildExecutionDocument(events);
    const g = doc.graphs[0]!;
    // random 0.9 → always Bullish: sell never ran and SellEvent never flowed.
    expect(ids(doc)).toEqual(["event:BuyEvent", "event:GetSentimentEvent", "event:LoopEvent", "event:StartEvent", "event:StopEvent", "step:begin", "step:buy", "step:getSentiment"].sort());
    const begin = g.nodes.find((n) => n.id === "step:begin")!;
    expect(begin.details?.[0]).toBe("#1 · ran ×3");
    expect(begin.details?.[1]).toMatch(/^\d+ ms total · \d+ ms avg$/);
    expect(g.nodes.find((n) => n.id === "step:buy")?.details?.[0]).toBe("#3 · ran ×2");
    expect(edges(doc)).toContain("event:LoopEvent -accepts-> step:begin ×2");
    expect(edges(doc)).toContain("step:begin -emits-> event:GetSentimentEvent ×2");
    expect(edges(doc)).toContain("step:begin -emits-> event:StopEvent ×1");
    expect(doc.summary).toMatch(/TradeMonitorWorkflow · run .* · completed in \d+ ms · 7 step runs/);
    const texts = doc.timeline!.map((t) => t.text);
    expect(texts[0]).toBe("run started with StartEvent");
    expect(texts.at(-1)).toMatch(/^run completed in/);
    expect(texts.filter((t) => t.startsWith("begin started"))).toHaveLength(3);
    expect(doc.timeline!.map((t) => t.at)).toEqual([...doc.timeline!.map((t) => t.at)].sort((a, b) => a - b));
  });

  it("marks failed steps", async () => {
    const wf = new Workflow({ name: "Fails" }).addStep({ accepts: StartEvent, emits: StopEvent, name: "boom", retry: { maxAttempts: 2 } }, async () => {
      throw new Error("nope");
    });
    const h = wf.run();
    await expect(h).rejects.toThrow();
    const doc = buildExecutionDocument(all, h.runId);
    const boom = doc.graphs[0]!.nodes.find((n) => n.id === "step:boom")!;
    expect(boom.failed).toBe(true);
    expect(boom.details?.[0]).toBe("#1 · ran ×2 · failed ×2");
    expect(doc.summary).toContain("failed");
  });

  it("draw nested runs as linked boxes, called by the step that started them", async () => {
    const monitor = new ComplexTradeMonitorV2(quiet);
    monitor.addWorkflows({ tradeStation: new TradeStation({ trader: new StockTrader(1, () => {}), log: () => {} }) });
    const h = monitor.run({ payload: "AAPL" });
    await h;
    const doc = buildExecutionDocument(all, h.runId);
    expect(doc.graphs).toHaveLength(2);
    const child = doc.graphs[1]!;
    expect(child.title).toBe("TradeStation");
    const box = doc.graphs[0]!.nodes.find((n) => n.kind === "workflow")!;
    expect(box.label).toBe("TradeStation");
    expect(box.link).toBe(child.id);
    expect(doc.graphs[0]!.edges).toContainEqual({ from: "step:trade", to: box.id, kind: "calls" });
    expect(doc.timeline!.some((t) => t.workflow === "TradeStation")).toBe(true);
  });

  it("draws the most recent run when given nothing, and explains what to do for a run it never saw", async () => {
    const wf = new Workflow({ name: "Latest" }).addStep({ accepts: StartEvent, emits: StopEvent, name: "only" }, async () => new StopEvent());
    await wf.run();
    expect(readFileSync(drawMostRecentExecution(undefined, { filename: join(tmp, "latest.html") }), "utf8")).toContain("Latest");
    expect(() => drawMostRecentExecution("no-such-run", { filename: join(tmp, "x.html") })).toThrow(/Run "no-such-run" was not recorded\. .*import it before starting the run/);
    expect(() => buildExecutionDocument([])).toThrow(DrawError);
  });

  it("keeps only the most recent runs", async () => {
    const wf = new Workflow({ name: "Tiny" }).addStep({ accepts: StartEvent, emits: StopEvent, name: "t" }, async () => new StopEvent());
    const first = wf.run();
    await first;
    for (let i = 0; i < KEPT_RUNS; i++) await wf.run();
    expect(() => drawMostRecentExecution(first, { filename: join(tmp, "old.html") })).toThrow(/was not recorded/);
  });
});

/** Every inspection event of this file's runs, nested ones included, as a user's own inspector would collect them. */
const all: InspectionEvent[] = [];
inspect((e) => all.push(e));
