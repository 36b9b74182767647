#!/bin/bash
# host-stress.sh - the stress program (tests/stress/kqstress.c) on this
# host against the user-space backend: threads hammering pipes, sockets,
# timers and user events, kqueues built and torn down under waiting
# threads, children exiting with kqueues open, all with exact accounting.
# Names get the prefix "user:"; EVFILT_SIGNAL's count is a listed expected
# failure of this backend (XFAIL).  Exit status 0 iff no FAIL.
#
# Usage: tools/host-stress.sh [seconds]   (default 15)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
KQUEUE_BACKEND=user "$top/build/tests/kqstress" --seconds "${1:-15}" |
	sed -E 's/^(PASS|FAIL|XFAIL) /\1 user:/'
exit "${PIPESTATUS[0]}"
