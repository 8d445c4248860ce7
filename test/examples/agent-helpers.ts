import { afterEach } from "vitest";
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from "../../examples/agent/fake-openai.js";

/** Starts fake OpenAI servers for one test file; every server it started is closed after each test. */
export function fakeServers(): (options?: FakeOpenAIOptions) => Promise<FakeOpenAI> {
  const servers: FakeOpenAI[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  return async (options = {}) => {
    const server = await startFakeOpenAI(options);
    servers.push(server);
    return server;
  };
}
