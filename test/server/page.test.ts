import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, serve, type RunningServer } from "stepwise-ai/server";
import { Asker, Greeter } from "./fixtures.js";

const CHROMIUM = "/usr/bin/chromium";
const have = existsSync(CHROMIUM);
if (!have) {
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must install it (apt-get install -y chromium, see .ci/run).`);
  console.warn(`\n!!! ${CHROMIUM} is missing: the browser test of the server page is SKIPPED. Install it with: apt-get install -y chromium\n`);
}
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts");

let running: RunningServer;
let context: BrowserContext;
let profile: string;
beforeAll(async () => {
  if (!have) return;
  // The queues option as a BullMQ deployment passes it (queueStats); here figures that move with each call.
  let calls = 0;
  const queues = () => [{ queue: "Research", waiting: ++calls, active: 1, delayed: 0, failed: 0, completed: 5, workers: 2, steps: { callModel: { waiting: calls, active: 1, failed: 0 } } }];
  running = await serve(createServer({ workflows: { asker: new Asker({ timeout: null }), greeter: new Greeter() }, auth: { token: "page-token" }, queues }), { port: 0, graceSeconds: 0 });
  profile = mkdtempSync(join(tmpdir(), "stepwise-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await context?.close();
  await running?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe.skipIf(!have)("the page at /", () => {
  it("starts a run from its form, answers the run's question in place and shows the result", { timeout: 60_000 }, async () => {
    const page = await context.newPage();
    const offline: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(running.url)) offline.push(r.url());
    });
    page.on("dialog", (d) => void d.accept("page-token"));
    await page.goto(`${running.url}/`);
    await page.getByRole("button", { name: "greeter" }).click();
    // The form comes from Greet's JSON Schema: a text field for name, a number for times.
    await expect.poll(() => page.locator('#start input[name="times"]').getAttribute("type")).toBe("number");
    await page.getByRole("button", { name: "asker" }).click();
    await page.locator('#start input[name="topic"]').or(page.locator("#start textarea")).first().waitFor();
    const textarea = page.locator("#start textarea");
    if (await textarea.count()) await textarea.fill('{"topic":"tea"}');
    await page.getByRole("button", { name: "Start run" }).click();
    await page.locator("form.ask").waitFor();
    expect(await page.locator("form.ask").textContent()).toContain("What about tea?");
    await page.screenshot({ path: join(ARTIFACTS, "server-page-question.png") });
    await page.locator('form.ask input[name="response"]').fill("green");
    await page.getByRole("button", { name: "Send" }).click();
    await expect.poll(() => page.locator("#status").textContent()).toBe("completed");
    expect(await page.locator("#result").textContent()).toBe('"you said green"');
    expect(await page.locator("#events li").allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining("Question"), expect.stringContaining("StopEvent")]));
    await page.screenshot({ path: join(ARTIFACTS, "server-page-result.png") });
    await page.getByRole("button", { name: "Past runs" }).click();
    await page.locator("#status-filter").selectOption("completed");
    await expect.poll(() => page.locator("table tr").count()).toBe(2);
    await page.screenshot({ path: join(ARTIFACTS, "server-page-runs.png") });
    // The queue view: a row per queue and per step, as the server's queues option answers them.
    await page.getByRole("button", { name: "Queues" }).click();
    await expect.poll(() => page.locator("#queues tr").count()).toBe(3);
    const cells = await page.locator("#queues tr").nth(1).locator("td").allTextContents();
    expect(cells[0]).toBe("Research");
    expect(Number(cells[1])).toBeGreaterThanOrEqual(1);
    expect(cells.slice(2)).toEqual(["1", "0", "0", "5", "2"]);
    expect((await page.locator("#queues tr").nth(2).locator("td").first().textContent())?.trim()).toBe("callModel");
    await page.screenshot({ path: join(ARTIFACTS, "server-page-queues.png") });
    expect(offline).toEqual([]);
  });
});
