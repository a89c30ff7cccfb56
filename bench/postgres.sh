#!/usr/bin/env bash
# Capacity of the PostgreSQL store (README, "Several replicas"):
#   1. PostgreSQL work per proxied request, measured: a throwaway server,
#      two cliproxy replicas on it, N chat requests through them (a Python
#      stand-in upstream), and the server's own counters (transactions,
#      rows inserted, statements seen by pg_stat_database) before and after,
#      with the idle background work of the same time span subtracted.
#   2. What one PostgreSQL carries: pgbench with the statements cliproxy
#      sends (usage batch append, config write), durable settings (fsync on).
# Loopback only; stops everything it started. As root it runs PostgreSQL as
# the `postgres` user. Needs postgresql-15, python3, curl, oha (cargo install
# oha) and a build (target/release, else target/debug).
#
#   bench/postgres.sh                 # 2,000 requests
#   REQUESTS=10000 bench/postgres.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REQUESTS=${REQUESTS:-2000}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGPORT=${PGPORT:-55432}
UP_PORT=${UP_PORT:-18091}
BIN="$ROOT/target/release/cliproxy"
[ -x "$BIN" ] || BIN="$ROOT/target/debug/cliproxy"
for tool in python3 curl oha; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
[ -x "$PGBIN/initdb" ] || { echo "missing $PGBIN/initdb (apt-get install -y postgresql-15)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cliproxy-pgbench-XXXX)
PIDS=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
as_pg "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK ${PGOPTS:-}" start >/dev/null
URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
psql() { "$PGBIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PGPORT" -U postgres postgres "$@"; }

cat >"$WORK/up.py" <<'PY'
import http.server, sys
BODY = b'{"id":"c1","object":"chat.completion","created":1,"model":"up-model","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}'
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$WORK/up.py" "$UP_PORT" & PIDS+=($!)

start_replica() { # name port
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/config.yaml" <<YAML
host: 127.0.0.1
port: $2
store:
  postgres-url: "$URL"
api-keys: [bench-key]
usage-statistics-enabled: true
openai-compatibility:
  - name: Up
    base-url: http://127.0.0.1:$UP_PORT/v1/
    api-key-entries: [{api-key: sk-up}]
    models: [{name: up-model, alias: gpt-bench}]
YAML
    (cd "$WORK/$1" && HOME="$WORK/$1" exec "$BIN" --config config.yaml >"$WORK/$1.log" 2>&1) & PIDS+=($!)
    for _ in $(seq 100); do grep -q "cliproxy ready" "$WORK/$1.log" 2>/dev/null && return; sleep 0.1; done
    echo "replica $1 did not start" >&2; cat "$WORK/$1.log" >&2; exit 1
}
start_replica a 18501
start_replica b 18502

counters() {
    psql -c "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = 'postgres'"
}
# Counters lag by up to PGSTAT's flush interval; a sleep lets them settle.
settle() { sleep 1.5; }

[ -n "${KEEP:-}" ] && { echo "$WORK"; sleep "$KEEP"; }
settle; c0=$(counters); t0=$(date +%s.%N)
sleep 10
settle; c1=$(counters); t1=$(date +%s.%N)
BODY='{"model":"gpt-bench","messages":[{"role":"user","content":"hi"}]}'
half=$((REQUESTS / 2))
s0=$(date +%s.%N)
LOADS=()
for port in 18501 18502; do
    oha -n "$half" -c 16 --no-tui -m POST -H "Authorization: Bearer bench-key" \
        -H "Content-Type: application/json" -d "$BODY" "http://127.0.0.1:$port/v1/chat/completions" \
        >"$WORK/oha-$port.txt" &
    LOADS+=($!)
done
wait "${LOADS[@]}"
s1=$(date +%s.%N)
sleep 2; settle; c2=$(counters); t2=$(date +%s.%N)

python3 - "$c0" "$c1" "$c2" "$t0" "$t1" "$t2" "$s0" "$s1" "$REQUESTS" <<'PY'
import sys
c = [list(map(int, x.split("|"))) for x in sys.argv[1:4]]
t0, t1, t2, s0, s1 = map(float, sys.argv[4:9]); n = int(sys.argv[9])
idle_rate = [(c[1][i] - c[0][i]) / (t1 - t0) for i in range(3)]
load = [(c[2][i] - c[1][i]) - idle_rate[i] * (t2 - t1) for i in range(3)]
print(f"idle, 2 replicas: {idle_rate[0]:.2f} transactions/s")
print(f"load: {n} requests in {s1 - s0:.1f} s ({n / (s1 - s0):.0f}/s through 2 replicas)")
print(f"per proxied request: {load[0] / n:.4f} transactions, {load[1] / n:.3f} rows inserted, {load[2] / n:.4f} rows updated")
PY
curl -s -H "Authorization: Bearer x" "http://127.0.0.1:18501/v0/management/usage" >/dev/null || true
echo "usage rows: $(psql -c 'SELECT count(*) FROM cliproxy_shared_log'), bytes per row with index: $(psql -c 'SELECT pg_total_relation_size($$cliproxy_shared_log$$) / count(*) FROM cliproxy_shared_log')"

# 2. What one PostgreSQL carries: the same statements, as fast as it goes.
cat >"$WORK/append.sql" <<'SQL'
BEGIN;
SELECT pg_advisory_xact_lock(427066929007);
INSERT INTO cliproxy_shared_log (stream, replica, body)
  SELECT 'usage/details', 'bench', '{"api":"client-key","model":"gpt-test","ns":1764588367229231564,"off":0,"source":"sk-upstream-1","auth":"f8e66577cbf0ca54","failed":false,"latency":3,"i":5,"o":2,"r":0,"c":0,"t":7}'
  FROM generate_series(1, :batch);
COMMIT;
SQL
cat >"$WORK/config.sql" <<'SQL'
BEGIN;
UPDATE cliproxy_config SET body = body, version = version + 1, updated_at = now() WHERE id = 1;
SELECT pg_notify('cliproxy_config', 'bench');
COMMIT;
SQL
pgb() { "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PGPORT" -U postgres "$@" postgres 2>&1 | grep -E "^tps" | sed 's/(without initial connection time)//'; }
for batch in 1 100 1000; do
    echo "usage append, batch $batch rows, 8 clients: $(pgb -c 8 -j 2 -T 10 -D batch=$batch -f "$WORK/append.sql")"
done
echo "config write + notify, 4 clients: $(pgb -c 4 -j 2 -T 10 -f "$WORK/config.sql")"
echo "catch-up read (100 newest), 8 clients: $(echo "SELECT id, replica = 'x', body FROM cliproxy_shared_log WHERE stream = 'usage/details' AND id > (SELECT max(id) - 100 FROM cliproxy_shared_log) ORDER BY id LIMIT 5000;" > "$WORK/read.sql"; pgb -c 8 -j 2 -T 10 -f "$WORK/read.sql")"
