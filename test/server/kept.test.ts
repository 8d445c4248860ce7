/**
 * Ended runs kept in memory (`keepFinishedRuns`): every read path answers the bodies recorded in
 * kept.golden.json (ids and times replaced by placeholders), so a change to how ended runs are
 * kept cannot change an answer unnoticed. `RECORD_GOLDEN=1` writes them again.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Context, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";
import { Broken, Greeter, Parent, Sub } from "./fixtures.js";

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ends with a plain StopEvent that carries a field besides its result. */
class Extra extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go() {
    return new StopEvent({ result: { list: [1, "two", null], nested: { ok: true } }, note: "kept" });
  }
}

/** Waits forever, streaming nothing (cancelled by the test). */
class Hang extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(): Promise<StopEvent> {
    return new Promise<StopEvent>(() => {});
  }
}

/** A child that streams nothing. */
class Quiet extends Workflow<{ k: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async work(ev: StartEvent<{ k: number }>) {
    return new StopEvent({ result: ev.k * 3 });
  }
}

/** A parent whose child streams nothing. */
class QuietParent extends Workflow<{ k: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent, calls: Quiet })
  async delegate(ev: StartEvent<{ k: number }>, ctx: Context) {
    const r: number = await ctx.runWorkflow(Quiet, { k: ev.k });
    return new StopEvent({ result: { r, from: "child" } });
  }
}

const make = () =>
  createServer({
    workflows: { greeter: new Greeter(), broken: new Broken(), hang: new Hang(), parent: new Parent(), quiet: new QuietParent(), sub: new Sub(), extra: new Extra() },
    llamaindex: true,
  });

type Server = ReturnType<typeof make>;

/** Start the runs (each in its own millisecond, so that the list's order is fixed): their ids by name. */
async function startRuns(app: Server): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const run = async (name: string, wf: string, input: object) => {
    await sleep(3);
    const res = await app.request(`/workflows/${wf}/runs?wait=10`, post(input));
    ids[name] = ((await res.json()) as { runId: string }).runId;
  };
  await run("completed", "greeter", { name: "Ada" });
  await run("failed", "broken", {});
  await sleep(3);
  ids.cancelled = ((await (await app.request("/workflows/hang/runs", post({}))).json()) as { runId: string }).runId;
  await sleep(3);
  expect((await app.request(`/runs/${ids.cancelled}/cancel`, { method: "POST" })).status).toBe(200);
  await run("parent", "parent", { k: 2 });
  await run("quietParent", "quiet", { k: 5 });
  await run("subclass", "sub", {});
  await run("extra", "extra", {});
  await run("streamed", "greeter", { name: "Bo", times: 2 });
  return ids;
}

/** Every read path's answer for the runs: [request, status, content type, body]. */
async function answers(app: Server, ids: Record<string, string>): Promise<[string, number, string, string][]> {
  const out: [string, number, string, string][] = [];
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await app.request(path, { headers });
    out.push([`${path} ${headers.Accept ?? ""}`.trim(), res.status, res.headers.get("Content-Type") ?? "", await res.text()]);
  };
  // The listings first, before any read of one run: reading a run kept as values makes its entry again.
  await get("/runs");
  await get("/llamaindex/handlers");
  for (const id of Object.values(ids)) {
    await get(`/runs/${id}`);
    await get(`/runs/${id}/events`);
    await get(`/runs/${id}/events?after=1`);
    await get(`/runs/${id}/events`, { Accept: "application/x-ndjson" });
    await get(`/runs/${id}/events`, { "Last-Event-ID": "1" });
    await get(`/llamaindex/handlers/${id}`);
    await get(`/llamaindex/results/${id}`);
    await get(`/llamaindex/events/${id}`);
    await get(`/llamaindex/events/${id}?after_sequence=-1`);
    await get(`/llamaindex/events/${id}?after_sequence=0`);
    await get(`/llamaindex/events/${id}?after_sequence=-1&sse=false&include_qualified_name=false`);
  }
  await get("/runs");
  let page = "/runs?limit=3";
  for (let i = 0; i < 5 && page; i++) {
    await get(page);
    const next = (JSON.parse(out.at(-1)![3]) as { nextCursor: string | null }).nextCursor;
    page = next ? `/runs?limit=3&cursor=${next}` : "";
  }
  for (const q of ["status=completed", "status=failed", "status=cancelled", "workflow=sub", "workflow=greeter&status=completed&limit=1"]) await get(`/runs?${q}`);
  for (const q of ["", "?status=completed", "?status=failed,cancelled", "?workflow_name=quiet"]) await get(`/llamaindex/handlers${q}`);
  return out;
}

/** Ids and times replaced by placeholders: run ids by their first appearance, times as `<ms>` / `<iso>`, cursors decoded. */
function normalize(all: [string, number, string, string][], ids: Record<string, string>): [string, number, string, string][] {
  const names = new Map(Object.entries(ids).map(([k, v]) => [v, `<${k}>`]));
  let children = 0;
  const fix = (s: string): string =>
    s
      .replace(/(cursor=|"nextCursor":")([A-Za-z0-9+/]+)/g, (_, at: string, c: string) => `${at}<cursor ${fix(decodeURIComponent(atob(c)))}>`)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => names.get(id) ?? (names.set(id, `<child${children++}>`), names.get(id)!))
      .replace(/\b1[6-9]\d{11}\b/g, "<ms>")
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<iso>");
  return all.map(([req, status, type, body]) => [fix(req), status, type, fix(body)]);
}

const GOLDEN = new URL("./kept.golden.json", import.meta.url);

describe("an ended run kept in memory", () => {
  it("answers every read path (GET /runs/:id, GET /runs with pages and filters, its events with and without after, the LlamaIndex routes) as recorded", async () => {
    const app = make();
    const ids = await startRuns(app);
    const first = normalize(await answers(app, ids), ids);
    if (process.env.RECORD_GOLDEN === "1") writeFileSync(GOLDEN, `${JSON.stringify(first, null, 1)}\n`);
    const golden = JSON.parse(readFileSync(GOLDEN, "utf8")) as [string, number, string, string][];
    expect(first).toEqual(golden);
    // Read again (the logs made by the first reading are kept): the same answers.
    expect(normalize(await answers(app, ids), ids)).toEqual(golden);
  });
});
