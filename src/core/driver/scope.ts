import type { Context } from "../context.js";
import { WorkflowRuntimeError } from "../errors.js";
import type { Event, EventClass, EventJSON } from "../events.js";
import type { Plan } from "../plan.js";
import { eventClass, reviveEvent, reviveStreamed } from "../records.js";
import type { StepReply, StepRequest, StepScope, StepTask, StepWrite } from "../runtime.js";

/**
 * The coordinator's side of one remote attempt: a {@link StepScope} over the attempt's own
 * live Context, so a write or read from a worker takes the very path a local step's would
 * (the same `emits` checks, routing, journaling and App namespaces).
 */
export function contextScope(ctx: Context, task: StepTask, input: Event, plan: Plan): StepScope {
  const revive = (json: EventJSON): Event =>
    // The event the step handles comes back as itself, so buffers and journals know it.
    JSON.stringify(json) === JSON.stringify(task.event) ? input : reviveEvent(plan, json, task.runId);
  const cls = (type: string): EventClass => {
    const c = eventClass(plan, type);
    if (c === undefined) throw new WorkflowRuntimeError(`Step "${ctx.stepName}" named event type "${type}", which workflow "${plan.workflow}" does not have.`, "UNKNOWN_EVENT_TYPE", { workflow: plan.workflow, runId: task.runId, step: ctx.stepName });
    return c;
  };
  return {
    get signal() {
      return ctx.signal;
    },
    apply(writes: readonly StepWrite[]): void {
      for (const w of writes) {
        if (w.kind === "send") ctx.sendEvent(revive(w.event), w.step === undefined ? {} : { step: w.step });
        else if (w.kind === "stream") ctx.writeEventToStream(reviveStreamed(plan, w.event, task.runId, w.asks === true));
        else ctx.store.set(w.key, w.value);
      }
    },
    request(req: StepRequest): StepReply | Promise<StepReply> {
      switch (req.kind) {
        case "store.get": {
          const found = ctx.store.has(req.key);
          return found ? { kind: "store.get", found, value: ctx.store.get(req.key) } : { kind: "store.get", found };
        }
        case "collect": {
          const got = ctx.collectEvents(revive(req.event), req.types.map(cls));
          return { kind: "collect", events: got === null ? null : got.map((e) => e.toJSON()) };
        }
        case "wait":
          return ctx
            .waitForEvent(cls(req.type), { timeout: req.timeout, ...(req.waiterEvent ? { waiterEvent: reviveStreamed(plan, req.waiterEvent, task.runId, req.asks === true) } : {}), ...(req.requirements ? { requirements: req.requirements } : {}) })
            .then((ev) => ({ kind: "event", event: ev.toJSON() }));
        case "call":
          return ctx.call(revive(req.request), cls(req.reply), { timeout: req.timeout }).then((ev) => ({ kind: "event", event: ev.toJSON() }));
        case "runWorkflow":
          // A name: the run looks it up among the workflows added to the step's workflow.
          return ctx.runWorkflow(req.workflow as never, req.input as never).then((result) => ({ kind: "result", result }));
        default:
          throw new WorkflowRuntimeError(`A runtime asked run "${task.runId}" for ${JSON.stringify((req as { kind?: unknown }).kind)}, which a step scope does not answer.`, "BAD_REQUEST", { workflow: plan.workflow, runId: task.runId, step: ctx.stepName });
      }
    },
  };
}
