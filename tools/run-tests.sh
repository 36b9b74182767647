#!/bin/bash
# run-tests.sh - the whole test run (`make check`, which CI runs).
#
# For each supported kernel (tools/vm/kernels.sh): static checks of the
# module (sparse), the VM harness self-test (a module that WARNs must fail
# the run), then one VM boot running tools/guest-suite.sh (conformance
# suite, also its 32-bit build, examples, counters, rmmod).  On the host:
# checkpatch, and the library without the module (64-bit and 32-bit).  A VM run that shows a kernel splat or does
# not finish counts as a failure even if every test in it passed.
#
# Then real programs with kqueue backends, built from Debian's sources
# (tools/clients/ci.sh: CPython's test_kqueue/test_selectors, Redis's
# unit/type/list, on the host and on kqueue.ko).
#
# Prints every `PASS`/`FAIL` line and ends with `N passed, N failed`.
# Logs: build/test-logs/.  Exit status 0 iff nothing failed.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs=$top/build/test-logs
mkdir -p "$logs"
results=$logs/results.txt
: > "$results"

# The debug kernel of the last tier builds meanwhile, on idle CPU time only
# (nice 19); once it is cached this is instant.  Killed if we are.
nice -n 19 tools/vm/debug-kernel.sh > "$logs/debug-kernel.out" \
	2> "$logs/debug-kernel.log" &
dk_pid=$!
# The real programs' builds (tools/clients/ci.sh) likewise.
nice -n 19 tools/clients/ci.sh build > "$logs/clients-build.log" 2>&1 &
cl_pid=$!
trap '[ -z "$dk_pid" ] || kill "$dk_pid" 2>/dev/null
[ -z "$cl_pid" ] || kill "$cl_pid" 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

record() { echo "$1" | tee -a "$results"; }

# Run a command, echo its output, keep its PASS/FAIL lines.
collect() {
	local log=$1
	shift
	"$@" > "$log" 2>&1
	local st=$?
	grep -E '^(PASS|FAIL|XFAIL|SKIP) ' "$log" | tee -a "$results"
	return $st
}

# The PASS/FAIL lines of a tier that ran in the background (NAME, its exit
# status, LOG); one that failed without saying so is a failure too.
keep() {
	grep -E '^(PASS|FAIL|XFAIL|SKIP) ' "$3" | tee -a "$results"
	if [ "$2" != 0 ] && ! grep -q '^FAIL ' "$3"; then
		record "FAIL $1: exit status $2, see $3"
	fi
}

