// After `tsc` has written dist/: join the JavaScript of each entry point (package.json's exports
// and bin) into one file per entry plus shared chunks, so that `import "stepwise-ai"` reads a
// few files instead of dozens (Node's module loading, not our code, was most of the cold import).
// Shared code lands in one chunk per group of entries, so a class exists once whatever subpaths a
// program imports. Declarations (.d.ts) stay as tsc wrote them. The files the bundles replaced are
// removed.
import { build } from "esbuild";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

const entries = new Set(Object.values(pkg.bin ?? {}));
for (const entry of Object.values(pkg.exports)) {
  if (typeof entry === "string") {
    if (entry.endsWith(".js")) entries.add(entry);
  } else if (typeof entry.default === "string") entries.add(entry.default);
}
const entryPoints = [...entries].map((e) => join(root, e));

const result = await build({
  entryPoints,
  outdir: dist,
  outbase: dist,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Dependencies and optional peers stay imports: the user's install provides them.
  packages: "external",
  chunkNames: "chunks/[name]-[hash]",
  // The CLI's `#!/usr/bin/env node` line is kept by esbuild from the entry.
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

const keep = new Set(Object.keys(result.metafile.outputs).map((f) => join(root, f)));
let removed = 0;
(function prune(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) prune(path);
    else if (name.endsWith(".js") && !keep.has(path)) {
      rmSync(path);
      removed++;
    }
  }
})(dist);
console.error(`bundle: ${entryPoints.length} entries, ${keep.size - entryPoints.length} shared chunks; ${removed} module files joined into them (${relative(root, dist)}/)`);
