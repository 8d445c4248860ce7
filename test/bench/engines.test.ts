import { describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "stepwise-ai";
import { engines } from "../../bench/engines/index.js";
import { makeGate } from "../../bench/types.js";

// The benchmark's scenarios, in-process at small sizes: every engine must compute the right
// answer, or its numbers mean nothing. No timing is asserted.
describe("bench engines", () => {
  for (const name of ["stepwise", "workflow-core", "langgraph", "baseline", "floor"]) {
    it(`${name} computes every scenario it implements`, async () => {
      const load = engines[name];
      if (!load) throw new Error(name);
      const e = await load();
      if (e.chain) expect(await e.chain(30)).toBe(30);
      if (e.fanout) expect(await e.fanout(20, 1)).toBe((20 * 19) / 2);
      if (e.runs) expect(await e.runs(25)).toBe(25);
      if (e.stream) expect(await e.stream(30)).toBeGreaterThanOrEqual(30);
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
