import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../stores/helpers.js";
import { NASTY } from "../fixtures/cli/hostile.js";
import { inTerminal, screen, stepwise } from "./helpers.js";

const APPROVAL = "examples/human-approval.ts";
const YES = '{"type":"HumanResponseEvent","data":{"response":"yes"}}';
const ESC = "\u001b";
const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;
const db = () => join(tmp.dir, `runs-${++n}.db`);
const runIdIn = (text: string) => /stepwise runs send ([0-9a-f-]{36})/.exec(text)?.[1];

describe("stepwise run: a run that asks for input", () => {
  it("without a terminal, is left waiting (exit 3) and says how to answer; runs send answers it from another process", async () => {
    const store = db();
    const r = await stepwise(["run", APPROVAL, "--input", '{"customer":"Ada","amount":7}', "--store", store]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('waits for an answer to "Refund 7 EUR');
    const runId = runIdIn(r.stderr);
    expect(runId).toBeDefined();
    expect(r.stderr).toContain(`stepwise runs send ${runId} --event '{"type":"HumanResponseEvent","data":{"response":"…"}}' --store ${store}`);
    const listed = await stepwise(["runs", "list", "--store", store, "--json"]);
    expect(JSON.parse(listed.stdout.trim())).toMatchObject({ runId, status: "waiting" });
    // No --file: the store remembers which file `stepwise run` ran the workflow from.
    const sent = await stepwise(["runs", "send", runId!, "--event", YES, "--store", store]);
    expect(sent.stderr).toBe("");
    expect(sent.stdout).toBe("Refunded 7 EUR (drafted 1x).\n");
    expect(sent.code).toBe(0);
    const again = await stepwise(["runs", "send", runId!, "--event", YES, "--store", store]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/\[RUN_FINISHED\]/);
  }, 60_000);

  it("with --json, ends with a waiting line naming the run and the question", async () => {
    const r = await stepwise(["run", APPROVAL, "--input", '{"customer":"Bo","amount":3}', "--store", db(), "--json"]);
    expect(r.code).toBe(3);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, string>;
    expect(last).toMatchObject({ kind: "waiting", question: expect.stringContaining("Refund 3 EUR") as string });
    expect(last.answer).toContain(`stepwise runs send ${last.runId}`);
  });

  it("without a store it cannot wait: fails with INPUT_REQUIRED saying what to do", async () => {
    const r = await stepwise(["run", APPROVAL, "--input", '{"customer":"Ada","amount":7}', "--no-store"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[INPUT_REQUIRED\]: The run asked "Refund 7 EUR.*Run it in a terminal, or journal it/);
  });

  it("on a terminal, asks the question, sends the answer and finishes", async () => {
    const store = db();
    const r = await inTerminal(["run", APPROVAL, "--input", '{"customer":"Cy","amount":9}', "--store", store], { when: /◆\s+Refund 9 EUR/, keys: "yes\r" });
    const lines = await screen(r.raw);
    expect(lines.at(-1)).toBe("Refunded 9 EUR (drafted 1x).");
    expect(r.code).toBe(0);
  }, 60_000);

  it("on a terminal with --no-input, does not ask: the run is left waiting", async () => {
    const r = await inTerminal(["run", APPROVAL, "--input", '{"customer":"Di","amount":4}', "--store", db(), "--no-input"]);
    expect(r.code).toBe(3);
    expect((await screen(r.raw)).join("\n")).toMatch(/waits for an answer to "Refund 4 EUR/);
  }, 60_000);
});

describe("stepwise runs send: bad input exits 2", () => {
  it("explains each mistake", async () => {
    const store = db();
    const first = await stepwise(["run", APPROVAL, "--input", '{"customer":"Ed","amount":1}', "--store", store]);
    const runId = runIdIn(first.stderr)!;
    const cases: [string[], RegExp][] = [
      [["--event", "{"], /not valid JSON/],
      [["--event", '{"type":"Nope","data":{}}'], /an event type RefundApproval knows/],
      [["--event", '{"type":"HumanResponseEvent","data":[1]}'], /"data" must be a JSON object/],
      [[], /required option '-e, --event <json>'/],
    ];
    for (const [args, message] of cases) {
      const r = await stepwise(["runs", "send", runId, "--store", store, ...args]);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
    }
    const unknown = await stepwise(["runs", "send", "no-such-run", "--store", store, "--event", YES]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no run "no-such-run"/);
  }, 60_000);
});

describe("stepwise runs list and show", () => {
  it("open the store read-only: the file is byte for byte the same afterwards", async () => {
    const store = db();
    await stepwise(["run", "test/fixtures/cli/greeter.ts", "--input", '{"name":"Ada"}', "--store", store]);
    const hash = () => createHash("sha256").update(readFileSync(store)).digest("hex");
    const before = hash();
    const list = await stepwise(["runs", "list", "--store", store, "--json"]);
    const runId = (JSON.parse(list.stdout.trim()) as { runId: string }).runId;
    expect((await stepwise(["runs", "show", runId, "--store", store])).code).toBe(0);
    expect(hash()).toBe(before);
    expect(existsSync(`${store}-wal`) ? readFileSync(`${store}-wal`).length : 0).toBe(0);
  }, 60_000);

  it("do not turn an empty SQLite file into a store", async () => {
    const empty = join(tmp.dir, "empty.db");
    new Database(empty).close();
    const r = await stepwise(["runs", "list", "--store", empty]);
    expect(r.code).toBe(2);
    const check = new Database(empty);
    expect(check.prepare("SELECT count(*) FROM sqlite_master").pluck().get()).toBe(0);
    check.close();
  });

  it("refuse a --limit that is huge, fractional or not a number, with exit 2", async () => {
    const store = db();
    await stepwise(["run", "test/fixtures/cli/greeter.ts", "--input", '{"name":"Ada"}', "--store", store]);
    for (const limit of ["99999999999999999999", "1e3", "0"]) {
      const r = await stepwise(["runs", "list", "--store", store, "--limit", limit]);
      expect(r.stderr).toMatch(/--limit must be a whole number from 1 to 100000/);
      expect(r.code).toBe(2);
    }
    expect((await stepwise(["runs", "list", "--store", store, "--limit", "100000"])).code).toBe(0);
  }, 60_000);
});

describe("control characters from workflows never reach the terminal raw", () => {
  const raw = (s: string) => s.includes(ESC) || s.includes("\u009b") || s.includes("\u202e");

  it("in plain progress, the result, the error, runs show and JSON lines", async () => {
    const store = db();
    const ok = await stepwise(["run", "test/fixtures/cli/hostile.ts", "--store", store]);
    expect(ok.code).toBe(0);
    expect(raw(ok.stdout) || raw(ok.stderr)).toBe(false);
    expect(ok.stdout).toContain("done \\u001b[2J\\u001b]0;pwned");
    expect(ok.stderr).toContain("step go\\u001b[5m running");
    const failed = await stepwise(["run", "test/fixtures/cli/hostile.ts", "--input", '{"fail":true}', "--store", store]);
    expect(failed.code).toBe(1);
    expect(raw(failed.stderr)).toBe(false);
    expect(failed.stderr).toContain("boom \\u001b[2J");
    const list = await stepwise(["runs", "list", "--store", store, "--json"]);
    for (const line of list.stdout.trim().split("\n")) {
      expect(raw(line)).toBe(false);
      const shown = await stepwise(["runs", "show", (JSON.parse(line) as { runId: string }).runId, "--store", store]);
      expect(raw(shown.stdout)).toBe(false);
    }
    // JSON output stays valid JSON with the same value.
    const json = await stepwise(["run", "test/fixtures/cli/hostile.ts", "--no-store", "--json"]);
    expect(raw(json.stdout)).toBe(false);
    const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as { kind: string; result?: string; event?: { data: { text: string } } });
    expect(lines.find((l) => l.kind === "stream")?.event?.data.text).toBe(NASTY);
    expect(lines.at(-1)?.result).toBe(`done ${NASTY}`);
    // Input echoed back in an error message is escaped too.
    const bad = await stepwise(["run", "test/fixtures/cli/hostile.ts", "--input", `{${ESC}[2J`]);
    expect(bad.code).toBe(2);
    expect(raw(bad.stderr)).toBe(false);
  }, 60_000);

  it("in the live view", async () => {
    const r = await inTerminal(["run", "test/fixtures/cli/hostile.ts", "--no-store"]);
    expect(r.code).toBe(0);
    expect(r.raw).not.toContain(`${ESC}[2J`);
    expect(r.raw).not.toContain(`${ESC}]0;`);
    expect(r.raw).not.toContain(`${ESC}[5m`);
    expect(r.raw).not.toContain("\u009b");
  }, 60_000);
});

describe("the live view and what steps print", () => {
  it("keeps console.log and stderr output above the live block instead of erasing it", async () => {
    const r = await inTerminal(["run", "test/fixtures/cli/chatty.ts", "--no-store"]);
    expect(r.code).toBe(0);
    const lines = await screen(r.raw);
    for (const text of ["user line one", "user line two, on stderr", "user line three"]) expect(lines).toContain(text);
    expect(lines.indexOf("user line one")).toBeLessThan(lines.indexOf("user line three"));
    expect(lines.at(-1)).toBe("chatty done");
    // The block is drawn once at the end, below what the steps printed.
    expect(lines.filter((l) => l.startsWith("Chatty")).length).toBe(1);
    expect(lines.findIndex((l) => l.startsWith("Chatty"))).toBeGreaterThan(lines.indexOf("user line three"));
  }, 60_000);
});
