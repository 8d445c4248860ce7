import { describe, expect, it } from "vitest";
import { createServer } from "stepwise-ai/server";
import { MemoryStore, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { Asker } from "./fixtures.js";

/** Completes with its input's data. */
class Echo extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(ev: StartEvent<Record<string, unknown>>) {
    return new StopEvent({ result: ev.toJSON().data });
  }
}

const post = (body: string) => ({ method: "POST", body, headers: { "Content-Type": "application/json" } });
const make = () => createServer({ workflows: { echo: new Echo(), asker: new Asker({ timeout: null }) }, llamaindex: true });

describe("a __proto__ key written with escapes", () => {
  // "\u005f_proto__" and the like are the key "__proto__" once parsed.
  const escaped = ['\\u005f_proto__', '\\u005F\\u005Fproto__', '__\\u0070roto__', '__pr\\u006fto__', '__pro\\u0074o__', '__\\u0070\\u0072\\u006f\\u0074\\u006f\\u005f\\u005f'];

  it.each(escaped)("is refused in a run's input, nested (%s: 400 BAD_JSON, no run started)", async (key) => {
    const app = make();
    const res = await app.request("/workflows/echo/runs?wait=5", post(`{"nested":{"${key}":{"polluted":1}}}`));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("BAD_JSON");
    expect(app.runs.liveCount).toBe(0);
    expect(((await (await app.request("/runs")).json()) as { runs: unknown[] }).runs).toEqual([]);
  });

  it("is refused in an event's data, and in the JSON strings the LlamaIndex routes parse", async () => {
    const app = make();
    const { runId } = (await (await app.request("/workflows/asker/runs", post("{}"))).json()) as { runId: string };
    const key = "\\u005f_proto__";
    const event = await app.request(`/runs/${runId}/events`, post(`{"type":"Answer","data":{"response":"x","more":{"${key}":{"a":1}}}}`));
    expect(event.status).toBe(400);
    // LlamaIndex's clients may send the start event and the event as JSON text: the same rule, spelled plainly or not.
    for (const k of ["__proto__", key]) {
      const started = await app.request("/llamaindex/workflows/echo/run", post(JSON.stringify({ start_event: `{"nested":{"${k}":{"a":1}}}` })));
      expect(started.status).toBe(400);
      const sent = await app.request(`/llamaindex/events/${runId}`, post(JSON.stringify({ event: `{"type":"Answer","value":{"response":"y","more":{"${k}":{"a":1}}}}` })));
      expect(sent.status).toBe(400);
    }
    // The run still waits: nothing was delivered; a plain answer goes through.
    expect(((await (await app.request(`/runs/${runId}`)).json()) as { status: string }).status).toBe("waiting");
    expect((await app.request(`/runs/${runId}/events`, post('{"type":"Answer","data":{"response":"ok"}}'))).status).toBe(202);
  });

  it("leaves other escapes alone: non-ASCII text written as \\u escapes (as Python's json.dumps writes it) is taken", async () => {
    const res = await make().request("/workflows/echo/runs?wait=5", post('{"name":"Ren\\u00e9e \\u2603","proto":"\\u005f"}'));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: unknown }).result).toEqual({ name: "Renée ☃", proto: "_" });
  });
});

