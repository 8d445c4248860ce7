/**
 * Hostile event data (issue 11.1): data keys sent from outside must never change an event's
 * type, prototype or methods, on any path that builds or revives an event.
 */
import { describe, expect, it } from "vitest";
import {
  Event,
  EventValidationError,
  HumanResponseEvent,
  MemoryStore,
  StartEvent,
  StopEvent,
  UnknownEventTypeError,
  Workflow,
  type JournalEntry,
  type Runtime,
} from "../../src/index.js";

class Reply extends Event<{ text: string }> {
  shout(): string {
    return this.text.toUpperCase();
  }
}

/** Each dangerous key, as data arriving as JSON would carry it (own keys, `__proto__` included). */
const HOSTILE: Record<string, string> = {
  constructor: '{"constructor":{"type":"StopEvent"},"result":"pwned"}',
  __proto__: '{"__proto__":{"type":"StopEvent"},"result":"pwned"}',
  toJSON: '{"toJSON":"nope","result":"pwned"}',
  hasOwnProperty: '{"hasOwnProperty":1}',
};
const parse = (key: string) => JSON.parse(HOSTILE[key] ?? "{}") as Record<string, unknown>;

function rejectsKey(fn: () => unknown, key: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(EventValidationError);
  expect((err as Error).message).toContain(`"${key}"`);
  expect((err as EventValidationError).issues).toEqual([expect.objectContaining({ path: [key] })]);
}

/** A run waiting for a Reply (or a HumanResponseEvent); its result is what it received. */
function waiter(store?: MemoryStore) {
  return new Workflow({ timeout: null, ...(store ? { store } : {}) }).addStep(
    { accepts: StartEvent, emits: StopEvent, waitsFor: [Reply, HumanResponseEvent] },
    async (_ev, ctx) => {
      const got = await ctx.waitForEvent(HumanResponseEvent);
      return new StopEvent({ result: { type: got.constructor.name, data: { ...got } } });
    },
  );
}

describe.each(Object.keys(HOSTILE))("event data with the key %s", (key) => {
  it("is rejected by every event constructor, naming the key", () => {
    rejectsKey(() => new HumanResponseEvent(parse(key)), key);
    rejectsKey(() => new Reply(parse(key) as { text: string }), key);
    rejectsKey(() => new StartEvent(parse(key)), key);
  });

  it("is rejected by wf.reviveEvent, whatever type it claims", () => {
    const wf = waiter();
    for (const type of ["HumanResponseEvent", "Reply", "StopEvent"]) rejectsKey(() => wf.reviveEvent({ type, data: parse(key) }), key);
  });

  it("never reaches a live run through wf.sendEvent or handler.sendEvent: the run still takes a proper answer", async () => {
    const wf = waiter();
    const h = wf.run({});
    rejectsKey(() => h.sendEvent(wf.reviveEvent({ type: "HumanResponseEvent", data: parse(key) })), key);
    rejectsKey(() => wf.sendEvent(h.runId, wf.reviveEvent({ type: "HumanResponseEvent", data: parse(key) })), key);
    h.sendEvent(new HumanResponseEvent({ response: "ok" }));
    expect(await h).toEqual({ type: "HumanResponseEvent", data: { response: "ok" } });
  });

  it("fails a run when a remote worker emits it (the worker's JSON is revived with the run's classes)", async () => {
    const runtime: Runtime = { execute: () => Promise.resolve({ ok: true, emitted: [{ type: "StopEvent", data: parse(key) }], writes: [] }) };
    const wf = new Workflow({ runtime, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: "fine" }));
    const err = await wf.run({}).catch((e: unknown) => e);
    // The step's outcome is invalid: the run fails with the step's error, caused by the validation error.
    const cause = err instanceof EventValidationError ? err : (err as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(EventValidationError);
    expect((err as Error).message).toContain(`"${key}"`);
  });

  it("in a journal (written before this check, or tampered with) fails the resume instead of completing the run", async () => {
    const store = new MemoryStore();
    const h = waiter(store).run({});
    h.sendEvent(new HumanResponseEvent({ response: "ok" }));
    expect(await h).toEqual({ type: "HumanResponseEvent", data: { response: "ok" } });
    // The journal round-trips through JSON, as a store keeps it; the answer's data is swapped for the hostile one.
    const text = JSON.stringify(store.getJournal(h.runId).filter((e) => e.kind !== "run_finished")).replace('{"response":"ok"}', HOSTILE[key] ?? "");
    expect(text).toContain(key);
    const copy = new MemoryStore();
    const run = store.getRun(h.runId);
    copy.createRun({ runId: h.runId, workflow: run?.workflow ?? "", input: run?.input ?? { type: "StartEvent", data: {} }, createdAt: run?.createdAt ?? 0 });
    copy.append(h.runId, JSON.parse(text) as JournalEntry[]);
    const err = await waiter(copy).resume(h.runId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventValidationError);
    expect((err as Error).message).toContain(`"${key}"`);
    expect(copy.getRun(h.runId)?.result).toBeUndefined();
  });
});

it("data cannot shadow a method of the event's own class", () => {
  rejectsKey(() => new Reply(JSON.parse('{"text":"hi","shout":"x"}') as { text: string }), "shout");
  rejectsKey(() => waiter().reviveEvent({ type: "Reply", data: { text: "hi", shout: "x" } }), "shout");
  // Another class has no such method: there the key is an ordinary field.
  expect(new HumanResponseEvent({ shout: "x" }).toJSON()).toEqual({ type: "HumanResponseEvent", data: { shout: "x" } });
});

