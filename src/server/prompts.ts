/**
 * Which pending prompts (InputRequiredEvents a run streamed, `GET /runs/:id` `inputRequired`) an
 * event sent into the run answers. The server sees the prompts and the events sent, not the waits
 * behind them, so it applies the engine's own matching to what it sees:
 *
 * - The event is an answer: a `HumanResponseEvent` (LlamaIndex's pair for an InputRequiredEvent, the
 *   type a step `accepts` or `waitForEvent`s), or of a type a step of the workflow waits for
 *   (`waitsFor`: a `ctx.waitForEvent` takes an event that is an instance of its type). Any other
 *   event (one a step merely accepts, or that nobody takes) answers no prompt.
 * - It agrees with the prompt on every field both carry (besides InputRequiredEvent's `prefix` and
 *   HumanResponseEvent's `response`, the question and the answer): a wait's `requirements` pick its
 *   answer by field values, and a prompt names what it asks about by carrying them
 *   (`waiterEvent: new Ask({ prefix, who })` with `requirements: { who }`). A prompt that shares
 *   no field with the answer is answered by it, as a wait without requirements takes any event of
 *   its type (the engine ends every wait an event matches).
 *
 * So a prompt should carry the fields its wait requires: the server cannot see requirements that
 * the prompt does not show, and then clears every prompt an answer of that type could be for.
 */
import { HumanResponseEvent, describeWorkflow, type Event, type EventClass, type JournalEntry, type Workflow } from "../index.js";
import type { LogEntry } from "./log.js";

/** Each workflow's `waitsFor` types (fixed once it is served). */
const waited = new WeakMap<Workflow, readonly EventClass[]>();

function waitsFor(wf: Workflow): readonly EventClass[] {
  let types = waited.get(wf);
  if (types === undefined) {
    const seen = new Set<EventClass>();
    for (const s of describeWorkflow(wf).steps) for (const c of s.waitsFor) seen.add(c);
    waited.set(wf, (types = [...seen]));
  }
  return types;
}

/** Fields that are the question and the answer themselves, not what they are about. */
const OWN = new Set(["prefix", "response"]);

/** Whether `ev` (sent into a run of `wf`) answers `prompt`, by the rule above. */
export function answers(wf: Workflow, ev: Event, prompt: LogEntry): boolean {
  if (!(ev instanceof HumanResponseEvent) && !waitsFor(wf).some((t) => ev instanceof t)) return false;
  const data = ev.toJSON().data;
  for (const key of Object.keys(prompt.data)) {
    if (OWN.has(key) || !Object.hasOwn(data, key)) continue;
    if (JSON.stringify(prompt.data[key]) !== JSON.stringify(data[key])) return false;
  }
  return true;
}

/** `prompts` less those `ev` answers (the same array when it answers none). */
export function unanswered(wf: Workflow, ev: Event, prompts: LogEntry[]): LogEntry[] {
  if (prompts.length === 0) return prompts;
  const left = prompts.filter((p) => !answers(wf, ev, p));
  return left.length === prompts.length ? prompts : left;
}

/**
 * The prompts of a stored run nobody holds here that are still unanswered: from its journal, in
 * order, the prompts it streamed (`log`: its journal log, entry `id` = stream position, those it
 * marks `inputRequired`) less those each event sent from outside answered, by {@link answers}.
 */
export function pendingInJournal(wf: Workflow, journal: readonly JournalEntry[], log: readonly LogEntry[]): LogEntry[] {
  let prompts: LogEntry[] = [];
  for (const j of journal) {
    if (j.kind === "stream") {
      const entry = log[j.pos - 1];
      if (entry?.id === j.pos && entry.inputRequired === true) prompts.push(entry);
    } else if (j.kind === "event" && j.from === undefined && j.by === undefined && j.seq > 0 && prompts.length > 0) {
      // An event from outside (not the input, not a step's output or send).
      let ev: Event;
      try {
        ev = wf.reviveEvent(j.event);
      } catch {
        continue; // its class is gone from the workflow: it answers nothing we can tell
      }
      prompts = unanswered(wf, ev, prompts);
    }
  }
  return prompts;
}
