#!/bin/sh
# bench-guest.sh - runs inside the VM (busybox sh), kqueue.ko loaded: every
# benchmark scenario in one boot, so that all mechanisms are compared on the
# same (emulated) CPU.  Prints BENCH,... CSV lines (bench/bench.h) for
# tools/bench.sh to pick out of the console log.
#
# Usage: bench-guest.sh [--short] [--reps R]      (default 5 repetitions)
#   --short   scenario 1 only (the paper's Table 2), N = 100, 500, 800,
#             1000, 3 repetitions unless --reps says otherwise
set -u
short=0
reps=5
while [ $# -gt 0 ]; do
	case $1 in
	--short) short=1; reps=3 ;;
	--reps) reps=$2; shift ;;
	*) echo "bench-guest: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ -c /dev/kqueue ] || { echo "bench-guest: /dev/kqueue missing" >&2; exit 1; }

echo "BENCHINFO,kernel,$(uname -r)"
echo "BENCHINFO,cpus,$(grep -c ^processor /proc/cpuinfo)"
echo "BENCHINFO,memtotal_kb,$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
echo "BENCHINFO,cpu,$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"

run() {
	echo "BENCHINFO,start,$*"
	t0=$(date +%s)
	"$@" || { echo "bench-guest: $* failed" >&2; exit 1; }
	echo "BENCHINFO,seconds,$1,$(( $(date +%s) - t0 ))"
}

if [ "$short" = 1 ]; then
	run table2 -n 100,500,800,1000 -r "$reps"
	exit 0
fi

# 1. Table 2: all N pipes ready.
run table2 -r "$reps"
# 2. k active among N registered.
run idle -r "$reps"
# 3. churn: one-shot re-arm loop, registering N descriptors.
run churn -r "$reps"
# 4. kernel memory per registration.
run memory -r "$reps"
exit 0
