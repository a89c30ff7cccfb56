#!/usr/bin/env bash
# Regenerates the link order (`link-order.txt` beside the Cargo.toml of the
# server and of each bundled plugin; sdk/build passes it to the linker).
#
# Runs a release build under valgrind's callgrind against stand-in
# upstreams answering in each provider's wire format, sends every kind of
# proxied call the bundled plugins serve (OpenAI, Claude, Gemini, Codex,
# Vertex, OpenAI-compatible; plain and streamed; same format and
# translated), once with request logs, usage statistics and a client-key
# policy on, and writes, per binary, the names of the functions that ran,
# by the phase that first ran them (start-up, then each kind of call, the
# OpenAI-compatible ones first), the busiest first within a phase. Linked
# in that order, the code
# a running server uses sits in a few contiguous pages instead of being
# spread over the whole text, and the kernel maps less of each file
# (README, Performance).
#
# Run it after changes that rename or add many functions, a new Rust
# toolchain or updated dependencies (symbol names carry hashes that change
# with them; names no longer found are skipped by the linker, so a stale
# order costs memory, never correctness). `bench/perf.sh` prints how much
# of the order the build it measures still finds.
#
# Needs: valgrind, nginx, oha, curl, python3 and a release build
# (cargo build --release --workspace). Loopback only; stops by itself.
#
#   bench/link_order.sh && cargo build --release --workspace
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/target/release}
BASE_PORT=${BASE_PORT:-18480}
REQUESTS=${REQUESTS:-200}

. "$ROOT/bench/upstream.sh"
BIN_DIR=$(absolute "$BIN_DIR")
need_tools valgrind callgrind_control nginx oha curl python3
need_binary "$BIN_DIR/cliproxy"

bench_workdir
UP=$BASE_PORT
PROXY=$((BASE_PORT + 1))

. "$ROOT/bench/workload.sh"
start_workload_upstream "$UP"

# A callgrind dump per phase of each server (its start-up, then each kind
# of call, then its shutdown): the order puts a function with the first
# phase that ran it, so that a server using one provider touches one
# contiguous stretch of code.
PHASES=()
start_server() { # name config
    OUT="$WORK/$1.cg"
    PART=0
    (cd "$WORK" && CLIPROXY_LOG=warn exec valgrind --tool=callgrind --demangle=no --dump-instr=no \
        --callgrind-out-file="$OUT" "$BIN_DIR/cliproxy" --config "$2") >"$WORK/$1.log" 2>&1 &
    SERVER_PID=$!
}
phase_done() {
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    PART=$((PART + 1))
    PHASES+=("$OUT.$PART")
}
# What ran after the last dump (shutdown) is in the file without a number.
server_done() { PHASES+=("$OUT"); }
run_workload

python3 "$ROOT/bench/link_order.py" "$ROOT" "$BIN_DIR" "${PHASES[@]}"
