#!/bin/sh
# demo-guest.sh - what `make demo` shows inside the VM: the module loaded,
# and the original paper's test program waiting on stdin with kevent().
set -u
echo "--- /dev/kqueue: $(ls -l /dev/kqueue)"
echo "--- stdin_wait, input arrives after 1 s:"
(sleep 1; echo "hello, kqueue") | stdin_wait 120
echo "--- stdin_wait, no input, 2 s timeout:"
sleep 4 | stdin_wait 2
echo "--- stdin_wait, stdin at end of file:"
stdin_wait 5 < /dev/null
echo "--- live objects after the programs exited:" \
	"kqueues=$(cat /sys/module/kqueue/parameters/nr_kqueues)" \
	"knotes=$(cat /sys/module/kqueue/parameters/nr_knotes)"
exit 0
