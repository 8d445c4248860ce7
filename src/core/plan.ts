import { eventTypeName, HumanResponseEvent, InputRequiredEvent, StartEvent, StepFailedEvent, StopEvent, type EventClass } from "./events.js";
import type { StepDefinition } from "./step.js";

/** In an App, which member a step belongs to: its `this` and its `ctx.store` namespace. */
export interface StepOwner {
  readonly member: string;
  readonly instance: object;
}

/**
 * A workflow's steps resolved once: routing tables, the event types it knows by name,
 * and every problem validation found. Built per workflow class and cached.
 */
export class Plan {
  readonly steps: readonly StepDefinition[];
  readonly byName = new Map<string, StepDefinition>();
  /** Event classes by stable type name, for reviving events from JSON. */
  readonly types = new Map<string, EventClass>();
  /** Accepted types that no step emits: they come from outside (or the run would stall). */
  readonly external: readonly EventClass[];
  readonly problems: readonly string[];
  /** The StartEvent class a plain-object input is wrapped in. */
  readonly startClass: EventClass;
  /** Set for Apps: the member each step belongs to. */
  readonly owners: ReadonlyMap<StepDefinition, StepOwner> | undefined;
  readonly #routes = new Map<EventClass, readonly StepDefinition[]>();
  /** A step accepts StepFailedEvent (by name, not through a parent class): it catches failed steps (12.12). */
  readonly catches: boolean;

  constructor(
    readonly workflow: string,
    steps: readonly StepDefinition[],
    options: { external?: readonly EventClass[]; reserved?: ReadonlySet<string>; owners?: ReadonlyMap<StepDefinition, StepOwner>; problems?: readonly string[] } = {},
  ) {
    this.steps = steps;
    this.owners = options.owners;
    const problems: string[] = [...(options.problems ?? [])];
    for (const s of steps) {
      problems.push(...s.problems);
      if (this.byName.has(s.name)) problems.push(`Two steps are named "${s.name}"; give one a different name (option name).`);
      this.byName.set(s.name, s);
      if (s.method !== undefined && options.reserved?.has(s.method)) {
        problems.push(`Step "${s.method}" would shadow Workflow.${s.method}(); rename the method.`);
      }
    }
    const all = new Set<EventClass>([StartEvent, StopEvent]);
    for (const s of steps) for (const c of [...s.accepts, ...s.emits, ...s.waitsFor]) all.add(c);
    for (const c of options.external ?? []) all.add(c);
    for (const c of all) {
      const name = eventTypeName(c);
      const seen = this.types.get(name);
      if (seen && seen !== c) problems.push(`Two different event classes are named "${name}"; give one a static type = "...".`);
      else this.types.set(name, c);
    }

    const accepts = steps.flatMap((s) => s.accepts);
    const consumers = [...accepts, ...steps.flatMap((s) => s.waitsFor)];
    const emitted = steps.flatMap((s) => s.emits);
    const starters = steps.filter((s) => s.accepts.some(isStart));
    if (starters.length === 0) problems.push("No step accepts StartEvent, so a run could never begin.");
    if (!emitted.some((e) => isA(e, StopEvent))) problems.push("No step emits StopEvent, so a run could never end.");
    for (const s of steps) {
      for (const e of s.emits) {
        // A StopEvent ends the run; an InputRequiredEvent no step takes goes to the caller's stream (12.9).
        if (isA(e, StopEvent) || isA(e, InputRequiredEvent)) continue;
        if (!consumers.some((a) => isA(e, a))) {
          problems.push(`Step "${s.name}" emits ${eventTypeName(e)}, which no step accepts (write stream-only events with ctx.writeEventToStream instead).`);
        }
      }
    }
    const external: EventClass[] = [...(options.external ?? [])];
    for (const s of steps) {
      for (const a of s.accepts) {
        // StartEvent comes with the run; StepFailedEvent from the run when a step fails (12.12).
        if (isA(StartEvent, a) || isA(a, StartEvent) || isA(StepFailedEvent, a)) continue;
        if (emitted.some((e) => isA(e, a))) continue;
        if (isA(a, HumanResponseEvent) || options.external?.some((x) => isA(x, a))) {
          if (!external.includes(a)) external.push(a);
          continue;
        }
        problems.push(`Step "${s.name}" accepts ${eventTypeName(a)}, which no step emits (list it in the workflow's externalEvents option if it is sent from outside).`);
      }
    }
    for (const s of steps) {
      const stop = s.accepts.find((a) => isA(a, StopEvent));
      if (stop) problems.push(`Step "${s.name}" accepts ${eventTypeName(stop)}: a StopEvent ends the run and reaches no step; accept another event.`);
    }
    // Reachability from StartEvent (and events sent from outside): a step no run can ever invoke is a
    // mistake, reported once per step. Only for plain workflows: an App composes its members' routes.
    if (options.owners === undefined && starters.length > 0) {
      const available: EventClass[] = [StartEvent, StepFailedEvent, ...starters.flatMap((st) => st.accepts.filter(isStart)), ...external];
      const reached = new Set<StepDefinition>();
      for (let grew = true; grew; ) {
        grew = false;
        for (const st of steps) {
          if (reached.has(st) || !st.accepts.some((a) => available.some((e) => isA(e, a)))) continue;
          reached.add(st);
          available.push(...st.emits);
          grew = true;
        }
      }
      for (const st of steps) {
        if (reached.has(st) || st.accepts.some((a) => !emitted.some((e) => isA(e, a)) && !external.includes(a))) continue;
        problems.push(`Step "${st.name}" can never run: it accepts ${st.accepts.map(eventTypeName).join(" or ")}, which only steps that can never run emit (nothing leads to them from StartEvent).`);
      }
    }
    this.catches = steps.some((st) => st.accepts.some((a) => isA(a, StepFailedEvent)));
    this.external = external;
    this.problems = problems;
    const start = starters.flatMap((s) => s.accepts).find((a) => isA(a, StartEvent) && a !== StartEvent);
    this.startClass = start ?? StartEvent;
  }

  /** The steps an event of class `cls` reaches: every step accepting it or a parent class. */
  route(cls: EventClass): readonly StepDefinition[] {
    let r = this.#routes.get(cls);
    if (r === undefined) {
      r = this.steps.filter((s) => s.accepts.some((a) => isA(cls, a)));
      this.#routes.set(cls, r);
    }
    return r;
  }
}

/** True when `cls` is StartEvent, a subclass, or a parent class (all receive a run's StartEvent). */
export function isStart(cls: EventClass): boolean {
  return isA(StartEvent, cls) || isA(cls, StartEvent);
}

/** True when class `sub` is `base` or derives from it. */
export function isA(sub: EventClass, base: EventClass): boolean {
  return sub === base || sub.prototype instanceof base;
}
