import { describe, expect, it } from "vitest";
import { ClientError, createClient } from "stepwise-ai/client";

const BASE = "http://stepwise.test";

/** A response whose body is `text`, sent as one chunk, then closed (as a cut connection ends). */
const answer = (text: string, status = 200, type = "text/event-stream") => new Response(text, { status, headers: { "Content-Type": type } });

describe("client against proxies and cut connections", () => {
  it("keeps waiting for a result across more cuts than reconnect.attempts when each connection worked (heartbeats)", async () => {
    // A proxy that ends every stream after a while: each connection delivered a heartbeat, then was cut.
    let connections = 0;
    const c = createClient({
      baseUrl: BASE,
      reconnect: { attempts: 2, delayMs: 1 },
      fetch: async () => (++connections <= 6 ? answer(": heartbeat\n\n") : answer('event: end\ndata: {"status":"completed","result":42}\n\n')),
    });
    expect(await c.result("r1")).toBe(42);
    expect(connections).toBe(7);
    // A run that waits (no events for a long time) is followed the same way by stream().
    connections = 0;
    const gen = c.stream("r1");
    expect(await gen.next()).toEqual({ done: true, value: { status: "completed", result: 42 } });
  });

  it("still gives up when connections deliver nothing in a row (STREAM_LOST)", async () => {
    let connections = 0;
    const c = createClient({ baseUrl: BASE, reconnect: { attempts: 2, delayMs: 1 }, fetch: async () => (connections++, answer("")) });
    await expect(c.result("r1")).rejects.toMatchObject({ code: "STREAM_LOST" });
    expect(connections).toBe(3);
  });

  it("reads and lets go of each 5xx answer's body before reconnecting", async () => {
    const bad: Response[] = [];
    const c = createClient({
      baseUrl: BASE,
      reconnect: { attempts: 5, delayMs: 1 },
      fetch: async () => {
        if (bad.length < 3) {
          const res = answer("<html>502 Bad Gateway</html>", 502, "text/html");
          bad.push(res);
          return res;
        }
        return answer('event: end\ndata: {"status":"completed","result":1}\n\n');
      },
    });
    expect(await c.result("r1")).toBe(1);
    expect(bad.map((r) => r.bodyUsed)).toEqual([true, true, true]);
  });

  it("names a proxy's error answer by its HTTP status when it is not the server's { error: { code, message } }", async () => {
    for (const body of ['{"error":"Bad Gateway"}', '{"error":{}}', '{"message":"Internal server error"}', "null", "<html>bad gateway</html>"]) {
      const c = createClient({ baseUrl: BASE, fetch: async () => answer(body, 502, "application/json") });
      const err = await c.run("greeter", {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect(err).toMatchObject({ code: "HTTP_502", status: 502 });
      expect((err as Error).message).toContain("502");
    }
  });

  it("answers a success that is not JSON (a captive portal's page) with a ClientError, not a SyntaxError", async () => {
    const c = createClient({ baseUrl: BASE, fetch: async () => answer("<html>Sign in to the Wi-Fi</html>", 200, "text/html") });
    const err = await c.get("r1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: "BAD_RESPONSE", status: 200 });
    expect((err as Error).message).toContain("Sign in");
  });
});

describe("a stream left early", () => {
  it("lets go of its connection when the loop over stream() breaks (the server stops sending to it)", async () => {
    let cancelled = 0;
    const c = createClient({
      baseUrl: BASE,
      fetch: async () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(ctl) {
              for (let id = 1; id <= 3; id++) ctl.enqueue(new TextEncoder().encode(`data: {"id":${id},"type":"E","data":{}}\nid: ${id}\n\n`));
              // The run goes on: the connection stays open.
            },
            cancel() {
              cancelled++;
            },
          }),
          { headers: { "Content-Type": "text/event-stream" } },
        ),
    });
    const seen: number[] = [];
    for await (const m of c.stream("r1")) {
      seen.push(m.id);
      if (m.id === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(cancelled).toBe(1);
  });
});

describe("client: numbers it sends", () => {
  it("sends ?wait in decimal digits as the server takes them, and refuses a wait that is not seconds", async () => {
    const urls: string[] = [];
    const c = createClient({ baseUrl: BASE, fetch: async (input) => (urls.push(input instanceof Request ? input.url : input instanceof URL ? input.href : input), answer('{"runId":"r"}', 202, "application/json")) });
    for (const w of [0.1 + 0.2, 1e-7, 5, 2.5]) await c.run("x", {}, { wait: w });
    expect(urls.map((u) => new URL(u).searchParams.get("wait"))).toEqual(["0.3", "0", "5", "2.5"]);
    for (const w of [-1, Number.NaN, Number.POSITIVE_INFINITY, "5" as unknown as number]) await expect(c.run("x", {}, { wait: w })).rejects.toBeInstanceOf(TypeError);
  });
});

describe("client: a stream answered by something other than the server's events", () => {
  it("fails with BAD_RESPONSE on a 200 that is not an event stream (a captive portal's page), instead of reconnecting for ever", async () => {
    let connections = 0;
    const page = "<html>\n<body>Sign in to the Wi-Fi</body>\n\n</html>\n\n";
    const c = createClient({ baseUrl: BASE, reconnect: { attempts: 3, delayMs: 1 }, fetch: async () => (connections++ < 50 ? answer(page, 200, "text/html") : answer('event: end\ndata: {"status":"completed","result":"fooled"}\n\n')) });
    const err = await c.result("r1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: "BAD_RESPONSE", status: 200 });
    expect((err as Error).message).toContain("text/html");
    expect(connections).toBe(1);
  });

  it("fails with BAD_RESPONSE on a frame whose data is not JSON, instead of reconnecting to the same frame for ever", async () => {
    for (const text of ["data: {not json\nid: 1\n\n", "event: end\ndata: <html>\n\n", "event: gap\ndata: nope\n\n", "data: 5\n\n", 'data: {"type":"E"}\n\n', "event: end\ndata: null\n\n", 'event: gap\ndata: {"from":"a"}\n\n']) {
      let connections = 0;
      const c = createClient({ baseUrl: BASE, reconnect: { attempts: 3, delayMs: 1 }, fetch: async () => (connections++ < 50 ? answer(text) : answer('event: end\ndata: {"status":"completed"}\n\n')) });
      const err = await (async () => {
        for await (const _ of c.stream("r1", { onGap: () => {} })) void _;
      })().catch((e: unknown) => e);
      expect(err, text).toBeInstanceOf(ClientError);
      expect(err, text).toMatchObject({ code: "BAD_RESPONSE" });
      expect(connections, text).toBe(1);
    }
  });
});

describe("client: a request aborted mid-way", () => {
  /** A fetch that answers only when aborted (a server that holds a ?wait, a slow proxy); records the signal it got. */
  function hanging() {
    const signals: (AbortSignal | undefined)[] = [];
    const f: typeof fetch = (_input, init) =>
      new Promise<Response>((_resolve, reject) => {
        const signal = init?.signal ?? undefined;
        signals.push(signal);
        signal?.addEventListener("abort", () => reject(new DOMException("This operation was aborted", "AbortError")), { once: true });
      });
    return { f, signals };
  }

  it("each request method takes a signal: aborting rejects with ClientError ABORTED (not NETWORK) and lets go of the request", async () => {
    const calls: [string, (c: ReturnType<typeof createClient>, signal: AbortSignal) => Promise<unknown>][] = [
      ["run", (c, signal) => c.run("x", {}, { wait: 25, signal })],
      ["get", (c, signal) => c.get("r1", { signal })],
      ["list", (c, signal) => c.list({ limit: 5, signal })],
      ["cancel", (c, signal) => c.cancel("r1", { signal })],
      ["sendEvent", (c, signal) => c.sendEvent("r1", { type: "E", data: {} }, { signal })],
      ["workflows", (c, signal) => c.workflows({ signal })],
    ];
    for (const [name, call] of calls) {
      const { f, signals } = hanging();
      const c = createClient({ baseUrl: BASE, fetch: f });
      const ctl = new AbortController();
      const pending = call(c, ctl.signal);
      expect(signals, name).toEqual([ctl.signal]);
      ctl.abort();
      const err = await pending.catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(ClientError);
      expect(err, name).toMatchObject({ code: "ABORTED", status: 0 });
    }
  });

  it("an already aborted signal sends nothing", async () => {
    const { f, signals } = hanging();
    const c = createClient({ baseUrl: BASE, fetch: f });
    await expect(c.get("r1", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORTED" });
    expect(signals).toEqual([]);
  });

  it("list() does not send the signal as a query parameter", async () => {
    const urls: string[] = [];
    const c = createClient({ baseUrl: BASE, fetch: async (input) => (urls.push(input instanceof Request ? input.url : input instanceof URL ? input.href : input), answer('{"runs":[],"nextCursor":null}', 200, "application/json")) });
    await c.list({ limit: 5, signal: new AbortController().signal });
    expect(urls).toEqual([`${BASE}/runs?limit=5`]);
  });
});
