# Sourced by bench/link_order.sh and bench/pgo.sh (after upstream.sh, with
# WORK, UP, PROXY and BIN_DIR set): a workload that sends every kind of
# proxied call the bundled plugins serve (OpenAI, Claude, Gemini, Codex,
# Vertex, OpenAI-compatible; plain and streamed; same format and
# translated) through one release server per provider, then one with
# request logs, usage statistics and a client-key policy on. Both scripts
# want the code a running server uses, in the proportions it uses it: the
# link order to place it, PGO to optimise it.
#
#   start_workload_upstream "$UP"  # upstream.sh's answers plus each
#                                  # provider's own
#   run_workload [COUNT]           # COUNT (default REQUESTS, 200) calls per
#                                  # kind of OpenAI-compatible call, a
#                                  # quarter of them per other kind
#
# The caller defines three hooks:
#   start_server NAME CONFIG  # starts "$BIN_DIR/cliproxy" --config CONFIG
#                             # in the background, sets SERVER_PID
#   phase_done                # after the start-up and after each kind of call
#   server_done NAME          # after the server stopped

# Stand-in answers in each provider's format, beside the OpenAI ones
# upstream.sh serves (one base URL per provider and kind, since nginx
# answers without reading the body).
CLAUDE_JSON='{"id":"msg_bench","type":"message","role":"assistant","model":"claude-bench","content":[{"type":"text","text":"Hello from the bench upstream."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":7}}'
claude_event() { printf 'event: %s\\ndata: %s\\n\\n' "$1" "$2"; }
CLAUDE_SSE="$(claude_event message_start '{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-bench","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}')\
$(claude_event content_block_start '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}')\
$(claude_event content_block_delta '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}')\
$(claude_event content_block_delta '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" from the bench upstream."}}')\
$(claude_event content_block_stop '{"type":"content_block_stop","index":0}')\
$(claude_event message_delta '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}')\
$(claude_event message_stop '{"type":"message_stop"}')"
GEMINI_PART='"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from the bench upstream."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":7,"totalTokenCount":16},"modelVersion":"gemini-bench"'
GEMINI_JSON="{$GEMINI_PART}"
GEMINI_SSE="data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello\"}]},\"index\":0}],\"modelVersion\":\"gemini-bench\"}\\r\\n\\r\\ndata: {$GEMINI_PART}\\r\\n\\r\\n"
codex_event() { printf 'event: %s\\ndata: %s\\n\\n' "$1" "$2"; }
CODEX_RESPONSE='{"id":"resp_bench","object":"response","created_at":1700000000,"status":"completed","model":"gpt-bench","output":[{"type":"message","id":"msg_bench","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello from the bench upstream.","annotations":[]}]}],"usage":{"input_tokens":9,"output_tokens":7,"total_tokens":16}}'
CODEX_SSE="$(codex_event response.created '{"type":"response.created","response":{"id":"resp_bench","object":"response","created_at":1700000000,"status":"in_progress","model":"gpt-bench","output":[]}}')\
$(codex_event response.output_item.added '{"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"msg_bench","status":"in_progress","role":"assistant","content":[]}}')\
$(codex_event response.output_text.delta '{"type":"response.output_text.delta","item_id":"msg_bench","output_index":0,"content_index":0,"delta":"Hello from the bench upstream."}')\
$(codex_event response.output_item.done '{"type":"response.output_item.done","output_index":0,"item":{"type":"message","id":"msg_bench","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello from the bench upstream.","annotations":[]}]}}')\
$(codex_event response.completed "{\"type\":\"response.completed\",\"response\":$CODEX_RESPONSE}")"

start_workload_upstream() { # port
    start_upstream "$1" "location = /claude-plain/v1/messages { default_type application/json; return 200 '$CLAUDE_JSON'; }
        location = /claude-sse/v1/messages { default_type text/event-stream; return 200 '$CLAUDE_SSE'; }
        location ~ ^/gemini/.*:generateContent\$ { default_type application/json; return 200 '$GEMINI_JSON'; }
        location ~ ^/gemini/.*:streamGenerateContent\$ { default_type text/event-stream; return 200 '$GEMINI_SSE'; }
        location = /codex/responses { default_type text/event-stream; return 200 '$CODEX_SSE'; }"
}

BASE_YAML="host: 127.0.0.1
port: $PROXY
auth-dir: $WORK/auths
api-keys: [bench-key]"
OPENAI_YAML=$(bench_openai_yaml "$UP")
CLAUDE_YAML="claude-api-key:
  - api-key: sk-ant-bench
    base-url: http://127.0.0.1:$UP/claude-plain
    models: [{name: claude-bench, alias: claude-plain}]
  - api-key: sk-ant-bench
    base-url: http://127.0.0.1:$UP/claude-sse
    models: [{name: claude-bench, alias: claude-sse}]"
