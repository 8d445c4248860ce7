import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const out = mkdtempSync(join(tmpdir(), "stepwise-tsc-"));
writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// Vitest itself runs the decorators in every other test; these check the other two toolchains.
describe("standard decorators", () => {
  it("work when compiled by tsc and run by node", () => {
    execFileSync(
      process.execPath,
      [join(root, "node_modules/typescript/bin/tsc"), "--outDir", out, "--rootDir", root, "--target", "ES2022", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--strict", "--skipLibCheck", "--types", "node", "test/fixtures/decorated.ts"],
      { cwd: root, stdio: "pipe" },
    );
    const stdout = execFileSync(process.execPath, [join(out, "test/fixtures/decorated.js")], { encoding: "utf8" });
    expect(stdout.trim()).toBe("OK! SUB?");
  }, 60_000);

  it("work under tsx", () => {
    const stdout = execFileSync(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), "test/fixtures/decorated.ts"], { cwd: root, encoding: "utf8" });
    expect(stdout.trim()).toBe("OK! SUB?");
  }, 60_000);
});
