/**
 * One self-contained HTML page from the drawing model: the elkjs layout library and the
 * renderer are inlined, so the file opens with no network.
 */
import { readFileSync } from "node:fs";
import { resolveOptional } from "../optional.js";
import type { DrawDocument } from "./model.js";

let elkSource: string | undefined;

/** The browser bundle of elkjs, read once from node_modules. */
function elkBundle(): string {
  if (elkSource === undefined) {
    // elkjs is an optional peer dependency: Mermaid output and the drawing model do without it.
    const file = resolveOptional("elkjs/lib/elk.bundled.js", "Drawing HTML (drawAllPossibleFlows, drawMostRecentExecution, stepwise draw)");
    // An inline script ends at the first "</script"; the bundle must not contain one.
    elkSource = readFileSync(file, "utf8").replace(/<\/script/gi, "<\\/script");
  }
  return elkSource;
}

const escapeHtml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
/** JSON that is safe inside a `<script>` element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

/** Colours App members are told apart by. */
export const OWNER_COLOURS = ["#7c3aed", "#0891b2", "#ea580c", "#16a34a", "#db2777", "#4d7c0f", "#2563eb", "#b45309"];

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#0f172a;background:#fff}
header{padding:10px 16px;border-bottom:1px solid #e2e8f0}
h1{font-size:18px;margin:0 0 4px}
h2{font-size:15px;margin:0 0 2px}
.summary,.subtitle{color:#475569;margin:0}
.legend{display:flex;flex-wrap:wrap;gap:12px;margin-top:6px;font-size:13px;color:#334155}
.legend span{display:inline-flex;align-items:center;gap:4px}
.sw{display:inline-block;width:18px;height:12px;border:2px solid #64748b;border-radius:3px}
section.graph{padding:8px 16px}
section.graph:target{background:#f0f9ff}
.canvas{overflow:auto}
.error{color:#b91c1c;white-space:pre-wrap}
table{border-collapse:collapse;font-size:13px;margin:8px 16px 24px}
td,th{border-bottom:1px solid #e2e8f0;padding:3px 10px;text-align:left;vertical-align:top}
td.at{font-variant-numeric:tabular-nums;color:#475569;text-align:right}
svg text{font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
svg a{cursor:pointer}
`;

// The renderer that runs in the page. Plain ES2017, no template literals, so it can live in a string.
const CLIENT = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("stepwise-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var ctx = document.createElement("canvas").getContext("2d");
  // The smallest text is 12 px, and drawings are never shrunk below their size (they scroll instead), so text stays readable.
  var LABEL_FONT = "600 15px system-ui, sans-serif", DETAIL_FONT = "13px system-ui, sans-serif", SMALL_FONT = "12px system-ui, sans-serif";
  var ICON = 18;
  var STYLES = {
    step: { fill: "#eef2ff", stroke: "#4f46e5", width: 1.5 },
    failed: { fill: "#fee2e2", stroke: "#dc2626", width: 2 },
    event: { fill: "#f8fafc", stroke: "#64748b", width: 1.2 },
    start: { fill: "#dcfce7", stroke: "#16a34a", width: 3 },
    stop: { fill: "#fee2e2", stroke: "#dc2626", width: 3 },
    input: { fill: "#fef9c3", stroke: "#ca8a04", width: 1.5 },
    external: { fill: "#fef9c3", stroke: "#ca8a04", width: 1.5 },
    workflow: { fill: "#f0f9ff", stroke: "#0284c7", width: 2 }
  };
  var owners = data.owners || [];
  function ownerColour(o) { var i = owners.indexOf(o); return data.ownerColours[(i < 0 ? 0 : i) % data.ownerColours.length]; }
  function measure(t, font) { ctx.font = font; return ctx.measureText(t).width; }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }
  function styleOf(n) { return n.kind === "step" ? (n.failed ? STYLES.failed : STYLES.step) : n.kind === "workflow" ? STYLES.workflow : STYLES[n.role] || STYLES.event; }
  function lines(n) {
    var out = [];
    if (n.owner !== undefined) out.push({ text: n.owner, font: SMALL_FONT, colour: ownerColour(n.owner) });
    out.push({ text: n.label, font: LABEL_FONT, colour: "#0f172a", icon: n.kind === "workflow" });
    (n.details || []).forEach(function (d) { out.push({ text: d, font: DETAIL_FONT, colour: "#475569" }); });
    return out;
  }
  function size(n) {
    var ls = lines(n), w = 0;
    ls.forEach(function (l) { w = Math.max(w, measure(l.text, l.font) + (l.icon ? ICON : 0)); });
    return { width: Math.ceil(w) + (n.kind === "event" ? 44 : 28), height: 16 + ls.length * 20 };
  }
  function layout(g) {
    var graph = {
      id: "root",
      layoutOptions: {
        "elk.algorithm": "layered",
        "elk.direction": "DOWN",
        "elk.edgeRouting": "ORTHOGONAL",
        "elk.layered.cycleBreaking.strategy": "MODEL_ORDER",
        "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
        "elk.spacing.nodeNode": "28",
        "elk.layered.spacing.nodeNodeBetweenLayers": "36",
        "elk.spacing.edgeLabel": "2",
        "elk.edgeLabels.inline": "true",
        "elk.padding": "[top=12,left=12,bottom=12,right=12]"
      },
      children: g.nodes.map(function (n) { var s = size(n); return { id: n.id, width: s.width, height: s.height }; }),
      edges: g.edges.map(function (e, i) {
        return { id: "e" + i, sources: [e.from], targets: [e.to], labels: e.label ? [{ text: e.label, width: measure(e.label, SMALL_FONT) + 6, height: 16 }] : [] };
      })
    };
    return new ELK().layout(graph);
  }
  function nestedIcon(parent, x, y, colour) {
    var icon = el("g", { "class": "icon icon-workflow", transform: "translate(" + x + "," + y + ")" }, parent);
    el("rect", { x: 1, y: 1, width: 9, height: 9, rx: 1.5, fill: "none", stroke: colour, "stroke-width": 1.5 }, icon);
    el("rect", { x: 5, y: 5, width: 9, height: 9, rx: 1.5, fill: "#ffffff", stroke: colour, "stroke-width": 1.5 }, icon);
  }
  function draw(g, laid, container) {
    var W = Math.ceil(laid.width), H = Math.ceil(laid.height);
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": g.title, "data-graph": g.id });
    var defs = el("defs", {}, svg);
    var marker = el("marker", { id: "arrow-" + g.id.replace(/[^A-Za-z0-9_-]/g, "_"), viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#475569" }, marker);
    var byId = {};
    g.nodes.forEach(function (n) { byId[n.id] = n; });
    (laid.edges || []).forEach(function (le, i) {
      var e = g.edges[i];
      (le.sections || []).forEach(function (s) {
        var pts = [s.startPoint].concat(s.bendPoints || [], [s.endPoint]);
        var d = pts.map(function (p, j) { return (j ? "L" : "M") + p.x + "," + p.y; }).join(" ");
        var path = el("path", { d: d, fill: "none", stroke: e.kind === "calls" ? "#0284c7" : "#64748b", "stroke-width": 1.4, "marker-end": "url(#" + marker.id + ")", "class": "edge edge-" + e.kind, "data-from": e.from, "data-to": e.to }, svg);
        if (e.kind === "waitsFor" || e.kind === "calls") path.setAttribute("stroke-dasharray", "5 4");
      });
      (le.labels || []).forEach(function (l) {
        var t = el("text", { x: l.x + 3, y: l.y + 12, style: "font:" + SMALL_FONT, fill: "#334155", "class": "edge-label" }, svg);
        t.textContent = l.text;
      });
    });
    (laid.children || []).forEach(function (c) {
      var n = byId[c.id], st = styleOf(n);
      var parent = svg;
      if (n.link) parent = el("a", { href: "#" + n.link }, svg);
      var gEl = el("g", { "class": "node node-" + n.kind, "data-id": n.id, "data-kind": n.kind, "data-role": n.role || "", "data-owner": n.owner || "", transform: "translate(" + c.x + "," + c.y + ")" }, parent);
      el("title", {}, gEl).textContent = n.kind + ": " + n.label + (n.owner ? " (in " + n.owner + ")" : "");
      var r = n.kind === "event" ? c.height / 2 : 6;
      if (n.kind === "workflow") el("rect", { x: -4, y: -4, width: c.width + 8, height: c.height + 8, rx: 9, fill: "none", stroke: st.stroke, "stroke-width": 1 }, gEl);
      el("rect", { width: c.width, height: c.height, rx: r, fill: st.fill, stroke: st.stroke, "stroke-width": st.width }, gEl);
      if (n.owner !== undefined) el("rect", { width: 5, height: c.height, rx: 2, fill: ownerColour(n.owner) }, gEl);
      var ls = lines(n), y = (c.height - ls.length * 20) / 2 + 15;
      ls.forEach(function (l) {
        var x = c.width / 2 + (l.icon ? ICON / 2 : 0);
        var t = el("text", { x: x, y: y, "text-anchor": "middle", fill: l.colour, style: "font:" + l.font }, gEl);
        t.textContent = l.text;
        // The nested-workflow icon is drawn, not a font glyph: every browser shows it, with no font installed.
        if (l.icon) nestedIcon(gEl, x - measure(l.text, l.font) / 2 - ICON, y - 12, st.stroke);
        y += 20;
      });
    });
    container.appendChild(svg);
    function fit() {
      var top = container.getBoundingClientRect().top + window.scrollY;
      var availH = container.dataset.first === "true" ? Math.max(200, window.innerHeight - top - 12) : window.innerHeight * 0.85;
      var availW = Math.max(200, container.clientWidth);
      // Shrinking to fit would make text unreadably small on large graphs: scroll instead.
      var scale = Math.max(1, Math.min(1.25, availW / W, availH / H));
      svg.setAttribute("width", String(Math.floor(W * scale)));
      svg.setAttribute("height", String(Math.floor(H * scale)));
    }
    fit();
    window.addEventListener("resize", fit);
  }
  var jobs = data.graphs.map(function (g) {
    var container = document.getElementById("canvas-" + g.id);
    return layout(g).then(function (laid) { draw(g, laid, container); });
  });
  Promise.all(jobs).then(function () {
    document.body.setAttribute("data-rendered", "true");
  }, function (err) {
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = "Could not lay out the drawing: " + (err && err.message ? err.message : String(err));
    document.body.insertBefore(p, document.body.firstChild.nextSibling);
    document.body.setAttribute("data-rendered", "error");
  });
})();
`;

function legend(doc: DrawDocument): string {
  const sw = (fill: string, stroke: string, radius: string, text: string, dashed = false) =>
    `<span><i class="sw" style="background:${fill};border-color:${stroke};border-radius:${radius}${dashed ? ";border-style:dashed" : ""}"></i>${escapeHtml(text)}</span>`;
  const items = [
    sw("#eef2ff", "#4f46e5", "3px", "step"),
    sw("#f8fafc", "#64748b", "8px", "event"),
    sw("#dcfce7", "#16a34a", "8px", "StartEvent"),
    sw("#fee2e2", "#dc2626", "8px", "StopEvent"),
    sw("#fef9c3", "#ca8a04", "8px", "input / external event"),
    sw("#f0f9ff", "#0284c7", "3px", "nested workflow (click to open)"),
    `<span>- - → waits for / calls</span>`,
  ];
  (doc.owners ?? []).forEach((o, i) => items.push(`<span><i class="sw" style="background:${OWNER_COLOURS[i % OWNER_COLOURS.length] ?? "#000"};border-color:transparent"></i>member ${escapeHtml(o)}</span>`));
  return `<div class="legend">${items.join("")}</div>`;
}

/** Renders a drawing as one self-contained HTML page. */
export function renderHtml(doc: DrawDocument): string {
  const sections = doc.graphs
    .map(
      (g, i) =>
        `<section class="graph" id="${escapeHtml(g.id)}">${i > 0 || doc.graphs.length > 1 ? `<h2>${escapeHtml(g.title)}</h2>` : ""}${g.subtitle && (i > 0 || doc.graphs.length > 1) ? `<p class="subtitle">${escapeHtml(g.subtitle)}</p>` : ""}<div class="canvas" id="canvas-${escapeHtml(g.id)}" data-first="${i === 0}"></div></section>`,
    )
    .join("\n");
  const timeline = doc.timeline?.length
    ? `<h2 style="margin:8px 16px 0">Timeline</h2><table><thead><tr><th>ms</th><th>workflow</th><th>what happened</th></tr></thead><tbody>${doc.timeline
        .map((t) => `<tr><td class="at">${t.at}</td><td>${escapeHtml(t.workflow)}</td><td>${escapeHtml(t.text)}</td></tr>`)
        .join("")}</tbody></table>`
    : "";
  const heading = doc.kind === "flows" ? "All possible flows" : "Execution";
  const sub = doc.summary ?? doc.graphs[0]?.subtitle;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="stepwise-ai/draw">
<title>${escapeHtml(`${doc.title} · ${heading}`)}</title>
<style>${STYLE}</style>
</head>
<body data-rendered="false">
<header><h1>${escapeHtml(doc.title)} <small style="font-weight:400;color:#64748b">· ${heading}</small></h1>${sub ? `<p class="summary">${escapeHtml(sub)}</p>` : ""}${legend(doc)}</header>
${sections}
${timeline}
<script type="application/json" id="stepwise-data">${scriptJson({ graphs: doc.graphs, owners: doc.owners ?? [], ownerColours: OWNER_COLOURS })}</script>
<script>${elkBundle()}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}
