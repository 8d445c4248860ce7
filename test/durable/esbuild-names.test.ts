/**
 * Names under esbuild's decorator lowering (Vitest, Vite; not tsx, which sets keepNames, nor tsc).
 * A class with decorated members whose body names the class itself is emitted as
 * `const _X = class _X …; let X = _X`, so `X.name` is "_X" and nothing on the class keeps "X".
 * The engine names a workflow after its class (and an event type after its class), so such a
 * workflow's runs journaled under Vitest carry "_X" and do not resume where it is "X" (the
 * built package) — pinned here, with the workarounds RELIABILITY.md gives: the `name` option
 * (events: `static type`). If the first test fails, the toolchain keeps names now.
 */
import { describe, expect, it } from "vitest";
import { describeWorkflow, Event, MemoryStore, StartEvent, step, StopEvent, Workflow, eventTypeName, type Context, type JournalEntry, type WorkflowOptions } from "../../src/index.js";

class Answer extends Event<{ text: string }> {}

class Renamed extends Workflow {
  static asked = 0;
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async ask(_ev: StartEvent, ctx: Context) {
    Renamed.asked++; // the self-reference that makes esbuild rename the class
    const a = await ctx.waitForEvent(Answer);
    return new StopEvent({ result: a.text });
  }
}

/** The same class as the built package names it ("Renamed"). */
class Built extends Renamed {}
Object.defineProperty(Built, "name", { value: "Renamed" });

/** An event class whose decorated member names the class: renamed too; `static type` pins its name. */
const noop = (_f: unknown, _c: ClassMethodDecoratorContext) => undefined;
class Tagged extends Event<{ n: number }> {
  @noop
  twice() {
    return new Tagged({ n: this.n * 2 });
  }
}
class Typed extends Event<{ n: number }> {
  static readonly type = "Typed";
  @noop
  twice() {
    return new Typed({ n: this.n * 2 });
  }
}

/** A run of `first` left waiting in a store, resumed by `second` in a new "process". */
async function crashAndResume(first: (s: MemoryStore) => Workflow, second: (s: MemoryStore) => Workflow): Promise<{ workflow: string; result: unknown }> {
  const store = new MemoryStore();
  const live = first(store).run({});
  while (!store.getJournal(live.runId).some((e) => e.kind === "waiting")) await new Promise((r) => setTimeout(r, 5));
  const journal = JSON.parse(JSON.stringify(store.getJournal(live.runId))) as JournalEntry[];
  live.cancel();
  await live.catch(() => undefined);
  const run = store.getRun(live.runId);
  const next = new MemoryStore();
  next.createRun({ runId: live.runId, workflow: run?.workflow ?? "", input: run?.input ?? { type: "StartEvent", data: {} }, createdAt: run?.createdAt ?? 0 });
  next.append(live.runId, journal);
  const resumed = second(next).resume(live.runId);
  setTimeout(() => {
    try {
      resumed.sendEvent(new Answer({ text: "yes" }));
    } catch {
      // The resume failed (WRONG_WORKFLOW): nothing to answer.
    }
  }, 10);
  const result = await resumed.catch((err: unknown) => err);
  return { workflow: run?.workflow ?? "", result };
}

describe("class names under esbuild's decorator lowering (Vitest)", () => {
  it("a class with decorated members that names itself is called _Name here; tsc keeps Name", () => {
    expect(Renamed.name).toBe("_Renamed");
    expect(Tagged.name).toBe("_Tagged");
  });

  it("the engine names the workflow and the event type after the class: _Renamed, _Tagged", () => {
    expect(describeWorkflow(Renamed).name).toBe("_Renamed");
    expect(eventTypeName(Tagged)).toBe("_Tagged");
    expect(new Tagged({ n: 1 }).toJSON().type).toBe("_Tagged");
  });

  it("a run journaled as _Renamed does not resume with the built class (WRONG_WORKFLOW)", async () => {
    const { workflow, result } = await crashAndResume(
      (store) => new Renamed({ store, timeout: null }),
      (store) => new Built({ store, timeout: null }),
    );
    expect(workflow).toBe("_Renamed");
    expect(result).toMatchObject({ code: "WRONG_WORKFLOW" });
  });

  it("workarounds: the name option for a workflow, static type for an event", async () => {
    const options = (store: MemoryStore): WorkflowOptions => ({ name: "Renamed", store, timeout: null });
    const { workflow, result } = await crashAndResume(
      (store) => new Renamed(options(store)),
      (store) => new Built(options(store)),
    );
    expect(workflow).toBe("Renamed");
    expect(result).toBe("yes");
    expect(eventTypeName(Typed)).toBe("Typed");
    expect(new Typed({ n: 1 }).toJSON().type).toBe("Typed");
  });
});
