#!/bin/bash
# host-suite.sh - the conformance suite on this host against the
# user-space backend (`kqtest --backend user`), no VM.  Test names get the
# prefix "user:" so that they stay distinct from the VM runs' names.
# Prints PASS / FAIL / XFAIL lines (XFAIL: a listed expected failure of the
# user backend, see tests/xfail_user.c); exit status 0 iff no FAIL.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/build/tests/kqtest" --backend user "$@" |
	sed -E 's/^(PASS|FAIL|XFAIL|SKIP) /\1 user:/'
exit "${PIPESTATUS[0]}"
