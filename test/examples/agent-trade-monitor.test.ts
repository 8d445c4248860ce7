import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { WorkflowRuntimeError } from "stepwise-ai";
import { demoBrain, type FakeOpenAI, type FakeRequest } from "../../examples/agent/fake-openai.js";
import { LLMTradeMonitor, VerdictError, type LLMTradeMonitorOptions } from "../../examples/agent/trade-monitor-llm.js";
import { StockTrader } from "../../examples/shared.js";
import { fakeServers } from "./agent-helpers.js";

const fake = fakeServers();

const userText = (r: FakeRequest) => String(r.body.messages.find((m) => m.role === "user")?.content);

function monitor(server: FakeOpenAI, options: LLMTradeMonitorOptions = {}) {
  const trader = new StockTrader(0, () => {});
  const wf = new LLMTradeMonitor({ client: new OpenAI({ baseURL: server.baseURL, apiKey: "k", maxRetries: 0 }), model: "judge", trader, log: () => {}, timeout: 10, ...options });
  return { wf, trader };
}

describe("examples/agent/trade-monitor-llm: the seed's monitor with a model judging sentiment", () => {
  it("asks the model about the three sources at once, then trades on the vote", async () => {
    // Each reply waits until all three questions are in: asked one after another, they never would (1 s escape).
    const server: FakeOpenAI = await fake({ script: async (r) => (await Promise.race([server.waitForRequests(3), new Promise((res) => setTimeout(res, 1000))]), demoBrain(r)) });
    const { wf, trader } = monitor(server);
    expect(await wf.run({ payload: "AAPL" })).toBe("We are done for the day.");
    expect(server.maxConcurrent).toBe(3);
    expect(wf.voting).toEqual({ Bullish: 2, Bearish: 1 });
    expect(trader.orders).toEqual(["buy AAPL"]);
    expect(server.requests.map(userText).sort()).toEqual([
      expect.stringMatching(/^News about AAPL from The Wall Street Journal:\n- AAPL beats revenue estimates/),
      expect.stringMatching(/^News about AAPL from a trend-following model's notes:\n- AAPL 50-day average turns down/),
      expect.stringMatching(/^News about AAPL from r\/wallstreetbets:\n- AAPL to the moon/),
    ]);
    for (const r of server.requests) expect(r.body).toMatchObject({ model: "judge", temperature: 0 });
  });

  it("sells when the news is bad", async () => {
    const server = await fake();
    const { wf, trader } = monitor(server, { headlines: (_source, stock) => [`${stock} misses estimates, layoffs announced`] });
    await wf.run({ payload: "TSLA" });
    expect(wf.voting).toEqual({ Bearish: 3 });
    expect(trader.orders).toEqual(["sell TSLA"]);
  });

  it("asks once more when the model rambles instead of judging", async () => {
    let rambled = false;
    const server = await fake({
      script: (r) => {
        if (!rambled && userText(r).includes("wallstreetbets")) {
          rambled = true;
          return { content: "Markets are hard to predict." };
        }
        return { content: "bearish." };
      },
    });
    const { wf } = monitor(server);
    await wf.run({ payload: "AAPL" });
    expect(server.requests).toHaveLength(4);
    expect(wf.voting).toEqual({ Bearish: 3 });
  });

  it("fails naming what the model said when it never judges", async () => {
    const server = await fake({ script: [{ content: "No comment" }] });
    const err = await monitor(server).wf.run({ payload: "AAPL" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRuntimeError);
    expect((err as Error).cause).toBeInstanceOf(VerdictError);
    expect((err as Error).cause).toMatchObject({ code: "BAD_VERDICT", message: expect.stringMatching(/judged .* "No comment", which is neither Bullish nor Bearish/) });
  });
});
