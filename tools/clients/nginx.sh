#!/bin/bash
# nginx.sh - build nginx (Debian source package "nginx") with its kqueue
# event module (ngx_kqueue_module) against this tree, and as shipped (epoll,
# the control), then load both with ab (tools/clients/nginx-test.sh: static
# files and a proxied back end, every response checked): on the host with
# the user-space backend, and in a QEMU VM with kqueue.ko loaded.
# doc/clients/nginx.md has the recipe and the results.
#
# Usage: tools/clients/nginx.sh [--host] [--vm 6.1|6.12]... [-n REQUESTS]
#                               [--bench] [--no-cases] [--rounds R]
#   (no option)   build both (cached), nothing else
#   --host        run the load test on the host: kqueue build ("use kqueue",
#                 KQUEUE_BACKEND=user), then the stock build ("use epoll")
#   --vm K        boot kernel K (repeatable) with kqueue.ko and run both in
#                 the same boot, checking after the kqueue nginx has stopped
#                 that the module's nr_kqueues/nr_knotes are back to 0
#   -n REQUESTS   requests per ab run (default 2000 in the VM, 20000 on the
#                 host)
#   --bench       with --vm: throughput, kqueue nginx / stock nginx in the
#                 same boot, with wrk (tools/clients/nginx-bench.sh: 100
#                 connections, the static file, every response checked),
#                 after the ab cases
#   --no-cases    with --vm: skip the ab cases (the benchmark alone)
#   --smp N       guest CPUs (default 2; the README's ratios use 1)
#   --icount S    the guest's clock counts instructions (run-vm.sh --icount):
#                 rates then measure work, not the host's load
#   --workers N   nginx worker processes (default 2)
#   --reuseport   the front server listens with "reuseport": one listening
#                 socket per worker, connections spread by the kernel
#   --rounds R    benchmark rounds (default 6; each loads both servers for
#                 10 s, alternating which goes first)
#
# Results: clients_result lines (build/clients/results.txt; a "test" is one
# URL x keep-alive case), logs under build/clients/nginx/, timings in
# build/clients/times.txt.  Exit status 1 if a case failed, a counter was
# not 0 or the VM saw a splat.
set -eu
. "$(dirname "$0")/common.sh"
# The cached build's RUNPATH names the tree that built it; this tree's
# library comes first (on the host, and for run-vm.sh's ldd).
export LD_LIBRARY_PATH=$KQ_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

HOST=0
KERNELS=()
N=
BENCH=0
CASES=1
ROUNDS=6
WORKERS=2
REUSEPORT=0
VMOPTS=(--smp 2)
while [ $# -gt 0 ]; do
	case $1 in
	--host) HOST=1 ;;
	--vm) KERNELS+=("$2"); shift ;;
	-n) N=$2; shift ;;
	--bench) BENCH=1 ;;
	--no-cases) CASES=0 ;;
	--rounds) ROUNDS=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--reuseport) REUSEPORT=1 ;;
	--smp) VMOPTS+=(--smp "$2"); shift ;;
	--icount) VMOPTS+=(--icount "$2"); shift ;;
	-h|--help) sed -n '/^# Usage:/,/^# Results:/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) clients_die "unknown argument $1 (--help)" ;;
	esac
	shift
done

export NGINX_WORKERS=$WORKERS	# nginx-test.sh, host runs
export NGINX_REUSEPORT=$REUSEPORT
RP=; [ "$REUSEPORT" = 1 ] && RP=-reuseport	# in result names
OUT=$CLIENTS_TOP/build/clients/nginx
mkdir -p "$OUT"
TEST=$CLIENTS_TOP/tools/clients/nginx-test.sh
BENCHSH=$CLIENTS_TOP/tools/clients/nginx-bench.sh
fail=0

client_prepare nginx apache2-utils wrk

