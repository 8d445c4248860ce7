/**
 * The drawing model: plain data (nodes, edges, sections) built from workflow descriptions
 * and inspection events. Renderers (HTML, Mermaid) only read it, so it is tested without a browser.
 */
import { App, StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent, Workflow, describeWorkflow, eventTypeName } from "../index.js";
import type { EventClass, InspectionEvent, WorkflowDescription, RunStatus, Event, Resource } from "../index.js";

/** A box in a drawing. */
export interface DrawNode {
  /** Unique within its graph; stable across drawings of the same workflow. */
  readonly id: string;
  readonly kind: "step" | "event" | "workflow";
  /** The step's name, the event's type name, or the nested workflow's name. */
  readonly label: string;
  /** For events: how it stands out. `start`/`stop` are the StartEvent and StopEvent (and subclasses). */
  readonly role?: "start" | "stop" | "input" | "external" | "event";
  /** The App member that owns this step. */
  readonly owner?: string;
  /** Extra lines under the label (execution drawings: counts and durations). */
  readonly details?: readonly string[];
  /** For `workflow` nodes: the id of the section that draws it. */
  readonly link?: string;
  /** Execution drawings: the step failed at least once. */
  readonly failed?: boolean;
}

/** An arrow between two nodes. */
export interface DrawEdge {
  readonly from: string;
  readonly to: string;
  /** `accepts` event→step, `emits` step→event, `waitsFor` event→step (dashed), `calls` step→workflow. */
  readonly kind: "accepts" | "emits" | "waitsFor" | "calls";
  readonly label?: string;
}

/** One graph of a drawing. */
export interface DrawGraph {
  /** Anchor id, for links between sections. */
  readonly id: string;
  readonly title: string;
  readonly subtitle?: string;
  readonly nodes: readonly DrawNode[];
  readonly edges: readonly DrawEdge[];
}

/** One line of an execution's timeline. */
export interface TimelineEntry {
  /** Milliseconds since the run started. */
  readonly at: number;
  readonly runId: string;
  readonly workflow: string;
  readonly text: string;
}

/** Everything a drawing shows: the main graph first, then nested workflows' graphs. */
export interface DrawDocument {
  readonly title: string;
  readonly kind: "flows" | "execution";
  readonly graphs: readonly DrawGraph[];
  /** Execution drawings: what happened, in order. */
  readonly timeline?: readonly TimelineEntry[];
  /** Execution drawings: one-line summary (status, duration, counts). */
  readonly summary?: string;
  /** App members, in order, for the legend. */
  readonly owners?: readonly string[];
}

/** One member of a drawing target: a name and what it is made of. */
export interface MemberDescription {
  readonly name: string;
  readonly description: WorkflowDescription;
}

type WorkflowClass = abstract new (...args: never[]) => Workflow;
/**
 * What the drawing functions accept: a workflow class, an instance, an `App`, or any
 * object listing member workflows (`{ workflows: [...] }` or `{ members: Map }`).
 */
export type DrawTarget = Workflow | WorkflowClass | { readonly workflows: readonly unknown[]; readonly name?: string } | { readonly members: ReadonlyMap<string, Workflow>; readonly name?: string };

/** Thrown when a drawing cannot be made; the message says why and what to pass instead. */
export class DrawError extends Error {
  readonly code: string;
  constructor(message: string, code = "DRAW_ERROR") {
    super(message);
    this.name = "DrawError";
    this.code = code;
  }
}

const isWorkflowClass = (v: unknown): v is WorkflowClass => typeof v === "function" && (v === Workflow || (v as { prototype: unknown }).prototype instanceof Workflow);

/** A step's nested workflows, when core declares them (`calls` on a step, or `children` on the description). */
function nestedOf(x: unknown, key: string): unknown[] {
  const v = (x as Record<string, unknown> | null | undefined)?.[key];
  if (Array.isArray(v)) return v as unknown[];
  if (v instanceof Map) return [...(v as Map<unknown, unknown>).values()];
  return v === undefined || v === null ? [] : [v];
}

function nameOfTarget(t: unknown): string | undefined {
  if (typeof t === "string") return t;
  if (t instanceof Workflow || isWorkflowClass(t)) return describeWorkflow(t).name;
  return undefined;
}

