import { isStart, Plan, type StepOwner } from "./plan.js";
import type { EventClass } from "./events.js";
import { describeValue, type StepDefinition } from "./step.js";
import { planOf, RESERVED, stateSchemaOf, Workflow, type WorkflowOptions } from "./workflow.js";

/** The problems an App found in its own options (not in its steps), for an App that takes it as a member. */
const OWN_PROBLEMS = new WeakMap<object, readonly string[]>();

/**
 * @internal The member workflow `path` names among an App's `members`: a member's name, or, for
 * a member that is an App itself, its name, a dot and the path of a member in it (`"shop.Pricing"`).
 */
export function memberAt(members: ReadonlyMap<string, Workflow>, path: string): Workflow | undefined {
  const direct = members.get(path);
  if (direct !== undefined) return direct;
  for (const [name, wf] of members) {
    if (wf instanceof App && path.startsWith(`${name}.`)) {
      const found = memberAt(wf.members, path.slice(name.length + 1));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Options of an {@link App}: its members, and the options of the App's runs. */
export interface AppOptions extends WorkflowOptions {
  /** The member workflows: a list (named by their workflow names) or `{ name: instance }`. */
  workflows: readonly Workflow[] | Readonly<Record<string, Workflow>>;
  /** The member whose steps receive the StartEvent, when more than one accepts it. */
  entry?: string;
}

/**
 * Independent workflows joined into one event space: an event emitted by a step of one member
 * reaches every step of every member that accepts it, with no member importing another.
 * The App has one run id, one stream and one result (the first StopEvent); each member keeps its
 * own instance (`this`) and its own `ctx.store` keys. Members' own run options (timeout, store…)
 * are not used: the App's are. Step names are qualified by member: `"TradeStation.trade"`.
 * @example
 * const app = new App({ workflows: [new ComplexTradeMonitorV3(), new TradeStation()], timeout: 20 });
 * await app.run({ payload: "AAPL" });
 */
export class App<TInput extends object = Record<string, unknown>, TResult = unknown> extends Workflow<TInput, TResult> {
  /** The member workflows, by name. */
  readonly members: ReadonlyMap<string, Workflow>;

  constructor({ workflows, entry, ...options }: AppOptions) {
    const members = new Map<string, Workflow>();
    const problems: string[] = [];
    // Plain JavaScript may pass anything: what is not a list or an object of members is no members.
    const given = workflows as unknown;
    const list: [string, unknown][] = Array.isArray(given)
      ? (given as readonly unknown[]).map((w) => [w instanceof Workflow ? planOf(w as Workflow).workflow : "?", w])
      : given !== null && typeof given === "object"
        ? Object.entries(given)
        : [];
    if (list.length === 0) problems.push(`The App has no member workflows${Array.isArray(given) || (given !== null && typeof given === "object") ? "" : ` (workflows is ${describeValue(given)})`}; pass workflows: [new SomeWorkflow(), ...].`);
    for (const [name, wf] of list) {
      if (!(wf instanceof Workflow)) {
        problems.push(`App member "${name}" is not a Workflow instance; pass instances (new ${name}()), not classes.`);
        continue;
      }
      let memberName = name;
      // Plain `new Workflow()` members built with addStep share the class's name: number them by position.
      if (Array.isArray(workflows) && members.has(name) && wf.constructor === Workflow && name === "Workflow") for (let n = 2; members.has(memberName); n++) memberName = `${name}${n}`;
      if (members.has(memberName)) {
        problems.push(`Two App members are named "${name}"; pass workflows as { someName: instance, otherName: instance }, or give each a name option.`);
        continue;
      }
      const same = [...members].find(([, m]) => m === wf)?.[0];
      if (same !== undefined) {
        // Every step of it would run twice for each event, on one `this`.
        problems.push(`App members "${same}" and "${memberName}" are the same workflow instance; add it once, or make a second instance (new ${(wf as Workflow).constructor.name}()).`);
        continue;
      }
      members.set(memberName, wf as Workflow);
      // A member's typed state would be lost silently: in an App, ctx.store is the member's untyped keys.
      if (stateSchemaOf(wf as Workflow) !== undefined) {
        problems.push(`App member "${memberName}" has a state schema, which an App does not apply: its steps' ctx.store would be untyped, unchecked and without the schema's defaults. Take the state option off the member, or run it as a child (ctx.runWorkflow), which keeps its state.`);
      }
      // An App member that is an App: what it found wrong in its own options is wrong here too.
      for (const p of OWN_PROBLEMS.get(wf) ?? []) problems.push(`In App member "${memberName}": ${p}`);
    }
    if (entry !== undefined && !members.has(entry)) problems.push(`entry "${entry}" is not a member of the App (members: ${[...members.keys()].join(", ")}).`);
    super({ name: "App", ...options }, (name, opts) => composePlan(name, members, entry, problems, opts.externalEvents ?? []));
    OWN_PROBLEMS.set(this, problems);
    this.members = members;
  }
}

function composePlan(name: string, members: ReadonlyMap<string, Workflow>, entry: string | undefined, fixed: readonly string[], external: readonly EventClass[]): Plan {
  const problems = [...fixed];
  const steps: StepDefinition[] = [];
  const owners = new Map<StepDefinition, StepOwner>();
  const ext = new Set<EventClass>(external);
  const starters: string[] = [];
  for (const [member, wf] of members) {
    const plan = planOf(wf);
    for (const e of plan.external) ext.add(e);
    const startsHere = plan.steps.some((s) => s.accepts.some(isStart));
    if (startsHere) starters.push(member);
    const receivesStart = entry === undefined || entry === member;
    for (const def of plan.steps) {
      const accepts = receivesStart ? def.accepts : def.accepts.filter((a) => !isStart(a));
      if (accepts.length === 0) continue;
      const qualified: StepDefinition = { ...def, name: `${member}.${def.name}`, accepts };
      steps.push(qualified);
      // A member that is an App itself: its step keeps its own member's instance and keys, under
      // this member's name ("shop.Pricing"), as its step name is ("shop.Pricing.price").
      const inner = plan.owners?.get(def);
      owners.set(qualified, inner === undefined ? { member, instance: wf } : { member: `${member}.${inner.member}`, instance: inner.instance });
    }
  }
  if (starters.length > 1 && entry === undefined) {
    problems.push(`Members ${starters.map((m) => `"${m}"`).join(" and ")} all accept StartEvent; name the one that starts the App with entry: "${starters[0] ?? ""}".`);
  }
  return new Plan(name, steps, { external: [...ext], reserved: RESERVED, owners, problems });
}
