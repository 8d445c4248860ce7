import type { Engine } from "../types.js";

// The floor the engine's overhead is measured against: a bare loop that allocates an event,
// routes it by class through a Map, awaits an async handler and checks what it returned.

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

export const floor: Engine = {
  label: "floor",

  async chain(n, probe) {
    const routes = new Map<abstract new (...args: never[]) => Ev, (ev: Ev) => Promise<unknown>>();
    routes.set(Loop, async (ev) => {
      const i = (ev as Loop).n;
      if (i === n) probe?.();
      return i < n ? new Loop(i + 1) : new Stop(i);
    });
    let ev: Ev = new Loop(0);
    for (;;) {
      const handler = routes.get(ev.constructor as typeof Ev);
      if (handler === undefined) throw new Error("unrouted");
      const out = await handler(ev);
      if (!(out instanceof Ev)) throw new Error("not an event");
      if (out instanceof Stop) return out.result;
      ev = out;
    }
  },
};
