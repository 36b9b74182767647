#!/bin/bash
# demo-user.sh - `make demo` on a machine without QEMU, the Debian kernels
# or the module: the same examples run on this host with libkqueue's
# user-space backend (KQUEUE_BACKEND=user), then a short run of benchmark
# scenarios 1 and 3 against the host's epoll and poll
# (tools/bench-user.sh --short).  tools/demo.sh calls it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export KQUEUE_BACKEND=user
echo "=== $(uname -sr) (this host), no VM: backend" \
	"'$(build/bin/kqueue-backend)' (the user-space emulation)"
echo "--- stdin_wait, input arrives after 1 s:"
(sleep 1; echo "hello, kqueue") | build/examples/stdin_wait 120
echo "--- stdin_wait, no input, 2 s timeout:"
sleep 4 | build/examples/stdin_wait 2 || true
echo "--- stdin_wait, stdin at end of file:"
build/examples/stdin_wait 5 < /dev/null || true
echo
echo "=== Scenarios 1 and 3, short run on the host (tools/bench-user.sh --short)"
tools/bench-user.sh --short
