#!/bin/sh
# check-event-loop.sh - guest check of examples/event_loop.c: timers,
# ignored-but-observed signals and stdin, all through one kqueue.  Prints
# PASS/FAIL lines for tools/run-tests.sh.
set -u
out=/tmp/event_loop.out
(sleep 1; echo hello) | event_loop 3 > $out 2>&1 &
pid=$!
sleep 1
kill -USR1 $pid; kill -USR1 $pid
sleep 3
kill -TERM $pid 2>/dev/null
wait $pid
st=$?

check() {
	if grep -q "$2" $out; then
		echo "PASS example-event-loop-$1"
	else
		echo "FAIL example-event-loop-$1: no '$2' in: $(tr '\n' '|' < $out)"
	fi
}
check tick "^tick: "
check sigusr1 "^signal: SIGUSR1 x"
check stdin "^input: hello"
check deadline "^deadline: done"
if [ $st -eq 0 ]; then
	echo "PASS example-event-loop-exit"
else
	echo "FAIL example-event-loop-exit: status $st"
fi
