import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { ClientError, createClient } from "stepwise-ai/client";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Answer, Asker, Broken, Greeter, Progress, Question, Stepper } from "../server/fixtures.js";

type Served = { greeter: Greeter; asker: Asker; stepper: Stepper; broken: Broken };
let running: RunningServer;
beforeAll(async () => {
  const app = createServer({ workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }), stepper: new Stepper({ timeout: null }), broken: new Broken() }, auth: { token: "t0k" } });
  running = await serve(app, { port: 0, graceSeconds: 0 });
});
afterAll(() => running.close());

const client = () => createClient<Served>({ baseUrl: running.url, token: "t0k" });

/** A fetch whose event streams are cut after `frames` frames, `cuts` times; records the Last-Event-ID of each connection. */
function cuttingFetch(frames: number, cuts: number, seen: (string | null)[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const headers = new Headers(init?.headers);
    if (headers.get("Accept") !== "text/event-stream" || !res.body) return res;
    seen.push(headers.get("Last-Event-ID"));
    if (cuts-- <= 0) return res;
    // Pass on exactly `frames` frames, then end the body as a dropped connection would.
    const text = await res.text();
    const blocks = text.split("\n\n").filter((b) => b.length > 0);
    const kept = blocks.slice(0, frames).map((b) => `${b}\n\n`).join("");
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(new TextEncoder().encode(kept));
        ctl.close();
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

describe("client", () => {
  it("runs a workflow and gets its typed result", async () => {
    const c = client();
    const run = await c.run("greeter", { name: "Ada" });
    expectTypeOf<Parameters<typeof c.run<"greeter">>[1]>().toEqualTypeOf<{ name: string; times?: number }>();
    const result = await c.result(run);
    expectTypeOf(result).toEqualTypeOf<string>();
    expect(result).toBe("hello Ada");
    const waited = await c.run("greeter", { name: "Bo" }, { wait: 5 });
    expect(waited).toMatchObject({ status: "completed", result: "hello Bo" });
  });

  it("streams events revived into the classes passed, and answers a question", async () => {
    const c = client();
    const { runId } = await c.run("stepper", { half: 2 });
    const seen: string[] = [];
    for await (const m of c.stream(runId, { events: [Progress, Question] })) {
      if (m.event instanceof Progress) seen.push(`progress ${m.event.n}`);
      if (m.event instanceof Question) {
        seen.push(`question ${m.event.prompt}`);
        await c.sendEvent(runId, new Answer({ response: "sure" }));
      }
      if (m.type === "StopEvent") seen.push(`stop ${String(m.data.result)}`);
    }
    expect(seen).toEqual(["progress 1", "progress 2", "question go on?", "progress 3", "progress 4", "stop sure"]);
    expect(await c.result(runId)).toBe("sure");
  });

  it("reconnects a cut stream with the last id by itself: nothing lost, nothing repeated", async () => {
    const ids: (string | null)[] = [];
    const c = createClient<Served>({ baseUrl: running.url, token: "t0k", fetch: cuttingFetch(2, 3, ids), reconnect: { delayMs: 1 } });
    const { runId } = await c.run("greeter", { name: "Cy", times: 7 }, { wait: 5 });
    const got: number[] = [];
    const gen = c.stream(runId);
    let next = await gen.next();
    for (; !next.done; next = await gen.next()) got.push(next.value.id);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(next.value).toEqual({ status: "completed", result: "hello Cy" });
    expect(ids).toEqual([null, "2", "4", "6"]);
  });

  it("gives up with STREAM_LOST when the server stays away", async () => {
    const c = createClient({ baseUrl: running.url, fetch: () => Promise.reject(new Error("ECONNREFUSED")), reconnect: { attempts: 2, delayMs: 1 } });
    await expect(c.result("some-run")).rejects.toMatchObject({ code: "STREAM_LOST" });
  });

  it("gets, lists and cancels runs; a cancelled or failed run's result rejects with its code", async () => {
    const c = client();
    const { runId } = await c.run("asker", {});
    expect((await c.get(runId)).status).toBe("waiting"); // it waits for an answer
    const page = await c.list({ workflow: "asker", limit: 10 });
    expect(page.runs.map((r) => r.runId)).toContain(runId);
    const cancelled = await c.cancel(runId);
    expect(cancelled.status).toBe("cancelled");
    await expect(c.result(runId)).rejects.toMatchObject({ name: "ClientError", code: "CANCELLED" });
    const broken = await c.run("broken", {});
    await expect(c.result(broken)).rejects.toMatchObject({ code: "STEP_FAILED" });
  });

  it("turns the server's errors into ClientErrors with code, status and details", async () => {
    const c = client();
    const err = await c.run("greeter", { name: 5 as unknown as string }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: "INVALID_INPUT", status: 422, details: { issues: [{ path: "name" }] } });
    await expect(c.get("nope")).rejects.toMatchObject({ code: "RUN_NOT_FOUND", status: 404 });
    await expect(createClient({ baseUrl: running.url }).workflows()).rejects.toMatchObject({ code: "UNAUTHORIZED", status: 401 });
    expect((await c.workflows()).map((w) => w.name).sort()).toEqual(["asker", "broken", "greeter", "stepper"]);
    expect(() => createClient({ baseUrl: "localhost:3000" })).toThrow(/http/);
  });
});

describe("client module", () => {
  it("imports nothing at run time (types only), so it runs in browsers", async () => {
    const { readFileSync } = await import("node:fs");
    const src = readFileSync(new URL("../../src/client/index.ts", import.meta.url), "utf8");
    const imports = src.split("\n").filter((l) => /^\s*import\s/.test(l));
    expect(imports.length).toBeGreaterThan(0);
    for (const line of imports) expect(line).toMatch(/^import type /);
    expect(src).not.toMatch(/\bprocess\.|\bBuffer\b|require\(/);
  });
});
