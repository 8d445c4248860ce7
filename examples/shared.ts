/** Events and helpers the seed article's trade monitor shares across its versions. */
import { Event } from "stepwise-ai";

/** Every event of the trade monitor carries a `payload` (the seed types it `str | dict | None`; here every use is a string). */
export class BaseEvent extends Event<{ payload: string }> {}
export class SecondStepEvent extends BaseEvent {}
export class LoopEvent extends BaseEvent {}
export class GetSentimentEvent extends BaseEvent {}
export class BuyEvent extends BaseEvent {}
export class SellEvent extends BaseEvent {}
export class ProgressEvent extends BaseEvent {}

export type Sentiment = "Bullish" | "Bearish";

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    }, { once: true });
  });

/** Pretend broker: each order takes `latencyMs`. */
export class StockTrader {
  readonly orders: string[] = [];
  constructor(private readonly latencyMs = 500, private readonly log: (line: string) => void = console.log) {}

  async buy(stock: string): Promise<void> {
    await sleep(this.latencyMs);
    this.orders.push(`buy ${stock}`);
    this.log(`Buying ${stock}`);
  }

  async sell(stock: string): Promise<void> {
    await sleep(this.latencyMs);
    this.orders.push(`sell ${stock}`);
    this.log(`Selling ${stock}`);
  }
}

/** Options the examples take so tests can make them fast and deterministic. */
export interface DemoOptions {
  /** Returns a number in [0, 1); the seed uses Math.random. */
  random?: () => number;
  /** Multiplies every pretend latency (1 = the seed's seconds; tests pass 0.001). */
  speed?: number;
  trader?: StockTrader;
  log?: (line: string) => void;
}

/** True when this module is the program being run (not imported by a test). */
export const isMain = (url: string) => process.argv[1] !== undefined && url === new URL(`file://${process.argv[1]}`).href;
