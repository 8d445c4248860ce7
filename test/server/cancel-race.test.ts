import { describe, expect, it, onTestFinished } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore, type Store } from "stepwise-ai";
import { SqliteStore } from "stepwise-ai/sqlite";
import { PostgresStore } from "stepwise-ai/postgres";
import { PG_URL, dropSchema, postgresAvailable, uniqueSchema } from "../stores/helpers.js";

const pgUp = await postgresAvailable();
import { createServer } from "stepwise-ai/server";
import { Answer, Asker } from "./fixtures.js";
import { waitFor } from "./wait.js";

describe("cancelling a stored run", () => {
  const racing = <S extends new (...a: any[]) => Store>(Base: S) =>
    class extends Base {
      /** What the other process does between this server reading the run and taking its lease. */
      endElsewhere: (() => Promise<void>) | undefined;
      override async acquireLease(...args: Parameters<Store["acquireLease"]>) {
        const end = this.endElsewhere;
        if (args[1].startsWith("stepwise-server:cancel:") && end) {
          this.endElsewhere = undefined;
          await end();
        }
        return super.acquireLease(...args);
      }
    };
  const stores = {
    memory: () => new (racing(MemoryStore))(),
    sqlite: () => {
      const dir = mkdtempSync(join(tmpdir(), "stepwise-cancel-"));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      return new (racing(SqliteStore))(join(dir, "runs.db"));
    },
    postgres: () => {
      const schema = uniqueSchema();
      const store = new (racing(PostgresStore))(PG_URL, { schema });
      onTestFinished(async () => {
        await store.close();
        await dropSchema(schema);
      });
      return store;
    },
  };

  it.each((Object.keys(stores) as (keyof typeof stores)[]).filter((k) => k !== "postgres" || pgUp))("never overwrites a run that ended between the server reading it and taking its lease (%s: 409, the result stays)", async (kind) => {
    const store = stores[kind]();
    const elsewhere = new Asker({ store, leaseOwner: "worker-b", timeout: 10 }).run({ topic: "tea" });
    await waitFor(async () => (await store.getRun(elsewhere.runId))?.status, (s) => s === "waiting");
    store.endElsewhere = async () => {
      elsewhere.sendEvent(new Answer({ response: "yes" }));
      await elsewhere;
    };
    const app = createServer({ workflows: { asker: Asker }, store, resume: false });
    const res = await app.request(`/runs/${elsewhere.runId}/cancel`, { method: "POST" });
    expect(await elsewhere).toBe("you said yes");
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("RUN_FINISHED");
    const stored = await store.getRun(elsewhere.runId);
    expect(stored).toMatchObject({ status: "completed", result: "you said yes" });
    expect(stored?.error).toBeUndefined();
    expect(stored?.lease).toBeUndefined();
  });
});
