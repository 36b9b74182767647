#!/bin/bash
# redis.sh - build Redis (Debian source package "redis") with its kqueue
# event loop (ae_kqueue.c) against this tree, and as shipped (ae_epoll.c,
# the control), then run Redis's own Tcl test suite and redis-benchmark on
# both: on the host with the user-space backend, and in a QEMU VM with
# kqueue.ko loaded (tools/vm/run-vm.sh).  doc/clients/redis.md has the
# recipe and the results.
#
# Usage: tools/clients/redis.sh [--host] [--full] [--vm 6.1|6.12]...
#                               [--bench] [--tests "UNIT ..."] [--ci]
#   (no option)   build both (cached), nothing else
#   --host        run the test units on the host: kqueue build with
#                 KQUEUE_BACKEND=user, then the stock build
#   --full        the whole suite instead of the units.  On the host: on
#                 both builds.  In the VM (one boot per kernel, 1-1.5 h under
#                 TCG): on the kqueue build; then the units in which it
#                 failed a test are run again on the kqueue build and on
#                 the stock build, and a test counts as a difference only
#                 if it passed on stock but failed on kqueue both times
#   --vm K        boot kernel K (repeatable) with kqueue.ko, run the units
#                 on the kqueue build (module backend) and the stock build,
#                 checking after each server run that the module's
#                 nr_kqueues/nr_knotes are back to 0
#   --bench       with --vm: redis-benchmark SET/GET, 50 clients,
#                 pipelining 1 and 16, kqueue server and stock server in
#                 the same boot, --rounds R rounds (default 6) alternating
#                 which server goes first; per test, the median of the
#                 per-round ratios kqueue/stock and the ratio of the sums
#   --no-units    with --vm: skip the test units (the benchmark alone)
#   --smp N       guest CPUs (default 2; the README's ratios use 1)
#   --icount S    the guest's clock counts instructions (run-vm.sh --icount):
#                 rates then measure work, not the host's load
#   --clients N   with --full: the suite's parallel test clients (default 4)
#   --tests "..." the units (default: unit/type/list unit/keyspace
#                 unit/expire unit/multi unit/pubsub integration/replication-2)
#   --ci          unit/type/list only, kqueue build only: host (user
#                 backend) and a 6.1 VM (module)
#   --build-only  build (cached) what the other options need, run nothing
#   --watch S     with --vm: every S seconds the guest prints each
#                 redis-server's state, kernel stack and wait channel and
#                 the TCP queues (@@WATCH lines), to see what a hung run
#                 waits on
#   --kick R      with --watch: from watch round R on, keep each CPU busy
#                 for a moment every round
#   --env V=X     with --vm: export V=X in the guest (e.g. KQUEUE_RING=0)
#   --only V      with --vm: run the units on build V (kqueue or stock) only
#   --skiptest P  skip the tests named P on both builds, in every run
#                 (runtest's --skiptest: P has no spaces, '.' matches one;
#                 a leading '/' makes it a regular expression); repeatable
#
# Results: clients_result lines (build/clients/results.txt), logs under
# build/clients/redis/, timings in build/clients/times.txt.  Exit status 1
# if a kqueue run failed a test that the stock build passed, a counter was
# not 0, or the VM saw a splat.
set -eu
. "$(dirname "$0")/common.sh"
# The cached build's RUNPATH names the tree that built it; this tree's
# library comes first (on the host, and for run-vm.sh's ldd).
export LD_LIBRARY_PATH=$KQ_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

HOST=0
FULL=0
BENCH=0
CI=0
BUILD_ONLY=0
RUN_UNITS=1
ROUNDS=6
SUITE_CLIENTS=4
WATCH=0
WATCH_KICK=0
GUEST_ENV=()
ONLY=
SKIPS=
VMOPTS=(--smp 2)
KERNELS=()
UNITS="unit/type/list unit/keyspace unit/expire unit/multi unit/pubsub integration/replication-2"
while [ $# -gt 0 ]; do
	case $1 in
	--host) HOST=1 ;;
	--full) FULL=1 ;;
	--bench) BENCH=1 ;;
	--vm) KERNELS+=("$2"); shift ;;
	--tests) UNITS=$2; shift ;;
	--ci) CI=1; HOST=1; KERNELS=(6.1); UNITS=unit/type/list ;;
	--build-only) BUILD_ONLY=1 ;;
	--no-units) RUN_UNITS=0 ;;
	--rounds) ROUNDS=$2; shift ;;
	--clients) SUITE_CLIENTS=$2; shift ;;
	--watch) WATCH=$2; shift ;;
	--kick) WATCH_KICK=$2; shift ;;
	--env) GUEST_ENV+=("$2"); shift ;;
	--only) ONLY=$2; shift ;;
	--skiptest)
		case $2 in ''|*[[:space:]]*) clients_die "--skiptest: a pattern without spaces" ;; esac
		SKIPS="$SKIPS --skiptest $2"; shift ;;
	--smp) VMOPTS+=(--smp "$2"); shift ;;
	--icount) VMOPTS+=(--icount "$2"); shift ;;
	-h|--help) sed -n '/^# Usage:/,/^# Results:/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) clients_die "unknown argument $1 (--help)" ;;
	esac
	shift
