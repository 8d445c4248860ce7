// Typed state (12.11), resources (12.15) and retry policies (12.12), as a consumer writes them.
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { StartEvent, StepFailedEvent, StopEvent, Workflow, WorkflowHandler, createWorkflow, provide, resource, step, type RunState, type StateStore } from "stepwise-ai";
import { assertType } from "./assert.js";

interface Shape {
  user: { name: string };
  count: number;
}
// Any Standard Schema; a hand-written one here, as the consumer project has no zod.
const State: StandardSchemaV1<unknown, Shape> = {
  "~standard": { version: 1, vendor: "consumer", validate: (value) => ({ value: value as Shape }) },
};

export const typed = new Workflow({ state: State }).addStep({ accepts: StartEvent, emits: StopEvent }, async (_ev, ctx) => {
  assertType<StateStore<Shape>>()(ctx.store);
  assertType<string>()(ctx.store.get("user.name"));
  assertType<number>()(ctx.store.get("count"));
  ctx.store.set("user.name", "Ada");
  // @ts-expect-error -- a number is not a name
  ctx.store.set("user.name", 1);
  // @ts-expect-error -- no such path
  ctx.store.get("user.age");
  await ctx.store.edit((s) => {
    assertType<Shape>()(s);
    s.count += 1;
  });
  return new StopEvent({ result: ctx.store.getState().count });
});
assertType<WorkflowHandler<unknown, Shape>>()(typed.run({}, { state: { user: { name: "x" }, count: 0 } }));
assertType<Shape>()(typed.run().state);
// @ts-expect-error -- the initial state is typed by the schema
void typed.run({}, { state: { user: { name: 1 }, count: 0 } });

// Without a schema ctx.store is the untyped RunState, as before.
export const untyped = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, (_ev, ctx) => {
  assertType<RunState>()(ctx.store);
  return new StopEvent({ result: ctx.store.get("n", 0) });
});
void untyped.run({}, { state: { n: 1 } });

// Resources: the handler's third argument is typed from the factories.
class Llm {
  complete(prompt: string): string {
    return prompt;
  }
}
const llm = resource(async () => new Llm());
const counter = resource(() => 0, { scope: "invocation", name: "counter" });
export const withResources = new Workflow().addStep({ accepts: StartEvent, emits: StopEvent, resources: { llm, counter } }, (_ev, _ctx, r) => {
  assertType<Llm>()(r.llm);
  assertType<number>()(r.counter);
  return new StopEvent({ result: r.llm.complete("hi") });
});
void withResources.run({}, { resources: [provide(llm, new Llm())] });
// @ts-expect-error -- provide checks the value against the resource's type
provide(llm, "not an llm");

export const fn = createWorkflow({
  name: "fn",
  steps: { only: step({ accepts: StartEvent, emits: StopEvent, resources: { llm } }, (_ev, _ctx, r) => new StopEvent({ result: r.llm.complete("x") })) },
});

// Retry policies: error classes or a predicate; a catch-error step.
class Transient extends Error {}
export const retrying = new Workflow({ numConcurrentRuns: 2 })
  .addStep({ accepts: StartEvent, emits: StopEvent, retry: { maxAttempts: 3, delay: 1, backoff: 2, maxDelay: 10, jitter: true, retryOn: [Transient, TypeError] } }, () => new StopEvent({}))
  .addStep({ accepts: StepFailedEvent, emits: StopEvent, retry: { maxAttempts: 2, retryOn: (error, attempt) => error instanceof Transient && attempt < 2 } }, (ev) => {
    assertType<string>()(ev.step);
    assertType<string>()(ev.error.message);
    return new StopEvent({ result: ev.attempt });
  });
