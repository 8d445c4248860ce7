/** The seed's ComplexTradeMonitor: three sources at once, a vote with collectEvents, then a trade. */
import { Context, StartEvent, StopEvent, Workflow, step, type WorkflowOptions } from "stepwise-ai";
import { BaseEvent, StockTrader, isMain, sleep, type DemoOptions, type Sentiment } from "./shared.js";

export class WSBEvent extends BaseEvent {}
export class WSBSentimentEvent extends BaseEvent {}
export class WSJEvent extends BaseEvent {}
export class WSJSentimentEvent extends BaseEvent {}
export class TrendingPredictionEvent extends BaseEvent {}
export class PredictionResultEvent extends BaseEvent {}
export class TradeEvent extends BaseEvent {}

/**
 * Everything but the trade: the three sources and the vote. The seed's later versions differ
 * only in what `trade` does; TypeScript wants an override to keep its parent's types, so
 * ComplexTradeMonitorV3 (whose trade emits another event) extends this part directly.
 */
export class TradeSignals extends Workflow<{ payload: string }, string> {
  stock = "";
  readonly trader: StockTrader;
  readonly random: () => number;
  readonly speed: number;
  readonly log: (line: string) => void;
  /** The last vote, for whoever wants to see it. */
  voting: Record<string, number> = {};

  constructor({ random = Math.random, speed = 1, trader, log = console.log, ...options }: DemoOptions & WorkflowOptions = {}) {
    super(options);
    this.random = random;
    this.speed = speed;
    this.log = log;
    this.trader = trader ?? new StockTrader(500 * speed, log);
  }

  /** Pretend analysis: one to three seconds, then a sentiment (30% Bearish). */
  protected async analyse(signal: AbortSignal): Promise<Sentiment> {
    await sleep((1 + Math.floor(this.random() * 3)) * 1000 * this.speed, signal);
    return this.random() < 0.3 ? "Bearish" : "Bullish";
  }

  @step({ accepts: StartEvent, emits: [WSBEvent, WSJEvent, TrendingPredictionEvent] })
  async start(ev: StartEvent<{ payload: string }>, ctx: Context) {
    this.stock = ev.payload;
    ctx.sendEvent(new WSBEvent({ payload: ev.payload }));
    ctx.sendEvent(new WSJEvent({ payload: ev.payload }));
    ctx.sendEvent(new TrendingPredictionEvent({ payload: ev.payload }));
  }

  @step({ accepts: WSBEvent, emits: WSBSentimentEvent })
  async wsbSentiment(_ev: WSBEvent, ctx: Context) {
    return new WSBSentimentEvent({ payload: await this.analyse(ctx.signal) });
  }

  @step({ accepts: WSJEvent, emits: WSJSentimentEvent })
  async wsjSentiment(_ev: WSJEvent, ctx: Context) {
    return new WSJSentimentEvent({ payload: await this.analyse(ctx.signal) });
  }

  @step({ accepts: TrendingPredictionEvent, emits: PredictionResultEvent })
  async trendingPredict(_ev: TrendingPredictionEvent, ctx: Context) {
    return new PredictionResultEvent({ payload: await this.analyse(ctx.signal) });
  }

  @step({ accepts: [WSBSentimentEvent, WSJSentimentEvent, PredictionResultEvent], emits: TradeEvent })
  async tradingDecision(ev: WSBSentimentEvent | WSJSentimentEvent | PredictionResultEvent, ctx: Context) {
    const results = ctx.collectEvents(ev, [WSBSentimentEvent, WSJSentimentEvent, PredictionResultEvent]);
    if (results === null) return;
    const voting: Record<string, number> = {};
    for (const r of results) voting[r.payload] = (voting[r.payload] ?? 0) + 1;
    this.voting = voting;
    this.log(JSON.stringify(voting));
    const sentiment = Object.entries(voting).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "Bullish";
    return new TradeEvent({ payload: sentiment });
  }
}

export class ComplexTradeMonitor extends TradeSignals {

  @step({ accepts: TradeEvent, emits: StopEvent })
  async trade(ev: TradeEvent, _ctx: Context) {
    switch (ev.payload) {
      case "Bullish":
        await this.trader.buy(this.stock);
        break;
      case "Bearish":
        await this.trader.sell(this.stock);
        break;
      default:
        this.log("Do nothing");
    }
    return new StopEvent({ result: "We are done for the day." });
  }
}

if (isMain(import.meta.url)) {
  const tradeMonitor = new ComplexTradeMonitor({ timeout: 20, verbose: true });
  console.log(await tradeMonitor.run({ payload: "AAPL" }));
}
