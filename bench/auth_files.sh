#!/usr/bin/env bash
# Scale measurement for credential files: N files (default 2,000, a mix of
# claude, codex, gemini and antigravity) in auth-dir, then
#   - time from start to the ready line (the folder is loaded before it),
#   - resident memory (VmRSS) after loading and after the listings,
#   - GET /v0/management/auth-files: wall time of single calls (curl),
#   - GET /v1/models (the registry built from every file),
#   - one file dropped in by hand: time until it is listed.
# All tokens are fake and nothing is sent upstream (the files expire far in
# the future, so no refresh runs). Loopback only; stops by itself.
#
# Needs curl and a release build (cargo build --release --workspace).
#
#   bench/auth_files.sh          # 2,000 files
#   FILES=5000 bench/auth_files.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${FILES:-2000}
PORT=${PORT:-18417}
RUNS=${RUNS:-20}
BIN="$ROOT/target/release/cliproxy"
KEY=bench-management-key

command -v curl >/dev/null || { echo "missing curl" >&2; exit 1; }
[ -x "$BIN" ] || { echo "missing $BIN (cargo build --release --workspace)" >&2; exit 1; }

WORK=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/auths"
python3 - "$WORK/auths" "$FILES" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
kinds = ["claude", "codex", "gemini", "antigravity"]
for i in range(n):
    k = kinds[i % 4]
    email = f"user{i}@example.com"
    if k == "gemini":
        doc = {"type": "gemini", "email": email, "project_id": f"proj-{i}",
               "token": {"access_token": f"ya29.fake-{i}-" + "x" * 180, "refresh_token": f"1//fake-{i}",
                         "expiry": "2099-01-01T00:00:00Z", "token_uri": "https://oauth2.googleapis.com/token"}}
    else:
        doc = {"type": k, "email": email, "access_token": f"fake-{i}-" + "x" * 400,
               "refresh_token": f"rt-{i}", "expired": "2099-01-01T00:00:00Z",
               "last_refresh": "2026-11-30T00:00:00Z", "project_id": f"proj-{i}"}
    with open(os.path.join(d, f"{k}-{email}.json"), "w") as f:
        json.dump(doc, f, indent=2)
PY

cat > "$WORK/config.yaml" <<YAML
host: 127.0.0.1
port: $PORT
auth-dir: ./auths
remote-management:
  secret-key: "$KEY"
YAML

now_ms() { date +%s%3N; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

start=$(now_ms)
"$BIN" --config "$WORK/config.yaml" > "$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
    grep -q "cliproxy ready" "$WORK/log" && break
    sleep 0.05
done
grep -q "cliproxy ready" "$WORK/log" || { cat "$WORK/log" >&2; exit 1; }
ready=$(now_ms)
echo "files:                 $FILES"
echo "start to ready:        $((ready - start)) ms"
echo "RSS after load:        $(( $(rss_kib) / 1024 )) MiB"

auth() { curl -s -o "$1" -w '%{time_total}\n' -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT$2"; }
# The first call hashes the management key (bcrypt); not part of the figure.
auth /dev/null /v0/management/auth-files >/dev/null
echo "RSS after 1st listing: $(( $(rss_kib) / 1024 )) MiB"
times=()
for _ in $(seq 1 "$RUNS"); do times+=("$(auth "$WORK/list.json" /v0/management/auth-files)"); done
listed=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$WORK/list.json")
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$RUNS" -v listed="$listed" '
    {a[NR]=$1} END {printf "GET /auth-files:       median %.1f ms, max %.1f ms (%d entries, %d runs)\n", a[int((n+1)/2)]*1000, a[n]*1000, listed, n}'
echo "RSS after $RUNS more:   $(( $(rss_kib) / 1024 )) MiB"
size=$(stat -c %s "$WORK/list.json")
echo "listing size:          $((size / 1024)) KiB"
m=$(curl -s -o "$WORK/models.json" -w '%{time_total}' "http://127.0.0.1:$PORT/v1/models")
printf 'GET /v1/models:        %.1f ms (first call builds the registry)\n' "$(echo "$m * 1000" | bc -l)"
echo "RSS after listings:    $(( $(rss_kib) / 1024 )) MiB"

cp "$WORK/auths/claude-user0@example.com.json" "$WORK/dropped.json"
sed -i 's/user0@example.com/dropped@example.com/' "$WORK/dropped.json"
t0=$(now_ms)
mv "$WORK/dropped.json" "$WORK/auths/claude-dropped@example.com.json"
until curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v0/management/auth-files" | grep -q 'claude-dropped@example.com.json'; do
    [ $(( $(now_ms) - t0 )) -gt 5000 ] && { echo "dropped file not picked up" >&2; exit 1; }
    sleep 0.02
done
echo "hand-dropped file live: $(( $(now_ms) - t0 )) ms"
if grep -q "fake-1-" "$WORK/log"; then echo "TOKEN LEAKED INTO THE LOG" >&2; exit 1; fi
