"""The steps of a proxied request, from bench/latency_split.sh's traces.

    python3 bench/latency_split.py WORK

WORK holds, per row (direct, nginx, cliproxy): ROW.txt (`perf script -F
pid,tid,time,event,trace` of raw_syscalls enter and exit), ROW.sched.txt
(`-F pid,tid,cpu,time,event,trace` of sched_waking and sched_switch,
machine-wide), sockets-ROW (pid, descriptor, inode of each traced socket),
threads-ROW (pid, thread id), tcp-ROW (/proc/net/tcp then), oha-ROW.json,
and `roles` (row, oha's pid, the upstream's worker pids, the hop's pids).
"""

import bisect
import collections
import json
import os
import re
import statistics
import sys

WRITES = {1, 20, 40, 44, 46}  # write, writev, sendfile, sendto, sendmsg
READS = {0, 19, 45, 47}  # read, readv, recvfrom, recvmsg
LINE = re.compile(
    r"\s*(\d+)/(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit):\s+NR (\d+) (.*)"
)


def ends(work, row):
    """{(pid, fd): (local port, remote port)} of the traced sockets."""
    ports = {}
    with open(os.path.join(work, f"tcp-{row}")) as f:
        next(f)
        for line in f:
            p = line.split()
            ports[p[9]] = (int(p[1].split(":")[1], 16), int(p[2].split(":")[1], 16))
    out = {}
    with open(os.path.join(work, f"sockets-{row}")) as f:
        for line in f:
            pid, fd, ino = line.split()
            if ino in ports:
                out[(int(pid), int(fd))] = ports[ino]
    return out


