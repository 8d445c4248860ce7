/** jsonText: the server's JSON of inputs and results, written by hand for small plain values, is JSON.stringify's text exactly. */
import { afterEach, describe, expect, it } from "vitest";
import { jsonText } from "../../src/server/json.js";

const same = (v: unknown) => expect(jsonText(v)).toBe(JSON.stringify(v));

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
}

describe("jsonText", () => {
  it.each<[string, unknown]>([
    ["an event's JSON", { type: "StartEvent", data: { n: 1 } }],
    ["numbers", [0, -0, 1, -1, 1.5, 1e21, 1e-7, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity]],
    ["scalars", [true, false, null, "", "plain text ~!", undefined]],
    ["strings JSON escapes", ['a "quote"', "back\\slash", "line\nbreak", "tab\t", "\u0000", "del\u007f", "é", "😀", "\ud800", "\u2028"]],
    ["a long string", "x".repeat(300)],
    ["members JSON leaves out", { a: undefined, b: () => 1, c: Symbol("s"), d: 1 }],
    ["array members JSON writes null for", [undefined, () => 1, Symbol("s"), null, 1]],
    ["holes", [1, , 3]], // eslint-disable-line no-sparse-arrays
    ["keys JSON escapes", { 'q"uote': 1, "new\nline": 2, é: 3 }],
    ["integer-like keys (written first, in order)", { b: 1, 2: "two", a: 3, 1: "one" }],
    ["an own __proto__ key (as JSON.parse makes it)", JSON.parse('{"__proto__": {"x": 1}, "y": 2}')],
    ["a constructor key", { constructor: "Object", toString: 1 }],
    ["a prototype-less object", Object.assign(Object.create(null) as object, { a: 1, b: [true] })],
    ["nesting past the hand-written depth", { a: { b: { c: { d: { e: 1 } } } } }],
    ["more members than the hand-written size", Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))],
    ["a long array", Array.from({ length: 40 }, (_, i) => i)],
    ["a Date (toJSON)", { at: new Date(0) }],
    ["an own toJSON", { toJSON: () => "mine", x: 1 }],
    ["a class instance", new Point(1, 2)],
    ["a Map and a Set", { m: new Map([[1, 2]]), s: new Set([1]) }],
    ["boxed primitives", [new Number(3), new String("s"), new Boolean(false)]],
    ["a getter", Object.defineProperty({ a: 1 }, "g", { get: () => 7, enumerable: true })],
    ["a non-enumerable member", Object.defineProperty({ a: 1 }, "h", { value: 7, enumerable: false })],
    ["an array with an extra property", Object.assign([1, 2], { extra: 3 })],
    ["typed arrays and buffers", { t: new Uint8Array([1, 2]), b: Buffer.from("hi") }],
    ["a result of many kinds", { ok: true, items: [{ id: "a", n: 1 }, { id: "b", n: null }], note: "done" }],
  ])("%s", (_, v) => same(v));

  it("writes a small plain object itself (JSON.stringify never asks for an object's prototype)", () => {
    let asked = 0;
    const data = new Proxy({ n: 1, s: "x" }, { getPrototypeOf: (t) => (asked++, Object.getPrototypeOf(t)) });
    same({ type: "StartEvent", data });
    expect(asked).toBeGreaterThan(0);
    asked = 0;
    JSON.stringify(data);
    expect(asked).toBe(0);
  });

  it("throws as JSON.stringify does on a BigInt and on a cycle", () => {
    expect(() => jsonText({ n: 1n })).toThrow(TypeError);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => jsonText(cyclic)).toThrow(TypeError);
    expect(() => jsonText([[[[cyclic]]]])).toThrow(TypeError);
  });

  describe("with a key made enumerable on Object.prototype", () => {
    afterEach(() => {
      delete (Object.prototype as Record<string, unknown>).polluted;
      delete (Object.prototype as Record<string, unknown>).toJSON;
    });
    it("leaves the inherited key out, as JSON.stringify does", () => {
      (Object.prototype as Record<string, unknown>).polluted = "x";
      same({ a: 1 });
      same({ type: "T", data: { n: 1 } });
    });
    it("calls an inherited toJSON, as JSON.stringify does", () => {
      Object.defineProperty(Object.prototype, "toJSON", { value: () => "replaced", configurable: true, writable: true });
      same({ a: 1 });
    });
  });

  it("writes random small values as JSON.stringify does", () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const chars = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\u0001', 'é', '\u007f', '~', '😀'];
    const str = () => Array.from({ length: Math.floor(rand() * 6) }, () => chars[Math.floor(rand() * chars.length)]).join("");
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.3) return [() => rand() * 1e6 - 5e5, () => Math.floor(rand() * 100), str, () => rand() < 0.5, () => null, () => undefined, () => NaN][Math.floor(rand() * 7)]!();
      // Sizes on both sides of the hand-written limit (16 members).
      const size = rand() < 0.9 ? Math.floor(rand() * 5) : 15 + Math.floor(rand() * 4);
      if (r < 0.65) return Array.from({ length: size }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: size }, () => [str(), value(depth + 1)]));
    };
    for (let i = 0; i < 3000; i++) same(value(0));
  });
});
