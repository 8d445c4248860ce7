/**
 * Consumer type tests (issue 12.1): the package is built to `.d.ts` + `.js`, installed into a
 * temporary project as `node_modules/stepwise-ai` (its package.json and `exports` as published),
 * and the files in `consumers/` are compiled against it — not against `src` — under the
 * tsconfigs a new user is likely to have, with the oldest supported TypeScript (5.4, the
 * installed on first use into node_modules/.cache/typescript-5.4 by npm, from its cache or the
 * registry) and the latest (the `typescript` devDependency). Not a devDependency: an aliased
 * `typescript-5.4` package would take over the `tsc` command in node_modules/.bin.
 *
 * What must not compile is written as `// @ts-expect-error` in the consumer files. What should
 * compile but does not yet, because of core types, is tagged `// known: <id>` on its line and
 * listed in KNOWN_FAILURES below with its issue item: the test asserts that it still fails, so
 * it turns red once the core is fixed — then delete the entry and the tag.
 */
import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const consumersDir = join(import.meta.dirname, "consumers");

const OLDEST = "5.4.5";
const oldestDir = join(root, "node_modules/.cache/typescript-5.4");
const TSC = {
  latest: join(root, "node_modules/typescript/bin/tsc"),
  "5.4": join(oldestDir, "node_modules/typescript/bin/tsc"),
} as const;

/** The consumer projects: one variable changed at a time. */
const CONFIGS: Record<string, { ts: keyof typeof TSC; options: Record<string, unknown> }> = {
  // What `tsc --init` users and most templates have: strict, nothing more.
  strict: { ts: "latest", options: { strict: true, module: "nodenext", target: "es2022", skipLibCheck: false } },
  // The repository's own strictness.
  "strict-exact": {
    ts: "latest",
    options: { strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, module: "nodenext", target: "es2022", skipLibCheck: false },
  },
  // Vite, esbuild, Next and other bundler setups.
  bundler: { ts: "latest", options: { strict: true, module: "esnext", moduleResolution: "bundler", target: "es2022", skipLibCheck: true } },
  // The oldest supported TypeScript. skipLibCheck: @types/node 20 itself does not check under 5.4.
  "ts5.4-strict": { ts: "5.4", options: { strict: true, module: "nodenext", target: "es2022", skipLibCheck: true } },
  "ts5.4-strict-exact": {
    ts: "5.4",
    options: { strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, module: "nodenext", target: "es2022", skipLibCheck: true },
  },
  "ts5.4-bundler": { ts: "5.4", options: { strict: true, module: "esnext", moduleResolution: "bundler", target: "es2022", skipLibCheck: true } },
};
type ConfigName = keyof typeof CONFIGS;
const ALL = Object.keys(CONFIGS);

/** TypeScript 5.4 in a cache folder: installed once (before the tests are collected), reused by later runs. */
function installOldest(): boolean {
  if (existsSync(TSC["5.4"])) return true;
  try {
    mkdirSync(oldestDir, { recursive: true });
    writeFileSync(join(oldestDir, "package.json"), JSON.stringify({ private: true }));
    execFileSync("npm", ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", `typescript@${OLDEST}`], { cwd: oldestDir, stdio: "pipe" });
    return true;
  } catch (err) {
    if (process.env.CI === "true") throw err;
    console.warn(`\n!!! consumer type tests: could not install typescript@${OLDEST} (${String(err)}); the TypeScript 5.4 configs are SKIPPED.\n`);
    return false;
  }
}
const RUN = installOldest() ? ALL : ALL.filter((c) => CONFIGS[c]?.ts !== "5.4");

/**
 * Lines that should compile (or, for a `@ts-expect-error` line, should fail) but do not yet,
 * because of core types. Each turns this test red when it starts passing.
 */
const KNOWN_FAILURES: { id: string; issue: string; configs: readonly ConfigName[]; cause: string }[] = [
  // Empty: issue 12.1, 12.2 and 12.4 are fixed in the core. Add entries here as described above.
];

interface Diagnostic {
  file: string;
  line: number;
  code: string;
  text: string;
}

const consumerFiles = readdirSync(consumersDir).filter((f) => f.endsWith(".ts"));
/** `// known: id` tags: id -> where. */
const tags = new Map<string, { file: string; line: number }>();
for (const file of consumerFiles) {
  readFileSync(join(consumersDir, file), "utf8")
    .split("\n")
    .forEach((text, i) => {
      const m = /\/\/ known: ([\w-]+)/.exec(text);
      if (m?.[1]) tags.set(m[1], { file, line: i + 1 });
    });
}

const project = mkdtempSync(join(tmpdir(), "stepwise-consumer-"));
const results = new Map<string, Diagnostic[]>();
let buildError: unknown;

function parse(output: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const line of output.split("\n")) {
    const m = /^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/.exec(line);
    if (m) out.push({ file: m[1] ?? "", line: Number(m[2]), code: m[3] ?? "", text: m[4] ?? "" });
  }
  return out;
}

