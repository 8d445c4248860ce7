/**
 * The seed's ComplexTradeMonitorV3: instead of calling TradeStation, the monitor emits a
 * TradeEventV2 that TradeStation's step accepts. LlamaIndex cannot run this (sharing a Context
 * fails validation, and without validation it still fails). Here an App joins the two into
 * one event space; neither imports the other, they share only the event class.
 */
import { App, Event, StopEvent, step } from "stepwise-ai";
import { z } from "zod";
import { TradeEvent, TradeSignals } from "./complex-trade-monitor.js";
import { isMain } from "./shared.js";
import { TradingDesk } from "./trade-station.js";

/** The one thing both sides share. */
export class TradeEventV2 extends Event.schema(z.object({ sentiment: z.enum(["Bullish", "Bearish"]), stock: z.string() })) {}

export class ComplexTradeMonitorV3 extends TradeSignals {
  @step({ accepts: TradeEvent, emits: TradeEventV2 })
  async trade(ev: TradeEvent) {
    return new TradeEventV2({ sentiment: ev.payload as "Bullish" | "Bearish", stock: this.stock });
  }
}

/** TradeStation as the seed's second version has it: it accepts TradeEventV2, not a StartEvent. */
export class TradeStation extends TradingDesk {
  @step({ accepts: TradeEventV2, emits: StopEvent })
  async trade(ev: TradeEventV2) {
    this.log("We are now in a new workflow named TradeStation");
    if (ev.sentiment === "Bullish") await this.trader.buy(ev.stock);
    else await this.trader.sell(ev.stock);
    return new StopEvent({ result: "Done!" });
  }
}

/** The monitor and the station, joined. */
export function tradingApp(options: { monitor?: ComplexTradeMonitorV3; station?: TradeStation; timeout?: number } = {}): App<{ payload: string }, string> {
  return new App({
    workflows: [options.monitor ?? new ComplexTradeMonitorV3({ speed: 0.3 }), options.station ?? new TradeStation()],
    timeout: options.timeout ?? 20,
  });
}

if (isMain(import.meta.url)) {
  console.log(await tradingApp().run({ payload: "AAPL" }));
}
