#!/usr/bin/env python3
"""Prints the tables of bench/perf.sh from oha's JSON results.

Usage: perf_report.py RESULTS_DIR "direct nginx cliproxy ..."
"""
import glob
import json
import os
import statistics
import sys

results, order = sys.argv[1], sys.argv[2].split()
# What perf.sh calls the COMPARE build (COMPARE_NAME), say "PGO build".
COMPARE_NAME = os.environ.get("COMPARE_NAME") or "COMPARE build"
LABEL = {
    "direct": "upstream directly",
    "nginx": "nginx reverse-proxy hop",
    "cliproxy": "cliproxy",
    "compare": f"cliproxy ({COMPARE_NAME})",
    "policy": "cliproxy, key policy on",
    "reqlog": "cliproxy, request-log on",
    "cross": "cliproxy, Claude client (translated)",
}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def errors(doc):
    if doc is None:
        return 1
    codes = doc.get("statusCodeDistribution", {})
    bad = sum(n for c, n in codes.items() if not c.startswith("2"))
    # Requests cut by the end of the run are not errors of the server.
    errs = sum(
        n
        for e, n in doc.get("errorDistribution", {}).items()
        if "deadline" not in e
    )
    return bad + errs


def answered(doc):
    """Requests answered with a status (any), as oha counts them in
    requestsPerSec."""
    return sum(doc.get("statusCodeDistribution", {}).values())


def pct(doc, p):
    if doc is None:
        return None
    v = doc.get("latencyPercentiles", {}).get(p)
    return None if v is None else v * 1000


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def rate_runs(rate, row, kind):
    """run -> oha document of a fixed-rate run (rate{RATE}-{ROW}-{KIND}-{RUN}.json,
    or rate{RATE}-{ROW}-{KIND}.json from before runs were repeated)."""
    out = {}
    one = load(f"{results}/rate{rate}-{row}-{kind}.json")
    if one is not None:
        out[0] = one
    prefix = f"{results}/rate{rate}-{row}-{kind}-"
    for p in glob.glob(prefix + "*.json"):
        d = load(p)
        if d is not None:
            out[int(p[len(prefix):-5])] = d
    return out


def spread(xs):
    m = statistics.median(xs)
    return (max(xs) - min(xs)) / m * 100 if m else 0


for kind in ("plain", "sse"):
    print()
    print(f"## {'plain JSON' if kind == 'plain' else 'SSE, 7 events'}")
    print()
    print(
        "| row | req/s (median) | x nginx | spread | x nginx per run | errors "
        "| p50 / p99 @500 ms | added @500 | p50 / p99 @5k ms | added @5k |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    tput = {}
    for r in order:
        # run -> [answered requests, seconds], summed over the run's slices
        # (tput-ROW-KIND-RUN-SLICE.json; older results have no slice).
        sums = {}
        errs = 0
        for p in glob.glob(f"{results}/tput-{r}-{kind}-*.json"):
            d = load(p)
            errs += errors(d)
            if d:
                run = int(p[len(f"{results}/tput-{r}-{kind}-"):-5].split("-")[0])
                s = sums.setdefault(run, [0, 0.0])
                s[0] += answered(d)
                s[1] += d["summary"]["total"]
        runs = {run: n / t for run, (n, t) in sums.items() if t > 0}
        tput[r] = (runs, errs)
    hop_runs = tput.get("nginx", ({}, 0))[0]
    nginx = statistics.median(hop_runs.values()) if hop_runs else None
    for r in order:
        runs, errs = tput[r]
        if not runs:
            continue
        rps = list(runs.values())
        med = statistics.median(rps)
        ratio = med / nginx if nginx else None
        # Each run's figure over the hop's in the same run (measured next to
        # each other): a machine whose load drifts between runs moves both.
        per_run = sorted(runs[i] / hop_runs[i] for i in runs if hop_runs.get(i))
        per_run_cell = (
            f"{per_run[len(per_run) // 2]:.2f} ({per_run[0]:.2f}-{per_run[-1]:.2f})"
            if per_run and r != "nginx"
            else "-"
        )
        cells = []
        for rate in (500, 5000):
            # run -> doc; older results have one run and no run number.
            docs = rate_runs(rate, r, kind)
            base = rate_runs(rate, "direct", kind)
            p50s = [v for v in (pct(d, "p50") for d in docs.values()) if v is not None]
            p99s = [v for v in (pct(d, "p99") for d in docs.values()) if v is not None]
            p50 = statistics.median(p50s) if p50s else None
            p99 = statistics.median(p99s) if p99s else None
            cells.append(f"{fmt(p50, 3)} / {fmt(p99, 3)}")
            added = [
                (pct(d, "p50") - pct(base[i], "p50"), pct(d, "p99") - pct(base[i], "p99"))
                for i, d in docs.items()
                if i in base and None not in (pct(d, "p50"), pct(base[i], "p50"), pct(d, "p99"), pct(base[i], "p99"))
            ]
            if r == "direct" or not added:
                cells.append("-")
            else:
                a50 = statistics.median(a for a, _ in added)
                a99 = statistics.median(b for _, b in added)
                cells.append(f"{fmt(a50, 3)} / {fmt(a99, 3)}")
            errs += sum(errors(d) for d in docs.values()) if docs else 1
        print(
            f"| {LABEL.get(r, r)} | {med:,.0f} | {fmt(ratio)} | {spread(rps):.1f} % "
            f"| {per_run_cell} | {errs} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |"
        )


def pairs(name):
    out = {}
    path = os.path.join(results, name)
    if os.path.exists(path):
        for line in open(path):
            k, v = line.split()
            out.setdefault(k, []).append(float(v))
    return out


print()
print("| figure | cliproxy | nginx hop | direct |")
print("| --- | ---: | ---: | ---: |")
t = pairs("ttfb.txt")
print(
    "| time to first streamed byte, median of 200 (ms) | "
    f"{fmt(t.get('cliproxy', [None])[0], 3)} | {fmt(t.get('nginx', [None])[0], 3)} "
    f"| {fmt(t.get('direct', [None])[0], 3)} |"
)
rss = pairs("rss.txt")
print(
    "| peak RSS under load (MiB) | "
    f"{fmt(rss.get('cliproxy', [0])[0] / 1024, 1)} | {fmt(rss.get('nginx', [0])[0] / 1024, 1)} | - |"
)
if "cliproxy-file" in rss and "cliproxy-anon" in rss:
    print(
        "| cliproxy's RSS after the runs: mapped files / anonymous (MiB) | "
        f"{fmt(rss['cliproxy-file'][0] / 1024, 1)} / {fmt(rss['cliproxy-anon'][0] / 1024, 1)} | | |"
    )
for k in ("policy", "reqlog", "compare"):
    if k in rss:
        print(f"| peak RSS, {LABEL[k]} (MiB) | {fmt(rss[k][0] / 1024, 1)} | | |")
cold = pairs("cold.txt")
print(
    "| cold start to first proxied answer, median of 3 (ms) | "
    f"{fmt(statistics.median(cold.get('cliproxy', [0])) / 1000, 1)} | "
    f"{fmt(statistics.median(cold.get('nginx', [0])) / 1000, 1)} | - |"
)
if "compare" in cold:
    print(f"| cold start, {COMPARE_NAME} (ms) | {fmt(statistics.median(cold['compare']) / 1000, 1)} | | |")
