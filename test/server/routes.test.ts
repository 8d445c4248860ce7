import { describe, expect, it, vi } from "vitest";
import { MemoryStore } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";
import { Asker, Broken, Greeter, Parent } from "./fixtures.js";
import { waitFor } from "./wait.js";

const json = (body: unknown, headers: Record<string, string> = {}) => ({ method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "Content-Type": "application/json", ...headers } });
/** app.request with a body typed for tests. */
const rq = async (app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> }, path: string, init?: RequestInit) => (await app.request(path, init)) as Omit<Response, "json"> & { json(): Promise<any> };
const make = (extra: Partial<Parameters<typeof createServer>[0]> = {}) => createServer({ workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }), broken: new Broken(), parent: new Parent() }, ...extra });

/** Reads a run's SSE stream to its end and returns the frames. */
async function frames(app: ReturnType<typeof make>, runId: string, query = "") {
  const text = await (await rq(app, `/runs/${runId}/events${query}`)).text();
  return text
    .split("\n\n")
    .filter((b) => b.trim() && !b.startsWith(":"))
    .map((block) => {
      const f: Record<string, string> = {};
      for (const line of block.split("\n")) {
        const i = line.indexOf(": ");
        f[line.slice(0, i)] = line.slice(i + 2);
      }
      return { id: f.id, event: f.event ?? "message", data: JSON.parse(f.data ?? "null") };
    });
}

