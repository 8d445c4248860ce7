// collectEvents' cost per collected event is constant (amortized): counted in operations, not time.
// The work counted is every `instanceof` against the collected classes (a static
// Symbol.hasInstance that counts) and every element an Array scan or copy walks
// (includes, indexOf, filter, slice, the buffer copies) while the run or the machine collects.
import { afterEach, describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, replay, StartEvent, step, StopEvent, Workflow, type EventClass } from "../../src/index.js";
import { CollectBuffer } from "../../src/core/machine/collect.js";
import { takeSet } from "./collect-rule.js";
import { RunMachine, type RunEffects, type StepSlot } from "../../src/core/machine/run-machine.js";
import type { PendingWait } from "../../src/core/machine/waits.js";
import { planOf } from "../../src/core/workflow.js";
import { countArrayWalks } from "../fixtures/array-walks.js";

let checks = 0;
const plainInstanceOf = Function.prototype[Symbol.hasInstance];
class Left extends Event<{ i: number }> {
  static override [Symbol.hasInstance](x: unknown): boolean {
    checks++;
    return plainInstanceOf.call(this, x);
  }
}
class Right extends Event<{ i: number }> {
  static override [Symbol.hasInstance](x: unknown): boolean {
    checks++;
    return plainInstanceOf.call(this, x);
  }
}

/** The Array methods that scan or copy, whose elements walked are counted. */
const scanning = ["includes", "indexOf", "lastIndexOf", "filter", "slice", "some", "every", "find", "findIndex", "map", "forEach"] as const;
let stopCounting: (() => number) | undefined;
afterEach(() => stopCounting?.());

/** The work of `fn`: instanceof checks against Left/Right plus elements Array methods walked. */
async function workOf(fn: () => unknown): Promise<number> {
  checks = 0;
  const stop = (stopCounting = countArrayWalks(scanning));
  try {
    await fn();
  } finally {
    stop();
  }
  return checks + stop();
}

/** n Lefts arrive first, then n Rights: each Right completes a [Left, Right] pair. */
class Pairs extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: [Left, Right] })
  spread(ev: StartEvent<{ n: number }>) {
    const out: (Left | Right)[] = [];
    for (let i = 0; i < ev.n; i++) out.push(new Left({ i }));
    for (let i = 0; i < ev.n; i++) out.push(new Right({ i }));
    return out;
  }
  pairs = 0;
  @step({ accepts: [Left, Right], emits: StopEvent, numWorkers: 1 })
  join(ev: Left | Right, ctx: Context) {
    const set = ctx.collectEvents(ev, PAIR);
    if (set === null) return undefined;
    this.pairs++;
    return this.pairs === this.size ? new StopEvent({ result: this.pairs }) : undefined;
  }
  size = 0;
}
const PAIR = [Left, Right] as const;

