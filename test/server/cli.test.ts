import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createClient } from "stepwise-ai/client";

const ROOT = join(import.meta.dirname, "../..");

describe("stepwise serve", () => {
  it("serves every workflow the file exports, journaled in SQLite, until SIGTERM", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-serve-"));
    try {
      const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", "src/cli/main.ts", "serve", "test/server/fixtures.ts", "--port", "0", "--store", join(dir, "runs.db"), "--token", "tk", "--llamaindex"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      const url = await new Promise<string>((resolve, reject) => {
        proc.stderr.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /serving (.*) on (http:\/\/\S+)/.exec(err);
          if (m) resolve(m[2]!);
        });
        proc.on("exit", () => reject(new Error(`exited: ${err}`)));
      });
      expect(err).toMatch(/serving Asker, Broken, .*Greeter/);
      const client = createClient({ baseUrl: url, token: "tk" });
      expect(await client.run("Greeter", { name: "Eve" }, { wait: 10 })).toMatchObject({ status: "completed", result: "hello Eve" });
      expect((await client.list({ workflow: "Greeter" })).runs).toHaveLength(1);
      await expect(createClient({ baseUrl: url }).list()).rejects.toMatchObject({ status: 401 });
      // --llamaindex: LlamaIndex's protocol under /llamaindex, behind the same token.
      const li = await fetch(`${url.replace(/\/$/, "")}/llamaindex/workflows`, { headers: { Authorization: "Bearer tk" } });
      expect(li.status).toBe(200);
      expect(JSON.stringify(await li.json())).toContain("Greeter");
      const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects a bad port with exit code 2", { timeout: 60_000 }, async () => {
    const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=stepwise-source", "src/cli/main.ts", "serve", "test/server/fixtures.ts", "--port", "http", "--no-store"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => proc.on("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain("--port must be a port number");
  });
});
