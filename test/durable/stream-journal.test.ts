import { describe, expect, it } from "vitest";
import { Context, Event, HumanResponseEvent, InputRequiredEvent, MemoryStore, StartEvent, step, StopEvent, streamOrigin, Workflow, type JournalEntry, type Store } from "../../src/index.js";
import { roundTrip } from "../stores/conformance.js";

class Progress extends Event<{ n: number }> {}

const tick = () => new Promise((r) => setImmediate(r));

/** What a crash leaves: a copy of the store as it is now. */
async function crashCopy(from: Store, runId: string): Promise<MemoryStore> {
  const run = await from.getRun(runId);
  if (run === undefined) throw new Error("no run");
  const copy = new MemoryStore();
  copy.createRun(roundTrip({ runId, workflow: run.workflow, input: run.input, createdAt: run.createdAt }));
  copy.append(runId, roundTrip(await from.getJournal(runId)));
  return copy;
}

// By type name: a stream-only class the workflow does not declare comes back from the journal as a stand-in of the same name.
const label = (ev: Event) => {
  const n = (ev as unknown as { n?: unknown }).n;
  return `${ev.constructor.name}${typeof n === "number" ? String(n) : ""}`;
};
const streamed = (j: readonly JournalEntry[]) => j.flatMap((e) => (e.kind === "stream" ? [`${e.pos}:${e.event.type}${typeof e.event.data.n === "number" ? String(e.event.data.n) : ""}`] : []));

/** Writes Progress 1 and 2, then (when `hang`) never returns; else writes 3 and stops. */
function writer(hang: { on: boolean }, runs: { n: number }) {
  return class Writer extends Workflow {
    @step({ accepts: StartEvent, emits: StopEvent })
    async work(_ev: StartEvent, ctx: Context) {
      runs.n++;
      ctx.writeEventToStream(new Progress({ n: 1 }));
      ctx.writeEventToStream(new Progress({ n: 2 }));
      if (hang.on) await new Promise(() => {});
      ctx.writeEventToStream(new Progress({ n: 3 }));
      return new StopEvent({ result: 30 });
    }
  };
}

describe("a durable run's stream is journaled with its positions (issue 14: streams across restarts)", () => {
  it("each streamed event is journaled at its position; after a crash the re-run attempt's writes the journal holds are not written again", async () => {
    const store = new MemoryStore();
    const runs = { n: 0 };
    const Writer = writer({ on: true }, runs);
    const h = new Writer({ store, timeout: null }).run({});
    h.catch(() => {});
    const seen: string[] = [];
    for await (const ev of h.streamEvents()) {
      seen.push(label(ev));
      if (seen.length === 2) break;
    }
    await tick();
    await new Promise((r) => setTimeout(r, 20)); // the group commit
    expect(streamed(store.getJournal(h.runId))).toEqual(["1:Progress1", "2:Progress2"]);

    const copy = await crashCopy(store, h.runId);
    const Again = writer({ on: false }, runs);
    const resumed = new Again({ store: copy, timeout: null }).resume(h.runId);
    const all: string[] = [];
    for await (const ev of resumed.streamEvents()) all.push(label(ev));
    expect(await resumed).toBe(30);
    expect(runs.n).toBe(2); // the step ran again...
    expect(all).toEqual(["Progress1", "Progress2", "Progress3", "StopEvent"]); // ...and the stream holds each write once
    expect(streamed(copy.getJournal(h.runId))).toEqual(["1:Progress1", "2:Progress2", "3:Progress3"]);
    // A second reader of the resumed run, after it ended, gets the same from the start.
    const again: string[] = [];
    for await (const ev of resumed.streamEvents()) again.push(label(ev));
    expect(again).toEqual(all);
  });

  it("a wait's waiterEvent is journaled once, and a child run's events with their origin", async () => {
    class Child extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      leaf(_ev: StartEvent, ctx: Context) {
        ctx.writeEventToStream(new Progress({ n: 7 }));
        return new StopEvent({ result: 7 });
      }
    }
    class Parent extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, waitsFor: HumanResponseEvent, calls: [Child] })
      async ask(_ev: StartEvent, ctx: Context) {
        const n = (await ctx.runWorkflow(new Child({ store }))) as number;
        const answer = await ctx.waitForEvent(HumanResponseEvent, { waiterEvent: new InputRequiredEvent({ prefix: "ok?" }) });
        return new StopEvent({ result: `${n}:${String(answer.response)}` });
      }
    }
    const store = new MemoryStore();
    const h = new Parent({ store, timeout: null }).run({});
    for await (const ev of h.streamEvents()) if (ev instanceof InputRequiredEvent) h.sendEvent(new HumanResponseEvent({ response: "yes" }));
    expect(await h).toBe("7:yes");
    const j = store.getJournal(h.runId);
    const recs = j.filter((e) => e.kind === "stream");
    expect(recs.map((e) => [e.pos, e.event.type])).toEqual([
      [1, "Progress"],
      [2, "InputRequiredEvent"],
    ]);
    const child = recs[0] as JournalEntry & { kind: "stream" };
    expect(child.origin?.workflow).toBe("Child");
    expect(child.origin?.runId).not.toBe(h.runId);

    // Resumed from a copy of the journal, the stream comes back with the child's origin.
    const cut = store.getJournal(h.runId).filter((e) => e.kind !== "run_finished");
    const fresh = new MemoryStore();
    fresh.createRun(roundTrip({ runId: h.runId, workflow: "Parent", input: store.getRun(h.runId)!.input, createdAt: 0 }));
    fresh.append(h.runId, roundTrip(cut));
    const resumed = new Parent({ store: fresh, timeout: null }).resume(h.runId);
    const evs: Event[] = [];
    for await (const ev of resumed.streamEvents()) evs.push(ev);
    expect(evs.map(label)).toEqual(["Progress7", "InputRequiredEvent", "StopEvent"]);
    expect(streamOrigin(evs[0] as Event)?.workflow).toBe("Child");
  });
});
