/**
 * Shared pieces of the ports of LlamaIndex Workflows' test suite (run-llama/workflows-py,
 * `tests/`). Each test names the upstream test it comes from; a behaviour stepwise does not
 * have yet is an `it.fails` whose title carries its item of issue 12.
 */
import { Event, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";

/** tests/conftest.py: OneTestEvent, AnotherTestEvent, LastEvent. */
export class OneTestEvent extends Event<{ test_param?: string }> {}
export class AnotherTestEvent extends Event<{ another_test_param?: string }> {}
export class LastEvent extends Event {}

/** tests/conftest.py: DummyWorkflow, start → middle → end, "Workflow completed". */
export class DummyWorkflow extends Workflow<Record<string, never>, string> {
  @step({ accepts: StartEvent, emits: OneTestEvent })
  async start_step() {
    return new OneTestEvent({});
  }

  @step({ accepts: OneTestEvent, emits: LastEvent })
  async middle_step() {
    return new LastEvent();
  }

  @step({ accepts: LastEvent, emits: StopEvent })
  async end_step() {
    return new StopEvent({ result: "Workflow completed" });
  }
}

/** A promise with its resolve function, to hold steps open without timers. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Let queued promise callbacks and one macrotask run. */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
