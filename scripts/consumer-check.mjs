// The package as a newcomer gets it: pack it, install the tarball in an empty project, and
// - measure the lean install (size, cold `import "stepwise-ai"`), and check that a missing
//   optional package is an error naming its install command;
// - compile a consumer file under plain `strict` and run it;
// - run `npx stepwise run` on a plain JavaScript example;
// - run the README's quick start as written (its code blocks, in order).
// Exits 1 naming the first step that failed.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "stepwise-consumer-"));
const project = join(work, "project");
const keep = process.env.KEEP_CONSUMER === "1";

function sh(command, options = {}) {
  console.log(`$ ${command}`);
  const r = spawnSync("bash", ["-c", command], { cwd: project, encoding: "utf8", env: { ...process.env, CI: "true", NO_COLOR: "1" }, ...options });
  if (options.expectFail) return r;
  if (r.status !== 0) fail(`"${command}" exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r;
}
function fail(message) {
  console.error(`FAIL ${message}`);
  console.error(`(the project is in ${project})`);
  process.exit(1);
}
const ok = (message) => console.log(`ok   ${message}`);

// 1. Pack (prepack builds) and install into an empty ESM project, with no optional peer.
const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));
const tarball = join(work, packed[0].filename);
mkdirSync(project);
sh("npm init -y >/dev/null && npm pkg set type=module");
sh(`npm install --no-audit --no-fund ${tarball}`);
// Bytes of the files (what npm calls unpacked size), and what they take on this disk.
const kb = Number(execFileSync("du", ["-sk", "--apparent-size", "node_modules"], { cwd: project, encoding: "utf8" }).split("\t")[0]);
const diskKb = Number(execFileSync("du", ["-sk", "node_modules"], { cwd: project, encoding: "utf8" }).split("\t")[0]);
// Wall time depends on what else the machine does; CPU time of the import less so. Printed, never asserted.
const runs = [];
for (let i = 0; i < 9; i++) {
  const out = sh(`node --input-type=module -e "const c = process.cpuUsage(); const t = performance.now(); await import('stepwise-ai'); const u = process.cpuUsage(c); console.log(performance.now() - t, (u.user + u.system) / 1000)"`).stdout;
  runs.push(out.trim().split(" ").map(Number));
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [load1] = (await import("node:os")).loadavg();
console.log(`installed size: ${(kb / 1024).toFixed(2)} MB of files (${(diskKb / 1024).toFixed(2)} MB on disk), node_modules of a project with only stepwise-ai`);
console.log(`cold import "stepwise-ai": median ${med(runs.map((r) => r[0])).toFixed(1)} ms wall, ${med(runs.map((r) => r[1])).toFixed(1)} ms CPU, over ${runs.length} fresh processes (load average ${load1.toFixed(1)})`);
if (kb > 2048) fail(`the lean install is ${(kb / 1024).toFixed(2)} MB, over the 2 MB goal`);

// 2. Missing optional packages: errors that say what to install.
const sqlite = sh(`node --input-type=module -e "import { SqliteStore } from 'stepwise-ai/sqlite'; try { new SqliteStore('x.db') } catch (e) { console.log(e.code, e.message) }"`).stdout;
if (!sqlite.includes("MISSING_DEPENDENCY") || !sqlite.includes("npm install better-sqlite3@")) fail(`SqliteStore without better-sqlite3 said: ${sqlite}`);
const pg = sh(`node --input-type=module -e "import { PostgresStore } from 'stepwise-ai/postgres'; try { new PostgresStore('postgres://x') } catch (e) { console.log(e.code, e.message) }"`).stdout;
if (!pg.includes("MISSING_DEPENDENCY") || !pg.includes("npm install pg@")) fail(`PostgresStore without pg said: ${pg}`);
const draw = sh(`node --input-type=module -e "import { drawAllPossibleFlows, toMermaid } from 'stepwise-ai/draw'; import { Workflow, StartEvent, StopEvent } from 'stepwise-ai'; const w = new Workflow({ name: 'W' }).addStep({ accepts: StartEvent, emits: StopEvent }, async function go() { return new StopEvent({ result: 1 }) }); console.log(toMermaid(w).split('\\n')[0]); try { drawAllPossibleFlows(w) } catch (e) { console.log(e.code, e.message) }"`).stdout;
if (!draw.startsWith("flowchart") || !draw.includes("npm install elkjs@")) fail(`drawing without elkjs said: ${draw}`);
ok("missing optional packages (better-sqlite3, pg, elkjs) are MissingDependencyError with the install command; Mermaid works without elkjs");

// 3. The command on plain JavaScript needs nothing more; on TypeScript it says to install tsx.
writeFileSync(join(project, "doubler.mjs"), readFileSync(join(root, "test/fixtures/cli/plain.mjs")));
const plain = sh(`npx stepwise run doubler.mjs --input '{"n":21}' --no-store`);
if (plain.stdout.trim() !== '{"doubled":42}') fail(`npx stepwise run doubler.mjs printed ${plain.stdout}`);
ok("npx stepwise run on a plain JavaScript example");
writeFileSync(join(project, "typed.ts"), "export {};\n");
const noTsx = sh("npx stepwise run typed.ts", { expectFail: true });
if (noTsx.status !== 2 || !noTsx.stderr.includes("npm install tsx@")) fail(`a .ts file without tsx: exit ${noTsx.status}, ${noTsx.stderr}`);
ok("a TypeScript file without tsx: exit 2, naming the install command");

// 4. A consumer file compiled under plain strict (the package's own types, no skipLibCheck), then run.
writeFileSync(
  join(project, "consumer.ts"),
  `import { Context, Event, StartEvent, StopEvent, Workflow, WorkflowError, step, type InspectionEvent } from "stepwise-ai";
import { toMermaid, type DrawOptions } from "stepwise-ai/draw";
import type { SqliteStoreOptions } from "stepwise-ai/sqlite";
import type { PostgresStoreOptions } from "stepwise-ai/postgres";

class Asked extends Event<{ q: string }> {}
export class Answer extends Workflow<{ q: string }, string> {
  @step({ accepts: StartEvent, emits: Asked })
  async ask(ev: StartEvent<{ q: string }>, ctx: Context): Promise<Asked> {
    ctx.store.set("asked", true);
    return new Asked({ q: ev.q });
  }
  @step({ accepts: Asked, emits: StopEvent })
  async answer(ev: Asked): Promise<StopEvent> {
    return new StopEvent({ result: "42 is the answer to " + ev.q });
  }
}
const seen: InspectionEvent["kind"][] = [];
const handler = new Answer({ timeout: 5 }).run({ q: "life" });
handler.inspect((e) => seen.push(e.kind));
const result: string = await handler;
const options: [DrawOptions, SqliteStoreOptions, PostgresStoreOptions] = [{}, { synchronous: "FULL" }, { schema: "s" }];
console.log(result, seen.includes("step_finished"), toMermaid(Answer).startsWith("flowchart"), options.length, new WorkflowError("x").code);
`,
);
writeFileSync(
  join(project, "tsconfig.json"),
  JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", outDir: "out", typeRoots: [join(root, "node_modules/@types")], types: ["node"] }, files: ["consumer.ts"] }),
);
sh(`node ${join(root, "node_modules/typescript/bin/tsc")} -p tsconfig.json`);
const consumer = sh("node out/consumer.js").stdout.trim();
if (consumer !== "42 is the answer to life true true 3 WORKFLOW_ERROR") fail(`the compiled consumer printed ${consumer}`);
ok("a consumer file compiles under plain strict (no skipLibCheck) and runs");

// 5. The README's quick start, as written: shell blocks line by line (stepwise-ai from the tarball), TypeScript blocks as the files they name.
const readme = readFileSync(join(root, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("<!-- quickstart -->"), readme.indexOf("<!-- /quickstart -->"));
const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang, body }));
if (blocks.length < 4) fail(`the README's quick start has ${blocks.length} code blocks`);
const quick = join(work, "quickstart");
mkdirSync(quick);
let said = "";
for (const { lang, body } of blocks) {
  if (lang === "ts") {
    const name = /^\/\/ (\S+\.ts)/.exec(body)?.[1];
    if (!name) fail(`a TypeScript block of the quick start does not start with "// file.ts": ${body.slice(0, 60)}`);
    writeFileSync(join(quick, name), body);
    continue;
  }
  for (const line of body.split("\n")) {
    const command = line.replace(/\s+#.*$/, "").trim();
    if (!command) continue;
    const out = sh(command.replace(/\bnpm install stepwise-ai\b/, `npm install --no-audit --no-fund ${tarball}`).replace(/^npm install (?!--)/, "npm install --no-audit --no-fund "), { cwd: quick }).stdout;
    if (!command.startsWith("npm ")) process.stdout.write(out);
    said += out;
  }
}
for (const expected of ["Hello, Ada!\n", "progress: drafting for Ada", "Hello, Bo!", "  Hello     completed"]) {
  if (!said.includes(expected)) fail(`the quick start's commands did not print "${expected}": ${said}`);
}
if (!readFileSync(join(quick, "hello.html"), "utf8").includes("<html")) fail("the quick start drew no hello.html");
ok("the README's quick start runs as written (install, run, stream, draw, durable)");

if (!keep) rmSync(work, { recursive: true, force: true });
console.log("consumer check passed");
