import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createClient } from "stepwise-ai/client";
import { SqliteStore } from "stepwise-ai/sqlite";

const FIXTURE = join(import.meta.dirname, "../fixtures/server/serve-sqlite.ts");
const procs: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A server process; `next()` resolves with its next stdout line as JSON. */
function server(db: string, env: Record<string, string> = {}) {
  const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", FIXTURE, db], { cwd: join(import.meta.dirname, "../.."), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  procs.push(proc);
  const lines: any[] = [];
  const waiters: (() => void)[] = [];
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    for (let i = out.indexOf("\n"); i >= 0; i = out.indexOf("\n")) {
      lines.push(JSON.parse(out.slice(0, i)));
      out = out.slice(i + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => proc.on("exit", () => r()));
  let read = 0;
  const next = async (): Promise<any> => {
    while (lines.length <= read) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited: ${err}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
    }
    return lines[read++];
  };
  return { proc, next, exited, stderr: () => err };
}

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-server-"));
  dirs.push(dir);
  return join(dir, "runs.db");
}

describe("server restarts", () => {
  it("after a SIGKILL mid-run, a new server on the same SQLite file finishes the run and serves its stream", { timeout: 60_000 }, async () => {
    const db = tempDb();
    const first = server(db, { HANG: "1" });
    const { url } = await first.next();
    const client = createClient({ baseUrl: url });
    const { runId } = await client.run("slow", { n: 7 });
    expect(await first.next()).toEqual({ hanging: runId });
    const before: string[] = [];
    for await (const m of client.stream(runId)) {
      before.push(`${m.id}:${m.type}`);
      if (before.length === 2) break;
    }
    expect(before).toEqual(["1:Progress", "2:Progress"]);
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(first.proc.signalCode).toBe("SIGKILL");

    const second = server(db);
    const started = await second.next();
    expect(started.resumed).toEqual([runId]);
    const again = createClient({ baseUrl: started.url });
    expect(await again.result(runId)).toBe(70);
    const after: string[] = [];
    const gen = again.stream(runId);
    let next = await gen.next();
    for (; !next.done; next = await gen.next()) after.push(`${next.value.id}:${next.value.type}${next.value.journal ? " (journal)" : ""}`);
    // The stream at the positions it had in the first process (the journal holds them), then the
    // StopEvent; the step run again does not write its two Progress events twice.
    expect(after).toEqual(["1:Progress", "2:Progress", "3:StopEvent"]);
    expect(next.value).toEqual({ status: "completed", result: 70 });
    second.proc.kill("SIGTERM");
    await second.exited;
    expect(second.stderr()).toBe("");
  });

  // The issue's requirement: `Last-Event-ID: N` resumes exactly after N "also after a server
  // restart and for runs that ended". It fails today because positions are those of this
  // process's live log: the events a step writes with `ctx.writeEventToStream` (and a wait's
  // `waiterEvent`, and the StopEvent as streamed) are not journaled, so a new process rebuilds the
  // log from the journal's `event` records (StartEvent, Half) and numbers it anew. It needs the
  // core to journal each streamed event with its position (see the server helper's report:
  // a `stream` journal record `{ pos, event, origin?, by?, n? }`, positions from 1 per top run,
  // a re-run invocation skipping the writes the journal holds for it, as sends do).
  it("after a SIGKILL mid-run, a new server continues the stream exactly after the last id, also once the run has ended", { timeout: 60_000 }, async () => {
    const db = tempDb();
    const first = server(db, { HANG: "1" });
    const { url } = await first.next();
    const { runId } = await createClient({ baseUrl: url }).run("slow", { n: 3 });
    expect(await first.next()).toEqual({ hanging: runId });
    const label = (m: { id: number; type: string; data: Record<string, unknown> }) => `${m.id}:${m.type}${typeof m.data.n === "number" ? m.data.n : ""}`;
    const before: string[] = [];
    for await (const m of createClient({ baseUrl: url }).stream(runId)) {
      before.push(label(m));
      if (before.length === 2) break;
    }
    expect(before).toEqual(["1:Progress1", "2:Progress2"]);
    first.proc.kill("SIGKILL");
    await first.exited;

    // The second process resumes the run: the invocation that wrote Progress 2 runs again, and
    // the stream goes on after position 2 with what comes next, nothing repeated.
    const second = server(db);
    const up = await second.next();
    expect(up.resumed).toEqual([runId]);
    const again = createClient({ baseUrl: up.url });
    const rest: string[] = [];
    const gen = again.stream(runId, { after: 2 });
    let next = await gen.next();
    for (; !next.done; next = await gen.next()) rest.push(label(next.value));
    expect(rest).toEqual(["3:StopEvent"]);
    expect(next.value).toEqual({ status: "completed", result: 30 });
    second.proc.kill("SIGKILL");
    await second.exited;

    // A third process, the run long ended: the same positions, from the start and after 1.
    const third = server(db);
    const last = createClient({ baseUrl: (await third.next()).url });
    const all: string[] = [];
    for await (const m of last.stream(runId)) all.push(label(m));
    expect(all).toEqual(["1:Progress1", "2:Progress2", "3:StopEvent"]);
    const after1: string[] = [];
    for await (const m of last.stream(runId, { after: 1 })) after1.push(label(m));
    expect(after1).toEqual(["2:Progress2", "3:StopEvent"]);
    third.proc.kill("SIGTERM");
    await third.exited;
  });

  it("on SIGTERM stops, suspends the run in flight to the store, and the next server resumes it", { timeout: 60_000 }, async () => {
    const db = tempDb();
    const first = server(db, { HANG: "1" });
    const { url } = await first.next();
    const { runId } = await createClient({ baseUrl: url }).run("slow", { n: 2 });
    expect(await first.next()).toEqual({ hanging: runId });
    first.proc.kill("SIGTERM");
    await first.exited;
    expect(first.proc.exitCode).toBe(0);
    const store = new SqliteStore(db);
    const stored = store.getRun(runId);
    expect(stored?.status).toBe("running");
    expect(stored?.lease).toBeUndefined();
    store.close();
    const second = server(db);
    const started = await second.next();
    expect(started.resumed).toEqual([runId]);
    expect(await createClient({ baseUrl: started.url }).result(runId)).toBe(20);
    second.proc.kill("SIGTERM");
    await second.exited;
  });
});
