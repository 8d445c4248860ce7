// Claiming unclaimed events costs constant work per claim (amortized), counted in elements
// Array methods walk or move (splice, indexOf, …), not in time; and the order stays: the
// oldest unclaimed event that meets a wait is the one it takes.
import { afterEach, describe, expect, it } from "vitest";
import { Event } from "../../src/index.js";
import type { RunMachine, StepSlot } from "../../src/core/machine/run-machine.js";
import { requirementsOf, type PendingWait } from "../../src/core/machine/waits.js";
import { countArrayWalks } from "../fixtures/array-walks.js";
import { machineOf } from "./machine-fixture.js";

let checks = 0;
const plainInstanceOf = Function.prototype[Symbol.hasInstance];
/** Counts each `instanceof Kept` (every unclaimed event a claim looks at is checked so). */
class Kept extends Event<{ id: number; tag?: string }> {
  static override [Symbol.hasInstance](x: unknown): boolean {
    checks++;
    return plainInstanceOf.call(this, x);
  }
}
class Other extends Event<{ id: number }> {}

/** The Array methods whose elements walked or moved are counted. */
const counted = ["splice", "indexOf", "lastIndexOf", "includes", "filter", "slice", "concat", "find", "findIndex", "some", "every", "map", "forEach", "shift", "unshift"] as const;
let stopCounting: (() => number) | undefined;
afterEach(() => stopCounting?.());

const machine = () => machineOf();

/**
 * The work while W events arrive unclaimed (after any `m` holds) and W claims take them, in
 * `order`: elements Array methods walked or moved, plus unclaimed events a claim looked at.
 */
function workOf(w: number, claim: (m: RunMachine<StepSlot, PendingWait>, i: number) => Event | undefined, order: "oldest" | "newest" | "alternate", m = machine()): number {
  const before = m.unclaimed;
  const evs = Array.from({ length: w }, (_, id) => new Kept({ id }));
  const ids = Array.from({ length: w }, (_, i) => (order === "oldest" ? i : order === "newest" ? w - 1 - i : i % 2 === 0 ? i / 2 : w - 1 - (i - 1) / 2));
  checks = 0;
  const stop = (stopCounting = countArrayWalks(counted));
  try {
    for (const ev of evs) m.emit(ev, undefined, undefined);
    for (const id of ids) if (claim(m, id) !== evs[id]) throw new Error(`claim ${id} took the wrong event`);
  } finally {
    stop();
  }
  expect(m.unclaimed).toEqual(before);
  return stop() + checks;
}

const byId = (m: RunMachine<StepSlot, PendingWait>, id: number) => m.claim(Kept, requirementsOf({ id }), undefined);
const byFilter = (m: RunMachine<StepSlot, PendingWait>, id: number) => m.claim(Kept, undefined, (e) => (e as Kept).id === id);
const anyKept = (m: RunMachine<StepSlot, PendingWait>) => m.claim(Kept, undefined, undefined);

describe("claiming unclaimed events: work per claim does not grow with the events kept", () => {
  it("(the counter counts: each call of a counted method adds its array's length, and stopping puts the methods back)", () => {
    const indexOf = Array.prototype.indexOf;
    const stop = countArrayWalks(counted);
    [1, 2, 3].indexOf(3);
    [1, 2].splice(0, 1);
    expect(stop()).toBe(5);
    expect(Array.prototype.indexOf).toBe(indexOf);
  });

  for (const order of ["oldest", "newest", "alternate"] as const) {
    it(`W waits by requirements after W events (${order} first): 10× the events, ~10× the work`, () => {
      const small = workOf(1_000, byId, order);
      const large = workOf(10_000, byId, order);
      expect(large).toBeLessThanOrEqual(12 * Math.max(small, 1_000));
    });
  }

  it("W waits with no requirements, each taking the oldest: 10× the events, ~10× the work", () => {
    const small = workOf(1_000, anyKept, "oldest");
    const large = workOf(10_000, anyKept, "oldest");
    expect(large).toBeLessThanOrEqual(12 * Math.max(small, 1_000));
  });

  it("W waits mixing both kinds (by id, and the oldest of the class): 10× the events, ~10× the work", () => {
    const mixed = (m: RunMachine<StepSlot, PendingWait>, id: number) => (id % 2 === 0 ? byId(m, id) : anyKept(m));
    const small = workOf(1_000, mixed, "oldest");
    const large = workOf(10_000, mixed, "oldest");
    expect(large).toBeLessThanOrEqual(12 * Math.max(small, 1_000));
  });

  it("W waits by filter for the oldest, with one event of another class in front: ~10× the work", () => {
    const cost = (w: number) => {
      const m = machine();
      m.emit(new Other({ id: -1 }), undefined, undefined);
      return workOf(w, byFilter, "oldest", m);
    };
    const small = cost(1_000);
    const large = cost(10_000);
    expect(large).toBeLessThanOrEqual(12 * Math.max(small, 1_000));
  });
});

