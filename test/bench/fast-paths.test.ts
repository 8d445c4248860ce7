import { describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "stepwise-ai";

// The engine paths the performance work changed (src/core: lazily made stream and state, the
// hand-written stream reader, the handler as the run's own promise), checked for behaviour.

class Tick extends Event<{ i: number }> {}

function ticker(n: number, fail = false) {
  return new Workflow({ timeout: 10 }).addStep({ accepts: StartEvent, emits: StopEvent }, async function tick(_ev, ctx) {
    for (let i = 0; i < n; i++) ctx.writeEventToStream(new Tick({ i }));
    await new Promise((r) => setTimeout(r, 1));
    if (fail) throw new Error("boom");
    return new StopEvent({ result: n });
  });
}

describe("stream reader", () => {
  it("yields buffered events, then the StopEvent, then ends", async () => {
    const h = ticker(3).run();
    const seen: unknown[] = [];
    for await (const ev of h.streamEvents()) seen.push(ev instanceof Tick ? ev.i : ev instanceof StopEvent ? "stop" : "?");
    expect(seen).toEqual([0, 1, 2, "stop"]);
    expect(await h).toBe(3);
  });

  it("is made on first read even after the run ended, with the StopEvent", async () => {
    const h = ticker(2).run();
    expect(await h).toBe(2);
    const seen: unknown[] = [];
    for await (const ev of h.streamEvents()) seen.push(ev.constructor.name);
    expect(seen).toEqual(["Tick", "Tick", "StopEvent"]);
  });

  it("hands over buffered events before the run's error, and the handler's rejection counts as handled", async () => {
    const h = ticker(2, true).run();
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const ev of h.streamEvents()) if (ev instanceof Tick) seen.push(ev.i);
      })(),
    ).rejects.toThrow(/boom/);
    expect(seen).toEqual([0, 1]);
  });

  it("throws the error to a reader that arrives after the run failed", async () => {
    const h = ticker(0, true).run();
    await expect(h).rejects.toThrow(/boom/);
    const it = h.streamEvents();
    await expect(it.next()).rejects.toThrow(/boom/);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it("answers several pending next() calls in order", async () => {
    const h = ticker(2).run();
    const it = h.streamEvents();
    const [a, b, c, d] = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
    expect([a.value instanceof Tick, b.value instanceof Tick, c.value instanceof StopEvent, d.done]).toEqual([true, true, true, true]);
    await h;
  });

  it("stops at break and reads nothing more", async () => {
    const h = ticker(5).run();
    const it = h.streamEvents();
    for await (const ev of it) if (ev instanceof Tick) break;
    expect(await it.next()).toEqual({ value: undefined, done: true });
    expect(await h).toBe(5);
  });
});

describe("run handler and state", () => {
  it("is one promise: then() returns a plain Promise, and per-run state works when used", async () => {
    const wf = new Workflow({ timeout: 10 }).addStep({ accepts: StartEvent, emits: StopEvent }, async function count(_ev, ctx) {
      ctx.store.set("n", ctx.store.get("n", 0) + 1);
      return new StopEvent({ result: ctx.store.get("n") });
    });
    const h = wf.run();
    const p = h.then((v) => v);
    expect(p.constructor).toBe(Promise);
    expect(await p).toBe(1);
    expect(typeof h.runId).toBe("string");
    expect(h.runId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("run timeouts (one deadline list per clock and timeout)", () => {
  it("times each run out at its own deadline, in start order, and not a run that finished", async () => {
    const { TestClock, WorkflowTimeoutError } = await import("stepwise-ai");
    const clock = new TestClock();
    const wf = new Workflow({ timeout: 1, clock }).addStep({ accepts: StartEvent, emits: StopEvent }, async function work(ev: StartEvent<{ ms: number }>) {
      await new Promise<void>((r) => clock.setTimeout(r, ev.ms));
      return new StopEvent({ result: ev.ms });
    });
    const settled: string[] = [];
    const track = (name: string, h: Promise<unknown>) =>
      h.then(
        () => settled.push(`${name} done@${clock.now()}`),
        (e: unknown) => settled.push(`${name} ${e instanceof WorkflowTimeoutError ? "timeout" : "error"}@${clock.now()}`),
      );
    const all = [track("a", wf.run({ ms: 500 })), track("b", wf.run({ ms: 5000 }))];
    await clock.advance(300);
    all.push(track("c", wf.run({ ms: 5000 })));
    await clock.advance(699);
    expect(settled).toEqual(["a done@500"]);
    await clock.advance(1);
    expect(settled).toEqual(["a done@500", "b timeout@1000"]);
    await clock.advance(300);
    await Promise.all(all);
    expect(settled).toEqual(["a done@500", "b timeout@1000", "c timeout@1300"]);
    expect(clock.pending).toBe(2); // only the steps' own sleeps remain; no run timer is left armed
  });
});

describe("a run's start", () => {
  it("makes no AsyncResource: it begins in a promise reaction, not through queueMicrotask (which wraps each callback in one)", async () => {
    const { createHook } = await import("node:async_hooks");
    const wf = new Workflow({ timeout: 10 }).addStep({ accepts: StartEvent, emits: StopEvent }, async function one() {
      return new StopEvent({ result: 1 });
    });
    const types = new Map<string, number>();
    const hook = createHook({ init: (_id, type) => void types.set(type, (types.get(type) ?? 0) + 1) }).enable();
    try {
      for (let i = 0; i < 10; i++) expect(await wf.run()).toBe(1);
    } finally {
      hook.disable();
    }
    expect(types.get("Microtask") ?? 0).toBe(0);
    // The hook saw the runs' promises: it was on.
    expect(types.get("PROMISE") ?? 0).toBeGreaterThan(10);
  });
});
