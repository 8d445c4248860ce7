// A child run's streamed events carry their path: the run ids from the top run down to the
// writer, filled in as the event goes up (server request B: no inspector needed for it). Live,
// journaled, and restored from the journal.
import { describe, expect, it } from "vitest";
import { Context, Event, MemoryStore, StartEvent, step, StopEvent, streamOrigin, Workflow, type JournalEntry } from "../../src/index.js";
import { roundTrip } from "../stores/conformance.js";

class Note extends Event<{ from: string }> {}

/** Top → Middle → Leaf; each writes a Note, then the leaf's result goes back up. */
function family(store?: MemoryStore) {
  const options = store ? { store, timeout: null } : { timeout: null };
  class Leaf extends Workflow {
    @step({ accepts: StartEvent, emits: StopEvent })
    leaf(_ev: StartEvent, ctx: Context) {
      ctx.writeEventToStream(new Note({ from: "leaf" }));
      return new StopEvent({ result: ctx.runId });
    }
  }
  class Middle extends Workflow {
    @step({ accepts: StartEvent, emits: StopEvent, calls: [Leaf] })
    async middle(_ev: StartEvent, ctx: Context) {
      ctx.writeEventToStream(new Note({ from: "middle" }));
      const leafId = (await ctx.runWorkflow(new Leaf(options))) as string;
      return new StopEvent({ result: [ctx.runId, leafId] });
    }
  }
  class Top extends Workflow {
    @step({ accepts: StartEvent, emits: StopEvent, calls: [Middle] })
    async top(_ev: StartEvent, ctx: Context) {
      ctx.writeEventToStream(new Note({ from: "top" }));
      return new StopEvent({ result: await ctx.runWorkflow(new Middle(options)) });
    }
  }
  return new Top(options);
}

describe("StreamOrigin.path", () => {
  it("names the runs from the top run down to the writer; the top run's own events have no origin", async () => {
    const h = family().run({});
    const seen: [string, readonly string[] | undefined, string | undefined][] = [];
    for await (const ev of h.streamEvents()) if (ev instanceof Note) seen.push([ev.from, streamOrigin(ev)?.path, streamOrigin(ev)?.runId]);
    const [middleId, leafId] = (await h) as [string, string];
    expect(seen).toEqual([
      ["top", undefined, undefined],
      ["middle", [h.runId, middleId], middleId],
      ["leaf", [h.runId, middleId, leafId], leafId],
    ]);
  });

  it("is journaled with the event, and a run restored from its journal has it again", async () => {
    const store = new MemoryStore();
    const h = family(store).run({});
    const [middleId, leafId] = (await h) as [string, string];
    const recs = store.getJournal(h.runId).filter((e): e is JournalEntry & { kind: "stream" } => e.kind === "stream");
    expect(recs.map((r) => r.origin?.path)).toEqual([undefined, [h.runId, middleId], [h.runId, middleId, leafId]]);

    // Resumed from a copy of the journal: the stream comes back with its paths.
    const cut = store.getJournal(h.runId).filter((e) => e.kind !== "run_finished");
    const fresh = new MemoryStore();
    fresh.createRun(roundTrip({ runId: h.runId, workflow: "Top", input: store.getRun(h.runId)!.input, createdAt: 0 }));
    fresh.append(h.runId, roundTrip(cut));
    const resumed = family(fresh).resume(h.runId);
    const paths: (readonly string[] | undefined)[] = [];
    for await (const ev of resumed.streamEvents()) if (ev instanceof Note || ev.constructor.name === "Note") paths.push(streamOrigin(ev)?.path);
    expect(paths).toEqual([undefined, [h.runId, middleId], [h.runId, middleId, leafId]]);
  });

  it("a journal written before paths were gives [top, writer]", async () => {
    const store = new MemoryStore();
    const h = family(store).run({});
    const [middleId] = (await h) as [string, string];
    const old = store.getJournal(h.runId)
      .filter((e) => e.kind !== "run_finished")
      .map((e) => (e.kind === "stream" && e.origin ? { ...e, origin: { runId: e.origin.runId, workflow: e.origin.workflow } } : e));
    const fresh = new MemoryStore();
    fresh.createRun(roundTrip({ runId: h.runId, workflow: "Top", input: store.getRun(h.runId)!.input, createdAt: 0 }));
    fresh.append(h.runId, roundTrip(old));
    const resumed = family(fresh).resume(h.runId);
    const paths: (readonly string[] | undefined)[] = [];
    for await (const ev of resumed.streamEvents()) if (ev.constructor.name === "Note") paths.push(streamOrigin(ev)?.path);
    expect(paths[1]).toEqual([h.runId, middleId]);
    expect(paths).toHaveLength(3);
  });
});
