/**
 * Human in the loop across processes: a run asks for approval, the process exits, and a
 * second process (minutes or days later) sends the answer; the run finishes there.
 *
 *   npx tsx --conditions=stepwise-source examples/human-approval.ts ask 120     # prints a run id, exits
 *   npx tsx --conditions=stepwise-source examples/human-approval.ts answer <runId> yes
 *
 * The journal lives in .stepwise/runs.db (STEPWISE_DB overrides it). The drafting step, which
 * stands for an expensive model call, runs once; the approval step runs again up to its wait,
 * which the journaled answer ends at once.
 */
import { Context, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, step, StopEvent, suspendRun, Workflow, type Store } from "stepwise-ai";
import { SqliteStore } from "stepwise-ai/sqlite";
import { isMain } from "./shared.js";

export class RefundDrafted extends Event<{ amount: number; reason: string }> {}

export class RefundApproval extends Workflow<{ customer: string; amount: number }, string> {
  @step({ accepts: StartEvent, emits: RefundDrafted })
  async draft(ev: StartEvent<{ customer: string; amount: number }>, ctx: Context) {
    ctx.store.set("drafts", ctx.store.get<number>("drafts", 0) + 1);
    return new RefundDrafted({ amount: ev.amount, reason: `${ev.customer}'s parcel arrived damaged` });
  }

  @step({ accepts: RefundDrafted, emits: StopEvent, waitsFor: [HumanResponseEvent] })
  async approve(ev: RefundDrafted, ctx: Context) {
    const answer = await ctx.waitForEvent(HumanResponseEvent, {
      waiterEvent: new InputRequiredEvent({ prefix: `Refund ${ev.amount} EUR (${ev.reason})? yes/no` }),
    });
    const drafts = ctx.store.get<number>("drafts", 0);
    return new StopEvent({ result: answer.response === "yes" ? `Refunded ${ev.amount} EUR (drafted ${drafts}x).` : `Refund of ${ev.amount} EUR declined.` });
  }
}

/** Start a run, wait until it asks, suspend it here (it is stored as waiting), return its id and question. */
export async function ask(store: Store, customer: string, amount: number): Promise<{ runId: string; question: string }> {
  const handler = new RefundApproval({ store, timeout: null }).run({ customer, amount });
  let question = "";
  for await (const ev of handler.streamEvents()) {
    if (ev instanceof InputRequiredEvent) {
      question = String((ev as InputRequiredEvent<{ prefix: string }>).prefix);
      break;
    }
  }
  await suspendRun(handler);
  await handler.catch(() => {}); // rejects with RunSuspendedError: expected
  return { runId: handler.runId, question };
}

/** Send the answer to a stored run from any process; resolves with the run's result. */
export async function answer(store: Store, runId: string, response: string): Promise<string> {
  return new RefundApproval({ store, timeout: null }).sendEvent(runId, new HumanResponseEvent({ response }));
}

if (isMain(import.meta.url)) {
  const store = new SqliteStore(process.env.STEPWISE_DB ?? ".stepwise/runs.db");
  const [command, a, b] = process.argv.slice(2);
  if (command === "ask") {
    const { runId, question } = await ask(store, "Ada", Number(a ?? 120));
    console.log(question);
    console.log(`run ${runId} is waiting; answer with: examples/human-approval.ts answer ${runId} yes`);
  } else if (command === "answer" && a !== undefined) {
    console.log(await answer(store, a, b ?? "yes"));
  } else {
    console.error("usage: human-approval.ts ask [amount] | answer <runId> <yes|no>");
    process.exitCode = 2;
  }
  store.close();
}