/**
 * The members of a drawing target: one for a workflow, one per member for an App.
 * An App member may be a workflow, a workflow class, or `{ name, workflow }`.
 */
export function membersOf(target: DrawTarget): { members: MemberDescription[]; isApp: boolean } {
  const members = appMembers(target);
  if (members) return { members, isApp: true };
  if (target instanceof Workflow || isWorkflowClass(target)) {
    const description = describeWorkflow(target);
    return { members: [{ name: description.name, description }], isApp: false };
  }
  throw new DrawError(`Cannot draw ${describe(target)}: pass a Workflow class, a Workflow instance, or an App (an object with a "workflows" list).`, "NOT_DRAWABLE");
}

function appMembers(target: unknown): MemberDescription[] | undefined {
  const map = target instanceof App ? target.members : (target as { members?: unknown } | null)?.members;
  if (map instanceof Map) return [...(map as Map<string, unknown>)].map(([name, wf]) => ({ name, description: describeOrThrow(wf, name) }));
  const list = (target as { workflows?: unknown } | null)?.workflows;
  if (!Array.isArray(list)) return undefined;
  return list.map((m: unknown, i) => {
    const wf = m instanceof Workflow || isWorkflowClass(m) ? m : (m as { workflow?: unknown } | null)?.workflow;
    if (!(wf instanceof Workflow || isWorkflowClass(wf))) throw new DrawError(`App member ${i} is ${describe(m)}, not a workflow.`, "NOT_DRAWABLE");
    const description = describeWorkflow(wf);
    const given = (m as { name?: unknown }).name;
    const name = !(m instanceof Workflow || isWorkflowClass(m)) && typeof given === "string" ? given : description.name;
    return { name, description };
  });
}

