/*
 * PROVISIONAL: the core is writing `executeTask(workflow, task, scope)` (run one StepTask in this
 * process against a StepScope, with the full Context). Until it is merged, this small stand-in
 * runs a step with a Context-shaped object: returns, sendEvent, writeEventToStream, store get/set
 * (from task.state), waitForEvent, call and runWorkflow through the scope; collectEvents is refused.
 * Replaced by the core's export at the merge.
 */
import { describeWorkflow, eventTypeName, isEvent, type Event, type EventClass, type Workflow } from "../../index.js";
import { errorJSON } from "./bus.js";
import { BullMQRuntimeError } from "./errors.js";
import type { StepOutcome, StepReply, StepScope, StepTask, StepWrite } from "../../index.js";

export async function executeTask(wf: Workflow, task: StepTask, scope: StepScope): Promise<StepOutcome> {
  const writes: StepWrite[] = [];
  try {
    const def = describeWorkflow(wf).steps.find((s) => s.name === task.step);
    if (!def) throw new BullMQRuntimeError(`Workflow "${task.workflow}" has no step "${task.step}".`, "UNKNOWN_STEP", { runId: task.runId, step: task.step });
    const state = new Map(Object.entries(task.state ?? {}));
    const flush = () => scope.apply(writes.splice(0));
    const revive = (r: StepReply): Event => {
      if (r.kind !== "event") throw new BullMQRuntimeError(`Expected an event reply, got "${r.kind}".`, "BAD_TASK");
      return wf.reviveEvent(r.event);
    };
    const ctx = {
      runId: task.runId,
      stepName: task.step,
      stepRunId: task.stepRunId,
      attempt: task.attempt,
      signal: scope.signal,
      store: {
        get: (key: string, fallback?: unknown) => (state.has(key) ? state.get(key) : fallback),
        set: (key: string, value: unknown) => {
          state.set(key, value);
          writes.push({ kind: "store", key, value: JSON.parse(JSON.stringify(value)) as unknown });
        },
        has: (key: string) => state.has(key),
      },
      sendEvent: (ev: Event, o: { step?: string } = {}) => writes.push({ kind: "send", event: ev.toJSON(), ...(o.step === undefined ? {} : { step: o.step }) }),
      writeEventToStream: (ev: Event) => writes.push({ kind: "stream", event: ev.toJSON() }),
      collectEvents: () => {
        throw new BullMQRuntimeError(`Step "${task.step}" called collectEvents on a worker, which needs the core's JSON seam.`, "BAD_TASK");
      },
      waitForEvent: async (type: EventClass, o: { timeout?: number | null; waiterEvent?: Event } = {}) => {
        flush();
        return revive(await scope.request({ kind: "wait", type: eventTypeName(type), timeout: o.timeout ?? null, ...(o.waiterEvent ? { waiterEvent: o.waiterEvent.toJSON() } : {}) }));
      },
      call: async (request: Event, reply: EventClass, o: { timeout?: number | null } = {}) => {
        flush();
        return revive(await scope.request({ kind: "call", request: request.toJSON(), reply: eventTypeName(reply), timeout: o.timeout ?? null }));
      },
      runWorkflow: async (target: { name?: string }, input?: Record<string, unknown>) => {
        flush();
        const r = await scope.request({ kind: "runWorkflow", workflow: String(target.name), ...(input ? { input } : {}) });
        return r.kind === "result" ? r.result : undefined;
      },
    };
    const result: unknown = await def.handler.call(wf, wf.reviveEvent(task.event), ctx as never);
    const list = result === undefined || result === null ? [] : Array.isArray(result) ? (result as unknown[]) : [result];
    const emitted = list.filter(isEvent).map((e) => e.toJSON());
    return { ok: true, emitted, writes };
  } catch (err) {
    return { ok: false, error: errorJSON(err), writes };
  }
}
