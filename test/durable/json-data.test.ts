import { describe, expect, it } from "vitest";
import { Context, Event, EventValidationError, MemoryStore, StartEvent, step, StopEvent, Workflow, WorkflowRuntimeError } from "../../src/index.js";

class Carry extends Event<{ value: unknown }> {}
class Answer extends Event<{ value: unknown }> {}

/** Emits what the input says, in one of three ways; a second step ends the run with it. */
class Emit extends Workflow {
  @step({ accepts: StartEvent, emits: Carry })
  async first(ev: StartEvent<{ how: "return" | "send"; bad: string }>, ctx: Context) {
    ctx.store.set("before", "kept");
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    const values: Record<string, unknown> = { bigint: 10n, cycle: cyc, map: new Map([["a", 1]]), date: new Date(0), nan: Number.NaN, fn: () => 1, nested: { list: [1, { deep: 2n }] } };
    const carry = new Carry({ value: values[ev.bad] });
    if (ev.how === "send") {
      ctx.sendEvent(carry);
      return undefined;
    }
    return carry;
  }
  @step({ accepts: Carry, emits: StopEvent })
  second(ev: Carry) {
    return new StopEvent({ result: ev.value });
  }
}

const cases: [string, RegExp][] = [
  ["bigint", /data\.value is a BigInt/],
  ["cycle", /data\.value\.self refers back to an object that contains it/],
  ["map", /data\.value is a Map, which would come back as \{\}/],
  ["date", /data\.value is a Date, which would come back as a string: store date\.toISOString\(\)/],
  ["nan", /data\.value is NaN/],
  ["fn", /data\.value is a function/],
  ["nested", /data\.value\.list\[1\]\.deep is a BigInt/],
];

describe("event data a journal cannot keep (issue 11.12)", () => {
  for (const how of ["return", "send"] as const)
    for (const [bad, message] of cases) {
      it(`a step that ${how}s ${bad} data fails with EventValidationError naming the field; nothing journaled before is lost`, async () => {
        const store = new MemoryStore();
        const h = new Emit({ store }).run({ how, bad });
        const err = await h.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowRuntimeError);
        const cause = (err as WorkflowRuntimeError).cause;
        expect(cause).toBeInstanceOf(EventValidationError);
        expect((cause as EventValidationError).message).toMatch(message);
        expect((cause as EventValidationError).eventType).toBe("Carry");
        const journal = store.getJournal(h.runId);
        // The run's start, the step's state write and its failure are all there; no Carry event was numbered.
        expect(journal.map((e) => e.kind)).toEqual(expect.arrayContaining(["run_started", "event", "step_started", "state", "step_failed", "run_finished"]));
        expect(journal.filter((e) => e.kind === "event").map((e) => (e.kind === "event" ? e.event.type : ""))).toEqual(["StartEvent"]);
        expect(store.getRun(h.runId)?.status).toBe("failed");
      });
    }

  it("the same data is fine in a run without a store (nothing is journaled)", async () => {
    expect(await new Emit().run({ how: "return", bad: "bigint" })).toBe(10n);
  });

  it("an event sent from outside with such data is refused at the door; the run goes on", async () => {
    class Waits extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      async ask(_: StartEvent, ctx: Context) {
        const a = await ctx.waitForEvent(Answer);
        return new StopEvent({ result: a.value });
      }
    }
    const store = new MemoryStore();
    const h = new Waits({ store, timeout: 5 }).run();
    await new Promise((r) => setTimeout(r, 10));
    expect(() => h.sendEvent(new Answer({ value: new Map() }))).toThrow(EventValidationError);
    h.sendEvent(new Answer({ value: [1, "two"] }));
    expect(await h).toEqual([1, "two"]);
  });
});