describe("collectEvents costs the same per event however many are buffered", () => {
  for (const durable of [false, true]) {
    it(`${durable ? "a journaled" : "an unjournaled"} run: 10x the events of one type buffered costs about 10x the work, not 100x`, async () => {
      const run = async (n: number) => {
        const wf = new Pairs({ timeout: null, ...(durable ? { store: new MemoryStore() } : {}) });
        wf.size = n;
        let result: unknown;
        const work = await workOf(async () => {
          result = await wf.run({ n });
        });
        expect(result).toBe(n);
        return work;
      };
      await run(50); // warm: classes, plans, caches
      const small = await run(200);
      const large = await run(2000);
      expect(large / small).toBeLessThan(14);
    });
  }

  it("the machine alone: 10x the events costs about 10x the work, with and without keeping one copy", async () => {
    class Wf extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      go() {
        return new StopEvent({ result: 1 });
      }
    }
    const p = planOf(new Wf());
    const none = () => undefined;
    const effects: RunEffects<StepSlot, PendingWait> = { startStep: none, completeRun: none, keepUnclaimed: none, answerWait: none, stalled: none, statusChanged: none };
    const feed = (n: number, once: boolean) => {
      const m = new RunMachine<StepSlot>(p, p.steps.map((def) => ({ def, inFlight: 0, backlog: [], head: 0 })), effects);
      const lefts = Array.from({ length: n }, (_, i) => new Left({ i }));
      const rights = Array.from({ length: n }, (_, i) => new Right({ i }));
      let sets = 0;
      return workOf(() => {
        for (const ev of lefts) m.collect("k", ev, PAIR, once);
        for (const ev of rights) if (m.collect("k", ev, PAIR, once).set !== null) sets++;
        expect(sets).toBe(n);
      });
    };
    for (const once of [false, true]) {
      const small = await feed(300, once);
      const large = await feed(3000, once);
      expect(large / small, `once: ${String(once)}`).toBeLessThan(12);
    }
  });

  it("replaying a journal of such a run: 10x the events costs about 10x the work", async () => {
    const journalOf = async (n: number) => {
      const store = new MemoryStore();
      const wf = new Pairs({ store, timeout: null });
      wf.size = n;
      const h = wf.run({ n });
      await h;
      return { plan: planOf(wf), journal: store.getJournal(h.runId), runId: h.runId };
    };
    const cost = async (n: number) => {
      const { plan, journal, runId } = await journalOf(n);
      return workOf(() => replay(plan, runId, journal));
    };
    await cost(50);
    const small = await cost(200);
    const large = await cost(2000);
    expect(large / small).toBeLessThan(14);
  });
});

describe("CollectBuffer follows takeSet's rule exactly", () => {
  class X extends Event<{ n: number }> {}
  class Y extends Event<{ n: number }> {}
  class Base extends Event<{ n: number }> {}
  class Sub extends Base {}
  class SubSub extends Sub {}
  const kinds = [X, Y, Base, Sub, SubSub] as const;
  const lists: (readonly EventClass[])[] = [[X, Y], [X, X, Y], [Base, Sub], [Sub, Base], [Base, Sub, SubSub], [SubSub, Base, Base], [X, Base, Sub, X], [Base]];

  it("the same sets and the same rest as takeSet over a plain array, for random arrivals and removals", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const types = lists[round % lists.length] as readonly EventClass[];
      const buffer = new CollectBuffer();
      let model: Event[] = [];
      for (let i = 0; i < 100; i++) {
        const r = rand(10);
        if (r === 0 && model.length > 0) {
          // The journal's uncollect: some buffered events leave.
          const out = [model[rand(model.length)] as Event];
          buffer.remove(out);
          model = model.filter((e) => !out.includes(e));
          continue;
        }
        const ev = new (kinds[rand(kinds.length)] as typeof X)({ n: i });
        const listed = types.some((t) => ev instanceof t);
        expect(buffer.accepts(ev, types)).toBe(listed);
        if (!listed) continue;
        buffer.push(ev);
        model.push(ev);
        const expected = takeSet(model, types);
        const got = buffer.take(types);
        expect(got).toEqual(expected?.taken ?? null);
        if (expected !== null) model = expected.rest;
        expect(buffer.toArray()).toEqual(model);
        expect(buffer.size).toBe(model.length);
      }
    }
  });

  it("a buffer filled before its list is known (restored from a journal) counts what it holds once the list comes", () => {
    const [b1, s1, b2] = [new Base({ n: 1 }), new Sub({ n: 2 }), new Base({ n: 3 })];
    const buffer = CollectBuffer.of([s1, b1]);
    expect(buffer.has(s1)).toBe(true);
    expect(buffer.take([Base, Sub])).toEqual([b1, s1]);
    buffer.push(b2);
    expect(buffer.take([Base, Sub])).toBeNull();
    expect(buffer.toArray()).toEqual([b2]);
    expect(buffer.has(s1)).toBe(false);
  });
});
