#!/usr/bin/env bash
# The reference bench (issue 16): cliproxy beside the same stand-in upstream
# called directly and through an nginx reverse-proxy hop, all on 127.0.0.1.
#
# Prints, for plain JSON and a 7-event SSE stream: throughput at $CONNS
# connections (median of $RUNS runs and the run-to-run spread), p50 / p99
# at fixed rates of 500 and 5,000 requests/s (medians of $RATE_RUNS runs)
# and what each hop adds over calling the upstream directly, time to the
# first streamed byte, peak RSS and cold start to the first proxied answer; plus rows for a cross-format
# call (Claude client, OpenAI upstream: both translations), request-log on,
# and a client key with every limit set (issue 15: the cost of enforcement).
# Every feature stays on: client-key checks, usage records (usage plugin),
# cool-downs.
#
# Needs: nginx, oha (cargo install oha --locked), curl, python3 and a release
# build (cargo build --release --workspace). Loopback only; stops by itself.
#
#   bench/perf.sh                     # 15 s per row per run (5 slices), 3 runs
#   DURATION=5s RUNS=1 bench/perf.sh  # a quick look
#   SLICES=1 bench/perf.sh            # each row's run in one piece
#   RATE_RUNS=1 bench/perf.sh         # one fixed-rate run per row
#   COMPARE=/path/to/other/release bench/perf.sh
#                                     # adds rows for another build (a folder
#                                     # with cliproxy and its plugins), run
#                                     # interleaved with this one
#   COMPARE=target/pgo/release COMPARE_NAME="PGO build" bench/perf.sh
#                                     # the same, named (bench/pgo.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONNS=${CONNS:-64}
DURATION=${DURATION:-15s}
RATE_DURATION=${RATE_DURATION:-4s}
RATE_RUNS=${RATE_RUNS:-3}
# Each row's throughput run is cut into SLICES pieces, the rows taking
# turns slice by slice, so that every row of a run sees the same spells of
# a machine whose speed drifts (on the 2-core VM a CPU-bound loop moved
# 21 % between 15 s windows): a row's figure for the run is its requests
# over its time, summed over its slices.
SLICES=${SLICES:-5}
RUNS=${RUNS:-3}
BASE_PORT=${BASE_PORT:-18400}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
BIN_DIR=${BIN_DIR:-$ROOT/target/release}
COMPARE=${COMPARE:-}
export COMPARE_NAME=${COMPARE_NAME:-COMPARE build}

. "$ROOT/bench/upstream.sh"
BIN_DIR=$(absolute "$BIN_DIR")
[ -z "$COMPARE" ] || COMPARE=$(absolute "$COMPARE")
need_tools nginx oha curl python3
need_binary "$BIN_DIR/cliproxy"

bench_workdir
mkdir -p "$WORK/results"

UP=$BASE_PORT          # stand-in upstream (nginx answering fixed bodies)
HOP=$((BASE_PORT + 1)) # nginx reverse proxy in front of it
start_upstream "$UP"

# The hop: a plain reverse proxy with pooled upstream connections, as many
# workers as cores (cliproxy uses as many threads).
nginx_hop_conf "$HOP" "$UP" "$NGINX_WORKERS" >"$WORK/hop.conf"

# cliproxy configs: every request carries a client key, usage records go
# to the usage plugin, cool-downs are on (the defaults). The usage plugin's
# in-memory statistics (up to 100,000 request details) stay at their
# default, off, as in the issue's measurements; USAGE_STATS=1 turns them on
# (they then dominate peak RSS).
USAGE_STATS=${USAGE_STATS:-0}
proxy_config() { # port extra-yaml
    # Own auth-dir: the default (~/.cli-proxy-api) may hold another run's
    # usage database, which the usage plugin loads at start.
    mkdir -p "$WORK/auths-$1"
    cat <<YAML
host: 127.0.0.1
port: $1
auth-dir: $WORK/auths-$1
api-keys: [bench-key]
usage-statistics-enabled: $([ "$USAGE_STATS" = 1 ] && echo true || echo false)
$(bench_openai_yaml "$UP")
$2
YAML
}
POLICY_YAML=$(bench_policy_yaml 'bench-*')
LOG_YAML='request-log: true'

declare -A PORT PID_OF
start_proxy() { # name bin-dir extra-yaml port
    mkdir -p "$WORK/$1"
    proxy_config "$4" "$3" >"$WORK/$1/config.yaml"
    CLIPROXY_LOG=warn "$2/cliproxy" --config "$WORK/$1/config.yaml" >"$WORK/$1/log" 2>&1 &
    PIDS+=($!)
    PID_OF[$1]=$!
    PORT[$1]=$4
}

