// ctx.collectEvents: a typed tuple in the listed order, or null until all have arrived.
import { Event, StopEvent, Workflow, StartEvent } from "stepwise-ai";
import { assertType } from "./assert.js";

class Tweet extends Event<{ text: string }> {}
class News extends Event<{ headline: string }> {}
class Filing extends Event<{ form: "10-K" | "10-Q" }> {}

export const voter = new Workflow()
  .addStep({ accepts: StartEvent, emits: [Tweet, News, Filing] }, async () => [
    new Tweet({ text: "up" }),
    new News({ headline: "up" }),
    new Filing({ form: "10-K" }),
  ])
  .addStep({ accepts: [Tweet, News, Filing], emits: StopEvent }, async (ev, ctx) => {
    assertType<Tweet | News | Filing>()(ev);
    const all = ctx.collectEvents(ev, [Tweet, News, Filing]);
    assertType<[Tweet, News, Filing] | null>()(all);
    // @ts-expect-error -- null until every listed type has arrived
    void all[0];
    if (all === null) return;
    const [tweet, news, filing] = all;
    assertType<string>()(tweet.text);
    assertType<string>()(news.headline);
    assertType<"10-K" | "10-Q">()(filing.form);
    // @ts-expect-error -- the tuple has three members
    void all[3];
    return new StopEvent({ result: `${tweet.text} ${news.headline}` });
  })
  .addStep({ accepts: Tweet }, async (ev, ctx) => {
    // @ts-expect-error -- only event classes can be collected
    ctx.collectEvents(ev, [String]);
    // An empty list is allowed (LlamaIndex returns [] at once).
    assertType<[] | null>()(ctx.collectEvents(ev, []));
  });
