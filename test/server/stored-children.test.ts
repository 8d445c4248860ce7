/**
 * `children` of a run this process does not hold, answered from the store: its child runs only,
 * read through the store's parentRunId filter, not by listing every stored run.
 */
import { describe, expect, it } from "vitest";
import { MemoryStore, StartEvent, StopEvent, Workflow, type Context, type RunFilter } from "stepwise-ai";
import { createServer } from "stepwise-ai/server";


/** A MemoryStore that counts the runs its listRuns hands back. */
class CountingStore extends MemoryStore {
  listed = 0;
  override listRuns(filter?: RunFilter) {
    const runs = super.listRuns(filter);
    this.listed += runs.length;
    return runs;
  }
}

describe("children of a stored run", () => {
  it("GET /runs/:id of a run another server ran lists its two children, reading only them among 200 other runs", async () => {
    const store = new CountingStore();
    const leaf = new Workflow({ store }).addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ k: number }>) => new StopEvent({ result: ev.k }));
    const parent = new Workflow({ store }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev: StartEvent, ctx: Context) => {
      const [a, b] = await Promise.all([ctx.runWorkflow(leaf, { k: 1 }), ctx.runWorkflow(leaf, { k: 2 })]);
      return new StopEvent({ result: (a as number) + (b as number) });
    });
    expect(await parent.run({})).toBe(3);
    const runId = store.listRuns({}).find((r) => r.parentRunId === undefined)!.runId;
    const children = store.listRuns({ parentRunId: runId }).map((r) => r.runId).sort();
    expect(children).toHaveLength(2);
    for (let k = 0; k < 200; k++) await leaf.run({ k });

    // A server that did not run it answers from the store.
    const app = createServer({ workflows: { parent, leaf }, store, resume: false });
    store.listed = 0;
    const info = (await (await app.request(`/runs/${runId}`)).json()) as { status: string; result: number; children: string[]; live: boolean };
    expect(info).toMatchObject({ status: "completed", result: 3, live: false });
    expect([...info.children].sort()).toEqual(children);
    expect(store.listed).toBe(2);
  });
});