GEMINI_YAML="gemini-api-key:
  - api-key: AIza-bench
    base-url: http://127.0.0.1:$UP/gemini
    models: [{name: gemini-bench, alias: gemini-bench}]"
CODEX_YAML="codex-api-key:
  - api-key: sk-codex-bench
    base-url: http://127.0.0.1:$UP/codex
    models: [{name: gpt-bench, alias: codex-bench}]"
VERTEX_YAML="vertex-api-key:
  - api-key: vertex-bench
    base-url: http://127.0.0.1:$UP/gemini
    models: [{name: gemini-bench, alias: vertex-bench}]"
FEATURES_YAML="request-log: true
usage-statistics-enabled: true
$(bench_policy_yaml)"

chat() { printf '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"Say hello."}]}' "$1" "$2"; }
claude() { printf '{"model":"%s","max_tokens":64,"stream":%s,"messages":[{"role":"user","content":"Say hello."}]}' "$1" "$2"; }
GEMINI='{"contents":[{"role":"user","parts":[{"text":"Say hello."}]}]}'
responses() { printf '{"model":"%s","stream":%s,"input":"Say hello."}' "$1" "$2"; }

send() { # requests path body
    oha --no-tui -m POST -H 'Authorization: Bearer bench-key' -H 'x-goog-api-key: bench-key' \
        -T application/json -c 4 -n "$1" -d "$3" "http://127.0.0.1:$PROXY$2" >"$WORK/oha.txt" 2>&1 || true
    grep -q 'Success rate:.*100.00%' "$WORK/oha.txt" ||
        { echo "not every call to $2 succeeded ($3):" >&2; grep -A3 'Status code' "$WORK/oha.txt" >&2; exit 1; }
}

# One server per provider: what every start-up runs, then each provider's
# own start-up and calls. The OpenAI-compatible provider comes first (the
# bench measures it), and the features that cost more code (request logs,
# statistics, client-key limits) last.
serve() { # name config calls-function
    mkdir -p "$WORK/auths"
    printf '%s\n%s\n' "$BASE_YAML" "$2" >"$WORK/$1.yaml"
    start_server "$1" "$WORK/$1.yaml"
    PIDS+=("$SERVER_PID")
    for _ in $(seq 1 240); do
        curl -sf -o /dev/null -H 'Authorization: Bearer bench-key' "http://127.0.0.1:$PROXY/v1/models" && break
        sleep 0.5
    done
    phase true # start-up
    "$3"
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    server_done "$1"
}
phase() { # runs the call that follows, then the caller's hook
    "$@"
    phase_done
}
both() { # calls-function-taking-stream: plain, then streamed
    "$1" false
    "$1" true
}

none() { :; }
openai_calls() {
    both openai_chat
    both openai_claude_client
}
openai_chat() { phase send "$N" /v1/chat/completions "$(chat "bench-$(kind "$1")" "$1")"; }
openai_claude_client() { phase send "$N" /v1/messages "$(claude "bench-$(kind "$1")" "$1")"; }
kind() { [ "$1" = true ] && echo sse || echo plain; }
claude_calls() {
    both claude_native
    both claude_openai_client
}
claude_native() { phase send "$Q" /v1/messages "$(claude "claude-$(kind "$1")" "$1")"; }
claude_openai_client() { phase send "$Q" /v1/chat/completions "$(chat "claude-$(kind "$1")" "$1")"; }
gemini_calls() {
    phase send "$Q" /v1beta/models/gemini-bench:generateContent "$GEMINI"
    phase send "$Q" "/v1beta/models/gemini-bench:streamGenerateContent?alt=sse" "$GEMINI"
    both gemini_openai_client
}
gemini_openai_client() { phase send "$Q" /v1/chat/completions "$(chat gemini-bench "$1")"; }
codex_calls() {
    both codex_responses
    both codex_openai_client
}
codex_responses() { phase send "$Q" /v1/responses "$(responses codex-bench "$1")"; }
codex_openai_client() { phase send "$Q" /v1/chat/completions "$(chat codex-bench "$1")"; }
vertex_calls() { both vertex_openai_client; }
vertex_openai_client() { phase send "$Q" /v1/chat/completions "$(chat vertex-bench "$1")"; }
features_calls() {
    both openai_chat
    both claude_native
}

run_workload() { # [calls per kind of OpenAI-compatible call]
    N=${1:-${REQUESTS:-200}}
    Q=$((N / 4))
    serve bare "" none
    serve openai "$OPENAI_YAML" openai_calls
    serve claude "$CLAUDE_YAML" claude_calls
    serve gemini "$GEMINI_YAML" gemini_calls
    serve codex "$CODEX_YAML" codex_calls
    serve vertex "$VERTEX_YAML" vertex_calls
    N=$Q
    serve features "$OPENAI_YAML
$CLAUDE_YAML
$FEATURES_YAML" features_calls
}
