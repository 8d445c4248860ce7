/** Mermaid flowchart text from the drawing model. */
import type { DrawDocument, DrawGraph, DrawNode } from "./model.js";

/** Mermaid ids allow letters, digits and underscores; keep them readable and unique. */
function mermaidId(id: string, used: Map<string, string>): string {
  let out = used.get(id);
  if (out === undefined) {
    const base = id.replace(/[^A-Za-z0-9_]/g, "_");
    out = base;
    for (let i = 2; [...used.values()].includes(out); i++) out = `${base}_${i}`;
    used.set(id, out);
  }
  return out;
}

/** The main graph's ids stay short (`step_begin`); nested graphs' ids are prefixed by their section. */
const key = (graph: string, id: string): string => (graph === "main" ? id : `${graph}/${id}`);

/** Mermaid label text: quotes and angle brackets become entities. */
const escape = (text: string): string => text.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
const label = (text: string): string => `"${escape(text)}"`;

function nodeLine(n: DrawNode, id: string): string {
  const quoted = `"${[n.label, ...(n.details ?? [])].map(escape).join("<br/>")}"`;
  if (n.kind === "step") return `${id}[${quoted}]`;
  if (n.kind === "workflow") return `${id}[[${quoted}]]`;
  return `${id}([${quoted}])`;
}

function classOf(n: DrawNode): string {
  if (n.kind === "step") return n.failed ? "failed" : "step";
  if (n.kind === "workflow") return "workflow";
  return n.role ?? "event";
}

function graphLines(g: DrawGraph, indent: string, used: Map<string, string>, owners: readonly string[] | undefined): string[] {
  const lines: string[] = [];
  const byOwner = new Map<string, DrawNode[]>();
  for (const n of g.nodes) {
    if (owners && n.owner !== undefined) {
      let list = byOwner.get(n.owner);
      if (!list) byOwner.set(n.owner, (list = []));
      list.push(n);
    } else {
      lines.push(`${indent}${nodeLine(n, mermaidId(key(g.id, n.id), used))}:::${classOf(n)}`);
    }
  }
  for (const [owner, list] of byOwner) {
    lines.push(`${indent}subgraph ${mermaidId(key(g.id, `owner:${owner}`), used)}[${label(owner)}]`);
    for (const n of list) lines.push(`${indent}  ${nodeLine(n, mermaidId(key(g.id, n.id), used))}:::${classOf(n)}`);
    lines.push(`${indent}end`);
  }
  for (const e of g.edges) {
    const from = mermaidId(key(g.id, e.from), used);
    const to = mermaidId(key(g.id, e.to), used);
    const arrow = e.kind === "waitsFor" || e.kind === "calls" ? "-.->" : "-->";
    lines.push(`${indent}${from} ${arrow}${e.label ? `|${label(e.label)}|` : ""} ${to}`);
  }
  return lines;
}

/** Renders a drawing as a Mermaid `flowchart`; nested workflows become subgraphs. */
export function renderMermaid(doc: DrawDocument): string {
  const used = new Map<string, string>();
  const lines = ["flowchart TD"];
  const [main, ...nested] = doc.graphs;
  if (main) lines.push(...graphLines(main, "  ", used, doc.owners));
  for (const g of nested) {
    lines.push(`  subgraph ${mermaidId(`section:${g.id}`, used)}[${label(g.title)}]`);
    lines.push(...graphLines(g, "    ", used, undefined));
    lines.push("  end");
    // The nested workflow's box in the main graph points at its subgraph.
    const box = doc.graphs.flatMap((x) => x.nodes.filter((n) => n.link === g.id).map((n) => mermaidId(key(x.id, n.id), used)));
    for (const b of box) lines.push(`  ${b} -.- ${mermaidId(`section:${g.id}`, used)}`);
  }
  lines.push(
    "  classDef step fill:#eef2ff,stroke:#4f46e5,color:#1e1b4b",
    "  classDef failed fill:#fee2e2,stroke:#dc2626,color:#7f1d1d",
    "  classDef event fill:#f8fafc,stroke:#64748b,color:#0f172a",
    "  classDef start fill:#dcfce7,stroke:#16a34a,stroke-width:3px,color:#14532d",
    "  classDef stop fill:#fee2e2,stroke:#dc2626,stroke-width:3px,color:#7f1d1d",
    "  classDef input fill:#fef9c3,stroke:#ca8a04,color:#713f12",
    "  classDef external fill:#fef9c3,stroke:#ca8a04,color:#713f12",
    "  classDef workflow fill:#f0f9ff,stroke:#0284c7,stroke-width:2px,color:#0c4a6e",
  );
  return `${lines.join("\n")}\n`;
}
