// Human in the loop: InputRequiredEvent and HumanResponseEvent fields (issue 12.4).
import { Context, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { assertType } from "./assert.js";

const ask = new InputRequiredEvent({ prefix: "Approve?" });
assertType<string>()(ask.prefix);
const answer = new HumanResponseEvent({ response: "yes" });
assertType<string>()(answer.response);

/** Typed subclasses, the way to give the fields fixed types. */
export class AskAmount extends InputRequiredEvent<{ prefix: string; max: number }> {}
export class Amount extends HumanResponseEvent<{ response: string; amount: number }> {}

export class Approval extends Workflow<{ amount: number }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: [HumanResponseEvent, Amount] })
  async approve(ev: StartEvent<{ amount: number }>, ctx: Context) {
    const reply = await ctx.waitForEvent(HumanResponseEvent, {
      waiterEvent: new InputRequiredEvent({ prefix: `Refund ${ev.amount}?` }),
      filter: (r) => r.response !== undefined,
      timeout: 60,
    });
    const typed = await ctx.waitForEvent(Amount, { waiterEvent: new AskAmount({ prefix: "How much?", max: 10 }) });
    assertType<number>()(typed.amount);
    // requirements: field values the answer must have, typed from the event's fields.
    const exact = await ctx.waitForEvent(Amount, { requirements: { amount: ev.amount } });
    assertType<number>()(exact.amount);
    // @ts-expect-error a required value of the wrong type
    await ctx.waitForEvent(Amount, { requirements: { amount: "five" } });
    // The built-in HumanResponseEvent's conventional field (LlamaIndex's `response`) is typed;
    // an answer may carry other fields, so it is optional.
    assertType<string | undefined>()(reply.response);
    return new StopEvent({ result: String(reply.response) });
  }
}

// The caller reads the question from the stream and answers through the handler.
export async function caller(): Promise<string> {
  const handler = new Approval().run({ amount: 5 });
  for await (const ev of handler.streamEvents()) {
    if (ev instanceof InputRequiredEvent) {
      const question: string | undefined = ev.prefix;
      handler.sendEvent(new HumanResponseEvent({ response: question ? "yes" : "no" }));
    }
  }
  return handler;
}
