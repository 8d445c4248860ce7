import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StoreError } from "stepwise-ai";
import { defaultStorePath, openStore } from "../../src/cli/store.js";
import { tempDir } from "../stores/helpers.js";
import { ROOT } from "./helpers.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
const mode = (p: string) => statSync(p).mode & 0o777;

describe("where the command line keeps runs", () => {
  it("is .stepwise/runs.db in the nearest folder up that has a package.json", () => {
    const project = join(tmp.dir, "project");
    mkdirSync(join(project, "src", "deep"), { recursive: true });
    writeFileSync(join(project, "package.json"), "{}");
    expect(defaultStorePath(join(project, "src", "deep"))).toBe(join(project, ".stepwise", "runs.db"));
    expect(defaultStorePath(project)).toBe(join(project, ".stepwise", "runs.db"));
  });

  it("is the user's state folder outside any project ($XDG_STATE_HOME when absolute)", () => {
    const outside = join(tmp.dir, "loose");
    mkdirSync(outside, { recursive: true });
    // tmp.dir is under the OS temp folder, which holds no package.json above it.
    expect(defaultStorePath(outside, { XDG_STATE_HOME: "/var/state-x" })).toBe("/var/state-x/stepwise/runs.db");
    expect(defaultStorePath(outside, { XDG_STATE_HOME: "relative/ignored" })).toBe(join(homedir(), ".local", "state", "stepwise", "runs.db"));
    expect(defaultStorePath(outside, {})).toBe(join(homedir(), ".local", "state", "stepwise", "runs.db"));
  });
});

describe("openStore", () => {
  it("creates the folder 0700 and the file 0600, and the WAL files SQLite adds stay private", async () => {
    const file = join(tmp.dir, "fresh", ".stepwise", "runs.db");
    const first = await openStore(file, "create");
    expect(first.created).toBe(true);
    await first.store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
    expect(mode(join(tmp.dir, "fresh", ".stepwise"))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}-wal`)).toBe(0o600);
    first.store.close();
    const again = await openStore(file, "create");
    expect(again.created).toBe(false);
    again.store.close();
  });

  it("read access needs the file and refuses writes", async () => {
    await expect(openStore(join(tmp.dir, "none.db"), "read")).rejects.toMatchObject({ code: "NO_STORE" });
    const file = join(tmp.dir, "ro.db");
    (await openStore(file, "create")).store.close();
    const { store } = await openStore(file, "read");
    await expect(store.createRun({ runId: "x", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 })).rejects.toThrowError(StoreError);
    store.close();
  });
});

describe("runs list and runs show on a store this user cannot write to", () => {
  // As root, permissions do not apply: the command then runs as `nobody` (through runuser).
  const root = process.getuid?.() === 0;
  // `nobody` must be able to run this very node: not so when it lives under /root (the CI's Node.js matrix).
  const runuser = root && spawnSync("runuser", ["--help"]).status === 0 && spawnSync("id", ["nobody"]).status === 0 && spawnSync("runuser", ["-u", "nobody", "--", process.execPath, "--version"]).status === 0;
  if (root && !runuser) console.warn(`\n!!! test/cli/store.test.ts: cannot run ${process.execPath} as user nobody: the read-only store test is SKIPPED on this Node.js\n`);
  it.skipIf(process.platform === "win32" || (root && !runuser))("reads it (a folder without write access, no -wal file beside the store) and leaves it as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-ro-"));
    try {
      chmodSync(dir, 0o755);
      const folder = join(dir, "store");
      const file = join(folder, "runs.db");
      const { store } = await openStore(file, "create");
      await store.createRun({ runId: "r-ro", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
      store.close();
      expect(existsSync(`${file}-wal`)).toBe(false);
      chmodSync(file, 0o444);
      chmodSync(folder, 0o555);
      const env: NodeJS.ProcessEnv = {};
      let wrap: string[] = [];
      if (root) {
        // tsx keeps a cache in the temp folder: give `nobody` one it may write.
        const home = join(dir, "home");
        mkdirSync(home);
        chownSync(home, Number(spawnSync("id", ["-u", "nobody"]).stdout.toString()), 0);
        wrap = ["runuser", "-u", "nobody", "--", "env", `TMPDIR=${home}`, `HOME=${home}`];
      }
      const run = (args: string[]) => {
        const cmd = [...wrap, process.execPath, "--import", "tsx", "--conditions=stepwise-source", join(ROOT, "src/cli/main.ts"), ...args];
        return spawnSync(cmd[0]!, cmd.slice(1), { cwd: ROOT, env: { ...process.env, ...env, NO_COLOR: "1" }, encoding: "utf8", timeout: 60_000 });
      };
      const list = run(["runs", "list", "--store", file]);
      expect(list.stderr).toBe("");
      expect(list.status).toBe(0);
      expect(list.stdout).toMatch(/r-ro\s+W\s+running/);
      const show = run(["runs", "show", "r-ro", "--store", file, "--json"]);
      expect(show.status).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ runId: "r-ro", status: "running" });
      expect(readdirSync(folder)).toEqual(["runs.db"]);
    } finally {
      spawnSync("chmod", ["-R", "u+w", dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
