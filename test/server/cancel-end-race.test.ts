/**
 * A cancel that arrives as the run ends. The run's completion is held where the race lives: its
 * step has returned its StopEvent (the run is decided "completed") and its end is being committed
 * to the store, so its handler has not settled. No sleeps: deferreds decide every ordering.
 */
import { describe, expect, it } from "vitest";
import { MemoryStore, StartEvent, StopEvent, Workflow, type Context, type JournalEntry, type RunEnd, type Store } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A store whose `finish` (the commit of a run's end) waits for `release` once armed. */
class HeldStore extends MemoryStore {
  entered = deferred();
  release = deferred();
  // A store's finish may be async (Store.finish returns void | Promise<void>); the memory store's is not.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override async finish(runId: string, entries: readonly JournalEntry[], end: RunEnd, options?: Parameters<Store["finish"]>[3]): Promise<void> {
    this.entered.resolve();
    await this.release.promise;
    return super.finish(runId, entries, end, options);
  }
}

/** A run whose step waits for `go` before it completes. */
function setup() {
  const store = new HeldStore();
  const go = deferred();
  const wf = new Workflow({ store }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev: StartEvent, _ctx: Context) => {
    await go.promise;
    return new StopEvent({ result: "done" });
  });
  const app = createServer({ workflows: { w: wf }, store, resume: false, llamaindex: true });
  return { store, go, app };
}

/** Start a run, let its step return, and stop its end at the store's commit: completed, not settled. */
async function atTheEnd(s: ReturnType<typeof setup>, start: () => Promise<string>) {
  const id = await start();
  // Know when the cancel request has reached the run's handler.
  const handler = s.app.runs.handler(id);
  expect(handler).toBeDefined();
  const cancelCalled = deferred();
  const cancel = handler!.cancel.bind(handler);
  handler!.cancel = (reason?: unknown) => {
    cancelCalled.resolve();
    cancel(reason);
  };
  s.go.resolve();
  await s.store.entered.promise;
  return { id, cancelCalled };
}

describe("a cancel racing the run's end", () => {
  it("LlamaIndex: a cancel that arrives while the run's completion is being committed answers as for a completed handler (404 Handler not found), not { status: cancelled }", async () => {
    const s = setup();
    const { id, cancelCalled } = await atTheEnd(s, async () => ((await (await s.app.request("/llamaindex/workflows/w/run-nowait", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })).json()) as { handler_id: string }).handler_id);
    const answer = s.app.request(`/llamaindex/handlers/${id}/cancel`, { method: "POST" });
    await cancelCalled.promise;
    s.store.release.resolve();
    const res = await answer;
    const h = (await (await s.app.request(`/llamaindex/handlers/${id}`)).json()) as { status: string; result: { value: { result: unknown } } };
    expect(h.status).toBe("completed");
    expect(h.result.value.result).toBe("done");
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 404, body: { detail: "Handler not found" } });
  });

  it("LlamaIndex: a cancel after the run completed gets the same answer (LlamaIndex's WorkflowServer: 404 for a terminal handler); a cancelled one stays { status: cancelled }", async () => {
    const s = setup();
    s.store.release.resolve();
    const id = ((await (await s.app.request("/llamaindex/workflows/w/run-nowait", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })).json()) as { handler_id: string }).handler_id;
    s.go.resolve();
    await s.app.runs.entry(id)?.done;
    const res = await s.app.request(`/llamaindex/handlers/${id}/cancel`, { method: "POST" });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 404, body: { detail: "Handler not found" } });
    // The same from a server that knows the run only from its store.
    const fresh = createServer({ workflows: { w: new Workflow({ store: s.store }).addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: "other" })) }, store: s.store, resume: false, llamaindex: true });
    expect((await fresh.request(`/llamaindex/handlers/${id}`)).status).toBe(200);
    const stored = await fresh.request(`/llamaindex/handlers/${id}/cancel`, { method: "POST" });
    expect({ status: stored.status, body: await stored.json() }).toEqual({ status: 404, body: { detail: "Handler not found" } });
    expect(s.store.getRun(id)).toMatchObject({ status: "completed", result: "done" });

    // A run still at work (its step waits for `go`) is cancelled; cancelling it again is not an error.
    const t = setup();
    t.store.release.resolve();
    const other = ((await (await t.app.request("/llamaindex/workflows/w/run-nowait", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })).json()) as { handler_id: string }).handler_id;
    for (let i = 0; i < 2; i++) {
      const c = await t.app.request(`/llamaindex/handlers/${other}/cancel`, { method: "POST" });
      expect({ status: c.status, body: await c.json() }).toEqual({ status: 200, body: { status: "cancelled" } });
    }
  });

  it("stepwise routes: a cancel in the same window is a 409 RUN_FINISHED with the run's status, as a cancel after the end is", async () => {
    const s = setup();
    const { id, cancelCalled } = await atTheEnd(s, async () => ((await (await s.app.request("/workflows/w/runs", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })).json()) as { runId: string }).runId);
    const answer = s.app.request(`/runs/${id}/cancel`, { method: "POST" });
    await cancelCalled.promise;
    s.store.release.resolve();
    const res = await answer;
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "RUN_FINISHED", details: { status: "completed" } } });
    const after = await s.app.request(`/runs/${id}/cancel`, { method: "POST" });
    expect(after.status).toBe(409);
    expect(await after.json()).toMatchObject({ error: { code: "RUN_FINISHED", details: { status: "completed" } } });
    expect(s.store.getRun(id)).toMatchObject({ status: "completed", result: "done" });
  });
});
