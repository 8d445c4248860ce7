import { describe, expect, it } from "vitest";
import { RunLog, tail, type Frame } from "../../src/server/log.js";

async function read(log: RunLog, after: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of tail(log, after, (changed) => changed, () => false)) out.push(f);
  return out;
}

describe("RunLog", () => {
  it("numbers entries from 1 and hands readers what follows their position, then the end", async () => {
    const log = new RunLog();
    for (let n = 1; n <= 3; n++) log.append({ type: "E", data: { n } });
    const reading = read(log, 1);
    log.append({ type: "E", data: { n: 4 } });
    log.finish({ status: "completed", result: 1 });
    expect(log.append({ type: "late", data: {} })).toBeUndefined();
    const frames = await reading;
    expect(frames.map((f) => (f.kind === "event" ? f.entry.id : f.kind))).toEqual([2, 3, 4, "end"]);
  });

  it("keeps at most its limit, and tells a reader that asks for dropped entries with a gap", async () => {
    const log = new RunLog(10);
    for (let n = 1; n <= 100; n++) log.append({ type: "E", data: { n } });
    expect(log.entries().length).toBeLessThanOrEqual(13);
    expect(log.last).toBe(100);
    log.finish({ status: "completed" });
    const frames = await read(log, 0);
    expect(frames[0]).toEqual({ kind: "gap", from: 1, to: log.first - 1 });
    expect(frames.filter((f) => f.kind === "event").map((f) => (f as { entry: { id: number } }).entry.id)).toEqual(Array.from({ length: 100 - log.first + 1 }, (_, i) => log.first + i));
  });

  it("gives every waiting reader the same promise: no state per reader in the log", () => {
    const log = new RunLog();
    const waits = Array.from({ length: 1000 }, () => log.changed());
    expect(new Set(waits).size).toBe(1);
    log.append({ type: "E", data: {} });
    expect(log.changed()).not.toBe(waits[0]);
  });

  it("stops a reader whose client went away, and yields heartbeats when idle says so", async () => {
    const log = new RunLog();
    let gone = false;
    let beats = 0;
    const frames: Frame[] = [];
    for await (const f of tail(log, 0, () => (beats++ < 2 ? Promise.resolve("heartbeat") : ((gone = true), Promise.resolve())), () => gone)) frames.push(f);
    expect(frames).toEqual([{ kind: "heartbeat" }, { kind: "heartbeat" }]);
  });
});
