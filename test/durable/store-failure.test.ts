import { createConnection, createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { Context, Event, StartEvent, step, StopEvent, StoreError, Workflow } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from "../stores/helpers.js";

const pgUp = await postgresAvailable();

/** A TCP proxy to PostgreSQL that can be pulled out, as if the database went away. */
async function proxy(): Promise<{ port: number; cut: () => Promise<void> }> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

class Half extends Event<{ n: number }> {}

describe.skipIf(!pgUp)("PostgreSQL goes away mid-run", () => {
  it("fails the run with StoreError; the journal keeps what was committed, and the run resumes once the database is back", async () => {
    const schema = uniqueSchema();
    const p = await proxy();
    const url = new URL(PG_URL);
    url.port = String(p.port);
    const flaky = new PostgresStore({ connectionString: url.toString(), connectionTimeoutMillis: 1000 }, { schema });
    let cut = false;
    class Job extends Workflow {
      @step({ accepts: StartEvent, emits: Half })
      async first(_: StartEvent, ctx: Context) {
        ctx.store.set("first", "done");
        return new Half({ n: 1 });
      }
      @step({ accepts: Half, emits: StopEvent })
      async second(ev: Half) {
        if (!cut) {
          cut = true;
          await p.cut();
        }
        return new StopEvent({ result: ev.n + 1 });
      }
    }
    try {
      const h = new Job({ store: flaky, timeout: null }).run({});
      const err = await h.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: "STORE_FAILED", runId: h.runId, workflow: "Job" });
      expect((err as Error).message).toMatch(/store failed while journaling run/);
      await flaky.close();

      const direct = new PostgresStore(PG_URL, { schema });
      try {
        const journal = await direct.getJournal(h.runId);
        expect(journal.filter((e) => e.kind === "step_finished").map((e) => (e as { step: string }).step)).toEqual(["first"]);
        expect(journal.some((e) => e.kind === "state" && e.key === "first")).toBe(true);
        const stored = await direct.getRun(h.runId);
        expect(stored?.status).toBe("running");
        // Its lease could not be released (the database was gone) and has not lapsed (30 s)...
        expect(stored?.lease?.expiresAt).toBeGreaterThan(Date.now());
        // ...but this process stopped that run itself: once the database is back (reached
        // directly) it resumes the run at once, from the journal (issue 11.5).
        expect(await new Job({ store: direct, timeout: null }).resume(h.runId)).toBe(2);
        expect(await direct.getRun(h.runId)).toMatchObject({ status: "completed", result: 2 });
      } finally {
        await direct.close();
      }
    } finally {
      await dropSchema(schema);
    }
  });
});
