/** Reading a request body as JSON, within a size limit. */
import type { Context } from "hono";
import { ServerError } from "./errors.js";

/** Parse the body as JSON: 413 over `max` bytes, 400 when it is not JSON or would set an object's prototype. */
export async function readJson(c: Context, max: number): Promise<unknown> {
  const type = c.req.header("Content-Type");
  if (type !== undefined && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new ServerError("UNSUPPORTED_MEDIA_TYPE", `Send the body as JSON with Content-Type: application/json (got ${JSON.stringify(type)}).`);
  }
  const tooLarge = () => new ServerError("BODY_TOO_LARGE", `The request body is over the server's limit of ${max} bytes.`, { limit: max });
  if (Number(c.req.header("Content-Length") ?? 0) > max) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return {};
  // Count bytes as they come: a body without Content-Length is cut off at the limit, not buffered whole.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    bytes.set(ch, at);
    at += ch.byteLength;
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === "__proto__") throw new ServerError("BAD_JSON", 'The body has a "__proto__" key, which is not allowed (it would set an object\'s prototype); rename it.');
      return value;
    });
  } catch (err) {
    if (err instanceof ServerError) throw err;
    throw new ServerError("BAD_JSON", `The body is not valid JSON: ${err instanceof Error ? err.message : String(err)}.`);
  }
}
