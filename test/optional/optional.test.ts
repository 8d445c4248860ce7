import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WorkflowError } from "stepwise-ai";
import { MissingDependencyError as FromDraw } from "stepwise-ai/draw";
import { MissingDependencyError as FromPostgres } from "stepwise-ai/postgres";
import { MissingDependencyError, SqliteStore } from "stepwise-ai/sqlite";
import { importOptional, installCommandFor, requireOptional, resolveOptional } from "../../src/optional.js";

const MISSING = "stepwise-no-such-package-7f3a";

describe("optional dependencies", () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.unstubAllEnvs();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("throws MissingDependencyError naming the package, the feature and the install command when require fails", () => {
    let err: unknown;
    try {
      requireOptional(MISSING, "Frobnicating");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect(err).toBeInstanceOf(WorkflowError);
    const e = err as MissingDependencyError;
    expect(e.code).toBe("MISSING_DEPENDENCY");
    expect(e.packageName).toBe(MISSING);
    expect(e.installCommand).toBe(`npm install ${MISSING}`);
    expect(e.message).toBe(`Frobnicating needs the package "${MISSING}", which is not installed. Install it with: npm install ${MISSING}`);
    expect((e.cause as { code?: string }).code).toBe("MODULE_NOT_FOUND");
  });

  it("names the package of a missing subpath on import and on resolve", async () => {
    await expect(importOptional(`${MISSING}/esm/api`, "X")).rejects.toMatchObject({ code: "MISSING_DEPENDENCY", packageName: MISSING });
    await expect(importOptional(`@stepwise-none/${MISSING}/sub`, "X")).rejects.toMatchObject({ packageName: `@stepwise-none/${MISSING}` });
    expect(() => resolveOptional(`${MISSING}/lib/x.js`, "X")).toThrow(MissingDependencyError);
  });

  it("asks for the version range stepwise supports (a newer major may not load)", () => {
    vi.stubEnv("npm_config_user_agent", "npm/11.0.0 node/v20.0.0");
    expect(installCommandFor("better-sqlite3")).toBe("npm install better-sqlite3@^12.0.0");
    expect(installCommandFor("pg")).toBe("npm install pg@^8.0.0");
    expect(installCommandFor("tsx")).toMatch(/^npm install tsx@\^4/);
    expect(installCommandFor("elkjs")).toMatch(/^npm install elkjs@/);
  });

  it("speaks the package manager that runs the process", () => {
    vi.stubEnv("npm_config_user_agent", "pnpm/9.1.0 npm/? node/v22.0.0 linux x64");
    expect(installCommandFor("pg")).toBe("pnpm add pg@^8.0.0");
    vi.stubEnv("npm_config_user_agent", "yarn/4.0.0 npm/? node/v22.0.0");
    expect(installCommandFor("pg")).toBe("yarn add pg@^8.0.0");
  });

  it("passes on the error of a package that is installed but broken, instead of calling it missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-optional-"));
    dirs.push(dir);
    mkdirSync(join(dir, "node_modules", "broken-driver"), { recursive: true });
    writeFileSync(join(dir, "node_modules", "broken-driver", "index.js"), `require("${MISSING}");`);
    writeFileSync(join(dir, "node_modules", "throws-driver.js"), `throw new Error("native binding failed");`);
    const from = pathToFileURL(join(dir, "app.js"));
    expect(() => requireOptional("broken-driver", "X", from)).toThrow(expect.objectContaining({ code: "MODULE_NOT_FOUND", message: expect.stringContaining(MISSING) }));
    expect(() => requireOptional("broken-driver", "X", from)).not.toThrow(MissingDependencyError);
    expect(() => requireOptional("./node_modules/throws-driver.js", "X", from)).toThrow("native binding failed");
  });

  it("is one class, caught by instanceof, from every subpath", () => {
    expect(FromDraw).toBe(MissingDependencyError);
    expect(FromPostgres).toBe(MissingDependencyError);
    // Installed here: the driver is loaded when the store is made, not when the subpath is imported.
    const store = new SqliteStore(":memory:");
    store.close();
  });
});
