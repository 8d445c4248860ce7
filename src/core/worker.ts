import { App, memberAt } from "./app.js";
import { Context, type RunState, type StepPort, type StepRef, type WaitOptions } from "./context.js";
import { WorkflowError, WorkflowRuntimeError } from "./errors.js";
import { eventTypeName, InputRequiredEvent, type Event, type EventClass, type EventJSON } from "./events.js";
import type { Plan } from "./plan.js";
import { errorJSON, reviveEvent } from "./records.js";
import type { StepOutcome, StepReply, StepRequest, StepScope, StepTask, StepWrite } from "./runtime.js";
import { checkEmits, type StepDefinition } from "./step.js";
import { describeWorkflow, planOf, Workflow } from "./workflow.js";

/**
 * Run one {@link StepTask} of `target` (the workflow or App the run belongs to) in this
 * process, as a runtime's worker does: the step gets a Context whose writes (sends, stream
 * writes, `ctx.store.set`) come back as data in the outcome, and whose reads go to `scope`.
 * Never rejects for the step's own error: that is `{ ok: false, error }`. Retries are not
 * applied here: the run's driver applies them around the runtime.
 * @example
 * const loopback: Runtime = { execute: (task, scope) => executeTask(wf, task, scope) };
 */
export async function executeTask(target: Workflow, task: StepTask, scope: StepScope): Promise<StepOutcome> {
  const port: WorkerPort = new WorkerPort(target, task, scope);
  try {
    const { def, ref, instance } = port.resolve();
    const ev = reviveEvent(port.plan, task.event, task.runId);
    const no = Number(task.stepRunId.slice(task.stepRunId.lastIndexOf(":") + 1));
    const ctx = new Context(port, ref, ev, task.attempt, no, scope);
    const out: unknown = await def.handler.call(instance, ev, ctx);
    const returned = out === undefined || out === null ? [] : Array.isArray(out) ? (out as unknown[]) : [out];
    for (const e of returned) port.checkEmit(ref, e, "returned");
    return { ok: true, emitted: (returned as Event[]).map((e) => e.toJSON()), writes: port.take() };
  } catch (error) {
    return { ok: false, error: errorJSON(error), writes: port.take() };
  }
}

interface WorkerRef extends StepRef {
  readonly def: StepDefinition;
}

/** The worker's side of a Context: writes are buffered as data, reads are asked of the scope. */
class WorkerPort implements StepPort {
  readonly id: string;
  readonly workflowName: string;
  readonly plan: Plan;
  #writes: StepWrite[] = [];
  readonly #snapshot: Map<string, unknown> | undefined;
  #member: string | undefined;

  constructor(
    readonly target: Workflow,
    readonly task: StepTask,
    readonly scope: StepScope,
  ) {
    this.id = task.runId;
    this.plan = planOf(target);
    this.workflowName = this.plan.workflow;
    this.#snapshot = task.state === undefined ? undefined : new Map(Object.entries(task.state));
  }

  /** The step the task names, its workflow instance, and the Context's view of it. */
  resolve(): { def: StepDefinition; ref: WorkerRef; instance: Workflow } {
    const { task } = this;
    const instance = this.target instanceof App ? memberAt(this.target.members, task.workflow) : this.plan.workflow === task.workflow ? this.target : undefined;
    const def = instance && planOf(instance).byName.get(task.step);
    if (instance === undefined || def === undefined) {
      throw new WorkflowRuntimeError(`A runtime handed workflow "${this.plan.workflow}" a task for step "${task.step}" of "${task.workflow}", which it does not have; give the worker the same workflow as the run.`, "UNKNOWN_STEP", { workflow: this.plan.workflow, runId: task.runId, step: task.step });
    }
    this.#member = this.target instanceof App ? task.workflow : undefined;
    const name = this.#member === undefined ? def.name : `${this.#member}.${def.name}`;
    return { def, instance, ref: { def: { ...def, name }, member: this.#member } };
  }

  /** The writes not yet handed to the scope. */
  take(): StepWrite[] {
    const w = this.#writes;
    this.#writes = [];
    return w;
  }

  /** Hand the writes so far to the run before a read that must see them. */
  #flush(): void {
    if (this.#writes.length > 0) this.scope.apply(this.take());
  }

  #ask(req: StepRequest): StepReply | Promise<StepReply> {
    this.#flush();
    return this.scope.request(req);
  }

  /** A read the step's API answers synchronously: the scope must answer at once. */
  #askNow(req: StepRequest, what: string): StepReply {
    const reply = this.#ask(req);
    if (reply instanceof Promise || typeof (reply as { then?: unknown }).then === "function") {
      throw new WorkflowRuntimeError(`${what} needs an answer at once from the process running run "${this.id}", and this runtime answers later; run this step in that process.`, "NEEDS_RUN_MEMORY", { workflow: this.workflowName, runId: this.id });
    }
    return reply;
  }

