/** A run's machine alone, with effects that do nothing: for tests of the machine at sizes runs do not reach. */
import { StartEvent, StopEvent, Workflow } from "../../src/index.js";
import { RunMachine, type RunEffects, type StepSlot } from "../../src/core/machine/run-machine.js";
import type { PendingWait } from "../../src/core/machine/waits.js";
import { planOf } from "../../src/core/workflow.js";

const NO_EFFECTS: RunEffects<StepSlot, PendingWait> = { startStep: () => {}, completeRun: () => {}, keepUnclaimed: () => {}, answerWait: () => {}, stalled: () => {}, statusChanged: () => {} };

/**
 * The machine of a run of `wf` (by default one step, StartEvent → StopEvent). `begun`: the run has
 * begun, with a step running, so an unclaimed event does not stall it.
 */
export function machineOf(wf: Workflow = new Workflow({ name: "W" }).addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 })), begun = true): RunMachine<StepSlot, PendingWait> {
  const plan = planOf(wf);
  const slots: StepSlot[] = plan.steps.map((def) => ({ def, inFlight: 0, backlog: [], head: 0 }));
  const m = new RunMachine<StepSlot, PendingWait>(plan, slots, NO_EFFECTS);
  if (begun) {
    m.begun = true;
    m.active = 1;
  }
  return m;
}
