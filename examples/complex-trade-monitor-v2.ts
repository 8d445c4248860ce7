/**
 * The seed's ComplexTradeMonitorV2: the trade step hands the order to a nested TradeStation.
 * In LlamaIndex the child is injected as a step parameter and added by hand after construction;
 * here `ctx.runWorkflow(TradeStation, input)` uses the instance added with `addWorkflows`
 * (the seed's API) or makes one, and links the child to this run.
 */
import { Context, StopEvent, step } from "stepwise-ai";
import { ComplexTradeMonitor, TradeEvent } from "./complex-trade-monitor.js";
import { isMain, type Sentiment } from "./shared.js";
import { TradeStation } from "./trade-station.js";

export class ComplexTradeMonitorV2 extends ComplexTradeMonitor {
  @step({ accepts: TradeEvent, emits: StopEvent, calls: TradeStation })
  override async trade(ev: TradeEvent, ctx: Context) {
    await ctx.runWorkflow(TradeStation, { sentiment: ev.payload as Sentiment, stock: this.stock });
    return new StopEvent({ result: "We are done for the day." });
  }
}

if (isMain(import.meta.url)) {
  const tradeMonitor = new ComplexTradeMonitorV2({ timeout: 20, speed: 0.3 });
  tradeMonitor.addWorkflows({ tradeStation: new TradeStation({ timeout: 10, verbose: true }) });
  console.log(await tradeMonitor.run({ payload: "AAPL" }));
}
