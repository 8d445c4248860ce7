import { describe, expect, it } from "vitest";
import { Event, MemoryStore, StartEvent, StopEvent, Workflow, type JournalEntry } from "../../src/index.js";

class Loop extends Event<{ n: number }> {}

/** A chain whose steps never wait for a timer: the journal's 5 ms group commit never fires inside it. */
function chain(n: number, store: MemoryStore, durability: "sync" | "batched") {
  return new Workflow({ store, durability }).addStep({ accepts: [StartEvent, Loop], emits: [Loop, StopEvent] }, async function loop(ev) {
    const i = ev instanceof Loop ? ev.n : 0;
    return i < n ? new Loop({ n: i + 1 }) : new StopEvent({ result: i });
  });
}

describe("journal group commits", () => {
  it("batched: a run that never yields to timers still commits in bounded batches, in order", async () => {
    const store = new MemoryStore();
    const sizes: number[] = [];
    const append = store.append.bind(store);
    store.append = (runId: string, entries: readonly JournalEntry[]) => {
      sizes.push(entries.length);
      append(runId, entries);
    };
    const handler = chain(2000, store, "batched").run();
    expect(await handler).toBe(2000);
    expect(sizes.length).toBeGreaterThan(3);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024);
    const runId = store.listRuns()[0]?.runId as string;
    const journal = store.getJournal(runId);
    expect(journal.reduce((n, e) => n + (e.kind === "step_finished" ? 1 : 0), 0)).toBe(2001);
    const seqs = journal.flatMap((e) => (e.kind === "event" ? [e.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    // Entries keep their shape: `at` last, optional fields only when set.
    const ev = journal.find((e) => e.kind === "event" && e.seq === 2);
    expect(Object.keys(ev ?? {})).toEqual(["kind", "seq", "event", "from", "at"]);
    expect(Object.keys(journal.find((e) => e.kind === "event") ?? {})).toEqual(["kind", "seq", "event", "at"]);
  });
});
