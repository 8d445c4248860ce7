import { describe, expect, it, vi } from "vitest";
import { HTTPException } from "hono/http-exception";
import { createServer } from "stepwise-ai/server";
import { Greeter } from "./fixtures.js";

describe("an HTTPException thrown by the user's middleware", () => {
  it("is answered with its status and message (a rate limit's 429), in the server's error shape, and not reported as unexpected", async () => {
    const onError = vi.fn();
    const app = createServer({
      workflows: { greeter: new Greeter() },
      llamaindex: true,
      onError,
      middleware: [
        async (c, next) => {
          if (c.req.header("X-Flood")) throw new HTTPException(429, { message: "Slow down: 10 requests a minute." });
          return next();
        },
      ],
    });
    const res = await app.request("/workflows", { headers: { "X-Flood": "1" } });
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: { code: "HTTP_429", message: "Slow down: 10 requests a minute.", details: null } });
    const llama = await app.request("/llamaindex/workflows", { headers: { "X-Flood": "1" } });
    expect(llama.status).toBe(429);
    expect(await llama.json()).toEqual({ detail: "Slow down: 10 requests a minute." });
    expect(onError).not.toHaveBeenCalled();
    expect((await app.request("/workflows")).status).toBe(200);
  });

  it("answers with the response it carries, headers and all", async () => {
    const app = createServer({
      workflows: { greeter: new Greeter() },
      middleware: [
        async () => {
          throw new HTTPException(401, { res: new Response("sign in first", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="sso"' } }) });
        },
      ],
    });
    const res = await app.request("/workflows");
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe('Basic realm="sso"');
    expect(await res.text()).toBe("sign in first");
  });
});

describe("errors of the server's own middleware on the LlamaIndex routes", () => {
  it("are { detail } as the protocol's errors are: a missing token (401, with its WWW-Authenticate), a request timeout (504)", async () => {
    const app = createServer({ workflows: { greeter: new Greeter() }, llamaindex: true, auth: { token: "t0k" } });
    const res = await app.request("/llamaindex/workflows");
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain("Bearer");
    expect(await res.json()).toEqual({ detail: "This server needs Authorization: Bearer <token>." });
    // The stepwise routes keep their own shape.
    expect(((await (await app.request("/workflows")).json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    const slow = createServer({ workflows: { greeter: new Greeter() }, llamaindex: true, requestTimeout: 0.01, middleware: [() => new Promise<never>(() => {})] });
    const timedOut = await slow.request("/llamaindex/workflows");
    expect(timedOut.status).toBe(504);
    expect(await timedOut.json()).toEqual({ detail: expect.stringContaining("request timeout") });
  });
});
