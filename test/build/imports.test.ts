import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SRC = join(ROOT, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(d.name) && !d.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** Every module specifier a file names: imports and re-exports, `import type` and `import()` included. */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles.map((f) => f.fileName);
}

/** A relative specifier as the source file it names (`./x.js` is `./x.ts`). */
function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const base = resolve(dirname(from), spec).replace(/\.js$/, "");
  for (const candidate of [`${base}.ts`, `${base}.tsx`, join(base, "index.ts")]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      // try the next form
    }
  }
  throw new Error(`${relative(ROOT, from)} imports "${spec}", which names no source file.`);
}

/** The import graph of `files`, by file. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  return new Map(files.map((f) => [f, specifiers(f).flatMap((s) => resolveLocal(f, s) ?? [])]));
}

/** Every cycle of the graph, each once (Tarjan's strongly connected components with more than one file, or a file importing itself). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.map((f) => relative(ROOT, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

describe("imports", () => {
  it("finds a cycle when there is one (the check itself)", () => {
    const g = new Map([
      ["/a", ["/b"]],
      ["/b", ["/c"]],
      ["/c", ["/a"]],
      ["/d", ["/a"]],
    ]);
    expect(cycles(g).map((c) => c.length)).toEqual([3]);
    expect(cycles(new Map([["/a", ["/b"]], ["/b", []]]))).toEqual([]);
  });

  it("has no import cycle in src, type imports included", () => {
    expect(cycles(importGraph(sourceFiles(SRC)))).toEqual([]);
  });

  it("keeps src/core free of node: modules and of anything outside src/core", () => {
    const core = join(SRC, "core");
    const allowedPackages = new Set(["@standard-schema/spec"]);
    const builtins = new Set(builtinModules);
    const bad: string[] = [];
    for (const file of sourceFiles(core)) {
      for (const spec of specifiers(file)) {
        const where = relative(ROOT, file);
        if (spec.startsWith("node:") || builtins.has(spec)) bad.push(`${where} imports ${spec}`);
        else if (spec.startsWith(".")) {
          const target = resolveLocal(file, spec)!;
          if (relative(core, target).startsWith("..")) bad.push(`${where} imports ${relative(ROOT, target)}, outside src/core`);
        } else if (!allowedPackages.has(spec)) bad.push(`${where} imports package ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
