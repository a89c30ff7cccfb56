"""How much machine code a run executed, from a callgrind profile taken
with `--dump-instr=yes` (bench/instructions.sh FOOTPRINT=1).

    python3 bench/code_footprint.py PROFILE

Per object (the server, each plugin, libc), the 64-byte cache lines of
code that ran at all, and the fewest of them, busiest first, that hold 99 %
of its instructions. A proxied request runs most of its code once, so the
second figure is about what every request pulls through the instruction
cache: a figure that, like the instruction count, does not move with the
machine's load, and that a build can shrink without running fewer
instructions (or grow while running fewer).
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from link_order import cost_lines  # noqa: E402

LINE = 64


def executed_lines(path):
    """{object: Counter(cache line -> instructions)}."""
    per_object = collections.defaultdict(collections.Counter)
    address = 0
    for obj, _, positions, events, of_call in cost_lines(path):
        # Relative addresses count from the previous cost line's, a call's
        # inclusive cost line included.
        p = positions[0]
        if p == "*":
            pass
        elif p[0] in "+-":
            address += int(p, 0)
        else:
            address = int(p, 0)
        if of_call or not events or obj is None:
            continue
        n = int(events[0])
        if n > 0:
            per_object[obj][address // LINE] += n
    return per_object


def busiest_share(counts, share):
    """How many of the lines, busiest first, hold `share` of the total."""
    total = sum(counts.values())
    held = 0
    for i, n in enumerate(sorted(counts.values(), reverse=True), 1):
        held += n
        if held >= share * total:
            return i
    return 0


def has_addresses(path):
    """Whether the profile's positions start with instruction addresses."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("positions:"):
                return line.split(":", 1)[1].split()[:1] == ["instr"]
    return False


def main():
    path = sys.argv[1]
    if not has_addresses(path):
        sys.exit(f"{path}: no instruction addresses (take it with --dump-instr=yes)")
    per_object = executed_lines(path)
    all_instr = sum(sum(c.values()) for c in per_object.values())
    hot_total = 0
    print("code run (KiB): all lines / lines holding 99 % of the object's instructions, share of instructions")
    for obj, counts in sorted(per_object.items(), key=lambda kv: -sum(kv[1].values())):
        instr = sum(counts.values())
        if instr < all_instr / 1000:
            continue
        hot = busiest_share(counts, 0.99)
        hot_total += hot
        print(
            f"  {len(counts) * LINE / 1024:7.1f} / {hot * LINE / 1024:7.1f}"
            f"  {100 * instr / all_instr:5.1f} %  {os.path.basename(obj)}"
        )
    print(f"code run through per request: {hot_total * LINE / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
