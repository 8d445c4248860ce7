import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, StartEvent, step, StopEvent, Workflow, type Store } from "../../src/index.js";
import { z } from "zod";
import { roundTrip } from "../stores/conformance.js";

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** What a SIGKILL leaves: every run of the store (status, journal) as it is now, no leases. */
async function crashCopy(from: Store): Promise<MemoryStore> {
  const copy = new MemoryStore();
  for (const run of [...(await from.listRuns())].reverse()) {
    copy.createRun(roundTrip({ runId: run.runId, workflow: run.workflow, input: run.input, createdAt: run.createdAt, ...(run.parentRunId ? { parentRunId: run.parentRunId } : {}) }));
    copy.append(run.runId, roundTrip(await from.getJournal(run.runId)));
    if (run.status === "waiting") copy.setStatus(run.runId, "waiting");
    else if (run.status !== "running") copy.finish(run.runId, [], { status: run.status, ...(run.status === "completed" ? { result: run.result } : { error: run.error }) } as never);
  }
  return copy;
}

class I1 extends Event<{ n: number }> {}
class O1 extends Event<{ v: number }> {}

function nested(gate: { block: boolean; inA: number; inB: number }, store: () => Store) {
  class Inner extends Workflow {
    @step({ accepts: StartEvent, emits: I1 })
    async inA(ev: StartEvent<{ n: number }>) {
      gate.inA++;
      return new I1({ n: ev.n + 1 });
    }
    @step({ accepts: I1, emits: StopEvent })
    async inB(ev: I1) {
      gate.inB++;
      // The first process dies while the second child's last step is in flight.
      if (gate.block && ev.n > 10) await new Promise(() => {});
      return new StopEvent({ result: ev.n * 10 });
    }
  }
  class Outer extends Workflow {
    @step({ accepts: StartEvent, emits: O1, calls: [Inner] })
    async first(ev: StartEvent<{ x: number }>, ctx: Context) {
      const a = (await ctx.runWorkflow(new Inner({ store: store(), timeout: null }), { n: ev.x })) as number;
      const b = (await ctx.runWorkflow(new Inner({ store: store(), timeout: null }), { n: a })) as number;
      return new O1({ v: a + b });
    }
    @step({ accepts: O1, emits: StopEvent })
    async second(ev: O1) {
      return new StopEvent({ result: ev.v });
    }
  }
  return Outer;
}

describe("resuming a parent re-attaches its child runs (issue 11.10)", () => {
  it("a completed child gives its stored result, the one in flight is resumed; no child is left running", async () => {
    const gate = { block: true, inA: 0, inB: 0 };
    let current: Store = new MemoryStore();
    const Outer = nested(gate, () => current);
    const original = current as MemoryStore;
    const h = new Outer({ store: original, timeout: null }).run({ x: 4 });
    h.catch(() => {});
    // Child 1: 5 -> 50; child 2 starts on 50, its inB (n 51) blocks.
    await until(() => gate.inB === 2, "the second child's last step");
    await until(() => original.listRuns().some((r) => r.parentRunId && original.getJournal(r.runId).some((e) => e.kind === "step_started" && e.step === "inB" && e.seq > 1) && original.getRun(r.runId)?.status === "running" && original.getJournal(r.runId).filter((x) => x.kind === "step_started").length === 2), "the second child journaled");
    const copy = await crashCopy(original);
    h.cancel();
    // The parent names each child in its journal before starting it.
    expect(copy.getJournal(h.runId).filter((e) => e.kind === "child").map((e) => e.kind === "child" && e.n)).toEqual([0, 1]);

    gate.block = false;
    current = copy;
    const before = { inA: gate.inA, inB: gate.inB };
    const result = await new Outer({ store: copy, timeout: null }).resume(h.runId);
    expect(result).toBe(50 + 510);
    const children = copy.listRuns().filter((r) => r.parentRunId === h.runId);
    expect(children.map((c) => c.status)).toEqual(["completed", "completed"]);
    // The first child did not run again; the second re-ran only its step in flight.
    expect(gate.inA - before.inA).toBe(0);
    expect(gate.inB - before.inB).toBe(1);
  });
});

describe("a child run whose StartEvent has a schema", () => {
  it("is re-attached live when its parent resumes: the placeholder start event of a resume is not checked against the child's schema", async () => {
    class ChildStart extends StartEvent.schema(z.object({ n: z.number() })) {}
    const gate = { block: true, ran: 0 };
    let current: Store = new MemoryStore();
    class Child extends Workflow {
      @step({ accepts: ChildStart, emits: StopEvent })
      async only(ev: ChildStart) {
        gate.ran++;
        if (gate.block) await new Promise(() => {});
        return new StopEvent({ result: ev.n * 10 });
      }
    }
    class Parent extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, calls: [Child] })
      async first(ev: StartEvent<{ x: number }>, ctx: Context) {
        return new StopEvent({ result: await ctx.runWorkflow(new Child({ store: current, timeout: null }), { n: ev.x }) });
      }
    }
    const original = current as MemoryStore;
    const h = new Parent({ store: original, timeout: null }).run({ x: 4 });
    h.catch(() => {});
    await until(() => gate.ran === 1 && original.listRuns().some((r) => r.parentRunId === h.runId && original.getJournal(r.runId).some((e) => e.kind === "step_started")), "the child's step");
    const copy = await crashCopy(original);
    h.cancel();
    gate.block = false;
    current = copy;
    expect(await new Parent({ store: copy, timeout: null }).resume(h.runId)).toBe(40);
    expect(copy.listRuns().filter((r) => r.parentRunId === h.runId).map((r) => r.status)).toEqual(["completed"]);
    expect(gate.ran).toBe(2);
  });
});
