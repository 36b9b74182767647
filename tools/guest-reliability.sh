#!/bin/sh
# guest-reliability.sh - the fuzzer and the stress program, inside the VM
# (busybox sh, kqueue.ko loaded); tools/guest-suite.sh runs it before its
# final counter and rmmod checks.  Prints `PASS name` / `FAIL name: why`.
#
#   guest-reliability.sh [FUZZ_SECONDS [STRESS_SECONDS]]
#
# Defaults: $KQ_FUZZ_SECONDS or 40, $KQ_STRESS_SECONDS or 30 (about 75 s
# per kernel under QEMU TCG).  $KQ_FUZZ_SEED, if set, is the fuzzer's seed
# (otherwise it picks one and prints it: `kqfuzz: seed S`; reproduce with
# `kqfuzz --seed S --seconds T --threads N`).
#
# After each program, once everything it opened is closed, the live
# counters nr_kqueues and nr_knotes must be back to 0 (the module may reap
# a little later: a few seconds' patience).  A program that dies (signal,
# or an exit status it does not use) fails too.
set -u

fuzz_s=${1:-${KQ_FUZZ_SECONDS:-40}}
stress_s=${2:-${KQ_STRESS_SECONDS:-30}}
P=/sys/module/kqueue/parameters

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

counters_zero() {
	n=0
	while [ $n -lt 100 ]; do
		kqs=$(cat $P/nr_kqueues)
		kns=$(cat $P/nr_knotes)
		if [ "$kqs" = 0 ] && [ "$kns" = 0 ]; then
			pass "$1"
			return
		fi
		sleep 0.1
		n=$((n + 1))
	done
	fail "$1" "nr_kqueues=$kqs nr_knotes=$kns 10 s after the end"
}

# $1 name, then the command.  Exit 0 = passed, 1 = it printed its FAILs.
run_prog() {
	name=$1
	shift
	"$@"
	st=$?
	if [ $st -gt 1 ]; then
		fail "$name-exit" "$* ended with status $st (crash or hang)"
	fi
}

if [ -n "${KQ_FUZZ_SEED:-}" ]; then
	run_prog kqfuzz kqfuzz --seconds "$fuzz_s" --threads 4 \
		--seed "$KQ_FUZZ_SEED"
else
	run_prog kqfuzz kqfuzz --seconds "$fuzz_s" --threads 4
fi
counters_zero counters-zero-after-fuzz

run_prog kqstress kqstress --seconds "$stress_s"
counters_zero counters-zero-after-stress
exit 0