mapfile -t kernels < <(tools/vm/kernels.sh)
if [ ${#kernels[@]} -lt 2 ]; then
	record "FAIL kernels-installed: found '${kernels[*]}', need 6.1 and 6.12 (run tools/install-deps.sh)"
fi

if tools/checkpatch.sh kmod/*.c kmod/*.h > "$logs/checkpatch.log" 2>&1; then
	record "PASS checkpatch-kmod"
else
	record "FAIL checkpatch-kmod: see $logs/checkpatch.log"
	cat "$logs/checkpatch.log"
fi

# The library on the host, where no module can be loaded.
collect "$logs/host-no-module.log" build/tests/kqtest --no-module
# The whole suite on the host against the user-space backend, 64-bit and
# 32-bit (make m32; names "user-m32:") side by side: they mostly wait
# (timeouts, timers), about 105 s each.  Meanwhile, under nice, the
# binary-compatibility decision (own SONAME) and the Debian packages:
# built, lintian-clean, installed, used, DKMS-built for each kernel,
# purged.  test-install.sh, which registers the same DKMS module, comes
# only after the packages are gone.
tools/host-suite.sh --m32 > "$logs/host-user-m32.log" 2>&1 &
m32_pid=$!
(nice -n 19 tools/test-abi.sh > "$logs/abi-tests.log" 2>&1
 echo $? > "$logs/abi-tests.rc"
 nice -n 19 tools/test-deb.sh > "$logs/deb-tests.log" 2>&1
 echo $? > "$logs/deb-tests.rc") &
pkg_pid=$!
collect "$logs/host-user.log" tools/host-suite.sh
wait "$m32_pid"
keep host-user-m32 $? "$logs/host-user-m32.log"
wait "$pkg_pid"
keep abi-tests "$(cat "$logs/abi-tests.rc")" "$logs/abi-tests.log"
keep deb-tests "$(cat "$logs/deb-tests.rc")" "$logs/deb-tests.log"
# The stress program on the host against the user-space backend.
collect "$logs/host-user-stress.log" tools/host-stress.sh 15

# make install/uninstall, pkg-config, man pages, DKMS builds, and the
# installed library with out-of-tree programs in a VM per kernel.
collect "$logs/install-tests.log" tools/test-install.sh

for k in "${kernels[@]}"; do
	echo "=== kernel $k"
	if make -s sparse KVERS="$k" > "$logs/sparse-$k.log" 2>&1; then
		record "PASS sparse-kmod-$k"
	else
		record "FAIL sparse-kmod-$k: see $logs/sparse-$k.log"
		cat "$logs/sparse-$k.log"
	fi

	collect "$logs/vm-selftest-$k.log" tools/vm/selftest.sh "$k"

	start=$(date +%s)
	files=()
	while read -r f; do
		files+=(--file "$f")
	done < <(tools/guest-files.sh)
	collect "$logs/vm-suite-$k.log" tools/vm/run-vm.sh --kernel "$k" \
		--timeout 1200 --log "$logs/console-$k.log" \
		--module "build/kmod/$k/kqueue.ko" "${files[@]}" \
		--run guest-suite.sh
	st=$?
	# Exit 0: the guest finished and the console is clean (the
	# tests' own verdicts are the PASS/FAIL lines above).
	if [ $st -eq 0 ]; then
		record "PASS vm-clean-console-$k"
	else
		record "FAIL vm-clean-console-$k: run-vm.sh exit $st"
		grep -E '^run-vm:' -A 80 "$logs/vm-suite-$k.log" | head -120
	fi
	echo "=== kernel $k: $(( $(date +%s) - start )) s in the VM"
done

# Real kqueue programs (issue 16): the CI subset, once their builds are done.
echo "=== real programs (build log: $logs/clients-build.log)"
start=$(date +%s)
wait "$cl_pid"
cl_st=$?
cl_pid=
if [ $cl_st -ne 0 ]; then
	record "FAIL clients-build: exit $cl_st, see $logs/clients-build.log"
	tail -n 30 "$logs/clients-build.log"
else
	tools/clients/ci.sh run | tee -a "$results"
fi
echo "=== real programs: $(( $(date +%s) - start )) s"

# The same guest steps on the 6.1 debug kernel (KASAN, lockdep, kmemleak...),
# then a kmemleak scan: tools/debug-tier.sh; its lines end in -debug.
echo "=== debug kernel (build log: $logs/debug-kernel.log)"
start=$(date +%s)
wait "$dk_pid"
dk_st=$?
dk_pid=
echo "=== debug kernel: ready $(( $(date +%s) - start )) s after the other tiers"
if [ $dk_st -eq 0 ]; then
	collect "$logs/debug-tier.log" tools/debug-tier.sh \
		--kernel-dir "$(cat "$logs/debug-kernel.out")" ${files[@]+"${files[@]}"}
	grep -v -E '^(PASS|FAIL|XFAIL|SKIP) ' "$logs/debug-tier.log"
else
	record "FAIL debug-kernel-build: exit $dk_st, see $logs/debug-kernel.log"
	tail -n 40 "$logs/debug-kernel.log"
fi

passed=$(grep -c '^PASS ' "$results")
failed=$(grep -c '^FAIL ' "$results")
echo "$(grep -c '^XFAIL ' "$results") expected failures (user-space backend, listed in tests/xfail_user.c and the README)"
skipped=$(grep -c '^SKIP ' "$results")
# Again at the end, where a shortened copy of this output still shows them.
if [ "$failed" -gt 0 ]; then
	echo "=== the failures ($results):"
	grep '^FAIL ' "$results" | cut -c 1-300
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
