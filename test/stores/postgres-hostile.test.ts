import pg from "pg";
import { describe, expect, it } from "vitest";
import { Event, StartEvent, StopEvent, Workflow } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { dropSchema, PG_URL, postgresAvailable, recordListings, uniqueSchema } from "./helpers.js";

const available = await postgresAvailable();

const input = { type: "StartEvent", data: {} };

class Go extends Event<{ n: number }> {}

/** Waits for Go, then ends with its n + 1. */
class WaitsForGo extends Workflow {
  constructor(options: ConstructorParameters<typeof Workflow>[0]) {
    super(options);
    this.addStep({ accepts: StartEvent, emits: StopEvent, waitsFor: Go }, async function wait(_: StartEvent, ctx) {
      const go = await ctx.waitForEvent(Go);
      return new StopEvent({ result: go.n + 1 });
    });
  }
}

/** Polls `cond` every 10 ms, at most `tries` times; true once it holds. */
async function until(cond: () => boolean | Promise<boolean>, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe.skipIf(!available)("PostgresStore under hostile use", () => {
  it("many stores on one shared pool add one 'error' listener to it and one synchronous_commit option, and the pool still connects", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2, options: "-c application_name=shared_pool_test" });
    try {
      let store: PostgresStore | undefined;
      for (let i = 0; i < 500; i++) store = new PostgresStore(pool, { schema, synchronousCommit: i % 2 ? "on" : "off" });
      expect(pool.listenerCount("error")).toBe(1);
      const options = (pool as unknown as { options: { options: string } }).options.options;
      expect(options.match(/synchronous_commit/g)).toHaveLength(1);
      expect(options).toContain("-c application_name=shared_pool_test");
      // The last store's choice holds.
      expect(options).toContain("-c synchronous_commit=on");
      await store?.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      expect((await pool.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit).toBe("on");
      await store?.close();
    } finally {
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("a NOTIFY on the inbox channel that deliver did not send (not JSON, another shape) is ignored: subscribers are still woken by deliveries", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      let woke = 0;
      const off = store.subscribe("r", () => woke++);
      // LISTEN is in place once a first delivery gets through.
      expect(await until(async () => woke > 0 || (await store.deliver("r", input), false))).toBe(true);
      for (const junk of ["not json", '{"a":1}', "null", "[1]", `["${schema}"]`, `["${schema}", 7]`]) {
        await other.query("SELECT pg_notify('stepwise_inbox', $1)", [junk]);
      }
      const before = woke;
      await store.deliver("r", input);
      expect(await until(() => woke > before)).toBe(true);
      off();
    } finally {
      await other.end();
      await store.close();
      await dropSchema(schema);
    }
  });

  it("a backend terminated under an inbox-claiming append or finish fails that call with StoreError, nothing written, and no error escapes the process; the next call works", async () => {
    const schema = uniqueSchema();
    const app = `stepwise_claim_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const pool = new pg.Pool({ connectionString: PG_URL, application_name: app });
    const clients: pg.PoolClient[] = [];
    pool.on("acquire", (c) => clients.push(c));
    const escaped: unknown[] = [];
    const onUncaught = (err: unknown) => escaped.push(err);
    process.on("uncaughtException", onUncaught);
    const store = new PostgresStore(pool, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      const id = await store.deliver("r", { type: "Ping", data: {} });
      const record = { kind: "event" as const, seq: 1, event: { type: "Ping", data: {} }, at: 1 };
      for (const write of [
        () => store.append("r", [record], { claim: [id] }),
        () => store.finish("r", [record], { status: "completed", result: 1 }, { claim: [id] }),
      ]) {
        // Hold the run's row so the write waits inside PostgreSQL, then cut its connection.
        await other.query("BEGIN");
        await other.query(`SELECT 1 FROM "${schema}".stepwise_runs WHERE run_id = 'r' FOR UPDATE`);
        const ended = clients.filter((c) => (c as unknown as { _ended: boolean })._ended).length;
        const pending = write().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(await until(async () => ((await other.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [app])).rowCount ?? 0) > 0)).toBe(true);
        await other.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [app]);
        expect(await pending).toMatchObject({ name: "StoreError", code: "STORE_FAILED" });
        await other.query("ROLLBACK");
        // The cut connection has seen its end (and emitted its error) by now.
        expect(await until(() => clients.filter((c) => (c as unknown as { _ended: boolean })._ended).length > ended)).toBe(true);
        expect(escaped).toEqual([]);
        expect(await store.getJournal("r")).toEqual([]);
        expect((await store.readInbox("r")).map((x) => x.id)).toEqual([id]);
        expect((await store.getRun("r"))?.status).toBe("running");
      }
      await store.finish("r", [record], { status: "completed", result: 1 }, { claim: [id] });
      expect(await store.readInbox("r")).toEqual([]);
      expect((await store.getRun("r"))?.status).toBe("completed");
    } finally {
      process.off("uncaughtException", onUncaught);
      await other.end();
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("subscribing and unsubscribing over and over leaves no handlers on the pool's connections, and a pooled connection that dies later is not released twice", async () => {
    const schema = uniqueSchema();
    const app = `stepwise_listen_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const pool = new pg.Pool({ connectionString: PG_URL, application_name: app, max: 2 });
    const clients = new Set<pg.PoolClient>();
    pool.on("acquire", (c) => clients.add(c));
    const escaped: unknown[] = [];
    const onUncaught = (err: unknown) => escaped.push(err);
    process.on("uncaughtException", onUncaught);
    const store = new PostgresStore(pool, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      const cycles = 15;
      for (let i = 0; i < cycles; i++) {
        let woke = 0;
        const off = store.subscribe("r", () => woke++);
        expect(await until(async () => woke > 0 || (await store.deliver("r", input), false))).toBe(true);
        off();
      }
      // Every UNLISTEN done: the connections are back in the pool with the pool's own 'error' listener only.
      const clean = () => pool.idleCount === pool.totalCount && [...clients].every((c) => c.listenerCount("notification") === 0 && c.listenerCount("error") === 1);
      expect(await until(clean)).toBe(true);
      // The pooled connections die while idle.
      const killed = await other.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [app]);
      expect(killed.rowCount).toBeGreaterThan(0);
      expect(await until(() => pool.totalCount === 0)).toBe(true);
      expect(escaped).toEqual([]);
      // A new subscription listens on a new connection.
      let woke = 0;
      const off = store.subscribe("r", () => woke++);
      expect(await until(async () => woke > 0 || (await store.deliver("r", input), false))).toBe(true);
      off();
    } finally {
      process.off("uncaughtException", onUncaught);
      await other.end();
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("opens as a role granted its schema only (no CREATE on the database): it makes the tables, and opens again once they exist", async () => {
    const schema = uniqueSchema();
    const role = `${schema}_role`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const url = new URL(PG_URL);
    url.username = role;
    url.password = "";
    try {
      await admin.query(`CREATE ROLE "${role}" LOGIN`);
      const db = (await admin.query<{ db: string }>("SELECT current_database() AS db")).rows[0]?.db ?? "";
      expect((await admin.query<{ ok: boolean }>("SELECT has_database_privilege($1, $2, 'CREATE') AS ok", [role, db])).rows[0]?.ok).toBe(false);
      await admin.query(`CREATE SCHEMA "${schema}"`);
      await admin.query(`GRANT USAGE, CREATE ON SCHEMA "${schema}" TO "${role}"`);
      const first = new PostgresStore(url.toString(), { schema });
      await first.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      await first.close();
      const again = new PostgresStore(url.toString(), { schema });
      expect((await again.getRun("r"))?.status).toBe("running");
      await again.close();
      // Tables another role owns, made before the status index: opened without it, not refused.
      await admin.query(`DROP INDEX "${schema}".stepwise_runs_status`);
      await admin.query(`ALTER TABLE "${schema}".stepwise_runs OWNER TO postgres`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${role}"`);
      const user = new PostgresStore(url.toString(), { schema });
      expect((await user.listRuns({ status: "running" })).map((r) => r.runId)).toEqual(["r"]);
      await user.close();
      const owner = new PostgresStore(PG_URL, { schema });
      await owner.listRuns();
      await owner.close();
      expect((await admin.query("SELECT to_regclass($1) IS NOT NULL AS ok", [`"${schema}".stepwise_runs_status`])).rows[0]).toEqual({ ok: true });
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
      await admin.end();
    }
  });

  it("a run id, workflow or owner holding U+0000 (which PostgreSQL text cannot hold) is a run it does not have, not a store failure; creating one is refused by name, nothing written", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    const bad = "r\u0000x";
    try {
      // NUL inside JSON data is kept (escaped), in the run row as in the journal.
      const data = { s: "a\u0000b\u0001\ud800", "\u0000": 1 };
      await store.createRun({ runId: "ok", workflow: "W", input: { type: "StartEvent", data }, createdAt: 1 });
      await store.finish("ok", [], { status: "completed", result: data });
      expect(await store.getRun("ok")).toMatchObject({ input: { data }, result: data });

      expect(await store.getRun(bad)).toBeUndefined();
      expect(await store.getJournal(bad)).toEqual([]);
      expect(await store.readInbox(bad)).toEqual([]);
      expect(await store.listRuns({ workflow: "W\u0000" })).toEqual([]);
      expect(await store.acquireLease(bad, "p", 1000, 1)).toEqual({ acquired: false, holder: undefined });
      await store.releaseLease(bad, "p");
      await expect(store.deliver(bad, input)).rejects.toMatchObject({ name: "RunNotFoundError" });
      await expect(store.finish(bad, [], { status: "completed" })).rejects.toMatchObject({ name: "RunNotFoundError" });
      await expect(store.append(bad, [{ kind: "run_resumed", owner: "p", at: 1 }])).rejects.toThrow(/is not in the store/);
      await expect(store.setStatus(bad, "waiting")).rejects.toThrow(/is not in the store/);
      for (const run of [{ runId: bad }, { workflow: "W\u0000" }, { parentRunId: bad }]) {
        await expect(store.createRun({ runId: "new", workflow: "W", input, createdAt: 2, ...run })).rejects.toThrow(/U\+0000.*Nothing was written/);
      }
      await expect(store.createRunHeld({ runId: "new", workflow: "W", input, createdAt: 2 }, { owner: "p\u0000", ttlMs: 1000, now: 1 })).rejects.toThrow(/lease owner.*U\+0000/);
      await store.createRun({ runId: "held", workflow: "W", input, createdAt: 3 });
      await expect(store.acquireLease("held", "p\u0000", 1000, 1)).rejects.toThrow(/owner name.*U\+0000/);
      expect((await store.listRuns()).map((r) => r.runId)).toEqual(["held", "ok"]);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it("takes times and TTLs in fractions of a ms (a custom clock, leaseTtlMs: 10_000 / 3), as the other stores do, stored to the ms", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    try {
      await store.createRun({ runId: "a", workflow: "W", input, createdAt: 1000.5 });
      expect(await store.getRun("a")).toMatchObject({ createdAt: 1000 });
      expect(await store.createRunHeld({ runId: "b", workflow: "W", input, createdAt: 1000.25 }, { owner: "o", ttlMs: 10_000 / 3, now: 1000.25 })).toBe(1);
      expect((await store.getRun("b"))?.lease).toEqual({ owner: "o", expiresAt: 4334, token: 1 });
      expect(await store.acquireLease("a", "o", 10_000 / 3, 2000.7)).toEqual({ acquired: true, token: 1 });
      expect(await store.acquireLease("a", "o", 10_000 / 3, 2500.2, { token: 1 })).toEqual({ acquired: true, token: 1 });
      // Held by "o" until about 5833: another owner waits, then takes it once it expired.
      expect(await store.acquireLease("a", "p", 1000, 5000.5)).toMatchObject({ acquired: false, holder: { owner: "o", token: 1 } });
      expect(await store.acquireLease("a", "p", 1000, 6000.5)).toEqual({ acquired: true, token: 2 });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it("listing the live runs (a takeover poll, a server start) reads the live runs' rows, not every run the store ever held", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL });
    const { query, lastPlan } = recordListings(pool);
    /** Rows of the runs table the last listing read (EXPLAIN ANALYZE of the statement the store sent). */
    const rowsRead = async (): Promise<number> => (await lastPlan()).read;
    const store = new PostgresStore(pool, { schema });
    try {
      const read: number[] = [];
      let made = 0;
      let live = 0;
      for (const ended of [200, 2000]) {
        for (; made < ended; made += 100) {
          await Promise.all(Array.from({ length: 100 }, (_, i) => store.createRun({ runId: `done-${made + i}`, workflow: "W", input, createdAt: made + i })));
          await Promise.all(Array.from({ length: 100 }, (_, i) => store.finish(`done-${made + i}`, [], { status: "completed", result: i })));
        }
        await store.createRun({ runId: `live-${ended}`, workflow: "W", input, createdAt: ended * 10 });
        live++;
        await query(`ANALYZE "${schema}".stepwise_runs`);
        expect((await store.listRuns({ status: "running", workflow: "W" })).length).toBe(live);
        read.push(await rowsRead());
        await store.listRuns({ status: "running" });
        read.push(await rowsRead());
      }
      // 10x the ended runs: the same rows read (the live ones), not 10x.
      expect(read).toEqual([1, 1, 2, 2]);
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("a page (limit, before) reads about limit rows of the runs table however many it holds, for every filter a server pages by, sorting nothing; a store made before those indexes gets them on first use", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL });
    const { query, lastPlan } = recordListings(pool);
    const id = (i: number) => `r-${String(i).padStart(5, "0")}`;
    let store = new PostgresStore(pool, { schema });
    try {
      const pages = (total: number): [string, Parameters<PostgresStore["listRuns"]>[0], string[]][] => {
        // After the middle run: ten runs a millisecond, every tenth (the 3rd of each ms) a child, two workflows.
        const m = total / 2;
        const before = { createdAt: Math.floor(m / 10), runId: id(m) };
        return [
          ["after", { before, limit: 3 }, [id(m - 1), id(m - 2), id(m - 3)]],
          ["status", { status: "running", before, limit: 3 }, [id(m - 1), id(m - 2), id(m - 3)]],
          ["workflow", { workflow: "A", before, limit: 3 }, [id(m - 1), id(m - 3), id(m - 5)]],
          ["top", { topLevel: true, before, limit: 3 }, [id(m - 1), id(m - 2), id(m - 3)]],
          ["top, further", { topLevel: true, before: { createdAt: Math.floor(m / 10) - 1, runId: id(m - 6) }, limit: 3 }, [id(m - 8), id(m - 9), id(m - 10)]], // (m - 7 is a child)
          ["first", { limit: 3 }, [id(total - 1), id(total - 2), id(total - 3)]],
        ];
      };
      const read: Record<string, number[]> = {};
      const check = async (total: number) => {
        for (const [name, filter, ids] of pages(total)) {
          expect({ name, ids: (await store.listRuns(filter)).map((r) => r.runId) }).toEqual({ name, ids });
          const plan = await lastPlan();
          (read[name] ??= []).push(plan.read);
          expect({ name, nodes: plan.nodes.join(" > ") }).not.toEqual({ name, nodes: expect.stringMatching(/Seq Scan|Sort/) });
        }
      };
      let made = 0;
      for (const total of [1_000, 10_000]) {
        for (; made < total; made += 500) {
          await Promise.all(Array.from({ length: 500 }, (_, k) => store.createRun({ runId: id(made + k), workflow: (made + k) % 2 ? "A" : "B", input, createdAt: Math.floor((made + k) / 10), ...((made + k) % 10 === 3 ? { parentRunId: id(0) } : {}) })));
        }
        await query(`ANALYZE "${schema}".stepwise_runs`);
        await check(total);
      }
      // 10x the runs: about a page's rows read either way (3; a planner may read the runs of the
      // other workflow, or a child, on its way), not 10x.
      for (const [name, counts] of Object.entries(read)) expect({ name, counts: counts.map((n) => n <= 6) }).toEqual({ name, counts: [true, true] });
      await store.close();
      // A store from before: the status index without run_id, no page, workflow or top index.
      await query(`DROP INDEX "${schema}".stepwise_runs_status; CREATE INDEX stepwise_runs_status ON "${schema}".stepwise_runs (status, created_at DESC); DROP INDEX "${schema}".stepwise_runs_page; DROP INDEX "${schema}".stepwise_runs_workflow; DROP INDEX "${schema}".stepwise_runs_top`);
      store = new PostgresStore(pool, { schema });
      expect((await store.listRuns({ status: "running", limit: 1 })).map((r) => r.runId)).toEqual([id(9999)]);
      const defs = (await query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'stepwise_runs_%' ORDER BY indexname", [schema]) as pg.QueryResult<{ indexname: string; indexdef: string }>).rows;
      expect(defs.map((d) => d.indexname)).toEqual(expect.arrayContaining(["stepwise_runs_page", "stepwise_runs_parent", "stepwise_runs_status", "stepwise_runs_top", "stepwise_runs_workflow"]));
      expect(defs.find((d) => d.indexname === "stepwise_runs_status")?.indexdef).toContain("(status, created_at DESC, run_id DESC)");
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("listing a run's children (parentRunId) reads those children's rows, not every run; a store made before the parent index gets it on first use", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL });
    const { query, lastPlan } = recordListings(pool);
    let store = new PostgresStore(pool, { schema });
    try {
      const read: number[] = [];
      let made = 0;
      for (const others of [200, 2000]) {
        for (; made < others; made += 100) {
          // Top-level runs, and children of other parents.
          await Promise.all(Array.from({ length: 100 }, (_, i) => store.createRun({ runId: `top-${made + i}`, workflow: "W", input, createdAt: made + i, ...(i % 4 === 0 ? { parentRunId: `top-${made}` } : {}) })));
        }
        await store.createRun({ runId: `child-${others}`, workflow: "W", input, createdAt: others * 10, parentRunId: "p" });
        await query(`ANALYZE "${schema}".stepwise_runs`);
        const children = (await store.listRuns({ parentRunId: "p" })).map((r) => r.runId);
        expect(children).toEqual(others === 200 ? ["child-200"] : ["child-2000", "child-200"]);
        const plan = await lastPlan();
        read.push(plan.read);
        expect(plan.nodes.join(" > ")).not.toMatch(/Seq Scan/);
        expect(plan.nodes.some((n) => /^(Bitmap )?Index (Only )?Scan stepwise_runs_parent$/.test(n))).toBe(true);
      }
      // 10x the other runs: the same rows read (the children), not 10x.
      expect(read).toEqual([1, 2]);
      await store.close();
      // A store from before the index: it gets it on first use.
      await query(`DROP INDEX "${schema}".stepwise_runs_parent`);
      store = new PostgresStore(pool, { schema });
      expect((await store.listRuns({ parentRunId: "p", limit: 1 })).map((r) => r.runId)).toEqual(["child-2000"]);
      expect((await query("SELECT to_regclass($1) IS NOT NULL AS ok", [`"${schema}".stepwise_runs_parent`])).rows[0]).toEqual({ ok: true });
      expect(await store.listRuns({ parentRunId: "p\u0000" })).toEqual([]);
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("a store made before the status index opens while another transaction writes its runs table: not held until that ends, indexed on a later first use", async () => {
    const schema = uniqueSchema();
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      const first = new PostgresStore(PG_URL, { schema });
      await first.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      await first.close();
      await other.query(`DROP INDEX "${schema}".stepwise_runs_status`);
      await other.query("BEGIN");
      await other.query(`UPDATE "${schema}".stepwise_runs SET updated_at = updated_at WHERE run_id = 'r'`);
      const store = new PostgresStore(PG_URL, { schema });
      let read: unknown;
      void Promise.resolve(store.listRuns({ status: "running" })).then(
        (runs) => (read = runs.map((r) => r.runId)),
        (err: unknown) => (read = err),
      );
      expect(await until(() => read !== undefined)).toBe(true);
      expect(read).toEqual(["r"]);
      await other.query("COMMIT");
      await store.close();
      const later = new PostgresStore(PG_URL, { schema });
      await later.getRun("r");
      await later.close();
      expect((await other.query("SELECT to_regclass($1) IS NOT NULL AS ok", [`"${schema}".stepwise_runs_status`])).rows[0]).toEqual({ ok: true });
    } finally {
      await other.query("ROLLBACK").catch(() => {});
      await other.end();
      await dropSchema(schema);
    }
  });

  it("an inbox-claiming append that repeats a seq is refused (JOURNAL_CONFLICT) on a pool of one connection, instead of waiting forever for a second one", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
    const store = new PostgresStore(pool, { schema });
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      const record = { kind: "event" as const, seq: 1, event: input, at: 1 };
      await store.append("r", [record]);
      const id = await store.deliver("r", input);
      let outcome: unknown;
      void Promise.resolve(store.append("r", [record], { claim: [id] })).then(
        () => (outcome = "written"),
        (err: unknown) => (outcome = err),
      );
      expect(await until(() => outcome !== undefined)).toBe(true);
      expect(outcome).toMatchObject({ code: "JOURNAL_CONFLICT", message: expect.stringMatching(/already holds event 1/) as unknown });
      expect((await store.readInbox("r")).map((x) => x.id)).toEqual([id]);
      await expect(store.finish("r", [record], { status: "completed" }, { claim: [id] })).rejects.toMatchObject({ code: "JOURNAL_CONFLICT" });
      expect((await store.getRun("r"))?.status).toBe("running");
    } finally {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("a durable run on a pool of one connection completes, an event delivered from another process included (no LISTEN holding the only connection)", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
    const store = new PostgresStore(pool, { schema });
    const sender = new PostgresStore(PG_URL, { schema });
    try {
      const handler = new WaitsForGo({ store }).run({});
      let result: unknown;
      void handler.then(
        (r) => (result = r),
        (err: unknown) => (result = err),
      );
      expect(await until(async () => (await sender.getRun(handler.runId))?.status === "waiting")).toBe(true);
      await sender.deliver(handler.runId, new Go({ n: 41 }).toJSON());
      expect(await until(() => result !== undefined)).toBe(true);
      expect(result).toBe(42);
      expect(pool.totalCount).toBe(1);
    } finally {
      await sender.close();
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("closing a store twice (an app's shutdown and a finally) ends its pool once and resolves both", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore(PG_URL, { schema });
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      await Promise.all([store.close(), store.close()]);
      await store.close();
      await expect(store.getRun("r")).rejects.toMatchObject({ name: "StoreError" });
    } finally {
      await dropSchema(schema);
    }
  });

  it("stores on many schemas sharing a pool LISTEN on one of its connections: queries still get one, and each subscriber is woken by its own schema's deliveries only", async () => {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const schemas = [uniqueSchema(), uniqueSchema(), uniqueSchema()];
    const stores = schemas.map((schema) => new PostgresStore(pool, { schema }));
    try {
      for (const store of stores) await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      const woke = stores.map(() => 0);
      const offs = stores.map((store, i) => store.subscribe("r", () => woke[i]!++));
      // The first store's deliveries until one wakes it (LISTEN is then in place).
      expect(await until(async () => woke[0]! > 0 || (await stores[0]!.deliver("r", input), false))).toBe(true);
      let read: unknown;
      void Promise.resolve(stores[1]!.getRun("r")).then((r) => (read = r?.status));
      expect(await until(() => read !== undefined)).toBe(true);
      expect(read).toBe("running");
      const before = [...woke];
      await stores[2]!.deliver("r", input);
      expect(await until(() => woke[2]! > before[2]!)).toBe(true);
      expect([woke[0], woke[1]]).toEqual([before[0], before[1]]);
      expect(pool.totalCount).toBeLessThanOrEqual(2);
      offs.forEach((off) => off());
      expect(await until(() => pool.idleCount === pool.totalCount)).toBe(true);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await pool.end();
      for (const schema of schemas) await dropSchema(schema);
    }
  });

  /** The store's LISTEN connection in pg_stat_activity: its last statement is LISTEN, or the read of the inbox after it. */
  const LISTENING = "(query LIKE 'LISTEN%' OR query LIKE 'SELECT DISTINCT run_id FROM%')";

  it("a LISTEN connection that dies while a run is subscribed is replaced: deliveries made after (and while it was gone) still wake the run", async () => {
    const schema = uniqueSchema();
    const app = `stepwise_relisten_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const pool = new pg.Pool({ connectionString: PG_URL, application_name: app });
    const store = new PostgresStore(pool, { schema });
    const sender = new PostgresStore(PG_URL, { schema });
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      let woke = 0;
      const off = store.subscribe("r", () => woke++);
      expect(await until(async () => woke > 0 || (await sender.deliver("r", input), false))).toBe(true);
      for (let cut = 0; cut < 2; cut++) {
        const killed = await other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND ${LISTENING}`, [app]);
        expect(killed.rowCount).toBe(1);
        // Delivered while the connection is gone or being replaced.
        await sender.deliver("r", input);
        const before = woke;
        expect(await until(() => woke > before)).toBe(true);
        // And once it is back, a delivery wakes the run by itself.
        expect(await until(async () => ((await other.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND ${LISTENING}`, [app])).rowCount ?? 0) === 1)).toBe(true);
        const then = woke;
        await sender.deliver("r", input);
        expect(await until(() => woke > then)).toBe(true);
      }
      off();
    } finally {
      await other.end();
      await sender.close();
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  it("an event delivered after subscribe, before LISTEN is in place, still wakes the subscriber (and one whose inbox is empty is not woken)", async () => {
    const schema = uniqueSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const store = new PostgresStore(pool, { schema });
    const sender = new PostgresStore(PG_URL, { schema });
    try {
      await store.createRun({ runId: "r", workflow: "W", input, createdAt: 1 });
      await store.createRun({ runId: "s", workflow: "W", input, createdAt: 2 });
      // Every connection of the pool busy: LISTEN waits for one.
      const held = await Promise.all([pool.connect(), pool.connect()]);
      const woke: string[] = [];
      const offs = ["r", "s"].map((runId) => store.subscribe(runId, () => woke.push(runId)));
      await sender.deliver("r", input);
      held.forEach((c) => c.release());
      expect(await until(() => woke.length > 0)).toBe(true);
      expect(woke).toEqual(["r"]);
      offs.forEach((off) => off());
    } finally {
      await sender.close();
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });
});