describe("the check of data keys remembered per class (issue 17.7)", () => {
  /** A class whose prototype chain counts the `key in prototype` checks made on it. */
  function counted() {
    const checks: string[] = [];
    class Watched extends Event<Record<string, unknown>> {
      note(): void {}
    }
    const above = Object.getPrototypeOf(Watched.prototype) as object;
    Object.setPrototypeOf(
      Watched.prototype,
      new Proxy(above, {
        has(target, key) {
          if (typeof key === "string") checks.push(key);
          return Reflect.has(target, key);
        },
      }),
    );
    return { Watched, checks };
  }

  it("checks a class's keys once while they come in the same order, and a new or moved key again", () => {
    const { Watched, checks } = counted();
    for (let i = 0; i < 100; i++) new Watched({ a: i, b: i });
    expect(checks).toEqual(["a", "b"]);
    new Watched({ b: 1, a: 1 }); // both moved: both checked
    new Watched({ b: 1, a: 1, c: 1 }); // only the new one
    new Watched({ a: 1, b: 1 }); // moved again
    expect(checks).toEqual(["a", "b", "b", "a", "c", "a", "b"]);
    rejectsKey(() => new Watched({ a: 1, note: 2 }), "note");
    rejectsKey(() => new Watched(JSON.parse('{"a":1,"__proto__":2}') as Record<string, unknown>), "__proto__");
  });

  it("keeps each class's own answer: a key checked free on one class is still refused on a class where it is a method", () => {
    class Plain extends Event<{ shout: string }> {}
    for (let i = 0; i < 10; i++) expect(new Plain({ shout: "x" }).shout).toBe("x");
    rejectsKey(() => new Reply(JSON.parse('{"text":"hi","shout":"x"}') as { text: string }), "shout");
    expect(new Plain({ shout: "y" }).shout).toBe("y");
  });

  it("stays right when more classes take turns than it remembers", () => {
    const all = Array.from({ length: 7 }, () => counted());
    for (let round = 0; round < 5; round++) for (const { Watched } of all) expect(new Watched({ k: round }).k).toBe(round);
    // Forgotten classes are checked again (at most once per turn), never skipped wrongly.
    for (const { checks } of all) expect(checks.every((k) => k === "k") && checks.length >= 1 && checks.length <= 5).toBe(true);
    for (const { Watched } of all) rejectsKey(() => new Watched({ k: 1, note: 1 }), "note");
  });
});

describe("reviving accepts registered types only", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "Object", "prototype"])("type %j is an UnknownEventTypeError", (type) => {
    expect(() => waiter().reviveEvent({ type, data: {} })).toThrow(UnknownEventTypeError);
  });

  it("a proper event keeps its type and data through toJSON, JSON and reviveEvent", () => {
    const wf = waiter();
    const back = wf.reviveEvent(JSON.parse(JSON.stringify(new Reply({ text: "hi" }))) as { type: string; data: Record<string, unknown> });
    expect(back).toBeInstanceOf(Reply);
    expect((back as Reply).shout()).toBe("HI");
    expect(back.toJSON()).toEqual({ type: "Reply", data: { text: "hi" } });
  });
});

describe("an event that sets its own fields (README, Events)", () => {
  class Tally extends Event {
    readonly n: number;
    constructor(data: { n: number }) {
      super();
      this.n = data.n;
    }
  }
  const tallied = (store?: MemoryStore) =>
    new Workflow({ timeout: null, ...(store ? { store } : {}) })
      .addStep({ accepts: StartEvent, emits: Tally }, async function begin() {
        return new Tally({ n: 41 });
      })
      .addStep({ accepts: Tally, emits: StopEvent, waitsFor: [HumanResponseEvent] }, async function answer(ev, ctx) {
        const got = await ctx.waitForEvent(HumanResponseEvent);
        return new StopEvent({ result: `${ev.n + 1} ${String(got.response)}` });
      });

  it("round-trips through toJSON and reviveEvent as any event does", () => {
    const json = JSON.parse(JSON.stringify(new Tally({ n: 3 }))) as { type: string; data: Record<string, unknown> };
    expect(json).toEqual({ type: "Tally", data: { n: 3 } });
    const back = tallied().reviveEvent(json);
    expect(back).toBeInstanceOf(Tally);
    expect((back as Tally).n).toBe(3);
  });

  it("is rebuilt from a journal when a suspended run resumes in another process", async () => {
    const store = new MemoryStore();
    const first = tallied(store).run({});
    await new Promise((r) => setTimeout(r, 20));
    expect(store.getRun(first.runId)?.status).toBe("waiting");
    first.cancel();
    await first.catch(() => undefined);
    // A fresh workflow on a copy of the journal up to the wait: the Tally is revived from JSON.
    const copy = new MemoryStore();
    const run = store.getRun(first.runId);
    copy.createRun({ runId: first.runId, workflow: run?.workflow ?? "", input: run?.input ?? { type: "StartEvent", data: {} }, createdAt: run?.createdAt ?? 0 });
    const upToWait = store.getJournal(first.runId).filter((e) => e.kind !== "run_finished");
    copy.append(first.runId, JSON.parse(JSON.stringify(upToWait)) as JournalEntry[]);
    const resumed = tallied(copy).resume(first.runId);
    resumed.sendEvent(new HumanResponseEvent({ response: "ok" }));
    expect(await resumed).toBe("42 ok");
  });
});
