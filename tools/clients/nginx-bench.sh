#!/bin/sh
# nginx-bench.sh - throughput of the kqueue nginx against the stock (epoll)
# nginx in one VM boot, with wrk (tools/clients/nginx.sh --bench runs it in
# the guest; POSIX sh, the guest has busybox only).
#
# Usage: nginx-bench.sh KQ_PREFIX STOCK_PREFIX ROUNDS SECONDS
#   KQ_PREFIX, STOCK_PREFIX   the two nginx install trees
#   ROUNDS    rounds; each round loads both servers, in the order
#             kqueue, stock on odd rounds and stock, kqueue on even ones, so
#             that a drift in the emulated CPU's speed favours neither
#   SECONDS   length of one wrk run
#
# Both servers run at once (tools/clients/nginx-test.sh ... start: the same
# config, two workers unless NGINX_WORKERS says otherwise, "use kqueue" on
# port 8080, "use epoll" on 8090); only one is loaded at a time:
# `wrk -t 2 -c 100 -d SECONDS` on the static 1000-byte file.  A wrk Lua
# script checks every response (status 200 and a 1000-byte body); wrk
# itself counts socket errors and non-2xx replies.
# Prints per run
#   NGINX-BENCH METHOD round=R rps=X requests=N good=N bad=N errors=N
# where errors = socket errors (connect, read, write, timeout) + non-2xx,
# and exits 1 if a server did not start or stop, a run printed no rate, or
# any response was bad or any error was counted.
set -u
kqp=$1 stp=$2 rounds=$3 secs=$4
here=$(dirname "$0")
rc=0

check=/tmp/nginx-bench-check.lua
cat > "$check" <<'EOF'
-- count the responses that are not a 200 with the 1000-byte file
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0 end
function response(status, headers, body)
	if status == 200 and #body == 1000 then
		good = good + 1
	else
		bad = bad + 1
	end
end
function done(summary, latency, requests)
	local g, b = 0, 0
	for _, t in ipairs(threads) do
		g = g + t:get("good")
		b = b + t:get("bad")
	end
	local e = summary.errors
	io.write(string.format("WRK-CHECK good=%d bad=%d errors=%d\n", g, b,
		e.connect + e.read + e.write + e.timeout + e.status))
end
EOF

"$here/nginx-test.sh" "$kqp" kqueue 8080 start || exit 1
if ! "$here/nginx-test.sh" "$stp" epoll 8090 start; then
	"$here/nginx-test.sh" "$kqp" kqueue 0 stop
	exit 1
fi

# the kqueue server's two workers hold kqueues of the module
kq=/sys/module/kqueue/parameters/nr_kqueues
[ -r $kq ] && echo "NGINX-BENCH-KQ nr_kqueues=$(cat $kq)"

run() {	# METHOD PORT ROUND
	out=$(wrk -t 2 -c 100 -d "${secs}s" -s "$check" \
		"http://127.0.0.1:$2/small.html" 2>&1)
	rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
	reqs=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in .*/\1/p')
	chk=$(echo "$out" | sed -n 's/^WRK-CHECK //p')
	echo "NGINX-BENCH $1 round=$3 rps=${rps:-0} requests=${reqs:-0} ${chk:-good=0 bad=? errors=?}"
	case "$chk" in
	*"bad=0 errors=0") [ -n "$rps" ] || rc=1 ;;
	*) rc=1; echo "$out" | tail -n 20 ;;
	esac
}

r=1
while [ $r -le "$rounds" ]; do
	if [ $((r % 2)) = 1 ]; then
		run kqueue 8080 $r
		run epoll 8090 $r
	else
		run epoll 8090 $r
		run kqueue 8080 $r
	fi
	r=$((r + 1))
done

for p in "$kqp:kqueue" "$stp:epoll"; do
	"$here/nginx-test.sh" "${p%:*}" "${p##*:}" 0 stop || rc=1
done
exit $rc
