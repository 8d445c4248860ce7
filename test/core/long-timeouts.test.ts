import { afterEach, describe, expect, it, vi } from "vitest";
import { Event, StartEvent, StopEvent, systemClock, Workflow } from "../../src/index.js";

class Answer extends Event<{ a: number }> {}

const DAY = 24 * 3600;
/** Longer than setTimeout takes (2^31 - 1 ms, about 24.8 days): Node fires such a timer after 1 ms. */
const DAYS_30 = 30 * DAY;

describe("timeouts longer than setTimeout takes (about 24.8 days)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("systemClock fires a 30-day timer after 30 days, not at once, and clears it", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    let fired = 0;
    systemClock.setTimeout(() => fired++, DAYS_30 * 1000);
    vi.advanceTimersByTime(60_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(25 * DAY * 1000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(5 * DAY * 1000);
    expect(fired).toBe(1);
    const cleared = systemClock.setTimeout(() => fired++, DAYS_30 * 1000);
    vi.advanceTimersByTime(26 * DAY * 1000); // past the first leg
    systemClock.clearTimeout(cleared);
    vi.advanceTimersByTime(10 * DAY * 1000);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a waitForEvent with a 30-day timeout (a person's approval) still waits a minute later, and takes the answer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const wf = new Workflow({ name: "Approval", timeout: null, externalEvents: [Answer] }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async function approve(_ev, ctx) {
      try {
        return new StopEvent({ result: (await ctx.waitForEvent(Answer, { timeout: DAYS_30 })).a });
      } catch (e) {
        return new StopEvent({ result: (e as Error).message });
      }
    });
    const h = wf.run();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.status).toBe("waiting");
    h.sendEvent(new Answer({ a: 1 }));
    expect(await h).toBe(1);
  });

  it("a run with a 30-day timeout does not wake every millisecond meanwhile", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const wf = new Workflow({ name: "Slow", timeout: DAYS_30, externalEvents: [Answer] }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer }, async function approve(_ev, ctx) {
      return new StopEvent({ result: (await ctx.waitForEvent(Answer)).a });
    });
    const h = wf.run();
    const woke = vi.spyOn(Date, "now");
    await vi.advanceTimersByTimeAsync(1000);
    expect(woke.mock.calls.length).toBeLessThan(50);
    expect(h.status).toBe("waiting");
    h.sendEvent(new Answer({ a: 2 }));
    expect(await h).toBe(2);
  });
});
