// Checks what `npm pack` would publish (building first through `prepack`): every file the
// package.json points at is there, nothing from outside dist/ but README, LICENSE and
// package.json, and every source map carries its sources. Exits 1 naming each problem.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const out = execFileSync("npm", ["pack", "--dry-run", "--json"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const [report] = JSON.parse(out);
const files = new Set(report.files.map((f) => f.path));
const problems = [];

// Every target of `exports`, `main`, `types` and `bin` (the source condition excepted).
const targets = new Set([pkg.main, pkg.types, ...Object.values(pkg.bin ?? {})]);
for (const entry of Object.values(pkg.exports)) {
  if (typeof entry === "string") targets.add(entry);
  else for (const [cond, target] of Object.entries(entry)) if (cond !== "stepwise-source") targets.add(target);
}
for (const t of [...targets, "package.json", "README.md", "LICENSE"]) {
  const path = t.replace(/^\.\//, "");
  if (!files.has(path)) problems.push(`missing: ${path} (named by package.json or required)`);
}

const allowedTop = new Set(["package.json", "README.md", "LICENSE"]);
for (const f of files) {
  if (!allowedTop.has(f) && !f.startsWith("dist/")) problems.push(`should not be packed: ${f}`);
  if (/(^|\/)(test|tests|__tests__|fixtures)\//.test(f) || /\.(test|spec)\.[cm]?[jt]s$/.test(f)) problems.push(`test file packed: ${f}`);
  if (/\.(db|db-wal|db-shm|tgz|log|cpuprofile)$/.test(f) || f.includes(".stepwise/")) problems.push(`stray file packed: ${f}`);
  if (f.endsWith(".map")) {
    const map = JSON.parse(readFileSync(join(root, f), "utf8"));
    const sources = map.sources ?? [];
    const contents = map.sourcesContent ?? [];
    if (sources.length === 0 || contents.length !== sources.length || contents.some((c) => typeof c !== "string")) {
      problems.push(`source map without its sources: ${f} (sources ${JSON.stringify(sources)}; build with inlineSources)`);
    }
  }
}
for (const bin of Object.values(pkg.bin ?? {})) {
  const first = readFileSync(join(root, bin), "utf8").split("\n", 1)[0];
  if (first !== "#!/usr/bin/env node") problems.push(`bin ${bin} does not start with "#!/usr/bin/env node" (got ${JSON.stringify(first)})`);
}
if (!files.has("dist/index.js") || [...files].filter((f) => f.endsWith(".js")).length < 10) problems.push("the build output looks empty: did prepack run?");

console.log(`npm pack: ${files.size} files, ${(report.size / 1024).toFixed(0)} KB packed, ${(report.unpackedSize / 1024).toFixed(0)} KB unpacked`);
if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log("ok   the packed file list has what package.json names and nothing else");
