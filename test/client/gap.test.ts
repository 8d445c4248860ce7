import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type StreamGap } from "stepwise-ai/client";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Greeter } from "../server/fixtures.js";

let running: RunningServer;
beforeAll(async () => {
  // A log that keeps 2 events: a reader from the start of a longer run is told of a gap.
  const app = createServer({ workflows: { greeter: new Greeter() }, maxLogEvents: 2 });
  running = await serve(app, { port: 0, graceSeconds: 0 });
});
afterAll(() => running.close());

describe("client stream: events the server's log no longer holds", () => {
  it("tells onGap which positions were lost, before the first event after them, and goes on", async () => {
    const c = createClient({ baseUrl: running.url });
    const { runId } = await c.run("greeter", { name: "Ada", times: 10 }, { wait: 5 });
    const seen: string[] = [];
    const gaps: StreamGap[] = [];
    const gen = c.stream(runId, { onGap: (g) => (gaps.push(g), seen.push(`gap ${g.from}-${g.to}`)) });
    let next = await gen.next();
    for (; !next.done; next = await gen.next()) seen.push(`event ${next.value.id}`);
    expect(seen).toEqual(["gap 1-9", "event 10", "event 11"]);
    expect(gaps).toEqual([{ from: 1, to: 9 }]);
    expect(next.value).toEqual({ status: "completed", result: "hello Ada" });
  });

  it("reconnects after a gap from past it: the lost positions are reported once", async () => {
    const ids: (string | null)[] = [];
    let cut = true;
    // The first connection is cut right after its gap frame.
    const fetchCut: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const headers = new Headers(init?.headers);
      if (headers.get("Accept") !== "text/event-stream" || !res.body) return res;
      ids.push(headers.get("Last-Event-ID"));
      if (!cut) return res;
      cut = false;
      const text = await res.text();
      const first = text.slice(0, text.indexOf("\n\n") + 2);
      return new Response(first, { status: res.status, headers: res.headers });
    };
    const c = createClient({ baseUrl: running.url, fetch: fetchCut, reconnect: { delayMs: 1 } });
    const { runId } = await c.run("greeter", { name: "Bo", times: 10 }, { wait: 5 });
    const gaps: StreamGap[] = [];
    const got: number[] = [];
    for await (const m of c.stream(runId, { onGap: (g) => gaps.push(g) })) got.push(m.id);
    expect(gaps).toEqual([{ from: 1, to: 9 }]);
    expect(got).toEqual([10, 11]);
    expect(ids).toEqual([null, "9"]);
  });

  it("without onGap, a stream still delivers what is kept (existing callers unchanged)", async () => {
    const c = createClient({ baseUrl: running.url });
    const { runId } = await c.run("greeter", { name: "Cy", times: 10 }, { wait: 5 });
    const got: number[] = [];
    for await (const m of c.stream(runId)) got.push(m.id);
    expect(got).toEqual([10, 11]);
  });
});