wait_answer() { # url body; bounded
    for _ in $(seq 1 2000); do
        if curl -sf -o /dev/null -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
            "$1" -d "$2" 2>/dev/null; then
            return 0
        fi
        sleep 0.005
    done
    echo "no answer from $1" >&2
    return 1
}

now_ns() { date +%s%N; }
chat_body() { printf '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"Say hello."}]}' "$1" "$2"; }
claude_body() { printf '{"model":"%s","max_tokens":64,"stream":%s,"messages":[{"role":"user","content":"Say hello."}]}' "$1" "$2"; }

# Cold start: spawn to the first proxied answer, every plugin loaded.
cold_start() { # name bin-dir port
    local t0 t1
    mkdir -p "$WORK/$1"
    proxy_config "$3" "" >"$WORK/$1/config.yaml"
    t0=$(now_ns)
    CLIPROXY_LOG=warn "$2/cliproxy" --config "$WORK/$1/config.yaml" >"$WORK/$1/log" 2>&1 &
    local pid=$!
    wait_answer "http://127.0.0.1:$3/v1/chat/completions" "$(chat_body bench-plain false)"
    t1=$(now_ns)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo $(((t1 - t0) / 1000))
}
cold_nginx() {
    local t0 t1
    t0=$(now_ns)
    nginx -c "$WORK/hop.conf" -p "$WORK" 2>>"$WORK/nginx.log" &
    local pid=$!
    wait_answer "http://127.0.0.1:$HOP/plain/v1/chat/completions" "$(chat_body bench-plain false)"
    t1=$(now_ns)
    kill -QUIT "$pid"
    wait "$pid" 2>/dev/null || true
    echo $(((t1 - t0) / 1000))
}

