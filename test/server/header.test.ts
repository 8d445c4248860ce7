import { describe, expect, it, vi } from "vitest";
import type { Context } from "hono";
import { header } from "../../src/server/body.js";

/** A context as far as `header` reads it. */
const context = (env: unknown, fromHono: (name: string) => string | undefined) => {
  const asked = vi.fn(fromHono);
  return { c: { env, req: { header: asked } } as unknown as Context, asked };
};

describe("header (internal)", () => {
  it("reads node's parsed headers when @hono/node-server passes them, without the Headers view", () => {
    const { c, asked } = context({ incoming: { headers: { "content-type": "application/json", "x-list": ["a", "b"] } } }, () => "from hono");
    expect(header(c, "content-type")).toBe("application/json");
    expect(header(c, "x-list")).toBe("a, b");
    expect(header(c, "traceparent")).toBeUndefined();
    expect(asked).not.toHaveBeenCalled();
  });

  it("asks Hono elsewhere (Bun, Deno, app.request)", () => {
    for (const env of [undefined, {}, { incoming: {} }]) {
      const { c, asked } = context(env, (name) => `hono:${name}`);
      expect(header(c, "content-type")).toBe("hono:content-type");
      expect(asked).toHaveBeenCalledOnce();
    }
  });
});
