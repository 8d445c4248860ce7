import type { AddressInfo } from "node:net";
import { serve as nodeServe } from "@hono/node-server";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Context, Event, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { Asker, Greeter } from "./fixtures.js";

let running: RunningServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const post = (url: string, body: unknown) => fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

describe("server over a real port", () => {
  it("starts a run, streams it and answers it over HTTP", async () => {
    running = await serve(createServer({ workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }) } }), { port: 0 });
    expect(running.port).toBeGreaterThan(0);
    const res = await post(`${running.url}/workflows/greeter/runs?wait=5`, { name: "Ada", times: 2 });
    expect(res.status).toBe(200);
    const { runId, result } = (await res.json()) as { runId: string; result: string };
    expect(result).toBe("hello Ada");
    const text = await (await fetch(`${running.url}/runs/${runId}/events`)).text();
    expect(text).toContain('id: 1\n');
    expect(text).toContain("event: end");

    const asked = (await (await post(`${running.url}/workflows/asker/runs`, {})).json()) as { runId: string };
    const nd = await fetch(`${running.url}/runs/${asked.runId}/events`, { headers: { Accept: "application/x-ndjson" } });
    expect(nd.headers.get("content-type")).toContain("application/x-ndjson");
    const reader = nd.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const lines: any[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let i;
      while ((i = buffered.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
        lines.push(line);
        if (line.type === "Question") expect((await post(`${running.url}/runs/${asked.runId}/events`, { type: "Answer", data: { response: "tea" } })).status).toBe(202);
      }
    }
    expect(lines.map((l) => `${l.kind}:${l.type ?? l.status}`)).toEqual(["event:Progress", "event:Question", "event:StopEvent", "end:completed"]);
    expect(lines.at(-1).result).toBe("you said tea");
  });
});

