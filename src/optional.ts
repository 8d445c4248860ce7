/**
 * Loading the optional peer dependencies (database drivers, the drawing's layout engine, tsx
 * for the command line) so that a missing one is an error naming the package and the command
 * that installs it, instead of Node's bare MODULE_NOT_FOUND.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { WorkflowError } from "./index.js";

/**
 * A feature needs a package that is not installed (an optional peer dependency of
 * `stepwise-ai`). `packageName` is what is missing and `installCommand` installs it.
 * @example
 * try { new SqliteStore("runs.db") } catch (err) {
 *   if (err instanceof MissingDependencyError) console.error(err.installCommand); // npm install better-sqlite3@^12.0.0
 * }
 */
export class MissingDependencyError extends WorkflowError {
  override readonly code = "MISSING_DEPENDENCY";
  /** The package to install, e.g. `"better-sqlite3"`. */
  readonly packageName: string;
  /** The command that installs it in this project, e.g. `"npm install better-sqlite3@^12.0.0"`. */
  readonly installCommand: string;

  constructor(packageName: string, feature: string, cause?: unknown) {
    const installCommand = installCommandFor(packageName);
    super(`${feature} needs the package "${packageName}", which is not installed. Install it with: ${installCommand}`, { cause });
    this.packageName = packageName;
    this.installCommand = installCommand;
  }
}

/** `npm install pkg@range` (or pnpm/yarn/bun's form, when one of them runs this process), with the range stepwise-ai supports. */
export function installCommandFor(packageName: string): string {
  const range = peerRange(packageName);
  const spec = range ? `${packageName}@${range}` : packageName;
  const agent = process.env.npm_config_user_agent ?? "";
  if (agent.startsWith("pnpm/")) return `pnpm add ${spec}`;
  if (agent.startsWith("yarn/")) return `yarn add ${spec}`;
  if (agent.startsWith("bun/")) return `bun add ${spec}`;
  return `npm install ${spec}`;
}

let manifest: { version: string; peerDependencies?: Record<string, string> } | undefined;

/**
 * stepwise-ai's own package.json, found by walking up from this module: the built files are
 * bundled, so how deep this code sits under the package's root depends on the build.
 */
export function ownPackage(): { version: string; peerDependencies?: Record<string, string> } {
  if (manifest) return manifest;
  for (let dir = new URL(".", import.meta.url); ; dir = new URL("..", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version: string };
      if (pkg.name === "stepwise-ai") return (manifest = pkg);
    } catch {
      // no package.json here: keep walking up
    }
    if (dir.pathname === "/") throw new Error("stepwise-ai: could not find its own package.json");
  }
}

/** The range package.json's peerDependencies give for `name`, if any. */
function peerRange(name: string): string | undefined {
  try {
    return ownPackage().peerDependencies?.[name];
  } catch {
    return undefined;
  }
}

/** True when `err` says that `name` itself (not something it imports) cannot be found. */
export function isMissing(err: unknown, name: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return false;
  // Node says "Cannot find module 'name'" (require) or "Cannot find package 'name'" (import), on
  // the first line; one naming another module means the package is there but broken: not ours to hide.
  const first = (err instanceof Error ? err.message : "").split("\n", 1)[0] ?? "";
  return [`'${name}'`, `'${name}/`, `"${name}"`, `"${name}/`].some((quoted) => first.includes(`Cannot find module ${quoted}`) || first.includes(`Cannot find package ${quoted}`));
}

/**
 * `require(name)` for a CommonJS optional peer (better-sqlite3, pg), resolved from this
 * package's folder; a missing package throws {@link MissingDependencyError} naming `feature`.
 */
export function requireOptional<T>(name: string, feature: string, from: string | URL = import.meta.url): T {
  try {
    return createRequire(from)(name) as T;
  } catch (err) {
    const pkg = packageOf(name);
    if (isMissing(err, pkg)) throw new MissingDependencyError(pkg, feature, err);
    throw err;
  }
}

/** The file `specifier` (`"elkjs/lib/elk.bundled.js"`) resolves to, with the same error as {@link requireOptional}. */
export function resolveOptional(specifier: string, feature: string, from: string | URL = import.meta.url): string {
  try {
    return createRequire(from).resolve(specifier);
  } catch (err) {
    const pkg = packageOf(specifier);
    if (isMissing(err, pkg)) throw new MissingDependencyError(pkg, feature, err);
    throw err;
  }
}

/** `import(name)` for an optional peer (`name` may be a subpath, `"tsx/esm/api"`), with the same error as {@link requireOptional}. */
export async function importOptional<T>(name: string, feature: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    const pkg = packageOf(name);
    if (isMissing(err, pkg)) throw new MissingDependencyError(pkg, feature, err);
    throw err;
  }
}

/** The package a module specifier names: `"tsx/esm/api"` → `"tsx"`, `"@scope/p/x"` → `"@scope/p"`. */
const packageOf = (specifier: string): string => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/");
