import { describe, expect, it } from "vitest";
import { ComplexTradeMonitor } from "../../examples/complex-trade-monitor.js";
import { ProgressEvent, StockTrader } from "../../examples/shared.js";
import { SimpleWorkflow } from "../../examples/simple-workflow.js";
import { TradeMonitorWorkflow } from "../../examples/trade-monitor.js";
import { TradeMonitorWorkflowV2 } from "../../examples/trade-monitor-v2.js";

/** A repeatable random sequence. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};
const quiet = () => {};

describe("seed examples", () => {
  it("SimpleWorkflow returns its payload", async () => {
    expect(await new SimpleWorkflow({ timeout: 10 }).run({ payload: "hello world" })).toBe("hello world");
  });

  it("TradeMonitorWorkflow branches on sentiment and loops totalCycle times", async () => {
    const lines: string[] = [];
    const trader = new StockTrader(0, quiet);
    const wf = new TradeMonitorWorkflow({ totalCycle: 3, random: sequence(0.9, 0.1, 0.5), speed: 0.001, trader, log: (l) => lines.push(l), timeout: 10 });
    expect(await wf.run({ payload: "AAPL" })).toBe("We're done for the day.");
    expect(trader.orders).toEqual(["buy AAPL", "sell AAPL", "buy AAPL"]);
    expect(lines.filter((l) => l === "We now return to the begin step")).toHaveLength(4);
  });

  it("TradeMonitorWorkflowV2 streams its progress, then the StopEvent", async () => {
    const trader = new StockTrader(0, quiet);
    const wf = new TradeMonitorWorkflowV2({ totalCycle: 1, random: sequence(0.1), speed: 0.001, trader });
    const handler = wf.run({ payload: "MSFT" });
    const progress: string[] = [];
    for await (const ev of handler.streamEvents()) if (ev instanceof ProgressEvent) progress.push(ev.payload);
    expect(await handler).toBe("We're done for the day.");
    expect(progress).toEqual([
      "We now return to the begin step",
      "Will get the latest sentiment for stock MSFT",
      "We now sell some stock with sentiment Bearish",
      "We now return to the begin step",
    ]);
    expect(trader.orders).toEqual(["sell MSFT"]);
  });

  it("ComplexTradeMonitor runs three sources at once and trades on the vote", async () => {
    // The three draw their delays first (3 s, 1 s, 2 s, scaled), then a sentiment each as they finish.
    const trader = new StockTrader(0, quiet);
    const speed = 0.05;
    const wf = new ComplexTradeMonitor({ random: sequence(0.9, 0.1, 0.5, 0.1, 0.1, 0.9), speed, trader, log: quiet, timeout: 10 });
    const started = performance.now();
    expect(await wf.run({ payload: "TSLA" })).toBe("We are done for the day.");
    const elapsed = performance.now() - started;
    expect(wf.voting).toEqual({ Bearish: 2, Bullish: 1 });
    expect(trader.orders).toEqual(["sell TSLA"]);
    // Concurrent: about the slowest source (150 ms), well below the sum (300 ms).
    expect(elapsed).toBeLessThan(250);
  });
});
