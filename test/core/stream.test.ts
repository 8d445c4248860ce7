// EventStream: the run's append-only log of streamed events and its readers (issue 12.13).
// (An internal module, imported directly; its public face is handler.streamEvents().)
import { describe, expect, it, vi } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "../../src/index.js";
import { Context } from "../../src/core/context.js";
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

  it("a waiting reader is woken once, in a later task, for everything pushed in this one (17.6)", async () => {
    const s = new EventStream<number>(() => "test");
    const got: number[] = [];
    const done = (async () => {
      for await (const x of s.reader()) got.push(x);
    })();
    await Promise.resolve();
    for (let i = 0; i < 10; i++) s.push(i);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(got).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    s.end();
    await done;
  });

  it("a writer that never yields to the event loop still has its reader keep up, a batch at a time", async () => {
    const s = new EventStream<number>(() => "test");
    let got = 0;
    const done = (async () => {
      for await (const _ of s.reader()) got++;
    })();
    await Promise.resolve();
    let behind = 0;
    for (let i = 0; i < 1000; i++) {
      s.push(i);
      for (let t = 0; t < 3; t++) await Promise.resolve();
      behind = Math.max(behind, i + 1 - got);
    }
    // Without the batch wake the reader would see nothing before the writer's task ends.
    expect(got).toBeGreaterThan(900);
    expect(behind).toBeLessThanOrEqual(64);
    s.end();
    await done;
    expect(got).toBe(1000);
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

/** How many promises `fn` makes (synchronously), counted by a Promise subclass standing in for the global. */
function promisesMadeBy(fn: () => void): number {
  const Native = globalThis.Promise;
  let made = 0;
  class Counting<T> extends Native<T> {
    constructor(executor: (resolve: (v: T | PromiseLike<T>) => void, reject: (e: unknown) => void) => void) {
      super(executor);
      made++;
    }
  }
  globalThis.Promise = Counting;
  try {
    fn();
  } finally {
    globalThis.Promise = Native;
  }
  return made;
}

describe("EventStream costs (issue 17.6)", () => {
  it("a read costs one promise: each buffered item one resolved promise, a waiting read one pending promise", async () => {
    const s = new EventStream<number>(() => "test");
    s.push(1);
    s.push(2);
    const r = s.reader();
    const reads: Promise<IteratorResult<number>>[] = [];
    expect(promisesMadeBy(() => reads.push(r.next(), r.next()))).toBe(2);
    expect(promisesMadeBy(() => reads.push(r.next()))).toBe(1);
    // Handing the waiting read its item makes no promise at all.
    expect(promisesMadeBy(() => s.push(3))).toBe(0);
    expect((await Promise.all(reads)).map((x) => x.value)).toEqual([1, 2, 3]);
  });

  it("a reader is one object with its methods on its prototype: no closures of its own", () => {
    const s = new EventStream<number>(() => "test");
    const a = s.reader();
    const b = s.reader();
    expect(Object.getOwnPropertyNames(a)).toEqual([]);
    expect(Object.getPrototypeOf(a)).toBe(Object.getPrototypeOf(b));
    expect(Object.getOwnPropertyNames(Object.getPrototypeOf(a))).toEqual(expect.arrayContaining(["next", "return", "throw"]));
    expect(a[Symbol.asyncIterator]()).toBe(a);
  });
});

class Note extends Event<{ i: number }> {}

describe("a stream write without a journal", () => {
  it("builds no writer record: the step's stepRunId is never computed for it", async () => {
    const wf = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async function write(_ev, ctx) {
      for (let i = 0; i < 5; i++) ctx.writeEventToStream(new Note({ i }));
      return new StopEvent({ result: 5 });
    });
    const spy = vi.spyOn(Context.prototype, "stepRunId", "get");
    try {
      const h = wf.run();
      const seen: number[] = [];
      for await (const ev of h.streamEvents()) if (ev instanceof Note) seen.push(ev.i);
      expect(seen).toEqual([0, 1, 2, 3, 4]);
      expect(spy).toHaveBeenCalledTimes(0);
    } finally {
      spy.mockRestore();
    }
  });
});
