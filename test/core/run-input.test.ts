/** `wf.run(x)` with a bad input (issue 11.13, 12.7): a handler that rejects at once, never a synchronous throw. */
import { describe, expect, it } from "vitest";
import { Event, MemoryStore, StartEvent, StopEvent, Workflow, WorkflowError } from "../../src/index.js";

class Other extends Event<{ n: number }> {}
class Begin extends StartEvent<{ topic: string }> {}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** What the handler did within two turns of the event loop: "pending" when it has not settled. */
async function settledSoon(make: () => PromiseLike<unknown>): Promise<unknown> {
  let handler: PromiseLike<unknown>;
  try {
    handler = make();
  } catch (err) {
    return { threwSynchronously: err };
  }
  return Promise.race([Promise.resolve(handler).then(() => "resolved", (e: unknown) => e), tick().then(tick).then(() => "pending")]);
}

const simple = (options = {}) => new Workflow({ timeout: null, ...options }).addStep({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 }));

const cyclic: Record<string, unknown> = {};
cyclic.self = cyclic;

describe.each([
  ["in memory", () => simple()],
  ["durable", () => simple({ store: new MemoryStore() })],
])("wf.run with a bad input (%s)", (_name, make) => {
  it.each<[string, unknown, RegExp]>([
    ["a number", 5, /number 5/],
    ["a string", "go", /string "go"/],
    ["null", null, /null/],
    ["an array", [1], /an array/],
    ["a BigInt", 5n, /bigint 5n/],
    ["a symbol", Symbol("s"), /Symbol\(s\)/],
    ["a function", () => 1, /function/],
  ])("%s: rejects at once with a WorkflowError naming it", async (_what, input, named) => {
    const got = await settledSoon(() => make().run(input as object));
    expect(got).toBeInstanceOf(WorkflowError);
    expect((got as Error).message).toMatch(named);
  });

  it("an event that is not its start event: rejects at once, naming both classes", async () => {
    const got = await settledSoon(() => make().run(new Other({ n: 1 })));
    expect(got).toBeInstanceOf(WorkflowError);
    expect((got as Error).message).toMatch(/takes a StartEvent .* got a Other/);
  });
});

it("a workflow with its own start class rejects a plain StartEvent and takes its own", async () => {
  const wf = new Workflow({ timeout: null }).addStep({ accepts: Begin, emits: StopEvent }, (ev) => new StopEvent({ result: ev.topic }));
  const got = await settledSoon(() => wf.run(new StartEvent({ topic: "x" })));
  expect((got as Error).message).toMatch(/takes a Begin/);
  expect(await wf.run(new Begin({ topic: "AAPL" }))).toBe("AAPL");
  expect(await wf.run({ topic: "MSFT" })).toBe("MSFT");
});