function describeOrThrow(wf: unknown, name: string): WorkflowDescription {
  if (wf instanceof Workflow || isWorkflowClass(wf)) return describeWorkflow(wf);
  throw new DrawError(`App member "${name}" is ${describe(wf)}, not a workflow.`, "NOT_DRAWABLE");
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}`;
  if (typeof v === "object") return `an object (${v.constructor?.name ?? "Object"})`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Node id of an event type. Events are shared between App members, so they are not owned. */
export const eventNodeId = (type: string): string => `event:${type}`;
/** Node id of a step (owned by its member when there are several). */
export const stepNodeId = (step: string, owner?: string): string => (owner === undefined ? `step:${step}` : `step:${owner}/${step}`);
/** Node id and section id of a nested workflow. */
export const workflowNodeId = (name: string): string => `workflow:${name}`;

function roleOf(cls: EventClass, external: readonly EventClass[]): NonNullable<DrawNode["role"]> {
  const is = (base: EventClass) => cls === base || cls.prototype instanceof base;
  if (is(StartEvent)) return "start";
  if (is(StopEvent)) return "stop";
  if (is(InputRequiredEvent) || is(HumanResponseEvent)) return "input";
  if (external.includes(cls)) return "external";
  return "event";
}

/**
 * Every step, every event type and the edges between them, for one workflow or every
 * member of an App. Nested workflows become `workflow` nodes linked to their own graphs.
 */
export function buildFlowsDocument(target: DrawTarget): DrawDocument {
  const { members, isApp } = membersOf(target);
  const given = target instanceof Workflow ? describeWorkflow(target).name : (target as { name?: unknown }).name;
  const title = isApp ? (typeof given === "string" && given ? given : members.map((m) => m.name).join(" + ")) : (members[0]?.name ?? "Workflow");
  const graphs: DrawGraph[] = [];
  const drawn = new Set<string>();
  const pending: { name: string; description: WorkflowDescription }[] = [];
  const main = flowGraph("main", title, members, isApp, pending);
  graphs.push(main);
  // Nested workflows get their own sections, each drawn once however many steps call it.
  for (let next = pending.shift(); next; next = pending.shift()) {
    if (drawn.has(next.name)) continue;
    drawn.add(next.name);
    graphs.push(flowGraph(workflowNodeId(next.name), next.name, [{ name: next.name, description: next.description }], false, pending));
  }
  return { title, kind: "flows", graphs, ...(isApp ? { owners: members.map((m) => m.name) } : {}) };
}

/** The graph of some members (one, or an App's several), from their descriptions. */
export function flowGraph(id: string, title: string, members: readonly MemberDescription[], markOwners: boolean, nested: { name: string; description: WorkflowDescription }[] = []): DrawGraph {
  const nodes = new Map<string, DrawNode>();
  const edges: DrawEdge[] = [];
  const seenEdges = new Set<string>();
  const addEdge = (e: DrawEdge) => {
    const key = `${e.from}|${e.to}|${e.kind}`;
    if (!seenEdges.has(key)) {
      seenEdges.add(key);
      edges.push(e);
    }
  };
  const addEvent = (cls: EventClass, external: readonly EventClass[]) => {
    const type = eventTypeName(cls);
    const id = eventNodeId(type);
    if (!nodes.has(id)) nodes.set(id, { id, kind: "event", label: type, role: roleOf(cls, external) });
    return id;
  };
  for (const { name: owner, description } of members) {
    const external = description.externalEvents;
    // A member that nothing starts (an App member reached only by others' events) shows no StartEvent.
    if (description.steps.some((s) => s.accepts.includes(description.startEvent))) addEvent(description.startEvent, external);
    for (const s of description.steps) {
      const sid = stepNodeId(s.name, markOwners ? owner : undefined);
      // Resources a step declares (12.15), one line each under its name: "uses llm (run)".
      const uses = Object.entries((s as { resources?: Readonly<Record<string, Resource>> }).resources ?? {}).map(([key, r]) => `uses ${r.name !== undefined && r.name !== key ? `${key}: ${r.name}` : key} (${r.scope})`);
      nodes.set(sid, { id: sid, kind: "step", label: s.name, ...(markOwners ? { owner } : {}), ...(uses.length > 0 ? { details: uses } : {}) });
      for (const c of s.accepts) addEdge({ from: addEvent(c, external), to: sid, kind: "accepts" });
      for (const c of s.emits) addEdge({ from: sid, to: addEvent(c, external), kind: "emits" });
      for (const c of s.waitsFor) addEdge({ from: addEvent(c, external), to: sid, kind: "waitsFor" });
      for (const child of nestedOf(s, "calls")) {
        const childName = nameOfTarget(child);
        if (childName === undefined) continue;
        const wid = workflowNodeId(childName);
        nodes.set(wid, { id: wid, kind: "workflow", label: childName, link: wid });
        addEdge({ from: sid, to: wid, kind: "calls" });
        if (child instanceof Workflow || isWorkflowClass(child)) nested.push({ name: childName, description: describeWorkflow(child) });
      }
    }
    for (const child of nestedOf(description, "children")) {
      if (!(child instanceof Workflow || isWorkflowClass(child))) continue;
      const childName = describeWorkflow(child).name;
      const wid = workflowNodeId(childName);
      if (!nodes.has(wid)) nodes.set(wid, { id: wid, kind: "workflow", label: childName, link: wid });
      nested.push({ name: childName, description: describeWorkflow(child) });
    }
  }
  const subtitle = members.length > 1 ? `${members.length} workflows: ${members.map((m) => m.name).join(", ")}` : undefined;
  return { id, title, ...(subtitle ? { subtitle } : {}), nodes: flowOrder([...nodes.values()], edges), edges };
}

/**
 * Nodes in the order the flow reaches them from the StartEvent (breadth first), so the
 * layout reads top-down from the start and only true loops point back up.
 */
export function flowOrder(nodes: readonly DrawNode[], edges: readonly DrawEdge[]): DrawNode[] {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    let list = out.get(e.from);
    if (!list) out.set(e.from, (list = []));
    list.push(e.to);
  }
  const ordered: DrawNode[] = [];
  const seen = new Set<string>();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  // Seeds: the StartEvent, then events nothing emits (external), then every node in model order.
  const seeds = [...nodes.filter((n) => n.role === "start"), ...nodes.filter((n) => n.kind === "event" && !edges.some((e) => e.to === n.id)), ...nodes].map((n) => n.id);
  for (const seed of seeds) {
    if (seen.has(seed)) continue;
    seen.add(seed);
    const queue = [seed];
    for (let i = 0; i < queue.length; i++) {
      const node = byId.get(queue[i]!);
      if (node) ordered.push(node);
      for (const t of out.get(queue[i]!) ?? []) {
        if (!seen.has(t)) {
          seen.add(t);
          queue.push(t);
        }
      }
    }
  }
  return ordered;
}

const ms = (n: number): string => (n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(2)} s`);
const typeOf = (ev: Event): string => eventTypeName(ev.constructor as EventClass);
const roleOfInstance = (ev: Event): NonNullable<DrawNode["role"]> => roleOf(ev.constructor as EventClass, []);

