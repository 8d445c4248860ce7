import { describe, expect, it } from "vitest";
import { App, Context, Event, MemoryStore, StartEvent, step, StopEvent, Workflow, type Store } from "../../src/index.js";
import { roundTrip } from "../stores/conformance.js";

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function crashCopy(from: MemoryStore, runId: string): MemoryStore {
  const run = from.getRun(runId)!;
  const copy = new MemoryStore();
  copy.createRun(roundTrip({ runId, workflow: run.workflow, input: run.input, createdAt: run.createdAt }));
  copy.append(runId, roundTrip(from.getJournal(runId)));
  return copy;
}

const journaled = (store: MemoryStore, runId: string, pred: (e: { kind: string; step?: string }) => boolean) => () =>
  store.getJournal(runId).some((e) => pred(e));

describe("resume, more", () => {
  it("continues a step's retries after a crash: the attempt after the journaled one", async () => {
    const attempts: number[] = [];
    let hang = true;
    class Flaky extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3, delay: 0, backoff: 1 } })
      async call(_: StartEvent, ctx: Context) {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw new Error("rate limited");
        if (hang) await new Promise(() => {});
        return new StopEvent({ result: `ok on attempt ${ctx.attempt}` });
      }
    }
    const store = new MemoryStore();
    const h = new Flaky({ store, timeout: null }).run({});
    h.catch(() => {});
    await until(() => attempts.length === 2, "second attempt");
    await until(journaled(store, h.runId, (e) => e.kind === "step_failed"), "failure journaled");
    await until(() => store.getJournal(h.runId).filter((e) => e.kind === "step_started").length === 2, "attempt 2 journaled");
    const copy = crashCopy(store, h.runId);
    h.cancel();
    hang = false;
    expect(await new Flaky({ store: copy, timeout: null }).resume(h.runId)).toBe("ok on attempt 3");
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("resumes an App: member steps, namespaced ctx.store", async () => {
    class Quote extends Event<{ stock: string }> {}
    let traded = 0;
    let hang = true;
    class Monitor extends Workflow {
      @step({ accepts: StartEvent, emits: Quote })
      async watch(ev: StartEvent<{ stock: string }>, ctx: Context) {
        ctx.store.set("watched", ev.stock);
        return new Quote({ stock: ev.stock });
      }
    }
    class Station extends Workflow {
      @step({ accepts: Quote, emits: StopEvent })
      async trade(ev: Quote, ctx: Context) {
        traded++;
        ctx.store.set("last", ev.stock);
        if (hang) await new Promise(() => {});
        return new StopEvent({ result: `bought ${ev.stock}` });
      }
    }
    const store = new MemoryStore();
    const make = (s: Store) => new App({ workflows: [new Monitor(), new Station()], store: s, timeout: null });
    const h = make(store).run({ stock: "AAPL" });
    h.catch(() => {});
    await until(() => traded === 1, "trade");
    await until(journaled(store, h.runId, (e) => e.kind === "step_started" && (e.step ?? "").endsWith("trade")), "trade journaled");
    const copy = crashCopy(store, h.runId);
    h.cancel();
    hang = false;
    expect(await make(copy).resume(h.runId)).toBe("bought AAPL");
    expect(traded).toBe(2);
    const keys = copy.getJournal(h.runId).flatMap((e) => (e.kind === "state" ? [e.key] : []));
    expect(keys).toEqual(expect.arrayContaining(["Monitor/watched", "Station/last"]));
  });

  it("completes a run whose StopEvent was journaled but whose end was not", async () => {
    let ran = 0;
    class Quick extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      async only(_: StartEvent) {
        ran++;
        return new StopEvent({ result: 7 });
      }
    }
    const store = new MemoryStore();
    const h = new Quick({ store }).run({});
    await h;
    const journal = store.getJournal(h.runId).filter((e) => e.kind !== "run_finished");
    const copy = new MemoryStore();
    copy.createRun({ runId: h.runId, workflow: store.getRun(h.runId)!.workflow, input: store.getRun(h.runId)!.input, createdAt: 1 });
    copy.append(h.runId, roundTrip(journal));
    expect(await new Quick({ store: copy }).resume(h.runId)).toBe(7);
    expect(ran).toBe(1);
    expect(copy.getRun(h.runId)?.status).toBe("completed");
  });
});

describe("resume, cancelled at once", () => {
  it("leaves the stored run as it was when the handler is cancelled before the run is loaded", async () => {
    class Two extends Workflow {
      @step({ accepts: StartEvent, emits: StopEvent })
      async only(_: StartEvent) {
        return new StopEvent({ result: 1 });
      }
    }
    const store = new MemoryStore();
    store.createRun({ runId: "r", workflow: "Two", input: { type: "StartEvent", data: {} }, createdAt: 1 });
    const h = new Two({ store }).resume("r");
    h.cancel();
    await expect(h).rejects.toMatchObject({ code: "CANCELLED" });
    await new Promise((r) => setTimeout(r, 10));
    expect(store.getRun("r")).toMatchObject({ status: "running" });
    expect(store.getRun("r")?.lease).toBeUndefined();
    expect(store.getJournal("r")).toEqual([]);
  });
});
