import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, StartEvent, step, StopEvent, Workflow } from "../../src/index.js";

class Part extends Event<{ i: number }> {}

function fanIn(width: number) {
  return class FanIn extends Workflow {
    @step({ accepts: StartEvent, emits: Part })
    spread() {
      return Array.from({ length: width }, (_, i) => new Part({ i }));
    }
    @step({ accepts: Part, emits: StopEvent })
    join(ev: Part, ctx: Context) {
      const all = ctx.collectEvents(ev, Array<typeof Part>(width).fill(Part));
      return all === null ? undefined : new StopEvent({ result: all.reduce((s, p) => s + p.i, 0) });
    }
  };
}

async function bytesPerEvent(width: number): Promise<number> {
  const store = new MemoryStore();
  const h = new (fanIn(width))({ store, timeout: null }).run({});
  expect(await h).toBe((width * (width - 1)) / 2);
  return JSON.stringify(store.getJournal(h.runId)).length / width;
}

describe("durable collectEvents journals the change only (issue 11.20)", () => {
  it("journal bytes per event stay flat from width 100 to 1,000", async () => {
    const narrow = await bytesPerEvent(100);
    const wide = await bytesPerEvent(1000);
    expect(wide / narrow).toBeLessThan(1.25);
  });
});
