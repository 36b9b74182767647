#!/bin/sh
# guest-kmemleak.sh - kmemleak bracket of a guest run on the debug kernel
# (tools/debug-tier.sh); runs inside the VM (busybox sh).
#
#   guest-kmemleak.sh start   before kqueue.ko is loaded: scan, then forget
#                             whatever is reported already (boot-time
#                             objects the kernel itself keeps without a
#                             pointer kmemleak can see)
#   guest-kmemleak.sh check   after the tests and rmmod: scan until two
#                             scans in a row agree, then print
#                             `PASS kmemleak-clean` if nothing is reported,
#                             else `FAIL kmemleak-clean: ...` and the
#                             reports (allocation backtraces)
#
# kmemleak reports an object only once it is older than 5 s and no pointer
# to it was found in a scan; reading /sys/kernel/debug/kmemleak lists the
# objects the last scan still found unreferenced, so a second scan drops
# pointers that were only in flight during the first.
set -u

D=/sys/kernel/debug
K=$D/kmemleak

fail() { echo "FAIL kmemleak-clean: $1"; exit 1; }

if [ ! -e "$K" ]; then
	grep -q " $D debugfs " /proc/mounts || mount -t debugfs debugfs "$D" 2>/dev/null
fi
[ -e "$K" ] || fail "no $K (kernel without CONFIG_DEBUG_KMEMLEAK?)"

scan() {
	echo scan > "$K" || fail "echo scan > $K failed (kmemleak disabled after an error?)"
}

t0=$(date +%s)
case ${1:-} in
start)
	# objects of the last moments of boot must be old enough to be seen
	sleep 6
	scan
	echo clear > "$K" || fail "echo clear > $K failed"
	echo "guest-kmemleak: baseline scan done in $(( $(date +%s) - t0 )) s"
	;;
check)
	sleep 6
	scan
	prev=$(cat "$K")
	n=0
	while :; do
		sleep 1
		scan
		cur=$(cat "$K")
		n=$((n + 1))
		if [ "$cur" = "$prev" ] || [ $n -ge 4 ]; then
			break
		fi
		prev=$cur
	done
	echo "guest-kmemleak: $((n + 1)) scans done in $(( $(date +%s) - t0 )) s"
	if [ -z "$cur" ]; then
		echo "PASS kmemleak-clean"
	else
		count=$(printf '%s\n' "$cur" | grep -c '^unreferenced object')
		echo "FAIL kmemleak-clean: $count unreferenced object(s) after $((n + 1)) scans:"
		printf '%s\n' "$cur"
		exit 1
	fi
	;;
*)
	echo "usage: guest-kmemleak.sh start|check" >&2
	exit 2
	;;
esac
