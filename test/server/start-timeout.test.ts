/**
 * Starting a run within the request timeout: a body that is slow to come is answered 504
 * REQUEST_TIMEOUT, over node's HTTP and through `app.fetch` alike, and no run starts.
 */
import { describe, expect, it } from "vitest";
import { connect } from "node:net";
import { MemoryStore } from "stepwise-ai";
import { createServer, serve } from "stepwise-ai/server";
import { Greeter } from "./fixtures.js";

/** A raw HTTP/1.1 exchange: the head and the first `partial` bytes of the body, then nothing more; resolves with what the server answered. */
async function slowUpload(url: string, path: string, contentLength: number, partial: string): Promise<string> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  await new Promise<void>((r) => socket.once("connect", () => r()));
  let answer = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (answer += d));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n${partial}`);
  // Answered (with its body) before the server gives up on the socket.
  await new Promise<void>((resolve) => {
    const check = () => (/\r\n\r\n[^]*\}$/.test(answer) ? resolve() : undefined);
    socket.on("data", check);
    socket.on("close", () => resolve());
  });
  socket.destroy();
  return answer;
}

describe("the start route's request timeout", () => {
  it.each([
    ["without a store", undefined],
    ["with a store", () => new MemoryStore()],
  ])("answers 504 to a body that does not arrive in time, over HTTP, %s", async (_, store) => {
    const app = createServer({ workflows: { greeter: Greeter }, requestTimeout: 0.2, resume: false, ...(store ? { store: store() } : {}) });
    const running = await serve(app, { port: 0, graceSeconds: 0 });
    try {
      const began = Date.now();
      const answer = await slowUpload(running.url, "/workflows/greeter/runs?wait=5", 100, '{"name":');
      expect(answer).toMatch(/^HTTP\/1\.1 504 /);
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)).error.code).toBe("REQUEST_TIMEOUT");
      expect(Date.now() - began).toBeGreaterThanOrEqual(150);
      expect(app.runs.liveCount).toBe(0);
      // A body sent whole still starts a run and answers it.
      const ok = await fetch(`${running.url}/workflows/greeter/runs?wait=5`, { method: "POST", body: JSON.stringify({ name: "Ada" }), headers: { "Content-Type": "application/json" } });
      expect(await ok.json()).toMatchObject({ status: "completed", result: "hello Ada" });
    } finally {
      await running.close();
    }
  });

  it("answers 504 to a body stream that never ends, through app.fetch (no node request)", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() }, requestTimeout: 0.1 });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"name":'));
      },
    });
    const res = await app.request("/workflows/greeter/runs?wait=5", { method: "POST", body, headers: { "Content-Type": "application/json" }, duplex: "half" });
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("REQUEST_TIMEOUT");
    expect(app.runs.liveCount).toBe(0);
  });
});
