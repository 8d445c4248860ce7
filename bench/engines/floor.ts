import type { Engine } from "../types.js";

// The two floors the engine's cost per event is measured against (BENCHMARKS.md, "The floors").
// Both run the chain: a handler re-emits Loop(n + 1) until n, then Stop(n).
//
// Minimal floor, the work no event-driven engine can skip:
//   1. allocate the event (an object of a class: events are typed values);
//   2. route it by class (one Map lookup from the event's constructor to its handler);
//   3. await the handler (steps are async functions; the engine cannot assume they are not).
// Streaming floor (`floor.stream`), the minimal floor whose handler also writes each event it
// handles to a stream read by `for await`, as stepwise's stream scenario does: the log keeps every
// event (any number of readers, each from the first, as handler.streamEvents() promises), a
// buffered event is handed over as a resolved promise, and a reader that has caught up waits on
// one promise the next write resolves.
// Queue floor, the minimal floor plus the work an engine with stepwise's contract must do:
//   4. put the returned event on a FIFO queue and take the next one from it (a step may return
//      several events or none, and other steps' events interleave, so events go through a queue);
//   5. check the returned event against the step's declared emits (a Set of classes).

class Ev {}
class Loop extends Ev {
  constructor(readonly n: number) {
    super();
  }
}
class Stop extends Ev {
  constructor(readonly result: number) {
    super();
  }
}

type Handler = (ev: Ev) => Promise<Ev>;
type Class = abstract new (...args: never[]) => Ev;

function loopHandler(n: number, probe?: () => void): Handler {
  return async (ev) => {
    const i = (ev as Loop).n;
    if (i === n) probe?.();
    return i < n ? new Loop(i + 1) : new Stop(i);
  };
}

export const floor: Engine = {
  label: "minimal floor",

  stream: streamFloor,

  async chain(n, probe) {
    const routes = new Map<Class, Handler>([[Loop, loopHandler(n, probe)]]);
    let ev: Ev = new Loop(0);
    for (;;) {
      const handler = routes.get(ev.constructor as Class);
      if (handler === undefined) throw new Error("unrouted");
      const out = await handler(ev);
      if (out instanceof Stop) return out.result;
      ev = out;
    }
  },
};

/** The streaming floor's stream: an append-only log and the one reader waiting on it. */
class FloorStream implements AsyncIterable<Ev> {
  readonly log: Ev[] = [];
  done = false;
  #wake: (() => void) | undefined;

  write(ev: Ev): void {
    this.log.push(ev);
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake();
    }
  }

  end(): void {
    this.done = true;
    this.#wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<Ev> {
    let i = 0;
    const next = (): IteratorResult<Ev> => (i < this.log.length ? { value: this.log[i++] as Ev, done: false } : { value: undefined, done: true });
    return {
      next: () => {
        if (i < this.log.length || this.done) return Promise.resolve(next());
        return new Promise((resolve) => (this.#wake = () => resolve(next())));
      },
    };
  }
}

/** The minimal floor's chain, each handled event written to a {@link FloorStream} read by `for await`. */
async function streamFloor(n: number): Promise<number> {
  const stream = new FloorStream();
  const handler = loopHandler(n);
  const routes = new Map<Class, Handler>([
    [
      Loop,
      (ev) => {
        stream.write(ev);
        return handler(ev);
      },
    ],
  ]);
  const chain = (async () => {
    let ev: Ev = new Loop(0);
    for (;;) {
      const h = routes.get(ev.constructor as Class);
      if (h === undefined) throw new Error("unrouted");
      const out = await h(ev);
      if (out instanceof Stop) break;
      ev = out;
    }
    stream.end();
  })();
  let seen = 0;
  for await (const ev of stream) if (ev instanceof Loop) seen++;
  await chain;
  return seen;
}

export const floorQueue: Engine = {
  label: "queue floor",

  async chain(n, probe) {
    const routes = new Map<Class, { handler: Handler; emits: Set<Class> }>([[Loop, { handler: loopHandler(n, probe), emits: new Set([Loop, Stop]) }]]);
    // A FIFO: an array with a read index, compacted when the read index passes half.
    let queue: Ev[] = [new Loop(0)];
    let head = 0;
    while (head < queue.length) {
      const ev = queue[head++] as Ev;
      if (head > 1024 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      const route = routes.get(ev.constructor as Class);
      if (route === undefined) throw new Error("unrouted");
      const out = await route.handler(ev);
      if (!route.emits.has(out.constructor as Class)) throw new Error("undeclared event");
      if (out instanceof Stop) return out.result;
      queue.push(out);
    }
    throw new Error("stalled");
  },
};
