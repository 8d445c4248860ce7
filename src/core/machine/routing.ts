import type { Plan } from "../plan.js";
import type { StepDefinition } from "../step.js";

/**
 * The one step-name rule, used by live runs and by replay alike: `name` is a step's full name
 * (`"B.handle"` in an App), or, when the sender is a step of an App member, the member's own
 * step unqualified (`"handle"` sent from a step of `B` means `"B.handle"`). An event sent from
 * outside the run (`from` undefined) names the step in full. Undefined when no step has that name.
 */
export function stepNamed(plan: Plan, name: string, from: string | undefined): StepDefinition | undefined {
  const def = plan.byName.get(name);
  if (def !== undefined || from === undefined || plan.owners === undefined) return def;
  const member = memberOf(plan, from);
  return member === undefined ? undefined : plan.byName.get(`${member}.${name}`);
}

/** The App member owning step `step` (a full step name), or undefined outside an App. */
export function memberOf(plan: Plan, step: string): string | undefined {
  const def = plan.byName.get(step);
  return def === undefined ? undefined : plan.owners?.get(def)?.member;
}
