# Sourced by the bench scripts: the stand-in upstream they share (nginx
# answering a fixed OpenAI chat body and a 7-event SSE stream on
# 127.0.0.1), a work folder that is removed on exit, and the tool check.
#
#   . "$(dirname "$0")/upstream.sh"
#   need_tools nginx oha
#   bench_workdir                     # sets WORK, PIDS; cleans up on exit
#   start_upstream "$PORT" [LOCATIONS] # /plain/v1/... and /sse/v1/..., plus
#                                     # more nginx `location` lines
#   bench_openai_yaml "$PORT"         # the cliproxy config block for them
#   nginx_main NAME; nginx_http_common  # pieces of another nginx config
#   nginx_hop_conf PORT UPSTREAM-PORT WORKERS [MAIN-LINES]
#                                     # the nginx reverse-proxy hop's config
#   need_binary PATH                  # exits when the release build is missing
#   absolute DIR                      # DIR as an absolute path (the scripts
#                                     # start servers from their work folder)
#   bench_policy_yaml [MODELS]        # the client key `bench-key` with every
#                                     # limit set too high to refuse

PLAIN='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}'
bench_chunk() { printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\\n\\n' "$1"; }
SSE="$(bench_chunk Hello)$(bench_chunk ' from')$(bench_chunk ' the')$(bench_chunk ' bench')$(bench_chunk ' upstream.')"'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}\n\ndata: [DONE]\n\n'

# What the Codex backend streams for a short text answer (a Responses
# stream: created, in progress, the message item and its text part opened,
# five deltas, each closed again, completed with the usage), as one nginx
# string.
codex_sse() {
    local item='"id":"msg_bench","type":"message","role":"assistant"'
    local head='"id":"resp_bench","object":"response","created_at":1700000000,"model":"gpt-5-codex"'
    local text='Hello from the bench upstream.'
    local ev n=0
    codex_event() { # type body
        printf 'event: %s\\ndata: {"type":"%s","sequence_number":%d,%s}\\n\\n' "$1" "$1" "$n" "$2"
        n=$((n + 1))
    }
    codex_event response.created "\"response\":{$head,\"status\":\"in_progress\",\"output\":[],\"usage\":null}"
    codex_event response.in_progress "\"response\":{$head,\"status\":\"in_progress\",\"output\":[],\"usage\":null}"
    codex_event response.output_item.added "\"output_index\":0,\"item\":{$item,\"status\":\"in_progress\",\"content\":[]}"
    codex_event response.content_part.added "\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"annotations\":[],\"text\":\"\"}"
    for ev in Hello ' from' ' the' ' bench' ' upstream.'; do
        codex_event response.output_text.delta "\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"delta\":\"$ev\""
    done
    codex_event response.output_text.done "\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"text\":\"$text\""
    codex_event response.content_part.done "\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"annotations\":[],\"text\":\"$text\"}"
    local done_item="{$item,\"status\":\"completed\",\"content\":[{\"type\":\"output_text\",\"annotations\":[],\"text\":\"$text\"}]}"
    codex_event response.output_item.done "\"output_index\":0,\"item\":$done_item"
    codex_event response.completed "\"response\":{$head,\"status\":\"completed\",\"output\":[$done_item],\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":7,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":16}}"
}

need_tools() { # tool...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
    done
}

absolute() { # dir
    (cd "$1" 2>/dev/null && pwd) || echo "$1"
}

need_binary() { # path
    [ -x "$1" ] || { echo "missing $1 (cargo build --release --workspace)" >&2; exit 1; }
}

# The client key with a policy that sets every limit (issue 15) too high
# ever to refuse: what enforcing them costs. MODELS, if given, is its
# allow-list glob.
bench_policy_yaml() { # [models glob]
    cat <<YAML
client-keys:
  - api-key: bench-key
    name: bench
    requests-per-minute: 4000000000
    tokens-per-minute: 1000000000000
    max-concurrency: 100000
    daily-token-budget: 1000000000000000
    monthly-token-budget: 1000000000000000
YAML
    [ -z "${1:-}" ] || echo "    models: [\"$1\"]"
    echo '    expires-at: "2999-01-01T00:00:00Z"'
}

bench_workdir() {
    WORK=$(mktemp -d)
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}

# The top of every bench nginx config (its own pid and error log in WORK).
nginx_main() { # name
    cat <<NGINX
daemon off;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log warn;
events { worker_connections 4096; }
NGINX
}

# What every bench nginx config says inside `http { }`: no access log,
# temp files in WORK, connections kept for the whole run, and request
# bodies up to 64 MB held in memory (request_log.sh sends 10 MB ones).
nginx_http_common() {
    cat <<NGINX
    access_log off;
    client_body_temp_path $WORK;
    client_max_body_size 64m;
    client_body_buffer_size 16m;
    proxy_temp_path $WORK;
    fastcgi_temp_path $WORK;
    uwsgi_temp_path $WORK;
    scgi_temp_path $WORK;
    keepalive_requests 10000000;
NGINX
}

# The reference the benchmarks compare cliproxy with: nginx as a plain
# reverse proxy, pooled upstream connections, no buffering of answers.
nginx_hop_conf() { # port upstream-port workers [more main-context lines]
    echo "worker_processes $3;"
    [ -z "${4:-}" ] || echo "$4"
    nginx_main hop
    echo "http {"
    nginx_http_common
    cat <<NGINX
    upstream up { server 127.0.0.1:$2; keepalive 128; }
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGINX
}

start_upstream() { # port [more location lines]
    {
        echo "worker_processes 1;"
        nginx_main upstream
        echo "http {"
        nginx_http_common
        cat <<NGINX
    server {
        listen 127.0.0.1:$1;
        location = /plain/v1/chat/completions {
            default_type application/json;
            return 200 '$PLAIN';
        }
        location = /sse/v1/chat/completions {
            default_type text/event-stream;
            return 200 '$SSE';
        }
        ${2:-}
    }
}
NGINX
    } >"$WORK/upstream.conf"
    nginx -c "$WORK/upstream.conf" -p "$WORK" 2>>"$WORK/nginx.log" &
    PIDS+=($!)
}

# The openai-compatibility providers a cliproxy config names to use the
# stand-in: model `bench-plain` answers JSON, `bench-sse` the stream.
bench_openai_yaml() { # upstream-port
    cat <<YAML
openai-compatibility:
  - name: bench-plain
    base-url: http://127.0.0.1:$1/plain/v1
    api-key-entries: [{api-key: sk-bench}]
    models: [{name: bench, alias: bench-plain}]
  - name: bench-sse
    base-url: http://127.0.0.1:$1/sse/v1
    api-key-entries: [{api-key: sk-bench}]
    models: [{name: bench, alias: bench-sse}]
YAML
}