/**
 * What one run did (and the runs it started), from its inspection events: the steps that
 * ran with how often and how long, the events that flowed with their counts, and a timeline.
 */
export function buildExecutionDocument(events: readonly InspectionEvent[], rootRunId?: string): DrawDocument {
  if (events.length === 0) throw new DrawError("There is nothing to draw: no inspection events were recorded for this run.", "NO_RUN");
  const runId = rootRunId ?? events[0]!.runId;
  const byRun = new Map<string, InspectionEvent[]>();
  for (const e of events) {
    let list = byRun.get(e.runId);
    if (!list) byRun.set(e.runId, (list = []));
    list.push(e);
  }
  const root = byRun.get(runId);
  if (!root) throw new DrawError(`Run "${runId}" is not among the recorded events.`, "NO_RUN");
  const childrenOf = new Map<string, string[]>();
  for (const [id, list] of byRun) {
    const started = list.find((e) => e.kind === "run_started");
    const parent = started?.kind === "run_started" ? started.parentRunId : undefined;
    if (parent !== undefined && id !== runId) {
      let kids = childrenOf.get(parent);
      if (!kids) childrenOf.set(parent, (kids = []));
      kids.push(id);
    }
  }
  const graphs: DrawGraph[] = [];
  const timeline: TimelineEntry[] = [];
  const t0 = root[0]!.time;
  const queue = [runId];
  const seen = new Set<string>();
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (seen.has(id)) continue;
    seen.add(id);
    const list = byRun.get(id);
    if (!list) continue;
    const kids = childrenOf.get(id) ?? [];
    graphs.push(runGraph(id === runId ? "main" : runSectionId(id), list, kids.map((k) => byRun.get(k) ?? []), timeline, t0));
    queue.push(...kids);
  }
  timeline.sort((a, b) => a.at - b.at);
  const finished = root.find((e) => e.kind === "run_finished");
  const workflow = root[0]!.workflow;
  const stepRuns = events.filter((e) => e.kind === "step_started" && seen.has(e.runId)).length;
  const status: RunStatus = finished?.kind === "run_finished" ? finished.status : "running";
  const summary = `${workflow} · run ${runId} · ${status}${finished?.kind === "run_finished" ? ` in ${ms(finished.durationMs)}` : ""} · ${stepRuns} step run${stepRuns === 1 ? "" : "s"}${graphs.length > 1 ? ` · ${graphs.length - 1} nested run${graphs.length === 2 ? "" : "s"}` : ""}`;
  return { title: `${workflow} — run ${runId}`, kind: "execution", graphs, timeline, summary };
}

/** Section id of a nested run in an execution drawing. */
export const runSectionId = (runId: string): string => `run:${runId}`;