done

OUT=$CLIENTS_TOP/build/clients/redis
mkdir -p "$OUT"
fail=0

client_prepare redis pkg-config tcl libjemalloc-dev

# build VARIANT: a copy of the source tree built with `make` as Debian
# does it: system jemalloc (USE_SYSTEM_JEMALLOC=yes; Debian's patch for that
# flag breaks the bundled one), bundled lua and hiredis.  The kqueue variant changes config.h only:
# config.h sets HAVE_EPOLL on __linux__ and HAVE_KQUEUE only on the BSDs and
# macOS, and ae.c prefers epoll; here HAVE_KQUEUE is set and HAVE_EPOLL not.
# libkqueue is linked shared (-lkqueue, rpath to build/lib); run-vm.sh
# copies it into the guest with the binaries.
build() {
	local v=$1 b=$DIR/$1
	if client_done "$b"; then
		return 0
	fi
	rm -rf "$b"
	mkdir -p "$b"
	cp -a "$SRC" "$b/$NAME"
	local mk=(make -C "$b/$NAME" -j2 USE_SYSTEMD=no BUILD_TLS=no USE_SYSTEM_JEMALLOC=yes)
	if [ "$v" = kqueue ]; then
		sed -i 's/^#define HAVE_EPOLL 1$/\/* linux-kqueue: ae_kqueue.c, not ae_epoll.c *\//' \
			"$b/$NAME/src/config.h"
		sed -i 's/^#if (defined(__APPLE__) && defined(MAC_OS_10_6_DETECTED)) || defined(__FreeBSD__)/#if defined(__linux__) || (defined(__APPLE__) \&\& defined(MAC_OS_10_6_DETECTED)) || defined(__FreeBSD__)/' \
			"$b/$NAME/src/config.h"
		grep -q '^#define HAVE_EPOLL' "$b/$NAME/src/config.h" &&
			clients_die "config.h patch failed (HAVE_EPOLL)"
		grep -q '^#if defined(__linux__) || (defined(__APPLE__)' "$b/$NAME/src/config.h" ||
			clients_die "config.h patch failed (HAVE_KQUEUE)"
		mk+=(REDIS_CFLAGS="-I$KQ_INCLUDE"
		     REDIS_LDFLAGS="-Wl,--no-as-needed -L$KQ_LIBDIR -Wl,-rpath,$KQ_LIBDIR -lkqueue")
	fi
	clients_say "building redis ($v) in $b"
	clients_time "redis build $v" $NICE "${mk[@]}" > "$OUT/build-$v.log" 2>&1 ||
		clients_die "redis $v build failed: $OUT/build-$v.log"
	if [ "$v" = kqueue ]; then
		ldd "$b/$NAME/src/redis-server" | grep -q libkqueue ||
			clients_die "kqueue redis-server does not link libkqueue"
		nm -D "$b/$NAME/src/redis-server" | grep -qw 'U kevent' ||
			clients_die "kqueue redis-server does not call kevent"
	fi
	# what the test suite needs, small enough for the VM's initramfs
	local r=$b/run
	mkdir -p "$r/src"
	cp -a "$b/$NAME/runtest" "$b/$NAME/tests" "$r/"
	cp -a "$b/$NAME"/src/redis-{server,cli,benchmark,check-aof,check-rdb,sentinel} "$r/src/"
	client_stamp "$b"
}

clients_say "redis source $SRC"
[ "$CI" = 1 ] || build stock	# --ci needs the kqueue build only
build kqueue
[ "$BUILD_ONLY" = 0 ] || exit 0

