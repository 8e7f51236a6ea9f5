#!/usr/bin/env bash
# HTTP figures of the durable stores, side by side in one run: for each store and each server
# binary given, start the binary on a fresh store pinned to one core, run the bench kit's
# peers.sh on it (REST get / store / open, GraphQL get / open; 64 connections) and collect the
# rows into one table.
#
#   BINS="before=/tmp/sessions-main after=target/release/sessions" loadtest/durable-writes.sh
#
# Environment:
#   BINS       space-separated NAME=PATH of server binaries (default: after=target/release/sessions)
#   STORES     space-separated stores among sqlite-disk, sqlite-shm, postgres
#              (default: sqlite-disk sqlite-shm, plus postgres when DATABASE_URL is set)
#   DISK_DIR   folder on a real disk for sqlite-disk (default /tmp): its fsync is what counts
#   DATABASE_URL  postgres://USER:PASSWORD@127.0.0.1:5432/DB (a role that may create schemas);
#              each run gets a schema of its own, dropped afterwards
#   PEERS      the kit's peers.sh (default /work/shared/bench/peers.sh, or ../shared/bench/peers.sh)
#   DURATION, WARMUP, CONNECTIONS, SERVER_CPU, LOAD_CPU: passed to peers.sh
#   PORT       where the server listens (default 18193)
# After peers.sh, one more scenario on the same server: store_many_sessions, the REST store of
# store_session_data spread over 64 sessions (loadtest/store-many-sessions.lua).
# Prints one TSV table: store, binary, scenario, req/s, p99 ms, errors, server CPU %.
set -euo pipefail

BINS="${BINS:-after=target/release/sessions}"
DEFAULT_STORES="sqlite-disk sqlite-shm"
[[ -n "${DATABASE_URL:-}" ]] && DEFAULT_STORES="$DEFAULT_STORES postgres"
STORES="${STORES:-$DEFAULT_STORES}"
DISK_DIR="${DISK_DIR:-/tmp}"
PORT="${PORT:-18193}"
SERVER_CPU="${SERVER_CPU:-1}"
if [[ -z "${PEERS:-}" ]]; then
  for candidate in /work/shared/bench/peers.sh ../shared/bench/peers.sh; do
    [[ -x "$candidate" ]] && PEERS="$candidate" && break
  done
fi
[[ -x "${PEERS:-}" ]] || { echo "durable-writes: set PEERS to the bench kit's peers.sh" >&2; exit 2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KIT_WRK="$(dirname "$PEERS")/wrk"
WORK="$(mktemp -d -t durable-writes.XXXXXX)"
TABLE="$WORK/table.tsv"
printf 'store\tbinary\tscenario\treq_s\tp99_ms\terrors\tserver_cpu_pct\n' > "$TABLE"
SERVER_PID=""
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT

# store_url STORE RUN: a fresh store for one run.
store_url() {
  case "$1" in
    sqlite-disk) echo "sqlite://$DISK_DIR/durable-writes-$2/sessions.db" ;;
    sqlite-shm) echo "sqlite:///dev/shm/durable-writes-$2/sessions.db" ;;
    postgres)
      : "${DATABASE_URL:?postgres needs DATABASE_URL}"
      psql -q "$DATABASE_URL" -c "CREATE SCHEMA dw_$2" >/dev/null
      local sep='?'; [[ "$DATABASE_URL" == *\?* ]] && sep='&'
      echo "$DATABASE_URL${sep}options=-c%20search_path%3Ddw_$2" ;;
    *) echo "unknown store $1" >&2; exit 2 ;;
  esac
}

drop_store() {
  case "$1" in
    sqlite-disk) rm -rf "$DISK_DIR/durable-writes-$2" ;;
    sqlite-shm) rm -rf "/dev/shm/durable-writes-$2" ;;
    postgres) psql -q "$DATABASE_URL" -c "DROP SCHEMA dw_$2 CASCADE" >/dev/null ;;
  esac
}

run=0
for store in $STORES; do
  for entry in $BINS; do
    name="${entry%%=*}" bin="${entry#*=}"
    run=$((run + 1))
    tag="$$_$run"
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      echo "durable-writes: port $PORT is busy (set PORT)" >&2; exit 2
    fi
    url="$(store_url "$store" "$tag")"
    taskset -c "$SERVER_CPU" "$bin" --listen "127.0.0.1:$PORT" --store "$url" \
      > "$WORK/$store.$name.log" 2>&1 &
    SERVER_PID=$!
    echo "[$(date +%H:%M:%S)] $store / $name: PID $SERVER_PID" >&2
    sleep 1
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$store.$name.log" >&2; exit 2; }
    SERVERS=sut SUT_URL="http://127.0.0.1:$PORT" SUT_PID="$SERVER_PID" \
      RESULTS_TSV="$WORK/$store.$name.tsv" "$PEERS" > "$WORK/$store.$name.out" 2>&1 \
      || echo "peers.sh failed for $store / $name: see $WORK/$store.$name.out" >&2
    # store_many: the same write spread over 64 sessions (loadtest/store-many-sessions.lua).
    ids=""
    for n in $(seq 1 64); do
      id=$(curl -s -X POST "http://127.0.0.1:$PORT/v1/sessions/open_session" -H 'Content-Type: application/json' \
        -d "{\"user_id\":\"many-$n\"}" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
      ids="$ids${ids:+,}$id"
    done
    c0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0)
    WRK_DIR="$KIT_WRK" SESSION_IDS="$ids" taskset -c "${LOAD_CPU:-0}" wrk -t 1 -c "${CONNECTIONS:-64}" \
      -d "${DURATION:-10s}" --timeout 5s -s "$HERE/store-many-sessions.lua" "http://127.0.0.1:$PORT" \
      > "$WORK/$store.$name.many.txt" 2>&1 || true
    c1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0)
    read -r _ _ dur rps _ _ p99 _ ec er ew es et _ < <(grep '^WRKRESULT' "$WORK/$store.$name.many.txt" || echo "WRKRESULT 0 1 0 0 0 0 0 0 0 0 0 0 0")
    awk -v s="$store" -v b="$name" -v r="$rps" -v p="$p99" -v e=$((ec + er + ew + es + et)) \
      -v c0="$c0" -v c1="$c1" -v hz="$(getconf CLK_TCK)" -v d="$dur" \
      'BEGIN { printf "%s\t%s\tstore_many_sessions\t%.0f\t%.2f\t%s\t%.0f\n", s, b, r, p / 1000, e, 100 * (c1 - c0) / hz / (d / 1e6) }' >> "$TABLE"
    stop_server
    drop_store "$store" "$tag"
    if [[ -f "$WORK/$store.$name.tsv" ]]; then
      # server scenario req_s p50 p90 p99 max errors server_cpu wrk_cpu
      awk -F'\t' -v s="$store" -v b="$name" 'NR > 1 { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, b, $2, $3, $6, $8, $9 }' \
        "$WORK/$store.$name.tsv" >> "$TABLE"
    fi
  done
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); raw output in $WORK"
if command -v column >/dev/null; then column -t -s $'\t' "$TABLE"; else cat "$TABLE"; fi
