// EventStream: the run's append-only log of streamed events and its readers (issue 12.13).
// (An internal module, imported directly; its public face is handler.streamEvents().)
import { describe, expect, it } from "vitest";
import { EventStream } from "../../src/core/stream.js";

const drain = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe("EventStream with several readers", () => {
  it("a reader arriving late, and one arriving after the end, each get every item from the first", async () => {
    const s = new EventStream<number>(() => "test");
    s.push(1);
    const early = drain(s.reader());
    s.push(2);
    const late = s.reader();
    s.push(3);
    s.end();
    expect(await early).toEqual([1, 2, 3]);
    expect(await drain(late)).toEqual([1, 2, 3]);
    expect(await drain(s.reader())).toEqual([1, 2, 3]);
    expect(s.size).toBe(3);
  });

  it("a thousand readers add nothing to the log: each is a cursor into it", async () => {
    const s = new EventStream<number>(() => "test");
    for (let i = 0; i < 10; i++) s.push(i);
    const readers = Array.from({ length: 1000 }, () => drain(s.reader()));
    s.end();
    const all = await Promise.all(readers);
    expect(s.size).toBe(10);
    expect(all.every((got) => got.length === 10 && got[9] === 9)).toBe(true);
  });

  it("readers parked on an empty log are woken in turn by each push", async () => {
    const s = new EventStream<string>(() => "test");
    const a = drain(s.reader());
    const b = drain(s.reader());
    await Promise.resolve();
    s.push("x");
    await Promise.resolve();
    s.push("y");
    s.end();
    expect(await a).toEqual(["x", "y"]);
    expect(await b).toEqual(["x", "y"]);
  });

  it("next() called several times without awaiting resolves in order, then done", async () => {
    const s = new EventStream<number>(() => "test");
    const r = s.reader();
    const reads = [r.next(), r.next(), r.next()];
    s.push(1);
    s.push(2);
    s.end();
    expect(await Promise.all(reads)).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
      { value: undefined, done: true },
    ]);
  });

  it("a reader that stops early leaves the log whole for the next; its pending read ends", async () => {
    const s = new EventStream<number>(() => "test");
    s.push(1);
    for await (const x of s.reader()) {
      expect(x).toBe(1);
      break;
    }
    const r = s.reader();
    expect(await r.next()).toEqual({ value: 1, done: false });
    const pending = r.next();
    await r.return(undefined);
    expect(await pending).toEqual({ value: undefined, done: true });
    s.push(2);
    s.end();
    expect(await drain(s.reader())).toEqual([1, 2]);
  });

  it("a failed stream gives each reader its items, then the error once; onError is told per reader", async () => {
    const s = new EventStream<number>(() => "test");
    let told = 0;
    s.onError = () => told++;
    s.push(1);
    const boom = new Error("boom");
    const a = s.reader();
    s.fail(boom);
    s.push(2); // after the end: dropped
    expect(await a.next()).toEqual({ value: 1, done: false });
    await expect(a.next()).rejects.toBe(boom);
    expect(await a.next()).toEqual({ value: undefined, done: true });
    const seen: number[] = [];
    await expect((async () => {
      for await (const x of s.reader()) seen.push(x);
    })()).rejects.toBe(boom);
    expect(seen).toEqual([1]);
    expect(told).toBe(2);
  });
});