# Every page of both builds in the page cache first: the kernel maps the
# 64 KB around a page fault only from cached pages, so a build just written
# (all of it cached) would show more resident file pages than one read long
# ago, whatever its code.
cat "$BIN_DIR"/cliproxy "$BIN_DIR"/*.so >/dev/null
[ -n "$COMPARE" ] && cat "$COMPARE"/cliproxy "$COMPARE"/*.so >/dev/null

: >"$WORK/results/cold.txt"
for i in 1 2 3; do
    echo "cliproxy $(cold_start cold "$BIN_DIR" $((BASE_PORT + 9)))" >>"$WORK/results/cold.txt"
    echo "nginx $(cold_nginx)" >>"$WORK/results/cold.txt"
    if [ -n "$COMPARE" ]; then
        echo "compare $(cold_start cold "$COMPARE" $((BASE_PORT + 9)))" >>"$WORK/results/cold.txt"
    fi
done

nginx -c "$WORK/hop.conf" -p "$WORK" 2>>"$WORK/nginx.log" &
PIDS+=($!)
start_proxy cliproxy "$BIN_DIR" "" $((BASE_PORT + 2))
start_proxy policy "$BIN_DIR" "$POLICY_YAML" $((BASE_PORT + 3))
start_proxy reqlog "$BIN_DIR" "$LOG_YAML" $((BASE_PORT + 4))
if [ -n "$COMPARE" ]; then
    start_proxy compare "$COMPARE" "" $((BASE_PORT + 5))
fi
for name in "${!PORT[@]}"; do
    wait_answer "http://127.0.0.1:${PORT[$name]}/v1/chat/completions" "$(chat_body bench-plain false)"
done
wait_answer "http://127.0.0.1:$HOP/plain/v1/chat/completions" "$(chat_body bench-plain false)"

# Sanity: the proxy answers what the upstream answers, all 7 events.
P=${PORT[cliproxy]}
curl -sf -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$P/v1/chat/completions" \
    -d "$(chat_body bench-plain false)" | grep -q 'bench upstream' ||
    { echo "proxy sanity check failed" >&2; cat "$WORK/cliproxy/log" >&2; exit 1; }
events=$(curl -sfN -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$P/v1/chat/completions" \
    -d "$(chat_body bench-sse true)" | grep -c '^data: ')
[ "$events" = 7 ] || { echo "stream sanity check failed: $events events" >&2; exit 1; }
curl -sf -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$P/v1/messages" \
    -d "$(claude_body bench-plain false)" | grep -q '"type":"message"' ||
    { echo "cross-format sanity check failed" >&2; exit 1; }

# row name -> "url body"
declare -A URL BODY
row() { URL[$1]=$2; BODY[$1]=$3; }
for kind in plain sse; do
    stream=false
    [ $kind = sse ] && stream=true
    row "direct-$kind" "http://127.0.0.1:$UP/$kind/v1/chat/completions" "$(chat_body bench-$kind $stream)"
    row "nginx-$kind" "http://127.0.0.1:$HOP/$kind/v1/chat/completions" "$(chat_body bench-$kind $stream)"
    for name in "${!PORT[@]}"; do
        row "$name-$kind" "http://127.0.0.1:${PORT[$name]}/v1/chat/completions" "$(chat_body bench-$kind $stream)"
    done
    row "cross-$kind" "http://127.0.0.1:$P/v1/messages" "$(claude_body bench-$kind $stream)"
done
ORDER=(direct nginx cliproxy)
[ -n "$COMPARE" ] && ORDER+=(compare)
ORDER+=(policy reqlog cross)
# With COMPARE, every other run swaps the two builds' places, so that
# neither always follows the nginx row.
SWAPPED=(direct nginx compare cliproxy policy reqlog cross)
order_of_run() { # run
    if [ -n "$COMPARE" ] && [ $(($1 % 2)) = 0 ]; then
        echo "${SWAPPED[@]}"
    else
        echo "${ORDER[@]}"
    fi
}

load() { # row out-file [extra oha args...]
    local name=$1 out=$2
    shift 2
    oha --no-tui --output-format json -m POST -H 'Authorization: Bearer bench-key' \
        -T application/json -d "${BODY[$name]}" "$@" "${URL[$name]}" >"$out" 2>/dev/null || true
}

# Throughput: the rows interleaved within each run, slice by slice, so
# that a busy moment of the machine spreads over all of them.
duration_s=${DURATION%s}
case "$duration_s" in
'' | *[!0-9]*) echo "DURATION is whole seconds, like 15s" >&2; exit 1 ;;
esac
case "$SLICES" in
'' | *[!0-9]* | 0) echo "SLICES is a positive whole number" >&2; exit 1 ;;
esac
slice_d=$((duration_s * 1000 / SLICES))ms
for run in $(seq 1 "$RUNS"); do
    for slice in $(seq 1 "$SLICES"); do
        for kind in plain sse; do
            for r in $(order_of_run "$run"); do
                load "$r-$kind" "$WORK/results/tput-$r-$kind-$run-$slice.json" -c "$CONNS" -z "$slice_d"
            done
        done
    done
done
# Fixed rates (latency corrected for coordinated omission), RATE_RUNS runs
# of each row, the rows taking turns; each figure is the median over the
# runs, what a row adds over the direct row taken run by run.
for run in $(seq 1 "$RATE_RUNS"); do
    for rate in 500 5000; do
        for kind in plain sse; do
            for r in "${ORDER[@]}"; do
                load "$r-$kind" "$WORK/results/rate$rate-$r-$kind-$run.json" -c "$CONNS" -q "$rate" \
                    -z "$RATE_DURATION" --latency-correction
            done
        done
    done
done
# Time to the first streamed byte, 200 sequential requests each.
ttfb() { # url body
    for _ in $(seq 1 200); do
        curl -s -o /dev/null -w '%{time_starttransfer}\n' -H 'Authorization: Bearer bench-key' \
            -H 'Content-Type: application/json' "$1" -d "$2"
    done | sort -n | awk '{a[NR]=$1} END {print a[int(NR/2)+1] * 1000}'
}
{
    echo "direct $(ttfb "${URL[direct-sse]}" "${BODY[direct-sse]}")"
    echo "nginx $(ttfb "${URL[nginx-sse]}" "${BODY[nginx-sse]}")"
    echo "cliproxy $(ttfb "${URL[cliproxy-sse]}" "${BODY[cliproxy-sse]}")"
} >"$WORK/results/ttfb.txt"

# Peak RSS (kB): cliproxy processes, and the hop's nginx processes summed.
{
    for name in "${!PID_OF[@]}"; do
        echo "$name $(awk '/VmHWM/ {print $2}' "/proc/${PID_OF[$name]}/status")"
    done
    # What the server holds now, split: mapped code and data files (shared
    # with the page cache) and its own memory.
    echo "cliproxy-file $(awk '/RssFile/ {print $2}' "/proc/${PID_OF[cliproxy]}/status")"
    echo "cliproxy-anon $(awk '/RssAnon/ {print $2}' "/proc/${PID_OF[cliproxy]}/status")"
    hop_pids=$(pgrep -f "nginx.*$WORK/hop.conf" || true)
    total=0
    for p in $hop_pids; do
        total=$((total + $(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "nginx $total"
} >"$WORK/results/rss.txt"

echo "cliproxy $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d), $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# A stale link order (bench/link_order.sh) shows as names not found.
python3 "$ROOT/bench/link_order.py" --check "$ROOT" "$BIN_DIR"
echo "$CONNS connections, $DURATION x $RUNS runs in $SLICES slices each (median, spread = (max-min)/median), fixed rates $RATE_DURATION x $RATE_RUNS runs each (medians)"
python3 "$ROOT/bench/perf_report.py" "$WORK/results" "${ORDER[*]}"