# build VARIANT: configure + make in a copy of the source, installed into
# $DIR/VARIANT/install.  No PCRE, zlib or OpenSSL (rewrite and gzip modules
# off): the test needs static files and proxy_pass only.
# auto/unix already probes for kqueue() on every system; on Linux the probe
# only needs this tree's header and library (--with-cc-opt, --with-ld-opt).
# Two patches: ngx_linux_config.h includes <sys/event.h> (as
# ngx_posix_config.h and the BSD config headers do), and auto/os/linux
# skips its epoll probe.  With both NGX_HAVE_KQUEUE and NGX_HAVE_EPOLL,
# ngx_event.h takes the kqueue values of NGX_READ_EVENT, NGX_CLEAR_EVENT...
# (its #if/#elif chain, as on FreeBSD) and the epoll module would not
# build (NGX_EXCLUSIVE_EVENT) nor work; so the kqueue build has the kqueue
# module only, like a FreeBSD build, and "use epoll" is the stock build.
build() {
	local v=$1 b=$DIR/$1
	client_done "$b" && return 0
	rm -rf "$b"
	mkdir -p "$b"
	cp -a "$SRC" "$b/$NAME"
	local cf=(./configure --prefix="$b/install"
		--without-http_rewrite_module --without-http_gzip_module)
	if [ "$v" = kqueue ]; then
		cat >> "$b/$NAME/src/os/unix/ngx_linux_config.h" <<'EOF'

/* linux-kqueue: the kqueue event module on Linux */
#if (NGX_HAVE_KQUEUE)
#include <sys/event.h>
#endif
EOF
		sed -i -e '/^# epoll, EPOLLET version$/i if false; then  # linux-kqueue: kqueue, not epoll' \
			-e '/^# O_PATH and AT_EMPTY_PATH/i fi  # linux-kqueue' \
			"$b/$NAME/auto/os/linux"
		[ "$(grep -c linux-kqueue "$b/$NAME/auto/os/linux")" = 2 ] ||
			clients_die "auto/os/linux patch failed"
		cf+=(--with-cc-opt="-I$KQ_INCLUDE"
		     --with-ld-opt="-L$KQ_LIBDIR -Wl,-rpath,$KQ_LIBDIR -lkqueue")
	fi
	clients_say "building nginx ($v) in $b"
	(cd "$b/$NAME" && clients_time "nginx build $v" \
		sh -c "$NICE $(printf '%q ' "${cf[@]}") && $NICE make -j2 && make install") \
		> "$OUT/build-$v.log" 2>&1 || clients_die "nginx $v build failed: $OUT/build-$v.log"
	if [ "$v" = kqueue ]; then
		grep -q '^#define NGX_HAVE_KQUEUE' "$b/$NAME/objs/ngx_auto_config.h" ||
			clients_die "nginx configure did not find kqueue"
		grep -q '^#define NGX_HAVE_EPOLL' "$b/$NAME/objs/ngx_auto_config.h" &&
			clients_die "kqueue nginx still has epoll"
		ldd "$b/install/sbin/nginx" | grep -q libkqueue ||
			clients_die "kqueue nginx does not link libkqueue"
	else
		grep -q '^#define NGX_HAVE_KQUEUE' "$b/$NAME/objs/ngx_auto_config.h" &&
			clients_die "stock nginx found kqueue"
	fi
	cp "$TEST" "$b/install/nginx-test.sh"
	client_stamp "$b"
}

clients_say "nginx source $SRC"
build stock
build kqueue
# the test script may be newer than the build
cp "$TEST" "$DIR/kqueue/install/nginx-test.sh"
cp "$TEST" "$DIR/stock/install/nginx-test.sh"
cp "$BENCHSH" "$DIR/kqueue/install/nginx-bench.sh"

# summarize LOG BACKEND KERNEL NAME: result line from NGINX-CASE lines
summarize() {
	local p f
	p=$(grep -a -c '^NGINX-CASE .* ok ' "$1" || true)
	f=$(grep -a -c '^NGINX-CASE .* FAIL ' "$1" || true)
	grep -a -q -E '^NGINX-(START-FAILED|STOP-FAILED|ERRORLOG)' "$1" && f=$((f + 1))
	clients_result nginx "$2" "$3" "$p" "$f" 0
	echo "nginx $4 $2: passed=$p failed=$f"
	[ "$f" = 0 ] || fail=1
}

# ratio KQLOG STOCKLOG: requests per second kqueue/epoll per case
ratio() {
	paste <(grep -a '^NGINX-CASE' "$1") <(grep -a '^NGINX-CASE' "$2") |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^rps=/) { sub("rps=", "", $i); r[++k] = $i }
		       if (r[2] > 0) printf "nginx %s %s: kqueue/epoll = %.2f\n", $3, $4, r[1] / r[2]; k = 0 }'
}

# bench_summary LOG K: the wrk runs of one boot: per-round ratios, their
# median, the ratio of the sums, the error count; a result line (a "test"
# is one wrk run with every response right)
bench_summary() {
	local b=$OUT/bench-$2-w$WORKERS$RP.txt p f
	sed -n '/@@KQVM-EXIT/q; p' "$1" | sed -n '/@@NGINX-BENCH-BEGIN@@/,/@@NGINX-BENCH-END@@/p' |
		grep -a '^NGINX-BENCH ' > "$b" || true
	awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	       r = v["round"]; rps[$2, r] = v["rps"]; sum[$2] += v["rps"]
	       bad += v["bad"] + v["errors"]; if (r > n) n = r }
	     END { for (r = 1; r <= n; r++) if (rps["epoll", r] > 0) q[++m] = rps["kqueue", r] / rps["epoll", r]
		   for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (q[j] < q[i]) { t = q[i]; q[i] = q[j]; q[j] = t }
		   med = m % 2 ? q[(m + 1) / 2] : (q[m / 2] + q[m / 2 + 1]) / 2
		   printf "nginx wrk: kqueue/epoll median of %d rounds = %.3f (min %.3f, max %.3f), ratio of sums = %.3f, bad responses + errors = %d\n",
			  m, med, q[1], q[m], (sum["epoll"] > 0 ? sum["kqueue"] / sum["epoll"] : 0), bad }' \
		"$b" | tee -a "$b"
	p=$(grep -c -E 'bad=0 errors=0$' "$b" || true)
	f=$(grep -c '^NGINX-BENCH ' "$b" || true)
	f=$((f - p))
	[ "$p" -gt 0 ] || f=$((f + 1))
	clients_result "nginx-bench-w$WORKERS$RP" "kqueue/kmod+epoll" "$2" "$p" "$f" 0
	[ "$f" = 0 ] || fail=1
}

