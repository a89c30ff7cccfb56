#!/usr/bin/env bash
# A profile-guided (PGO) release build of the server and every bundled
# plugin, into target/pgo/release/ (run it as target/release/cliproxy is
# run: the plugins sit beside the binary).
#
# Builds an instrumented release (target/pgo-generate), runs the workload
# bench/link_order.sh uses (bench/workload.sh: every kind of proxied call
# the bundled plugins serve, against stand-in upstreams in each provider's
# wire format), merges the counts it wrote and builds again with them
# (`-Cprofile-use`). The compiler then knows which branches and calls the
# proxy path takes: on the bench's OpenAI-compatible call the PGO build ran
# 16 % fewer instructions per request (README, Performance). The counts
# are not kept in the repository: they belong to one compiler version and
# to the exact source, so the script makes them afresh for each build.
#
# Needs: nginx, oha, curl, python3 and llvm-profdata of the toolchain's
# LLVM (`rustup component add llvm-tools`). Loopback only; stops by
# itself. About twice a release build's time.
#
#   bench/pgo.sh                      # -> target/pgo/release/cliproxy
#   REQUESTS=2000 bench/pgo.sh        # calls per kind of OpenAI call in
#                                     # the training (the others a quarter)
#   BIN_DIR=target/pgo/release bench/perf.sh   # then measure it
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE_PORT=${BASE_PORT:-18500}
REQUESTS=${REQUESTS:-2000}
GENERATE_DIR=$ROOT/target/pgo-generate
USE_DIR=$ROOT/target/pgo

. "$ROOT/bench/upstream.sh"
need_tools nginx oha curl python3 cargo rustc sha256sum
host=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=${PROFDATA:-$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata}
[ -x "$PROFDATA" ] || { echo "missing $PROFDATA (rustup component add llvm-tools)" >&2; exit 1; }

# 1. Instrumented. Its profile folder is fixed so that a second run reuses
# the build; what build scripts write there at compile time is not used.
echo "pgo: instrumented build (target/pgo-generate)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$GENERATE_DIR/compile-time-profiles" \
    cargo build --release --workspace --target-dir "$GENERATE_DIR" --manifest-path "$ROOT/Cargo.toml"

# 2. Training: the instrumented server (and each plugin library, in a file
# of its own) writes its counts when it exits.
bench_workdir
UP=$BASE_PORT
PROXY=$((BASE_PORT + 1))
BIN_DIR=$GENERATE_DIR/release
need_binary "$BIN_DIR/cliproxy"
. "$ROOT/bench/workload.sh"
start_workload_upstream "$UP"
mkdir -p "$WORK/profiles"
start_server() { # name config
    (cd "$WORK" && CLIPROXY_LOG=warn LLVM_PROFILE_FILE="$WORK/profiles/$1-%m-%p.profraw" \
        exec "$BIN_DIR/cliproxy" --config "$2") >"$WORK/$1.log" 2>&1 &
    SERVER_PID=$!
}
phase_done() { :; }
server_done() { # name
    ls "$WORK/profiles/$1"-*.profraw >/dev/null 2>&1 ||
        { echo "the $1 server wrote no profile:" >&2; tail -5 "$WORK/$1.log" >&2; exit 1; }
}
echo "pgo: training ($REQUESTS calls per kind of OpenAI-compatible call)"
run_workload "$REQUESTS"

# 3. One merged profile, named by its content: cargo rebuilds when the
# flags change, not when a file they name does.
"$PROFDATA" merge -o "$WORK/merged.profdata" "$WORK/profiles"/*.profraw
sum=$(sha256sum "$WORK/merged.profdata" | cut -c1-16)
mkdir -p "$USE_DIR"
rm -f "$USE_DIR"/cliproxy-*.profdata
PROFILE=$USE_DIR/cliproxy-$sum.profdata
cp "$WORK/merged.profdata" "$PROFILE"

# 4. Optimised with the counts.
echo "pgo: optimised build (target/pgo)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$PROFILE" \
    cargo build --release --workspace --target-dir "$USE_DIR" --manifest-path "$ROOT/Cargo.toml"

# 5. The same kinds of call once more, a few each, through the optimised
# build: every one must succeed (send() stops at the first that does not).
BIN_DIR=$USE_DIR/release
need_binary "$BIN_DIR/cliproxy"
server_done() { :; }
echo "pgo: checking the optimised build (every kind of call)"
run_workload 8
echo "pgo: built $USE_DIR/release/cliproxy with its plugins (profile $PROFILE)"
