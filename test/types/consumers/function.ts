// The function-style API (issue 12.14): step(options, handler) and createWorkflow, no classes or decorators.
import { App, Event, StartEvent, StopEvent, Workflow, WorkflowHandler, createWorkflow, step, type Context, type WorkflowStep } from "stepwise-ai";
import { assertType } from "./assert.js";

class JokeEvent extends Event<{ joke: string }> {}
class Loop extends Event<{ n: number }> {}
class Verdict extends StopEvent<{ result: string; confidence: number }> {}

// The handler's event is typed from accepts, ctx is a Context, the input from the annotation.
const generate = step({ accepts: StartEvent, emits: JokeEvent }, async (ev: StartEvent<{ topic: string }>, ctx) => {
  assertType<string>()(ev.topic);
  assertType<Context>()(ctx);
  return new JokeEvent({ joke: ev.topic });
});
assertType<WorkflowStep<{ topic: string }, never>>()(generate);

const critique = step({ accepts: JokeEvent, emits: StopEvent }, async (ev) => {
  assertType<JokeEvent>()(ev);
  return new StopEvent({ result: ev.joke.length });
});
assertType<WorkflowStep<unknown, number>>()(critique);

// The run's input and result are inferred from the steps.
export const jokeFlow = createWorkflow({ name: "joke", timeout: 30, steps: { generate, critique } });
assertType<Workflow<{ topic: string }, number>>()(jokeFlow);
assertType<WorkflowHandler<number>>()(jokeFlow.run({ topic: "pirates" }));
// @ts-expect-error -- the input is checked against the StartEvent the steps read
void jokeFlow.run({ topc: "pirates" });

// Inline steps: the same inference.
export const inline = createWorkflow({
  name: "inline",
  steps: {
    generate: step({ accepts: StartEvent, emits: JokeEvent }, (ev: StartEvent<{ topic: string }>) => new JokeEvent({ joke: ev.topic })),
    critique: step({ accepts: JokeEvent, emits: StopEvent }, (ev) => new StopEvent({ result: ev.joke })),
  },
});
assertType<Workflow<{ topic: string }, string>>()(inline);

// A union accepts: the handler gets the union; a loop, a fan-out array and a custom StopEvent.
export const looping = createWorkflow({
  name: "loop",
  steps: [
    step({ name: "begin", accepts: [StartEvent, Loop], emits: [Loop, Verdict] }, (ev: StartEvent<{ stock: string }> | Loop) => {
      if (ev instanceof Loop) return ev.n > 2 ? new Verdict({ result: "buy", confidence: 1 }) : [new Loop({ n: ev.n + 1 })];
      return new Loop({ n: ev.stock.length });
    }),
  ],
});
assertType<Workflow<{ stock: string }, Verdict>>()(looping);
step({ accepts: [JokeEvent, Loop], emits: StopEvent }, (ev) => {
  assertType<JokeEvent | Loop>()(ev);
});

// Without an annotation the input is open, as for `new Workflow()`.
export const open = createWorkflow({ name: "open", steps: { s: step({ accepts: StartEvent, emits: StopEvent }, (ev) => new StopEvent({ result: String(ev.anything) })) } });
assertType<WorkflowHandler<string>>()(open.run({ anything: 1 }));

// Declared input and result, as `Workflow<Input, Result>`: inline handlers read the declared input.
export const declared = createWorkflow<{ topic: string }, string>({
  name: "declared",
  steps: {
    generate: step({ accepts: StartEvent, emits: JokeEvent }, (ev) => {
      assertType<string>()(ev.topic);
      return new JokeEvent({ joke: ev.topic });
    }),
    critique: step({ accepts: JokeEvent, emits: StopEvent }, (ev) => new StopEvent({ result: ev.joke })),
  },
});
assertType<Workflow<{ topic: string }, string>>()(declared);

createWorkflow<{ topic: string }, string>({
  name: "wrong result",
  // @ts-expect-error -- this step ends the run with a number, the workflow says string
  steps: { s: step({ accepts: StartEvent, emits: StopEvent }, () => new StopEvent({ result: 1 })) },
});
createWorkflow<{ topic: string }, string>({
  name: "custom stop",
  // @ts-expect-error -- the run would resolve to a Verdict, not a string
  steps: { s: step({ accepts: StartEvent, emits: Verdict }, () => new Verdict({ result: "x", confidence: 0 })) },
});
createWorkflow<{ topic: string }, string>({
  name: "wrong input",
  // @ts-expect-error -- this step reads an input the workflow does not take
  steps: { s: step({ accepts: StartEvent, emits: StopEvent }, (ev: StartEvent<{ id: number }>) => new StopEvent({ result: String(ev.id) })) },
});

// The returned workflow is a Workflow: an App member, chainable addStep.
export const app = new App({ workflows: [jokeFlow, inline] });
jokeFlow.addStep({ name: "extra", accepts: Loop }, (ev) => {
  assertType<Loop>()(ev);
});

// The decorator is the same `step`, with one argument.
export class Classic extends Workflow<{ topic: string }, string> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async go(ev: StartEvent<{ topic: string }>) {
    return new StopEvent({ result: ev.topic });
  }
}

// @ts-expect-error -- JokeEvent is not in emits
step({ accepts: StartEvent, emits: Loop }, () => new JokeEvent({ joke: "" }));
// @ts-expect-error -- a string is not an event
step({ accepts: StartEvent, emits: StopEvent }, () => "done");
// @ts-expect-error -- accepts is required
step({ emits: StopEvent }, () => new StopEvent());
// @ts-expect-error -- the handler's event does not match accepts
step({ accepts: JokeEvent, emits: StopEvent }, (ev: Loop) => new StopEvent({ result: ev.n }));
// @ts-expect-error -- a workflow made of functions needs a name
createWorkflow({ steps: { generate } });
// @ts-expect-error -- steps are made with step(options, handler), not the decorator
createWorkflow({ name: "x", steps: { generate: step({ accepts: StartEvent }) } });
