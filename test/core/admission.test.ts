// numConcurrentRuns' queue alone (internal module): order, cancellation, and what it holds as it grows.
import { describe, expect, it } from "vitest";
import { Admission } from "../../src/core/admission.js";

/** Enter as a run does: start at once when a place is free, else when one frees up; returns its leave. */
function enter(a: Admission, start: () => void): () => void {
  const place = a.enter(start);
  if (place.now) start();
  return place.leave;
}

describe("Admission", () => {
  it("starts runs in order as places free; a cancelled waiting run is skipped and frees nothing", () => {
    const a = new Admission(2);
    const started: number[] = [];
    const leave = Array.from({ length: 6 }, (_, i) => enter(a, () => started.push(i)));
    expect(started).toEqual([0, 1]);
    expect(a.waiting).toBe(4);
    leave[3]?.(); // cancelled while waiting
    leave[3]?.(); // twice: no effect
    expect(a.waiting).toBe(3);
    leave[0]?.();
    expect(started).toEqual([0, 1, 2]);
    leave[1]?.();
    expect(started).toEqual([0, 1, 2, 4]);
    leave[2]?.();
    leave[4]?.();
    expect(started).toEqual([0, 1, 2, 4, 5]);
    leave[5]?.();
    expect(a.waiting).toBe(0);
    // Both places are free again.
    enter(a, () => started.push(6));
    enter(a, () => started.push(7));
    expect(started.slice(-2)).toEqual([6, 7]);
  });

  it("holds what waits, not what was cancelled or started: 100 × the runs hold 100 × the slots at most", () => {
    const heldAfter = (n: number): { held: number; started: number } => {
      const a = new Admission(1);
      let started = 0;
      const leave = Array.from({ length: n }, () => enter(a, () => started++));
      // Every other waiting run is cancelled, in reverse order (the worst case for a search).
      for (let i = n - 1; i >= 1; i -= 2) leave[i]?.();
      const afterCancel = a.held;
      expect(a.waiting).toBe(Math.floor((n - 1) / 2));
      // The rest end one by one, in order: each passes its place on.
      for (let i = 0; i < n; i += 2) leave[i]?.();
      expect(a.waiting).toBe(0);
      return { held: afterCancel, started };
    };
    const small = heldAfter(1_000);
    const large = heldAfter(100_000);
    expect(small.started).toBe(500);
    expect(large.started).toBe(50_000);
    // Cancelled tickets are compacted away: what is held tracks the waiting runs.
    expect(small.held).toBeLessThanOrEqual(2 * 500);
    expect(large.held).toBeLessThanOrEqual(2 * 50_000);
  });

  it("drops started tickets as a long queue moves, without waiting for it to drain", () => {
    const a = new Admission(1);
    const leaves: (() => void)[] = [enter(a, () => {})];
    for (let i = 0; i < 10_000; i++) {
      leaves.push(enter(a, () => {}));
      // One more arrives, then the oldest ends: there is always a run queued behind the running one.
      leaves[i]?.();
    }
    expect(a.waiting).toBe(0);
    expect(a.held).toBeLessThan(100);
  });
});
