import { afterEach, describe, expect, it, vi } from "vitest";
import { DeadlineSet, Deadlines, EndWait } from "../../src/server/deadline.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("Deadlines", () => {
  it("settles as the promise does, and leaves nothing pending once it has", async () => {
    const d = new Deadlines(1000);
    const results = await Promise.all([d.race(Promise.resolve(1), () => "late"), d.race(Promise.reject(new Error("no")), () => "late").catch((e: Error) => e.message)]);
    expect(results).toEqual([1, "no"]);
    expect(d.size).toBe(0);
  });

  it("fails, in order, those whose time has come, on one timer, and keeps the others", async () => {
    vi.useFakeTimers();
    const d = new Deadlines(100);
    const never = new Promise<never>(() => {});
    const out: string[] = [];
    const a = d.race(never, () => "a").then((v) => out.push(v));
    vi.advanceTimersByTime(50);
    const b = d.race(never, () => {
      throw new Error("b");
    }).catch((e: Error) => out.push(e.message));
    let resolveC!: (v: string) => void;
    const c = d.race(new Promise<string>((r) => (resolveC = r)), () => "c timed out").then((v) => out.push(v));
    expect(d.size).toBe(3);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(50); // a is due
    await a;
    expect(out).toEqual(["a"]);
    expect(d.size).toBe(2);
    resolveC("c in time");
    await c;
    vi.advanceTimersByTime(50); // b is due
    await b;
    expect(out).toEqual(["a", "c in time", "b"]);
    expect(d.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects a bad duration by name", () => {
    expect(() => new Deadlines(-1)).toThrow(/ms must be a finite number >= 0, got -1/);
  });
});

describe("DeadlineSet", () => {
  it("keeps one list per duration up to its limit, then a timer per deadline", async () => {
    vi.useFakeTimers();
    const set = new DeadlineSet(2);
    const never = new Promise<never>(() => {});
    const got = [10, 10, 20, 30].map((ms) => set.race(never, ms, () => ms));
    expect(vi.getTimerCount()).toBe(3); // the 10 ms list, the 20 ms list, and the 30 ms deadline's own
    vi.advanceTimersByTime(30);
    expect(await Promise.all(got)).toEqual([10, 10, 20, 30]);
    set.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("EndWait", () => {
  it("resolves true when done in time, false when its deadline passes first, and leaves no deadline or timer behind", async () => {
    vi.useFakeTimers();
    const set = new DeadlineSet(1);
    const early = new EndWait();
    const late = new EndWait();
    set.wait(early, 100);
    set.wait(late, 100);
    vi.advanceTimersByTime(50);
    early.done();
    vi.advanceTimersByTime(50);
    // A done() after the deadline changes nothing.
    late.done();
    expect([await early.ended, await late.ended]).toEqual([true, false]);
    // The list's timer fired with nothing left to wait for: none is set.
    expect(vi.getTimerCount()).toBe(0);
    // Beyond the set's one list, a wait has a timer of its own, cleared when it is done.
    const own = new EndWait();
    set.wait(own, 500);
    expect(vi.getTimerCount()).toBe(1);
    own.done();
    expect(await own.ended).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    const expires = new EndWait();
    set.wait(expires, 500);
    vi.advanceTimersByTime(500);
    expect(await expires.ended).toBe(false);
    set.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
