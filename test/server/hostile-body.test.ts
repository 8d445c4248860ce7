import { describe, expect, it } from "vitest";
import { createServer } from "stepwise-ai/server";
import { StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
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
