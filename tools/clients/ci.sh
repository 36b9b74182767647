#!/bin/bash
# ci.sh - the part of the real-program tests (issue 16) that `make check`
# runs: CPython's test_kqueue and test_selectors (minimal kqueue build) on
# the host with the user-space backend and on kqueue.ko in a 6.12 VM, and
# Redis's unit/type/list (kqueue build) on the host and in a 6.1 VM.
# `make clients` (tools/clients/run-all.sh) runs everything else.
#
# Usage (as root, from tools/run-tests.sh):
#   tools/clients/ci.sh build   fetch the sources and build both clients
#                               (cached by source version); run-tests.sh
#                               starts it early, under nice, next to the
#                               VM tiers
#   tools/clients/ci.sh run     run the tests (builds first if needed) and
#                               print one PASS/FAIL line per client x
#                               backend x kernel, in run-tests.sh's format
#
# A run line passes when the client's script finished, its result line says
# failed=0 with at least one passed test case, and (in the VM) the module's
# counters were back to 0 with a clean console -- the client scripts fail
# otherwise.  Logs: build/clients/{cpython,redis}/ and build/test-logs/.
set -u
cd "$(dirname "$0")/../.."
top=$(pwd)
logs=$top/build/test-logs
mkdir -p "$logs"

build() {
	tools/clients/cpython.sh --ci --build-only &&
		tools/clients/redis.sh --ci --build-only
}

# run_client NAME SCRIPT ARGS...: the script's result lines become
# PASS/FAIL lines; a script that failed without a failing result line
# gives a FAIL line of its own.
run_client() {
	local name=$1 res=$logs/clients-$1.results st line bad=0
	shift
	: > "$res"
	CLIENTS_RESULTS=$res "$@" > "$logs/clients-$name.log" 2>&1
	st=$?
	while read -r line; do
		# NAME BACKEND KERNEL passed=P failed=F skipped=S
		set -- $line
		local p=${4#passed=} f=${5#failed=}
		if [ "$f" = 0 ] && [ "$p" -gt 0 ] 2>/dev/null; then
			echo "PASS client-$1-$2-$3: $4 $5 $6"
		else
			echo "FAIL client-$1-$2-$3: $4 $5 $6 (log build/test-logs/clients-$name.log)"
			bad=1
		fi
	done < "$res"
	if [ "$st" != 0 ] && [ "$bad" = 0 ]; then
		echo "FAIL client-$name: exit $st, see build/test-logs/clients-$name.log"
		tail -n 30 "$logs/clients-$name.log"
	fi
	[ -s "$res" ] || [ "$st" != 0 ] ||
		echo "FAIL client-$name: no result line (build/test-logs/clients-$name.log)"
}

case ${1:-} in
build)
	build
	;;
run)
	run_client cpython tools/clients/cpython.sh --ci
	run_client redis tools/clients/redis.sh --ci
	;;
*)
	sed -n '/^# Usage/,/^# A run line/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
