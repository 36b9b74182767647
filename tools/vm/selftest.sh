#!/bin/sh
# selftest.sh - check that the QEMU test harness (run-vm.sh) works for KVER:
# a clean boot must exit 0, and a boot that loads splat-test/kq_splat_test.ko
# (which WARNs on load) must exit 3 although the guest command succeeds.
#
# Usage: selftest.sh KVER    (KVER may also be "6.1" or "6.12")
# Prints one PASS/FAIL line per check; exits 1 if any check failed.
set -eu

VMDIR=$(cd "$(dirname "$0")" && pwd)

[ $# -eq 1 ] || { echo "usage: $0 KVER" >&2; exit 2; }
KVER=$1
case $KVER in
6.1|6.12) KVER=$("$VMDIR/kernels.sh" "$KVER") ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vm-selftest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=0

# check NAME EXPECTED_STATUS run-vm.sh-arguments...
check() {
	name=$1 want=$2
	shift 2
	set +e
	"$VMDIR/run-vm.sh" --kernel "$KVER" --timeout 300 "$@" > "$TMP/$name.out" 2>&1
	got=$?
	set -e
	if [ "$got" -eq "$want" ]; then
		echo "PASS $name-$KVER"
	else
		echo "FAIL $name-$KVER (run-vm.sh exited $got, expected $want)"
		tail -n 40 "$TMP/$name.out"
		failed=1
	fi
}

check vm-selftest-clean-boot 0 --run true

mkdir "$TMP/mod"
cp "$VMDIR/splat-test/kq_splat_test.c" "$VMDIR/splat-test/Kbuild" "$TMP/mod/"
if make -C "/lib/modules/$KVER/build" M="$TMP/mod" modules > "$TMP/build.log" 2>&1; then
	check vm-selftest-splat-detected 3 --module "$TMP/mod/kq_splat_test.ko" --run true
else
	echo "FAIL vm-selftest-splat-detected-$KVER (building kq_splat_test.ko failed)"
	tail -n 40 "$TMP/build.log"
	failed=1
fi

exit $failed
