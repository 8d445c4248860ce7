/** A client that goes away while it sends a body is no server failure: nothing is reported to onError. */
import { describe, expect, it } from "vitest";
import { connect } from "node:net";
import type { MiddlewareHandler } from "hono";
import { createServer, serve } from "stepwise-ai/server";
import { Asker, Greeter } from "./fixtures.js";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("a request body cut off by the client", () => {
  it.each([
    ["Transfer-Encoding: chunked", '5\r\n{"nam\r\n'],
    ["Content-Length: 1000", '{"nam'],
  ])("(%s) is answered without an onError report, and the server goes on", async (header, partial) => {
    const errors: unknown[] = [];
    let handled = deferred();
    let arrived = deferred();
    // Tells the test when the route has begun (the body is being read) and when its answer is made.
    const watch: MiddlewareHandler = async (_c, next) => {
      arrived.resolve();
      try {
        await next();
      } finally {
        handled.resolve();
      }
    };
    const app = createServer({ workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }) }, middleware: [watch], llamaindex: true, onError: (e) => errors.push(e) });
    const running = await serve(app, { port: 0, graceSeconds: 0 });
    try {
      const u = new URL(running.url);
      for (const path of ["/workflows/greeter/runs", "/llamaindex/workflows/greeter/run"]) {
        handled = deferred();
        arrived = deferred();
        const socket = connect(Number(u.port), u.hostname);
        await new Promise<void>((r) => socket.once("connect", () => r()));
        socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${header}\r\n\r\n${partial}`);
        await arrived.promise;
        socket.destroy();
        await handled.promise;
      }
      expect(errors).toEqual([]);
      expect(app.runs.liveCount).toBe(0);
      const ok = await fetch(`${running.url}/workflows/greeter/runs?wait=5`, { method: "POST", body: JSON.stringify({ name: "Ada" }), headers: { "Content-Type": "application/json" } });
      expect(await ok.json()).toMatchObject({ status: "completed", result: "hello Ada" });
    } finally {
      await running.close();
    }
  });
});
