#!/usr/bin/env bash
# Instructions per proxied request (issue 16), counted by valgrind's
# callgrind: repeatable whatever else the machine is doing, so it shows the
# effect of a change that throughput runs would drown in noise.
#
# Starts a stand-in upstream (nginx answering a fixed OpenAI chat body),
# runs a release cliproxy under callgrind with every bundled plugin and a
# client key, warms it up, counts $REQUESTS plain requests (4 connections)
# and prints the instructions per request. The profile is kept for
# `callgrind_annotate --inclusive=yes` when KEEP=1.
#
# Needs: valgrind, nginx, oha, curl and a release build
# (cargo build --release --workspace). Loopback only; stops by itself.
#
#   bench/instructions.sh
#   BIN_DIR=/path/to/other/release bench/instructions.sh
#   STREAM=1 bench/instructions.sh    # the 7-event SSE stream instead
#   EXTRA_YAML="$(cat policy.yaml)" bench/instructions.sh   # more config
#   CLIENT=claude bench/instructions.sh   # a Claude client on the OpenAI
#                                         # upstream (both translations)
#   CLIENT=responses bench/instructions.sh  # a Responses (Codex) client
#   CLIENT=gemini-cli bench/instructions.sh # a Gemini client on a Gemini CLI
#                                           # account (the Code Assist
#                                           # envelope on and off; the
#                                           # stand-in answers it too)
#   CLIENT=gemini-cli BODY_FILE=<(bench/agent_body.py gemini) bench/instructions.sh
#   CLIENT=gemini bench/instructions.sh  # a Gemini client on the OpenAI
#                                        # stand-in (or ACCOUNT=codex)
#   ACCOUNT=gemini-cli CLIENT=claude bench/instructions.sh
#                                     # any client on that Gemini CLI account
#                                     # (model gemini-2.5-pro; a BODY_FILE's
#                                     # model must be that too)
#   ACCOUNT=codex CLIENT=claude bench/instructions.sh
#                                     # any client on a Codex key (model
#                                     # gpt-5-codex, likewise): the upstream
#                                     # answers a Responses stream of 13
#                                     # events, which a plain call collects
#   CLIENT=claude BODY_FILE=<(bench/agent_body.py claude) bench/instructions.sh
#                                     # a coding agent's 63 KB conversation
#                                     # instead of "Say hello." (the file's
#                                     # model must be bench-plain or
#                                     # bench-sse, as STREAM says)
#   FOOTPRINT=1 bench/instructions.sh # also the code each request runs
#                                     # through (bench/code_footprint.py)
#   TARGET=nginx bench/instructions.sh  # the same counts for the nginx
#                                       # reverse-proxy hop (perf.sh's, one
#                                       # worker), the reference
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/target/release}
BASE_PORT=${BASE_PORT:-18460}
REQUESTS=${REQUESTS:-5000}
KEEP=${KEEP:-0}
STREAM=${STREAM:-0}
EXTRA_YAML=${EXTRA_YAML:-}
CLIENT=${CLIENT:-openai}
FOOTPRINT=${FOOTPRINT:-0}
TARGET=${TARGET:-cliproxy}
ACCOUNT=${ACCOUNT:-}
[ "$CLIENT" = gemini-cli ] && ACCOUNT=gemini-cli
case "$ACCOUNT" in
"" | gemini-cli | codex) ;;
*) echo "ACCOUNT is gemini-cli, codex or unset (the OpenAI stand-in)" >&2; exit 1 ;;
esac
BODY_FILE=${BODY_FILE:-}

. "$ROOT/bench/upstream.sh"
BIN_DIR=$(absolute "$BIN_DIR")
need_tools valgrind callgrind_control callgrind_annotate nginx oha curl
case "$TARGET" in
cliproxy) need_binary "$BIN_DIR/cliproxy" ;;
nginx) [ "$CLIENT" = openai ] || { echo "TARGET=nginx proxies OpenAI calls only" >&2; exit 1; } ;;
*) echo "TARGET is cliproxy or nginx" >&2; exit 1 ;;
esac

