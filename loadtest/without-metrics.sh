#!/usr/bin/env bash
# Build the comparison binary for the metrics overhead: this tree with the metrics taken out
# (no request-metrics layer, no GraphQL operation recording, no store wrapper, no recorder),
# copied to $1 (default /tmp/sessions-without-metrics). The tree is restored afterwards
# (`git stash` is not used: only the four lines below are edited, then checked out again).
#
#   loadtest/without-metrics.sh /tmp/sessions-without-metrics
#   cp target/release/sessions /tmp/sessions-with-metrics      # the normal build
#   then load each side by side (see the README's "Performance" section).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-/tmp/sessions-without-metrics}"
FILES=(src/app.rs src/http/mod.rs src/graphql/phases.rs)
git diff --quiet -- "${FILES[@]}" || { echo "commit or stash your changes to ${FILES[*]} first" >&2; exit 2; }
trap 'git checkout -- "${FILES[@]}"' EXIT
sed -i 's|^    crate::metrics::install();$|    // (metrics off for the comparison)|' src/app.rs src/http/mod.rs
sed -i 's|^    let store = Arc::new(InstrumentedStore::new(store));$|    let store: Arc<dyn store::SessionStore> = { let _ = InstrumentedStore::new; store };|' src/app.rs
sed -i 's|^        .layer(metrics::RecordLayer)$|        .layer(tower::layer::util::Identity::new())|' src/http/mod.rs
sed -i 's|^        crate::metrics::graphql_operation(kind, response.errors.is_empty(), started.elapsed());$|        let _ = (kind, started);|' src/graphql/phases.rs
[[ $(git diff --numstat -- "${FILES[@]}" | wc -l) == 3 ]] || { echo "the edits no longer apply; update this script" >&2; exit 1; }
cargo build --release
cp "${CARGO_TARGET_DIR:-target}/release/sessions" "$OUT"
echo "without metrics: $OUT" >&2
