#!/usr/bin/env bash
# Soak run (not part of CI): 10 minutes of mixed plain, streamed, failing and
# cancelled requests through a release cliproxy against a local Python
# stand-in; RSS and open file descriptors after the first minute and at the
# end must be within 10 %. Needs python3 and a release build
# (cargo build --release --workspace). Loopback only; stops by itself.
#
#   bench/soak.sh                    # 10 minutes, 8 client threads
#   DURATION=120 WORKERS=4 bench/soak.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/cliproxy"
export PROXY_PORT=${PROXY_PORT:-18627}
export UP_PORT=${UP_PORT:-18628}
[ -x "$BIN" ] || { echo "missing $BIN (cargo build --release --workspace)" >&2; exit 1; }

WORK=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/config.yaml" <<YAML
host: 127.0.0.1
port: $PROXY_PORT
auth-dir: ./auths
usage-statistics-enabled: true
plugins:
  configs:
    # Few details in memory, so that their (bounded) growth does not hide a leak.
    usage: {details-in-memory: 1000}
openai-compatibility:
  - name: soak
    base-url: http://127.0.0.1:$UP_PORT/v1
    models: [{name: m, alias: m}, {name: fail, alias: fail}]
YAML
HOME="$WORK" "$BIN" --config "$WORK/config.yaml" > "$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do grep -q "cliproxy ready" "$WORK/log" && break; sleep 0.05; done
grep -q "cliproxy ready" "$WORK/log" || { cat "$WORK/log" >&2; exit 1; }
SERVER_PID=$PID python3 "$ROOT/bench/soak.py"