async function tsc(bin: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [bin, ...args], { cwd: project, maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    if (e.stdout === undefined) throw err;
    return e.stdout + (e.stderr ?? "");
  }
}

beforeAll(async () => {
  try {
    // Install the package as npm would: its package.json and the built dist, nothing else.
    const pkg = join(project, "node_modules/stepwise-ai");
    mkdirSync(pkg, { recursive: true });
    const build = await tsc(TSC.latest, ["-p", join(root, "tsconfig.build.json"), "--outDir", join(pkg, "dist"), "--sourceMap", "false", "--inlineSources", "false"]);
    if (build.trim() !== "") throw new Error(`npm run build failed:\n${build}`);
    cpSync(join(root, "package.json"), join(pkg, "package.json"));
    // Its dependencies, and the type packages a consumer installs beside the optional drivers.
    for (const dep of ["@standard-schema", "@types"]) symlinkSync(join(root, "node_modules", dep), join(project, "node_modules", dep), "dir");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    cpSync(consumersDir, join(project, "src"), { recursive: true });
    for (const name of RUN) {
      const config = CONFIGS[name];
      if (!config) continue;
      writeFileSync(join(project, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: { ...config.options, noEmit: true }, include: ["src"] }));
      results.set(name, parse(await tsc(TSC[config.ts], ["-p", `tsconfig.${name}.json`, "--pretty", "false"])));
    }
  } catch (err) {
    buildError = err;
  }
}, 600_000);

afterAll(() => rmSync(project, { recursive: true, force: true }));

function diagnostics(config: string): Diagnostic[] {
  if (buildError) throw buildError instanceof Error ? buildError : new Error("building the consumer project failed", { cause: buildError });
  const list = results.get(config);
  if (!list) throw new Error(`config ${config} did not run`);
  return list;
}

const show = (d: Diagnostic) => `${d.file}:${d.line} ${d.code} ${d.text}`;

describe("consumer types against the built package", () => {
  it("tags and KNOWN_FAILURES name the same lines", () => {
    expect([...tags.keys()].sort()).toEqual(KNOWN_FAILURES.map((k) => k.id).sort());
  });

  describe.each(RUN)("tsconfig %s", (config) => {
    it("compiles every consumer file, except the known failures", () => {
      const known = new Set(KNOWN_FAILURES.filter((k) => k.configs.includes(config)).map((k) => tags.get(k.id)).map((t) => t && `src/${t.file}:${t.line}`));
      const unexpected = diagnostics(config).filter((d) => !known.has(`${d.file}:${d.line}`));
      expect(unexpected.map(show)).toEqual([]);
    });

    it.each(KNOWN_FAILURES.map((k) => [k.issue, k.id, k] as const))("[%s] known failure %s: fails under the configs listed, compiles under the others (red once fixed: remove it from KNOWN_FAILURES)", (_issue, id, known) => {
      const where = tags.get(id);
      expect(where, `no "// known: ${id}" tag in consumers/`).toBeDefined();
      const here = diagnostics(config).filter((d) => d.file === `src/${where?.file}` && d.line === where?.line);
      if (known.configs.includes(config)) expect(here.length, `${id} compiles now under ${config}: ${known.cause}`).toBeGreaterThan(0);
      else expect(here.map(show)).toEqual([]);
    });
  });
});
