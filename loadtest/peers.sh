#!/usr/bin/env bash
# Side by side with the limit server: the figures of the README's "Performance" section.
#
# Starts a release build of this service (memory store, logs at `info` to a file, as in
# production) pinned to one core, and runs the benchmark kit's peers.sh against it and the
# limit server: REST v1 get / store / open, then GraphQL session(id) and openSession. Both
# servers run on CPU $SERVER_CPU (default 1) and wrk on CPU $LOAD_CPU (default 0).
#
#   cargo build --release
#   loadtest/peers.sh                              # kit in ../shared/bench (or set BENCH_KIT)
#   SESSIONS_BIN=/tmp/other-build loadtest/peers.sh  # another binary, for before/after
#
# Env: SESSIONS_BIN (default target/release/sessions), BENCH_KIT (folder of peers.sh),
# PORT (default 18080), BENCH_NICE (default -10: the servers and wrk get CPU before builds
# running beside them; needs root, set it empty otherwise), RUST_LOG (default info), and
# everything peers.sh reads (DURATION, WARMUP, CONNECTIONS, ...). Traffic stays on 127.0.0.1;
# the server started here is stopped by its PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${SESSIONS_BIN:-$ROOT/target/release/sessions}"
KIT="${BENCH_KIT:-$ROOT/../shared/bench}"
PORT="${PORT:-18080}"
export BENCH_NICE="${BENCH_NICE--10}"
SERVER_CPU="${SERVER_CPU:-1}"
LOG="$(mktemp -t sessions-peers-log.XXXXXX)"

[[ -x "$BIN" ]] || { echo "no binary at $BIN: cargo build --release" >&2; exit 2; }
[[ -x "$KIT/peers.sh" ]] || { echo "no peers.sh in $KIT: set BENCH_KIT" >&2; exit 2; }

NICE=(); [[ -n "$BENCH_NICE" ]] && NICE=(nice -n "$BENCH_NICE")
RUST_LOG="${RUST_LOG:-info}" "${NICE[@]}" taskset -c "$SERVER_CPU" "$BIN" --listen "127.0.0.1:$PORT" > "$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true' EXIT
echo "sessions: PID $PID on CPU $SERVER_CPU, log $LOG" >&2

SERVERS="${SERVERS:-limit sut}" SUT_URL="http://127.0.0.1:$PORT" SUT_PID="$PID" "$KIT/peers.sh"
