import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore, suspendRun } from "stepwise-ai";
import { createClient } from "stepwise-ai/client";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Asker } from "./fixtures.js";
import { sse } from "./sse.js";
import { waitFor } from "./wait.js";
import { ReadCountingStore } from "../stores/helpers.js";

const open: RunningServer[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe("a run handed over to the next server (graceful shutdown, a store)", () => {
  it("is followed on by the client across the handover: result() and stream() end with the run, not with the first server", async () => {
    const store = new MemoryStore();
    const first = await serve(createServer({ workflows: { asker: Asker }, store }), { port: 0, graceSeconds: 0 });
    open.push(first);
    // The client's address goes to whichever server is up (a load balancer).
    let current = first.url;
    const client = createClient({ baseUrl: "http://lb.test", reconnect: { delayMs: 5 }, fetch: (input, init) => fetch((input as string).replace("http://lb.test", current), init) });
    const { runId } = await client.run("asker", { topic: "tea" });
    await waitFor(() => client.get(runId), (r) => r.status === "waiting");
    const result = client.result(runId);
    const streamed: string[] = [];
    const streaming = (async () => {
      const gen = client.stream(runId);
      for (let next = await gen.next(); ; next = await gen.next()) {
        if (next.done) return next.value;
        streamed.push(`${next.value.id}:${next.value.type}`);
      }
    })();
    await waitFor(async () => streamed.length, (n) => n === 2);

    await first.close();
    open.length = 0;
    const second = await serve(createServer({ workflows: { asker: Asker }, store }), { port: 0, graceSeconds: 0 });
    open.push(second);
    current = second.url;
    await client.sendEvent(runId, { type: "Answer", data: { response: "yes" } });
    expect(await result).toBe("you said yes");
    expect(await streaming).toEqual({ status: "completed", result: "you said yes" });
    expect(streamed).toEqual(["1:Progress", "2:Question", "3:StopEvent"]);
  });

  it("a reader of a run this server let go of (suspended here) goes on from the store, and live again once the run continues here: no 'detached' end", async () => {
    const store = new MemoryStore();
    const server = await serve(createServer({ workflows: { asker: Asker }, store }), { port: 0, graceSeconds: 0 });
    open.push(server);
    const client = createClient({ baseUrl: server.url, reconnect: { delayMs: 5 } });
    const { runId } = await client.run("asker", { topic: "tea" });
    const frames: string[] = [];
    const reading = (async () => {
      for await (const f of sse(`${server.url}/runs/${runId}/events`)) if (!f.comment) frames.push(f.event === "end" ? `end:${f.data.status}` : `${f.id}:${f.data.type}`);
    })();
    const result = client.result(runId);
    await waitFor(async () => frames.length, (n) => n === 2);
    await suspendRun(runId);
    expect((await client.get(runId)).status).toBe("waiting");
    // The answer continues the run here, from the store; readers and waiters see it to its end.
    await client.sendEvent(runId, { type: "Answer", data: { response: "yes" } });
    expect(await result).toBe("you said yes");
    await reading;
    expect(frames).toEqual(["1:Progress", "2:Question", "3:StopEvent", "end:completed"]);
  });
});

describe("an event sent as the run is let go of", () => {
  it("is delivered through the store when the run is suspended while the server readies the delivery (202, the run continues), not refused as ended", async () => {
    const store = new MemoryStore();
    const app = createServer({ workflows: { asker: Asker }, store, resume: false });
    const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    const { runId } = (await (await app.request("/workflows/asker/runs", post({}))).json()) as { runId: string };
    await waitFor(async () => store.getRun(runId)?.status, (s) => s === "waiting");
    const sending = app.request(`/runs/${runId}/events`, post({ type: "Answer", data: { response: "late" } }));
    await suspendRun(runId);
    const res = await sending;
    expect(res.status).toBe(202);
    const done = await waitFor(async () => store.getRun(runId), (r) => r?.status === "completed");
    expect(done?.result).toBe("you said late");
  });
});

describe("an event that goes into the inbox of a run whose holder is letting go of it", () => {
  // The event reaches the store as the run is being suspended here, so it goes to the inbox of a
  // run still held (its lease not yet released), and the holder lets go without taking it. Before
  // the server watched such an inbox, some of these interleavings left the event in the inbox of
  // a run nobody ran, answered 202 all the same (which ones moved with the body's reading).
  const cases = Array.from({ length: 13 }, (_, ticks) => [["a body sent whole, the suspend", ticks] as const, ["a streamed body released", ticks] as const]).flat();
  it.each(cases)("is taken: the run goes on here and completes (%s %i microtasks later)", async (how, ticks) => {
    const store = new MemoryStore();
    const errors: unknown[] = [];
    const app = createServer({ workflows: { asker: Asker }, store, resume: false, onError: (e) => errors.push(e) });
    const { runId } = (await (await app.request("/workflows/asker/runs", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })).json()) as { runId: string };
    await waitFor(async () => store.getRun(runId)?.status, (s) => s === "waiting");
    const answer = JSON.stringify({ type: "Answer", data: { response: "late" } });
    let sending: Promise<Response>;
    if (how === "a body sent whole, the suspend") {
      sending = Promise.resolve(app.request(`/runs/${runId}/events`, { method: "POST", body: answer, headers: { "Content-Type": "application/json" } }));
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      await suspendRun(runId);
    } else {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await gate;
          controller.enqueue(new TextEncoder().encode(answer));
          controller.close();
        },
      });
      sending = Promise.resolve(app.request(`/runs/${runId}/events`, { method: "POST", body, headers: { "Content-Type": "application/json" }, duplex: "half" }));
      const suspending = suspendRun(runId);
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      release();
      await suspending;
    }
    expect((await sending).status).toBe(202);
    const done = await waitFor(async () => store.getRun(runId), (r) => r?.status === "completed");
    expect(done?.result).toBe("you said late");
    expect(store.readInbox(runId)).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe("an event delivered to a run whose holder does not take it", () => {
  const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  async function until<T>(get: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
    for (let i = 0; i < 2000; i++) {
      const v = await get();
      if (ok(v)) return v;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error("condition never held");
  }
  /** A run of Asker waiting for its answer, stored, its lease then taken by `owner` for a minute. */
  async function heldBy(owner: string, store: MemoryStore, app: ReturnType<typeof createServer>): Promise<string> {
    const { runId } = (await (await app.request("/workflows/asker/runs", post({}))).json()) as { runId: string };
    await until(() => store.getRun(runId)?.status, (st) => st === "waiting");
    await suspendRun(runId);
    expect(store.acquireLease(runId, owner, 60_000, Date.now()).acquired).toBe(true);
    return runId;
  }

  it("held by a dead process on this host: the server continues the run itself once the event sat in the inbox a second, long before the lease ends", async () => {
    const store = new MemoryStore();
    const errors: unknown[] = [];
    const app = createServer({ workflows: { asker: Asker }, store, resume: false, onError: (e) => errors.push(e) });
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    const runId = await heldBy(`${hostname()}:${dead}:0000beef`, store, app);
    const t0 = Date.now();
    expect((await app.request(`/runs/${runId}/events`, post({ type: "Answer", data: { response: "late" } }))).status).toBe(202);
    const done = await until(() => store.getRun(runId), (r) => r?.status === "completed");
    expect(done?.result).toBe("you said late");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(store.readInbox(runId)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("held by a live process: 20 events delivered make one watch of the inbox, whose tries to continue the run are refused quietly; once the holder lets go, the run goes on here", async () => {
    const store = new ReadCountingStore();
    const errors: unknown[] = [];
    const app = createServer({ workflows: { asker: Asker }, store, resume: false, onError: (e) => errors.push(e) });
    // A holder on another host: alive as far as this one can tell.
    const runId = await heldBy("elsewhere:1:0000beef", store, app);
    for (let i = 0; i < 20; i++) expect((await app.request(`/runs/${runId}/events`, post({ type: "Answer", data: { response: `a${i}` } }))).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1500));
    const before = store.reads;
    await new Promise((r) => setTimeout(r, 2000));
    // One watch: a look (the run, its inbox) a second at most, and a try (RUN_LOCKED) a second.
    expect(store.reads - before).toBeLessThanOrEqual(12);
    expect(store.getRun(runId)?.status).toBe("waiting");
    store.releaseLease(runId, "elsewhere:1:0000beef");
    const done = await until(() => store.getRun(runId), (r) => r?.status === "completed");
    expect(done?.result).toBe("you said a0");
    expect(errors).toEqual([]);
  });
});

describe("readers of runs held by another process", () => {
  it("do not read their run's journal again when some other run goes live here: only that run's readers do", async () => {
    class Counting extends MemoryStore {
      journals = new Map<string, number>();
      override getJournal(runId: string) {
        this.journals.set(runId, (this.journals.get(runId) ?? 0) + 1);
        return super.getJournal(runId);
      }
    }
    const store = new Counting();
    // Twenty runs held by another process, each followed here from its journal.
    const elsewhere = Array.from({ length: 20 }, () => new Asker({ store, leaseOwner: "worker-b", timeout: null }).run({ topic: "x" }));
    for (const h of elsewhere) await waitFor(async () => store.getRun(h.runId)?.status, (s) => s === "waiting");
    const server = await serve(createServer({ workflows: { asker: Asker }, store, resume: false }), { port: 0, graceSeconds: 0 });
    open.push(server);
    const cut = new AbortController();
    const frames = new Map<string, number>();
    const readers = elsewhere.map(async (h) => {
      try {
        for await (const f of sse(`${server.url}/runs/${h.runId}/events`, { signal: cut.signal })) if (!f.comment) frames.set(h.runId, (frames.get(h.runId) ?? 0) + 1);
      } catch {
        // cut by the test
      }
    });
    await waitFor(async () => [...frames.values()].filter((n) => n === 2).length, (n) => n === 20);
    // One more run, suspended, then continued here by an answer: it goes live here.
    const mine = (await (await fetch(`${server.url}/workflows/asker/runs`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })).json()) as { runId: string };
    await waitFor(async () => store.getRun(mine.runId)?.status, (s) => s === "waiting");
    await suspendRun(mine.runId);
    // Its reader reads its journal until it goes live here, then to its end.
    const mineFrames: string[] = [];
    const mineReader = (async () => {
      for await (const f of sse(`${server.url}/runs/${mine.runId}/events`)) if (!f.comment) mineFrames.push(f.event === "end" ? `end:${f.data.status}` : f.data.type);
    })();
    await waitFor(async () => mineFrames.length, (n) => n === 2);
    const before = new Map(store.journals);
    const sent = await fetch(`${server.url}/runs/${mine.runId}/events`, { method: "POST", body: '{"type":"Answer","data":{"response":"y"}}', headers: { "Content-Type": "application/json" } });
    expect(sent.status).toBe(202);
    // Every reader was woken with it when the run went live; its own reader followed it to its end.
    await mineReader;
    expect(mineFrames).toEqual(["Progress", "Question", "StopEvent", "end:completed"]);
    const reread = elsewhere.filter((h) => (store.journals.get(h.runId) ?? 0) > (before.get(h.runId) ?? 0));
    expect(reread).toHaveLength(0);
    cut.abort();
    await Promise.all(readers);
    for (const h of elsewhere) h.cancel();
    await Promise.allSettled(elsewhere);
  });
});

describe("?wait on a run let go of meanwhile", () => {
  it("answers 202 { runId } (the run goes on) when the run is suspended within the wait, not a 'detached' run", async () => {
    const store = new MemoryStore();
    const app = createServer({ workflows: { asker: Asker }, store, resume: false });
    const answering = app.request("/workflows/asker/runs?wait=10", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } });
    const runId = await waitFor(async () => store.listRuns({}).find((r) => r.status === "waiting")?.runId, (id) => id !== undefined);
    await suspendRun(runId!);
    const res = await answering;
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ runId });
  });
});
