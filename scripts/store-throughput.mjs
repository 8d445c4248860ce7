// Journal throughput of the SQL stores (issue 11, item 21): a measurement, not a test.
//   node --import tsx --conditions=stepwise-source scripts/store-throughput.mjs [--pg URL] [--n 4000]
// Prints one line per figure. Runs the TypeScript sources through tsx (slower than dist/), so
// compare figures of one machine and one way of running only.
import { mkdtempSync, rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Event, MemoryStore, StartEvent, StopEvent, Workflow } from "stepwise-ai";
import { PostgresStore } from "stepwise-ai/postgres";
import { SqliteStore } from "stepwise-ai/sqlite";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const PG = opt("--pg", process.env.STEPWISE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test");
const N = Number(opt("--n", "4000"));
const only = opt("--only", "postgres,sqlite,collect").split(",");

class Loop extends Event {}

/** A chain of `n` steps: n + 1 events (the start, n - 1 loops, the stop). */
function chain(n, store, durability) {
  return new Workflow({ store, durability, timeout: null }).addStep({ accepts: [StartEvent, Loop], emits: [Loop, StopEvent] }, async function loop(ev) {
    const i = ev instanceof Loop ? ev.n : 0;
    return i + 1 < n ? new Loop({ n: i + 1 }) : new StopEvent({ result: i + 1 });
  });
}

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const line = (what, events, ms) => console.log(`${what.padEnd(52)} ${String(Math.round((events / ms) * 1000)).padStart(8)} events/s  (${events} events, ${Math.round(ms)} ms)`);

/**
 * What this PostgreSQL does at best, one round trip at a time: an autocommit one-row INSERT (one
 * fsynced commit: the floor of a "sync" step) and `SELECT 1` (a round trip alone).
 */
async function postgresFloor() {
  const c = new pg.Client(PG);
  await c.connect();
  const table = `stepwise_tp_floor_${process.pid}`;
  try {
    await c.query(`CREATE TABLE ${table} (n INT, body TEXT)`);
    const rate = async (q) => {
      const ms = await timed(async () => {
        for (let i = 0; i < N; i++) await c.query(q);
      });
      return (N / ms) * 1000;
    };
    const insert = { name: "tp_floor_insert", text: `INSERT INTO ${table} VALUES ($1, $2)`, values: [1, '[{"kind":"event"}]'] };
    await rate(insert); // warm-up
    const commits = await rate(insert);
    const trips = await rate({ name: "tp_floor_select", text: "SELECT 1" });
    console.log(`${"PostgreSQL floor: autocommit INSERT".padEnd(52)} ${String(Math.round(commits)).padStart(8)} commits/s  (SELECT 1: ${Math.round(trips)} round trips/s)`);
    return commits;
  } finally {
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.end();
  }
}

async function postgres() {
  const schema = `stepwise_tp_${process.pid}`;
  const store = new PostgresStore(PG, { schema });
  const floor = await postgresFloor();
  try {
    for (const durability of ["sync", "batched"]) {
      const n = durability === "sync" ? N : N * 10;
      await chain(50, store, durability).run(); // warm-up
      const ms = await timed(() => chain(n, store, durability).run());
      line(`PostgreSQL, one chain of ${n}, ${durability}`, n, ms);
      if (durability === "sync") console.log(`${"  against the floor".padEnd(52)} ${((n / ms) * 1000 / floor).toFixed(2).padStart(8)}×`);
    }
    // The store alone: one small commit per call, then 1,024 entries per call.
    await store.createRun({ runId: "raw", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: Date.now() });
    let seq = 0;
    const ev = () => ({ kind: "event", seq: ++seq, event: { type: "Loop", data: { n: seq } }, at: Date.now() });
    const ms1 = await timed(async () => {
      for (let i = 0; i < N; i++) await store.append("raw", [ev()]);
    });
    line("PostgreSQL store.append, 1 entry per call", N, ms1);
    const ms2 = await timed(async () => {
      for (let i = 0; i < 40; i++) await store.append("raw", Array.from({ length: 1024 }, ev));
    });
    line("PostgreSQL store.append, 1,024 entries per call", 40 * 1024, ms2);
  } finally {
    await store.close();
    const c = new pg.Client(PG);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
}

async function sqlite() {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-tp-"));
  try {
    const store = new SqliteStore(join(dir, "runs.db"));
    const short = chain(10, store, "sync");
    for (let i = 0; i < 50; i++) await short.run(); // warm-up
    const runs = 1000;
    const ms = await timed(async () => {
      for (let i = 0; i < runs; i += 50) await Promise.all(Array.from({ length: 50 }, () => short.run()));
    });
    line(`SQLite, ${runs} short runs (10 events, 50 at a time), sync`, runs * 10, ms);
    const n = N * 10;
    const msLong = await timed(() => chain(n, store, "sync").run());
    line(`SQLite, one chain of ${n}, sync`, n, msLong);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Journal bytes per event of a durable fan-out joined by collectEvents (issue 11, item 20), at two widths. */
async function collectBytes() {
  class Task extends Event {}
  class Done extends Event {}
  for (const width of [100, 1000]) {
    const store = new MemoryStore();
    const wf = new Workflow({ store, timeout: null })
      .addStep({ accepts: StartEvent, emits: Task }, async function spread() {
        return Array.from({ length: width }, (_, i) => new Task({ i }));
      })
      .addStep({ accepts: Task, emits: Done, numWorkers: Infinity }, async function work(ev) {
        return new Done({ v: ev.i });
      })
      .addStep({ accepts: Done, emits: StopEvent }, async function join(ev, ctx) {
        const all = ctx.collectEvents(ev, Array(width).fill(Done));
        return all && new StopEvent({ result: all.length });
      });
    const h = wf.run();
    await h;
    const journal = store.getJournal(h.runId);
    const bytes = journal.reduce((n, e) => n + JSON.stringify(e).length, 0);
    const collect = journal.filter((e) => e.kind === "collect").reduce((n, e) => n + JSON.stringify(e).length, 0);
    const events = journal.filter((e) => e.kind === "event").length;
    console.log(`collect fan-out width ${String(width).padEnd(5)} ${String(Math.round(bytes / events)).padStart(8)} journal bytes per event (${events} events, ${bytes} bytes, of which collect records ${collect})`);
  }
}

if (only.includes("postgres")) await postgres();
if (only.includes("sqlite")) await sqlite();
if (only.includes("collect")) await collectBytes();
