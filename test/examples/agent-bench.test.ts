import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { benchScript, plainAgent, SequentialAgent, SYSTEM } from "../../bench/agent.js";
import { ReActAgent } from "../../examples/agent/agent.js";
import type { Tool } from "../../examples/agent/tools.js";
import { fakeServers } from "./agent-helpers.js";

// bench/agent.ts compares the agent with a hand-written loop and with itself one call at a
// time: the numbers mean something only if all three do the same work. No time is asserted.

const fake = fakeServers();

/** A tool that records how many of its calls run at once (each yields a few times). */
function countingTool() {
  const seen = { inFlight: 0, max: 0, calls: 0 };
  const tool: Tool = {
    name: "wait",
    description: "Wait for a while (an API call stand-in).",
    parameters: { type: "object", properties: { id: { type: "number" } } },
    async run(a) {
      seen.calls++;
      seen.max = Math.max(seen.max, ++seen.inFlight);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      seen.inFlight--;
      return `done ${String(a.id)}`;
    },
  };
  return { tool, seen };
}

async function bodies(run: (client: OpenAI, tool: Tool) => Promise<unknown>) {
  const server = await fake({ script: benchScript });
  const { tool, seen } = countingTool();
  await run(new OpenAI({ baseURL: server.baseURL, apiKey: "k", maxRetries: 0 }), tool);
  return { bodies: server.requests.map((r) => r.body), seen };
}

const options = (client: OpenAI, tool: Tool) => ({ client, model: "bench", tools: [tool], system: SYSTEM, timeout: 10 });

describe("bench/agent.ts", () => {
  it("the agent, its one-at-a-time variant and the plain-async loop send the same requests", async () => {
    const agent = await bodies((client, tool) => new ReActAgent(options(client, tool)).run({ question: "Wait eight times." }));
    const sequential = await bodies((client, tool) => new SequentialAgent(options(client, tool)).run({ question: "Wait eight times." }));
    const plain = await bodies((client, tool) => plainAgent(client, [tool], "Wait eight times.", true, () => {}));
    const plainSequential = await bodies((client, tool) => plainAgent(client, [tool], "Wait eight times.", false, () => {}));
    expect(agent.bodies).toHaveLength(2);
    expect(agent.bodies[1]?.messages.filter((m) => m.role === "tool")).toHaveLength(8);
    // Tool call ids are numbered per server, so each run's requests compare equal as a whole.
    for (const other of [sequential, plain, plainSequential]) expect(other.bodies).toEqual(agent.bodies);
    for (const r of [agent, sequential, plain, plainSequential]) expect(r.seen.calls).toBe(8);
    // What the comparison is about: eight calls at once, or one.
    expect([agent.seen.max, sequential.seen.max, plain.seen.max, plainSequential.seen.max]).toEqual([8, 1, 8, 1]);
  });
});
