/** Workflows the server tests serve. */
import { z } from "zod";
import { Context, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent, Workflow, step } from "stepwise-ai";

export class Greet extends StartEvent.schema(z.object({ name: z.string().min(1), times: z.number().int().nonnegative().optional() })) {}
export class Progress extends Event<{ n: number }> {}

/** Streams `times` progress events, then greets. */
export class Greeter extends Workflow<{ name: string; times?: number }, string> {
  @step({ accepts: Greet, emits: StopEvent })
  async greet(ev: Greet, ctx: Context) {
    for (let n = 1; n <= (ev.times ?? 0); n++) ctx.writeEventToStream(new Progress({ n }));
    return new StopEvent({ result: `hello ${ev.name}` });
  }
}

export class Answer extends HumanResponseEvent<{ response: string }> {}
export class Question extends InputRequiredEvent<{ prompt: string }> {}

/** Asks a person, then answers with what they said. */
export class Asker extends Workflow<{ topic?: string }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async ask(ev: StartEvent<{ topic?: string }>, ctx: Context) {
    ctx.writeEventToStream(new Progress({ n: 1 }));
    const answer = await ctx.waitForEvent(Answer, { waiterEvent: new Question({ prompt: `What about ${ev.topic ?? "it"}?` }) });
    return new StopEvent({ result: `you said ${answer.response}` });
  }
}

/** Fails at once. */
export class Broken extends Workflow {
  @step({ accepts: StartEvent, emits: StopEvent })
  async boom(): Promise<StopEvent> {
    throw new Error("boom");
  }
}

/** A child that streams; its parent runs it. */
export class Child extends Workflow<{ k: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent })
  async work(ev: StartEvent<{ k: number }>, ctx: Context) {
    ctx.writeEventToStream(new Progress({ n: ev.k }));
    return new StopEvent({ result: ev.k * 2 });
  }
}

export class Parent extends Workflow<{ k: number }, number> {
  @step({ accepts: StartEvent, emits: StopEvent, calls: Child })
  async delegate(ev: StartEvent<{ k: number }>, ctx: Context) {
    const r: number = await ctx.runWorkflow(Child, { k: ev.k });
    return new StopEvent({ result: r + 1 });
  }
}

/** Streams 1..half, asks, then streams half+1..2*half. */
export class Stepper extends Workflow<{ half: number }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async go(ev: StartEvent<{ half: number }>, ctx: Context) {
    for (let n = 1; n <= ev.half; n++) ctx.writeEventToStream(new Progress({ n }));
    const a = await ctx.waitForEvent(Answer, { waiterEvent: new Question({ prompt: "go on?" }) });
    for (let n = ev.half + 1; n <= 2 * ev.half; n++) ctx.writeEventToStream(new Progress({ n }));
    return new StopEvent({ result: a.response });
  }
}

export class Done extends StopEvent<{ result?: undefined; total: number }> {}

/** Ends with a StopEvent subclass (the run's result is the event itself). */
export class Sub extends Workflow {
  @step({ accepts: StartEvent, emits: Done })
  async go() {
    return new Done({ total: 7 });
  }
}
