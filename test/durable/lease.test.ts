import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, RunLockedError, StartEvent, step, StopEvent, TestClock, Workflow, type LeaseOwner } from "../../src/index.js";

class Go extends Event {}

class Waits extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Go })
  async wait(_: StartEvent, ctx: Context) {
    await ctx.waitForEvent(Go);
    return new StopEvent({ result: "went" });
  }
}

describe("leases", () => {
  it("takes the lease as the leaseOwner option names and renews it on the injected clock", async () => {
    const clock = new TestClock(0);
    const store = new MemoryStore();
    const h = new Waits({ store, clock, leaseOwner: "pod-7", leaseTtlMs: 3_000, timeout: null }).run({});
    await clock.advance(0);
    const first = store.getRun(h.runId)?.lease;
    expect(first?.owner).toMatch(/^pod-7:[0-9a-f]{8}$/);
    expect(first?.expiresAt).toBe(3_000);
    await clock.advance(1_000);
    expect(store.getRun(h.runId)?.lease).toMatchObject({ owner: first?.owner, expiresAt: 4_000 });
    await clock.advance(1_000);
    expect(store.getRun(h.runId)?.lease?.expiresAt).toBe(5_000);
    h.sendEvent(new Go());
    expect(await h).toBe("went");
    await clock.advance(0);
    expect(store.getRun(h.runId)?.lease).toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it("stops the run here with RunLockedError when another owner took its lease", async () => {
    const clock = new TestClock(0);
    const store = new MemoryStore();
    const h = new Waits({ store, clock, leaseTtlMs: 3_000, timeout: null }).run({});
    await clock.advance(0);
    // Its lease lapsed (as for a process stalled past it) and another process took it.
    expect(store.acquireLease(h.runId, "thief", 60_000, 10_000)).toMatchObject({ acquired: true });
    const err = h.catch((e: unknown) => e);
    await clock.advance(1_000);
    expect(await err).toBeInstanceOf(RunLockedError);
    expect(store.getRun(h.runId)?.lease?.owner).toBe("thief");
    expect(store.getRun(h.runId)?.status).toBe("waiting");
  });

  it("takes over at once a lease whose holder its LeaseOwner knows to be gone", async () => {
    const store = new MemoryStore();
    const dead: LeaseOwner = { next: () => "dead-1", isGone: () => false };
    const h = new Waits({ store, leaseOwner: dead, timeout: null }).run({});
    await new Promise((r) => setTimeout(r, 10));
    // The holder vanished without releasing (a crash): its lease still stands in the store.
    const stranded = store.getRun(h.runId)!;
    const copy = new MemoryStore();
    copy.createRun({ runId: h.runId, workflow: stranded.workflow, input: stranded.input, createdAt: 0 });
    copy.append(h.runId, store.getJournal(h.runId));
    copy.acquireLease(h.runId, "dead-1", 60_000, Date.now());
    h.cancel();
    const refuse: LeaseOwner = { next: () => "alive-2", isGone: () => false };
    await expect(new Waits({ store: copy, leaseOwner: refuse }).resume(h.runId)).rejects.toBeInstanceOf(RunLockedError);
    const knows: LeaseOwner = { next: () => "alive-3", isGone: (owner) => owner === "dead-1" };
    const again = new Waits({ store: copy, leaseOwner: knows, timeout: null }).sendEvent(h.runId, new Go());
    expect(await again).toBe("went");
  });

  it("rejects a leaseTtlMs that is not a positive number", () => {
    expect(() => new Waits({ leaseTtlMs: 0 })).toThrow(/leaseTtlMs is in milliseconds and must be a number > 0, got 0/);
    expect(() => new Waits({ leaseTtlMs: Number.NaN })).toThrow(TypeError);
  });
});
