// The run's machine alone (internal modules, imported directly), at sizes the other tests do not reach.
import { describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "../../src/index.js";
import { RunMachine, type RunEffects, type StepSlot } from "../../src/core/machine/run-machine.js";
import type { PendingWait } from "../../src/core/machine/waits.js";
import { planOf } from "../../src/core/workflow.js";

class Kept extends Event<{ n: number }> {}

describe("machine: unclaimed events given back", () => {
  it("takes 300,000 at once (a resumed run's unclaimed events) without overflowing the stack, first in line", () => {
    const wf = new Workflow({ name: "W", externalEvents: [Kept] })
      .addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 }))
      .addStep({ accepts: Kept, emits: StopEvent }, () => undefined);
    const plan = planOf(wf);
    const slots: StepSlot[] = plan.steps.map((def) => ({ def, inFlight: 0, backlog: [], head: 0 }));
    const effects: RunEffects<StepSlot, PendingWait> = { startStep: () => {}, completeRun: () => {}, keepUnclaimed: () => {}, answerWait: () => {}, stalled: () => {}, statusChanged: () => {} };
    const m = new RunMachine<StepSlot, PendingWait>(plan, slots, effects);
    const last = new Kept({ n: -1 });
    m.unclaim([last]);
    const many = Array.from({ length: 300_000 }, (_, n) => new Kept({ n }));
    m.unclaim(many);
    expect(m.unclaimed).toHaveLength(300_001);
    expect(m.unclaimed[0]).toBe(many[0]);
    expect(m.unclaimed[300_000]).toBe(last);
  });
});
