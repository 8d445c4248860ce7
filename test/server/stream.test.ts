import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore, suspendRun } from "stepwise-ai";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Asker, Greeter, Stepper } from "./fixtures.js";
import { sse, type SseFrame } from "./sse.js";

let running: RunningServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const post = async (url: string, body: unknown) => {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  return { status: res.status, body: (await res.json()) as any };
};
const label = (f: SseFrame) => (f.event === "end" ? `end:${f.data.status}` : `${f.id}:${f.data.type}${f.data.data?.n ?? ""}`);

async function waitUntil(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 5));
}

async function collect(url: string, init?: RequestInit): Promise<SseFrame[]> {
  const out: SseFrame[] = [];
  for await (const f of sse(url, init)) if (!f.comment) out.push(f);
  return out;
}

describe("event streams", () => {
  it("resumes exactly after Last-Event-ID when the connection is cut, and the cut never cancels the run", async () => {
    running = await serve(createServer({ workflows: { stepper: new Stepper({ timeout: null }) } }), { port: 0, graceSeconds: 0 });
    const { body } = await post(`${running.url}/workflows/stepper/runs`, { half: 4 });
    const url = `${running.url}/runs/${body.runId}/events`;
    const first: SseFrame[] = [];
    const cut = new AbortController();
    for await (const f of sse(url, { signal: cut.signal })) {
      first.push(f);
      if (f.id === "3") break; // leaves the loop: the connection is cut
    }
    expect(first.map(label)).toEqual(["1:Progress1", "2:Progress2", "3:Progress3"]);
    const info = (await (await fetch(`${running.url}/runs/${body.runId}`)).json()) as any;
    expect(info.status).toBe("waiting"); // only its wait for the answer is in flight
    expect(info.live).toBe(true);
    expect((await post(url, { type: "Answer", data: { response: "ok" } })).status).toBe(202);
    const rest = await collect(url, { headers: { "Last-Event-ID": "3" } });
    expect(rest.map(label)).toEqual(["4:Progress4", "5:Question", "6:Progress5", "7:Progress6", "8:Progress7", "9:Progress8", "10:StopEvent", "end:completed"]);
    expect(rest.at(-1)?.data).toEqual({ status: "completed", result: "ok" });
    // ?after= does the same, and with neither the stream starts at the beginning.
    expect((await collect(`${url}?after=8`)).map(label)).toEqual(["9:Progress8", "10:StopEvent", "end:completed"]);
    expect((await collect(url)).map(label)).toEqual([...first.map(label), ...rest.map(label)]);
    expect((await collect(`${url}?after=10`)).map(label)).toEqual(["end:completed"]);
  });

  it("serves any number of readers of one run the same frames", async () => {
    running = await serve(createServer({ workflows: { stepper: new Stepper({ timeout: null }) } }), { port: 0, graceSeconds: 0 });
    const { body } = await post(`${running.url}/workflows/stepper/runs`, { half: 3 });
    const url = `${running.url}/runs/${body.runId}/events`;
    const readers = Array.from({ length: 20 }, () => collect(url));
    // Answer once every reader has seen the question.
    const seen: SseFrame[] = [];
    for await (const f of sse(url)) {
      seen.push(f);
      if (f.data?.type === "Question") break;
    }
    await post(url, { type: "Answer", data: { response: "go" } });
    const all = await Promise.all(readers);
    const expected = ["1:Progress1", "2:Progress2", "3:Progress3", "4:Question", "5:Progress4", "6:Progress5", "7:Progress6", "8:StopEvent", "end:completed"];
    for (const frames of all) expect(frames.map(label)).toEqual(expected);
  });

  it("sends heartbeats while a run is idle", async () => {
    running = await serve(createServer({ workflows: { stepper: new Stepper({ timeout: null }) }, heartbeat: 0.01 }), { port: 0, graceSeconds: 0 });
    const { body } = await post(`${running.url}/workflows/stepper/runs`, { half: 1 });
    let beats = 0;
    for await (const f of sse(`${running.url}/runs/${body.runId}/events`)) {
      if (f.comment === "heartbeat" && ++beats === 2) break;
    }
    expect(beats).toBe(2);
  });

  it("goes on after Last-Event-ID when the URL has ?after= too, as a browser's EventSource reconnects", async () => {
    running = await serve(createServer({ workflows: { greeter: new Greeter() } }), { port: 0, graceSeconds: 0 });
    const { body } = await post(`${running.url}/workflows/greeter/runs?wait=5`, { name: "Ed", times: 5 });
    // Opened at ?after=1, it got events 2..4 before the cut; it reconnects to the same URL with Last-Event-ID: 4.
    const again = await collect(`${running.url}/runs/${body.runId}/events?after=1`, { headers: { "Last-Event-ID": "4" } });
    expect(again.map(label)).toEqual(["5:Progress5", "6:StopEvent", "end:completed"]);
    expect((await collect(`${running.url}/runs/${body.runId}/events?after=4`)).map(label)).toEqual(["5:Progress5", "6:StopEvent", "end:completed"]);
  });

  it("rejects a bad position with 400", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() } });
    const res = await app.request("/workflows/greeter/runs?wait=5", { method: "POST", body: '{"name":"x"}', headers: { "Content-Type": "application/json" } });
    const { runId } = (await res.json()) as any;
    for (const bad of ["-1", "abc", "1e3", "99999999999999999999"]) {
      expect((await app.request(`/runs/${runId}/events?after=${bad}`)).status).toBe(400);
    }
    expect((await app.request(`/runs/${runId}/events`, { headers: { "Last-Event-ID": "x\u0001" } })).status).toBe(400);
  });

  it("rebuilds an ended run's events from the store's journal once its live log is gone, at the positions they had live", async () => {
    const store = new MemoryStore();
    const live = createServer({ workflows: { greeter: Greeter }, store });
    const res = await live.request("/workflows/greeter/runs?wait=5", { method: "POST", body: '{"name":"Di","times":2}', headers: { "Content-Type": "application/json" } });
    const { runId } = (await res.json()) as any;
    const read = async (server: typeof live) =>
      (await (await server.request(`/runs/${runId}/events`, { headers: { Accept: "application/x-ndjson" } })).text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const seen = await read(live);
    expect(seen.map((l) => `${String(l.kind)}:${String(l.type ?? l.status)}`)).toEqual(["event:Progress", "event:Progress", "event:StopEvent", "end:completed"]);
    expect(seen.at(-1)?.result).toBe("hello Di");
    // A server that forgets ended runs at once, and a second server on the same store, never saw it live.
    const forgets = createServer({ workflows: { greeter: Greeter }, store, keepFinishedRuns: 0 });
    for (const server of [forgets, createServer({ workflows: { greeter: Greeter }, store })]) {
      const rebuilt = await read(server);
      expect(rebuilt.map(({ journal: _j, ...l }) => l)).toEqual(seen);
      expect(rebuilt.slice(0, -1).every((l) => l.journal === true)).toBe(true);
    }
  });

  it("follows a stored waiting run from its journal, and live once an event sent to it continues it here", async () => {
    const store = new MemoryStore();
    const first = createServer({ workflows: { asker: Asker }, store });
    const res = await first.request("/workflows/asker/runs?wait=0.05", { method: "POST", body: '{"topic":"jam"}', headers: { "Content-Type": "application/json" } });
    const { runId } = (await res.json()) as any;
    await waitUntil(async () => (await Promise.resolve(store.getRun(runId)))?.status === "waiting");
    await suspendRun(runId); // the first process lets go of it, as if it had exited
    const second = createServer({ workflows: { asker: Asker }, store });
    const info = (await (await second.request(`/runs/${runId}`)).json()) as any;
    expect(info).toMatchObject({ status: "waiting", live: false, waitingFor: ["Answer"] });
    const frames: SseFrame[] = [];
    for await (const f of sse(second.request(`/runs/${runId}/events`))) {
      if (f.comment) continue;
      frames.push(f);
      if (frames.length === 1) {
        expect(f.data).toMatchObject({ id: 1, type: "Progress", journal: true });
        const sent = await second.request(`/runs/${runId}/events`, { method: "POST", body: '{"type":"Answer","data":{"response":"plum"}}', headers: { "Content-Type": "application/json" } });
        expect(sent.status).toBe(202);
      }
    }
    // The stream as the journal holds it; the step runs again here without writing its Progress or
    // asking its Question twice (the answer ends the wait at once); then the result.
    expect(frames.map(label)).toEqual(["1:Progress1", "2:Question", "3:StopEvent", "end:completed"]);
    expect(frames.at(-1)?.data.result).toBe("you said plum");
  });

  it("answers for a run it suspended from the store: shows it waiting, takes its answer or its cancel", async () => {
    const store = new MemoryStore();
    const server = createServer({ workflows: { asker: Asker }, store });
    const json = { "Content-Type": "application/json" };
    const startWaiting = async () => {
      const { runId } = (await (await server.request("/workflows/asker/runs", { method: "POST", body: '{"topic":"tea"}', headers: json })).json()) as any;
      await waitUntil(async () => (await Promise.resolve(store.getRun(runId)))?.status === "waiting");
      await suspendRun(runId); // this process lets go of it; the store keeps it, waiting
      return runId as string;
    };
    const runId = await startWaiting();
    expect(await (await server.request(`/runs/${runId}`)).json()).toMatchObject({ status: "waiting", live: false, waitingFor: ["Answer"] });
    // Its entry here says "detached": the answer goes to the stored run, not a 409 RUN_FINISHED.
    const sent = await server.request(`/runs/${runId}/events`, { method: "POST", body: '{"type":"Answer","data":{"response":"oolong"}}', headers: json });
    expect(sent.status).toBe(202);
    await waitUntil(async () => (await Promise.resolve(store.getRun(runId)))?.status === "completed");
    expect(await (await server.request(`/runs/${runId}`)).json()).toMatchObject({ status: "completed", result: "you said oolong" });
    const read: SseFrame[] = [];
    for await (const f of sse(server.request(`/runs/${runId}/events`))) if (!f.comment) read.push(f);
    expect(read.map(label)).toEqual(["1:Progress1", "2:Question", "3:StopEvent", "end:completed"]);

    const other = await startWaiting();
    const cancelled = await server.request(`/runs/${other}/cancel`, { method: "POST" });
    expect(cancelled.status).toBeLessThan(300);
    expect((await Promise.resolve(store.getRun(other)))?.status).toBe("cancelled");
    expect(await (await server.request(`/runs/${other}`)).json()).toMatchObject({ status: "cancelled" });
  });

  it("runs 1,000 runs at once over HTTP, every result right", { timeout: 180_000 }, async () => {
    running = await serve(createServer({ workflows: { greeter: new Greeter() } }), { port: 0 });
    const url = running.url;
    const runs = await Promise.all(Array.from({ length: 1000 }, async (_, i) => (await post(`${url}/workflows/greeter/runs?wait=25`, { name: `n${i}`, times: i % 3 })).body));
    expect(new Set(runs.map((r) => r.runId)).size).toBe(1000);
    runs.forEach((r, i) => expect(r).toMatchObject({ status: "completed", result: `hello n${i}` }));
    // Every tenth run's stream, read at once: its progress events, then its result.
    const streams = await Promise.all(runs.filter((_, i) => i % 10 === 0).map((r) => collect(`${url}/runs/${r.runId}/events`)));
    streams.forEach((frames, k) => {
      const i = k * 10;
      expect(frames.map(label)).toEqual([...Array.from({ length: i % 3 }, (_, n) => `${n + 1}:Progress${n + 1}`), `${(i % 3) + 1}:StopEvent`, "end:completed"]);
      expect(frames.at(-1)?.data.result).toBe(`hello n${i}`);
    });
  });
});
