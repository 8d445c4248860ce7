/**
 * A step in flight at a crash runs again on resume. Its sends (`ctx.sendEvent`) and stream writes
 * the journal holds from the crashed attempt are not made twice; those of an attempt that failed
 * and was retried are the retry's to make again, as a run that never crashed makes them.
 * The crash here is `suspendRun` while the step hangs, then `resume` in a fresh workflow.
 */
import { describe, expect, it } from "vitest";
import { Event, MemoryStore, StartEvent, StopEvent, Workflow, suspendRun, type Context, type JournalEntry } from "../../src/index.js";

class Ping extends Event<{ from: number }> {}
class Note extends Event<{ from: number }> {}

/** What each invocation of `work` does after its write and send: hang (the crash comes), throw (a retry), or return. */
type Then = "hang" | "throw" | "return" | "hang-first";

/** The child run `work` starts each attempt: counts its runs. */
const child = (store: MemoryStore, runs: { n: number }) =>
  new Workflow({ store, timeout: null }).addStep({ accepts: StartEvent, emits: StopEvent }, async function child() {
    runs.n++;
    return new StopEvent({ result: runs.n });
  });

function workflow(store: MemoryStore, plan: Then[], calls: { n: number }, childRuns = { n: 0 }) {
  const sub = child(store, childRuns);
  return new Workflow({ store, timeout: null })
    .addStep({ accepts: StartEvent, emits: [StopEvent, Ping], calls: sub, retry: { maxAttempts: 5, delay: 0, backoff: 1 } }, async function work(_ev, ctx: Context) {
      const call = calls.n++;
      const then = plan[call] ?? "return";
      if (then === "hang-first") await new Promise(() => {});
      ctx.writeEventToStream(new Note({ from: call }));
      ctx.sendEvent(new Ping({ from: call }));
      await ctx.runWorkflow(sub, {});
      if (then === "hang") await new Promise(() => {});
      if (then === "throw") throw new Error(`attempt ${call} fails`);
      return new StopEvent({ result: "done" });
    })
    .addStep({ accepts: Ping }, async function pong() {
      return undefined;
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `plan` (one entry per invocation of `work`), crashing each time it hangs; the journal at the end. */
async function crashThrough(plan: Then[], childRuns = { n: 0 }): Promise<readonly JournalEntry[]> {
  const store = new MemoryStore();
  const calls = { n: 0 };
  let handler = workflow(store, plan, calls, childRuns).run({});
  const runId = handler.runId;
  for (;;) {
    const hang = plan.findIndex((t, i) => i >= calls.n && t.startsWith("hang"));
    if (hang < 0) break;
    while (calls.n <= hang) await sleep(2);
    await sleep(30); // what it wrote and sent is journaled
    await suspendRun(runId);
    await handler.catch(() => undefined);
    handler = workflow(store, plan, calls, childRuns).resume(runId);
  }
  expect(await handler).toBe("done");
  return store.getJournal(runId);
}

const pings = (j: readonly JournalEntry[]) => j.filter((e) => e.kind === "event" && e.event.type === "Ping").length;
const children = (j: readonly JournalEntry[]) => j.filter((e) => e.kind === "child").length;
const notes = (j: readonly JournalEntry[]) => j.filter((e) => e.kind === "stream" && e.event.type === "Note").length;

describe("a step run again after a crash", () => {
  it("does not send or write again what its crashed attempt did, over one crash or two", async () => {
    for (const plan of [["hang"], ["hang", "hang"], ["hang", "hang", "hang"]] as Then[][]) {
      const runs = { n: 0 };
      const j = await crashThrough(plan, runs);
      expect({ plan, pings: pings(j), notes: notes(j), children: children(j), childRuns: runs.n }).toEqual({ plan, pings: 1, notes: 1, children: 1, childRuns: 1 });
    }
  });

  it("sends and writes again what an attempt that failed did, also when the retry crashed before its own", async () => {
    // Attempt 1 fails after its send and write; the retry hangs before making them, crashes, runs again.
    const runs = { n: 0 };
    let j = await crashThrough(["throw", "hang-first"], runs);
    expect({ pings: pings(j), notes: notes(j), children: children(j), childRuns: runs.n }).toEqual({ pings: 2, notes: 2, children: 2, childRuns: 2 });
    // The retry made them, then crashed: its re-run does not make them a third time.
    j = await crashThrough(["throw", "hang"]);
    expect({ pings: pings(j), notes: notes(j), children: children(j) }).toEqual({ pings: 2, notes: 2, children: 2 });
    j = await crashThrough(["throw", "hang", "hang", "throw"]);
    expect({ pings: pings(j), notes: notes(j) }).toEqual({ pings: 3, notes: 3 });
  });
});
