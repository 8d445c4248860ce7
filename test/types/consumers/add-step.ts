// Steps without decorators: addStep on an instance and on a class (issue 12.4 for the StartEvent input).
import { Event, StartEvent, StopEvent, Workflow, type Context } from "stepwise-ai";
import { assertType } from "./assert.js";

class Greeting extends Event<{ text: string }> {}

export const greeter = new Workflow<{ name: string }, string>({ timeout: 5 })
  .addStep({ accepts: StartEvent, emits: Greeting, name: "greet" }, async (ev) => {
    // The run's input type reaches the StartEvent of an instance's addStep.
    assertType<string>()(ev.name);
    return new Greeting({ text: `hi ${String(ev.name)}` });
  })
  .addStep({ accepts: Greeting, emits: StopEvent, numWorkers: 2, retry: { maxAttempts: 3, delay: 0.1, backoff: 2 }, timeout: 1 }, async (ev, ctx) => {
    assertType<Greeting>()(ev);
    assertType<Context>()(ctx);
    return new StopEvent({ result: ev.text });
  });

export async function greet(): Promise<string> {
  const result = await greeter.run({ name: "Ada" });
  assertType<string>()(result);
  // @ts-expect-error -- the input is checked against the declared input type
  void greeter.run({ nam: "Ada" });
  return result;
}

export class Team extends Workflow {}
Team.addStep({ accepts: StartEvent, emits: StopEvent }, async function hello(ev) {
  return new StopEvent({ result: ev });
});

// A handler may narrow a StartEvent's fields.
new Workflow().addStep({ accepts: StartEvent, emits: StopEvent }, async (ev: StartEvent<{ id: number }>) => new StopEvent({ result: ev.id + 1 }));

// @ts-expect-error -- accepts is required
new Workflow().addStep({ emits: StopEvent }, async () => new StopEvent({ result: 1 }));
// @ts-expect-error -- a retry policy needs maxAttempts
new Workflow().addStep({ accepts: StartEvent, retry: { delay: 1 } }, async () => {});
