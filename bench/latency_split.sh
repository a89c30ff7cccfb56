#!/usr/bin/env bash
# Where the latency a hop adds goes, at a fixed rate (issue 16): the time
# of each step of a proxied request, from the system calls of the load
# generator, the hop and the stand-in upstream, for cliproxy and for the
# nginx reverse-proxy hop side by side (and the upstream called directly).
#
# Each process's reads and writes are recorded with perf's syscall
# tracepoints for one second of an oha run at $RATE requests/s, and paired
# across processes by TCP connection (both ends of a loopback connection
# are known from /proc/net/tcp). The steps, as medians:
#   client -> hop        oha's write to the hop's read returning the request
#   hop, request         that read to the hop's write to the upstream
#   hop -> upstream      that write to the upstream's read returning it
#   upstream             the upstream's read to its write of the answer
#   upstream -> hop      that write to the hop's read returning the answer
#   hop, answer          that read to the hop's write to the client
#   hop -> client        that write to oha's read returning the answer
# A "->" step is the kernel's delivery plus the reader's wake-up: on the
# 2-core machine it grows with whatever else wants a core then, which is
# how a hop's CPU time shows in steps it does not run in. So a second
# trace (the scheduler's switches and wake-ups, machine-wide) gives, per
# process, the median time from a thread's wake-up to its running, the
# share of wake-ups that found their core idle, and each one's CPU use.
#
# Needs: perf (linux-perf; the tracepoints, no hardware counters), nginx,
# oha, python3 and a release build. Runs as root (perf on other
# processes). Loopback only; stops by itself.
#
#   bench/latency_split.sh                 # SSE at 5,000 req/s
#   KIND=plain RATE=500 bench/latency_split.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/target/release}
BASE_PORT=${BASE_PORT:-18740}
RATE=${RATE:-5000}
KIND=${KIND:-sse}
CONNS=${CONNS:-64}

. "$ROOT/bench/upstream.sh"
BIN_DIR=$(absolute "$BIN_DIR")
need_tools perf nginx oha python3
need_binary "$BIN_DIR/cliproxy"
case "$KIND" in plain | sse) ;; *) echo "KIND is plain or sse" >&2; exit 1 ;; esac

bench_workdir
UP=$BASE_PORT
HOP=$((BASE_PORT + 1))
PROXY=$((BASE_PORT + 2))
start_upstream "$UP"
UP_MASTER=${PIDS[0]}
nginx_hop_conf "$HOP" "$UP" auto >"$WORK/hop.conf"
nginx -c "$WORK/hop.conf" -p "$WORK" 2>>"$WORK/nginx.log" &
PIDS+=($!)
HOP_MASTER=$!
mkdir -p "$WORK/auths"
cat >"$WORK/config.yaml" <<YAML
host: 127.0.0.1
port: $PROXY
auth-dir: $WORK/auths
api-keys: [bench-key]
usage-statistics-enabled: false
$(bench_openai_yaml "$UP")
YAML
CLIPROXY_LOG=warn "$BIN_DIR/cliproxy" --config "$WORK/config.yaml" >"$WORK/cliproxy.log" 2>&1 &
PIDS+=($!)
PROXY_PID=$!

stream=false
[ "$KIND" = sse ] && stream=true
for _ in $(seq 1 400); do
    curl -sf -o /dev/null -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
        "http://127.0.0.1:$PROXY/v1/chat/completions" \
        -d "{\"model\":\"bench-$KIND\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}" && break
    sleep 0.025
done

# The nginx workers are the masters' children.
children() { pgrep -P "$1" | paste -sd, -; }
UP_WORKERS=$(children "$UP_MASTER")

for row in direct nginx cliproxy; do
    case $row in
    direct)
        url="http://127.0.0.1:$UP/$KIND/v1/chat/completions"
        body="{\"model\":\"bench\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
        hop="" ;;
    nginx)
        url="http://127.0.0.1:$HOP/$KIND/v1/chat/completions"
        body="{\"model\":\"bench\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
        hop=$(children "$HOP_MASTER") ;;
    cliproxy)
        url="http://127.0.0.1:$PROXY/v1/chat/completions"
        body="{\"model\":\"bench-$KIND\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
        hop=$PROXY_PID ;;
    esac
    oha --no-tui --output-format json -m POST -H 'Authorization: Bearer bench-key' -T application/json \
        -d "$body" -c "$CONNS" -q "$RATE" -z 7s --latency-correction "$url" >"$WORK/oha-$row.json" 2>/dev/null &
    oha_pid=$!
    # Past oha's connecting, then one second of every process's calls.
    sleep 1.5
    pids="$oha_pid,$UP_WORKERS"
    [ -z "$hop" ] || pids="$pids,$hop"
    perf record -q -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -p "$pids" \
        -o "$WORK/$row.data" -- sleep 1 >/dev/null 2>&1
    # Then one second of the scheduler, machine-wide: how long each woken
    # thread waited for a core, and how busy the cores were.
    perf record -q -a -e sched:sched_waking,sched:sched_switch \
        -o "$WORK/$row.sched" -- sleep 1 >/dev/null 2>&1
    # The connections, then each traced socket: process, descriptor,
    # inode; both while oha still runs (it runs 7 s).
    cat /proc/net/tcp >"$WORK/tcp-$row"
    for pid in ${pids//,/ }; do
        for fd in /proc/"$pid"/fd/*; do
            link=$(readlink "$fd" 2>/dev/null || true)
            case "$link" in socket:*)
                ino=${link#socket:[}
                echo "$pid ${fd##*/} ${ino%]}" ;;
            esac
        done
    done >"$WORK/sockets-$row"
    # Each traced thread and what it belongs to, for the scheduler's trace.
    for pid in ${pids//,/ }; do
        for task in /proc/"$pid"/task/*; do
            echo "$pid ${task##*/}"
        done
    done >"$WORK/threads-$row"
    wait "$oha_pid" || true
    perf script -i "$WORK/$row.data" -F pid,tid,time,event,trace >"$WORK/$row.txt" 2>/dev/null
    perf script -i "$WORK/$row.sched" -F pid,tid,cpu,time,event,trace >"$WORK/$row.sched.txt" 2>/dev/null
    echo "$row $oha_pid ${UP_WORKERS} ${hop:-none}" >>"$WORK/roles"
done

echo "cliproxy $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d), $KIND at $RATE req/s, $CONNS connections, one second traced per row"
python3 "$ROOT/bench/latency_split.py" "$WORK"
