#!/bin/sh
# guest-suite.sh - the test steps that run inside the VM (busybox sh), after
# run-vm.sh has loaded kqueue.ko.  Prints one `PASS name` / `FAIL name: why`
# line per check; tools/run-tests.sh counts them.
#
#   1. the conformance suite (kqtest), with the completion ring (the
#      default); then the whole suite again without it (KQUEUE_RING=0,
#      names "ringoff:..."); then, when /bin/kqtest32 is there, its 32-bit
#      (i386) build once, through the module's compat_ioctl (names
#      "m32:...")
#   2. the examples, driven as a user would (here and in each
#      /bin/check-*.sh, see tools/check-*.sh)
#   3. the fuzzer and the stress program (guest-reliability.sh)
#   4. every kqueue closed: live counters back to 0
#   5. rmmod succeeds; without the module kqueue() fails with ENOSYS
set -u

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# $1: a prefix for the names, then the command.  kqtest exits 0, or 1 if
# a test failed: any other status is a crash of the runner itself.
run_suite() {
	prefix=$1
	shift
	{ "$@" 2>&1; echo "suite-exit $?"; } | sed -E \
		-e "s/^(PASS|FAIL|SKIP|XFAIL) /&$prefix/" \
		-e '/^suite-exit [01]$/d' \
		-e "s/^suite-exit ([0-9]+)$/FAIL ${prefix}kqtest-exit: status \\1/"
}

run_suite "" kqtest
# The same semantics without the ring (doc/ring.md).
run_suite ringoff: env KQUEUE_RING=0 kqtest
# A 32-bit program (README, "32-bit programs"): one pass, with the ring as
# the 32-bit library uses it.  /proc/sys/abi/vsyscall32 exists when the
# kernel runs i386 programs (CONFIG_IA32_EMULATION; the debug kernel has
# none).
if [ -e /bin/kqtest32 ]; then
	if [ -e /proc/sys/abi/vsyscall32 ]; then
		run_suite m32: kqtest32
	else
		echo "SKIP m32:kqtest: this kernel cannot run 32-bit programs (no IA32 emulation)"
	fi
fi

# The paper's program: input arrives -> reported with its byte count.
out=$( (sleep 1; echo hello) | stdin_wait 30)
case $out in
*"stdin is readable: 6 bytes"*) pass example-stdin-wait-input ;;
*) fail example-stdin-wait-input "got: $out" ;;
esac
# No input -> times out with status 1.
out=$(sleep 4 | stdin_wait 1)
st=$?
if [ $st -eq 1 ] && [ "$out" = "no input within 1 seconds" ]; then
	pass example-stdin-wait-timeout
else
	fail example-stdin-wait-timeout "status $st, got: $out"
fi

for check in /bin/check-*.sh; do
	[ -x "$check" ] && "$check"
done

# The fuzzer and the stress program, each followed by a counters check.
if [ -x /bin/guest-reliability.sh ]; then
	guest-reliability.sh
else
	fail reliability "guest-reliability.sh is not in the VM"
fi

P=/sys/module/kqueue/parameters
kqs=$(cat $P/nr_kqueues)
kns=$(cat $P/nr_knotes)
if [ "$kqs" = 0 ] && [ "$kns" = 0 ]; then
	pass counters-zero-at-end
else
	fail counters-zero-at-end "nr_kqueues=$kqs nr_knotes=$kns"
fi

if rmmod kqueue; then
	pass rmmod-after-close
else
	fail rmmod-after-close "rmmod failed"
fi
if [ ! -e /dev/kqueue ]; then
	pass device-gone-after-rmmod
else
	fail device-gone-after-rmmod "/dev/kqueue still exists"
fi
kqtest --no-module
exit 0
