import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The core in a browser: src/index.ts, src/function.ts, src/core and the automatic tracer compiled file by file (as tsc builds
// dist), served to headless Chromium from memory, and the seed's simple workflow run there.
const CHROMIUM = "/usr/bin/chromium";
const root = join(import.meta.dirname, "../..");
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must install it (apt-get install -y chromium, see .ci/run).`);
  console.warn(`\n!!! ${CHROMIUM} is missing: the browser test of the core is SKIPPED. Install it with: apt-get install -y chromium\n`);
}

const ORIGIN = "http://stepwise.test";

function compiledCore(): Map<string, string> {
  const files = new Map<string, string>();
  const add = (file: string) => {
    const out = ts.transpileModule(readFileSync(file, "utf8"), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, verbatimModuleSyntax: true },
      fileName: file,
    });
    files.set(`/${relative(join(root, "src"), file).replace(/\.ts$/, ".js")}`, out.outputText);
  };
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.isDirectory()) walk(join(dir, d.name));
      else if (d.name.endsWith(".ts")) add(join(dir, d.name));
    }
  };
  walk(join(root, "src/core"));
  add(join(root, "src/index.ts"));
  add(join(root, "src/function.ts"));
  // src/index.ts installs the automatic tracer (it loads @opentelemetry/api only under Node, once a provider is registered).
  add(join(root, "src/otel/auto.ts"));
  add(join(root, "src/otel/tracer.ts"));
  return files;
}

let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!available) return;
  profile = mkdtempSync(join(tmpdir(), "stepwise-chromium-core-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe.skipIf(!available)("the core in headless Chromium", () => {
  it("runs the seed's simple workflow, streaming its events, with no Node module", async () => {
    const files = compiledCore();
    const page = await context.newPage();
    const errors: string[] = [];
    const missing: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.route(`${ORIGIN}/**`, async (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === "/") return route.fulfill({ contentType: "text/html", body: "<!doctype html><title>stepwise</title>" });
      const body = files.get(path);
      if (body === undefined) {
        missing.push(path);
        return route.fulfill({ status: 404, body: "" });
      }
      return route.fulfill({ contentType: "text/javascript", body });
    });
    await page.goto(`${ORIGIN}/`);
    // Plain JavaScript as the page gets it: the test runner would rewrite a function's import().
    const result: unknown = await page.evaluate(`(async () => {
      const { Workflow, Event, StartEvent, StopEvent, createWorkflow, step } = await import("${ORIGIN}/index.js");
      class SecondStepEvent extends Event {}
      const wf = new Workflow({ timeout: 10 })
        .addStep({ accepts: StartEvent, emits: SecondStepEvent }, async function start(ev, ctx) {
          ctx.writeEventToStream(new SecondStepEvent({ payload: "seen " + ev.payload }));
          return new SecondStepEvent({ payload: ev.payload });
        })
        .addStep({ accepts: SecondStepEvent, emits: StopEvent }, async function secondStep(ev) {
          return new StopEvent({ result: ev.payload });
        });
      const handler = wf.run({ payload: "hello world" });
      const streamed = [];
      for await (const ev of handler.streamEvents()) streamed.push(ev.constructor.name);
      const fn = createWorkflow({ name: "fn", steps: { echo: step({ accepts: StartEvent, emits: StopEvent }, (ev) => new StopEvent({ result: "fn " + ev.payload })) } });
      return { result: await handler, streamed, node: typeof globalThis.process, fn: await fn.run({ payload: "hi" }) };
    })()`);
    expect(missing).toEqual([]);
    expect(errors).toEqual([]);
    expect(result).toEqual({ result: "hello world", streamed: ["SecondStepEvent", "StopEvent"], node: "undefined", fn: "fn hi" });
  }, 60_000);
});
