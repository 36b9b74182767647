#!/bin/sh
# kernels.sh - list the Debian cloud kernels the VM tests can boot.
#
# Prints, one per line, the newest installed and usable 6.1.*-cloud-amd64
# and 6.12.*-cloud-amd64 kernel versions (usable: /boot/vmlinuz-KVER is
# readable and /lib/modules/KVER/build exists, so an out-of-tree module can
# be built against it and the kernel booted under QEMU).
#
# Usage: kernels.sh [6.1|6.12]
#   With an argument, prints only that series; exits 1 with a message on
#   stderr if it is not installed.  Without one, prints every series found
#   and exits 1 (after printing the ones found) if any is missing.
set -eu

# newest_kernel SERIES: print the newest usable KVER of SERIES, or nothing.
newest_kernel() {
	series=$1
	for img in /boot/vmlinuz-"$series".*-cloud-amd64; do
		[ -e "$img" ] || continue
		kver=${img#/boot/vmlinuz-}
		[ -r "$img" ] || continue
		[ -d "/lib/modules/$kver/build" ] || continue
		printf '%s\n' "$kver"
	done | sort -V | tail -n 1
}

case $# in
0) set -- 6.1 6.12 ;;
1) case $1 in
   6.1|6.12) ;;
   *) echo "usage: $0 [6.1|6.12]" >&2; exit 2 ;;
   esac ;;
*) echo "usage: $0 [6.1|6.12]" >&2; exit 2 ;;
esac

status=0
for series in "$@"; do
	kver=$(newest_kernel "$series")
	if [ -n "$kver" ]; then
		printf '%s\n' "$kver"
	else
		echo "kernels.sh: no usable $series.*-cloud-amd64 kernel" \
			"(need readable /boot/vmlinuz-KVER and /lib/modules/KVER/build;" \
			"run tools/install-deps.sh as root)" >&2
		status=1
	fi
done
exit $status
