/**
 * An InputRequiredEvent subclass used only as a `waiterEvent` (declared in no step's accepts,
 * emits or waitsFor) is still known as a prompt after a restart: the journal's stream record
 * says it asks, a new process's resumed run streams it as an InputRequiredEvent, and the run
 * goes on when the answer comes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Event, InputRequiredEvent, MemoryStore, StartEvent, StopEvent, Workflow, type JournalEntry, type Store } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite.js";

class Ask extends InputRequiredEvent<{ prefix: string; who: string }> {}
class Reply extends Event<{ who: string; text: string }> {}

/** A fresh instance of the workflow, as a new process builds it: Ask appears only inside the step. */
const asking = (store: Store) =>
  new Workflow({ name: "Asker", store, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Reply }, async function ask(_ev, ctx) {
    const reply = await ctx.waitForEvent(Reply, { requirements: { who: "bob" }, waiterEvent: new Ask({ prefix: "name?", who: "bob" }) });
    return new StopEvent({ result: `hi ${reply.text}` });
  });

const streamRecords = (journal: readonly JournalEntry[]) => journal.filter((e): e is Extract<JournalEntry, { kind: "stream" }> => e.kind === "stream");

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Runs until the Ask is journaled, then "crashes": the journal so far goes to `next`, where a new instance resumes. */
async function restartWith(next: Store): Promise<{ first: JournalEntry[]; resumed: string[]; asked: unknown[]; result: unknown; after: JournalEntry[] }> {
  const store = new MemoryStore();
  const live = asking(store).run({});
  for await (const ev of live.streamEvents()) if (ev instanceof Ask) break;
  while (streamRecords(store.getJournal(live.runId)).length === 0) await new Promise((r) => setTimeout(r, 5));
  const first = JSON.parse(JSON.stringify(store.getJournal(live.runId))) as JournalEntry[];
  live.cancel();
  await live.catch(() => undefined);
  const run = store.getRun(live.runId);
  await next.createRun({ runId: live.runId, workflow: run?.workflow ?? "", input: run?.input ?? { type: "StartEvent", data: {} }, createdAt: run?.createdAt ?? 0 });
  await next.append(live.runId, first);

  const resumed = asking(next).resume(live.runId);
  const seen: string[] = [];
  const asked: unknown[] = [];
  const reading = (async () => {
    for await (const ev of resumed.streamEvents()) {
      seen.push(ev.constructor.name);
      if (ev instanceof InputRequiredEvent) asked.push(ev.toJSON());
    }
  })();
  await new Promise((r) => setTimeout(r, 10));
  resumed.sendEvent(new Reply({ who: "bob", text: "Bob" }));
  const result = await resumed;
  await reading;
  return { first, resumed: seen, asked, result, after: [...(await next.getJournal(live.runId))] };
}

describe("an undeclared InputRequiredEvent waiter across a restart", () => {
  for (const kind of ["MemoryStore", "SqliteStore"] as const) {
    it(`${kind}: the journal marks it as asking, and a new instance streams it as an InputRequiredEvent`, async () => {
      let next: Store;
      if (kind === "MemoryStore") next = new MemoryStore();
      else {
        const dir = mkdtempSync(join(tmpdir(), "stepwise-ask-"));
        const sqlite = new SqliteStore(join(dir, "runs.db"));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        cleanups.unshift(() => sqlite.close());
        next = sqlite;
      }
      // The new instance cannot revive "Ask" by name: nothing declares it.
      expect(() => asking(new MemoryStore()).reviveEvent({ type: "Ask", data: { prefix: "name?", who: "bob" } })).toThrow();
      const { first, resumed, asked, result, after } = await restartWith(next);
      // The record itself says the streamed event is a prompt (what a server reads).
      expect(streamRecords(first).map((r) => ({ type: r.event.type, asks: r.asks }))).toEqual([{ type: "Ask", asks: true }]);
      expect(streamRecords(after).map((r) => ({ type: r.event.type, asks: r.asks }))).toEqual([{ type: "Ask", asks: true }]);
      // The resumed run's stream gives it back as an InputRequiredEvent, with its data.
      expect(asked).toEqual([{ type: "Ask", data: { prefix: "name?", who: "bob" } }]);
      expect(resumed).toEqual(["Ask", "StopEvent"]);
      expect(result).toBe("hi Bob");
    });
  }

  it("a declared class's record is marked too, and another event's is not", async () => {
    const store = new MemoryStore();
    const wf = new Workflow({ name: "Notes", store, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, (_ev, ctx) => {
      ctx.writeEventToStream(new Reply({ who: "x", text: "note" }));
      ctx.writeEventToStream(new InputRequiredEvent({ prefix: "?" }));
      return new StopEvent({ result: 1 });
    });
    const h = wf.run({});
    await h;
    expect(streamRecords(store.getJournal(h.runId)).map((r) => [r.event.type, r.asks])).toEqual([
      ["Reply", undefined],
      ["InputRequiredEvent", true],
    ]);
  });
});
