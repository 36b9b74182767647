#!/bin/sh
# guest-reliability.sh - the fuzzer and the stress program, inside the VM
# (busybox sh, kqueue.ko loaded); tools/guest-suite.sh runs it before its
# final counter and rmmod checks.  Prints `PASS name` / `FAIL name: why`.
#
#   guest-reliability.sh [FUZZ_SECONDS [STRESS_SECONDS]]
#
# Defaults: $KQ_FUZZ_SECONDS or 40, $KQ_STRESS_SECONDS or 30.  Each runs
# with the completion ring (the default) for that long, then for half as
# long without it (KQUEUE_RING=0, names "ringoff-..."): about 110 s per
# kernel under QEMU TCG.  $KQ_FUZZ_SEED, if set, is the fuzzer's seed
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

# $1 a prefix for the names, $2 name, then the command; its PASS/FAIL
# lines get the prefix.  Exit 0 = passed, 1 = it printed its FAILs.
run_prog() {
	prefix=$1
	name=$2
	shift 2
	{ "$@"; echo "prog-exit $?"; } | sed -E \
		-e "s/^(PASS|FAIL|SKIP) /&$prefix/" \
		-e '/^prog-exit [01]$/d' \
		-e "s/^prog-exit ([0-9]+)$/FAIL $prefix$name-exit: $* ended with status \\1 (crash or hang)/"
}

seed=
[ -n "${KQ_FUZZ_SEED:-}" ] && seed="--seed $KQ_FUZZ_SEED"
# $1 the names' prefix, $2 KQUEUE_RING, $3 fuzz and $4 stress seconds.
reliability() {
	# shellcheck disable=SC2086
	run_prog "$1" kqfuzz env KQUEUE_RING="$2" kqfuzz --seconds "$3" \
		--threads 4 $seed
	counters_zero "${1}counters-zero-after-fuzz"
	run_prog "$1" kqstress env KQUEUE_RING="$2" kqstress --seconds "$4"
	counters_zero "${1}counters-zero-after-stress"
}

reliability "" 1 "$fuzz_s" "$stress_s"
reliability ringoff- 0 $(( (fuzz_s + 1) / 2 )) $(( (stress_s + 1) / 2 ))
exit 0
