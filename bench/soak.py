#!/usr/bin/env python3
"""Soak run: mixed plain, streamed, failing and cancelled requests through a
release cliproxy against a local stand-in upstream, for DURATION seconds.
Prints RSS and open file descriptors of the server after the first minute
and at the end, and exits 1 if either grew by more than 10 %.

Loopback only; stops by itself. Used by bench/soak.sh."""
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROXY_PORT = int(os.environ["PROXY_PORT"])
UP_PORT = int(os.environ["UP_PORT"])
PID = int(os.environ["SERVER_PID"])
DURATION = float(os.environ.get("DURATION", "600"))
WORKERS = int(os.environ.get("WORKERS", "8"))

PLAIN = json.dumps({"id": "c", "object": "chat.completion", "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()


def chunk(text):
    return ("data: " + json.dumps({"id": "c", "object": "chat.completion.chunk",
                                   "choices": [{"index": 0, "delta": {"content": text}}]}) + "\n\n").encode()


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        model = body.get("model", "")
        if model == "fail":
            data = b'{"error":{"message":"boom"}}'
            self.send_response(500)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for i in range(20):
                    c = chunk("tok%d " % i)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                    self.wfile.flush()
                    time.sleep(0.005)
                end = b"data: [DONE]\n\n"
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(end), end))
            except OSError:
                pass
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(PLAIN)))
        self.end_headers()
        self.wfile.write(PLAIN)


def status(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds


counts = {"plain": 0, "stream": 0, "fail": 0, "cancel": 0, "errors": 0}
lock = threading.Lock()


def worker(stop_at):
    rnd = random.Random()
    conn = None
    while time.time() < stop_at:
        kind = rnd.choice(["plain", "plain", "stream", "stream", "fail", "cancel"])
        model = "fail" if kind == "fail" else "m"
        stream = kind in ("stream", "cancel")
        body = json.dumps({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=30)
            conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
            resp = conn.getresponse()
            if kind == "cancel":
                resp.read1(64) if hasattr(resp, "read1") else resp.read(64)
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
                conn = None
            else:
                resp.read()
            with lock:
                counts[kind] += 1
        except Exception:
            with lock:
                counts["errors"] += 1
            conn = None


def main():
    up = ThreadingHTTPServer(("127.0.0.1", UP_PORT), Upstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    start = time.time()
    stop_at = start + DURATION
    threads = [threading.Thread(target=worker, args=(stop_at,), daemon=True) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    first = None
    while time.time() < stop_at:
        time.sleep(1)
        if first is None and time.time() - start >= min(60, DURATION / 2):
            first = status(PID)
            print("after first minute: RSS %d KiB, %d fds, %s" % (first[0], first[1], dict(counts)), flush=True)
    for t in threads:
        t.join(timeout=40)
    time.sleep(2)
    end = status(PID)
    print("at the end:         RSS %d KiB, %d fds, %s" % (end[0], end[1], dict(counts)), flush=True)
    up.shutdown()
    grew = end[0] > first[0] * 1.10 or end[1] > max(first[1] * 1.10, first[1] + 5)
    print("within 10 %%: %s" % ("yes" if not grew else "NO"))
    sys.exit(1 if grew else 0)


main()
