// The function style with typed state (issue 12.11 with 12.14): a step's `ctx: Context<State>`
// types `ctx.store`; createWorkflow carries the state type to run(input, { state }) and handler.state.
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { Context, StartEvent, StopEvent, createWorkflow, step, type StateStore } from "stepwise-ai";
import { assertType } from "./assert.js";

interface State {
  count: number;
  user: { name: string };
}
const State: StandardSchemaV1<unknown, State> = {
  "~standard": { version: 1, vendor: "consumer", validate: (value) => ({ value: value as State }) },
};

const count = step({ accepts: StartEvent, emits: StopEvent }, async (_ev: StartEvent, ctx: Context<State>) => {
  assertType<StateStore<State>>()(ctx.store);
  assertType<string>()(ctx.store.get("user.name"));
  ctx.store.set("count", ctx.store.get("count") + 1);
  // @ts-expect-error -- a value of the wrong type for its path
  ctx.store.set("count", "one");
  await ctx.store.edit((s) => {
    s.user.name = "Ada";
  });
  return new StopEvent({ result: ctx.store.getState().count });
});

export const counter = createWorkflow({ name: "counter", state: State, steps: { count } });

export async function use(): Promise<number> {
  const handler = counter.run({}, { state: { count: 41, user: { name: "Bo" } } });
  const result = await handler;
  assertType<number>()(handler.state.count);
  // @ts-expect-error -- the initial state is typed by the schema
  void counter.run({}, { state: { count: "many", user: { name: "Bo" } } });
  return typeof result === "number" ? result : 0;
}
