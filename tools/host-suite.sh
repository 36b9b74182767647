#!/bin/bash
# host-suite.sh - the conformance suite on this host against the
# user-space backend (`kqtest --backend user`), no VM.  Test names get the
# prefix "user:" so that they stay distinct from the VM runs' names.
# Prints PASS / FAIL / XFAIL lines (XFAIL: a listed expected failure of the
# user backend, see tests/xfail_user.c); exit status 0 iff no FAIL.
#
#   host-suite.sh [--m32] [kqtest arguments]
#   --m32  the 32-bit (i386) build, build/m32/tests/kqtest (`make m32`),
#          with the prefix "user-m32:"
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
kqtest=$top/build/tests/kqtest
prefix=user:
if [ "${1-}" = --m32 ]; then
	shift
	kqtest=$top/build/m32/tests/kqtest
	prefix=user-m32:
fi
"$kqtest" --backend user "$@" |
	sed -E "s/^(PASS|FAIL|XFAIL|SKIP) /\\1 $prefix/"
exit "${PIPESTATUS[0]}"
