/** Reading a request body as JSON, within a size limit. */
import type { Context } from "hono";
import { ServerError } from "./errors.js";

/**
 * A request header (`name` in lower case). On @hono/node-server, read from node's own parsed
 * headers (`c.env.incoming`): a property read, where the `Headers` view runs three regular
 * expressions per lookup. Elsewhere, `c.req.header`.
 */
export function header(c: Context, name: string): string | undefined {
  const headers = (c.env as { incoming?: { headers?: Record<string, string | string[] | undefined> } } | undefined)?.incoming?.headers;
  if (headers === undefined || typeof headers !== "object") return c.req.header(name);
  const v = headers[name];
  return typeof v === "string" || v === undefined ? v : v.join(", ");
}

/** Parse the body as JSON: 413 over `max` bytes, 400 when it is not JSON or would set an object's prototype. */
export async function readJson(c: Context, max: number): Promise<unknown> {
  return bodyJSON(c, await bodyText(c, max));
}

/** A Content-Length as node's parser takes it: decimal digits only. */
const DIGITS = /^\d+$/;

/**
 * The body's text, for {@link bodyJSON}: {@link readJson} in two, for a route that awaits the text
 * itself, one promise less than awaiting `readJson` (each promise a request waits on counted
 * ~2,000 instructions). 415 and 413 are thrown at once.
 */
export function bodyText(c: Context, max: number): Promise<string> {
  const type = header(c, "content-type");
  if (type !== undefined && type !== "application/json" && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new ServerError("UNSUPPORTED_MEDIA_TYPE", `Send the body as JSON with Content-Type: application/json (got ${JSON.stringify(type)}).`);
  }
  const length = header(c, "content-length");
  if (Number(length ?? 0) > max) throw tooLarge(max);
  // A declared length within the limit: read it whole (the HTTP parser holds the body to that
  // length). On @hono/node-server `text()` is its fast path, without a web stream per request
  // or a copy of the bytes (`arrayBuffer()` copies them: 2-3 µs a request). It decodes leniently,
  // a byte that is not UTF-8 becoming U+FFFD: `bodyJSON` checks a text holding U+FFFD.
  if (length !== undefined && DIGITS.test(length)) return c.req.raw.text();
  return streamedText(c, max);
}

/** A body without a declared length: its bytes counted as they come, cut off at the limit rather than buffered whole. */
async function streamedText(c: Context, max: number): Promise<string> {
  const body = c.req.raw.body;
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    bytes.set(ch, at);
    at += ch.byteLength;
  }
  return decode(bytes);
}

/**
 * The JSON of a body read by {@link bodyText} (`{}` when empty). A body read leniently (its length
 * declared) that holds U+FFFD is refused when its UTF-8 length is not the declared one: only such
 * a text can hide a byte that was not UTF-8. (Every invalid sequence turns into a U+FFFD longer
 * than itself but one, a 4-byte sequence cut after 3 bytes: a body of only such cuts passes.)
 */
export function bodyJSON(c: Context, text: string): unknown {
  // Most bodies hold neither a U+FFFD nor anything like a `__proto__` key: one scan says so, for both checks.
  const suspect = SUSPECT.test(text);
  if (suspect && text.includes("\uFFFD")) {
    const length = header(c, "content-length");
    if (length !== undefined && DIGITS.test(length)) {
      const n = new TextEncoder().encode(text).byteLength;
      // A leading BOM (3 bytes) is dropped by the decoder.
      if (n !== Number(length) && n + 3 !== Number(length)) throw notUtf8();
    }
  }
  return parse(text, !suspect);
}

/** Fails on bytes that are not UTF-8 rather than putting U+FFFD in their place (a BOM is dropped). */
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The body's text; 400 when it is not UTF-8 (e.g. Latin-1), whose characters would be lost. */
function decode(bytes: ArrayBuffer | Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw notUtf8();
  }
}

const notUtf8 = () => new ServerError("BAD_JSON", "The body is not valid UTF-8: send JSON as UTF-8 text (its other characters would be lost).");

function tooLarge(max: number): ServerError {
  return new ServerError("BODY_TOO_LARGE", `The request body is over the server's limit of ${max} bytes.`, { limit: max });
}

/** The body's JSON (`{}` when empty); 400 when it is not JSON or has a `__proto__` key (`clean`: {@link SUSPECT} found none). */
function parse(text: string, clean = false): unknown {
  if (text === "" || (text.charCodeAt(0) <= 32 && text.trim() === "")) return {};
  try {
    return parseRefusingProto(text, clean);
  } catch (err) {
    if (err instanceof ServerError) throw err;
    throw new ServerError("BAD_JSON", `The body is not valid JSON: ${err instanceof Error ? err.message : String(err)}.`);
  }
}

/**
 * `JSON.parse`, refusing a `__proto__` key at any depth (BAD_JSON), also when its name is
 * written with escapes (`"\u005f_proto__"`), and arrays and objects nested more than
 * {@link MAX_DEPTH} deep; text that is not JSON throws as `JSON.parse` does.
 */
export function parseRefusingProto(text: string, clean = false): unknown {
  if (text.length > 2 * MAX_DEPTH && nestedTooDeep(text)) {
    throw new ServerError("BAD_JSON", `The body nests arrays and objects more than ${MAX_DEPTH} deep; flatten it.`, { maxDepth: MAX_DEPTH });
  }
  // The reviver (slow) only when the text could hold the key: written as it is, or with one of its letters escaped.
  if (clean || !SUSPECT.test(text)) return JSON.parse(text) as unknown;
  return JSON.parse(text, (key, value: unknown) => {
    if (key === "__proto__") throw new ServerError("BAD_JSON", 'The body has a "__proto__" key, which is not allowed (it would set an object\'s prototype); rename it.');
    return value;
  });
}

/**
 * How deep a body's arrays and objects may nest. JSON.parse reads any depth, but what data goes
 * through next (JSON.stringify, copies, schema checks) recurses: a few thousand levels, a few
 * kilobytes of brackets, overflow the stack, and a run stored with such an input would fail every
 * later read of the store's runs.
 */
export const MAX_DEPTH = 256;

/** Whether JSON text `text` opens more than {@link MAX_DEPTH} arrays and objects inside each other (brackets in strings not counted). */
function nestedTooDeep(text: string): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, its escaped quotes too.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * What a body needs a closer look for: a U+FFFD (a byte that was not UTF-8, perhaps), or a
 * `__proto__` key, written as it is or with one of its letters (`_`, `p`, `r`, `o`, `t`) as a
 * `\u` escape. One regular expression: counted, fewer instructions than `includes` for each and a
 * second expression, for a small body and a large one alike.
 */
const SUSPECT = /\uFFFD|__proto__|\\u00(?:5f|6f|7[024])/i;