# parse_log LOG: "passed failed skipped" from a runtest log
parse_log() {
	local ok err skip
	ok=$(nocolor < "$1" | grep -c '^\[ok\]:' || true)
	err=$(nocolor < "$1" | grep -c -E '^\[(err|exception)\]:' || true)
	skip=$(nocolor < "$1" | grep -c -E '^\[(skip|ignore)\]:' || true)
	echo "$ok $err $skip"
}

# the suite colours its output when TERM is an xterm
nocolor() {
	sed 's/\x1b\[[0-9;]*m//g'
}

# a failed test name list from a runtest log
failed_names() {
	nocolor < "$1" | grep -E '^\[(err|exception)\]:' | sed 's/^\[[a-z]*\]: //; s/ in tests\/.*//' | sort -u
}

# compare KQLOG STOCKLOG: print tests failing on kqueue but passing on stock
compare() {
	local f
	f=$(comm -23 <(failed_names "$1") <(failed_names "$2"))
	if [ -n "$f" ]; then
		echo "redis: failed on kqueue, passed on stock:"
		printf '  %s\n' "$f"
		return 1
	fi
	return 0
}

# The whole suite stops at its first exception; two would stop it on
# either build: replication.tcl's "Fullsync should not free scripting
# engine" sets repl-diskless-load to "yes", which 7.0 refuses (the test
# came with a Debian security patch), and latency-monitor's timing tests
# throw one on a loaded machine.
FULL_ARGS="--clients $SUITE_CLIENTS --skiptest /Fullsync.should.not.free.scripting --skipunit unit/latency-monitor$SKIPS"

unit_args() {
	local u a=()
	for u in $UNITS; do a+=(--single "$u"); done
	echo "${a[@]}$SKIPS"
}

if [ "$HOST" = 1 ]; then
	if [ "$FULL" = 1 ]; then
		args=$FULL_ARGS
		tag=full
	else
		args="$(unit_args) --clients 2"
		tag=units
	fi
	variants="kqueue stock"
	[ "$CI" = 1 ] && variants=kqueue
	[ -n "$ONLY" ] && variants=$ONLY
	for v in $variants; do
		log=$OUT/host-$v-$tag.log
		clients_say "host: runtest $tag, $v build (log $log)"
		# shellcheck disable=SC2086
		(cd "$DIR/$v/run" && TERM=dumb KQUEUE_BACKEND=user clients_time "redis host $v $tag" \
			$NICE ./runtest $args --timeout 1200 > "$log" 2>&1) || true
		read -r p f s < <(parse_log "$log")
		bk=user; [ "$v" = stock ] && bk=epoll
		clients_result "redis-$tag" "$v/$bk" host "$p" "$f" "$s"
		echo "redis host $v ($tag): passed=$p failed=$f skipped=$s"
		[ "$v" = kqueue ] && [ "$CI" = 1 ] && [ "$f" != 0 ] && fail=1
	done
	[ "$CI" = 1 ] || compare "$OUT/host-kqueue-$tag.log" "$OUT/host-stock-$tag.log" || fail=1
fi

