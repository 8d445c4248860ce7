/** The seed's TradeMonitorWorkflow: branching (buy or sell) and looping (a new cycle). */
import { StartEvent, StopEvent, Workflow, step, type WorkflowOptions } from "stepwise-ai";
import { BuyEvent, GetSentimentEvent, LoopEvent, SellEvent, StockTrader, isMain, sleep, type DemoOptions } from "./shared.js";

export class TradeMonitorWorkflow extends Workflow<{ payload: string }, string> {
  readonly totalCycle: number;
  counter = 0;
  stock = "";
  readonly trader: StockTrader;
  readonly random: () => number;
  readonly speed: number;
  readonly log: (line: string) => void;

  constructor({ totalCycle = 1, random = Math.random, speed = 1, trader, log = console.log, ...options }: { totalCycle?: number } & DemoOptions & WorkflowOptions = {}) {
    super(options);
    this.totalCycle = totalCycle;
    this.random = random;
    this.speed = speed;
    this.log = log;
    this.trader = trader ?? new StockTrader(500 * speed, log);
  }

  @step({ accepts: [StartEvent, LoopEvent], emits: [GetSentimentEvent, StopEvent] })
  async begin(ev: StartEvent<{ payload: string }> | LoopEvent) {
    this.log("We now return to the begin step");
    if (ev instanceof StartEvent) this.stock = ev.payload;
    if (this.counter < this.totalCycle) {
      await sleep(3000 * this.speed);
      this.counter += 1;
      return new GetSentimentEvent({ payload: this.stock });
    }
    return new StopEvent({ result: "We're done for the day." });
  }

  @step({ accepts: GetSentimentEvent, emits: [BuyEvent, SellEvent] })
  async getSentiment(ev: GetSentimentEvent) {
    this.log(`Will get the latest sentiment for stock ${ev.payload}`);
    return this.random() < 0.3 ? new SellEvent({ payload: "Bearish" }) : new BuyEvent({ payload: "Bullish" });
  }

  @step({ accepts: BuyEvent, emits: LoopEvent })
  async buy(ev: BuyEvent) {
    this.log(`We now buy some stock with sentiment ${ev.payload}.`);
    await this.trader.buy(this.stock);
    return new LoopEvent({ payload: "Start a new cycle." });
  }

  @step({ accepts: SellEvent, emits: LoopEvent })
  async sell(ev: SellEvent) {
    this.log(`We now sell some stock with sentiment ${ev.payload}`);
    await this.trader.sell(this.stock);
    return new LoopEvent({ payload: "Start a new cycle." });
  }
}

if (isMain(import.meta.url)) {
  const wf = new TradeMonitorWorkflow({ totalCycle: 2, timeout: 20, verbose: true });
  console.log(await wf.run({ payload: "AAPL" }));
}
