/**
 * Where the command line keeps runs: one SQLite file, found the same way from any folder of a
 * project, private to the user who made it.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, parse, resolve } from "node:path";
import { StoreError } from "../index.js";
import type { SqliteStore } from "../stores/sqlite.js";
import { MissingDependencyError } from "../optional.js";
import { UsageError } from "./errors.js";
import type { Candidate } from "./load.js";

/** What `--store` says when it is not given, for help texts. */
export const STORE_HELP = "default: .stepwise/runs.db in the project (the nearest folder with a package.json), else $XDG_STATE_HOME/stepwise/runs.db";

/**
 * The store `stepwise` uses when `--store` is not given: `.stepwise/runs.db` in the project root
 * (the nearest folder from `cwd` up that holds a package.json), else `runs.db` in the user's
 * state folder (`$XDG_STATE_HOME/stepwise`, `~/.local/state/stepwise`; `%LOCALAPPDATA%\stepwise` on Windows).
 */
export function defaultStorePath(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return join(dir, ".stepwise", "runs.db");
    if (dir === parse(dir).root) break;
  }
  if (process.platform === "win32") return join(env.LOCALAPPDATA ?? join(homedir(), "AppData", "Local"), "stepwise", "runs.db");
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith("/") ? env.XDG_STATE_HOME : join(homedir(), ".local", "state");
  return join(state, "stepwise", "runs.db");
}

/** How a command uses the store. */
export type StoreAccess = "create" | "read" | "write";

/** An opened store, where it is, and whether this call created the file. */
export interface OpenedStore {
  store: SqliteStore;
  path: string;
  created: boolean;
}

/**
 * Opens the SQLite store at `path` (default {@link defaultStorePath}). `"read"` opens it
 * read-only; `"read"` and `"write"` need the file to exist; `"create"` makes it, with its
 * folder, readable by this user only (0700 and 0600: the journal holds every event's data).
 * The driver is an optional peer dependency, loaded only here.
 */
export async function openStore(path: string | undefined, access: StoreAccess): Promise<OpenedStore> {
  const file = resolve(path ?? defaultStorePath());
  const shown = path ?? file;
  const exists = existsSync(file);
  if (access !== "create" && !exists) {
    throw new UsageError(
      `No store at ${shown}${path === undefined ? "" : ` (looked for ${file})`}. "stepwise run" journals runs there; pass --store <file> for another file.`,
      "NO_STORE",
    );
  }
  let Sqlite: typeof SqliteStore;
  try {
    ({ SqliteStore: Sqlite } = await import("../stores/sqlite.js"));
    if (access === "create" && !exists) createPrivate(file, path === undefined);
    else if (path === undefined) tighten(file, true);
    return { store: new Sqlite(file, access === "read" ? { readonly: true } : {}), path: file, created: access === "create" && !exists };
  } catch (err) {
    if (err instanceof MissingDependencyError) throw new UsageError(`Stored runs need the better-sqlite3 package: ${err.installCommand} (or pass --no-store to "stepwise run").`, "NO_DRIVER");
    if (err instanceof StoreError) throw new UsageError(err.message, err.code);
    throw err;
  }
}

/** Makes the store's folder (0700, where missing) and an empty file (0600) for SQLite to fill. */
function createPrivate(file: string, isDefault: boolean): void {
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  else if (isDefault) tighten(file, false);
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new UsageError(`Cannot create the store ${file}: ${(err as Error).message}`, "NO_STORE");
  }
}

/**
 * The default store made by an older stepwise may be readable by everyone: make its folder and
 * file private, when they are this user's.
 */
function tighten(file: string, fileToo: boolean): void {
  if (process.platform === "win32") return;
  const uid = process.getuid?.();
  for (const [p, mode] of [[dirname(file), 0o700], ...(fileToo ? [[file, 0o600]] : [])] as [string, number][]) {
    try {
      const st = statSync(p);
      if (st.uid === uid && (st.mode & 0o077) !== 0) chmodSync(p, mode);
    } catch {
      // A folder or file we cannot stat or change is left as it is; opening it will say more.
    }
  }
}

/** Beside the store: which file each workflow the command line ran came from, for `runs send` and `runs resume` without `--file`. */
const filesIndex = (storePath: string): string => join(dirname(storePath), "workflows.json");

type FileIndex = Record<string, { file: string; export: string }>;

function readIndex(storePath: string): FileIndex {
  try {
    const parsed = JSON.parse(readFileSync(filesIndex(storePath), "utf8")) as unknown;
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as FileIndex) : {};
  } catch {
    return {};
  }
}

/** Notes that `picked` (a workflow class) was run from `file`, so later commands find it by the run's workflow name. */
export function rememberFile(storePath: string, picked: Candidate, file: string): void {
  const index = readIndex(storePath);
  const entry = { file, export: picked.exportName };
  if (JSON.stringify(index[picked.name]) === JSON.stringify(entry)) return;
  index[picked.name] = entry;
  const target = filesIndex(storePath);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(index, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, target);
  } catch {
    // Only a convenience: `--file` still works when the index cannot be written.
  }
}

/** The file and export `stepwise run` last ran workflow `name` from, if it still exists. */
export function rememberedFile(storePath: string, name: string): { file: string; export: string } | undefined {
  const entry = readIndex(storePath)[name];
  return entry && typeof entry.file === "string" && typeof entry.export === "string" && existsSync(entry.file) ? entry : undefined;
}
