/**
 * The seed's TradeMonitorWorkflow (trade-monitor.ts) in the function style: no class, no
 * decorator. The cycle counter and the stock live in the run's `ctx.store` instead of on the
 * instance, so concurrent runs of one workflow do not share them and a stored run resumes with them.
 */
import { StartEvent, StopEvent, createWorkflow, step, type WorkflowOptions } from "stepwise-ai";
import { BuyEvent, GetSentimentEvent, LoopEvent, SellEvent, StockTrader, isMain, sleep, type DemoOptions } from "./shared.js";

export function tradeMonitor({ totalCycle = 1, random = Math.random, speed = 1, log = console.log, trader = new StockTrader(500 * speed, log), ...options }: { totalCycle?: number } & DemoOptions & WorkflowOptions = {}) {
  return createWorkflow({
    name: "TradeMonitorWorkflow",
    ...options,
    steps: {
      begin: step({ accepts: [StartEvent, LoopEvent], emits: [GetSentimentEvent, StopEvent] }, async (ev: StartEvent<{ payload: string }> | LoopEvent, ctx) => {
        log("We now return to the begin step");
        if (ev instanceof StartEvent) ctx.store.set("stock", ev.payload);
        const counter = ctx.store.get("counter", 0);
        if (counter < totalCycle) {
          await sleep(3000 * speed, ctx.signal);
          ctx.store.set("counter", counter + 1);
          return new GetSentimentEvent({ payload: ctx.store.get("stock", "") });
        }
        return new StopEvent({ result: "We're done for the day." });
      }),

      getSentiment: step({ accepts: GetSentimentEvent, emits: [BuyEvent, SellEvent] }, (ev) => {
        log(`Will get the latest sentiment for stock ${ev.payload}`);
        return random() < 0.3 ? new SellEvent({ payload: "Bearish" }) : new BuyEvent({ payload: "Bullish" });
      }),

      buy: step({ accepts: BuyEvent, emits: LoopEvent }, async (ev, ctx) => {
        log(`We now buy some stock with sentiment ${ev.payload}.`);
        await trader.buy(ctx.store.get("stock", ""));
        return new LoopEvent({ payload: "Start a new cycle." });
      }),

      sell: step({ accepts: SellEvent, emits: LoopEvent }, async (ev, ctx) => {
        log(`We now sell some stock with sentiment ${ev.payload}`);
        await trader.sell(ctx.store.get("stock", ""));
        return new LoopEvent({ payload: "Start a new cycle." });
      }),
    },
  });
}

if (isMain(import.meta.url)) {
  const wf = tradeMonitor({ totalCycle: 2, timeout: 20, verbose: true });
  console.log(await wf.run({ payload: "AAPL" })); // typed: string
}