# The guest script: runtest on each build, then the benchmark.  The suite
# runs procps's ps (ps --ppid, ps j) and getconf, which busybox lacks.
vm_script() {
	local variants=$1
	clients_vm_counters
	cat <<EOT
export TCL_LIBRARY=/usr/share/tcltk/tcl8.6 TERM=dumb
# the suite starts servers through /usr/bin/env; busybox has env in /bin
[ -e /usr/bin/env ] || ln -s /bin/busybox /usr/bin/env
rc=0
EOT
	local e
	for e in ${GUEST_ENV[@]+"${GUEST_ENV[@]}"}; do
		printf 'export %q\n' "$e"
	done
	if [ "$WATCH" != 0 ]; then
		cat <<EOT
(w=0; while sleep $WATCH; do
	w=\$((w + 1))
	echo "@@WATCH round \$w \$(grep -m1 '^jiffies' /proc/timer_list) uptime \$(cut -d' ' -f1 /proc/uptime)"
	# from round WATCH_KICK on, a busy moment on each CPU (an idle CPU
	# whose timers do not fire shows as a hang that this ends)
	if [ "$WATCH_KICK" != 0 ] && [ \$w -ge $WATCH_KICK ]; then
		for c in \$(seq 0 \$((\$(nproc) - 1))); do
			taskset -c \$c sh -c 'i=0; while [ \$i -lt 20000 ]; do i=\$((i + 1)); done' &
		done
		wait
	fi
	for d in /proc/[0-9]*; do
		c=\$(tr '\\0' ' ' < \$d/cmdline 2>/dev/null)
		case \$c in *redis-server*|*tclsh*) ;; *) continue ;; esac
		echo "@@WATCH \${d#/proc/} \$(sed -n 's/^State:\t//p' \$d/status) wchan=\$(cat \$d/wchan) \$c"
		for t in \$d/task/*; do sed "s|^|@@WATCH   \${t#\$d/task/}: |" \$t/stack; done
		# a server's own view of its clients: the events it waits
		# for on each (r, w) and the replies it holds (omem)
		case \$c in *redis-server*:[0-9]*)
			p=\${c##*:}; p=\${p%% *}
			timeout 5 /tmp/redis-kqueue/src/redis-cli -p \$p client list 2>&1 |
				sed 's/^/@@WATCH clients /' ;;
		esac
	done
	sed 's/^/@@WATCH tcp /' /proc/net/tcp | awk '\$7 != "00000000:00000000" || NR == 1'
	grep -E '^Tcp:' /proc/net/snmp | sed 's/^/@@WATCH snmp /'
	grep -E 'LOC:|RES:|CAL:' /proc/interrupts | sed 's/^/@@WATCH irq /'
	# where TCP drops what it receives, and its memory: the non-zero
	# drop, prune, window and recovery counters, and each connection's
	# buffers, windows and timers
	awk '/^TcpExt:/ { if (!h) { split(\$0, n); h = 1; next }
		s = ""; for (i = 2; i <= NF; i++)
			if (\$i != 0 && n[i] ~ /Drop|Prune|Collapse|Pressure|ZeroWindow|Probe|Timeout|Loss|Recover|Reneg|Backlog|Ofo|OFO/)
				s = s " " n[i] "=" \$i
		print "@@WATCH tcpext" s }' /proc/net/netstat
	sed 's/^/@@WATCH sockstat /' /proc/net/sockstat | grep TCP
	ss -tnmi 2>&1 | sed 's/^/@@WATCH ss /'
done) &
EOT
	fi
	local v
	if [ "$RUN_UNITS" = 1 ] && [ "$FULL" = 1 ]; then
		# the whole suite on the kqueue build, then the units with a
		# failure again on both builds (the suite's output is kept in
		# a file too, to find those units)
		cat <<EOT
echo "@@REDIS-BEGIN kqueue@@"
{ (cd /tmp/redis-kqueue && ./runtest $FULL_ARGS --timeout 2400); echo \$? > /tmp/full-rc; } 2>&1 | tee /tmp/full.log
echo "@@REDIS-END kqueue rc=\$(cat /tmp/full-rc)@@"
kq_counters "runtest kqueue" || rc=1
units=\$(sed 's/\x1b\[[0-9;]*m//g' /tmp/full.log | grep -E '^\[(err|exception)\]:' |
	sed -n 's/.* in tests\/\([^ ]*\)\.tcl.*/\1/p' | sort -u)
echo "@@REDIS-RERUN-UNITS \$(echo \$units)@@"
args=
for u in \$units; do args="\$args --single \$u"; done
args="\$args$SKIPS"
if [ -n "\$units" ]; then
	for v in kqueue stock; do
		echo "@@REDIS-BEGIN rerun-\$v@@"
		(cd /tmp/redis-\$v && ./runtest \$args --clients 2 --timeout 2400)
		echo "@@REDIS-END rerun-\$v rc=\$?@@"
		kq_counters "runtest rerun \$v" || rc=1
	done
fi
EOT
	elif [ "$RUN_UNITS" = 1 ]; then for v in $variants; do
		cat <<EOT
echo "@@REDIS-BEGIN $v@@"
(cd /tmp/redis-$v && ./runtest $(unit_args) --clients 2 --timeout 2400)
echo "@@REDIS-END $v rc=\$?@@"
kq_counters "runtest $v" || rc=1
EOT
	done; fi
	if [ "$BENCH" = 1 ]; then
		echo "rounds=$ROUNDS"
		cat <<'EOT'
