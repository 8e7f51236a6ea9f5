#!/usr/bin/env bash
# PostgreSQL's own limit for a get by id: pgbench running the store's primary-key SELECT (all
# columns, as `PostgresStore::get` reads them) over 100 000 sessions, one client, prepared
# statements, so that it can be compared with the criterion bench `postgres/get_by_id`.
#
#   DATABASE_URL=postgres://lead:lead@127.0.0.1:5432/lead loadtest/pgbench-get.sh
#
# Makes a schema of its own (the migrations in migrations/postgres, 100 000 rows whose ids
# are 32 lowercase hex digits like the service's), runs pgbench for DURATION seconds
# (default 10), prints its summary and the time per SELECT, and drops the schema.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB}"
DURATION="${DURATION:-10}"
cd "$(dirname "$0")/.."
schema="pgbench_get_$$"
work="$(mktemp -d -t pgbench-get.XXXXXX)"
cleanup() {
  psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >/dev/null <<SQL
CREATE SCHEMA $schema;
SET search_path = $schema;
$(cat migrations/postgres/*.sql)
INSERT INTO sessions (id, user_id, user_name, active, open_time, request_time, address, client, "user", data)
SELECT md5(n::text), 'user-' || (n % 2000), 'User ' || (n % 2000), TRUE,
       now() - n * interval '1 ms', now() - n * interval '1 ms', '127.0.0.1', 'bench',
       ('{"id": ' || (n % 2000) || ', "roles": ["reader"]}')::json, '{"cart": [1, 2, 3]}'::json
FROM generate_series(1, 100000) AS n;
ANALYZE sessions;
SQL

columns='id, user_id, user_name, active, open_time, request_time, close_time, address, client, "user", data, close_reason, closed_by, token_hash'
cat > "$work/get.sql" <<SQL
\set n random(1, 100000)
SELECT $columns FROM sessions WHERE id = md5(:n::text);
SQL

PGOPTIONS="-c search_path=$schema" pgbench -n -M prepared -c 1 -T "$DURATION" -f "$work/get.sql" "$DATABASE_URL" \
  | tee "$work/out.txt"
tps="$(awk '/^tps = / { print $3 }' "$work/out.txt")"
awk -v tps="$tps" 'BEGIN { printf "pgbench get by id: %.0f/s, %.1f us per SELECT (one client, prepared)\n", tps, 1e6 / tps }'
