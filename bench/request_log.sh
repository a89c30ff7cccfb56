#!/usr/bin/env bash
# Cost of request logging: requests/s, p99 latency and peak memory (VmHWM)
# of a release cliproxy with `request-log: false` and with
# `request-log: true` (one file per request in the log folder), against a
# fast stand-in upstream (nginx answering fixed bodies): plain JSON, SSE,
# and 10 MB request bodies. A fresh server per mode, so each peak is its own.
#
# Needs: nginx, wrk, curl (apt-get install -y nginx wrk curl) and a release
# build (cargo build --release --workspace). Loopback only; stops by itself.
# The log folder is in a temp folder and removed at the end.
#
#   bench/request_log.sh                 # 64 connections, 10 s per run
#   CONNS=32 DURATION=20s bench/request_log.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONNS=${CONNS:-64}
BIG_CONNS=${BIG_CONNS:-4}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
UP_PORT=${UP_PORT:-18091}
PROXY_PORT=${PROXY_PORT:-18327}
BIN="$ROOT/target/release/cliproxy"

. "$ROOT/bench/upstream.sh"
need_tools nginx wrk curl
need_binary "$BIN"

bench_workdir
start_upstream "$UP_PORT"

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
local stream = os.getenv("BENCH_STREAM") == "1"
local content = "Say hello."
local size = tonumber(os.getenv("BENCH_BODY") or "0")
if size > 0 then content = string.rep("z", size) end
wrk.body = '{"model":"' .. os.getenv("BENCH_MODEL") .. '","stream":' .. (stream and "true" or "false")
    .. ',"messages":[{"role":"user","content":"' .. content .. '"}]}'
LUA

run() { # label model stream body-bytes conns
    local out rps p99 errors
    out=$(BENCH_MODEL="$2" BENCH_STREAM="$3" BENCH_BODY="$4" wrk -t"$THREADS" -c"$5" -d"$DURATION" \
        --latency -s "$WORK/post.lua" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
    printf '| %-5s | %-26s | %10s | %8s |' "$MODE" "$1" "$rps" "$p99"
    if [ -n "$errors" ]; then printf ' %s' "$errors"; fi
}

count_logs() { # folder
    if [ -d "$1" ]; then find "$1" -name '*.log' | wc -l; else echo 0; fi
}

mode() { # request-log value
    MODE=$([ "$1" = true ] && echo on || echo off)
    local dir="$WORK/$MODE"
    mkdir -p "$dir"
    cat > "$dir/config.yaml" <<YAML
host: 127.0.0.1
port: $PROXY_PORT
api-keys: [bench-key]
request-log: $1
$(bench_openai_yaml "$UP_PORT")
YAML
    HOME="$dir" CLIPROXY_LOG=warn "$BIN" --config "$dir/config.yaml" >"$dir/cliproxy.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/" && break
        sleep 0.1
    done
    curl -sf -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" \
        -d '{"model":"bench-plain","messages":[]}' | grep -q 'bench upstream' || {
        echo "proxy sanity check failed; log:" >&2; cat "$dir/cliproxy.log" >&2; exit 1; }
    local before after
    before=$(count_logs "$dir/logs")
    run "plain JSON" bench-plain 0 0 "$CONNS"; echo
    run "SSE (7 events)" bench-sse 1 0 "$CONNS"; echo
    run "10 MB bodies, $BIG_CONNS conns" bench-plain 0 10000000 "$BIG_CONNS"; echo
    sleep 1
    after=$(count_logs "$dir/logs")
    local hwm rss dropped
    hwm=$(awk '/^VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")
    rss=$(awk '/^VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")
    dropped=$(grep -o 'dropped=[0-9]*' "$dir/cliproxy.log" | tail -1 || true)
    echo "|       | peak RSS (VmHWM) $hwm, RSS at end $rss; request log files written: $((after - before)); ${dropped:-no records dropped} | | |"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir/logs"
}

echo "cliproxy $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $CONNS connections ($BIG_CONNS for 10 MB bodies), $DURATION per run"
echo
printf '| %-5s | %-26s | %10s | %8s |\n' "log" "run" "req/s" "p99"
printf '|%s|%s|%s|%s|\n' "-------" "----------------------------" "------------" "----------"
mode false
mode true
