// The handler a run returns.
import { Event, StartEvent, StopEvent, Workflow, WorkflowError, WorkflowHandler, WorkflowTimeoutError, step, type InspectionEvent, type RunStatus } from "stepwise-ai";
import { assertType } from "./assert.js";

class Tick extends Event<{ n: number }> {}

export class Ticker extends Workflow<{ n: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async tick(ev: StartEvent<{ n: number }>) {
    return new StopEvent({ result: ev.n });
  }
}

export async function use(): Promise<void> {
  const handler = new Ticker({ timeout: 1, verbose: false }).run({ n: 1 });
  assertType<WorkflowHandler<number>>()(handler);
  assertType<string>()(handler.runId);
  assertType<RunStatus>()(handler.status);
  handler.inspect((e) => assertType<InspectionEvent>()(e));
  for await (const ev of handler.streamEvents()) {
    assertType<Event>()(ev);
    if (ev instanceof Tick) assertType<number>()(ev.n);
  }
  handler.sendEvent(new Tick({ n: 2 }));
  handler.cancel();
  try {
    assertType<number>()(await handler);
  } catch (err) {
    if (err instanceof WorkflowTimeoutError) assertType<string>()(err.code);
    if (err instanceof WorkflowError) assertType<string | undefined>()(err.runId);
  }
  // @ts-expect-error -- handler.sendEvent takes an event
  handler.sendEvent("tick");
}