describe("server routes", () => {
  it("answers /health", async () => {
    const res = await rq(make(), "/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", workflows: 4 });
  });

  it("lists workflows with their graph, input schema and event types", async () => {
    const body = await (await rq(make(), "/workflows")).json();
    const greeter = body.workflows.find((w: any) => w.name === "greeter");
    expect(greeter.workflow).toBe("Greeter");
    expect(greeter.startEvent).toBe("Greet");
    expect(greeter.inputSchema.properties.name.type).toBe("string");
    expect(greeter.inputSchema.required).toEqual(["name"]);
    expect(greeter.eventTypes).toEqual(expect.arrayContaining(["Greet", "StopEvent"]));
    expect(greeter.graph.graphs[0].nodes.map((n: any) => n.label)).toEqual(expect.arrayContaining(["greet", "Greet", "StopEvent"]));
    const asker = body.workflows.find((w: any) => w.name === "asker");
    expect(asker.inputSchema).toBeNull();
    expect(asker.externalEventTypes).toContain("Answer");
    expect((await rq(make(), "/workflows/asker")).status).toBe(200);
  });

  it("starts a run (202), and with ?wait returns its result", async () => {
    const app = make();
    const res = await rq(app, "/workflows/greeter/runs", json({ name: "Ada" }));
    expect(res.status).toBe(202);
    const { runId } = await res.json();
    expect(typeof runId).toBe("string");
    const done = await rq(app, "/workflows/greeter/runs?wait=5", json({ name: "Bo" }));
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ status: "completed", result: "hello Bo", workflow: "greeter", input: { type: "Greet", data: { name: "Bo" } } });
  });

  it("returns 202 when ?wait passes before the run ends", async () => {
    const res = await rq(make(), "/workflows/asker/runs?wait=0.01", json({}));
    expect(res.status).toBe(202);
  });

  it("rejects input the StartEvent's schema rejects with 422 naming the field", async () => {
    const res = await rq(make(), "/workflows/greeter/runs", json({ name: 3 }));
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.error.code).toBe("INVALID_INPUT");
    expect(body.error.message).toContain('"name"');
    expect(body.error.details.issues[0].path).toBe("name");
    const arr = await rq(make(), "/workflows/greeter/runs", json([1]));
    expect(arr.status).toBe(422);
    expect((await arr.json()).error.message).toContain("an array");
  });

  it("answers bad JSON with 400, a __proto__ key with 400, a non-JSON type with 415", async () => {
    const app = make();
    const bad = await rq(app, "/workflows/greeter/runs", json('{"name": '));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe("BAD_JSON");
    const proto = await rq(app, "/workflows/greeter/runs", json('{"name":"x","__proto__":{"polluted":1}}'));
    expect(proto.status).toBe(400);
    expect((await proto.json()).error.message).toContain("__proto__");
    const ctl = await rq(app, "/workflows/greeter/runs", json('{"name":"a\u0001b"}'));
    expect(ctl.status).toBe(400);
    const text = await rq(app, "/workflows/greeter/runs", { method: "POST", body: "name=x", headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    expect(text.status).toBe(415);
  });

  it("answers an unknown workflow, run or route with 404", async () => {
    const app = make();
    const wf = await rq(app, "/workflows/nope/runs", json({}));
    expect(wf.status).toBe(404);
    expect((await wf.json()).error).toMatchObject({ code: "WORKFLOW_NOT_FOUND", details: { workflow: "nope" } });
    for (const path of ["/runs/nope", "/runs/nope/events"]) {
      const r = await rq(app, path);
      expect(r.status).toBe(404);
      expect((await r.json()).error.code).toBe("RUN_NOT_FOUND");
    }
    expect((await rq(app, "/runs/nope/events", json({ type: "Answer", data: {} }))).status).toBe(404);
    expect((await rq(app, "/runs/nope/cancel", { method: "POST" })).status).toBe(404);
    const route = await rq(app, "/nothing-here");
    expect(route.status).toBe(404);
    expect((await route.json()).error.code).toBe("NOT_FOUND");
  });

  it("answers a body over the limit with 413", async () => {
    const app = make({ maxBodyBytes: 1000 });
    const res = await rq(app, "/workflows/greeter/runs", json({ name: "x".repeat(2000) }));
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("BODY_TOO_LARGE");
    // A streamed body (no Content-Length) is cut off at the limit.
    const bytes = new TextEncoder().encode(JSON.stringify({ name: "y".repeat(5000) }));
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (let i = 0; i < bytes.length; i += 100) ctl.enqueue(bytes.slice(i, i + 100));
        ctl.close();
      },
    });
    const streamed = await app.request(new Request("http://x/workflows/greeter/runs", { method: "POST", body, headers: { "Content-Type": "application/json" }, duplex: "half" }));
    expect(streamed.status).toBe(413);
  });

  it("needs the bearer token when auth is set (401), except for /health", async () => {
    const app = make({ auth: { token: ["s3cret", "other-token"] } });
    const none = await rq(app, "/workflows");
    expect(none.status).toBe(401);
    expect(none.headers.get("WWW-Authenticate")).toContain("Bearer");
    expect((await none.json()).error.code).toBe("UNAUTHORIZED");
    expect((await rq(app, "/workflows", { headers: { Authorization: "Bearer s3cre" } })).status).toBe(401);
    expect((await rq(app, "/workflows", { headers: { Authorization: "Bearer s3cret2" } })).status).toBe(401);
    expect((await rq(app, "/workflows", { headers: { Authorization: "Basic s3cret" } })).status).toBe(401);
    expect((await rq(app, "/workflows", { headers: { Authorization: "Bearer s3cret" } })).status).toBe(200);
    expect((await rq(app, "/workflows", { headers: { Authorization: "Bearer other-token" } })).status).toBe(200);
    expect((await rq(app, "/health")).status).toBe(200);
  });

  it("runs the user's middleware before the routes", async () => {
    const seen: string[] = [];
    const app = make({
      middleware: [
        async (c, next) => {
          seen.push(c.req.path);
          if (c.req.header("X-Block")) return c.json({ blocked: true }, 403);
          return next();
        },
      ],
    });
    expect((await rq(app, "/workflows")).status).toBe(200);
    expect((await rq(app, "/workflows", { headers: { "X-Block": "1" } })).status).toBe(403);
    expect(seen).toEqual(["/workflows", "/workflows"]);
  });

  it("sends no CORS headers unless configured", async () => {
    const off = await rq(make(), "/workflows", { headers: { Origin: "https://elsewhere.example" } });
    expect(off.headers.get("Access-Control-Allow-Origin")).toBeNull();
    const on = await rq(make({ cors: { origin: "https://app.example" } }), "/workflows", { headers: { Origin: "https://app.example" } });
    expect(on.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example");
  });

  it("hides unexpected errors behind a 500 with no stack, and reports them", async () => {
    const onError = vi.fn();
    const app = make({
      onError,
      middleware: [
        async () => {
          throw new Error("database password is hunter2");
        },
      ],
    });
    const res = await rq(app, "/workflows");
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("at ");
    expect(JSON.parse(text).error.code).toBe("INTERNAL");
    expect(onError).toHaveBeenCalledOnce();
  });

  it("times out a slow request with 504", async () => {
    const app = make({ requestTimeout: 0.01, middleware: [() => new Promise<never>(() => {})] });
    const res = await rq(app, "/workflows");
    expect(res.status).toBe(504);
    expect((await res.json()).error.code).toBe("REQUEST_TIMEOUT");
  });

  it("times out a route whose work hangs (no middleware) with 504, and a ?wait that runs out answers 202", async () => {
    class HangingStore extends MemoryStore {
      override getRun(): never {
        return new Promise<never>(() => {}) as never;
      }
    }
    const app = make({ requestTimeout: 0.05, store: new HangingStore(), resume: false });
    const res = await rq(app, "/runs/nope");
    expect(res.status).toBe(504);
    expect((await res.json()).error.code).toBe("REQUEST_TIMEOUT");
    // The asker waits for an answer: its ?wait runs out (capped below the request timeout) and the run id is answered.
    const waited = await rq(app, "/workflows/asker/runs?wait=5", json({ topic: "x" }));
    expect(waited.status).toBe(202);
    expect(typeof (await waited.json()).runId).toBe("string");
  });

  it("keeps the last keepFinishedRuns ended runs (without a store, older ones are gone: 404)", async () => {
    const app = make({ keepFinishedRuns: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await (await rq(app, "/workflows/greeter/runs?wait=5", json({ name: `n${i}` }))).json()).runId);
    const statuses = await Promise.all(ids.map(async (id) => (await rq(app, `/runs/${id}`)).status));
    expect(statuses).toEqual([404, 404, 404, 200, 200]);
    expect((await (await rq(app, `/runs/${ids[4]}`)).json()).result).toBe("hello n4");
    // (Two runs started in one millisecond are listed in run id order: compare as sets.)
    expect((await (await rq(app, "/runs")).json()).runs.map((r: { runId: string }) => r.runId).sort()).toEqual([ids[3], ids[4]].sort());
  });

  it("shows a run: status, result, error, and the InputRequiredEvent it waits on", async () => {
    const app = make();
    const { runId } = await (await rq(app, "/workflows/asker/runs", json({ topic: "tea" }))).json();
    const waiting = await waitFor(async () => (await rq(app, `/runs/${runId}`)).json(), (r: any) => r.inputRequired.length > 0);
    expect(waiting).toMatchObject({ runId, workflow: "asker", live: true, waitingFor: ["Question"] });
    expect(waiting.inputRequired[0]).toMatchObject({ type: "Question", data: { prompt: "What about tea?" } });
    const broken = await (await rq(app, "/workflows/broken/runs?wait=5", json({}))).json();
    expect(broken.status).toBe("failed");
    expect(broken.error).toMatchObject({ name: "WorkflowRuntimeError", code: "STEP_FAILED" });
    expect(broken.error.message).toContain("boom");
    expect(JSON.stringify(broken)).not.toContain("    at ");
  });

  it("delivers an event to a run; unknown type 422; bad shape 422; ended run 409", async () => {
    const app = make();
    const { runId } = await (await rq(app, "/workflows/asker/runs", json({}))).json();
    const unknown = await rq(app, `/runs/${runId}/events`, json({ type: "Nope", data: {} }));
    expect(unknown.status).toBe(422);
    expect((await unknown.json()).error).toMatchObject({ code: "UNKNOWN_EVENT_TYPE", details: { type: "Nope" } });
    const shape = await rq(app, `/runs/${runId}/events`, json({ data: {} }));
    expect(shape.status).toBe(422);
    expect((await shape.json()).error.details.issues[0].path).toBe("type");
    const data = await rq(app, `/runs/${runId}/events`, json({ type: "Answer", data: [1] }));
    expect(data.status).toBe(422);
    const ok = await rq(app, `/runs/${runId}/events`, json({ type: "Answer", data: { response: "yes" } }));
    expect(ok.status).toBe(202);
    const all = await frames(app, runId);
    expect(all.at(-1)).toEqual({ id: undefined, event: "end", data: { status: "completed", result: "you said yes" } });
    const late = await rq(app, `/runs/${runId}/events`, json({ type: "Answer", data: { response: "again" } }));
    expect(late.status).toBe(409);
    expect(((await late.json())).error.code).toBe("RUN_FINISHED");
  });

  it("cancels a run; cancelling an ended run is 409", async () => {
    const app = make();
    const { runId }: any = await (await rq(app, "/workflows/asker/runs", json({}))).json();
    const res = await rq(app, `/runs/${runId}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "cancelled", error: { name: "WorkflowCancelledError" } });
    const again = await rq(app, `/runs/${runId}/cancel`, { method: "POST" });
    expect(again.status).toBe(409);
  });

  it("lists runs newest first, page by page, by workflow and status", async () => {
    const app = make();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await (await rq(app, "/workflows/greeter/runs?wait=5", json({ name: `n${i}` }))).json())).runId);
    await rq(app, "/workflows/asker/runs", json({}));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await (await rq(app, `/runs?workflow=greeter&limit=2${cursor ? `&cursor=${cursor}` : ""}`)).json();
      seen.push(...page.runs.map((r: any) => r.runId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(seen).toHaveLength(5);
    // A run with only waits in flight is "waiting", in memory as in a store.
    const waitingHere: any = await (await rq(app, "/runs?status=waiting")).json();
    expect(waitingHere.runs.map((r: any) => r.workflow)).toEqual(["asker"]);
    expect((await (await rq(app, "/runs?status=running")).json()).runs).toEqual([]);
    const stored = createServer({ workflows: { asker: Asker }, store: new MemoryStore() });
    await rq(stored, "/workflows/asker/runs", json({}));
    const waiting: any = await waitFor(async () => (await rq(stored, "/runs?status=waiting")).json(), (b: any) => b.runs.length === 1);
    expect(waiting.runs[0]).toMatchObject({ workflow: "asker", status: "waiting", live: true });
    expect((await rq(app, "/runs?status=sleeping")).status).toBe(400);
    expect((await rq(app, "/runs?cursor=garbage")).status).toBe(400);
    expect((await rq(app, "/runs?limit=0")).status).toBe(400);
    expect((await rq(app, "/runs?workflow=nope")).status).toBe(404);
  });

  it("lists and shows runs from the store, also those it did not start", async () => {
    const store = new MemoryStore();
    const app = createServer({ workflows: { greeter: Greeter }, store });
    const direct = await new Greeter({ store }).run({ name: "Cy" });
    expect(direct).toBe("hello Cy");
    const body: any = await (await rq(app, "/runs")).json();
    expect(body.runs).toHaveLength(1);
    expect(body.runs[0]).toMatchObject({ workflow: "greeter", status: "completed", live: false });
    const one = await (await rq(app, `/runs/${body.runs[0].runId}`)).json();
    expect(one).toMatchObject({ result: "hello Cy", input: { type: "Greet" } });
  });

  it("delivers an event to a run another process holds through the store's inbox (202), never 409", async () => {
    const store = new MemoryStore();
    // The other process: same store, its own lease owner.
    const elsewhere = new Asker({ store, leaseOwner: "worker-b", timeout: 10 }).run({ topic: "tea" });
    await waitFor(async () => store.getRun(elsewhere.runId)?.status, (s) => s === "waiting");
    const app = createServer({ workflows: { asker: Asker }, store, resume: false });
    expect((await rq(app, `/runs/${elsewhere.runId}/events`, json({ type: "Nope", data: {} }))).status).toBe(422);
    const res = await rq(app, `/runs/${elsewhere.runId}/events`, json({ type: "Answer", data: { response: "yes" } }));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ runId: elsewhere.runId, delivered: true });
    // The holder journals it from its inbox and finishes; this server never ran it.
    expect(await elsewhere).toBe("you said yes");
    expect(app.runs.liveCount).toBe(0);
    expect((await rq(app, `/runs/${elsewhere.runId}/events`, json({ type: "Answer", data: { response: "late" } }))).status).toBe(409);
  });

  it("serves /queues from the queues option, 404 without one", async () => {
    expect((await rq(make(), "/queues")).status).toBe(404);
    const app = make({ queues: async () => [{ queue: "Greeter", waiting: 3 }] });
    const res = await rq(app, "/queues");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ queues: [{ queue: "Greeter", waiting: 3 }] });
    const broken = make({ queues: () => Promise.reject(new Error("redis is down")), onError: () => {} });
    expect((await rq(broken, "/queues")).status).toBe(500);
  });

  it("rebuilds a durable parent's log from its journal with the child's path as journaled, without listing the store's runs", async () => {
    const store = new MemoryStore();
    const live = createServer({ workflows: { parent: new Parent({ store }) }, store });
    const { runId }: any = await (await rq(live, "/workflows/parent/runs?wait=5", json({ k: 4 }))).json();
    const seen = (await frames(live, runId)).map((f) => f.data);
    let listed = 0;
    const counting = new Proxy(store, {
      get: (t, k) => {
        // Every run of the store (what the parents walk lists); the start-up scan for running runs filters by status.
        if (k === "listRuns") return (...a: Parameters<MemoryStore["listRuns"]>) => (Object.keys(a[0] ?? {}).length === 0 && listed++, t.listRuns(...a));
        const v: unknown = Reflect.get(t, k);
        return typeof v === "function" ? (v as (...args: unknown[]) => unknown).bind(t) : v;
      },
    });
    const fresh = createServer({ workflows: { parent: new Parent({ store }) }, store: counting });
    const rebuilt = (await frames(fresh, runId)).map((f) => f.data);
    expect(rebuilt.map(({ journal: _j, ...d }: any) => d)).toEqual(seen);
    expect(rebuilt[0].origin.path).toEqual([runId, rebuilt[0].origin.runId]);
    expect(listed).toBe(0);
  });

  it("marks a child run's events with its path", async () => {
    const app = make();
    const { runId }: any = await (await rq(app, "/workflows/parent/runs", json({ k: 4 }))).json();
    const all = await frames(app, runId);
    const progress = all.find((f) => f.data?.type === "Progress");
    expect(progress?.data.origin.workflow).toBe("Child");
    expect(progress?.data.origin.path[0]).toBe(runId);
    expect(progress?.data.origin.path).toHaveLength(2);
    expect(all.at(-1)?.data).toEqual({ status: "completed", result: 9 });
    const info: any = await (await rq(app, `/runs/${runId}`)).json();
    expect(info.children).toEqual([progress?.data.origin.runId]);
  });
});

describe("openapi", () => {
  it("describes every route, generated from the routes' own descriptions", async () => {
    const app = make({ auth: { token: "t" } });
    const spec = await (await rq(app, "/openapi.json", { headers: { Authorization: "Bearer t" } })).json();
    expect(spec.openapi).toBe("3.1.0");
    const routes = app.routes.filter((r) => r.method !== "ALL" && r.path !== "/openapi.json" && r.path !== "/");
    expect(routes.length).toBeGreaterThanOrEqual(9);
    for (const r of routes) {
      const path = r.path.replace(/:(\w+)/g, "{$1}");
      expect(spec.paths[path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).toBeDefined();
    }
    expect(Object.keys(spec.paths["/workflows/{name}/runs"].post.responses)).toEqual(expect.arrayContaining(["202", "404", "413", "422"]));
    expect(spec.components.securitySchemes.bearer.scheme).toBe("bearer");
    expect(spec.components.schemas.Run.properties.status.enum).toContain("waiting");
  });
});
