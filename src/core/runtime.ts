import type { Context } from "./context.js";
import type { Event } from "./events.js";
import type { StepDefinition } from "./step.js";

/**
 * Where a step's code executes. The run loop hands each invocation to its runtime and
 * awaits what the step returned; it never knows whether that was this process or a worker.
 */
export interface Runtime {
  /** Run one attempt of `step` for `event`; return (or resolve to) what the handler returned. */
  invoke(step: StepDefinition, workflow: object, event: Event, ctx: Context): unknown;
}

/** Runs steps in this process: a direct call. */
export const localRuntime: Runtime = {
  invoke: (step, workflow, event, ctx) => step.handler.call(workflow, event, ctx),
};
