// The run's machine alone: pure functions, inputs in and decisions out, no timers, no run.
// (Internal modules, imported directly: the machine has no public surface of its own.)
import { describe, expect, it } from "vitest";
import { App, Event, StartEvent, StopEvent, Workflow, replay, step, type JournalEntry } from "../../src/index.js";
import { takeSet } from "./collect-rule.js";
import { destinations, END, stepNamed } from "../../src/core/machine/routing.js";
import { RunMachine, type RunEffects, type StepSlot } from "../../src/core/machine/run-machine.js";
import type { PendingWait } from "../../src/core/machine/waits.js";
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

/* ------------------------------------------------------------ the run machine alone */

// A recording sink: the machine's effects as data. No timers, no promises, no run.
type Slot = StepSlot;
type Wait = PendingWait & { id: string };
function machineOf(wf: Workflow) {
  const p = planOf(wf);
  const slots: Slot[] = p.steps.map((def) => ({ def, inFlight: 0, backlog: [], head: 0 }));
  const log: string[] = [];
  const tag = (ev: Event) => `${ev.constructor.name}${"n" in ev ? `#${String((ev as unknown as { n: number }).n)}` : ""}`;
  const effects: RunEffects<Slot, Wait> = {
    startStep: (slot, ev) => log.push(`start ${slot.def.name} ${tag(ev)}`),
    // As the driver does: the run ends with its StopEvent.
    completeRun: (stop) => {
      log.push(`complete ${String((stop as StopEvent).result)}`);
      m.end("completed");
    },
    keepUnclaimed: (ev) => log.push(`unclaimed ${tag(ev)}`),
    answerWait: (w, ev) => log.push(`answer ${w.id} ${tag(ev)}`),
    stalled: () => log.push("stalled"),
    statusChanged: (s) => log.push(`status ${s}`),
  };
  const m = new RunMachine<Slot, Wait>(p, slots, effects);
  m.begun = true;
  const slot = (name: string) => slots.find((s) => s.def.name === name) as Slot;
  const take = () => log.splice(0);
  return { m, slot, take };
}

class N extends Event<{ n: number }> {}
class Done extends Event<{ n: number }> {}
class Ask extends Event<{ n: number }> {}
class Reply extends Event<{ n: number }> {}

