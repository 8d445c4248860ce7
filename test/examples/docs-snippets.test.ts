/**
 * Every TypeScript snippet of the docs a user reads first compiles (issue 12's proof: a doc
 * example that does not compile is a bug). Each ```ts block of the pages below is compiled as
 * its own module against the sources, with the repository's compiler options, by the TypeScript
 * compiler API. A snippet shows no imports for brevity: a name it uses and does not declare is
 * imported from the first module of MODULES that exports it (stepwise-ai first, then the
 * examples the seed article's snippets come from). A name found nowhere is a compile error,
 * as it would be for a reader.
 */
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
/** The pages, each with the fewest ```ts blocks it has (a renamed page or another fence style would leave nothing to check). */
const PAGES: Record<string, number> = { "README.md": 16, "docs/coming-from-llamaindex.md": 13, "docs/traces.md": 2, "docs/llamaindex-protocol.md": 2 };

/** Where undeclared names come from, in order of preference (first export wins). */
const MODULES = [
  "stepwise-ai",
  "stepwise-ai/draw",
  "stepwise-ai/sqlite",
  "zod", // only `z` (below): zod also exports `enum`, `object`, `string`…
  "examples/shared.ts",
  "examples/complex-trade-monitor.ts",
  "examples/trade-station.ts",
  "examples/trade-monitor.ts",
  "examples/trade-monitor-v2.ts",
  "examples/complex-trade-monitor-v3.ts",
  "examples/human-approval.ts",
  "examples/simple-workflow.ts",
  "examples/teams/events.ts",
] as const;

interface Snippet {
  page: string;
  /** 1-based line of the block's first code line in the page. */
  line: number;
  heading: string;
  code: string;
}

/** The ```ts blocks of a markdown page, with the heading each sits under. */
function snippets(page: string): Snippet[] {
  const lines = readFileSync(join(root, page), "utf8").split("\n");
  const out: Snippet[] = [];
  let heading = "";
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (/^#{1,6} /.test(l)) heading = l.replace(/^#+ /, "");
    if (l.trim() !== "```ts") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && (lines[end] as string).trim() !== "```") end++;
    out.push({ page, line: start + 1, heading, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return out;
}

/** Names declared at the top level of `file` (classes, functions, variables, types, imports). */
function declared(file: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const bind = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bind(el.name);
  };
  for (const s of file.statements) {
    if ((ts.isClassDeclaration(s) || ts.isFunctionDeclaration(s) || ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s) || ts.isEnumDeclaration(s)) && s.name) names.add(s.name.text);
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) bind(d.name);
    if (ts.isImportDeclaration(s) && s.importClause) {
      const c = s.importClause;
      if (c.name) names.add(c.name.text);
      if (c.namedBindings && ts.isNamedImports(c.namedBindings)) for (const e of c.namedBindings.elements) names.add(e.name.text);
      if (c.namedBindings && ts.isNamespaceImport(c.namedBindings)) names.add(c.namedBindings.name.text);
    }
  }
  return names;
}

/**
 * Where snippet `s` (number `i`) is compiled. A snippet whose first line names a bare file
 * (`// flow.ts: …`, as in the quick start) is that file, so a later snippet of the same page
 * may import it (`./flow.js`).
 */
function pathOf(s: Snippet, i: number): string {
  const dir = join(virtualDir, s.page.replace(/[^a-z0-9]+/gi, "-"));
  const named = /^\/\/ ([\w.-]+\.ts)\b/.exec(s.code)?.[1];
  return join(dir, named ?? `snippet-${i}.ts`);
}

/** Every identifier written in `file`. */
function identifiers(file: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) names.add(node.text);
    node.forEachChild(visit);
  };
  visit(file);
  return names;
}

const config = ts.parseJsonConfigFileContent(ts.readConfigFile(join(root, "tsconfig.json"), (f) => ts.sys.readFile(f)).config, ts.sys, root);
// Snippets import types and values alike without `import type`.
const options: ts.CompilerOptions = { ...config.options, noEmit: true, verbatimModuleSyntax: false };
const virtualDir = join(root, "test/examples/__snippets__");

