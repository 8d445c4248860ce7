import { describe, expect, it, vi } from "vitest";
import { randomId } from "../../src/core/ids.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("randomId", () => {
  it("gives UUIDs v4, all different, over many pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = randomId();
      expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(20_000);
  });

  it("uses every hex digit in every random position", () => {
    // 122 random bits: each free position takes each of its values across a few thousand ids.
    const ids = Array.from({ length: 4000 }, randomId);
    for (let p = 0; p < 36; p++) {
      if ([8, 13, 18, 23, 14].includes(p)) continue;
      const values = new Set(ids.map((id) => id[p]));
      expect(values.size, `position ${p}`).toBe(p === 19 ? 4 : 16);
    }
  });

  it("takes its bytes from crypto.getRandomValues, not from a counter", () => {
    const spy = vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
      new Uint8Array((a as ArrayBufferView).buffer).fill(0xab);
      return a;
    });
    try {
      // Drain the pool so the next id refills it from the (mocked) source.
      let id = randomId();
      for (let i = 0; i < 256 && id !== "abababab-abab-4bab-abab-abababababab"; i++) id = randomId();
      expect(id).toBe("abababab-abab-4bab-abab-abababababab");
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    // The rest of that pool is the mocked bytes; the next refill is random again.
    let rest = 0;
    while (randomId() === "abababab-abab-4bab-abab-abababababab") rest++;
    expect(rest).toBeLessThan(256);
    const after = Array.from({ length: 300 }, randomId);
    expect(new Set(after).size).toBe(300);
  });
});
