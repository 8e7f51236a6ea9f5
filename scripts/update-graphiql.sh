#!/usr/bin/env bash
# Refresh the GraphiQL playground's vendored files from the npm registry, at the pinned
# versions below, and record their SHA-256 sums in playground/vendor/SHA256SUMS (checked by
# `cargo test`). Needs npm, tar and sha256sum. To upgrade, change a version, run this script,
# then check the page in a browser (`cargo test --test api browser` does).
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=3.8.3   # the last GraphiQL line that ships a single-file bundle
REACT=18.3.1     # GraphiQL 3 runs on React 18; its UMD builds are single files too
GRAPHQL_WS=5.16.0  # the subscriptions client (graphql-transport-ws) GraphiQL's fetcher takes

vendor=playground/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# package@version, then pairs of "path in the package" "path under $vendor".
fetch() {
  local spec=$1
  shift
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  local tarball
  tarball=$(ls "$work"/*.tgz)
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  rm "$tarball"
  while [ $# -gt 0 ]; do
    mkdir -p "$(dirname "$vendor/$2")"
    cp "$work/unpacked/package/$1" "$vendor/$2"
    shift 2
  done
  rm -rf "$work/unpacked"
}

rm -rf "$vendor"
mkdir -p "$vendor"
fetch "graphiql@$GRAPHIQL" \
  graphiql.min.js graphiql/graphiql.min.js \
  graphiql.min.css graphiql/graphiql.min.css \
  LICENSE graphiql/LICENSE
fetch "react@$REACT" \
  umd/react.production.min.js react/react.production.min.js \
  LICENSE react/LICENSE
fetch "react-dom@$REACT" \
  umd/react-dom.production.min.js react-dom/react-dom.production.min.js \
  LICENSE react-dom/LICENSE
fetch "graphql-ws@$GRAPHQL_WS" \
  umd/graphql-ws.min.js graphql-ws/graphql-ws.min.js \
  LICENSE.md graphql-ws/LICENSE.md

(cd "$vendor" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort \
  | xargs sha256sum > SHA256SUMS)
echo "vendored graphiql@$GRAPHIQL react@$REACT react-dom@$REACT graphql-ws@$GRAPHQL_WS:"
cat "$vendor/SHA256SUMS"
du -cb "$vendor"/*/* | tail -n 1