function runGraph(id: string, list: readonly InspectionEvent[], children: readonly (readonly InspectionEvent[])[], timeline: TimelineEntry[], t0: number): DrawGraph {
  const workflow = list[0]!.workflow;
  const runId = list[0]!.runId;
  interface StepStats { runs: number; done: number; failed: number; totalMs: number; order: number }
  const steps = new Map<string, StepStats>();
  const eventCounts = new Map<string, { count: number; role: NonNullable<DrawNode["role"]> }>();
  const edgeCounts = new Map<string, { from: string; to: string; kind: DrawEdge["kind"]; count: number }>();
  const running = new Map<string, { step: string; since: number }>();
  const bump = (from: string, to: string, kind: DrawEdge["kind"]) => {
    const key = `${from}|${to}|${kind}`;
    const e = edgeCounts.get(key);
    if (e) e.count++;
    else edgeCounts.set(key, { from, to, kind, count: 1 });
  };
  const countEvent = (ev: Event) => {
    const type = typeOf(ev);
    const c = eventCounts.get(type);
    if (c) c.count++;
    else eventCounts.set(type, { count: 1, role: roleOfInstance(ev) });
    return eventNodeId(type);
  };
  const at = (e: InspectionEvent) => e.time - t0;
  const log = (e: InspectionEvent, text: string) => timeline.push({ at: at(e), runId, workflow, text });
  let order = 0;
  let stepStartedTimes: { step: string; time: number; end: number }[] = [];
  for (const e of list) {
    switch (e.kind) {
      case "run_started":
        countEvent(e.input);
        log(e, `run started with ${typeOf(e.input)}`);
        break;
      case "step_started": {
        let s = steps.get(e.step);
        if (!s) steps.set(e.step, (s = { runs: 0, done: 0, failed: 0, totalMs: 0, order: ++order }));
        s.runs++;
        running.set(e.stepRunId, { step: e.step, since: e.time });
        bump(eventNodeId(typeOf(e.event)), stepNodeId(e.step), "accepts");
        log(e, `${e.step} started on ${typeOf(e.event)}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}`);
        break;
      }
      case "step_finished": {
        const s = steps.get(e.step);
        if (s) {
          s.done++;
          s.totalMs += e.durationMs;
        }
        running.delete(e.stepRunId);
        stepStartedTimes.push({ step: e.step, time: e.time - e.durationMs, end: e.time });
        for (const out of e.emitted) bump(stepNodeId(e.step), countEvent(out), "emits");
        log(e, `${e.step} finished in ${ms(e.durationMs)}${e.emitted.length ? ` → ${e.emitted.map(typeOf).join(", ")}` : ", emitting nothing"}`);
        break;
      }
      case "step_failed": {
        const s = steps.get(e.step);
        if (s) {
          s.failed++;
          s.totalMs += e.durationMs;
        }
        running.delete(e.stepRunId);
        stepStartedTimes.push({ step: e.step, time: e.time - e.durationMs, end: e.time });
        log(e, `${e.step} failed after ${ms(e.durationMs)}: ${e.error instanceof Error ? e.error.message : String(e.error)}${e.willRetry ? " (will retry)" : ""}`);
        break;
      }
      case "event_sent": {
        const to = countEvent(e.event);
        if (e.step !== undefined) bump(stepNodeId(e.step), to, "emits");
        log(e, `${e.step === undefined ? "sent from outside" : `${e.step} sent`} ${typeOf(e.event)}${e.to ? ` to ${e.to}` : ""}`);
        break;
      }
      case "stream":
        log(e, `streamed ${typeOf(e.event)}`);
        break;
      case "run_finished":
        log(e, `run ${e.status} in ${ms(e.durationMs)}`);
        break;
    }
  }
  const nodes: DrawNode[] = [];
  for (const [type, c] of eventCounts) nodes.push({ id: eventNodeId(type), kind: "event", label: type, role: c.role, details: [`×${c.count}`] });
  for (const [name, s] of [...steps].sort((a, b) => a[1].order - b[1].order)) {
    nodes.push({
      id: stepNodeId(name),
      kind: "step",
      label: name,
      details: [`#${s.order} · ran ×${s.runs}${s.failed ? ` · failed ×${s.failed}` : ""}`, `${ms(s.totalMs)} total${s.runs > 1 ? ` · ${ms(s.totalMs / s.runs)} avg` : ""}`],
      ...(s.failed ? { failed: true } : {}),
    });
  }
  const edges: DrawEdge[] = [...edgeCounts.values()].map((e) => ({ from: e.from, to: e.to, kind: e.kind, label: `×${e.count}` }));
  for (const child of children) {
    const first = child[0];
    if (!first) continue;
    const fin = child.find((e) => e.kind === "run_finished");
    const cid = runSectionId(first.runId);
    nodes.push({ id: cid, kind: "workflow", label: first.workflow, link: cid, details: [fin?.kind === "run_finished" ? `${fin.status} in ${ms(fin.durationMs)}` : "running"] });
    // The caller is the step of this run that was in flight when the child started.
    const caller = [...stepStartedTimes, ...[...running.values()].map((r) => ({ step: r.step, time: r.since, end: Infinity }))].filter((s) => s.time <= first.time && s.end >= first.time).pop();
    if (caller) edges.push({ from: stepNodeId(caller.step), to: cid, kind: "calls" });
  }
  stepStartedTimes = [];
  const fin = list.find((e) => e.kind === "run_finished");
  const subtitle = `run ${runId}${fin?.kind === "run_finished" ? ` · ${fin.status} in ${ms(fin.durationMs)}` : " · still running"}`;
  return { id, title: workflow, subtitle, nodes: flowOrder(nodes, edges), edges };
}
