import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask } from "../../examples/human-approval.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { tempDir } from "../stores/helpers.js";

const ROOT = join(import.meta.dirname, "../..");

/** The command line from source, in a subprocess. */
function stepwise(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", "src/cli/main.ts", ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe("stepwise runs", () => {
  const tmp = tempDir();
  const db = join(tmp.dir, "runs.db");
  let waiting = "";
  beforeAll(async () => {
    const store = new SqliteStore(db);
    waiting = (await ask(store, "Ada", 42)).runId;
    store.close();
  });
  afterAll(() => tmp.remove());

  it("lists runs, filtered, as a table or JSON lines", async () => {
    const table = await stepwise(["runs", "list", "--store", db]);
    expect(table.stderr).toBe("");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^RUN\s+WORKFLOW\s+STATUS\s+CREATED\s+UPDATED/);
    expect(table.stdout).toContain(`${waiting}  RefundApproval  waiting`);
    const lines = await stepwise(["runs", "list", "--store", db, "--status", "waiting", "--json"]);
    const runs = lines.stdout.trim().split("\n").map((l) => JSON.parse(l) as { runId: string; status: string });
    expect(runs.map((r) => [r.runId, r.status])).toEqual([[waiting, "waiting"]]);
    expect((await stepwise(["runs", "list", "--store", db, "--status", "completed"])).stdout).toBe("No runs.\n");
  });

  it("shows a run with its journal", async () => {
    const r = await stepwise(["runs", "show", waiting, "--store", db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("status    waiting");
    expect(r.stdout).toContain('input     {"customer":"Ada","amount":42}');
    expect(r.stdout).toMatch(/step draft finished/);
    expect(r.stdout).toMatch(/waits for HumanResponseEvent/);
    const j = JSON.parse((await stepwise(["runs", "show", waiting, "--store", db, "--json"])).stdout) as { journal: { kind: string }[] };
    expect(j.journal.map((e) => e.kind)).toContain("waiting");
  });

  it("resumes a run, sending it an event, and prints the result", async () => {
    const r = await stepwise(["runs", "resume", waiting, "--store", db, "--file", "examples/human-approval.ts", "--send", '{"type":"HumanResponseEvent","data":{"response":"yes"}}']);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("Refunded 42 EUR (drafted 1x).\n");
    expect(r.code).toBe(0);
    const again = await stepwise(["runs", "resume", waiting, "--store", db, "--file", "examples/human-approval.ts"]);
    expect(again.code).toBe(2); // pointed at a run that has ended: bad input
    expect(again.stderr).toMatch(/\[RUN_FINISHED\].*already completed/);
  });

  it("explains bad input with exit code 2", async () => {
    const missing = await stepwise(["runs", "list", "--store", join(tmp.dir, "nope.db")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/No store at .*nope\.db/);
    const status = await stepwise(["runs", "list", "--store", db, "--status", "sleeping"]);
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/--status must be one of running, waiting/);
    const unknown = await stepwise(["runs", "show", "no-such-run", "--store", db]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no run "no-such-run"/);
    const text = join(tmp.dir, "notes.db");
    writeFileSync(text, "not a database\n".repeat(200));
    const notStore = await stepwise(["runs", "list", "--store", text]);
    expect(notStore.code).toBe(2);
    expect(notStore.stderr).toMatch(/not a stepwise store/);
    const other = join(tmp.dir, "other.db");
    const o = new Database(other);
    o.exec("CREATE TABLE t (x)");
    o.close();
    expect((await stepwise(["runs", "list", "--store", other])).stderr).toMatch(/other tables \(t\)/);
    const badSend = await stepwise(["runs", "resume", "x", "--store", db, "--file", "examples/human-approval.ts", "--send", "{"]);
    expect(badSend.code).toBe(2);
  }, 90_000);
});
