/** The client's stream across a server restart on the same store: it reconnects with its last id, and goes on exactly after it. */
import { describe, expect, it } from "vitest";
import { request } from "node:http";
import { MemoryStore } from "stepwise-ai";
import { createClient } from "stepwise-ai/client";
import { createServer, serve } from "stepwise-ai/server";
import { Answer, Progress, Question, Stepper } from "../server/fixtures.js";

/**
 * POST on a new connection: fetch's pool may still hold a kept-alive socket to the server just
 * closed, and a POST on it fails ("fetch failed"; fetch retries no POST). That is the transport's,
 * not what this test is about.
 */
function postFresh(url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent: false, headers: { "Content-Type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("client stream across a restart", () => {
  it("a second server on the same store and port serves the rest: nothing lost, nothing repeated, and a second reader sees the same", async () => {
    const store = new MemoryStore();
    const wf = new Stepper({ store, timeout: null });
    const first = await serve(createServer({ workflows: { stepper: wf }, store }), { port: 0, graceSeconds: 0 });
    const port = new URL(first.url).port;
    const c = createClient<{ stepper: Stepper }>({ baseUrl: first.url, reconnect: { delayMs: 5, attempts: 20 } });
    const { runId } = await c.run("stepper", { half: 2 });
    const seen: string[] = [];
    const other: number[] = [];
    // A second reader of the same run, from its start, alongside.
    const second = (async () => {
      for await (const m of c.stream(runId)) other.push(m.id);
    })();
    let restarted: Awaited<ReturnType<typeof serve>> | undefined;
    for await (const m of c.stream(runId, { events: [Progress, Question] })) {
      seen.push(`${m.id} ${m.type}${m.journal ? " (journal)" : ""}`);
      if (m.event instanceof Question && restarted === undefined) {
        await first.close();
        restarted = await serve(createServer({ workflows: { stepper: new Stepper({ store, timeout: null }) }, store }), { port: Number(port), graceSeconds: 0 });
        expect(await postFresh(`${restarted.url}/runs/${runId}/events`, new Answer({ response: "on" }).toJSON())).toBe(202);
      }
    }
    await second;
    await restarted?.close();
    expect(seen.map((s) => s.replace(" (journal)", ""))).toEqual(["1 Progress", "2 Progress", "3 Question", "4 Progress", "5 Progress", "6 StopEvent"]);
    expect(other).toEqual([1, 2, 3, 4, 5, 6]);
    expect(store.getRun(runId)).toMatchObject({ status: "completed", result: "on" });
  });
});
