import { describe, expect, it, vi } from "vitest";
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

  it("a new run holds its lease from its creation: nobody else takes it, and its writes carry the token it was created with", async () => {
    const clock = new TestClock(0);
    const store = new MemoryStore();
    const h = new Waits({ store, clock, leaseOwner: "pod-1", leaseTtlMs: 3_000, timeout: null }).run({});
    await h.recorded;
    const lease = store.getRun(h.runId)?.lease;
    expect(lease).toMatchObject({ owner: expect.stringMatching(/^pod-1:/) as unknown, expiresAt: 3_000, token: 1 });
    expect(store.acquireLease(h.runId, "other", 60_000, 2_999)).toEqual({ acquired: false, holder: lease });
    await vi.waitFor(() => expect(store.getJournal(h.runId).some((e) => e.kind === "waiting")).toBe(true));
    const written = store.getJournal(h.runId).length;
    // Its lease lapses (seen from a clock past it) and another process takes it: token 2. This
    // run's next write (the event it is sent), fenced with token 1, is refused and stops it here.
    expect(store.acquireLease(h.runId, "other", 60_000, 10_000)).toEqual({ acquired: true, token: 2 });
    const err = h.catch((e: unknown) => e);
    h.sendEvent(new Go());
    expect(await err).toBeInstanceOf(RunLockedError);
    expect(store.getJournal(h.runId)).toHaveLength(written);
    expect(store.getRun(h.runId)).toMatchObject({ status: "waiting", lease: { owner: "other", token: 2 } });
  });

  it("with numConcurrentRuns, a run waiting for a place is created without a lease (nobody would renew it) and takes one when it starts", async () => {
    const clock = new TestClock(0);
    const store = new MemoryStore();
    const wf = new Waits({ store, clock, numConcurrentRuns: 1, leaseTtlMs: 3_000, timeout: null });
    const a = wf.run({});
    const b = wf.run({});
    await Promise.all([a.recorded, b.recorded]);
    expect(store.getRun(a.runId)?.lease).toMatchObject({ expiresAt: 3_000, token: 1 });
    expect(store.getRun(b.runId)).toMatchObject({ status: "running" });
    expect(store.getRun(b.runId)?.lease).toBeUndefined();
    await clock.advance(10_000);
    expect(store.getRun(a.runId)?.lease?.expiresAt).toBeGreaterThan(10_000);
    expect(store.getRun(b.runId)?.lease).toBeUndefined();
    a.sendEvent(new Go());
    expect(await a).toBe("went");
    await vi.waitFor(() => expect(store.getRun(b.runId)?.lease).toMatchObject({ expiresAt: 13_000, token: 1 }));
    b.sendEvent(new Go());
    expect(await b).toBe("went");
  });

  it("rejects a leaseTtlMs that is not a positive number", () => {
    expect(() => new Waits({ leaseTtlMs: 0 })).toThrow(/leaseTtlMs is in milliseconds and must be a number > 0, got 0/);
    expect(() => new Waits({ leaseTtlMs: Number.NaN })).toThrow(TypeError);
  });
});
