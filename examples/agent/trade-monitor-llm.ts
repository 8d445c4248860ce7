/**
 * The seed's ComplexTradeMonitor with a model judging the sentiment instead of `random`: three
 * sources (r/wallstreetbets, the Wall Street Journal, a trend model) are each read and judged
 * by the model at once, as three concurrent steps; `collectEvents` takes the vote; the trade follows.
 *
 * Offline, against the fake server (its rule-based "model" counts good and bad news words):
 *
 *   npx tsx examples/agent/fake-openai.ts -- npx tsx --conditions=stepwise-source examples/agent/trade-monitor-llm.ts AAPL
 *
 * On a real endpoint: set OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL, and run the same file.
 */
import OpenAI from "openai";
import { Context, WorkflowError, step, type WorkflowOptions } from "stepwise-ai";
import { ComplexTradeMonitor, PredictionResultEvent, TrendingPredictionEvent, WSBEvent, WSBSentimentEvent, WSJEvent, WSJSentimentEvent } from "../complex-trade-monitor.js";
import { ProgressEvent, isMain, type DemoOptions, type Sentiment } from "../shared.js";
import { AgentConfigError } from "./agent.js";

/** Where the news comes from. */
export type Source = "wsb" | "wsj" | "trend";

const SOURCE_NAMES: Record<Source, string> = { wsb: "r/wallstreetbets", wsj: "The Wall Street Journal", trend: "a trend-following model's notes" };

/** Canned news, so the demo is the same every time (a real monitor would fetch it). */
export function cannedHeadlines(source: Source, stock: string): string[] {
  switch (source) {
    case "wsb":
      return [`${stock} to the moon after record quarter`, `Everyone is buying ${stock} calls, strong momentum`];
    case "wsj":
      return [`${stock} beats revenue estimates on services growth`, `Regulators open probe into ${stock} app store fees`];
    case "trend":
      return [`${stock} 50-day average turns down`, `Volume falls as ${stock} slips below support`];
  }
}

/** The model's answer did not name a sentiment (code `BAD_VERDICT`). */
export class VerdictError extends WorkflowError {
  override readonly code = "BAD_VERDICT";
}

export interface LLMTradeMonitorOptions extends DemoOptions, WorkflowOptions {
  /** Default: `new OpenAI()` (reads `OPENAI_BASE_URL`, `OPENAI_API_KEY`). */
  client?: OpenAI;
  /** Default: `OPENAI_MODEL`, else `gpt-4o-mini`. */
  model?: string;
  headlines?: (source: Source, stock: string) => string[] | Promise<string[]>;
}

const SYSTEM = "You judge the market sentiment of news about a stock. Reply with one word: Bullish or Bearish.";

/** ComplexTradeMonitor whose three sentiment steps ask a model. */
export class LLMTradeMonitor extends ComplexTradeMonitor {
  readonly #client: OpenAI | undefined;
  #lazyClient: OpenAI | undefined;
  readonly model: string;
  readonly headlines: (source: Source, stock: string) => string[] | Promise<string[]>;

  constructor({ client, model, headlines = cannedHeadlines, speed = 0.2, ...options }: LLMTradeMonitorOptions = {}) {
    super({ speed, ...options });
    this.#client = client;
    this.model = model ?? process.env.OPENAI_MODEL ?? "gpt-4o-mini";
    this.headlines = headlines;
  }

  get client(): OpenAI {
    if (this.#client) return this.#client;
    if (!process.env.OPENAI_API_KEY) throw new AgentConfigError("OPENAI_API_KEY is not set. Set it to your key, or run against examples/agent/fake-openai.ts (see the top of this file).");
    return (this.#lazyClient ??= new OpenAI());
  }

  /** Ask the model for the sentiment of `source`'s news about the stock. */
  async judge(source: Source, ctx: Context): Promise<Sentiment> {
    const news = await this.headlines(source, this.stock);
    const completion = await this.client.chat.completions.create(
      {
        model: this.model,
        temperature: 0,
        messages: [
          { role: "system", content: SYSTEM },
          { role: "user", content: `News about ${this.stock} from ${SOURCE_NAMES[source]}:\n${news.map((h) => `- ${h}`).join("\n")}` },
        ],
      },
      { signal: ctx.signal },
    );
    const said = completion.choices[0]?.message.content ?? "";
    const word = /\b(bullish|bearish)\b/i.exec(said)?.[1]?.toLowerCase();
    if (word === undefined) throw new VerdictError(`The model judged ${SOURCE_NAMES[source]} "${said.slice(0, 100)}", which is neither Bullish nor Bearish.`);
    const sentiment: Sentiment = word === "bullish" ? "Bullish" : "Bearish";
    ctx.writeEventToStream(new ProgressEvent({ payload: `${SOURCE_NAMES[source]}: ${sentiment}` }));
    return sentiment;
  }

  // A model may ramble once: one more try, then the run fails naming what it said.
  @step({ accepts: WSBEvent, emits: WSBSentimentEvent, retry: { maxAttempts: 2 } })
  override async wsbSentiment(_ev: WSBEvent, ctx: Context) {
    return new WSBSentimentEvent({ payload: await this.judge("wsb", ctx) });
  }

  @step({ accepts: WSJEvent, emits: WSJSentimentEvent, retry: { maxAttempts: 2 } })
  override async wsjSentiment(_ev: WSJEvent, ctx: Context) {
    return new WSJSentimentEvent({ payload: await this.judge("wsj", ctx) });
  }

  @step({ accepts: TrendingPredictionEvent, emits: PredictionResultEvent, retry: { maxAttempts: 2 } })
  override async trendingPredict(_ev: TrendingPredictionEvent, ctx: Context) {
    return new PredictionResultEvent({ payload: await this.judge("trend", ctx) });
  }
}

if (isMain(import.meta.url)) {
  const monitor = new LLMTradeMonitor({ timeout: 60 });
  const handler = monitor.run({ payload: process.argv[2] ?? "AAPL" });
  for await (const ev of handler.streamEvents()) if (ev instanceof ProgressEvent) console.log(ev.payload);
  console.log(await handler, JSON.stringify(monitor.voting));
}
