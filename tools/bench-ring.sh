#!/bin/bash
# bench-ring.sh - the completion ring's benchmarks (bench/ring.c), one VM
# boot per kernel: bench/ring runs with the ring (the default) and
# without it (KQUEUE_RING=0) in the same boot, epoll (or eventfd + epoll)
# measured beside each.  Prints, per scenario, the median over the
# repetitions of each mechanism and its rate relative to the epoll of
# the same pass; the raw BENCH lines stay in build/bench/ring-KVER.log.
#
# Usage: tools/bench-ring.sh [-r REPS] [--smp 2] [--spin N] [KERNEL...]
#        (default: 6.1 6.12, 5 repetitions, one CPU)
#
# By default the guest has one emulated CPU that counts instructions
# (run-vm.sh --smp 1 --icount 2), so a rate measures the instructions each
# event costs, whatever else the host runs.  About 5 minutes per kernel.
# With --smp 2 it has two CPUs in real time (QEMU's multi-threaded TCG, one
# host core each: run it on an otherwise idle host), where the writer and
# the harvester, or the two ping-pong threads, run side by side; log
# build/bench/ring-smp2-KVER.log.  --spin N runs the ring with
# KQUEUE_RING_SPIN=N (doc/ring.md: rounds spent watching the ring before
# sleeping, which only matters with more than one CPU).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
reps=5
cpus=(--smp 1 --icount 2)
tag=ring
spin=
while [ $# -gt 0 ]; do
	case $1 in
	-r) reps=$2; shift 2 ;;
	--smp) cpus=(--smp "$2"); tag=$tag-smp$2; shift 2 ;;
	--spin) spin="KQUEUE_RING_SPIN=$2 "; tag=$tag-spin$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || set -- 6.1 6.12
mkdir -p "$top/build/bench"
rc=0
for k in "$@"; do
	kver=$("$top/tools/vm/kernels.sh" "$k")
	log=$top/build/bench/$tag-$kver.log
	echo "bench-ring: $kver (log $log)"
	"$top/tools/vm/run-vm.sh" --kernel "$kver" \
		--module "$top/build/kmod/$kver/kqueue.ko" \
		--file "$top/build/bench/ring" "${cpus[@]}" \
		--timeout 3600 \
		--run "${spin}ring -r $reps && KQUEUE_RING=0 ring -r $reps" \
		> "$log" 2>&1 || { echo "bench-ring: VM run failed ($log)"; rc=1; continue; }
	python3 - "$log" <<'PY'
import sys, statistics
from collections import defaultdict
# The two passes run one after the other, and a real-time guest (--smp 2)
# drifts between them: each kqueue figure is compared with the epoll (or
# eventfd) figures of its own pass.  A pass is named by its kqueue
# mechanism, which comes first in every pair of lines.
vals = defaultdict(list)
cur = None
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    i = line.find("BENCH,")
    if i < 0:
        continue
    f = line[i:].split(",")
    if len(f) != 8:
        continue
    _, sc, mech, n, k, rep, val, unit = f
    if mech.startswith("kqueue"):
        cur = mech
    if cur is None:
        continue
    vals[(sc, cur, mech)].append((float(val), unit))
def med(sc, p, mech):
    v = vals.get((sc, p, mech))
    if not v:
        return None, None
    return statistics.median(x for x, _ in v), v[0][1]
for sc, base in (("ring-harvest", "epoll"), ("ring-busy", "epoll"),
                 ("ring-busy-write", "epoll"), ("ring-pingpong", "eventfd")):
    parts = []
    for p in ("kqueue-ring", "kqueue"):
        v, unit = med(sc, p, p)
        b, _ = med(sc, p, base)
        if v is None or b is None:
            continue
        parts.append("%s %.3f %s (%.2fx the rate of %s %.3f in its pass)"
                     % (p, v, unit, b / v, base, b))
    if parts:
        print("%s: %s" % (sc, "; ".join(parts)))
PY
done
exit $rc
