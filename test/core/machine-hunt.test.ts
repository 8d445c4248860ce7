// The run's machine alone (internal modules, imported directly), at sizes the other tests do not reach.
import { describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "../../src/index.js";
import { CollectBuffer } from "../../src/core/machine/collect.js";
import { takeSet } from "./collect-rule.js";
import { machineOf } from "./machine-fixture.js";
import { requirementsOf } from "../../src/core/machine/waits.js";

class Kept extends Event<{ n: number }> {}

describe("machine: unclaimed events given back", () => {
  it("takes 300,000 at once (a resumed run's unclaimed events) without overflowing the stack, first in line", () => {
    const wf = new Workflow({ name: "W", externalEvents: [Kept] })
      .addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 }))
      .addStep({ accepts: Kept, emits: StopEvent }, () => undefined);
    const m = machineOf(wf, false);
    const last = new Kept({ n: -1 });
    m.unclaim([last]);
    const many = Array.from({ length: 300_000 }, (_, n) => new Kept({ n }));
    m.unclaim(many);
    expect(m.unclaimed).toHaveLength(300_001);
    expect(m.unclaimed[0]).toBe(many[0]);
    expect(m.unclaimed[300_000]).toBe(last);
  });
});

describe("machine: claims by requirements from the unclaimed events", () => {
  class Loose extends Event<{ id: number; tag: string }> {}
  class Sub extends Loose {}
  const machine = () => machineOf();

  it("takes the oldest that meets them, of the class asked and passing the filter, before and after the index exists", () => {
    const m = machine();
    const [a, b, c, d] = [new Loose({ id: 1, tag: "a" }), new Loose({ id: 2, tag: "b" }), new Sub({ id: 1, tag: "c" }), new Loose({ id: 1, tag: "d" })];
    for (const ev of [a, b, c]) m.emit(ev, undefined, undefined);
    const id1 = requirementsOf({ id: 1 });
    expect(m.claim(Sub, id1, undefined)).toBe(c);
    m.emit(d, undefined, undefined);
    expect(m.claim(Loose, id1, (e) => (e as Loose).tag !== "a")).toBe(d);
    expect(m.claim(Loose, id1, undefined)).toBe(a);
    expect(m.claim(Loose, id1, undefined)).toBeUndefined();
    // Given back (an attempt that took them runs again): first in line again, for both kinds of claim.
    m.unclaim([a, d]);
    expect(m.unclaimed).toEqual([a, d, b]);
    expect(m.claim(Loose, id1, undefined)).toBe(a);
    expect(m.claim(Loose, undefined, undefined)).toBe(d);
    expect(m.claim(Loose, requirementsOf({ id: 2, tag: "b" }), undefined)).toBe(b);
    expect(m.unclaimed).toEqual([]);
    expect(m.claim(Loose, requirementsOf({ id: 2 }), undefined)).toBeUndefined();
  });
});

describe("machine: a collect list with a class and its subclass", () => {
  class Base extends Event<{ n: number }> {}
  class Sub extends Base {}

  it("completes whichever order they come in: a Sub first is kept for the Sub, not taken for the Base", () => {
    // The rule as a function (the tests' model) and the engine's buffer, alike.
    const taken = [(evs: Event[], types: (typeof Base)[]) => takeSet(evs, types)?.taken ?? null, (evs: Event[], types: (typeof Base)[]) => CollectBuffer.of(evs).take(types)];
    for (const take of taken) {
      const [sub, base] = [new Sub({ n: 1 }), new Base({ n: 2 })];
      expect(take([sub, base], [Base, Sub])).toEqual([base, sub]);
      expect(take([base, sub], [Base, Sub])).toEqual([base, sub]);
      expect(take([sub, base], [Sub, Base])).toEqual([sub, base]);
      // Still: only Subs can fill a Sub; a Base fills either.
      expect(take([base, new Base({ n: 3 })], [Base, Sub])).toBeNull();
      const [s1, s2] = [new Sub({ n: 4 }), new Sub({ n: 5 })];
      // A set taken in list order stays as it was: the first Sub to the Base.
      expect(take([s1, s2], [Base, Sub])).toEqual([s1, s2]);
    }
  });

  it("a run collecting [Base, Sub] whose Sub comes first completes instead of stalling", async () => {
    class Go extends Event<{ n: number }> {}
    const wf = new Workflow({ name: "W", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: Go }, () => new Go({ n: 0 }))
      .addStep({ accepts: Go, emits: [Base, Sub] }, () => [new Sub({ n: 1 }), new Base({ n: 2 })])
      .addStep({ accepts: Base, emits: StopEvent }, function join(ev, ctx) {
        const set = ctx.collectEvents(ev, [Base, Sub]);
        if (set !== null) return new StopEvent({ result: set.map((e) => `${e.constructor.name}#${e.n}`) });
      });
    expect(await wf.run()).toEqual(["Base#2", "Sub#1"]);
  });
});