bench() {	# VARIANT ROUND
	/tmp/redis-$1/src/redis-server --port 7777 --save '' --appendonly no \
		--daemonize no --logfile /tmp/bench-$1.log &
	pid=$!
	i=0
	until /tmp/redis-stock/src/redis-cli -p 7777 ping >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "server $1 did not start"; return 1; }
		sleep 0.2
	done
	echo "@@BENCH-KQ $1 nr_kqueues=$(cat /sys/module/kqueue/parameters/nr_kqueues)@@"
	for P in 1 16; do
		n=40000; [ $P = 16 ] && n=200000
		out=$(/tmp/redis-stock/src/redis-benchmark -p 7777 -c 50 -P $P -n $n -t set,get --csv 2>&1)
		st=$?
		echo "$out" | sed -n "s/^\"\\([A-Z]*\\)\",\"\\([0-9.]*\\)\".*/@@BENCH $1 round=$2 P=$P \\1 \\2 exit=$st@@/p"
		echo "$out" | grep -i error && echo "@@BENCH-ERROR $1@@"
	done
	errs=$(/tmp/redis-stock/src/redis-cli -p 7777 info stats | tr -d '\r' | sed -n 's/^total_error_replies://p')
	echo "@@BENCH-ERRREPLIES $1 $errs@@"
	/tmp/redis-stock/src/redis-cli -p 7777 shutdown nosave >/dev/null 2>&1
	wait $pid
}
round=1
while [ $round -le $rounds ]; do
	if [ $((round % 2)) = 1 ]; then
		bench kqueue $round || rc=1
		kq_counters "redis-server kqueue (bench)" || rc=1
		bench stock $round || rc=1
	else
		bench stock $round || rc=1
		bench kqueue $round || rc=1
		kq_counters "redis-server kqueue (bench)" || rc=1
	fi
	round=$((round + 1))
done
EOT
	fi
	echo 'exit $rc'
}

# vm_full_results K KVER LOG: split a --full VM log, print and record the
# counts, and list the tests that failed on kqueue (whole suite and rerun)
# but passed on stock (rerun); status 1 if there are any
vm_full_results() {
	local k=$1 kver=$2 log=$3 part p f s diff
	for part in kqueue rerun-kqueue rerun-stock; do
		sed -n '/@@KQVM-EXIT/q; p' "$log" |
			sed -n "/@@REDIS-BEGIN $part@@/,/@@REDIS-END $part/p" > "$OUT/vm-$k-full-$part.log"
		read -r p f s < <(parse_log "$OUT/vm-$k-full-$part.log")
		echo "redis VM $k whole suite, $part: passed=$p failed=$f skipped=$s"
	done
	read -r p f s < <(parse_log "$OUT/vm-$k-full-kqueue.log")
	clients_result redis-full kqueue/kmod "$kver" "$p" "$f" "$s"
	grep -a -o '@@REDIS-RERUN-UNITS[^@]*@@' "$log" | tr -d @ || true
	diff=$(comm -12 <(failed_names "$OUT/vm-$k-full-kqueue.log") \
			<(failed_names "$OUT/vm-$k-full-rerun-kqueue.log") |
		comm -23 - <(failed_names "$OUT/vm-$k-full-rerun-stock.log"))
	# (a test that the stock rerun did not reach counts too)
	if [ -n "$diff" ]; then
		echo "redis VM $k: failed on kqueue twice, not on stock:"
		printf '  %s\n' "$diff"
		return 1
	fi
	# runtest ends with one of these once every unit ran (its exit
	# status is 1 whenever a test failed; an exception stops it early)
	if ! nocolor < "$OUT/vm-$k-full-kqueue.log" |
		grep -aqE '^(\\o/ All tests passed|!!! WARNING The following tests failed)'; then
		echo "redis VM $k: the whole suite on kqueue did not finish (see $OUT/vm-$k-full-kqueue.log)"
		return 1
	fi
	return 0
}

