import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "stepwise-ai";
import { engines, PEER_ENGINES, peersInstalled } from "../../bench/engines/index.js";
import { floor, floorQueue } from "../../bench/engines/floor.js";
import { makeGate, type Engine } from "../../bench/types.js";
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from "../stores/helpers.js";

// The benchmark's scenarios, in-process at small sizes: every engine must compute the right
// answer, or its numbers mean nothing. No timing is asserted.

const peers = peersInstalled();
if (!peers) {
  if (process.env.CI === "true") throw new Error("bench/peers is not installed and CI=true: .ci/run must run `npm --prefix bench/peers ci` first.");
  console.warn("\n!!! bench/peers is not installed (npm --prefix bench/peers ci): SKIPPING the peer engines' checks. !!!\n");
}

describe("bench engines", () => {
  for (const name of Object.keys(engines)) {
    it.skipIf(PEER_ENGINES.has(name) && !peers)(`${name} computes every scenario it implements`, async () => {
      const load = engines[name];
      if (!load) throw new Error(name);
      const e = await load();
      if (e.chain) expect(await e.chain(30)).toBe(30);
      if (e.fanout) expect(await e.fanout(20, 1)).toBe((20 * 19) / 2);
      if (e.runs) expect(await e.runs(25)).toBe(25);
      if (e.stream) expect(await e.stream(30)).toBeGreaterThanOrEqual(30);
      if (e.react) expect(await e.react(7)).toBe(7);
    }, 30_000);
  }

  it("holds every run at the gate until the last arrives, then measures once", async () => {
    const load = engines.stepwise;
    if (!load) throw new Error("stepwise");
    const e = await load();
    let peaks = 0;
    expect(await e.runs?.(40, makeGate(40, () => peaks++))).toBe(40);
    expect(peaks).toBe(1);
  });

  it("the floors call the probe once, in the last event, and count exactly", async () => {
    for (const f of [floor, floorQueue]) {
      let probes = 0;
      expect(await f.chain?.(2_500, () => probes++)).toBe(2_500);
      expect(probes).toBe(1);
      expect(await f.chain?.(0)).toBe(0);
    }
  });

  it("the streaming floor's reader gets every handled event once, as stepwise's stream scenario counts them", async () => {
    expect(await floor.stream?.(2_500)).toBe(2_501);
    const e = await (engines.stepwise as () => Promise<Engine>)();
    expect(await e.stream?.(2_500)).toBe(2_501);
  });

  describe("durable runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-test-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    for (const name of ["stepwise", "baseline"]) {
      it(`${name} journals 30 runs in SQLite and returns each run's own result`, async () => {
        const e = await (engines[name] as () => Promise<Engine>)();
        expect(await e.durableRuns?.(30, { kind: "sqlite", file: join(dir, `${name}.db`) })).toBe(30);
      });

      it(`${name} journals 30 runs in a PostgreSQL schema of its own`, async (ctx) => {
        if (!(await postgresAvailable())) return ctx.skip();
        const schema = uniqueSchema();
        try {
          const e = await (engines[name] as () => Promise<Engine>)();
          expect(await e.durableRuns?.(30, { kind: "postgres", url: PG_URL, schema })).toBe(30);
        } finally {
          await dropSchema(schema);
        }
      });
    }
  });
});

class Part extends Event<{ i: number }> {}
class Other extends Event<{ s: string }> {}

describe("collectEvents at fan-in scale", () => {
  it("joins 500 events of one type and a mixed list in the listed order", async () => {
    const n = 500;
    const parts = Array<typeof Part>(n).fill(Part);
    const wf = new Workflow({ timeout: 10 })
      .addStep({ accepts: StartEvent, emits: [Part, Other] }, async function spread() {
        return [new Other({ s: "x" }), ...Array.from({ length: n }, (_, i) => new Part({ i }))];
      })
      .addStep({ accepts: [Part, Other], emits: StopEvent }, async function join(ev, ctx) {
        // A fresh list each call, as in LlamaIndex's `[Part] * n`, plus one of another type.
        const got = ctx.collectEvents(ev, [...parts.slice(1), Other, Part]);
        if (got === null) return undefined;
        const other = got[n - 1] as unknown as Other;
        return new StopEvent({ result: { sum: got.filter((g) => g instanceof Part).reduce((a, g) => a + g.i, 0), other: other.s, last: (got[n] as Part).i } });
      });
    expect(await wf.run()).toEqual({ sum: (n * (n - 1)) / 2, other: "x", last: n - 1 });
  });
});
