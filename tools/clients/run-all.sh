#!/bin/bash
# run-all.sh - `make clients`: every real kqueue program this project is
# tested against (issue 16), built from Debian's source packages with its
# kqueue backend and stock, with its own tests on the host (user-space
# backend) and in the VM on kqueue.ko (6.1 and 6.12).  Each client's script
# runs alone too; doc/clients/NAME.md has its recipe and results.
#
#   CPython 3.11   tools/clients/cpython.sh     test_kqueue, test_selectors,
#                                               test_asyncio
#   Redis 7.0      tools/clients/redis.sh       Tcl suite units,
#                                               redis-benchmark
#   nginx 1.22     tools/clients/nginx.sh       ab load, every response;
#                                               wrk throughput
#   PostgreSQL 15  tools/clients/postgresql.sh  make check, isolation
#
# As root.  Takes about two hours the first time (the four clients' eight
# builds, cached by source version afterwards under
# /var/cache/linux-kqueue/clients), well over an hour after that (mostly
# TCG: PostgreSQL's suites take about 10 minutes per kernel).  Results: build/clients/results.txt.
# Exit status: the number of clients whose script failed.
set -u
cd "$(dirname "$0")/../.."
failed=0
run() {
	echo "=== clients: $*"
	"$@" || { echo "=== clients: FAILED: $*"; failed=$((failed + 1)); }
}
run tools/clients/cpython.sh --jobs 2
run tools/clients/redis.sh --host --vm 6.1 --vm 6.12
run tools/clients/nginx.sh --host --vm 6.1 --vm 6.12
# throughput, kqueue / epoll in one boot per kernel, counted in instructions
run tools/clients/redis.sh --vm 6.1 --vm 6.12 --no-units --bench \
	--smp 1 --icount 2 --rounds 4
run tools/clients/nginx.sh --vm 6.1 --vm 6.12 --no-cases --bench \
	--smp 1 --icount 2 --rounds 4
run tools/clients/nginx.sh --vm 6.1 --vm 6.12 --no-cases --bench \
	--smp 1 --icount 2 --rounds 4 --workers 1
run tools/clients/postgresql.sh --host --vm 6.1 --vm 6.12
echo "=== clients: $failed failed; results in build/clients/results.txt"
exit "$failed"
