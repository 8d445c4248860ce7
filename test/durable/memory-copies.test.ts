// MemoryStore copies what it is handed and what it hands out (the Store contract), by hand for
// plain JSON records and through structuredClone for anything else (issue 11.21: per-run cost).
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryStore, type JournalEntry } from "../../src/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const run = { runId: "r1", workflow: "W", input: { type: "StartEvent", data: { q: { deep: [1, { x: 2 }] } } }, createdAt: 1 };

describe("MemoryStore copies", () => {
  it("keeps and hands out copies: mutating either side changes nothing stored", () => {
    const s = new MemoryStore();
    const given = structuredClone(run);
    s.createRun(given);
    (given.input.data.q.deep[1] as { x: number }).x = 99;
    const data = { list: [{ a: 1 }], none: null, flag: true };
    const entry: JournalEntry = { kind: "event", seq: 1, event: { type: "E", data }, at: 5 };
    s.append("r1", [entry]);
    (data.list[0] as { a: number }).a = 7;
    const got = s.getJournal("r1");
    expect(got).toEqual([{ kind: "event", seq: 1, event: { type: "E", data: { list: [{ a: 1 }], none: null, flag: true } }, at: 5 }]);
    const first = got[0];
    if (first?.kind !== "event") throw new Error("expected an event record");
    first.event.data.flag = false;
    const again = s.getJournal("r1")[0];
    expect(again?.kind === "event" && again.event.data.flag).toBe(true);
    expect(s.getRun("r1")?.input).toEqual({ type: "StartEvent", data: { q: { deep: [1, { x: 2 }] } } });
  });

  it("copies plain records without structuredClone, and anything else with it", () => {
    const clone = vi.spyOn(globalThis, "structuredClone");
    const s = new MemoryStore();
    s.createRun(run);
    s.append("r1", [{ kind: "event", seq: 1, event: { type: "E", data: { a: [1, 2] } }, at: 1 }]);
    s.getJournal("r1");
    s.getRun("r1");
    s.readInbox("r1");
    expect(clone).toHaveBeenCalledTimes(0);
    const when = new Date(0);
    s.finish("r1", [], { status: "completed", result: { when } });
    expect(clone).toHaveBeenCalledTimes(1);
    const result = s.getRun("r1")?.result as { when: Date };
    expect(result.when).toBeInstanceOf(Date);
    expect(result.when).not.toBe(when);
  });

  it("keeps a data key named __proto__ as a key, as structuredClone does, without setting the copy's prototype", () => {
    const s = new MemoryStore();
    s.createRun(structuredClone(run));
    const data = JSON.parse('{"outer":{"__proto__":{"polluted":true},"x":1}}') as Record<string, unknown>;
    s.append("r1", [{ kind: "event", seq: 1, event: { type: "E", data }, at: 5 }]);
    const got = s.getJournal("r1")[0];
    if (got?.kind !== "event") throw new Error("expected an event record");
    const outer = got.event.data.outer as Record<string, unknown>;
    expect(Object.getPrototypeOf(outer)).toBe(Object.prototype);
    expect(Object.hasOwn(outer, "__proto__")).toBe(true);
    expect((outer as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(got.event.data)).toBe('{"outer":{"__proto__":{"polluted":true},"x":1}}');
  });

  it("a cyclic value is copied (by structuredClone) rather than overflowing the stack", () => {
    const s = new MemoryStore();
    s.createRun(run);
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    s.finish("r1", [], { status: "completed", result: cyc });
    const result = s.getRun("r1")?.result as Record<string, unknown>;
    expect(result.self).toBe(result);
    expect(result).not.toBe(cyc);
  });
});
