/**
 * A run's JSON as the API answers it, built field by field rather than by `JSON.stringify` of
 * the whole object: the same text (as `JSON.parse` reads it), at about half the cost for the
 * answer every `?wait` run gets.
 */
import type { Entry, RunInfo } from "./entry.js";

const str = JSON.stringify;

const texts = new Map<string, string>();

/** The JSON text of a string from a small set (workflow names, statuses): made once each. */
function quoted(v: string): string {
  let t = texts.get(v);
  if (t === undefined) {
    t = str(v);
    if (texts.size < 256) texts.set(v, t);
  }
  return t;
}

/** Printable ASCII but `"` and `\`: what JSON writes as it is. */
const PLAIN_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * The JSON text of a run id: quoted as it is when it holds nothing JSON escapes (a UUID), else by
 * JSON.stringify. Checked by a regular expression: a loop of `charCodeAt` counted 1,347
 * instructions per UUID.
 */
function idText(id: string): string {
  return PLAIN_TEXT.test(id) ? `"${id}"` : str(id);
}

let lastNum = NaN;
let lastNumText = "null";

/**
 * A number as JSON writes it (`null` when not finite). The last one is kept: a run's times, and
 * those of runs answered in the same millisecond, are the same number written again.
 */
function num(n: number): string {
  if (n === lastNum) return lastNumText;
  lastNumText = Number.isSafeInteger(n) && n >= 1e6 ? wholeText(n) : Number.isFinite(n) ? String(n) : "null";
  lastNum = n;
  return lastNumText;
}

/**
 * A whole number ≥ 1e6 (a time in ms) in decimal: as two small integers, whose texts V8 makes
 * without the shortest-double search `String(n)` runs for a number beyond 2^30 (FastDtoa).
 */
function wholeText(n: number): string {
  const high = Math.floor(n / 1e6);
  return `${high}${String(n - high * 1e6 + 1e6).slice(1)}`;
}

/** The JSON text of `info`: what `JSON.stringify(info)` gives, with the fields in a fixed order. */
export function runInfoJSON(info: RunInfo): string {
  let s = `{"runId":${str(info.runId)},"workflow":${str(info.workflow)},"status":${str(info.status)},"createdAt":${num(info.createdAt)},"updatedAt":${num(info.updatedAt)}`;
  if (info.input !== undefined) s += `,"input":${str(info.input)}`;
  if (info.result !== undefined) {
    // A result JSON has no text for (a function, a symbol) is left out, as JSON.stringify does.
    const result = str(info.result) as string | undefined;
    if (result !== undefined) s += `,"result":${result}`;
  }
  if (info.error !== undefined) s += `,"error":${str(info.error)}`;
  if (info.parentRunId !== undefined) s += `,"parentRunId":${str(info.parentRunId)}`;
  s += `,"children":${info.children.length === 0 ? "[]" : str(info.children)}`;
  s += `,"waitingFor":${info.waitingFor.length === 0 ? "[]" : str(info.waitingFor)}`;
  s += `,"inputRequired":${info.inputRequired.length === 0 ? "[]" : str(info.inputRequired)}`;
  return `${s},"live":${info.live ? "true" : "false"}}`;
}

/** The headers of a JSON answer. */
export const JSON_HEADERS: Readonly<Record<string, string>> = { "Content-Type": "application/json" };

/**
 * The JSON text of a run that ended in this process, straight from its entry: what
 * `runInfoJSON` gives for it (`Runs.info`), without the run's info object and its lists in between.
 * `uuid`: the run's id is one the engine made (a UUID, as every run started here has), so it is
 * quoted as it is, unchecked.
 */
export function endedRunJSON(e: Entry, uuid = false): string {
  let s = `{"runId":${uuid ? `"${e.runId}"` : idText(e.runId)},"workflow":${quoted(e.served.name)},"status":${quoted(e.status)},"createdAt":${num(e.createdAt)},"updatedAt":${num(e.updatedAt)}`;
  if (e.input) s += `,"input":${str(e.input)}`;
  if (e.hasResult && e.result !== undefined) {
    const result = str(e.result) as string | undefined;
    if (result !== undefined) s += `,"result":${result}`;
  }
  if (e.error) s += `,"error":${str(e.error)}`;
  if (e.parentRunId !== undefined) s += `,"parentRunId":${str(e.parentRunId)}`;
  s += `,"children":${e.children === undefined || e.children.size === 0 ? "[]" : str([...e.children.keys()])}`;
  // An ended run waits for nothing and asks nothing (its prompts go at its end).
  return `${s},"waitingFor":[],"inputRequired":[],"live":false}`;
}
