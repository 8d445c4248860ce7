/**
 * LlamaIndex's WorkflowServer protocol, driven by LlamaIndex's own TypeScript client
 * (`@llamaindex/workflows-client`) against a real stepwise server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createClient,
  createConfig,
  getEventsByHandlerId,
  getHandlers,
  getHandlersByHandlerId,
  getHealth,
  getResultsByHandlerId,
  getWorkflows,
  getWorkflowsByNameEvents,
  getWorkflowsByNameRepresentation,
  getWorkflowsByNameSchema,
  postEventsByHandlerId,
  postHandlersByHandlerIdCancel,
  postWorkflowsByNameRun,
  postWorkflowsByNameRunNowait,
  type Client,
} from "@llamaindex/workflows-client";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Asker, Broken, Greeter, Stepper } from "./fixtures.js";

let running: RunningServer;
let client: Client;
beforeAll(async () => {
  const app = createServer({
    workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }), stepper: new Stepper({ timeout: null }), broken: new Broken() },
    auth: { token: "t0k" },
    llamaindex: "/llamaindex",
    heartbeat: 0.05,
  });
  running = await serve(app, { port: 0, graceSeconds: 0 });
  client = createClient(createConfig({ baseUrl: `${running.url}/llamaindex`, headers: { Authorization: "Bearer t0k" } }));
});
afterAll(() => running.close());

type Envelope = { type: string; value: Record<string, any>; types?: string[] | null; qualified_name?: string | null };

/** Read a handler's SSE stream with the client, calling `on` for each event; returns the events and their ids. */
async function read(handlerId: string, opts: { after?: number | "now"; lastEventId?: string; on?: (e: Envelope) => Promise<void> | void } = {}) {
  const ids: (string | undefined)[] = [];
  const { stream } = await getEventsByHandlerId({
    client,
    path: { handler_id: handlerId },
    query: { after_sequence: opts.after ?? -1 },
    ...(opts.lastEventId !== undefined ? { headers: { "Last-Event-ID": opts.lastEventId } } : {}),
    sseMaxRetryAttempts: 1,
    onSseEvent: (e) => {
      if (e.data !== undefined) ids.push(e.id);
    },
  });
  const events: Envelope[] = [];
  for await (const e of stream) {
    events.push(e as Envelope);
    await opts.on?.(e as Envelope);
  }
  return { events, ids };
}

