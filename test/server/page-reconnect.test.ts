import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Asker } from "./fixtures.js";

const CHROMIUM = "/usr/bin/chromium";
const have = existsSync(CHROMIUM);
if (!have) {
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must install it (apt-get install -y chromium, see .ci/run).`);
  console.warn(`\n!!! ${CHROMIUM} is missing: the browser test of the page's reconnects is SKIPPED. Install it with: apt-get install -y chromium\n`);
}

let running: RunningServer;
let context: BrowserContext;
let profile: string;
beforeAll(async () => {
  if (!have) return;
  running = await serve(createServer({ workflows: { asker: new Asker({ timeout: null }) } }), { port: 0, graceSeconds: 0 });
  profile = mkdtempSync(join(tmpdir(), "stepwise-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}, 60_000);
afterAll(async () => {
  await context?.close();
  await running?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe.skipIf(!have)("the page's event stream", () => {
  it("keeps following a run across more cut connections than its retry bound when each one worked (a proxy that ends streams)", { timeout: 60_000 }, async () => {
    const page = await context.newPage();
    // The first 21 connections deliver a heartbeat, then end, as a proxy ending every stream after a while.
    let cut = 0;
    await page.route("**/runs/*/events", (route) => (cut++ < 21 ? route.fulfill({ status: 200, contentType: "text/event-stream", body: ": heartbeat\n\n" }) : route.continue()));
    await page.goto(`${running.url}/`);
    await page.getByRole("button", { name: "asker" }).click();
    await page.locator('#start input[name="topic"]').or(page.locator("#start textarea")).first().waitFor();
    const textarea = page.locator("#start textarea");
    if (await textarea.count()) await textarea.fill('{"topic":"tea"}');
    else await page.locator('#start input[name="topic"]').fill("tea");
    await page.getByRole("button", { name: "Start run" }).click();
    await page.locator("form.ask").waitFor({ timeout: 30_000 });
    expect(cut).toBeGreaterThan(21);
    expect(await page.locator("form.ask").textContent()).toContain("What about tea?");
  });
});