function specifier(from: string, mod: string): string {
  if (!mod.startsWith("examples/")) return mod;
  return relative(from, join(root, mod)).replace(/\.ts$/, ".js");
}

/** Compiles `files` (path → text) in one program; returns the diagnostics of each. */
function compile(files: Map<string, string>): Map<string, readonly ts.Diagnostic[]> {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.fileExists = (f) => files.has(f) || fileExists(f);
  host.readFile = (f) => files.get(f) ?? readFile(f);
  // The snippets' folder exists only here: module resolution asks for it before its files.
  const dirs = new Set([...files.keys()].flatMap((f) => [dirname(f), dirname(dirname(f))]));
  host.directoryExists = (d) => dirs.has(d) || ts.sys.directoryExists(d);
  host.getSourceFile = (f, lang, ...rest) => {
    const text = files.get(f);
    return text !== undefined ? ts.createSourceFile(f, text, lang, true) : getSourceFile(f, lang, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const out = new Map<string, readonly ts.Diagnostic[]>();
  for (const f of files.keys()) {
    const sf = program.getSourceFile(f);
    out.set(f, sf ? [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)] : []);
  }
  return out;
}

/** The exported names of each module of MODULES, read by the compiler. */
function exportsOf(): Map<string, Set<string>> {
  const probe = join(virtualDir, "probe.ts");
  const text = MODULES.map((m, i) => `import * as m${i} from ${JSON.stringify(specifier(virtualDir, m))};\nexport { m${i} };`).join("\n");
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === probe || fileExists(f);
  host.getSourceFile = (f, lang, ...rest) => (f === probe ? ts.createSourceFile(f, text, lang, true) : getSourceFile(f, lang, ...rest));
  const program = ts.createProgram([probe], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(probe) as ts.SourceFile;
  const out = new Map<string, Set<string>>();
  MODULES.forEach((m, i) => {
    const local = checker.getSymbolsInScope(sf, ts.SymbolFlags.Alias).find((s) => s.name === `m${i}`);
    const target = local ? checker.getAliasedSymbol(local) : undefined;
    out.set(m, new Set(target ? checker.getExportsOfModule(target).map((s) => s.name) : []));
  });
  return out;
}

const all = Object.keys(PAGES).flatMap(snippets);
const results = new Map<Snippet, string[]>();

beforeAll(() => {
  const exported = exportsOf();
  const files = new Map<string, string>();
  const bySnippet = new Map<Snippet, string>();
  all.forEach((s, i) => {
    const path = pathOf(s, i);
    const parsed = ts.createSourceFile(path, s.code, ts.ScriptTarget.Latest, true);
    const own = declared(parsed);
    const wanted = [...identifiers(parsed)].filter((n) => !own.has(n));
    const imports = new Map<string, string[]>();
    for (const name of wanted) {
      const mod = MODULES.find((m) => exported.get(m)?.has(name) && (m !== "zod" || name === "z"));
      if (mod) imports.set(mod, [...(imports.get(mod) ?? []), name]);
    }
    // One line of imports, so the snippet's own line numbers are off by one only.
    const header = [...imports].map(([m, names]) => `import { ${names.join(", ")} } from ${JSON.stringify(specifier(dirname(path), m))};`).join(" ");
    files.set(path, `${header}\n${s.code}\nexport {};\n`);
    bySnippet.set(s, path);
  });
  const diagnostics = compile(files);
  for (const [s, path] of bySnippet) {
    results.set(
      s,
      (diagnostics.get(path) ?? []).map((d) => {
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line - 1 : -1;
        return `${s.page}:${s.line + at}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      }),
    );
  }
}, 300_000);

describe("docs snippets compile", () => {
  it("finds the snippets of every page", () => {
    for (const [page, fewest] of Object.entries(PAGES)) expect(all.filter((s) => s.page === page).length, page).toBeGreaterThanOrEqual(fewest);
  });

  for (const s of all) {
    it(`${s.page}:${s.line} (${s.heading})`, () => {
      expect(results.get(s)).toEqual([]);
    });
  }
});