describe("claiming unclaimed events: the oldest that meets the wait first", () => {
  it("with requirements, among events sharing the value, across classes, with events given back", () => {
    const m = machine();
    const e = [new Kept({ id: 1, tag: "a" }), new Other({ id: 1 }), new Kept({ id: 2, tag: "b" }), new Kept({ id: 1, tag: "c" }), new Kept({ id: 1, tag: "d" })] as const;
    for (const ev of e) m.emit(ev, undefined, undefined);
    const id1 = requirementsOf({ id: 1 });
    expect(m.claim(Kept, id1, (x) => (x as Kept).tag !== "a")).toBe(e[3]);
    expect(m.claim(Kept, id1, undefined)).toBe(e[0]);
    expect(m.claim(Other, id1, undefined)).toBe(e[1]);
    expect(m.unclaimed).toEqual([e[2], e[4]]);
    // Given back: first in line again, before the older ones still kept.
    m.unclaim([e[3], e[0]]);
    expect(m.unclaimed).toEqual([e[3], e[0], e[2], e[4]]);
    expect(m.claim(Kept, id1, undefined)).toBe(e[3]);
    expect(m.claim(Kept, undefined, undefined)).toBe(e[0]);
    expect(m.claim(Kept, id1, undefined)).toBe(e[4]);
    expect(m.claim(Kept, id1, undefined)).toBeUndefined();
    expect(m.claim(Kept, requirementsOf({ id: 2, tag: "b" }), undefined)).toBe(e[2]);
    expect(m.unclaimed).toEqual([]);
  });

  it("the same event kept twice is two entries, claimed once each, and order holds after many claims", () => {
    const m = machine();
    const twice = new Kept({ id: 7 });
    const evs = Array.from({ length: 50 }, (_, id) => new Kept({ id }));
    m.emit(twice, undefined, undefined);
    for (const ev of evs) m.emit(ev, undefined, undefined);
    m.emit(twice, undefined, undefined);
    // Every other event by requirements (oldest first), then the rest in order by class.
    for (let id = 0; id < 50; id += 2) expect(m.claim(Kept, requirementsOf({ id }), (x) => x !== twice)).toBe(evs[id]);
    expect(m.claim(Kept, requirementsOf({ id: 7 }), undefined)).toBe(twice);
    const rest: Event[] = [];
    for (let ev = anyKept(m); ev !== undefined; ev = anyKept(m)) rest.push(ev);
    expect(rest).toEqual([...evs.filter((_, id) => id % 2 === 1), twice]);
  });

  it("an event whose required field changed after it was kept is found under its new value", () => {
    const m = machine();
    const a = new Kept({ id: 1 });
    const b = new Kept({ id: 1 });
    m.emit(a, undefined, undefined);
    m.emit(b, undefined, undefined);
    expect(m.claim(Kept, requirementsOf({ id: 5 }), undefined)).toBeUndefined(); // the index exists now
    (a as unknown as { id: number }).id = 5;
    expect(m.claim(Kept, requirementsOf({ id: 1 }), undefined)).toBe(b);
    expect(m.claim(Kept, requirementsOf({ id: 5 }), undefined)).toBe(a);
    expect(m.unclaimed).toEqual([]);
  });
});
