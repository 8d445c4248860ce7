/**
 * A worker that dies or is paused (SIGSTOP past its lock) while its step waits on the
 * coordinator: BullMQ runs the step again on another worker. The run must take the step's
 * writes and requests once: the re-run's copies of what the first execution already sent are
 * not applied again, and its wait joins the first one's instead of waiting for a second answer.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { InputRequiredEvent, MemoryStore, type Event, type JournalEntry } from "stepwise-ai";
import { BullMQRuntime } from "stepwise-ai/bullmq";
import { Answer, Asker } from "./fixtures/asker.js";
import { dropPrefix, forkWorker, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers.js";

const available = await redisAvailable();
const script = fileURLToPath(new URL("./fixtures/asker-worker.ts", import.meta.url));
const LOCK = { lockDuration: 1000, stalledInterval: 500, maxStalledCount: 5 };

describe.skipIf(!available)("a step's worker lost while the step waits on the coordinator", () => {
  let prefix = "";
  const children = new Set<ChildProcess>();
  let runtime: BullMQRuntime | undefined;
  let redis: Redis | undefined;
  const listeners: Redis[] = [];
  afterEach(async () => {
    for (const l of listeners.splice(0)) l.disconnect();
    await runtime?.close();
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGCONT");
        c.kill("SIGKILL");
      }
    }
    children.clear();
    redis?.disconnect();
    await dropPrefix(prefix);
  });

  const startWorker = (): Promise<ChildProcess> => forkWorker(script, [JSON.stringify(LOCK)], prefix, (c) => children.add(c));
  const until = async (what: string, check: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 1500; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`gave up waiting for ${what}`);
  };
  const starts = async () => (await redis?.lrange(`${prefix}:test:starts`, 0, -1))?.map(Number) ?? [];

  for (const how of ["SIGKILL", "SIGSTOP"] as const) {
    it(`${how} of the worker mid-wait: the step re-run on another worker joins the wait; one answer ends the run, each write streamed once`, async () => {
      prefix = uniquePrefix();
      redis = new Redis(REDIS_URL);
      const first = await startWorker();
      runtime = new BullMQRuntime({ connection: REDIS_URL, prefix });
      const store = new MemoryStore();
      const handler = new Asker({ runtime, store }).run({});
      const streamed: string[] = [];
      const reading = (async () => {
        for await (const ev of handler.streamEvents()) streamed.push(label(ev));
      })().catch(() => {});
      // Requests to the coordinator, as the workers publish them.
      const waits: string[] = [];
      const listener = new Redis(REDIS_URL);
      listeners.push(listener);
      listener.on("pmessage", (_p: string, _c: string, text: string) => {
        const m = JSON.parse(text) as { kind?: string; from?: string; args?: [unknown, { kind?: string }] };
        if (m.kind === "req" && m.args?.[1].kind === "wait") waits.push(m.from ?? "");
      });
      await listener.psubscribe(`${prefix}:stepwise:inbox:*`);
      await until("the first question", () => streamed.length === 2 && waits.length === 1);
      expect((await starts())[0]).toBe(first.pid);
      const second = await startWorker();
      first.kill(how);
      await until("the step to start again on the second worker", async () => (await starts()).length === 2);
      expect((await starts())[1]).toBe(second.pid);
      await until("the re-run's wait", () => waits.length === 2);
      // The paused worker wakes past its lock: its step goes on beside the re-run.
      if (how === "SIGSTOP") first.kill("SIGCONT");
      handler.sendEvent(new Answer({ ok: "yes" }));
      const result = await Promise.race([handler, new Promise((r) => setTimeout(() => r("hung"), 15_000))]);
      expect(result).toBe("answered yes");
      if (how === "SIGSTOP") {
        // Both executions got the answer and ended; only one outcome was taken.
        await until("both executions to end", async () => (await redis?.llen(`${prefix}:test:ends`)) === 2);
      }
      await reading;
      expect(streamed).toEqual(["Note before", "InputRequiredEvent", "Note after yes", "StopEvent"]);
      // The event sent before the wait entered the run once.
      const journal = store.getJournal(handler.runId) as JournalEntry[];
      expect(journal.filter((e) => e.kind === "event" && e.event.type === "Asked")).toHaveLength(1);
      // One wait, answered once; each stream write journaled once ("before", the question, "after").
      expect(journal.filter((e) => e.kind === "waiting" || e.kind === "received").map((e) => e.kind)).toEqual(["waiting", "received"]);
      expect(journal.filter((e) => e.kind === "stream")).toHaveLength(3);
    }, 60_000);
  }
});

/** An event as the test compares it: its type, and its text if it has one. */
function label(ev: Event): string {
  if (ev instanceof InputRequiredEvent) return "InputRequiredEvent";
  const j = ev.toJSON();
  const text = (j.data as { text?: string }).text;
  return text === undefined ? j.type : `${j.type} ${text}`;
}
