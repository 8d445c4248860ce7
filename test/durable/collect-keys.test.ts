/**
 * collectEvents buffers are keyed by step and listed type names: names holding the key's own
 * separators (`|`, `,`, `*`) must not make two lists share a buffer, nor confuse which step a
 * journaled set belongs to; keys journaled in the old format (`step|A,B*3`) still resume.
 */
import { describe, expect, it } from "vitest";
import { Event, MemoryStore, StartEvent, StopEvent, Workflow, type Context, type JournalEntry } from "../../src/index.js";
import { collectKey, collectKeyParts, normalCollectKey } from "../../src/core/machine/collect.js";

describe("collect buffer keys", () => {
  it("differ for names that the old key format joined into one", () => {
    const pairs: [string, string[], string, string[]][] = [
      ["s|T", ["U"], "s", ["T|U"]],
      ["s", ["A,B"], "s", ["A", "B"]],
      ["s", ["A*2"], "s", ["A", "A"]],
      ["s", ["A*2", "B"], "s", ["A", "A", "B"]],
      ["s,", ["A"], "s", [",A"]],
    ];
    for (const [s1, t1, s2, t2] of pairs) expect(collectKey(s1, t1), `${s1} ${t1.join(" ")}`).not.toBe(collectKey(s2, t2));
    // A repeated type is still written once, with its count: a wide fan-in's key does not grow.
    expect(collectKey("join", Array<string>(1000).fill("Part")).length).toBeLessThan(40);
  });

  it("journaled in the old formats, read as the key the same step and list have now", () => {
    expect(normalCollectKey("join|Part*3")).toBe(collectKey("join", ["Part", "Part", "Part"]));
    expect(normalCollectKey("join|Part,Part,Part")).toBe(collectKey("join", ["Part", "Part", "Part"]));
    expect(normalCollectKey("s|A,B")).toBe(collectKey("s", ["A", "B"]));
    expect(normalCollectKey("s|A")).toBe(collectKey("s", ["A"]));
    expect(normalCollectKey("s|A*2,B")).toBe(collectKey("s", ["A", "A", "B"]));
    const now = collectKey("s|T", ["A,B", "A,B"]);
    expect(normalCollectKey(now)).toBe(now);
    // Plain names: the very keys journals always held. A backslash before no separator is itself.
    expect(collectKey("join", ["Part", "Part", "Part"])).toBe("join|Part*3");
    expect(collectKey("s", ["A", "B", "B"])).toBe("s|A,B*2");
    expect(normalCollectKey("a\\b|T")).toBe(collectKey("a\\b", ["T"]));
    expect(collectKeyParts(collectKey("a\\|b*", ["x,y*2", "x,y*2", "\\"]))).toEqual({ step: "a\\|b*", types: [["x,y*2", 2], ["\\", 1]] });
  });

  it("two steps whose step and type names joined alike collect apart", async () => {
    class U extends Event<{ i: number }> {}
    class TU extends U {
      static readonly type = "T|U";
    }
    const wf = new Workflow({ name: "Keys", timeout: 5 })
      .addStep({ accepts: StartEvent, emits: [U, TU] }, () => [new U({ i: 1 }), new TU({ i: 2 }), new U({ i: 3 })])
      .addStep({ name: "s|T", accepts: U, emits: StopEvent }, (ev, ctx) => {
        if (ev instanceof TU) return undefined; // its subclass reaches it too: not collected here
        const set = ctx.collectEvents(ev, [U, U]);
        return set === null ? undefined : new StopEvent({ result: set.map((e) => `${e.constructor.name}#${e.i}`) });
      })
      .addStep({ name: "s", accepts: TU, emits: StopEvent }, (ev, ctx) => {
        const set = ctx.collectEvents(ev, [TU, TU]);
        return set === null ? undefined : new StopEvent({ result: "TU pair" });
      });
    expect(await wf.run({})).toEqual(["U#1", "U#3"]);
  });

  /** A run of a two-Part fan-in by step `name`, left waiting after the set was taken; `resume` continues a copy of its journal. */
  async function crashed(name: string) {
    class Part extends Event<{ i: number }> {}
    class Go extends Event<{ ok: boolean }> {}
    const make = (store: MemoryStore) =>
      new Workflow({ name: "Bars", store, timeout: null, externalEvents: [Go] })
        .addStep({ accepts: StartEvent, emits: Part }, () => [new Part({ i: 1 }), new Part({ i: 2 })])
        .addStep({ name, accepts: Part, emits: StopEvent, waitsFor: Go }, async (ev, ctx: Context) => {
          const set = ctx.collectEvents(ev, [Part, Part]);
          if (set === null) return undefined;
          await ctx.waitForEvent(Go);
          return new StopEvent({ result: set.map((p) => p.i) });
        });
    const store = new MemoryStore();
    const live = make(store).run({});
    while (!store.getJournal(live.runId).some((e) => e.kind === "waiting")) await new Promise((r) => setTimeout(r, 5));
    const journal = JSON.parse(JSON.stringify(store.getJournal(live.runId))) as JournalEntry[];
    live.cancel();
    await live.catch(() => undefined);
    expect(journal.some((e) => e.kind === "collect" && e.taken !== undefined)).toBe(true);
    const resume = async (entries: JournalEntry[]) => {
      const next = new MemoryStore();
      next.createRun({ runId: live.runId, workflow: "Bars", input: { type: "StartEvent", data: {} }, createdAt: 0 });
      next.append(live.runId, entries);
      const resumed = make(next).resume(live.runId);
      resumed.catch(() => undefined);
      // The re-run waits again once it has its set (the first wait is journaled already).
      const waits = () => next.getJournal(live.runId).filter((e) => e.kind === "waiting").length;
      for (let i = 0; i < 100 && waits() < 2; i++) await new Promise((r) => setTimeout(r, 5));
      if (waits() < 2) {
        resumed.cancel();
        return "the re-run did not get its set back";
      }
      resumed.sendEvent(new Go({ ok: true }));
      return resumed;
    };
    return { journal, resume };
  }

  it("a step whose name holds | gets its set back when it runs again after a crash", async () => {
    const { journal, resume } = await crashed("join|x");
    expect(await resume(journal)).toEqual([1, 2]);
  });

  it("keys journaled in the old formats resume alike", async () => {
    const { journal, resume } = await crashed("join");
    expect(await resume(journal)).toEqual([1, 2]);
    for (const key of ["join|Part*2", "join|Part,Part"]) {
      const old = journal.map((e) => (e.kind === "collect" ? { ...e, key } : e));
      expect(await resume(old)).toEqual([1, 2]);
    }
  });
});
