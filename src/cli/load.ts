/** Loading a user's workflow file and picking the workflow (or App) it exports. */
import { existsSync, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App, Workflow, describeWorkflow, type Store, type WorkflowOptions } from "../index.js";
import { MissingDependencyError, importOptional, installCommandFor } from "../optional.js";
import { UsageError } from "./errors.js";

/** One workflow a file exports. */
export interface Candidate {
  /** The export's name (`default` for a default export). */
  readonly exportName: string;
  /** The workflow's own name (class name or `name` option). */
  readonly name: string;
  readonly kind: "class" | "instance" | "app";
  readonly value: Workflow | (new (options?: WorkflowOptions) => Workflow);
}

const TS = new Set([".ts", ".mts", ".cts", ".tsx"]);
const JS = new Set([".js", ".mjs", ".cjs", ".jsx"]);
let tsxReady: Promise<boolean> | undefined;

/**
 * Lets `import()` load TypeScript through tsx (an optional peer dependency: decorators need a
 * transform, which Node's own type stripping does not do), once per process. Resolves to
 * false when tsx is not installed; `required` makes that a usage error saying how to install it.
 */
async function enableTypeScript(required: boolean): Promise<void> {
  tsxReady ??= importOptional<typeof import("tsx/esm/api")>("tsx/esm/api", "Running TypeScript files").then(
    (api) => {
      api.register();
      return true;
    },
    (err: unknown) => {
      if (err instanceof MissingDependencyError) return false;
      throw err;
    },
  );
  if (!(await tsxReady) && required) {
    throw new UsageError(`Loading a TypeScript file needs the "tsx" package, which is not installed. Install it with: ${installCommandFor("tsx")} (or pass a compiled .js/.mjs file).`, "NO_TSX");
  }
}

const isWorkflowClass = (v: unknown): v is new (options?: WorkflowOptions) => Workflow =>
  typeof v === "function" && v !== Workflow && v !== App && (v as { prototype: unknown }).prototype instanceof Workflow;

/** Imports `file` (TypeScript or JavaScript) and lists the workflows it exports. */
export async function loadWorkflows(file: string): Promise<{ path: string; candidates: Candidate[] }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`File "${file}" not found (looked for ${path}).`, "FILE_NOT_FOUND");
  if (!statSync(path).isFile()) throw new UsageError(`"${file}" is a directory; pass the file that exports your workflow.`, "FILE_NOT_FOUND");
  const ext = extname(path);
  if (!TS.has(ext) && !JS.has(ext)) throw new UsageError(`"${file}" is not a TypeScript or JavaScript file (.ts, .mts, .js, .mjs…).`, "BAD_FILE");
  // Plain JavaScript may import TypeScript siblings too, so tsx is enabled where it is installed.
  await enableTypeScript(TS.has(ext));
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UsageError(`Could not load "${file}": ${why}`, "LOAD_FAILED");
  }
  const candidates: Candidate[] = [];
  const seen = new Set<unknown>();
  for (const [exportName, value] of Object.entries(mod)) {
    if (seen.has(value)) continue;
    if (value instanceof Workflow) {
      seen.add(value);
      candidates.push({ exportName, name: describeWorkflow(value).name, kind: value instanceof App ? "app" : "instance", value });
    } else if (isWorkflowClass(value)) {
      seen.add(value);
      candidates.push({ exportName, name: value.name, kind: value.prototype instanceof App ? "app" : "class", value });
    }
  }
  return { path, candidates };
}

/** The one workflow to use: the only one, or the one `--workflow` names (export name or workflow name). */
export function pickWorkflow(file: string, candidates: readonly Candidate[], wanted: string | undefined): Candidate {
  const list = candidates.map((c) => (c.exportName === c.name || c.exportName === "default" ? c.name : `${c.exportName} (${c.name})`)).join(", ");
  if (candidates.length === 0) {
    throw new UsageError(`"${file}" exports no workflow. Export a Workflow subclass (export class MyFlow extends Workflow { … }), a Workflow instance, or an App.`, "NO_WORKFLOW");
  }
  if (wanted === undefined) {
    if (candidates.length === 1) return candidates[0]!;
    // A file exporting an App and its members' classes means the App.
    const top = candidates.filter((c) => !candidates.some((app) => app !== c && isMemberOf(c, app)));
    if (top.length === 1) return top[0]!;
    throw new UsageError(`"${file}" exports ${candidates.length} workflows: ${list}. Choose one with --workflow <name>.`, "SEVERAL_WORKFLOWS");
  }
  const found = candidates.find((c) => c.exportName === wanted) ?? candidates.find((c) => c.name === wanted);
  if (!found) throw new UsageError(`"${file}" exports no workflow named "${wanted}"; it exports: ${list}.`, "UNKNOWN_WORKFLOW");
  return found;
}

function isMemberOf(c: Candidate, app: Candidate): boolean {
  if (!(app.value instanceof App)) return false;
  return [...app.value.members.values()].some((m) => m === c.value || m.constructor === c.value);
}

/** A workflow instance to run: classes are constructed with `new Cls({ timeout })`. */
export function instantiate(c: Candidate, options: { timeout?: number; store?: Store }): Workflow {
  if (c.value instanceof Workflow) return c.value;
  const given = [options.timeout === undefined ? "" : `timeout: ${options.timeout}`, options.store ? "store" : ""].filter(Boolean).join(", ");
  try {
    return new c.value(options);
  } catch (err) {
    throw new UsageError(`Could not construct ${c.name} with new ${c.name}({ ${given} }): ${err instanceof Error ? err.message : String(err)}. Export an instance instead if it needs other options.`, "CONSTRUCT_FAILED");
  }
}
