import { afterEach, describe, expect, it, vi } from "vitest";
import { DeadlineSet, Deadlines } from "../../src/server/deadline.js";

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
