import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, StartEvent, step, StopEvent, Workflow, type Store } from "../../src/index.js";
import { roundTrip } from "../stores/conformance.js";

class Task extends Event<{ i: number }> {}
class Done extends Event<{ i: number; v: number }> {}

const WIDTH = 4;

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** What a SIGKILL leaves: a copy of the store's journal up to its record `cut` (not included). */
async function crashCopy(from: Store, runId: string, cut = Infinity): Promise<MemoryStore> {
  const run = (await from.getRun(runId))!;
  const copy = new MemoryStore();
  copy.createRun(roundTrip({ runId, workflow: run.workflow, input: run.input, createdAt: run.createdAt }));
  copy.append(runId, roundTrip((await from.getJournal(runId)).slice(0, cut)));
  return copy;
}

/** The index after the `count`th completion of `step` in the journal. */
function after(journal: readonly { kind: string; step?: string }[], step: string, count: number): number {
  let seen = 0;
  const i = journal.findIndex((e) => e.kind === "step_finished" && e.step === step && ++seen === count);
  return i + 1;
}

/** Tasks sent by `sends` (the first process dies inside it while `gate.block`), squared by workers, joined. */
function fanOut(gate: { block: boolean; work: number }, sends: (ctx: Context) => Promise<void>) {
  return class FanOutBySend extends Workflow {
    @step({ accepts: StartEvent, emits: Task })
    async spread(_: StartEvent, ctx: Context) {
      await sends(ctx);
      return undefined;
    }
    @step({ accepts: Task, emits: Done })
    async work(ev: Task) {
      gate.work++;
      return new Done({ i: ev.i, v: ev.i * ev.i });
    }
    @step({ accepts: Done, emits: StopEvent })
    async join(ev: Done, ctx: Context) {
      const all = ctx.collectEvents(ev, Array<typeof Done>(WIDTH).fill(Done));
      if (all === null) return undefined;
      return new StopEvent({ result: { sum: all.reduce((s, d) => s + d.v, 0), seen: all.map((d) => d.i).sort() } });
    }
  };
}

describe("fan-out by ctx.sendEvent survives a crash of the sender (issue 11.9)", () => {
  it("a re-run step does not send again what its earlier run journaled: the result is the uncrashed one", async () => {
    const gate = { block: true, work: 0 };
    const W = fanOut(gate, async (ctx) => {
      for (let i = 0; i < WIDTH; i++) ctx.sendEvent(new Task({ i }));
      // The first process dies here: its sends are journaled, its completion is not.
      if (gate.block) await new Promise(() => {});
    });
    const store = new MemoryStore();
    const h = new W({ store, timeout: null }).run({});
    h.catch(() => {});
    await until(() => gate.work === WIDTH, "the workers");
    await until(() => store.getJournal(h.runId).filter((e) => e.kind === "step_finished" && e.step === "work").length === WIDTH, "the workers journaled");
    // The process died right after the last worker's completion was committed.
    const copy = await crashCopy(store, h.runId, after(store.getJournal(h.runId), "work", WIDTH));
    h.cancel();
    // The sends carry their invocation and index.
    const sends = copy.getJournal(h.runId).filter((e) => e.kind === "event" && e.event.type === "Task");
    expect(sends.map((e) => (e.kind === "event" ? [e.by?.split(":").slice(1).join(":"), e.n] : []))).toEqual([0, 1, 2, 3].map((n) => ["spread:1", n]));

    gate.block = false;
    const result = await new W({ store: copy, timeout: null }).resume(h.runId);
    expect(result).toEqual({ sum: 0 + 1 + 4 + 9, seen: [0, 1, 2, 3] });
    // The workers that finished before the crash did not run again, and no Task was sent twice.
    expect(gate.work).toBe(WIDTH);
    expect(copy.getJournal(h.runId).filter((e) => e.kind === "event" && e.event.type === "Task")).toHaveLength(WIDTH);
  });

  it("a re-run that sends more than its earlier run sends only the new ones", async () => {
    const gate = { block: true, work: 0 };
    const Partial = fanOut(gate, async (ctx) => {
      ctx.sendEvent(new Task({ i: 0 }));
      ctx.sendEvent(new Task({ i: 1 }));
      if (gate.block) await new Promise(() => {});
      ctx.sendEvent(new Task({ i: 2 }));
      ctx.sendEvent(new Task({ i: 3 }));
    });
    const store = new MemoryStore();
    const h = new Partial({ store, timeout: null }).run({});
    h.catch(() => {});
    await until(() => store.getJournal(h.runId).filter((e) => e.kind === "step_finished" && e.step === "work").length === 2, "two workers journaled");
    const copy = await crashCopy(store, h.runId, after(store.getJournal(h.runId), "work", 2));
    h.cancel();
    gate.block = false;
    expect(await new Partial({ store: copy, timeout: null }).resume(h.runId)).toEqual({ sum: 14, seen: [0, 1, 2, 3] });
    expect(gate.work).toBe(WIDTH);
  });
});
