/**
 * Redis pub/sub keeps nothing: a step's request to its coordinator published while the
 * coordinator's subscriber is reconnecting, or the reply published while the worker's is, is
 * lost. After a reconnect each side asks for it again (requests are served once by position, so
 * that joins instead of repeating). A private `redis-server` on a free port lets the test cut one
 * subscriber connection (CLIENT KILL) without touching the machine's shared Redis.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { Event, HumanResponseEvent, StartEvent, StopEvent, Workflow, step, type Context } from "stepwise-ai";
import { BullMQRuntime, createWorker, type StepWorker } from "stepwise-ai/bullmq";
import { freePort, startRedis as startPrivateRedis } from "./helpers.js";

const binary = spawnSync("redis-server", ["--version"]).status === 0;
if (!binary) {
  if (process.env.CI === "true") throw new Error("redis-server is not installed and CI=true: the lost-message tests need it.");
  console.warn("\n!!! redis-server is not installed: SKIPPING the lost-message tests. !!!\n");
}

class Answer extends HumanResponseEvent<{ ok: string }> {}

let port = 0;
const probe = () => new Redis(port, "127.0.0.1");

class Waits extends Workflow<{ gate: boolean }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async ask(ev: StartEvent<{ gate: boolean }>, ctx: Context) {
    if (ev.gate) {
      // Asks only once the test has cut the coordinator's subscriber.
      const r = probe();
      try {
        await r.rpush("started", "1");
        while ((await r.get("go")) === null) await new Promise((res) => setTimeout(res, 5));
      } finally {
        r.disconnect();
      }
    }
    const answer = await ctx.waitForEvent(Answer);
    return new StopEvent({ result: `answered ${answer.ok}` });
  }
}

class Note extends Event<{ text: string }> {}
/** More than the 16 MB a pub/sub message may be. */
const BIG = 17 * 2 ** 20;

class Big extends Workflow<{ where: "request" | "reply" }, string> {
  @step({ accepts: StartEvent, emits: StopEvent, waitsFor: Answer })
  async ask(ev: StartEvent<{ where: "request" | "reply" }>, ctx: Context) {
    if (ev.where === "request") ctx.writeEventToStream(new Note({ text: "x".repeat(BIG) }));
    const answer = await ctx.waitForEvent(Answer);
    return new StopEvent({ result: `answered ${answer.ok.length}` });
  }
}

/** A private redis-server whose subscribers' output buffers are limited to 4 MB (32 MB by default): a bigger message costs one its connection. */
const startRedis = (dir: string) => startPrivateRedis(port, dir, ["--appendonly", "no", "--client-output-buffer-limit", "pubsub 4mb 2mb 60"]);

describe.skipIf(!binary)("a scope request or its reply lost while a subscriber reconnects", () => {
  let server: ChildProcess | undefined;
  let dir = "";
  let worker: StepWorker | undefined;
  let runtime: BullMQRuntime | undefined;
  let admin: Redis | undefined;
  afterEach(async () => {
    await runtime?.close();
    await worker?.close(true);
    admin?.disconnect();
    if (server && server.exitCode === null) server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const setup = async (slow?: "worker" | "coordinator") => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), "stepwise-lost-"));
    server = await startRedis(dir);
    admin = probe();
    // The side whose subscriber the test cuts reconnects after 400 ms: messages to it meanwhile are lost.
    const later = { host: "127.0.0.1", port, retryStrategy: () => 400 };
    const plain = { host: "127.0.0.1", port };
    worker = await createWorker({ connection: slow === "worker" ? later : plain, workflows: [new Waits(), new Big()], onWarning: () => {} });
    runtime = new BullMQRuntime({ connection: slow === "coordinator" ? later : plain });
    return { worker, runtime, admin };
  };
  /** The ids of the bus subscribers: the worker's (opened first), then the coordinator's. */
  const subscribers = async (r: Redis) => {
    const list = (await r.client("LIST")) as string;
    return list
      .split("\n")
      .filter((l) => l.includes("name=stepwise-bus-sub"))
      .map((l) => Number(/\bid=(\d+)/.exec(l)?.[1]))
      .sort((a, b) => a - b);
  };
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 1000; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`gave up waiting for ${what}`);
  };

  it("a request published while the coordinator's subscriber is down is sent again when it is back", async () => {
    const { runtime, admin } = await setup("coordinator");
    const handler = new Waits({ runtime, timeout: 15 }).run({ gate: true });
    await until("the step to start", async () => (await admin.llen("started")) === 1);
    const subs = await subscribers(admin);
    expect(subs).toHaveLength(2);
    await admin.client("KILL", "ID", String(subs[1]));
    await admin.set("go", "1");
    handler.sendEvent(new Answer({ ok: "yes" }));
    expect(await handler).toBe("answered yes");
  }, 30_000);

  it("a reply published while the worker's subscriber is down is asked for again when it is back", async () => {
    const { runtime, worker, admin } = await setup("worker");
    const listener = probe();
    const requests: string[] = [];
    listener.on("pmessage", (_p: string, _c: string, text: string) => {
      if ((JSON.parse(text) as { kind?: string }).kind === "req") requests.push(text);
    });
    await listener.psubscribe("stepwise:stepwise:inbox:*");
    try {
      const handler = new Waits({ runtime, timeout: 15 }).run({ gate: false });
      await until("the step's request", () => Promise.resolve(requests.length === 1 && worker.running === 1));
      const subs = await subscribers(admin);
      expect(subs).toHaveLength(2);
      await admin.client("KILL", "ID", String(subs[0]));
      handler.sendEvent(new Answer({ ok: "yes" }));
      expect(await handler).toBe("answered yes");
    } finally {
      listener.disconnect();
    }
  }, 30_000);

  it("a request or an answer too large for pub/sub fails the step at once, naming it; no subscriber loses its connection", async () => {
    const { runtime, admin } = await setup();
    const wf = new Big({ runtime, timeout: 20 });
    // A small answer first: it opens the coordinator's bus.
    const small = wf.run({ where: "reply" });
    small.sendEvent(new Answer({ ok: "yes" }));
    expect(await small).toBe("answered 3");
    const subs = await subscribers(admin);
    expect(subs).toHaveLength(2);

    const asking = wf.run({ where: "request" });
    const streamed: number[] = [];
    const reading = (async () => {
      for await (const e of asking.streamEvents()) if (e.toJSON().type === "Note") streamed.push((e.toJSON().data as { text: string }).text.length);
    })().catch(() => {});
    const err = await asking.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/Step "ask" of workflow "Big": its request to the run \(wait, with its writes since the last one\) cannot be sent: it is 17\.0 MB, more than the 16 MB a Redis pub\/sub message may be/);
    await reading;
    // The write that could not go with the request went with the failed attempt's outcome.
    expect(streamed).toEqual([BIG]);

    const answered = wf.run({ where: "reply" });
    answered.sendEvent(new Answer({ ok: "y".repeat(BIG) }));
    await expect(answered).rejects.toThrow(/The answer to the request \(wait\) of step job ".*" cannot be sent to its worker: it is 17\.0 MB/);
    expect(await subscribers(admin)).toEqual(subs);
  }, 60_000);
});
