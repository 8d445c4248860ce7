/**
 * The page at `/`: the served workflows with their drawings, a start form from each StartEvent's
 * JSON Schema, a run view with events arriving live (answering an InputRequiredEvent in place),
 * and past runs. One HTML file with its script inline: no framework, no CDN, works offline.
 * Every value from the API is put in the page as text, never as HTML.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>stepwise</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;display:grid;grid-template-columns:220px 1fr;min-height:100vh;color:#1d2433}
nav{background:#f3f5f9;padding:12px;border-right:1px solid #dde2ea}nav h1{font-size:18px;margin:0 0 12px}
nav button{display:block;width:100%;text-align:left;margin:2px 0;padding:6px 8px;border:0;border-radius:6px;background:none;cursor:pointer}
nav button.on,nav button:hover{background:#dfe6f3}main{padding:16px 24px;overflow:auto}
section{margin-bottom:24px}h2{font-size:16px;margin:8px 0}label{display:block;margin:6px 0}label span{display:inline-block;min-width:120px}
input,textarea,select{font:inherit;padding:4px 6px}textarea{width:100%;min-height:60px}
button.act{padding:6px 14px;border-radius:6px;border:1px solid #3b6fd8;background:#3b6fd8;color:#fff;cursor:pointer}
iframe{width:100%;height:340px;border:1px solid #dde2ea;border-radius:6px}
ol#events{font-family:ui-monospace,monospace;font-size:12px;background:#fafbfd;border:1px solid #dde2ea;border-radius:6px;padding:8px 8px 8px 40px;max-height:300px;overflow:auto}
.ask{background:#fff7e0;border:1px solid #f0c64a;border-radius:6px;padding:8px;margin:8px 0}.status{font-weight:600}
.completed{color:#1a7f37}.failed,.timed_out,.cancelled{color:#c62828}table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td a{cursor:pointer;color:#3b6fd8}.err{color:#c62828}
</style></head>
<body><nav><h1>stepwise</h1><div id="workflows"></div><hr><button id="show-runs">Past runs</button><button id="show-queues" hidden>Queues</button></nav>
<main><div id="error" class="err"></div><div id="view"><p>Choose a workflow.</p></div></main>
<script>
"use strict";
let token = sessionStorage.getItem("stepwise-token") || "";
const view = document.getElementById("view");
const el = (tag, props, ...kids) => { const e = document.createElement(tag); Object.assign(e, props || {}); for (const k of kids) e.append(k); return e; };
const showError = (msg) => { document.getElementById("error").textContent = msg || ""; };
const headers = (json) => Object.assign({}, token ? { Authorization: "Bearer " + token } : {}, json ? { "Content-Type": "application/json" } : {});
async function api(method, path, body) {
  const res = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) { token = prompt("This server needs a token:") || ""; sessionStorage.setItem("stepwise-token", token); return api(method, path, body); }
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ? data.error.code + ": " + data.error.message : "HTTP " + res.status);
  return data;
}
let workflows = [];
let reading = null;
async function load() {
  try { workflows = (await api("GET", "workflows")).workflows; } catch (e) { return showError(e.message); }
  const box = document.getElementById("workflows");
  for (const w of workflows) { const b = el("button", { textContent: w.name, onclick: () => showWorkflow(w) }); b.dataset.wf = w.name; box.append(b); }
}
function mark(name) { for (const b of document.querySelectorAll("nav button")) b.classList.toggle("on", b.dataset.wf === name); }
function showWorkflow(w) {
  stopReading(); showError(); mark(w.name);
  const fields = [];
  const form = el("form", { id: "start" });
  const props = w.inputSchema && w.inputSchema.properties;
  if (props) {
    for (const [name, s] of Object.entries(props)) {
      const t = Array.isArray(s.type) ? s.type[0] : s.type;
      const input = t === "boolean" ? el("input", { type: "checkbox", name }) : (t === "object" || t === "array") ? el("textarea", { name, value: t === "array" ? "[]" : "{}" }) : el("input", { name, type: t === "number" || t === "integer" ? "number" : "text", step: t === "integer" ? "1" : "any" });
      fields.push({ name, t, input, required: (w.inputSchema.required || []).includes(name) });
      form.append(el("label", {}, el("span", { textContent: name + (fields[fields.length - 1].required ? " *" : "") }), input));
    }
  } else {
    const input = el("textarea", { name: "input", value: "{}" });
    fields.push({ name: null, t: "json", input });
    form.append(el("label", {}, el("span", { textContent: "Input (JSON)" }), input));
  }
  form.append(el("button", { className: "act", type: "submit", textContent: "Start run" }));
  form.onsubmit = async (ev) => {
    ev.preventDefault(); showError();
    try {
      let input = {};
      for (const f of fields) {
        if (f.name === null) { input = JSON.parse(f.input.value || "{}"); continue; }
        if (f.t === "boolean") input[f.name] = f.input.checked;
        else if (f.input.value === "") continue;
        else if (f.t === "number" || f.t === "integer") input[f.name] = Number(f.input.value);
        else if (f.t === "object" || f.t === "array") input[f.name] = JSON.parse(f.input.value);
        else input[f.name] = f.input.value;
      }
      const { runId } = await api("POST", "workflows/" + encodeURIComponent(w.name) + "/runs", input);
      showRun(runId, w);
    } catch (e) { showError(e.message); }
  };
  view.replaceChildren(
    el("section", {}, el("h2", { textContent: w.name + " (" + w.workflow + ")" }), drawing(w)),
    el("section", {}, el("h2", { textContent: "Start a run" }), form),
  );
}
function drawing(w) {
  // Fetched with the token (an iframe's src could not send it), then shown sandboxed.
  const frame = el("iframe", { title: "drawing of " + w.name, sandbox: "allow-scripts" });
  fetch("workflows/" + encodeURIComponent(w.name) + "/drawing", { headers: headers(false) }).then((r) => r.text()).then((html) => { frame.srcdoc = html; }, () => {});
  return frame;
}
function stopReading() { if (reading) reading.abort(); reading = null; }
async function showRun(runId, w) {
  stopReading();
  const info = await api("GET", "runs/" + encodeURIComponent(runId)).catch((e) => (showError(e.message), null));
  if (!info) return;
  w = w || workflows.find((x) => x.name === info.workflow);
  mark(info.workflow);
  const status = el("span", { className: "status", id: "status", textContent: info.status });
  const events = el("ol", { id: "events" });
  const result = el("pre", { id: "result" });
  const asks = el("div", { id: "asks" });
  view.replaceChildren(el("section", {}, el("h2", { textContent: "Run " + runId }), el("p", {}, "Workflow " + info.workflow + " · status ", status), asks, events, el("h2", { textContent: "Result" }), result));
  const ctl = new AbortController(); reading = ctl;
  let last = 0;
  const onFrame = (event, data) => {
    if (event === "end") {
      status.textContent = data.status; status.className = "status " + data.status;
      result.textContent = data.status === "completed" ? JSON.stringify(data.result, null, 2) : (data.error ? data.error.message : data.status);
      asks.replaceChildren();
      return true;
    }
    if (event !== "message") return false;
    last = data.id;
    const from = data.origin ? " [" + data.origin.workflow + "]" : "";
    events.append(el("li", { value: data.id, textContent: data.type + from + " " + JSON.stringify(data.data) }));
    if (data.inputRequired) asks.append(askForm(runId, w, data));
    return false;
  };
  for (let tries = 0; tries < 20 && !ctl.signal.aborted; tries++) {
    try {
      const res = await fetch("runs/" + encodeURIComponent(runId) + "/events", { headers: Object.assign(headers(false), last ? { "Last-Event-ID": String(last) } : {}), signal: ctl.signal });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\\n\\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          tries = 0; // a frame (a heartbeat too): this connection worked, only failures in a row count
          let event = "message", data = null;
          for (const line of block.split("\\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data = JSON.parse(line.slice(6));
          }
          if (data && onFrame(event, data)) return;
        }
      }
    } catch (e) { if (ctl.signal.aborted) return; }
    await new Promise((r) => setTimeout(r, 500));
  }
}
function askForm(runId, w, entry) {
  const types = (w && w.externalEventTypes.length ? w.externalEventTypes : ["HumanResponseEvent"]);
  const type = el("select", { name: "type" }, ...types.map((t) => el("option", { value: t, textContent: t })));
  const answer = el("input", { name: "response", type: "text", placeholder: "your answer" });
  const form = el("form", { className: "ask" }, el("div", { textContent: (entry.data.prompt || entry.data.message || entry.type) + "" }), type, " ", answer, " ", el("button", { className: "act", type: "submit", textContent: "Send" }));
  form.onsubmit = async (ev) => {
    ev.preventDefault(); showError();
    try { await api("POST", "runs/" + encodeURIComponent(runId) + "/events", { type: type.value, data: { response: answer.value } }); form.remove(); }
    catch (e) { showError(e.message); }
  };
  return form;
}
async function showRuns() {
  stopReading(); showError(); mark(null);
  const filter = el("select", { id: "status-filter" }, ...["", "running", "waiting", "completed", "failed", "cancelled", "timed_out"].map((s) => el("option", { value: s, textContent: s || "any status" })));
  const table = el("table", {});
  const fill = async () => {
    try {
      const { runs } = await api("GET", "runs?limit=100" + (filter.value ? "&status=" + filter.value : ""));
      table.replaceChildren(el("tr", {}, ...["run", "workflow", "status", "started"].map((h) => el("th", { textContent: h }))),
        ...runs.map((r) => el("tr", {}, el("td", {}, el("a", { textContent: r.runId.slice(0, 8), onclick: () => showRun(r.runId) })), el("td", { textContent: r.workflow }), el("td", { textContent: r.status, className: r.status }), el("td", { textContent: new Date(r.createdAt).toLocaleString() }))));
    } catch (e) { showError(e.message); }
  };
  filter.onchange = fill;
  view.replaceChildren(el("section", {}, el("h2", { textContent: "Past runs" }), filter, table));
  await fill();
}
async function showQueues() {
  stopReading(); showError(); mark(null);
  const table = el("table", { id: "queues" });
  const cols = ["waiting", "active", "delayed", "failed", "completed", "workers"];
  try {
    const { queues } = await api("GET", "queues");
    const rows = [];
    for (const q of queues) {
      rows.push(el("tr", {}, el("td", { textContent: q.queue }), ...cols.map((c) => el("td", { textContent: String(q[c] ?? "") }))));
      for (const [name, n] of Object.entries(q.steps || {})) rows.push(el("tr", { className: "step" }, el("td", { textContent: "  " + name }), el("td", { textContent: String(n.waiting) }), el("td", { textContent: String(n.active) }), el("td"), el("td", { textContent: String(n.failed) }), el("td"), el("td")));
    }
    table.replaceChildren(el("tr", {}, ...["queue", ...cols].map((h) => el("th", { textContent: h }))), ...rows);
  } catch (e) { showError(e.message); }
  view.replaceChildren(el("section", {}, el("h2", { textContent: "Queues" }), table));
}
document.getElementById("show-runs").onclick = showRuns;
document.getElementById("show-queues").onclick = showQueues;
// The Queues button shows only when the server has queues to show (asked after load(), which gets the token).
load().then(() => fetch("queues", { headers: headers(false) })).then((r) => { if (r.ok) document.getElementById("show-queues").hidden = false; }, () => {});
</script></body></html>`;
