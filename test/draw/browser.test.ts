import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFlowsDocument, drawAllPossibleFlows, drawMostRecentExecution } from "stepwise-ai/draw";
import { ComplexTradeMonitorV2 } from "../../examples/complex-trade-monitor-v2.js";
import { TradeMonitorWorkflow } from "../../examples/trade-monitor.js";

const CHROMIUM = "/usr/bin/chromium";
const root = join(import.meta.dirname, "../..");
const artifacts = join(root, "test-artifacts");
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must install it (apt-get install -y chromium, see .ci/run).`);
  console.warn(`\n!!! ${CHROMIUM} is missing: the browser tests of stepwise/draw are SKIPPED. Install it with: apt-get install -y chromium\n`);
}

const VIEWPORT = { width: 1280, height: 800 };
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(artifacts, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), "stepwise-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: VIEWPORT,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Opens a drawing offline and waits until the page has laid it out. */
async function open(file: string) {
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await context.setOffline(true);
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector("body[data-rendered=true]", { timeout: 15_000 });
  return { page, requests, errors };
}

/**
 * The smallest text on the page in CSS px as rendered (SVG text scaled with its drawing), and
 * the characters that render as the missing-glyph box: a character no font has is drawn as
 * .notdef, so it measures exactly like a code point that no font can have.
 */
async function textReport(page: Page): Promise<{ minPx: number; texts: number; missing: string[]; controlMissing: boolean }> {
  // A string, run in the page: the test files are type-checked without the DOM library.
  return page.evaluate(`(() => {
    let minPx = Infinity;
    let texts = 0;
    for (const t of document.querySelectorAll("svg text")) {
      const svg = t.ownerSVGElement;
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      minPx = Math.min(minPx, parseFloat(getComputedStyle(t).fontSize) * scale);
      texts++;
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let chars = "";
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim() || n.parentElement.closest("script,title")) continue;
      chars += n.textContent;
      if (!n.parentElement.closest("svg")) minPx = Math.min(minPx, parseFloat(getComputedStyle(n.parentElement).fontSize));
    }
    const ctx = document.createElement("canvas").getContext("2d");
    const missingIn = (c, font) => {
      ctx.font = font;
      return ctx.measureText(c).width === ctx.measureText("\\u{10FFFD}").width;
    };
    const fonts = ["600 15px system-ui, sans-serif", "13px system-ui, sans-serif"];
    const missing = [...new Set(chars)].filter((c) => c.codePointAt(0) > 0x7f && fonts.every((f) => missingIn(c, f)));
    return { minPx, texts, missing, controlMissing: missingIn("\\u{10FFFD}", fonts[0]) };
  })()`);
}

describe.skipIf(!available)("drawings in headless Chromium", () => {
  it("shows every node of TradeMonitorWorkflow on screen, offline", async () => {
    const file = drawAllPossibleFlows(TradeMonitorWorkflow, { filename: join(artifacts, "trade-monitor-flows.html") });
    const { page, requests, errors } = await open(file);
    const model = buildFlowsDocument(TradeMonitorWorkflow).graphs[0]!;
    const nodes = page.locator("section#main g.node");
    expect(await nodes.count()).toBe(model.nodes.length);
    const drawnIds = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute("data-id")));
    expect(drawnIds.sort()).toEqual(model.nodes.map((n) => n.id).sort());
    for (const node of await nodes.all()) {
      const box = (await node.boundingBox())!;
      expect(box.width).toBeGreaterThan(20);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(VIEWPORT.width);
      expect(box.y + box.height).toBeLessThanOrEqual(VIEWPORT.height);
    }
    // Every edge of the model is drawn, and nodes do not overlap.
    expect(await page.locator("section#main path.edge").count()).toBeGreaterThanOrEqual(model.edges.length);
    const boxes = await Promise.all((await nodes.all()).map(async (n) => (await n.boundingBox())!));
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        expect(a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y).toBe(true);
      }
    // StartEvent and StopEvent stand out from ordinary events.
    const strokeOf = (id: string) => page.locator(`g.node[data-id="${id}"] rect`).first().getAttribute("stroke-width");
    expect(Number(await strokeOf("event:StartEvent"))).toBeGreaterThan(Number(await strokeOf("event:BuyEvent")));
    expect(Number(await strokeOf("event:StopEvent"))).toBeGreaterThan(Number(await strokeOf("event:BuyEvent")));
    expect(await page.locator('g.node[data-id="step:begin"] text').first().textContent()).toBe("begin");
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(artifacts, "trade-monitor-flows.png") });
    await page.close();
  }, 30_000);

  it("renders the drawing of a run, with its timeline", async () => {
    const h = new TradeMonitorWorkflow({ totalCycle: 2, speed: 0.001, log: () => {}, random: () => 0.1 }).run({ payload: "AAPL" });
    await h;
    const file = drawMostRecentExecution(h, { filename: join(artifacts, "trade-monitor-run.html") });
    const { page, requests, errors } = await open(file);
    const ids = await page.locator("section#main g.node").evaluateAll((els) => els.map((e) => e.getAttribute("data-id")));
    expect(ids).toContain("step:sell");
    expect(ids).not.toContain("step:buy");
    expect(await page.locator('g.node[data-id="step:begin"]').textContent()).toContain("ran ×3");
    expect(await page.locator("table tbody tr").count()).toBeGreaterThan(10);
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(artifacts, "trade-monitor-run.png"), fullPage: true });
    const text = await textReport(page);
    expect(text.minPx).toBeGreaterThanOrEqual(12);
    expect(text.missing).toEqual([]);
    await page.close();
  }, 30_000);

  it("renders all text at 12 px or more and every glyph, the nested-workflow icon included, at default zoom", async () => {
    for (const [name, target] of [["trade-monitor", TradeMonitorWorkflow], ["complex-v2", ComplexTradeMonitorV2]] as const) {
      const file = drawAllPossibleFlows(target, { filename: join(artifacts, `${name}-text.html`) });
      const { page, errors } = await open(file);
      const text = await textReport(page);
      expect(text.texts).toBeGreaterThan(5);
      expect(text.controlMissing).toBe(true); // the detector itself works
      expect(text.minPx).toBeGreaterThanOrEqual(12);
      expect(text.missing).toEqual([]);
      expect(errors).toEqual([]);
      if (name === "complex-v2") {
        // The nested TradeStation is a workflow node with a drawn icon, not a font glyph.
        const nested = page.locator('section#main g.node[data-kind="workflow"]');
        expect(await nested.count()).toBeGreaterThan(0);
        expect(await nested.first().locator("g.icon-workflow rect").count()).toBe(2);
        expect(await nested.first().textContent()).not.toMatch(/[\u2900-\u2bff]/);
        await page.screenshot({ path: join(artifacts, "complex-v2-flows.png") });
      }
      await page.close();
    }
  }, 60_000);
});