describe("LlamaIndex protocol (with @llamaindex/workflows-client)", () => {
  it("lists workflows, answers health without a token, describes a workflow", async () => {
    expect((await getWorkflows({ client })).data?.workflows.sort()).toEqual(["asker", "broken", "greeter", "stepper"]);
    const health = await fetch(`${running.url}/llamaindex/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "healthy" });
    expect((await getHealth({ client })).data).toEqual({ status: "healthy" });

    const schema = (await getWorkflowsByNameSchema({ client, path: { name: "greeter" } })).data as { start: any; stop: any };
    expect(schema.start.title).toBe("Greet");
    expect(schema.start.required).toEqual(["name"]);
    expect(schema.stop.title).toBe("StopEvent");

    const { graph } = (await getWorkflowsByNameRepresentation({ client, path: { name: "asker" } })).data as { graph: any };
    expect(graph.name).toBe("Asker");
    expect(graph.nodes.map((n: any) => `${n.node_type}:${n.id}`).sort()).toEqual(["event:Answer", "event:StartEvent", "event:StopEvent", "external:external_step", "step:ask"]);
    expect(graph.edges).toEqual(expect.arrayContaining([{ source: "external_step", target: "Answer", label: null }, { source: "Answer", target: "ask", label: null }, { source: "ask", target: "StopEvent", label: null }]));
    expect(graph.nodes.find((n: any) => n.id === "Answer").event_types).toEqual(["Answer", "HumanResponseEvent"]);

    const events = (await getWorkflowsByNameEvents({ client, path: { name: "asker" } })).data?.events.map((e) => e.title);
    expect(events).toEqual(expect.arrayContaining(["StartEvent", "StopEvent", "Answer"]));

    const spec = (await (await fetch(`${running.url}/openapi.json`, { headers: { Authorization: "Bearer t0k" } })).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/llamaindex/workflows/{name}/run-nowait", "/llamaindex/events/{id}", "/llamaindex/handlers/{id}/cancel"]));

    const missing = await getWorkflowsByNameSchema({ client, path: { name: "nope" } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toEqual({ detail: "Workflow not found" });
  });

  it("runs a workflow and waits for its Handler", async () => {
    const { data, response } = await postWorkflowsByNameRun({ client, path: { name: "greeter" }, body: { start_event: { name: "Ada", times: 2 } } });
    expect(response.status).toBe(200);
    expect(data).toMatchObject({ workflow_name: "greeter", status: "completed", error: null, result: { type: "StopEvent", value: { result: "hello Ada" }, qualified_name: "workflows.events.StopEvent" } });
    expect(data?.handler_id).toBe(data?.run_id);
    expect(Date.parse(data!.started_at)).toBeGreaterThan(0);
    expect(data?.completed_at).not.toBeNull();

    // kwargs stand for start_event; an envelope { type, value } is taken too.
    const viaKwargs = await postWorkflowsByNameRun({ client, path: { name: "greeter" }, body: { kwargs: { name: "Bo" } } });
    expect((viaKwargs.data?.result as Envelope).value.result).toBe("hello Bo");
    const viaEnvelope = await postWorkflowsByNameRun({ client, path: { name: "greeter" }, body: { start_event: { type: "Greet", value: { name: "Cy" } } } });
    expect((viaEnvelope.data?.result as Envelope).value.result).toBe("hello Cy");

    const invalid = await postWorkflowsByNameRun({ client, path: { name: "greeter" }, body: { start_event: { name: "" } } });
    expect(invalid.response.status).toBe(400);
    expect((invalid.error as { detail: string }).detail).toContain("start_event");

    const failed = await postWorkflowsByNameRun({ client, path: { name: "broken" }, body: {} });
    expect(failed.response.status).toBe(500);
    expect(failed.error).toMatchObject({ status: "failed", error: expect.stringContaining("boom"), result: null });
  });

  it("starts a run, streams it, answers its InputRequiredEvent, and resumes the stream after a sequence", async () => {
    const started = await postWorkflowsByNameRunNowait({ client, path: { name: "asker" }, body: { start_event: { topic: "tea" } } });
    expect(started.response.status).toBe(200);
    const id = started.data!.handler_id;
    expect(started.data?.status).toBe("running");

    const { events, ids } = await read(id, {
      on: async (e) => {
        if (e.types?.includes("InputRequiredEvent")) {
          const sent = await postEventsByHandlerId({ client, path: { handler_id: id }, body: { event: { type: "Answer", value: { response: "green" } } } });
          expect(sent.data).toEqual({ status: "sent" });
        }
      },
    });
    expect(events.map((e) => e.type)).toEqual(["Progress", "Question", "StopEvent"]);
    expect(ids).toEqual(["0", "1", "2"]);
    expect(events[1]).toEqual({ type: "Question", value: { prompt: "What about tea?" }, types: ["InputRequiredEvent"], qualified_name: "stepwise.events.Question" });
    expect(events[2]!.value).toEqual({ result: "you said green" });

    const h = await getHandlersByHandlerId({ client, path: { handler_id: id } });
    expect(h.response.status).toBe(200);
    expect(h.data).toMatchObject({ status: "completed", result: { value: { result: "you said green" } } });
    expect((await getResultsByHandlerId({ client, path: { handler_id: id } })).data).toMatchObject({ handler_id: id, result: "you said green" });

    // Last-Event-ID (which the client sends when it reconnects) goes on after that sequence, exactly.
    const resumed = await read(id, { lastEventId: "0" });
    expect(resumed.events.map((e) => e.type)).toEqual(["Question", "StopEvent"]);
    expect(resumed.ids).toEqual(["1", "2"]);
    const fromQuery = await read(id, { after: 1 });
    expect(fromQuery.ids).toEqual(["2"]);

    // An ended run with nothing left after the position: 204, as LlamaIndex answers.
    const done = await fetch(`${running.url}/llamaindex/events/${id}?after_sequence=2`, { headers: { Authorization: "Bearer t0k" } });
    expect(done.status).toBe(204);
    const now = await fetch(`${running.url}/llamaindex/events/${id}`, { headers: { Authorization: "Bearer t0k" } });
    expect(now.status).toBe(204);

    // NDJSON with sse=false.
    const nd = await fetch(`${running.url}/llamaindex/events/${id}?sse=false&after_sequence=-1&include_qualified_name=false`, { headers: { Authorization: "Bearer t0k" } });
    expect(nd.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await nd.text()).trim().split("\n").map((l) => JSON.parse(l) as Envelope);
    expect(lines.map((l) => l.type)).toEqual(["Progress", "Question", "StopEvent"]);
    expect(lines.every((l) => l.qualified_name === null)).toBe(true);

    // An event to an ended run is a 409; an unknown event type a 400.
    const late = await postEventsByHandlerId({ client, path: { handler_id: id }, body: { event: { type: "Answer", value: { response: "x" } } } });
    expect(late.response.status).toBe(409);
    expect(late.error).toEqual({ detail: "Workflow already completed" });
  });

  it("cancels a waiting run; its stream ends with WorkflowCancelledEvent; handlers filter by status", async () => {
    const started = await postWorkflowsByNameRunNowait({ client, path: { name: "stepper" }, body: { start_event: { half: 2 } } });
    const id = started.data!.handler_id;

    const bad = await postEventsByHandlerId({ client, path: { handler_id: id }, body: { event: JSON.stringify({ type: "Nope", value: {} }) } });
    expect(bad.response.status).toBe(400);

    const { events, ids } = await read(id, {
      on: async (e) => {
        if (e.type === "Question") expect((await postHandlersByHandlerIdCancel({ client, path: { handler_id: id } })).data).toEqual({ status: "cancelled" });
      },
    });
    expect(events.map((e) => e.type)).toEqual(["Progress", "Progress", "Question", "WorkflowCancelledEvent"]);
    expect(events.at(-1)?.types).toEqual(["WorkflowTerminationEvent", "StopEvent"]);
    expect(ids).toEqual(["0", "1", "2", "3"]);

    const h = await getHandlersByHandlerId({ client, path: { handler_id: id } });
    expect(h.response.status).toBe(500);
    expect(h.error).toMatchObject({ handler_id: id, status: "cancelled" });
    // Cancelling again is not an error; purging is refused (runs stay in the store).
    expect((await postHandlersByHandlerIdCancel({ client, path: { handler_id: id } })).data).toEqual({ status: "cancelled" });
    expect((await postHandlersByHandlerIdCancel({ client, path: { handler_id: id }, query: { purge: true } })).response.status).toBe(400);

    const cancelled = (await getHandlers({ client, query: { status: ["cancelled"] } })).data?.handlers ?? [];
    expect(cancelled.map((x) => x.handler_id)).toContain(id);
    expect(cancelled.every((x) => x.status === "cancelled")).toBe(true);
    const byName = (await getHandlers({ client, query: { workflow_name: ["greeter"] } })).data?.handlers ?? [];
    expect(byName.length).toBeGreaterThan(0);
    expect(byName.every((x) => x.workflow_name === "greeter")).toBe(true);

    expect((await getHandlersByHandlerId({ client, path: { handler_id: "nope" } })).response.status).toBe(404);
    expect((await postHandlersByHandlerIdCancel({ client, path: { handler_id: "nope" } })).response.status).toBe(404);
  });

  it("streams a failed run's end as WorkflowFailedEvent and needs the token", async () => {
    const started = await postWorkflowsByNameRunNowait({ client, path: { name: "broken" }, body: {} });
    const { events } = await read(started.data!.handler_id);
    expect(events.at(-1)).toMatchObject({ type: "WorkflowFailedEvent", value: { step_name: "boom", exception_message: expect.stringContaining("boom"), exception_type: "WorkflowRuntimeError" } });
    const anonymous = await fetch(`${running.url}/llamaindex/workflows`);
    expect(anonymous.status).toBe(401);
  });
});

describe("LlamaIndex protocol, routes in process", () => {
  it("streams a run whose live log is gone from the store's journal, and lists stored handlers", async () => {
    const { MemoryStore } = await import("stepwise-ai");
    const store = new MemoryStore();
    const app = createServer({ workflows: { greeter: new Greeter({ store }) }, store, llamaindex: true, keepFinishedRuns: 0 });
    await app.ready;
    const started = await app.request("/llamaindex/workflows/greeter/run", { method: "POST", body: JSON.stringify({ start_event: { name: "Ada" } }), headers: { "Content-Type": "application/json" } });
    expect(started.status).toBe(200);
    const h = (await started.json()) as { handler_id: string; status: string };
    expect(h.status).toBe("completed");
    // Evicted at once (keepFinishedRuns: 0): what follows is read from the store.
    expect(app.runs.entry(h.handler_id)).toBeUndefined();
    const text = await (await app.request(`/llamaindex/events/${h.handler_id}?after_sequence=-1`)).text();
    const frames = text.trim().split("\n\n").map((b) => JSON.parse(b.split("\n").find((l) => l.startsWith("data: "))!.slice(6)) as Envelope);
    expect(frames.at(-1)).toMatchObject({ type: "StopEvent", value: { result: "hello Ada" } });
    expect((await app.request(`/llamaindex/events/${h.handler_id}`)).status).toBe(204);
    const listed = (await (await app.request("/llamaindex/handlers?status=completed")).json()) as { handlers: { handler_id: string; result: Envelope }[] };
    expect(listed.handlers.map((x) => x.handler_id)).toEqual([h.handler_id]);
    expect(listed.handlers[0]!.result.value.result).toBe("hello Ada");
    expect((await app.request("/llamaindex/nope")).status).toBe(404);
    expect(() => createServer({ workflows: { greeter: new Greeter() }, llamaindex: "/" })).toThrow(/path prefix/);
    await app.shutdown(0);
  });

  it("answers /run of a run let go of while it waited (suspended to its store) with its Handler, running, not a 500", async () => {
    const { MemoryStore, suspendRun } = await import("stepwise-ai");
    const store = new MemoryStore();
    const app = createServer({ workflows: { asker: new Asker({ store, timeout: null }) }, store, llamaindex: true });
    await app.ready;
    const answer = app.request("/llamaindex/workflows/asker/run", { method: "POST", body: JSON.stringify({ start_event: { topic: "tea" } }), headers: { "Content-Type": "application/json" } });
    let runId: string | undefined;
    for (let i = 0; i < 500 && runId === undefined; i++) {
      runId = store.listRuns({ status: "waiting" })[0]?.runId;
      if (runId === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    await suspendRun(runId as string);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ handler_id: runId, status: "running" });
    await app.shutdown(0);
  });
});
