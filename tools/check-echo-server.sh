#!/bin/sh
# check-echo-server.sh - guest check of examples/echo_server.c under load:
# echo_client runs 4,000 TCP connections through the server, 2,000 of them
# open at once, and checks that every byte comes back and that the
# server closes every connection.  Then the server, which drops
# connections with close(2) alone, must hold no knote but its own four
# (listener, three signals), and its statistics must match the client's.
# About 20 s in an idle TCG guest; the client fails the run if nothing at
# all moves for 60 s (connections stuck on a lost wake-up), not merely
# because a loaded host makes it slow or TCP is retransmitting.
# Prints PASS/FAIL lines for tools/run-tests.sh.  Runs in the VM (busybox
# sh) with kqueue.ko loaded; ECHO_TOTAL / ECHO_CONC override the load.
set -u
total=${ECHO_TOTAL:-4000}
conc=${ECHO_CONC:-2000}
# A debug kernel (lockdep, KASAN: the debug-kernel tier) runs this about
# fifteen times slower under TCG: a lighter load there.
if [ -e /proc/lockdep ]; then
	total=${ECHO_TOTAL:-600}
	conc=${ECHO_CONC:-300}
	echo "echo-server: debug kernel: $total connections, $conc at once"
fi
port=7007
sout=/tmp/echo_server.out
cout=/tmp/echo_client.out
P=/sys/module/kqueue/parameters

pass() { echo "PASS echo-server-$1"; }
fail() { echo "FAIL echo-server-$1: $2"; }

# Both ends of every connection are in this VM: two descriptors each
# (busybox sh has ulimit -n).
# shellcheck disable=SC3045
if ! ulimit -n $((conc * 2 + 1024)); then
	fail setup "cannot raise the descriptor limit"
	exit 0
fi
knotes_before=$(cat $P/nr_knotes)
echo_server -q -p $port > $sout 2>&1 &
spid=$!
i=0
while ! grep -q '^listening on' $sout 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $spid 2>/dev/null; then
		fail setup "server did not start: $(tr '\n' '|' < $sout)"
		kill $spid 2>/dev/null
		exit 0
	fi
	sleep 0.1
done

start=$(date +%s)
echo_client -p $port -n "$total" -c "$conc" > $cout 2>&1
cst=$?
secs=$(( $(date +%s) - start ))
line=$(grep '^echo_client: total' $cout)
echo "echo-server: $line ($secs s)"
if [ $cst -eq 0 ] &&
   echo "$line" | grep -q "total $total ok $total failed 0 peak $conc "; then
	pass client-all-verified
else
	fail client-all-verified "status $cst: $(head -n 25 $cout | tr '\n' '|')"
fi

# Every connection is closed; its knotes went with close(2).
kn=$(( $(cat $P/nr_knotes) - knotes_before ))
if [ "$kn" -eq 4 ]; then
	pass close-drops-knotes
else
	fail close-drops-knotes "server holds $kn knotes, expected 4"
fi

kill -TERM $spid
wait $spid
sst=$?
stats=$(grep '^stats:' $sout | tail -n 1)
echo "echo-server: $stats"
sent=$(echo "$line" | sed -n 's/.* sent \([0-9]*\) .*/\1/p')
peak=$(echo "$stats" | sed -n 's/.* peak \([0-9]*\) .*/\1/p')
if [ $sst -eq 0 ] && [ -n "$sent" ] && [ -n "$peak" ] &&
   echo "$stats" | grep -q "accepted $total closed $total open 0 peak [0-9]* bytes $sent errors 0\$" &&
   [ "$peak" -ge $((conc / 2)) ]; then
	pass server-stats
else
	fail server-stats "status $sst, client sent ${sent:-?}, expected peak >= $((conc / 2)): $(tr '\n' '|' < $sout)"
fi
