import { describe, expect, it } from "vitest";
import { Event, EventValidationError, StartEvent, StopEvent, Workflow, type EventJSON } from "../../src/index.js";

class Ask extends Event<{ q: number }> {}

describe("reviving an event from JSON that is not { type, data }", () => {
  const wf = new Workflow({ name: "W", externalEvents: [Ask] })
    .addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 }))
    .addStep({ accepts: Ask, emits: StopEvent }, () => new StopEvent({ result: 2 }));
  const refused = (json: unknown) => {
    try {
      wf.reviveEvent(json as EventJSON);
    } catch (e) {
      return e as Error;
    }
    throw new Error("revived");
  };

  it("names what it got in a short message, however big the body", () => {
    const err = refused({ type: 5, data: "x".repeat(1_000_000) });
    expect(err).toBeInstanceOf(EventValidationError);
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).toMatch(/^An event's JSON is \{ type: string, data: object \}, got \{"type":5,"data":"x+… \(1000020 characters\)\.$/);
  });

  it("is an EventValidationError for JSON that cannot be printed (a BigInt, a cycle) too", () => {
    const cycle: Record<string, unknown> = { type: 7, data: {} };
    cycle.self = cycle;
    for (const bad of [{ type: 1n, data: {} }, cycle]) {
      const err = refused(bad);
      expect(err).toBeInstanceOf(EventValidationError);
    }
  });
});
