/** examples/trade-monitor-functions.ts against its class twin, examples/trade-monitor.ts. */
import { describe, expect, it } from "vitest";
import { tradeMonitor } from "../../examples/trade-monitor-functions.js";
import { TradeMonitorWorkflow } from "../../examples/trade-monitor.js";
import { StockTrader } from "../../examples/shared.js";
import { toMermaid } from "../../src/draw/index.js";

const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

async function runBoth(make: "class" | "functions"): Promise<{ result: string; orders: string[]; lines: string[] }> {
  const lines: string[] = [];
  const trader = new StockTrader(0, () => {});
  const options = { totalCycle: 3, random: sequence(0.9, 0.1, 0.5), speed: 0.001, trader, log: (l: string) => lines.push(l), timeout: 10 };
  const wf = make === "class" ? new TradeMonitorWorkflow(options) : tradeMonitor(options);
  const result = await wf.run({ payload: "AAPL" });
  return { result, orders: trader.orders, lines };
}

describe("trade monitor, function style", () => {
  it("does what the class version does, line for line", async () => {
    const fn = await runBoth("functions");
    expect(fn.result).toBe("We're done for the day.");
    expect(fn.orders).toEqual(["buy AAPL", "sell AAPL", "buy AAPL"]);
    expect(fn).toEqual(await runBoth("class"));
  });

  it("draws the same graph as the class version", () => {
    expect(toMermaid(tradeMonitor())).toBe(toMermaid(TradeMonitorWorkflow));
  });

  it("keeps each run's counter and stock apart (per-run state, not instance fields)", async () => {
    const trader = new StockTrader(0, () => {});
    const wf = tradeMonitor({ totalCycle: 2, random: () => 0.9, speed: 0.001, trader, log: () => {} });
    await Promise.all([wf.run({ payload: "AAPL" }), wf.run({ payload: "MSFT" })]);
    expect(trader.orders.sort()).toEqual(["buy AAPL", "buy AAPL", "buy MSFT", "buy MSFT"]);
  });
});