def events(work, row):
    """Per (pid, fd): writes (entry times) and reads that returned data
    (exit times); and per thread, the same in order, for the steps inside
    one process."""
    writes = collections.defaultdict(list)
    reads = collections.defaultdict(list)
    per_thread = collections.defaultdict(list)
    pending = {}
    with open(os.path.join(work, f"{row}.txt"), errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            pid, tid, t, what, nr = int(m[1]), int(m[2]), float(m[3]), m[4], int(m[5])
            if what == "enter":
                a = re.match(r"\(([0-9a-f]+)", m[6])
                fd = int(a[1], 16) if a else -1
                pending[tid] = (nr, fd)
                if nr in WRITES:
                    writes[(pid, fd)].append(t)
                    per_thread[tid].append((t, "w", (pid, fd)))
            else:
                call = pending.pop(tid, None)
                r = re.search(r"= (-?\d+)", m[6])
                if call and call[0] in READS and r and int(r[1]) > 0:
                    reads[(pid, call[1])].append(t)
                    per_thread[tid].append((t, "r", (pid, call[1])))
    return writes, reads, per_thread


def deliveries(writes, reads, src, dst):
    """Each write on `src` to the first read returning data on `dst` after
    it (µs). Not paired one to one: a reader may take two writes in one
    read, and a connection opened during the trace may miss its first."""
    out = []
    rs = reads.get(dst, [])
    for t in writes.get(src, []):
        i = bisect.bisect_right(rs, t)
        if i < len(rs):
            out.append((rs[i] - t) * 1e6)
    return out


def inside(per_thread, is_from, is_to):
    """In each thread, a read on a socket `is_from` accepts to the next
    write on one `is_to` accepts (µs)."""
    out = []
    for evs in per_thread.values():
        since = None
        for t, kind, end in evs:
            if kind == "r" and is_from(end):
                since = t
            elif kind == "w" and is_to(end) and since is not None:
                out.append((t - since) * 1e6)
                since = None
    return out


SCHED = re.compile(r"\s*(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)")


def scheduling(work, row, process_of):
    """Per process (`process_of`: thread id -> name): the wake-up to run
    delays (µs), how many of them found the core idle, and the CPU time
    (s); plus the traced span (s) and the cores' idle time (s)."""
    woken = {}
    delays = collections.defaultdict(list)
    from_idle = collections.Counter()
    busy = collections.Counter()
    on_cpu = {}
    first = last = None
    with open(os.path.join(work, f"{row}.sched.txt"), errors="replace") as f:
        for line in f:
            m = SCHED.match(line)
            if not m:
                continue
            cpu, t, event, rest = int(m[3]), float(m[4]), m[5], m[6]
            first = t if first is None else first
            last = t
            if event == "sched_waking":
                a = re.search(r" pid=(\d+)", rest)
                if a:
                    woken[int(a[1])] = t
                continue
            a = re.search(r"prev_pid=(\d+) .*next_pid=(\d+)", rest)
            if not a:
                continue
            prev, nxt = int(a[1]), int(a[2])
            if cpu in on_cpu:
                who, since = on_cpu[cpu]
                busy[who] += t - since
            on_cpu[cpu] = (process_of.get(nxt, "idle" if nxt == 0 else "other"), t)
            name = process_of.get(nxt)
            if name and nxt in woken:
                delays[name].append((t - woken.pop(nxt)) * 1e6)
                if prev == 0:
                    from_idle[name] += 1
    span = (last - first) if first is not None else 0.0
    return delays, from_idle, busy, span


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main(work):
    roles = {}
    with open(os.path.join(work, "roles")) as f:
        for line in f:
            row, oha, up, hop = line.split()
            roles[row] = (
                int(oha),
                {int(p) for p in up.split(",") if p},
                {int(p) for p in hop.split(",") if p != "none"},
            )
    results = {}
    for row, (oha, up_pids, hop_pids) in roles.items():
        port_of = ends(work, row)
        writes, reads, per_thread = events(work, row)
        by_ports = {v: k for k, v in port_of.items()}

        def peer(end):
            lp, rp = port_of[end]
            return by_ports.get((rp, lp))

        def role(end):
            pid = end[0]
            if pid == oha:
                return "client"
            if pid in up_pids:
                return "upstream"
            if pid in hop_pids:
                p = peer(end)
                if p is None:
                    return None
                return "hop-up" if p[0] in up_pids else "hop-client"
            return None

        steps = collections.defaultdict(list)
        for end in port_of:
            p = peer(end)
            if p is None:
                continue
            a, b = role(end), role(p)
            name = {
                ("client", "hop-client"): "client -> hop",
                ("hop-up", "upstream"): "hop -> upstream",
                ("upstream", "hop-up"): "upstream -> hop",
                ("hop-client", "client"): "hop -> client",
                ("client", "upstream"): "client -> upstream",
                ("upstream", "client"): "upstream -> client",
            }.get((a, b))
            if name:
                steps[name] += deliveries(writes, reads, end, p)
        known = {e: role(e) for e in port_of}
        steps["hop, request"] = inside(
            per_thread,
            lambda e: known.get(e) == "hop-client",
            lambda e: known.get(e) == "hop-up",
        )
        steps["hop, answer"] = inside(
            per_thread,
            lambda e: known.get(e) == "hop-up",
            lambda e: known.get(e) == "hop-client",
        )
        steps["upstream"] = inside(
            per_thread,
            lambda e: known.get(e) == "upstream",
            lambda e: known.get(e) == "upstream",
        )
        with open(os.path.join(work, f"oha-{row}.json")) as f:
            doc = json.load(f)
        p50 = doc["latencyPercentiles"]["p50"] * 1e6
        process_of = {}
        with open(os.path.join(work, f"threads-{row}")) as f:
            for line in f:
                pid, tid = (int(x) for x in line.split())
                if pid == oha:
                    process_of[tid] = "client (oha)"
                elif pid in up_pids:
                    process_of[tid] = "upstream"
                elif pid in hop_pids:
                    process_of[tid] = "hop"
        sched = scheduling(work, row, process_of)
        results[row] = ({k: (median(v), len(v)) for k, v in steps.items()}, p50, sched)

    order = [
        "client -> hop",
        "client -> upstream",
        "hop, request",
        "hop -> upstream",
        "upstream",
        "upstream -> hop",
        "upstream -> client",
        "hop, answer",
        "hop -> client",
    ]
    rows = [r for r in ("direct", "nginx", "cliproxy") if r in results]
    print("step (median µs)      " + "".join(f"{r:>16}" for r in rows))
    for step in order:
        cells = []
        for r in rows:
            m, n = results[r][0].get(step, (float("nan"), 0))
            cells.append(f"{m:9.1f} ({n:4})" if n else f"{'':16}")
        if any(c.strip() for c in cells):
            print(f"{step:22}" + "".join(f"{c:>16}" for c in cells))
    print(
        f"{'sum of the steps':22}"
        + "".join(
            f"{sum(m for k, (m, n) in results[r][0].items() if n and k in order):16.1f}"
            for r in rows
        )
    )
    print(f"{'oha p50 (µs)':22}" + "".join(f"{results[r][1]:16.1f}" for r in rows))
    print()
    print("scheduler: wake-up to running, median µs (share of wake-ups that found the core idle), CPU use in % of one core")
    for r in rows:
        delays, from_idle, busy, span = results[r][2]
        parts = []
        for name in ("client (oha)", "hop", "upstream"):
            d = delays.get(name, [])
            if not d:
                continue
            parts.append(
                f"{name} {median(d):.0f} ({100 * from_idle[name] / len(d):.0f} % idle), "
                f"{100 * busy[name] / span if span else 0:.0f} %"
            )
        idle = 100 * busy["idle"] / span if span else 0
        print(f"  {r:9} " + "; ".join(parts) + f"; cores idle {idle:.0f} %")


if __name__ == "__main__":
    main(sys.argv[1])