bench_workdir
UP=$BASE_PORT
PROXY=$((BASE_PORT + 1))
# Code Assist's answers: a Gemini answer inside {"response": ...}, whole and
# as a 6-event SSE stream (nginx's exact-match locations ignore `?alt=sse`).
GEMINI_ANSWER() { # text finish?
    local finish=
    [ -z "${2:-}" ] || finish=',"finishReason":"STOP"'
    printf '{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"%s"}]}%s,"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":7,"totalTokenCount":16},"modelVersion":"gemini-2.5-pro","responseId":"bench"},"traceId":"bench"}' "$1" "$finish"
}
CA_SSE=""
for word in Hello ' from' ' the' ' bench' ' upstream.'; do CA_SSE+="data: $(GEMINI_ANSWER "$word")\n\n"; done
CA_SSE+="data: $(GEMINI_ANSWER '' stop)\n\n"
start_upstream "$UP" "
        location = /v1internal:generateContent {
            default_type application/json;
            return 200 '$(GEMINI_ANSWER 'Hello from the bench upstream.' stop)';
        }
        location = /v1internal:streamGenerateContent {
            default_type text/event-stream;
            return 200 '$CA_SSE';
        }
        location = /codex/responses {
            default_type text/event-stream;
            return 200 '$(codex_sse)';
        }"

OUT="$WORK/callgrind.out"
# Instruction addresses too when the footprint is asked for.
DUMP_INSTR=no
[ "$FOOTPRINT" = 1 ] && DUMP_INSTR=yes
if [ "$TARGET" = nginx ]; then
    # One process: the worker is the master, so callgrind sees it all.
    nginx_hop_conf "$PROXY" "$UP" 1 "master_process off;" >"$WORK/hop.conf"
    (cd "$WORK" && exec valgrind --tool=callgrind --callgrind-out-file="$OUT" \
        --dump-instr=$DUMP_INSTR nginx -c "$WORK/hop.conf" -p "$WORK") >"$WORK/hop.log" 2>&1 &
else
    mkdir -p "$WORK/auths"
    cat >"$WORK/config.yaml" <<YAML
host: 127.0.0.1
port: $PROXY
auth-dir: $WORK/auths
api-keys: [bench-key]
$(bench_openai_yaml "$UP")
$EXTRA_YAML
YAML
    if [ "$ACCOUNT" = gemini-cli ]; then
        cat >>"$WORK/config.yaml" <<YAML
plugins:
  configs:
    gemini: {cloudcode-base-url: "http://127.0.0.1:$UP"}
YAML
        # A Gemini CLI account whose token outlives the run (no refresh).
        cat >"$WORK/auths/gemini-bench@example.com-bench-project.json" <<JSON
{"type":"gemini","email":"bench@example.com","project_id":"bench-project","auto":false,"checked":true,
 "token":{"access_token":"ya29.bench","refresh_token":"1//bench","token_type":"Bearer",
 "expiry":"2099-01-01T00:00:00Z","token_uri":"https://oauth2.googleapis.com/token",
 "client_id":"bench","client_secret":"bench"}}
JSON
    fi
    if [ "$ACCOUNT" = codex ]; then
        cat >>"$WORK/config.yaml" <<YAML
codex-api-key: [{api-key: sk-bench-codex, base-url: "http://127.0.0.1:$UP/codex"}]
YAML
    fi
    (cd "$WORK" && CLIPROXY_LOG=warn exec valgrind --tool=callgrind --callgrind-out-file="$OUT" \
        --dump-instr=$DUMP_INSTR "$BIN_DIR/cliproxy" --config "$WORK/config.yaml") >"$WORK/cliproxy.log" 2>&1 &
fi
VG=$!
PIDS+=($VG)

