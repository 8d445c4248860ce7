// StopEvent and custom StopEvent subclasses (issue 12.2).
import { StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { assertType } from "./assert.js";

/** A custom StopEvent: the run returns the event itself, fields and all. */
export class Verdict extends StopEvent<{ result: string; confidence: number }> {}

const v = new Verdict({ result: "buy", confidence: 0.9 });
assertType<string>()(v.result);
assertType<number>()(v.confidence);
// @ts-expect-error -- confidence is required
new Verdict({ result: "buy" });
// @ts-expect-error -- event fields are read-only
v.confidence = 1;

assertType<number>()(new StopEvent({ result: 42 }).result);
assertType<undefined>()(new StopEvent().result);

export class Judge extends Workflow<{ stock: string }, Verdict> {
  @step({ accepts: StartEvent, emits: Verdict })
  async judge(ev: StartEvent<{ stock: string }>) {
    return new Verdict({ result: ev.stock, confidence: 1 });
  }
}

export async function verdict(): Promise<number> {
  const result = await new Judge().run({ stock: "AAPL" });
  assertType<Verdict>()(result);
  return result.confidence;
}

// A workflow declared to return a string whose step ends with a custom StopEvent: the run
// hands back the Verdict object, so the declared result type is wrong and should not compile.
export class Mistyped extends Workflow<{ stock: string }, string> {
  // @ts-expect-error -- the run would resolve to a Verdict, not a string
  @step({ accepts: StartEvent, emits: Verdict })
  async judge() {
    return new Verdict({ result: "sell", confidence: 0 });
  }
}
