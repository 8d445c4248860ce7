// Live and replay are one fold (issue 10): a run's journal, cut after each record and replayed,
// gives the state the live run's machine had at that point; and every cut resumes to the
// uncrashed result. (Internal modules: the live run's machine and the fold are not public.)
import { describe, expect, it } from "vitest";
import { Context, Event, InputRequiredEvent, MemoryStore, StartEvent, StopEvent, Workflow, step, type JournalEntry } from "../../src/index.js";
import { systemClock } from "../../src/core/clock.js";
import { Run } from "../../src/core/driver/run.js";
import { Journal } from "../../src/core/durable/journal.js";
import { fold } from "../../src/core/durable/resume.js";
import type { RunMachine, StepSlot } from "../../src/core/machine/run-machine.js";
import type { PendingWait } from "../../src/core/machine/waits.js";
import type { AppendOptions } from "../../src/core/store.js";
import { planOf } from "../../src/core/workflow.js";

class Item extends Event<{ n: number }> {}
class Worked extends Event<{ n: number }> {}
/** No step takes it (as an InputRequiredEvent it may be emitted so): kept unclaimed for a later wait. */
class Note extends InputRequiredEvent<{ n: number }> {}
class Gathered extends Event<{ total: number }> {}
class Direct extends Event<{ n: number }> {}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

/** Fan-out by return and by send, a numWorkers backlog, a step named by a send, a fan-in, an event no step takes and a later wait for it. */
class Pipeline extends Workflow {
  @step({ accepts: StartEvent, emits: [Item, Note, Direct] })
  async split(_ev: StartEvent, ctx: Context) {
    ctx.sendEvent(new Note({ n: 100 }));
    ctx.sendEvent(new Direct({ n: 5 }), { step: "direct" });
    await tick();
    return [1, 2, 3, 4, 5, 6].map((n) => new Item({ n }));
  }

  @step({ accepts: Item, emits: Worked, numWorkers: 2 })
  async work(ev: Item) {
    for (let i = ev.n % 3; i >= 0; i--) await tick();
    return new Worked({ n: ev.n * 10 });
  }

  @step({ accepts: Item })
  audit() {}

  @step({ accepts: Direct, emits: Worked })
  direct(ev: Direct) {
    return new Worked({ n: ev.n });
  }

  @step({ accepts: Worked, emits: Gathered })
  gather(ev: Worked, ctx: Context) {
    const set = ctx.collectEvents(ev, [Worked, Worked, Worked, Worked, Worked, Worked, Worked]);
    if (set === null) return;
    return new Gathered({ total: set.reduce((t, w) => t + w.n, 0) });
  }

  @step({ accepts: Gathered, emits: StopEvent })
  async end(ev: Gathered, ctx: Context) {
    const note = await ctx.waitForEvent(Note);
    return new StopEvent({ result: ev.total + note.n });
  }
}

const json = (e: Event) => JSON.stringify(e.toJSON());

/** What routing decided so far, comparable between a live machine and a replayed one. */
function snapshot(m: RunMachine<StepSlot, PendingWait>) {
  return {
    active: m.active,
    steps: Object.fromEntries(m.slots.map((s) => [s.def.name, { inFlight: s.inFlight, queued: s.backlog.slice(s.head).map(json) }])),
    unclaimed: m.unclaimed.map(json),
    collects: Object.fromEntries([...(m.collects ?? [])].filter(([, buffer]) => buffer.size > 0).map(([k, buffer]) => [k, buffer.toArray().map(json)])),
  };
}

/**
 * Runs `wf` live with a journal committed on every tick, and at each commit (where a crash can
 * cut the journal) the live machine's state and how many records the store then held.
 */
async function liveRun(wf: Workflow) {
  const plan = planOf(wf);
  const id = `run-${Math.random().toString(36).slice(2)}`;
  const commits: { records: number; running: boolean; state: ReturnType<typeof snapshot> }[] = [];
  class Watched extends MemoryStore {
    override append(runId: string, entries: readonly JournalEntry[], options?: AppendOptions): void {
      super.append(runId, entries, options);
      const m = run.machine;
      commits.push({ records: this.getJournal(runId).length, running: m.running, state: snapshot(m) });
    }
  }
  const store = new Watched();
  const journal = new Journal(store, id, "batched", systemClock, { workflow: plan.workflow, onError: (err) => run.suspend(err) }, 0);
  const run = new Run({ id, workflowName: plan.workflow, instance: wf, plan, clock: systemClock, runtime: undefined, timeout: null, inspectors: null, journal });
  const input = new StartEvent();
  store.createRun({ runId: id, workflow: plan.workflow, input: input.toJSON(), createdAt: Date.now() });
  run.start(input);
  const result = await run.promise;
  await journal.flushed();
  return { store, plan, id, result, commits, entries: store.getJournal(id) };
}

describe("the live machine and the replayed journal agree", () => {
  it("at every commit, replaying the journal so far gives the live machine's state", async () => {
    const live = await liveRun(new Pipeline());
    expect(live.result).toBe(210 + 5 + 100);
    const at = live.commits.filter((c) => c.running);
    for (const c of at) {
      const replayed = snapshot(fold(live.plan, live.id, live.entries.slice(0, c.records)).machine);
      expect(replayed, `after record ${c.records - 1} (${live.entries[c.records - 1]?.kind})`).toEqual(c.state);
    }
    // The comparison covered the run: each burst of records, the numWorkers backlog, a collect buffer, an unclaimed event.
    expect(at.length).toBeGreaterThanOrEqual(4);
    expect(at.some((c) => (c.state.steps.work?.queued.length ?? 0) > 0)).toBe(true);
    expect(at.some((c) => Object.keys(c.state.collects).length > 0)).toBe(true);
    expect(at.some((c) => c.state.unclaimed.length > 0)).toBe(true);
  });

  it("every cut of the journal resumes to the uncrashed result", async () => {
    const live = await liveRun(new Pipeline());
    const all = live.entries.filter((e) => e.kind !== "run_finished");
    for (let k = 1; k <= all.length; k++) {
      const store = new MemoryStore();
      store.createRun({ runId: live.id, workflow: live.plan.workflow, input: new StartEvent().toJSON(), createdAt: 0 });
      store.append(live.id, all.slice(0, k));
      const result = await new Pipeline({ store }).resume(live.id);
      expect(result, `cut after record ${k - 1} (${all[k - 1]?.kind})`).toBe(live.result);
    }
  });
});
