/** Numbers in query parameters and headers: decimal digits only, a 400 naming the parameter and what it got. */
import { describe, expect, it } from "vitest";
import { createServer } from "stepwise-ai/server";
import { Greeter } from "./fixtures.js";

const app = () => createServer({ workflows: { greeter: new Greeter() }, llamaindex: true });

/** What no client means by a number: hex, exponents, padding, signs, words, empties, fractions, other scripts' digits, too many digits. */
const HOSTILE = ["0x10", "1e3", " 12 ", "12 ", "Infinity", "-Infinity", "NaN", "", "-1", "+1", ".5", "1.", "12abc", "0b11", "1_000", "\u0661\u0662", "9".repeat(20), "%00"];
/** Hostile for integers, on top of HOSTILE: fractions. */
const FRACTIONS = ["1.5", "0.0"];

async function errorOf(res: Response) {
  expect(res.status).toBe(400);
  return ((await res.json()) as { error: { code: string; message: string; details: { parameter: string; got: string } } }).error;
}

describe("number parameters", () => {
  it.each(HOSTILE)("?wait=%j is a 400 naming wait, and starts no run", async (v) => {
    const a = app();
    const e = await errorOf(await a.request(`/workflows/greeter/runs?wait=${encodeURIComponent(v)}`, { method: "POST", body: JSON.stringify({ name: "x" }), headers: { "Content-Type": "application/json" } }));
    expect(e).toMatchObject({ code: "BAD_REQUEST", details: { parameter: "wait", got: v } });
    expect(e.message).toContain("wait");
    expect(e.message).toContain(JSON.stringify(v));
    expect(a.runs.liveCount).toBe(0);
    expect(((await (await a.request("/runs")).json()) as { runs: unknown[] }).runs).toEqual([]);
  });

  it("?wait= takes whole and decimal seconds", async () => {
    const a = app();
    for (const v of ["0", "5", "2.5", "007"]) {
      const res = await a.request(`/workflows/greeter/runs?wait=${v}`, { method: "POST", body: JSON.stringify({ name: "x" }), headers: { "Content-Type": "application/json" } });
      expect(res.status, v).toBe(v === "0" ? 202 : 200);
    }
  });

  it.each([...HOSTILE, ...FRACTIONS])("?limit=%j is a 400 naming limit", async (v) => {
    const e = await errorOf(await app().request(`/runs?limit=${encodeURIComponent(v)}`));
    expect(e).toMatchObject({ code: "BAD_REQUEST", details: { parameter: "limit", got: v } });
  });

  it("?limit= takes 1 to 500", async () => {
    const a = app();
    for (const v of ["1", "500", "050"]) expect((await a.request(`/runs?limit=${v}`)).status, v).toBe(200);
    for (const v of ["0", "501"]) expect((await errorOf(await a.request(`/runs?limit=${v}`))).details).toMatchObject({ parameter: "limit", got: v });
  });

  it.each([...HOSTILE, ...FRACTIONS])("?after=%j is a 400 naming after", async (v) => {
    const a = app();
    const { runId } = (await (await a.request("/workflows/greeter/runs", { method: "POST", body: JSON.stringify({ name: "x" }), headers: { "Content-Type": "application/json" } })).json()) as { runId: string };
    const e = await errorOf(await a.request(`/runs/${runId}/events?after=${encodeURIComponent(v)}`));
    expect(e).toMatchObject({ code: "BAD_REQUEST", details: { parameter: "after", got: v } });
  });

  it.each([...HOSTILE.filter((v) => v.trim() !== "" && v === v.trim() && !v.startsWith("%") && /^[\x20-\x7e]*$/.test(v)), ...FRACTIONS])("Last-Event-ID: %j is a 400 naming Last-Event-ID", async (v) => {
    const a = app();
    const { runId } = (await (await a.request("/workflows/greeter/runs", { method: "POST", body: JSON.stringify({ name: "x" }), headers: { "Content-Type": "application/json" } })).json()) as { runId: string };
    const e = await errorOf(await a.request(`/runs/${runId}/events?after=0`, { headers: { "Last-Event-ID": v } }));
    expect(e).toMatchObject({ code: "BAD_REQUEST", details: { parameter: "Last-Event-ID", got: v } });
  });

  it.each(["0x10", "1e3", " 12 ", "Infinity", "", "+1", "1.5", "-", "--1", "12abc", "9".repeat(20)])("LlamaIndex ?after_sequence=%j is a 400 { detail } naming it", async (v) => {
    const a = app();
    const h = (await (await a.request("/llamaindex/workflows/greeter/run", { method: "POST", body: JSON.stringify({ start_event: { name: "x" } }), headers: { "Content-Type": "application/json" } })).json()) as { handler_id: string };
    const res = await a.request(`/llamaindex/events/${h.handler_id}?after_sequence=${encodeURIComponent(v)}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain("after_sequence");
  });

  it.each(["0x10", "1e3", "Infinity", "+1", "1.5", "abc", "9".repeat(20)])("LlamaIndex Last-Event-ID: %j is a 400 { detail } naming it (before: ignored, the stream silently started at after_sequence)", async (v) => {
    const a = app();
    const h = (await (await a.request("/llamaindex/workflows/greeter/run", { method: "POST", body: JSON.stringify({ start_event: { name: "x" } }), headers: { "Content-Type": "application/json" } })).json()) as { handler_id: string };
    const res = await a.request(`/llamaindex/events/${h.handler_id}?after_sequence=-1`, { headers: { "Last-Event-ID": v } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain("Last-Event-ID");
  });
});