describe("a body that is not UTF-8", () => {
  // {"name":"café"} with the é in Latin-1 (0xE9): not UTF-8.
  const latin1 = Uint8Array.from([...new TextEncoder().encode('{"name":"caf'), 0xe9, ...new TextEncoder().encode('"}')]);
  const chunked = (...parts: Uint8Array[]) =>
    new ReadableStream<Uint8Array>({
      start(ctl) {
        for (const p of parts) ctl.enqueue(p);
        ctl.close();
      },
    });

  it("is refused (400 BAD_JSON), with a length or chunked, instead of its characters turning into U+FFFD", async () => {
    const app = make();
    const withLength = await app.request("/workflows/echo/runs?wait=5", { method: "POST", body: latin1, headers: { "Content-Type": "application/json", "Content-Length": String(latin1.length) } });
    expect(withLength.status).toBe(400);
    expect(((await withLength.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "BAD_JSON", message: expect.stringContaining("UTF-8") });
    const streamed = await app.request("/workflows/echo/runs?wait=5", { method: "POST", body: chunked(latin1), headers: { "Content-Type": "application/json" }, duplex: "half" });
    expect(streamed.status).toBe(400);
    expect(((await (await app.request("/runs")).json()) as { runs: unknown[] }).runs).toEqual([]);
  });

  it("takes UTF-8 whose characters are split across chunks, and a leading BOM", async () => {
    const app = make();
    const bytes = new TextEncoder().encode('{"name":"café ☃"}');
    const split = bytes.indexOf(0xc3) + 1; // inside the é
    const res = await app.request("/workflows/echo/runs?wait=5", { method: "POST", body: chunked(bytes.subarray(0, split), bytes.subarray(split)), headers: { "Content-Type": "application/json" }, duplex: "half" });
    expect(((await res.json()) as { result: unknown }).result).toEqual({ name: "café ☃" });
    const bom = await app.request("/workflows/echo/runs?wait=5", post('\ufeff{"name":"x"}'));
    expect(((await bom.json()) as { result: unknown }).result).toEqual({ name: "x" });
    // A real U+FFFD (valid UTF-8: EF BF BD), with a length, with and without a BOM: taken as sent.
    for (const text of ['{"name":"a\ufffdb"}', '\ufeff{"name":"a\ufffdb"}']) {
      const body = new TextEncoder().encode(text);
      const res = await app.request("/workflows/echo/runs?wait=5", { method: "POST", body, headers: { "Content-Type": "application/json", "Content-Length": String(body.length) } });
      expect(((await res.json()) as { result: unknown }).result).toEqual({ name: "a\ufffdb" });
    }
  });

  it("is refused with a length also after a BOM, and when it holds a real U+FFFD too", async () => {
    const app = make();
    const enc = (t: string) => new TextEncoder().encode(t);
    for (const body of [Uint8Array.from([0xef, 0xbb, 0xbf, ...latin1]), Uint8Array.from([...enc('{"a":"\ufffd",'), ...latin1.subarray(1)])]) {
      const res = await app.request("/workflows/echo/runs?wait=5", { method: "POST", body, headers: { "Content-Type": "application/json", "Content-Length": String(body.length) } });
      expect(res.status).toBe(400);
    }
  });
});

describe("a body nested too deep", () => {
  const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

  it("is refused (400 BAD_JSON) before a run starts, so the store's runs stay readable", async () => {
    const store = new MemoryStore();
    const app = createServer({ workflows: { echo: Echo, asker: Asker }, store, resume: false, llamaindex: true });
    // A few kilobytes: deep enough to overflow the stack of what copies or writes the data.
    const res = await app.request("/workflows/echo/runs?wait=5", post(`{"a":${nested(5000)}}`));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "BAD_JSON", message: expect.stringContaining("256") });
    expect(store.listRuns({})).toEqual([]);
    expect((await app.request("/runs")).status).toBe(200);
    // In an event's data, and in the JSON text the LlamaIndex routes parse, alike.
    const { runId } = (await (await app.request("/workflows/asker/runs", post("{}"))).json()) as { runId: string };
    expect((await app.request(`/runs/${runId}/events`, post(`{"type":"Answer","data":{"response":"x","deep":${nested(5000)}}}`))).status).toBe(400);
    expect((await app.request("/llamaindex/workflows/echo/run-nowait", post(JSON.stringify({ start_event: `{"a":${nested(5000)}}` })))).status).toBe(400);
    expect(store.listRuns({})).toHaveLength(1);
  });

  it("takes 256 levels, and brackets inside strings do not count", async () => {
    const app = make();
    const ok = await app.request("/workflows/echo/runs?wait=5", post(`{"a":${nested(255)},"s":"${"[".repeat(2000)}\\"{{{"}`));
    expect(ok.status).toBe(200);
    expect((await app.request("/workflows/echo/runs?wait=5", post(`{"a":${nested(256)}}`))).status).toBe(400);
  });
});