describe("event streams on the node server", () => {
  /** Counts `new TransformStream()` (what Hono's stream helpers make per response) while `f` runs. */
  async function countingTransformStreams<T>(f: () => Promise<T>): Promise<{ made: number; value: T }> {
    const Original = globalThis.TransformStream;
    let made = 0;
    globalThis.TransformStream = class extends Original<unknown, unknown> {
      constructor(...args: ConstructorParameters<typeof TransformStream<unknown, unknown>>) {
        super(...args);
        made++;
      }
    } as typeof TransformStream;
    try {
      const value = await f();
      return { made, value };
    } finally {
      globalThis.TransformStream = Original;
    }
  }

  it("are written straight to node's response (no web stream per reader), with the same bytes as through app.request", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() } });
    running = await serve(app, { port: 0 });
    const { runId } = (await (await post(`${running.url}/workflows/greeter/runs?wait=5`, { name: "Ada", times: 2 })).json()) as { runId: string };
    const url = `${running.url}/runs/${runId}/events`;
    const direct = await countingTransformStreams(async () => {
      const sseRes = await fetch(url);
      const ndRes = await fetch(url, { headers: { Accept: "application/x-ndjson" } });
      return { sse: await sseRes.text(), nd: await ndRes.text(), types: [sseRes.headers.get("content-type"), ndRes.headers.get("content-type")], cache: sseRes.headers.get("cache-control") };
    });
    expect(direct.made).toBe(0);
    expect(direct.value.types).toEqual(["text/event-stream", "application/x-ndjson"]);
    expect(direct.value.cache).toBe("no-cache");
    const viaHono = await countingTransformStreams(async () => ({
      sse: await (await app.request(`/runs/${runId}/events`)).text(),
      nd: await (await app.request(`/runs/${runId}/events`, { headers: { Accept: "application/x-ndjson" } })).text(),
    }));
    expect(viaHono.made).toBe(2);
    expect(direct.value.sse).toBe(viaHono.value.sse);
    expect(direct.value.nd).toBe(viaHono.value.nd);
    expect(direct.value.sse).toContain('data: {"id":3,"type":"StopEvent","data":{"result":"hello Ada"}}\nid: 3\n\nevent: end\n');
  });

  it("go through Hono's streams when CORS or the user's middleware set headers, which the answer then carries", async () => {
    const app = createServer({
      workflows: { greeter: new Greeter() },
      cors: true,
      middleware: [
        async (c, next) => {
          await next();
          c.header("X-Seen", "yes");
        },
      ],
    });
    running = await serve(app, { port: 0 });
    const { runId } = (await (await post(`${running.url}/workflows/greeter/runs?wait=5`, { name: "Bo" })).json()) as { runId: string };
    const res = await fetch(`${running.url}/runs/${runId}/events`, { headers: { Origin: "http://elsewhere.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("x-seen")).toBe("yes");
    expect(await res.text()).toBe('data: {"id":1,"type":"StopEvent","data":{"result":"hello Bo"}}\nid: 1\n\nevent: end\ndata: {"status":"completed","result":"hello Bo"}\n\n');
  });
});

describe("a server mounted in the user's own app on @hono/node-server", () => {
  it("streams through Hono's streams, so the outer app's middleware (CORS) still heads the answer", async () => {
    const server = createServer({ workflows: { greeter: new Greeter() } });
    const outer = new Hono();
    outer.use("*", cors());
    outer.route("/api", server);
    const node = nodeServe({ fetch: outer.fetch, port: 0, hostname: "127.0.0.1" });
    try {
      await new Promise<void>((r) => node.once("listening", () => r()));
      const url = `http://127.0.0.1:${(node.address() as AddressInfo).port}/api`;
      const { runId } = (await (await post(`${url}/workflows/greeter/runs?wait=5`, { name: "Cy" })).json()) as { runId: string };
      const res = await fetch(`${url}/runs/${runId}/events`, { headers: { Origin: "http://elsewhere.example" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(await res.text()).toBe('data: {"id":1,"type":"StopEvent","data":{"result":"hello Cy"}}\nid: 1\n\nevent: end\ndata: {"status":"completed","result":"hello Cy"}\n\n');
    } finally {
      await new Promise<void>((r) => node.close(() => r()));
      await server.shutdown(0);
    }
  });
});

describe("request headers on the node server", () => {
  it("are read from node's parsed headers: the content type (415), the length (413), and both through app.request alike", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() }, maxBodyBytes: 64 });
    running = await serve(app, { port: 0 });
    const url = `${running.url}/workflows/greeter/runs?wait=5`;
    const send = (body: string, type: string) => fetch(url, { method: "POST", body, headers: { "Content-Type": type } });
    const viaApp = (body: string, type: string) => app.request("/workflows/greeter/runs?wait=5", { method: "POST", body, headers: { "Content-Type": type } });
    for (const call of [send, viaApp]) {
      expect((await call('{"name":"Ada"}', "text/plain")).status).toBe(415);
      expect((await call(JSON.stringify({ name: "x".repeat(100) }), "application/json")).status).toBe(413);
      const ok = await call('{"name":"Ada"}', "application/vnd.api+json; charset=utf-8");
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { result: string }).result).toBe("hello Ada");
    }
  });
});

describe("a slow reader of a long stream on the node server", () => {
  class Chunk extends Event<{ n: number; pad: string }> {}
  /** Streams `count` events of about 4 KB each, then ends. */
  class Flood extends Workflow<{ count: number }, number> {
    @step({ accepts: StartEvent, emits: StopEvent })
    async go(ev: StartEvent<{ count: number }>, ctx: Context) {
      const pad = "x".repeat(4096);
      for (let n = 1; n <= ev.count; n++) ctx.writeEventToStream(new Chunk({ n, pad }));
      return new StopEvent({ result: ev.count });
    }
  }

  it("gets every frame once and in order when the socket's buffers fill (the writer waits for drain)", async () => {
    running = await serve(createServer({ workflows: { flood: new Flood() } }), { port: 0 });
    const count = 3000;
    const { runId } = (await (await post(`${running.url}/workflows/flood/runs?wait=10`, { count })).json()) as { runId: string };
    const res = await fetch(`${running.url}/runs/${runId}/events`);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // Read nothing for a while: the server's writes back up into node's buffer.
    await new Promise((r) => setTimeout(r, 200));
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: count + 1 }, (_, i) => i + 1));
    expect(text.endsWith(`event: end\ndata: {"status":"completed","result":${count}}\n\n`)).toBe(true);
  });
});
