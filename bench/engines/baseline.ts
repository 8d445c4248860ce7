import { countRight, REACT, reactAnswer, sleep, type Durability, type Engine } from "../types.js";

// What the same work costs with no engine at all: plain objects, plain awaits.

class Loop {
  constructor(readonly n: number) {}
}
class Stop {
  constructor(readonly result: number) {}
}

async function loopStep(ev: Loop, n: number): Promise<Loop | Stop> {
  return ev.n < n ? new Loop(ev.n + 1) : new Stop(ev.n);
}

export const baseline: Engine = {
  label: "plain async",

  // A plain `await` loop over an async function returning the next event.
  async chain(n, probe) {
    let ev: Loop | Stop = new Loop(0);
    while (ev instanceof Loop) {
      if (ev.n === n) probe?.();
      ev = await loopStep(ev, n);
    }
    return ev.result;
  },

  async fanout(n, ms) {
    const values = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await sleep(ms);
        return i;
      }),
    );
    let sum = 0;
    for (const v of values) sum += v;
    return sum;
  },

  async runs(n, gate) {
    const first = async (id: number) => {
      if (gate) await gate.arrive();
      return { mid: id };
    };
    const second = async (s: { mid: number }) => s.mid;
    const all: Promise<number>[] = [];
    for (let id = 0; id < n; id++) all.push(first(id).then(second));
    return countRight(await Promise.all(all));
  },

  // An async generator yielding each event to a for-await consumer.
  async stream(n) {
    async function* produce() {
      let ev: Loop | Stop = new Loop(0);
      while (ev instanceof Loop) {
        yield ev;
        ev = await loopStep(ev, n);
      }
    }
    let seen = 0;
    for await (const _ of produce()) seen++;
    return seen - 1;
  },

  // better-sqlite3 in WAL mode, one small insert per event: a transaction each ("sync"),
  // or one transaction per 5 ms of events ("batched").
  async durable(n, durability: Durability, file) {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO journal (body) VALUES (?)");
    const many = db.transaction((rows: string[]) => {
      for (const r of rows) insert.run(r);
    });
    let pending: string[] = [];
    let since = performance.now();
    let ev: Loop | Stop = new Loop(0);
    while (ev instanceof Loop) {
      ev = await loopStep(ev, n);
      const row = JSON.stringify({ type: "Loop", data: ev });
      if (durability === "sync") many([row]);
      else {
        pending.push(row);
        if (performance.now() - since >= 5) {
          many(pending);
          pending = [];
          since = performance.now();
        }
      }
    }
    many(pending);
    db.close();
    return ev.result;
  },

  // The least a durable engine writes for a two-step run: the run row, one journal row per
  // step's output, the final status. SQLite through better-sqlite3 (WAL, synchronous = NORMAL,
  // as SqliteStore); PostgreSQL through a pg.Pool of 10, the size PostgresStore's pool has.
  async durableRuns(n, db) {
    const row = (id: number, what: string, v: number) => JSON.stringify({ run: id, what, v });
    if (db.kind === "sqlite") {
      const { default: Database } = await import("better-sqlite3");
      const sql = new Database(db.file);
      sql.pragma("journal_mode = WAL");
      sql.pragma("synchronous = NORMAL");
      sql.exec("CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, status TEXT NOT NULL); CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, run INTEGER NOT NULL, body TEXT NOT NULL)");
      const start = sql.prepare("INSERT INTO runs (id, status) VALUES (?, 'running')");
      const append = sql.prepare("INSERT INTO journal (run, body) VALUES (?, ?)");
      const finish = sql.prepare("UPDATE runs SET status = 'done' WHERE id = ?");
      const run = async (id: number) => {
        start.run(id);
        const mid = await (async () => id)();
        append.run(id, row(id, "first", mid));
        const result = await (async () => mid)();
        append.run(id, row(id, "second", result));
        finish.run(id);
        return result;
      };
      try {
        return countRight(await Promise.all(Array.from({ length: n }, (_, id) => run(id))));
      } finally {
        sql.close();
      }
    }
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: db.url, max: 10 });
    const t = (name: string) => `"${db.schema}".${name}`;
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
      await pool.query(`CREATE TABLE IF NOT EXISTS ${t("runs")} (id INTEGER PRIMARY KEY, status TEXT NOT NULL); CREATE TABLE IF NOT EXISTS ${t("journal")} (seq BIGSERIAL PRIMARY KEY, run INTEGER NOT NULL, body JSONB NOT NULL)`);
      await pool.query(`TRUNCATE ${t("runs")}, ${t("journal")}`);
      const run = async (id: number) => {
        await pool.query(`INSERT INTO ${t("runs")} (id, status) VALUES ($1, 'running')`, [id]);
        const mid = id;
        await pool.query(`INSERT INTO ${t("journal")} (run, body) VALUES ($1, $2)`, [id, row(id, "first", mid)]);
        const result = mid;
        await pool.query(`INSERT INTO ${t("journal")} (run, body) VALUES ($1, $2)`, [id, row(id, "second", result)]);
        await pool.query(`UPDATE ${t("runs")} SET status = 'done' WHERE id = $1`, [id]);
        return result;
      };
      return countRight(await Promise.all(Array.from({ length: n }, (_, id) => run(id))));
    } finally {
      await pool.end();
    }
  },

  // A ReAct loop as plain code: await the model, then the tool it asked for, until it answers.
  async react(n) {
    const agent = async (id: number) => {
      let seen = 0;
      for (let turn = 1; ; turn++) {
        await sleep(REACT.model);
        if (turn === REACT.turns) return id * 10 + seen;
        await sleep(REACT.tool);
        seen++;
      }
    };
    return countRight(await Promise.all(Array.from({ length: n }, (_, id) => agent(id))), reactAnswer);
  },
};
