import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, replay, StartEvent, step, StopEvent, suspendRun, Workflow } from "../../src/index.js";
import { planOf } from "../../src/core/workflow.js";

class Part extends Event<{ i: number }> {}

function fanIn(width: number) {
  return class FanIn extends Workflow {
    @step({ accepts: StartEvent, emits: Part })
    spread() {
      return Array.from({ length: width }, (_, i) => new Part({ i }));
    }
    @step({ accepts: Part, emits: StopEvent })
    join(ev: Part, ctx: Context) {
      const all = ctx.collectEvents(ev, Array<typeof Part>(width).fill(Part));
      return all === null ? undefined : new StopEvent({ result: all.reduce((s, p) => s + p.i, 0) });
    }
  };
}

async function bytesPerEvent(width: number): Promise<number> {
  const store = new MemoryStore();
  const h = new (fanIn(width))({ store, timeout: null }).run({});
  expect(await h).toBe((width * (width - 1)) / 2);
  return JSON.stringify(store.getJournal(h.runId)).length / width;
}

describe("durable collectEvents journals the change only (issue 11.20)", () => {
  it("journal bytes per event stay flat from width 100 to 1,000", async () => {
    const narrow = await bytesPerEvent(100);
    const wide = await bytesPerEvent(1000);
    expect(wide / narrow).toBeLessThan(1.25);
  });
});

describe("journals written before 0.2 (whole collect buffers) still resume", () => {
  it("a journal whose collect records hold the whole buffer (`seqs`) restores the same buffers and resumes to the same result", async () => {
    class Part3 extends Event<{ i: number }> {}
    class Join extends Workflow {
      @step({ accepts: StartEvent, emits: Part3 })
      spread() {
        return [new Part3({ i: 1 }), new Part3({ i: 2 })];
      }
      @step({ accepts: Part3, emits: StopEvent })
      join(ev: Part3, ctx: Context) {
        const all = ctx.collectEvents(ev, [Part3, Part3, Part3]);
        return all === null ? undefined : new StopEvent({ result: all.map((p) => p.i) });
      }
    }
    const store = new MemoryStore();
    const make = () => new Join({ store, timeout: null, externalEvents: [Part3] });
    const h = make().run({});
    h.catch(() => {});
    for (let i = 0; i < 50 && !store.getJournal(h.runId).some((e) => e.kind === "collect"); i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await suspendRun(h);
    const journal = store.getJournal(h.runId);
    const deltas = journal.filter((e) => e.kind === "collect");
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.every((e) => e.kind === "collect" && e.seqs === undefined)).toBe(true);

    // The same journal as 0.1 wrote it: each collect record replaced by the whole buffer after it.
    const buffers = new Map<string, number[]>();
    const old = journal.map((e) => {
      if (e.kind !== "collect") return e;
      let buf = buffers.get(e.key) ?? [];
      if (e.add !== undefined) buf = [...buf, e.add];
      if (e.taken !== undefined) buf = buf.filter((s) => !(e.taken as number[]).includes(s));
      buffers.set(e.key, buf);
      return { kind: "collect" as const, key: e.key, seqs: buf, at: e.at, ...(e.by !== undefined ? { by: e.by, taken: e.taken } : {}) };
    });
    const plan = planOf(make());
    const now = replay(plan, h.runId, journal).restored.collect;
    const then = replay(plan, h.runId, old).restored.collect;
    const seqsOf = (m: ReadonlyMap<string, readonly Event[]>) => [...m].map(([k, evs]) => [k, evs.map((e) => (e as Part3).i)]);
    expect(seqsOf(then)).toEqual(seqsOf(now));
    expect(seqsOf(now)).toEqual([[expect.stringContaining("join"), [1, 2]]]);

    // And the old journal, put in a store, resumes to the uncrashed answer.
    const oldStore = new MemoryStore();
    const run = store.getRun(h.runId);
    if (run === undefined) throw new Error("the run is not in the store");
    const { status, updatedAt: _u, lease: _l, ...created } = run;
    oldStore.createRun(created);
    oldStore.append(h.runId, old);
    oldStore.setStatus(h.runId, status);
    const again = new Join({ store: oldStore, timeout: null, externalEvents: [Part3] });
    expect(await again.sendEvent(h.runId, new Part3({ i: 3 }))).toEqual([1, 2, 3]);
  });
});