if [ "$STREAM" = 1 ]; then MODEL=bench-sse STREAMED=true; else MODEL=bench-plain STREAMED=false; fi
[ "$ACCOUNT" = gemini-cli ] && MODEL=gemini-2.5-pro
[ "$ACCOUNT" = codex ] && MODEL=gpt-5-codex
case "$CLIENT" in
openai)
    URL="http://127.0.0.1:$PROXY/v1/chat/completions"
    # The hop passes the path on: the stand-in upstream's own.
    [ "$TARGET" = nginx ] && URL="http://127.0.0.1:$PROXY/${MODEL#bench-}/v1/chat/completions"
    BODY="{\"model\":\"$MODEL\",\"stream\":$STREAMED,\"messages\":[]}"
    ;;
claude)
    URL="http://127.0.0.1:$PROXY/v1/messages"
    BODY="{\"model\":\"$MODEL\",\"max_tokens\":64,\"stream\":$STREAMED,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
    ;;
responses)
    URL="http://127.0.0.1:$PROXY/v1/responses"
    BODY="{\"model\":\"$MODEL\",\"stream\":$STREAMED,\"input\":\"Say hello.\"}"
    ;;
gemini)
    # The model is in the path: any account's (bench-plain / bench-sse on
    # the OpenAI stand-in).
    URL="http://127.0.0.1:$PROXY/v1beta/models/$MODEL:generateContent"
    [ "$STREAM" = 1 ] && URL="http://127.0.0.1:$PROXY/v1beta/models/$MODEL:streamGenerateContent?alt=sse"
    BODY='{"contents":[{"role":"user","parts":[{"text":"Say hello."}]}]}'
    ;;
gemini-cli)
    URL="http://127.0.0.1:$PROXY/v1beta/models/gemini-2.5-pro:generateContent"
    [ "$STREAM" = 1 ] && URL="http://127.0.0.1:$PROXY/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    BODY='{"contents":[{"role":"user","parts":[{"text":"Say hello."}]}]}'
    ;;
*) echo "CLIENT is openai, claude, responses, gemini or gemini-cli" >&2; exit 1 ;;
esac
if [ -n "$BODY_FILE" ]; then
    # Read once into the work folder: a process substitution can be read
    # only once, and oha and curl each read it.
    cp "$BODY_FILE" "$WORK/body.json"
else
    printf '%s' "$BODY" >"$WORK/body.json"
fi
answer() {
    curl -s -o "$WORK/answer" -w '%{http_code}' -H 'Authorization: Bearer bench-key' \
        -H 'Content-Type: application/json' "$URL" --data-binary "@$WORK/body.json"
}
for _ in $(seq 1 240); do
    [ "$(answer)" = 200 ] && break
    sleep 0.5
done
# A body the server refuses would count the cost of refusing it.
code=$(answer)
[ "$code" = 200 ] || { echo "the request is answered $code: $(head -c 300 "$WORK/answer")" >&2; exit 1; }
load() {
    oha --no-tui -m POST -H 'Authorization: Bearer bench-key' -T application/json \
        -D "$WORK/body.json" -c 4 -n "$1" "$URL" | grep -E 'Success rate'
}
load 2000 >/dev/null
callgrind_control -z "$VG" >/dev/null 2>&1
rate=$(load "$REQUESTS")
case "$rate" in
*100.00%*) ;;
*) echo "not every request succeeded: $rate" >&2; exit 1 ;;
esac
callgrind_control -d "$VG" >/dev/null 2>&1
sleep 1
dump=$(ls -t "$OUT".* | head -1)
total=$(callgrind_annotate "$dump" 2>/dev/null | grep 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
echo "instructions per request: $((total / REQUESTS))"
[ "$FOOTPRINT" = 1 ] && python3 "$ROOT/bench/code_footprint.py" "$dump"
[ "$KEEP" = 1 ] && echo "profile: $dump (callgrind_annotate --inclusive=yes $dump)"
exit 0
