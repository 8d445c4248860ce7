import { sleep, type Durability, type Engine } from "../types.js";

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
    const results = await Promise.all(all);
    let ok = 0;
    for (let id = 0; id < n; id++) if (results[id] === id) ok++;
    return ok;
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
};
