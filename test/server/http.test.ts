import { afterEach, describe, expect, it } from "vitest";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Asker, Greeter } from "./fixtures.js";

let running: RunningServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const post = (url: string, body: unknown) => fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

describe("server over a real port", () => {
  it("starts a run, streams it and answers it over HTTP", async () => {
    running = await serve(createServer({ workflows: { greeter: new Greeter(), asker: new Asker({ timeout: null }) } }), { port: 0 });
    expect(running.port).toBeGreaterThan(0);
    const res = await post(`${running.url}/workflows/greeter/runs?wait=5`, { name: "Ada", times: 2 });
    expect(res.status).toBe(200);
    const { runId, result } = (await res.json()) as { runId: string; result: string };
    expect(result).toBe("hello Ada");
    const text = await (await fetch(`${running.url}/runs/${runId}/events`)).text();
    expect(text).toContain('id: 1\n');
    expect(text).toContain("event: end");

    const asked = (await (await post(`${running.url}/workflows/asker/runs`, {})).json()) as { runId: string };
    const nd = await fetch(`${running.url}/runs/${asked.runId}/events`, { headers: { Accept: "application/x-ndjson" } });
    expect(nd.headers.get("content-type")).toContain("application/x-ndjson");
    const reader = nd.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const lines: any[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let i;
      while ((i = buffered.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
        lines.push(line);
        if (line.type === "Question") expect((await post(`${running.url}/runs/${asked.runId}/events`, { type: "Answer", data: { response: "tea" } })).status).toBe(202);
      }
    }
    expect(lines.map((l) => `${l.kind}:${l.type ?? l.status}`)).toEqual(["event:Progress", "event:Question", "event:StopEvent", "end:completed"]);
    expect(lines.at(-1).result).toBe("you said tea");
  });
});
