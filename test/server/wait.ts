/** Polls `get` every 5 ms until `ok` holds for its value (at most 500 times), and returns that value. */
export async function waitFor<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await get();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("condition never held");
}
