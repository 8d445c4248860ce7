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
    problems.push(...collisions(members));
    if (entry !== undefined && !members.has(entry)) problems.push(`entry "${entry}" is not a member of the App (members: ${[...members.keys()].join(", ")}).`);
    super({ name: "App", ...options }, (name, opts) => composePlan(name, members, entry, problems, opts.externalEvents ?? []));
    OWN_PROBLEMS.set(this, problems);
    this.members = members;
  }
}

/** A workflow an App runs steps of, by its path: `member`, or `member.inner` for a member of a member that is an App. */
interface Leaf {
  readonly path: string;
  /** The App's own member it belongs to. */
  readonly top: string;
}

/** The workflows under `members`, each with its path (as its steps' owners name it). */
function leavesOf(members: ReadonlyMap<string, Workflow>, prefix: string, top: string | undefined, out: Leaf[]): Leaf[] {
  for (const [name, wf] of members) {
    const path = `${prefix}${name}`;
    if (wf instanceof App) leavesOf(wf.members, `${path}.`, top ?? name, out);
    else out.push({ path, top: top ?? name });
  }
  return out;
}

/**
 * Members whose names meet once joined into keys: a member's `ctx.store` keys are stored as
 * `path/key` (so member "a"'s key "b/x" is member "a/b"'s key "x"), and its steps, and a runtime's
 * tasks, name it by its path (a member "shop.Pricing" and an App "shop"'s member "Pricing" are
 * one). Found in work linear in the names' length: each path's `/` prefixes are looked up.
 * Collisions inside a member that is an App are that App's own problems (reported with it).
 */
function collisions(members: ReadonlyMap<string, Workflow>): string[] {
  const leaves = leavesOf(members, "", undefined, []);
  const byPath = new Map<string, Leaf[]>();
  for (const leaf of leaves) {
    const list = byPath.get(leaf.path);
    if (list === undefined) byPath.set(leaf.path, [leaf]);
    else list.push(leaf);
  }
  const shown = (l: Leaf) => (l.path === l.top ? `"${l.top}"` : `"${l.top}" (its member "${l.path.slice(l.top.length + 1)}")`);
  const problems: string[] = [];
  for (const [path, list] of byPath) {
    const first = list[0] as Leaf;
    for (const other of list.slice(1)) {
      if (other.top === first.top) continue;
      problems.push(`App members ${shown(first)} and ${shown(other)} are both "${path}": their ctx.store keys, step names and a runtime's tasks would be one member's; rename one.`);
    }
  }
  for (const leaf of leaves) {
    for (let i = leaf.path.indexOf("/"); i >= 0; i = leaf.path.indexOf("/", i + 1)) {
      const under = byPath.get(leaf.path.slice(0, i));
      if (under === undefined) continue;
      for (const owner of under) {
        if (owner.top === leaf.top) continue;
        const key = leaf.path.slice(i + 1);
        problems.push(`App members ${shown(owner)} and ${shown(leaf)} would share ctx.store keys: ${shown(owner)}'s key "${key}/…" is ${shown(leaf)}'s key "…" (keys are stored as "member/key"); rename one so that neither name, followed by "/", begins the other.`);
      }
    }
  }
  return problems;
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
