// The run's machine alone: pure functions, inputs in and decisions out, no timers, no run.
// (Internal modules, imported directly: the machine has no public surface of its own.)
import { describe, expect, it } from "vitest";
import { App, Event, StartEvent, StopEvent, Workflow, replay, step, type JournalEntry } from "../../src/index.js";
import { takeSet } from "../../src/core/machine/collect.js";
import { destinations, END, stepNamed } from "../../src/core/machine/routing.js";
import { planOf } from "../../src/core/workflow.js";

class Question extends Event<{ q: string }> {}
class Urgent extends Question {}
class Other extends Event {}

class A extends Workflow {
  @step({ accepts: Question, emits: StopEvent })
  handle() {
    return new StopEvent({ result: "A" });
  }
}
class B extends Workflow {
  @step({ accepts: StartEvent, emits: Question })
  ask() {
    return new Question({ q: "?" });
  }
  @step({ accepts: Question })
  handle() {}
}
const plan = planOf(new App({ workflows: [new A(), new B()], entry: "B" }));
const names = (d: ReturnType<typeof destinations>) => (d === END ? END : d.map((s) => s.name));

describe("machine: routing", () => {
  it("resolves a member's unqualified step name to its own step, and full names from anywhere", () => {
    expect(stepNamed(plan, "handle", "B.ask")?.name).toBe("B.handle");
    expect(stepNamed(plan, "handle", "A.handle")?.name).toBe("A.handle");
    expect(stepNamed(plan, "handle", undefined)).toBeUndefined();
    expect(stepNamed(plan, "A.handle", "B.ask")?.name).toBe("A.handle");
    expect(stepNamed(plan, "nope", "B.ask")).toBeUndefined();
  });

  it("sends a StopEvent to the end, others to every accepting step (subclasses too) or to the one named", () => {
    expect(destinations(plan, new StopEvent({ result: 1 }))).toBe(END);
    expect(names(destinations(plan, new Question({ q: "x" })))).toEqual(["A.handle", "B.handle"]);
    expect(names(destinations(plan, new Urgent({ q: "x" })))).toEqual(["A.handle", "B.handle"]);
    expect(names(destinations(plan, new Question({ q: "x" }), "handle", "B.ask"))).toEqual(["B.handle"]);
    expect(names(destinations(plan, new Other()))).toEqual([]);
    expect(names(destinations(plan, new Question({ q: "x" }), "missing", "B.ask"))).toEqual([]);
  });
});

describe("machine: collect buffers", () => {
  class X extends Event<{ n: number }> {}
  class Y extends Event {}
  it("takes one event per listed class in order, and keeps the rest", () => {
    const [x1, y, x2, x3] = [new X({ n: 1 }), new Y(), new X({ n: 2 }), new X({ n: 3 })];
    expect(takeSet([x1, x2], [X, Y])).toBeNull();
    expect(takeSet([x1], [X, X])).toBeNull();
    const set = takeSet([x1, y, x2, x3], [X, Y, X]);
    expect(set?.taken).toEqual([x1, y, x2]);
    expect(set?.rest).toEqual([x3]);
    expect(set?.taken[2]).toBe(x2);
  });
});

describe("machine: replay folds the journal", () => {
  const at = 0;
  const start = (): JournalEntry[] => [
    { kind: "run_started", workflow: "App", input: { type: "StartEvent", data: {} }, at },
    { kind: "event", seq: 1, event: { type: "StartEvent", data: {} }, at },
    { kind: "step_started", stepRunId: "r:B.ask:1", step: "B.ask", seq: 1, attempt: 1, at },
    { kind: "event", seq: 2, event: { type: "Question", data: { q: "why" } }, from: "B.ask", to: "handle", at },
  ];

  it("routes a member's unqualified send to its own step, as the live run did", () => {
    const r = replay(plan, "r", start());
    expect(r.restored.deliveries.map((d) => d.step)).toEqual(["B.handle"]);
    expect(r.restored.inFlight.map((f) => [f.step, f.attempt, f.no])).toEqual([["B.ask", 2, 1]]);
    expect(r.restored.unclaimed).toEqual([]);
  });

  it("does not deliver again to a step that started on the event, and runs again what did not finish", () => {
    const r = replay(plan, "r", [...start(), { kind: "step_started", stepRunId: "r:B.handle:2", step: "B.handle", seq: 2, attempt: 1, at }, { kind: "step_finished", stepRunId: "r:B.handle:2", step: "B.handle", emitted: [], at }]);
    expect(r.restored.deliveries).toEqual([]);
    expect(r.restored.inFlight.map((f) => f.step)).toEqual(["B.ask"]);
    expect(r.restored.invocations).toBe(2);
  });

  it("completes with a StopEvent that was journaled, and keeps events no step takes for a later wait", () => {
    const r = replay(plan, "r", [
      ...start(),
      { kind: "event", seq: 3, event: { type: "HumanResponseEvent", data: { ok: true } }, at },
      { kind: "event", seq: 4, event: { type: "StopEvent", data: { result: "done" } }, at },
    ]);
    expect(r.restored.stop).toBeInstanceOf(StopEvent);
    expect(r.restored.unclaimed.map((e) => e.constructor.name)).toEqual(["HumanResponseEvent"]);
  });
});
