/** The seed article's first workflow: two steps joined by one event. */
import { StartEvent, StopEvent, Workflow, step } from "stepwise-ai";
import { SecondStepEvent, isMain } from "./shared.js";

export class SimpleWorkflow extends Workflow<{ payload: string }, string> {
  @step({ accepts: StartEvent, emits: SecondStepEvent })
  async start(ev: StartEvent<{ payload: string }>) {
    return new SecondStepEvent({ payload: ev.payload });
  }

  @step({ accepts: SecondStepEvent, emits: StopEvent })
  async secondStep(ev: SecondStepEvent) {
    return new StopEvent({ result: ev.payload });
  }
}

if (isMain(import.meta.url)) {
  const wf = new SimpleWorkflow({ timeout: 10, verbose: true });
  console.log(await wf.run({ payload: "hello world" }));
}
