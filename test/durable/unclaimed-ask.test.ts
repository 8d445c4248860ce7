/**
 * LlamaIndex's two-step human in the loop (12.9): a step returns an InputRequiredEvent that no
 * step takes, the run streams it, and the answer comes from outside. A crash between the
 * journaled end of that step and the journaled stream write must not lose the question.
 */
import { describe, expect, it } from "vitest";
import { HumanResponseEvent, InputRequiredEvent, MemoryStore, StartEvent, StopEvent, Workflow, type JournalEntry } from "../../src/index.js";

const asking = (store: MemoryStore) =>
  new Workflow({ store, timeout: null, externalEvents: [HumanResponseEvent] })
    .addStep({ accepts: StartEvent, emits: InputRequiredEvent }, async function ask() {
      return new InputRequiredEvent({ prefix: "name?" });
    })
    .addStep({ accepts: HumanResponseEvent, emits: StopEvent }, async function answer(ev) {
      return new StopEvent({ result: `hi ${String(ev.response)}` });
    });

describe("an InputRequiredEvent no step takes, across a crash", () => {
  it("is in the resumed run's stream exactly once, wherever the journal was cut", async () => {
    const store = new MemoryStore();
    const live = asking(store).run({});
    for await (const ev of live.streamEvents()) if (ev instanceof InputRequiredEvent) break;
    while (!store.getJournal(live.runId).some((e) => e.kind === "stream")) await new Promise((r) => setTimeout(r, 5));
    const journal = JSON.parse(JSON.stringify(store.getJournal(live.runId))) as JournalEntry[];
    live.cancel();
    await live.catch(() => undefined);
    // The step's end and the stream write are separate records: a cut can fall between them.
    const kinds = journal.map((e) => e.kind);
    expect(kinds.indexOf("stream")).toBeGreaterThan(kinds.indexOf("step_finished"));
    const run = store.getRun(live.runId);
    const cuts = journal.filter((e) => e.kind !== "run_finished").length;
    for (let k = 1; k <= cuts; k++) {
      const copy = new MemoryStore();
      copy.createRun({ runId: live.runId, workflow: run?.workflow ?? "", input: run?.input ?? { type: "StartEvent", data: {} }, createdAt: run?.createdAt ?? 0 });
      copy.append(live.runId, journal.slice(0, k));
      const resumed = asking(copy).resume(live.runId);
      const streamed: string[] = [];
      const reading = (async () => {
        for await (const ev of resumed.streamEvents()) streamed.push(ev.constructor.name);
      })();
      await new Promise((r) => setTimeout(r, 10));
      resumed.sendEvent(new HumanResponseEvent({ response: "bob" }));
      expect(await resumed).toBe("hi bob");
      await reading;
      expect({ cut: k, streamed }).toEqual({ cut: k, streamed: ["InputRequiredEvent", "StopEvent"] });
      // And journaled: a second crash later does not lose it either.
      expect(copy.getJournal(live.runId).filter((e) => e.kind === "stream")).toHaveLength(1);
    }
  });
});
