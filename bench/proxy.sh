#!/usr/bin/env bash
# Load measurement: requests/s and p99 latency through cliproxy against a
# fast stand-in upstream (nginx answering fixed bodies), beside the same
# figures for calling that upstream directly; plain JSON and SSE.
#
# Needs: nginx and wrk (apt-get install -y nginx wrk) and a release build
# (cargo build --release --workspace). Loopback only. Stops by itself.
#
#   bench/proxy.sh            # 64 connections, 15 s per run
#   CONNS=128 DURATION=30s bench/proxy.sh
#   POLICY=1 bench/proxy.sh   # the client key has a policy (every limit set,
#                             # none reached): the cost of enforcement
#   RUNS=proxy bench/proxy.sh # only the runs through cliproxy
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONNS=${CONNS:-64}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}
UP_PORT=${UP_PORT:-18081}
PROXY_PORT=${PROXY_PORT:-18317}
BIN="$ROOT/target/release/cliproxy"
POLICY=${POLICY:-0}
RUNS=${RUNS:-all}

. "$ROOT/bench/upstream.sh"
need_tools nginx wrk
need_binary "$BIN"

bench_workdir
start_upstream "$UP_PORT"

cat > "$WORK/config.yaml" <<YAML
host: 127.0.0.1
port: $PROXY_PORT
api-keys: [bench-key]
$(bench_openai_yaml "$UP_PORT")
YAML
if [ "$POLICY" = 1 ]; then
    bench_policy_yaml 'bench-*' >> "$WORK/config.yaml"
fi
CLIPROXY_LOG=warn "$BIN" --config "$WORK/config.yaml" >"$WORK/cliproxy.log" 2>&1 &
PIDS+=($!)

# Wait (bounded) for both listeners.
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/plain/v1/chat/completions" -d '{}' &&
        curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/"; then
        break
    fi
    sleep 0.1
done

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
local stream = os.getenv("BENCH_STREAM") == "1"
wrk.body = '{"model":"' .. os.getenv("BENCH_MODEL") .. '","stream":' .. (stream and "true" or "false")
    .. ',"messages":[{"role":"user","content":"Say hello."}]}'
LUA

# Sanity: the proxy answers what the upstream answers.
curl -sf -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" \
    -d '{"model":"bench-plain","messages":[]}' | grep -q 'bench upstream' || {
    echo "proxy sanity check failed; log:" >&2; cat "$WORK/cliproxy.log" >&2; exit 1; }
events=$(curl -sfN -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" \
    -d '{"model":"bench-sse","stream":true,"messages":[]}' | grep -c '^data: ')
[ "$events" = 7 ] || { echo "stream sanity check failed: $events events" >&2; exit 1; }

run() { # label url model stream
    local out rps p99
    out=$(BENCH_MODEL="$3" BENCH_STREAM="$4" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
        -s "$WORK/post.lua" "$2")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    local errors
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
    printf '| %-22s | %10s | %8s | %s\n' "$1" "$rps" "$p99" "${errors:-}"
}

echo "cliproxy $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $CONNS connections, $DURATION per run, policy=$POLICY"
echo
printf '| %-22s | %10s | %8s |\n' "run" "req/s" "p99"
printf '|%s|%s|%s|\n' "------------------------" "------------" "----------"
[ "$RUNS" = proxy ] || run "direct, plain" "http://127.0.0.1:$UP_PORT/plain/v1/chat/completions" bench-plain 0
run "via cliproxy, plain" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench-plain 0
[ "$RUNS" = proxy ] || run "direct, stream" "http://127.0.0.1:$UP_PORT/sse/v1/chat/completions" bench-sse 1
run "via cliproxy, stream" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench-sse 1
