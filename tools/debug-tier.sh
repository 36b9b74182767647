#!/bin/bash
# debug-tier.sh - the debug-kernel test tier (issue 6): the guest suite of
# the Debian kernels (tools/guest-suite.sh: conformance suite, examples,
# whatever else it runs, counters, rmmod) on a 6.1 kernel built with KASAN,
# lockdep, kmemleak, debugobjects and friends (tools/vm/debug-kernel.sh,
# tools/vm/debug-kernel.config), followed by a kmemleak scan after rmmod
# (tools/guest-kmemleak.sh).
#
# Usage: debug-tier.sh [--kernel-dir DIR] [--timeout SECS] [run-vm --file args...]
#   --kernel-dir DIR  a tree printed by tools/vm/debug-kernel.sh (default:
#                     run it, which builds the kernel unless it is cached)
#   --timeout SECS    the VM's time limit (default 2400)
#   Any other arguments are the run-vm.sh `--file SRC[:DEST]` options that
#   put the test programs and scripts into the guest; run-tests.sh passes
#   the list it gives the Debian kernels.  Without them: the same list
#   (kqtest, guest-suite.sh, the fuzzer and stress programs with
#   guest-reliability.sh, the examples and tools/check-*.sh).
#   Environment: KQTEST_TIMEOUT (default 150) is passed to the guest.
#
# Prints `PASS name-debug` / `FAIL name-debug: why` lines (every line of the
# guest gets the -debug suffix, so that run-tests.sh counts them apart from
# the Debian kernels' lines), `vm-clean-console-debug` (the guest finished
# and its console shows no splat), and ends with `N passed, N failed` of this
# tier.  Logs: build/test-logs/{debug-kernel,kmod-debug,vm-suite-debug,
# console-debug}.log.  Exit status 0 iff nothing failed.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
logs=$top/build/test-logs
mkdir -p "$logs"
results=$logs/results-debug.txt
: > "$results"

kdir=
timeout=2400
files=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel-dir|--timeout|--file)
		[ $# -ge 2 ] || { echo "debug-tier: $1 needs an argument" >&2; exit 2; }
		case $1 in
		--kernel-dir) kdir=$2 ;;
		--timeout) timeout=$2 ;;
		--file) files+=(--file "$2") ;;
		esac
		shift 2 ;;
	*) echo "debug-tier: unknown argument: $1" >&2; exit 2 ;;
	esac
done
if [ ${#files[@]} -eq 0 ]; then
	# the same files as the Debian kernels' runs
	while read -r f; do
		files+=(--file "$f")
	done < <(tools/guest-files.sh)
fi

record() { echo "$1" | tee -a "$results"; }

finish() {
	local passed failed
	passed=$(grep -c '^PASS ' "$results")
	failed=$(grep -c '^FAIL ' "$results")
	echo "debug tier: $passed passed, $failed failed, $(grep -c '^SKIP ' "$results") skipped"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit
}

if [ -z "$kdir" ]; then
	echo "=== debug kernel: building or finding it in the cache (log: $logs/debug-kernel.log)"
	start=$(date +%s)
	if ! kdir=$(tools/vm/debug-kernel.sh 2> "$logs/debug-kernel.log"); then
		record "FAIL debug-kernel-build: see $logs/debug-kernel.log"
		tail -n 40 "$logs/debug-kernel.log" | sed 's/^/    /'
		finish
	fi
	echo "=== debug kernel: $kdir ($(( $(date +%s) - start )) s)"
fi
bzimage=$kdir/arch/x86/boot/bzImage
if [ ! -r "$bzimage" ]; then
	record "FAIL debug-kernel-build: no $bzimage"
	finish
fi

if ! make -s kmod-debug KDEBUG_DIR="$kdir" > "$logs/kmod-debug.log" 2>&1; then
	record "FAIL kmod-build-debug: see $logs/kmod-debug.log"
	tail -n 40 "$logs/kmod-debug.log" | sed 's/^/    /'
	finish
fi

# kqueue.ko is loaded by the command, not by run-vm.sh, so that the first
# kmemleak scan sees the kernel before the module ever ran.  The debug
# kernel runs the suite several times slower than Debian's: each kqtest
# test gets KQTEST_TIMEOUT s instead of 30 (check-echo-server.sh lightens
# its own load when it sees lockdep).
start=$(date +%s)
tools/vm/run-vm.sh --kernel "$bzimage" --timeout "$timeout" \
	--log "$logs/console-debug.log" \
	--file build/kmod/debug/kqueue.ko:/modules/kqueue.ko \
	--file tools/guest-kmemleak.sh "${files[@]}" \
	--run "export KQTEST_TIMEOUT=${KQTEST_TIMEOUT:-150}
guest-kmemleak.sh start"'
if insmod /modules/kqueue.ko; then
	guest-suite.sh
else
	echo "FAIL insmod: insmod /modules/kqueue.ko failed"
fi
guest-kmemleak.sh check
exit 0' > "$logs/vm-suite-debug.log" 2>&1
st=$?
grep -E '^(PASS|FAIL|XFAIL|SKIP) ' "$logs/vm-suite-debug.log" |
	sed -E 's/^(PASS|FAIL|XFAIL|SKIP) ([^: ]+)/\1 \2-debug/' | tee -a "$results"
if [ $st -eq 0 ]; then
	record "PASS vm-clean-console-debug"
else
	record "FAIL vm-clean-console-debug: run-vm.sh exit $st"
	# indented: a caller counting PASS/FAIL lines must not count the
	# console tail that run-vm.sh shows
	grep -E '^run-vm:' -A 80 "$logs/vm-suite-debug.log" | head -120 |
		sed 's/^/    /'
fi
echo "=== debug kernel: $(( $(date +%s) - start )) s in the VM"
finish
