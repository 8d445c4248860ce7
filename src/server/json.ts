/**
 * A run's JSON as the API answers it, built field by field rather than by `JSON.stringify` of
 * the whole object: the same text (as `JSON.parse` reads it), at about half the cost for the
 * answer every `?wait` run gets.
 */
import type { Entry, RunInfo } from "./entry.js";

const str = JSON.stringify;

const betweens = new Map<string, Map<string, string>>();

/** `,"workflow":<name>,"status":<status>,"createdAt":` for a workflow's name and a status: made once each. */
function between(name: string, status: string): string {
  let byStatus = betweens.get(name);
  if (byStatus === undefined) {
    byStatus = new Map();
    if (betweens.size < 256) betweens.set(name, byStatus);
  }
  let t = byStatus.get(status);
  if (t === undefined) byStatus.set(status, (t = `,"workflow":${str(name)},"status":${str(status)},"createdAt":`));
  return t;
}

/** How many members a small object or array has at most, how deep small ones nest, and how long a short string is. */
const SMALL = 16;
const DEPTH = 3;
const SHORT = 256;

/** Object keys' JSON (`"key":`), or `null` for a key JSON escapes: keys repeat (the same few per event type). At most 1,024. */
const keyTexts = new Map<string, string | null>();

function keyText(k: string): string | null {
  let t = keyTexts.get(k);
  if (t === undefined) {
    t = plain(k) ? `"${k}":` : null;
    if (keyTexts.size < 1024) keyTexts.set(k, t);
  }
  return t;
}

/** Whether `s` is short and JSON writes it as it is between quotes (printable ASCII, no `"` or `\`). */
function plain(s: string): boolean {
  if (s.length > SHORT) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/**
 * `JSON.stringify(v)`. Written here when `v` is small and plain, as most runs' inputs and results
 * are: a number, boolean, null or short plain string, or an object or array of at most
 * {@link SMALL} such members (nested at most {@link DEPTH} deep) whose prototype is Object's,
 * Array's or null and which has no `toJSON`. JSON.stringify counted ~4,300 instructions for an
 * input as small as `{ type: "StartEvent", data: { n: 1 } }` (BENCHMARKS.md, the thirteenth
 * session). Anything else goes to JSON.stringify, which reads an object's getters once more.
 */
export function jsonText(v: unknown): string | undefined {
  return smallJSON(v, DEPTH) ?? str(v);
}

/** `v`'s JSON when it is small (see {@link jsonText}); else `undefined`. */
function smallJSON(v: unknown, depth: number): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "string") return plain(v) ? `"${v}"` : undefined;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v !== "object" || depth === 0) return undefined;
  if (v === null) return "null";
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return undefined;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Array.prototype) {
    const a = v as unknown[];
    if (a.length > SMALL) return undefined;
    let s = "[";
    for (let i = 0; i < a.length; i++) {
      const m = a[i];
      // JSON.stringify writes null for what it leaves out of an object.
      const t = m === undefined || typeof m === "function" || typeof m === "symbol" ? "null" : smallJSON(m, depth - 1);
      if (t === undefined) return undefined;
      s = i === 0 ? `${s}${t}` : `${s},${t}`;
    }
    return `${s}]`;
  }
  // Another prototype may be a boxed primitive's (JSON.stringify unboxes those) or hold a toJSON.
  if (proto !== Object.prototype && proto !== null) return undefined;
  let s = "{";
  let n = 0;
  for (const k in v) {
    // A key inherited from Object.prototype (someone made one enumerable there) is not written.
    if (++n > SMALL || !Object.hasOwn(v, k)) return undefined;
    const m = (v as Record<string, unknown>)[k];
    if (m === undefined || typeof m === "function" || typeof m === "symbol") continue;
    const key = keyText(k);
    const t = key === null ? undefined : smallJSON(m, depth - 1);
    if (t === undefined) return undefined;
    s = s.length === 1 ? `${s}${key}${t}` : `${s},${key}${t}`;
  }
  return `${s}}`;
}

/** The JSON text of a run id: quoted as it is when it holds nothing JSON escapes (a UUID), else by JSON.stringify. */
function idText(id: string): string {
  return plain(id) ? `"${id}"` : str(id);
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
  if (info.input !== undefined) s += `,"input":${jsonText(info.input)}`;
  if (info.result !== undefined) {
    // A result JSON has no text for (a function, a symbol) is left out, as JSON.stringify does.
    const result = jsonText(info.result);
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
  let s = `{"runId":${uuid ? `"${e.runId}"` : idText(e.runId)}${between(e.served.name, e.status)}${num(e.createdAt)},"updatedAt":${num(e.updatedAt)}`;
  if (e.input) s += `,"input":${jsonText(e.input)}`;
  if (e.hasResult && e.result !== undefined) {
    const result = jsonText(e.result);
    if (result !== undefined) s += `,"result":${result}`;
  }
  if (e.error) s += `,"error":${str(e.error)}`;
  if (e.parentRunId !== undefined) s += `,"parentRunId":${str(e.parentRunId)}`;
  s += `,"children":${e.children === undefined || e.children.size === 0 ? "[]" : str([...e.children.keys()])}`;
  // An ended run waits for nothing and asks nothing (its prompts go at its end).
  return `${s},"waitingFor":[],"inputRequired":[],"live":false}`;
}
