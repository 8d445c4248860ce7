/**
 * A random UUID (v4). `crypto.randomUUID` exists in Node 20+, Deno, Bun, workers and in
 * browsers on secure (https, localhost) pages; elsewhere the same format is built from
 * `crypto.getRandomValues`, which every one of them has.
 */
export function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
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