  #revive(json: EventJSON): Event {
    return reviveEvent(this.plan, json, this.id);
  }

  get signal(): AbortSignal {
    return this.scope.signal;
  }

  get state(): RunState {
    // The Context namespaces keys for App members; the coordinator does that for the writes.
    const strip = (key: string) => (this.#member !== undefined && key.startsWith(`${this.#member}/`) ? key.slice(this.#member.length + 1) : key);
    const read = (key: string): { found: boolean; value?: unknown } => {
      const k = strip(key);
      if (this.#snapshot !== undefined) return { found: this.#snapshot.has(k), value: this.#snapshot.get(k) };
      const r = this.#askNow({ kind: "store.get", key: k }, `ctx.store.get("${k}")`);
      return r.kind === "store.get" ? r : { found: false };
    };
    return {
      get: (key: string, fallback?: unknown) => {
        const r = read(key);
        return r.found ? r.value : fallback;
      },
      set: (key: string, value: unknown) => {
        const k = strip(key);
        this.#snapshot?.set(k, value);
        this.#writes.push({ kind: "store", key: k, value });
      },
      has: (key: string) => read(key).found,
    };
  }

  checkEmit(step: StepRef, ev: unknown, how: "returned" | "sent"): asserts ev is Event {
    checkEmits((step as WorkerRef).def, ev, how, this.workflowName, this.id);
  }

  send(ev: Event, _from: StepRef, step: string | undefined): void {
    this.#writes.push(step === undefined ? { kind: "send", event: ev.toJSON() } : { kind: "send", event: ev.toJSON(), step });
  }

  toStream(ev: Event): void {
    this.#writes.push(ev instanceof InputRequiredEvent ? { kind: "stream", event: ev.toJSON(), asks: true } : { kind: "stream", event: ev.toJSON() });
  }

  collect(_step: StepRef, ev: Event, types: readonly EventClass[]): Event[] | null {
    const r = this.#askNow({ kind: "collect", event: ev.toJSON(), types: types.map(eventTypeName) }, "ctx.collectEvents()");
    return r.kind === "collect" && r.events !== null ? r.events.map((e) => this.#revive(e)) : null;
  }

  async wait(step: StepRef, type: EventClass, options: WaitOptions<Event>): Promise<Event> {
    if (options.filter !== undefined) {
      throw new WorkflowRuntimeError(`Step "${step.def.name}" passed a filter to ctx.waitForEvent on a runtime's worker; a filter is a function and cannot reach the run. Use requirements (field values the event must have) or a narrower event class instead.`, "NEEDS_RUN_MEMORY", { workflow: this.workflowName, runId: this.id, step: step.def.name });
    }
    const r = await this.#ask({ kind: "wait", type: eventTypeName(type), timeout: options.timeout ?? null, ...(options.waiterEvent ? { waiterEvent: options.waiterEvent.toJSON(), ...(options.waiterEvent instanceof InputRequiredEvent ? { asks: true as const } : {}) } : {}), ...(options.requirements ? { requirements: options.requirements } : {}) });
    return this.#revive((r as { event: EventJSON }).event);
  }

  async call(_step: StepRef, request: Event, reply: EventClass, timeout: number | null): Promise<Event> {
    const r = await this.#ask({ kind: "call", request: request.toJSON(), reply: eventTypeName(reply), timeout });
    return this.#revive((r as { event: EventJSON }).event);
  }

  async runChild(step: StepRef, target: unknown, input: unknown): Promise<unknown> {
    const name = this.#childName(target);
    if (name === undefined) throw new WorkflowError(`Step "${step.def.name}" ran a workflow on a runtime's worker that its workflow did not add with addWorkflows; add it by name.`, { workflow: this.workflowName, runId: this.id, step: step.def.name });
    const data = input !== null && typeof input === "object" && typeof (input as { toJSON?: unknown }).toJSON === "function" ? (input as Event).toJSON().data : input;
    const r = await this.#ask({ kind: "runWorkflow", workflow: name, ...(data === undefined ? {} : { input: data as Record<string, unknown> }) });
    return (r as { result: unknown }).result;
  }

  /** The name the run knows child workflow `target` by. */
  #childName(target: unknown): string | undefined {
    if (typeof target === "string") return target;
    const owner = this.target instanceof App && this.#member !== undefined ? memberAt(this.target.members, this.#member) : this.target;
    const children = owner === undefined ? new Map<string, Workflow>() : describeWorkflow(owner).children;
    for (const [name, wf] of children) if (wf === target || wf.constructor === target) return name;
    return target instanceof Workflow ? planOf(target as Workflow).workflow : undefined;
  }
}
