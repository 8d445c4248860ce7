/** The seed's TradeMonitorWorkflowV2: progress goes to the stream instead of the console. */
import { Context, StartEvent, StopEvent, Workflow, step, type WorkflowOptions } from "stepwise-ai";
import { BuyEvent, GetSentimentEvent, LoopEvent, ProgressEvent, SellEvent, StockTrader, isMain, sleep, type DemoOptions } from "./shared.js";

export class TradeMonitorWorkflowV2 extends Workflow<{ payload: string }, string> {
  readonly totalCycle: number;
  counter = 0;
  stock = "";
  readonly trader: StockTrader;
  readonly random: () => number;
  readonly speed: number;

  constructor({ totalCycle = 1, random = Math.random, speed = 1, trader, log = () => {}, ...options }: { totalCycle?: number } & DemoOptions & WorkflowOptions = {}) {
    super(options);
    this.totalCycle = totalCycle;
    this.random = random;
    this.speed = speed;
    this.trader = trader ?? new StockTrader(500 * speed, log);
  }

  @step({ accepts: [StartEvent, LoopEvent], emits: [GetSentimentEvent, StopEvent] })
  async begin(ev: StartEvent<{ payload: string }> | LoopEvent, ctx: Context) {
    ctx.writeEventToStream(new ProgressEvent({ payload: "We now return to the begin step" }));
    if (ev instanceof StartEvent) this.stock = ev.payload;
    if (this.counter < this.totalCycle) {
      await sleep(3000 * this.speed, ctx.signal);
      this.counter += 1;
      return new GetSentimentEvent({ payload: this.stock });
    }
    return new StopEvent({ result: "We're done for the day." });
  }

  @step({ accepts: GetSentimentEvent, emits: [BuyEvent, SellEvent] })
  async getSentiment(ev: GetSentimentEvent, ctx: Context) {
    ctx.writeEventToStream(new ProgressEvent({ payload: `Will get the latest sentiment for stock ${ev.payload}` }));
    return this.random() < 0.3 ? new SellEvent({ payload: "Bearish" }) : new BuyEvent({ payload: "Bullish" });
  }

  @step({ accepts: BuyEvent, emits: LoopEvent })
  async buy(ev: BuyEvent, ctx: Context) {
    ctx.writeEventToStream(new ProgressEvent({ payload: `We now buy some stock with sentiment ${ev.payload}.` }));
    await this.trader.buy(this.stock);
    return new LoopEvent({ payload: "Start a new cycle." });
  }

  @step({ accepts: SellEvent, emits: LoopEvent })
  async sell(ev: SellEvent, ctx: Context) {
    ctx.writeEventToStream(new ProgressEvent({ payload: `We now sell some stock with sentiment ${ev.payload}` }));
    await this.trader.sell(this.stock);
    return new LoopEvent({ payload: "Start a new cycle." });
  }
}

/** The seed's `streaming_log`. */
export function streamingLog(message: string): void {
  console.log(`${new Date().toTimeString().slice(0, 8)} ${message}`);
}

if (isMain(import.meta.url)) {
  const tradeMonitor = new TradeMonitorWorkflowV2({ totalCycle: 2, timeout: 20, speed: 0.3 });
  const handler = tradeMonitor.run({ payload: "AAPL" });
  for await (const event of handler.streamEvents()) {
    if (event instanceof ProgressEvent) streamingLog(event.payload);
  }
  console.log("Final result:", await handler);
}
