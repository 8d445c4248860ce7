import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ask, answer } from "../../examples/human-approval.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { tempDir } from "../stores/helpers.js";

const ROOT = join(import.meta.dirname, "../..");
const run = (db: string, ...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", "examples/human-approval.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, STEPWISE_DB: db },
    encoding: "utf8",
  });

describe("examples/human-approval.ts", () => {
  it("asks in one process, which exits; a second process answers and the run finishes", () => {
    const tmp = tempDir();
    try {
      const db = join(tmp.dir, "runs.db");
      const first = run(db, "ask", "75");
      expect(first.stderr).toBe("");
      expect(first.status).toBe(0);
      expect(first.stdout).toMatch(/Refund 75 EUR \(Ada's parcel arrived damaged\)\? yes\/no/);
      const runId = /run (\S+) is waiting/.exec(first.stdout)?.[1] as string;
      const store = new SqliteStore(db);
      expect(store.getRun(runId)).toMatchObject({ status: "waiting" });
      expect(store.getRun(runId)?.lease).toBeUndefined();
      store.close();

      const second = run(db, "answer", runId, "yes");
      expect(second.stderr).toBe("");
      expect(second.stdout.trim()).toBe("Refunded 75 EUR (drafted 1x).");
      const after = new SqliteStore(db);
      expect(after.getRun(runId)).toMatchObject({ status: "completed", result: "Refunded 75 EUR (drafted 1x)." });
      after.close();
    } finally {
      tmp.remove();
    }
  }, 30_000);

  it("works in one process too, and a declined refund is declined", async () => {
    const tmp = tempDir();
    const store = new SqliteStore(join(tmp.dir, "runs.db"));
    try {
      const { runId, question } = await ask(store, "Grace", 10);
      expect(question).toMatch(/Refund 10 EUR/);
      expect(store.listRuns({ status: "waiting" }).map((r) => r.runId)).toEqual([runId]);
      expect(await answer(store, runId, "no")).toBe("Refund of 10 EUR declined.");
    } finally {
      store.close();
      tmp.remove();
    }
  });
});