describe("machine: the run alone, inputs in and effects out", () => {
  class Chain extends Workflow {
    @step({ accepts: StartEvent, emits: N })
    first() {
      return new N({ n: 1 });
    }
    @step({ accepts: N, emits: StopEvent })
    second() {
      return new StopEvent({ result: "ok" });
    }
  }

  it("a chain: each event starts the step taking it; a StopEvent completes the run", () => {
    const { m, slot, take } = machineOf(new Chain());
    m.emit(new StartEvent(), undefined, undefined);
    expect(take()).toEqual(["start first StartEvent"]);
    expect([slot("first").inFlight, m.active]).toEqual([1, 1]);
    // One event, as the driver routes a step's single output (no array): the same as finish with [ev].
    m.finishWith(slot("first"), new N({ n: 1 }));
    expect(take()).toEqual(["start second N#1"]);
    expect([slot("first").inFlight, slot("second").inFlight, m.active]).toEqual([0, 1, 1]);
    m.finish(slot("second"), [new StopEvent({ result: "ok" })]);
    expect(take()).toEqual(["complete ok"]);
  });

  it("routes a class again as it routed it last, but a pending wait still takes it first", () => {
    class Many extends Workflow {
      @step({ accepts: StartEvent, emits: N })
      first() {}
      @step({ accepts: N, emits: StopEvent, numWorkers: 10 })
      second() {}
    }
    const { m, slot, take } = machineOf(new Many());
    const second = slot("second");
    m.emit(new N({ n: 1 }), undefined, undefined);
    m.emit(new N({ n: 2 }), undefined, undefined);
    expect(take()).toEqual(["start second N#1", "start second N#2"]);
    const w: Wait = { id: "w", type: N, filter: (e) => (e as N).n === 3, requirements: undefined };
    m.addWait(w);
    take();
    m.emit(new N({ n: 3 }), undefined, undefined);
    m.emit(new N({ n: 4 }), undefined, undefined);
    expect(take()).toEqual(["answer w N#3", "start second N#4"]);
    expect(second.inFlight).toBe(3);
  });

  class Fan extends Workflow {
    @step({ accepts: StartEvent, emits: N })
    split() {}
    @step({ accepts: N, emits: Done, numWorkers: 2 })
    work() {}
    @step({ accepts: N })
    audit() {}
    @step({ accepts: Done, emits: StopEvent })
    join() {}
  }

  it("fans an event out to every step accepting it, and queues past numWorkers until a worker is free", () => {
    const { m, slot, take } = machineOf(new Fan());
    m.emit(new StartEvent(), undefined, undefined);
    take();
    m.finish(slot("split"), [1, 2, 3].map((n) => new N({ n })));
    expect(take()).toEqual(["start work N#1", "start audit N#1", "start work N#2", "start audit N#2", "start audit N#3"]);
    const work = slot("work");
    expect([work.inFlight, work.backlog.length - work.head, slot("audit").inFlight, m.active]).toEqual([2, 1, 3, 5]);
    // A worker frees: what it emits is routed first, then its step's queue moves on.
    m.finish(work, [new Done({ n: 1 })]);
    expect(take()).toEqual(["start join Done#1", "start work N#3"]);
    expect([work.inFlight, work.backlog.length - work.head, m.active]).toEqual([2, 0, 6]);
  });

  it("is stalled when nothing runs and nothing is queued, and not before every delivery is made", () => {
    const { m, slot, take } = machineOf(new Fan());
    m.emit(new StartEvent(), undefined, undefined);
    m.finish(slot("split"), [new N({ n: 1 })]);
    take();
    // One of the two deliveries finishing silently is not the end: the other is in flight.
    m.finish(slot("audit"), []);
    expect(take()).toEqual([]);
    m.finish(slot("work"), []);
    expect(take()).toEqual(["stalled"]);
    expect(m.active).toBe(0);
  });

  class Asker extends Workflow {
    @step({ accepts: StartEvent, emits: Ask })
    ask() {}
    @step({ accepts: Reply, emits: StopEvent })
    never() {}
  }

  it("keeps an event no step takes; a later wait claims it, a pending wait takes the next one first; only waits in flight is 'waiting'", () => {
    class Q extends Workflow {
      @step({ accepts: StartEvent, emits: Ask })
      ask() {}
    }
    const { m, slot, take } = machineOf(new Q());
    m.emit(new StartEvent(), undefined, undefined);
    take();
    const asker = slot("ask");
    m.emit(new Ask({ n: 1 }), asker, undefined);
    expect(take()).toEqual(["unclaimed Ask#1"]);
    expect(m.claim(Ask, undefined, (e) => (e as Ask).n === 2)).toBeUndefined();
    expect(m.claim(Ask, undefined, undefined)).toBeInstanceOf(Ask);
    expect(m.unclaimed).toEqual([]);
    const w: Wait = { id: "w1", type: Ask, filter: undefined, requirements: undefined };
    m.addWait(w);
    expect(take()).toEqual(["status waiting"]);
    m.emit(new Ask({ n: 2 }), undefined, undefined);
    expect(take()).toEqual(["answer w1 Ask#2"]);
    m.removeWait(w);
    expect(take()).toEqual(["status running"]);
    expect(m.unclaimed).toEqual([]);
  });

  it("an event from outside that no step takes, with nothing running, stalls a workflow that takes no outside events", () => {
    const { m, slot, take } = machineOf(new Asker());
    m.emit(new StartEvent(), undefined, undefined);
    m.finish(slot("ask"), []);
    expect(take()).toEqual(["start ask StartEvent", "stalled"]);
  });

  it("a StopEvent completes the run whoever sends it, before any wait or step", () => {
    const { m, take } = machineOf(new Asker());
    m.addWait({ id: "w", type: StopEvent, filter: undefined, requirements: undefined });
    take();
    m.emit(new StopEvent({ result: 7 }), undefined, undefined);
    expect(take()).toEqual(["complete 7"]);
  });

  it("collects: buffers until a set is complete, takes it out, and keeps one copy when asked to", () => {
    const { m } = machineOf(new Asker());
    const [a, b] = [new N({ n: 1 }), new N({ n: 2 })];
    expect(m.collect("k", a, [N, N], true)).toEqual({ set: null, added: true });
    expect(m.collect("k", a, [N, N], true)).toEqual({ set: null, added: false });
    expect(m.collect("k", b, [N, N], true)).toEqual({ set: [a, b], added: true });
    expect(m.collects?.get("k")?.toArray()).toEqual([]);
  });

  it("an ended run routes nothing and hands back its pending waits", () => {
    const { m, take } = machineOf(new Chain());
    const w: Wait = { id: "w", type: N, filter: undefined, requirements: undefined };
    m.addWait(w);
    take();
    expect(m.end("cancelled")).toEqual([w]);
    m.emit(new StartEvent(), undefined, undefined);
    expect(take()).toEqual([]);
  });
});
