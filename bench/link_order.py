"""Writes link-order.txt files from callgrind profiles (bench/link_order.sh),
or says how much of them a build still finds (bench/perf.sh).

    python3 bench/link_order.py ROOT BIN_DIR PROFILE...
    python3 bench/link_order.py --check ROOT BIN_DIR

The profiles are phases in the order given (start-up, then each kind of
call). Per binary, the functions that ran are ordered by the first phase
that ran them, then by the instructions they ran themselves over all
phases, busiest first, and their names are written into the
link-order.txt of the package that builds the binary: the server
(`cliproxy`, from core/) and each bundled plugin (`lib<name>.so`, from
plugins/<dir>/). The names are the linker's (the profiles are taken with
`--demangle=no`).

Two kinds of code run natively but not under valgrind, so the profile
misses them and they are added from the built binary (BIN_DIR): the C
runtime's start-up functions (one section of crtbeginS.o, run before
main) and code picked at run time by CPU feature (valgrind lacks some
extensions, the SHA ones say): where the profile ran a `cpufeatures`
check (`<module>::<name>_cpuid::...`), every function of that module
follows it.
"""

# The C runtime's start-up code in every binary: listing one name moves
# its section (crtbeginS.o's .text) to the front with the rest.
C_RUNTIME = ["frame_dummy", "register_tm_clones", "deregister_tm_clones", "__do_global_dtors_aux"]

import collections
import os
import re
import subprocess
import sys

HEADER = """\
# Link order for {binary}: the functions a running server used, by the
# phase that first ran them (start-up, then each kind of call), busiest
# first within a phase. sdk/build passes this file to the linker;
# regenerate it with bench/link_order.sh. Names not in a build are skipped.
"""


def self_costs(path):
    """{(object, function): instructions} from one callgrind output file."""
    cost = collections.Counter()
    for obj, fn, _, events, of_call in cost_lines(path):
        # The cost line after `calls=` is the callee's inclusive cost, not
        # this function's own.
        if not of_call and events and obj and fn:
            cost[(obj, fn)] += int(events[0])
    return cost


def cost_lines(path):
    """Every cost line of one callgrind output file, in order, as (object,
    function, position fields, event counts, whether it is a call's
    inclusive cost). The position fields are as written: numbers, `+N` /
    `-N` relative to the previous line's, or `*` for the same; with
    `--dump-instr=yes` the first is the instruction's address."""
    names = {"ob": {}, "fn": {}}
    obj = fn = None
    n_positions = 1
    after_call = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line[0].isdigit() or line[0] in "+-*":
                parts = line.split()
                yield obj, fn, parts[:n_positions], parts[n_positions:], after_call
                after_call = False
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                obj = compressed(names["ob"], value)
            elif key == "fn":
                fn = compressed(names["fn"], value)
            elif key == "cob":
                compressed(names["ob"], value)
            elif key == "cfn":
                compressed(names["fn"], value)
            elif key == "calls":
                after_call = True
            elif line.startswith("positions:"):
                n_positions = len(line.split(":", 1)[1].split())


def compressed(table, value):
    """Callgrind's name compression: "(7) name" defines 7, "(7)" uses it."""
    m = re.match(r"\((\d+)\)(?: (.*))?$", value)
    if not m:
        return value
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table.get(m.group(1))


def packages(root):
    """{binary file name: package folder} for the server and the plugins."""
    out = {"cliproxy": os.path.join(root, "core")}
    plugins = os.path.join(root, "plugins")
    for d in sorted(os.listdir(plugins)):
        manifest = os.path.join(plugins, d, "Cargo.toml")
        if not os.path.exists(manifest):
            continue
        with open(manifest) as f:
            # The library's name ([lib] name), else the package's.
            text = f.read()
            lib = text.split("[lib]", 1)[1] if "[lib]" in text else text
            m = re.search(r'^name\s*=\s*"([^"]+)"', lib, re.M)
        if m:
            out["lib" + m.group(1).replace("-", "_") + ".so"] = os.path.join(plugins, d)
    return out


def ordered_names(folder):
    path = os.path.join(folder, "link-order.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def symbols(path):
    """[(mangled, demangled)] of the functions defined in a binary."""
    def names(*flags):
        out = subprocess.run(["nm", "--defined-only", *flags, path], capture_output=True, text=True)
        return [line.split(" ", 2)[2] for line in out.stdout.splitlines() if line.count(" ") >= 2]
    mangled, demangled = names(), names("--demangle")
    return list(zip(mangled, demangled)) if len(mangled) == len(demangled) else []


def with_cpu_variants(funcs, syms):
    """funcs plus, after a profiled `<module>::<name>_cpuid::` check,
    every function of <module> the profile did not see."""
    demangled = dict(syms)
    present = set(funcs)
    out = []
    for fn in funcs:
        out.append(fn)
        m = re.match(r"(.*)::\w+_cpuid::", demangled.get(fn, ""))
        if not m:
            continue
        prefix = m.group(1) + "::"
        for name, pretty in syms:
            if pretty.startswith(prefix) and name not in present:
                present.add(name)
                out.append(name)
    return out


def check(root, bin_dir):
    """One line per binary: how many of its ordered names the build has."""
    parts = []
    for binary, folder in packages(root).items():
        names = ordered_names(folder)
        path = os.path.join(bin_dir, binary)
        if not names or not os.path.exists(path):
            continue
        out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True)
        have = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
        found = sum(1 for n in names if n in have)
        parts.append(f"{binary} {found}/{len(names)}")
    print("link order found: " + (", ".join(parts) if parts else "none"))


def main():
    if sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
        return
    root, bin_dir, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    per_binary = collections.defaultdict(list)
    merged = collections.Counter()
    first_phase = {}
    for phase, path in enumerate(paths):
        for (obj, fn), n in self_costs(path).items():
            # Unnamed code (addresses, "(below main)") cannot be ordered;
            # callgrind marks deeper recursion levels with 'N.
            if n > 0 and fn and not fn.startswith("0x") and " " not in fn:
                key = (os.path.basename(obj), re.sub(r"'\d+$", "", fn))
                merged[key] += n
                first_phase.setdefault(key, phase)
    for (binary, fn), n in merged.items():
        per_binary[binary].append((first_phase[(binary, fn)], -n, fn))
    targets = packages(root)
    for binary, folder in targets.items():
        funcs = [fn for _, _, fn in sorted(per_binary.get(binary, []))]
        if not funcs:
            print(f"{binary}: not in the profile, {folder}/link-order.txt left as it is")
            continue
        syms = symbols(os.path.join(bin_dir, binary))
        have = {name for name, _ in syms}
        funcs = [c for c in C_RUNTIME if c in have and c not in funcs] + with_cpu_variants(funcs, syms)
        with open(os.path.join(folder, "link-order.txt"), "w") as f:
            f.write(HEADER.format(binary=binary))
            for fn in funcs:
                f.write(fn + "\n")
        print(f"{binary}: {len(funcs)} functions -> {os.path.relpath(folder, root)}/link-order.txt")


if __name__ == "__main__":
    main()