for k in ${KERNELS[@]+"${KERNELS[@]}"}; do
	kver=$("$CLIENTS_TOP/tools/vm/kernels.sh" "$k")
	ko=$CLIENTS_TOP/build/kmod/$kver/kqueue.ko
	[ -e "$ko" ] || (cd "$CLIENTS_TOP" && $NICE make -j2 kmod >/dev/null)
	variants="kqueue stock"
	[ "$CI" = 1 ] && variants=kqueue
	[ -n "$ONLY" ] && variants=$ONLY
	log=$OUT/vm-$k.log
	files=(--file /usr/bin/tclsh8.6:/usr/bin/tclsh8.6
	       --file /usr/share/tcltk/tcl8.6:/usr/share/tcltk/tcl8.6
	       --file "$DIR/kqueue/run:/tmp/redis-kqueue"
	       --file /bin/ps:/bin/ps --file /usr/bin/getconf:/bin/getconf)
	[ "$WATCH" = 0 ] || files+=(--file /usr/bin/ss:/usr/bin/ss)
	[ "$CI" = 1 ] && [ "$BENCH" = 0 ] || files+=(--file "$DIR/stock/run:/tmp/redis-stock")
	mem=3072 timeout=3600
	if [ "$FULL" = 1 ] && [ "$RUN_UNITS" = 1 ]; then
		log=$OUT/vm-$k-full.log mem=6144 timeout=10800
	fi
	clients_say "VM $kver: runtest ($variants$( [ $FULL = 1 ] && echo ', whole suite'))$( [ $BENCH = 1 ] && echo ' + benchmark') (log $log)"
	vrc=0
	clients_time "redis vm $k ($variants; full=$FULL bench=$BENCH)" \
		"$CLIENTS_TOP/tools/vm/run-vm.sh" --kernel "$kver" --module "$ko" \
		--mem $mem "${VMOPTS[@]}" --timeout $timeout "${files[@]}" \
		--run "$(vm_script "$variants")" > "$log" 2>&1 || vrc=$?
	if [ "$FULL" = 1 ] && [ "$RUN_UNITS" = 1 ]; then
		vm_full_results "$k" "$kver" "$log" || fail=1
	fi
	# split the console into one log per build (up to the exit line:
	# run-vm.sh repeats the last console lines after it on a failure)
	[ "$RUN_UNITS" = 1 ] && [ "$FULL" = 0 ] && for v in $variants; do
		sed -n '/@@KQVM-EXIT/q; p' "$log" |
			sed -n "/@@REDIS-BEGIN $v@@/,/@@REDIS-END $v/p" > "$OUT/vm-$k-$v.log"
		read -r p f s < <(parse_log "$OUT/vm-$k-$v.log")
		bk=kmod; [ "$v" = stock ] && bk=epoll
		clients_result redis-units "$v/$bk" "$kver" "$p" "$f" "$s"
		echo "redis VM $k $v: passed=$p failed=$f skipped=$s"
		[ "$v" = kqueue ] && [ "$CI" = 1 ] && [ "$f" != 0 ] && fail=1
	done
	[ "$CI" = 1 ] || [ "$RUN_UNITS" = 0 ] || [ "$FULL" = 1 ] ||
		compare "$OUT/vm-$k-kqueue.log" "$OUT/vm-$k-stock.log" || fail=1
	grep -a 'COUNTERS-NOT-ZERO' "$log" && fail=1
	case $vrc in 0|1) ;; *) echo "redis: VM run on $k failed (run-vm.sh exit $vrc)"; fail=1 ;; esac
	if [ "$BENCH" = 1 ]; then
		sed -n '/@@KQVM-EXIT/q; p' "$log" | grep -a -o '@@BENCH[^@]*@@' | tr -d @ | tee "$OUT/bench-$k.txt"
		# per test and pipelining: the median of the per-round ratios
		# kqueue/stock, their range, and the ratio of the sums
		awk '$1 == "BENCH" { sub("round=", "", $3); r = $3; if (r > n) n = r
				     v[$2, $4 " " $5, r] = $6; s[$2, $4 " " $5] += $6 }
		     END { split("P=1 SET,P=1 GET,P=16 SET,P=16 GET", t, ",")
			   for (i = 1; i <= 4; i++) {
				m = 0
				for (r = 1; r <= n; r++)
					if (v["stock", t[i], r] > 0)
						q[++m] = v["kqueue", t[i], r] / v["stock", t[i], r]
				if (m == 0) continue
				for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
					if (q[b] < q[a]) { x = q[a]; q[a] = q[b]; q[b] = x }
				med = m % 2 ? q[(m + 1) / 2] : (q[m / 2] + q[m / 2 + 1]) / 2
				printf "redis-benchmark %s: kqueue/epoll median of %d rounds = %.3f (min %.3f, max %.3f), ratio of sums = %.3f\n",
				       t[i], m, med, q[1], q[m], s["kqueue", t[i]] / s["stock", t[i]] } }' \
			"$OUT/bench-$k.txt" | tee -a "$OUT/bench-$k.txt"
		bf=0
		grep -q 'BENCH-ERROR' "$OUT/bench-$k.txt" && bf=1
		grep 'BENCH-ERRREPLIES' "$OUT/bench-$k.txt" | grep -qv ' 0$' && bf=1
		grep -q '^BENCH kqueue' "$OUT/bench-$k.txt" || bf=1
		clients_result redis-bench "kqueue/kmod+epoll" "$kver" \
			"$(grep -c '^BENCH ' "$OUT/bench-$k.txt" || true)" "$bf" 0
		[ "$bf" = 0 ] || fail=1
	fi
done

exit $fail
