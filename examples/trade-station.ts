/** The seed's TradeStation: order placement split out of the monitor into a workflow of its own. */
import { StartEvent, StopEvent, Workflow, step, type WorkflowOptions } from "stepwise-ai";
import { StockTrader, type Sentiment } from "./shared.js";

/** A workflow that places orders through a {@link StockTrader}: the part both TradeStations share. */
export class TradingDesk<I extends object = Record<string, unknown>> extends Workflow<I, string> {
  readonly trader: StockTrader;
  readonly log: (line: string) => void;

  constructor({ trader, log = console.log, ...options }: { trader?: StockTrader; log?: (line: string) => void } & WorkflowOptions = {}) {
    super(options);
    this.log = log;
    this.trader = trader ?? new StockTrader(500, log);
  }
}

export class TradeStation extends TradingDesk<{ sentiment: Sentiment; stock: string }> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async trade(ev: StartEvent<{ sentiment: Sentiment; stock: string }>) {
    this.log("We are now in a new workflow named TradeStation");
    if (ev.sentiment === "Bullish") await this.trader.buy(ev.stock);
    else if (ev.sentiment === "Bearish") await this.trader.sell(ev.stock);
    return new StopEvent({ result: "Done!" });
  }
}
