import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StoreError } from "stepwise-ai";
import { defaultStorePath, openStore } from "../../src/cli/store.js";
import { tempDir } from "../stores/helpers.js";

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
    first.store.createRun({ runId: "r", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 });
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
    expect(() => store.createRun({ runId: "x", workflow: "W", input: { type: "StartEvent", data: {} }, createdAt: 1 })).toThrowError(StoreError);
    store.close();
  });
});
