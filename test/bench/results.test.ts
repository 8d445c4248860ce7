import { describe, expect, it } from "vitest";
import { barChart } from "../../bench/chart.js";
import { compare, MIN_NOISE, UNKNOWN_NOISE } from "../../bench/compare.js";
import type { Results } from "../../bench/results.js";
import type { Row } from "../../bench/table.js";

// bench:compare and the charts read results files: checked on made-up results, not timings.

function results(rows: Partial<Row>[], ns?: Record<string, [number, number, number]>): Results {
  return {
    date: "2026-01-01T00:00:00.000Z",
    machine: { cpu: "x", cores: 2, memoryGiB: 1, freeMemoryGiB: 1, os: "linux" },
    node: "v20",
    versions: {},
    options: { reps: 3, quick: false, source: false },
    rows: rows.map((r) => ({ scenario: "chain", engine: "stepwise", size: 100, reps: 3, unavailable: undefined, ms: 10, msRange: [9, 11], ...r })),
    ...(ns
      ? { overhead: { size: 1, rounds: 1, processes: 3, warm: 1, nsPerEvent: Object.fromEntries(Object.entries(ns).map(([k, [median, lo, hi]]) => [k, { median, range: [lo, hi] as [number, number], samples: [lo, median, hi] }])) } }
      : {}),
  };
}

describe("bench:compare", () => {
  it("calls a change inside the measured noise the same, and one beyond it better or worse", () => {
    const before = results([{ ms: 10, msRange: [9, 11] }], { stepwise: [100, 95, 105] });
    const same = compare(before, results([{ ms: 11.5, msRange: [11, 12] }], { stepwise: [104, 100, 106] }));
    expect(same.map((c) => c.verdict)).toEqual(["same", "same"]);
    expect(same[0]?.noise).toBeCloseTo(0.2); // the before run's range, (11 − 9) / 10

    const worse = compare(before, results([{ ms: 13, msRange: [12.5, 13.5] }], { stepwise: [80, 79, 81] }));
    expect(worse.map((c) => c.verdict)).toEqual(["worse", "better"]);
  });

  it("assumes 10 % noise for a single repetition and never flags less than 3 %", () => {
    const one = compare(results([{ ms: 10, msRange: [10, 10], reps: 1 }]), results([{ ms: 10.8, msRange: [10.8, 10.8], reps: 1 }]));
    expect(one[0]?.noise).toBe(UNKNOWN_NOISE);
    expect(one[0]?.verdict).toBe("same");
    const tight = compare(results([{ ms: 10, msRange: [10, 10.01] }]), results([{ ms: 10.5, msRange: [10.49, 10.5] }]));
    expect(tight[0]?.noise).toBe(MIN_NOISE);
    expect(tight[0]?.verdict).toBe("worse");
  });

  it("compares only cells present, available and of the same size in both", () => {
    const before = results([{ engine: "stepwise" }, { engine: "mastra", unavailable: "not installed" }, { engine: "langgraph", size: 50 }]);
    const after = results([{ engine: "stepwise" }, { engine: "mastra" }, { engine: "langgraph", size: 60 }]);
    expect(compare(before, after).map((c) => c.what)).toEqual(["chain stepwise: wall ms"]);
  });
});

describe("charts", () => {
  it("draws one bar per value with its range, escapes labels, and says when the scale is logarithmic", () => {
    const svg = barChart("a < b", "events/s", [
      { label: "stepwise", value: 1_000_000, range: [900_000, 1_100_000], mine: true },
      { label: "peer <x>", value: 1_000 },
    ], true);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg.match(/<line /g)).toHaveLength(1);
    expect(svg).toContain("a &lt; b");
    expect(svg).toContain("peer &lt;x&gt;");
    expect(svg).toContain("log scale");
    expect(barChart("t", "ms", [{ label: "a", value: 10 }, { label: "b", value: 15 }], false)).not.toContain("log scale");
  });
});