if [ "$HOST" = 1 ]; then
	n=${N:-20000}
	for v in kqueue stock; do
		m=kqueue; [ "$v" = stock ] && m=epoll
		log=$OUT/host-$v.log
		clients_say "host: nginx $v (use $m), $n requests per case"
		KQUEUE_BACKEND=user clients_time "nginx host $v" $NICE \
			"$DIR/$v/install/nginx-test.sh" "$DIR/$v/install" $m 18080 "$n" \
			> "$log" 2>&1 || true
		bk=user; [ "$v" = stock ] && bk=epoll
		summarize "$log" "$v/$bk" host host
	done
	ratio "$OUT/host-kqueue.log" "$OUT/host-stock.log" | tee "$OUT/ratio-host.txt"
fi

for k in ${KERNELS[@]+"${KERNELS[@]}"}; do
	n=${N:-2000}
	kver=$("$CLIENTS_TOP/tools/vm/kernels.sh" "$k")
	ko=$CLIENTS_TOP/build/kmod/$kver/kqueue.ko
	[ -e "$ko" ] || (cd "$CLIENTS_TOP" && $NICE make -j2 kmod >/dev/null)
	log=$OUT/vm-$k.log
	script="$(clients_vm_counters)
export NGINX_WORKERS=$WORKERS NGINX_REUSEPORT=$REUSEPORT
rc=0"
	[ "$CASES" = 1 ] && script="$script
for round in 1 2; do
	echo @@NGINX-BEGIN kqueue@@
	/tmp/ngx-kqueue/nginx-test.sh /tmp/ngx-kqueue kqueue 8080 $n || rc=1
	echo @@NGINX-END kqueue@@
	kq_counters 'nginx kqueue' || rc=1
	echo @@NGINX-BEGIN stock@@
	/tmp/ngx-stock/nginx-test.sh /tmp/ngx-stock epoll 8090 $n || rc=1
	echo @@NGINX-END stock@@
done"
	[ "$BENCH" = 1 ] && script="$script
echo @@NGINX-BENCH-BEGIN@@
/tmp/ngx-kqueue/nginx-bench.sh /tmp/ngx-kqueue /tmp/ngx-stock $ROUNDS 10 || rc=1
echo @@NGINX-BENCH-END@@
kq_counters 'nginx bench' || rc=1"
	script="$script
exit \$rc"
	clients_say "VM $kver: nginx kqueue and stock, 2 rounds (log $log)"
	vrc=0
	clients_time "nginx vm $k" \
		"$CLIENTS_TOP/tools/vm/run-vm.sh" --kernel "$kver" --module "$ko" \
		--mem 2048 "${VMOPTS[@]}" --timeout 1800 \
		--file "$DIR/kqueue/install:/tmp/ngx-kqueue" \
		--file "$DIR/stock/install:/tmp/ngx-stock" \
		--file /usr/bin/ab:/usr/bin/ab \
		--file /usr/bin/wrk:/usr/bin/wrk \
		--run "$script" > "$log" 2>&1 || vrc=$?
	[ "$CASES" = 1 ] && for v in kqueue stock; do
		# up to the exit line: run-vm.sh repeats the last console lines
		sed -n '/@@KQVM-EXIT/q; p' "$log" |
			sed -n "/@@NGINX-BEGIN $v@@/,/@@NGINX-END $v@@/p" > "$OUT/vm-$k-$v.log"
		bk=kmod; [ "$v" = stock ] && bk=epoll
		summarize "$OUT/vm-$k-$v.log" "$v/$bk" "$kver" "VM $k"
	done
	[ "$CASES" = 1 ] &&
		ratio "$OUT/vm-$k-kqueue.log" "$OUT/vm-$k-stock.log" | tee "$OUT/ratio-$k.txt"
	[ "$BENCH" = 1 ] && bench_summary "$log" "$k"
	grep -a 'COUNTERS-NOT-ZERO' "$log" && fail=1
	case $vrc in 0|1) ;; *) echo "nginx: VM run on $k failed (run-vm.sh exit $vrc)"; fail=1 ;; esac
done

exit $fail
