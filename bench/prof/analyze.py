#!/usr/bin/env python3
"""analyze.py - attribute tbprof's instruction counts to functions.

Usage: analyze.py KALLSYMS CONSOLE_LOG PROF_PREFIX KVER [CSV] > report.md

KALLSYMS is the guest's /proc/kallsyms (text symbols; kqueue.ko's carry
"[kqueue]").  CONSOLE_LOG holds one "PROFILE,CASE,N,CALLS,EVENTS" line per
run of bench/profile.c, in order; run i's counts are in PROF_PREFIX.i
("vaddr insns execs" per code block, bench/prof/tbprof.c).  CSV, if
given, gets one line per case: case,N,calls,events,insns_per_call,kernel,
kqueue_ko,user (instructions per call).
"""
import bisect
import re
import sys
from collections import defaultdict

USER_TOP = 0x0000800000000000


def load_syms(kallsyms, log):
    syms = []
    with open(kallsyms) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[1] in "TtWw":
                name = p[2] + (" [kqueue]" if "[kqueue]" in line else "")
                syms.append((int(p[0], 16), name))
    runs = []
    with open(log, errors="replace") as f:
        for line in f:
            m = re.search(r"PROFILE,([^,]+),(\d+),(\d+),(\d+)", line)
            if m:
                runs.append((m.group(1), int(m.group(2)), int(m.group(3)),
                             int(m.group(4))))
    return sorted(syms), runs


def attribute(syms, path):
    addrs = [a for a, _ in syms]
    fn = defaultdict(int)
    total = 0
    with open(path) as f:
        for line in f:
            va, insns, _ = line.split()
            va, insns = int(va, 16), int(insns)
            total += insns
            if va < USER_TOP:
                fn["[user space]"] += insns
                continue
            i = bisect.bisect_right(addrs, va) - 1
            fn[syms[i][1] if i >= 0 else "?"] += insns
    return fn, total


def group(name):
    if name == "[user space]":
        return "user"
    if name.endswith("[kqueue]"):
        return "kqueue.ko"
    return "kernel"


def main(kallsyms, log, prefix, kver, csvpath=None):
    syms, runs = load_syms(kallsyms, log)
    print(f"# Instruction profile, Linux {kver}")
    print()
    print("Guest instructions executed per call (tools/bench-profile.sh: "
          "the tbprof QEMU plugin counts every instruction of the guest "
          "between marks the program sets around its timed calls, all "
          "of kernel, kqueue.ko and user space).  Counts do not weigh "
          "cache misses, atomics or the emulator's cost per instruction, "
          "but do not depend on the host's load either.")
    print()
    results = []
    for i, (case, n, calls, events) in enumerate(runs):
        try:
            fn, total = attribute(syms, f"{prefix}.{i}")
        except OSError:
            continue
        results.append((case, n, calls, events, fn, total))

    print("| case | N | events/call | instructions/call | per event | "
          "kernel | kqueue.ko | user |")
    print("|---|---|---|---|---|---|---|---|")
    csvf = open(csvpath, "w") if csvpath else None
    if csvf:
        csvf.write("case,N,calls,events,insns_per_call,kernel,kqueue_ko,"
                   "user\n")
    for case, n, calls, events, fn, total in results:
        g = defaultdict(int)
        for name, v in fn.items():
            g[group(name)] += v
        per = total / calls
        if csvf:
            csvf.write(f"{case},{n},{calls},{events},{per:.1f},"
                       f"{g['kernel'] / calls:.1f},"
                       f"{g['kqueue.ko'] / calls:.1f},"
                       f"{g['user'] / calls:.1f}\n")
        print(f"| {case} | {n:,} | {events} | {per:,.0f} | "
              f"{per / events:,.0f} | {g['kernel'] / calls:,.0f} | "
              f"{g['kqueue.ko'] / calls:,.0f} | {g['user'] / calls:,.0f} |")
    print()
    if csvf:
        csvf.close()
    for case, n, calls, events, fn, total in results:
        print(f"## {case}, N = {n:,}: top functions, instructions per "
              "event")
        print()
        print("| function | per event | share |")
        print("|---|---|---|")
        shown = 0
        for name, v in sorted(fn.items(), key=lambda x: -x[1]):
            if shown >= 25 or v / total < 0.004:
                break
            print(f"| {name} | {v / calls / events:,.1f} | "
                  f"{100 * v / total:.1f}% |")
            shown += 1
        print()


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
