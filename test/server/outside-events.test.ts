import { describe, expect, it } from "vitest";
import { MemoryStore, suspendRun } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";
import { Asker } from "./fixtures.js";
import { waitFor } from "./wait.js";

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

describe("events a run makes itself are not sent into it from outside", () => {
  const own = [
    { type: "StopEvent", data: { result: "forged" } },
    { type: "StartEvent", data: { topic: "again" } },
    { type: "InputRequiredEvent", data: { prompt: "your password?" } },
  ];

  it.each(own)("refuses a $type sent to a live run (422 INVALID_EVENT; LlamaIndex route 400); the run goes on as it was", async (ev) => {
    const app = createServer({ workflows: { asker: new Asker({ timeout: null }) }, llamaindex: true });
    const { runId } = (await (await app.request("/workflows/asker/runs", post({ topic: "tea" }))).json()) as { runId: string };
    const info = async () => (await (await app.request(`/runs/${runId}`)).json()) as { status: string; result?: unknown; waitingFor: string[]; inputRequired: unknown[] };
    await waitFor(info, (i) => i.status === "waiting");
    const res = await app.request(`/runs/${runId}/events`, post(ev));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "INVALID_EVENT", message: expect.stringContaining(ev.type) });
    expect((await app.request(`/llamaindex/events/${runId}`, post({ event: { type: ev.type, value: ev.data } }))).status).toBe(400);
    expect(await info()).toMatchObject({ status: "waiting", waitingFor: ["Question"], inputRequired: [{ type: "Question" }] });
    expect((await app.request(`/runs/${runId}/events`, post({ type: "Answer", data: { response: "yes" } }))).status).toBe(202);
    const ended = await waitFor(info, (i) => i.status === "completed");
    expect(ended.result).toBe("you said yes");
    // Its stream holds what the run wrote, nothing a sender made up.
    const text = await (await app.request(`/runs/${runId}/events`)).text();
    expect(text).not.toContain("forged");
    expect(text).not.toContain("password");
    expect(text.match(/"type":"StopEvent"/g)).toHaveLength(1);
  });

  it("refuses a StopEvent sent to a stored run nobody runs (it is not continued with it)", async () => {
    const store = new MemoryStore();
    const app = createServer({ workflows: { asker: Asker }, store, resume: false });
    const { runId } = (await (await app.request("/workflows/asker/runs", post({}))).json()) as { runId: string };
    await waitFor(async () => store.getRun(runId)?.status, (s) => s === "waiting");
    await suspendRun(runId);
    expect((await app.request(`/runs/${runId}/events`, post(own[0]))).status).toBe(422);
    expect(app.runs.liveCount).toBe(0);
    expect(store.getRun(runId)?.status).toBe("waiting");
  });
});
