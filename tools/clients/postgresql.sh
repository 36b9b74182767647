#!/bin/bash
# shellcheck disable=SC2317 # functions run through pg_locked
# postgresql.sh - build PostgreSQL 15 (Debian source package postgresql-15)
# with its kqueue wait-event backend (latch.c with WAIT_USE_KQUEUE: sockets
# on EVFILT_READ/WRITE, the postmaster on EVFILT_PROC NOTE_EXIT, SIGURG on
# EVFILT_SIGNAL) against this tree, and as a stock build (epoll), then run
# the main regression suite (pg_regress, parallel schedule, temp instance)
# and the isolation suite (isolationtester) on the host (`make check`) and
# in a QEMU VM with kqueue.ko loaded (issue 16).
#
# Usage (as root, from anywhere):
#   tools/clients/postgresql.sh [--build-only] [--host] [--vm 6.1|6.12]...
#                               [--variants "kqueue stock"]
#                               [--suites "regress isolation"]
#
#   (no --host/--vm)  as --host
#   --host        `make check` of each suite on the host: the kqueue build
#                 on the user-space backend (KQUEUE_BACKEND=user), the
#                 stock build
#   --vm K        boot kernel K (repeatable) with kqueue.ko and run each
#                 suite on each variant in that one boot (kqueue build on
#                 the module, stock build on epoll); after each kqueue run
#                 the module's nr_kqueues/nr_knotes must be back to 0
#   --build-only  build (or take from the cache) and stop
#   --variants, --suites   override the defaults above
#
# PostgreSQL refuses to run as root: the build tree is handed to the user
# "nobody" and the host checks run as nobody (runuser); in the guest they
# run as nobody too (busybox su -s /bin/sh).  The kqueue variant links
# build/lib/libkqueue.so (LD_LIBRARY_PATH, not copied), so a cached build
# runs this tree's current library; configure must find sys/event.h and
# kqueue().  Builds are cached under $CLIENTS_CACHE/postgresql-15-VERSION/
# {kqueue,stock}/build; the VM gets an install tree plus the suites'
# files, staged in .../{kqueue,stock}/install.  Everything that writes
# into the cache (build, install, make check) holds
# $CLIENTS_CACHE/postgresql.lock (flock): other runs share the trees.
# Result lines (clients_result): backend "user" (kqueue build, user-space
# backend), "kmod" (kqueue build, kqueue.ko) or "stock"; kernel "host" or
# the VM kernel.  Logs and timings: build/clients/postgresql/.
# Exit status: 1 if a host run failed, or (VM) a kqueue run failed a test
# the stock build passed, a counter was not 0, the VM saw a splat or did
# not finish.
set -eu
. "$(dirname "$0")/common.sh"

BUILD_ONLY=0
HOST=0
KERNELS=()
VARIANTS="kqueue stock"
SUITES="regress isolation"
while [ $# -gt 0 ]; do
	case $1 in
	--build-only) BUILD_ONLY=1 ;;
	--host) HOST=1 ;;
	--vm) KERNELS+=("$2"); shift ;;
	--variants) VARIANTS=$2; shift ;;
	--suites) SUITES=$2; shift ;;
	*) sed -n '/^# Usage/,/^# PostgreSQL refuses/p' "$0" |
	   sed '$d; s/^# \{0,1\}//' >&2
	   exit 2 ;;
	esac
	shift
done
[ ${#KERNELS[@]} = 0 ] && HOST=1

LOGDIR=$CLIENTS_TOP/build/clients/postgresql
mkdir -p "$LOGDIR"
FAILED=0
RUNAS=nobody
PG_LOCK=$CLIENTS_CACHE/postgresql.lock

# pg_locked CMD...: run CMD holding $PG_LOCK.  Other runs (another
# checkout's script, a helper's make check) build, install and check in
# the same cached build trees; one at a time.
pg_locked() {
	local rc=0
	mkdir -p "$CLIENTS_CACHE"
	exec 8>>"$PG_LOCK"
	if ! flock -n 8; then
		clients_say "postgresql: waiting for $PG_LOCK"
		flock 8
	fi
	"$@" || rc=$?
	flock -u 8
	exec 8>&-
	return "$rc"
}

pg_build() {
	local variant=$1 dir=$CLIENT_DIR/$1 b t0
	local conf=(--without-readline --without-icu --without-zlib
		    --disable-nls --without-perl --without-python --without-tcl)
	if client_done "$dir"; then
		clients_say "postgresql $variant: cached in $dir"
		return 0
	fi
	clients_say "postgresql $variant: building in $dir"
	rm -rf "$dir"
	b=$dir/build
	mkdir -p "$b"
	t0=$(date +%s)
	if [ "$variant" = kqueue ]; then
		conf+=(CPPFLAGS="-I$KQ_INCLUDE -DWAIT_USE_KQUEUE"
		       LDFLAGS="-L$KQ_LIBDIR" LIBS=-lkqueue)
	fi
	(cd "$b" && LD_LIBRARY_PATH=$KQ_LIBDIR $NICE "$CLIENT_SRC/configure" \
		"${conf[@]}" > "$dir/configure.log" 2>&1) ||
		clients_die "configure failed, see $dir/configure.log"
	if [ "$variant" = kqueue ]; then
		grep -q '^#define HAVE_KQUEUE 1' "$b/src/include/pg_config.h" &&
			grep -q '^#define HAVE_SYS_EVENT_H 1' \
				"$b/src/include/pg_config.h" ||
			clients_die "configure did not find kqueue"
	fi
	(cd "$b" && LD_LIBRARY_PATH=$KQ_LIBDIR $NICE make -j2 \
		> "$dir/make.log" 2>&1) ||
		clients_die "make failed, see $dir/make.log"
	(cd "$b/src/test/isolation" && LD_LIBRARY_PATH=$KQ_LIBDIR $NICE \
		make -j2 >> "$dir/make.log" 2>&1) ||
		clients_die "make (isolation) failed, see $dir/make.log"
	if [ "$variant" = kqueue ]; then
		nm -D "$b/src/backend/postgres" | grep -q ' U kevent$' ||
			clients_die "postgres does not call kevent()"
	fi
	echo "$(($(date +%s) - t0))" > "$dir/build-seconds"
	clients_say "postgresql $variant: built in $(($(date +%s) - t0)) s"
	client_stamp "$dir"
}

# pg_count LOG: "passed failed ignored", one per test, from pg_regress's
# lines ("test NAME ... ok  12 ms", "     NAME ... FAILED  12 ms",
# "... failed (ignored)")
pg_count() {
	local p f s
	p=$(grep -acE ' \.\.\. ok +[0-9]+ ms$' "$1" || true)
	f=$(grep -acE ' \.\.\. FAILED' "$1" || true)
	s=$(grep -acE ' \.\.\. failed \(ignored\)' "$1" || true)
	echo "$p $f $s"
}

# pg_failed LOG: the names of the failed tests
pg_failed() {
	grep -aE ' \.\.\. FAILED' "$1" |
		sed -E 's/^(test)? *([^ ]+) +\.\.\. FAILED.*/\2/' | sort -u
}

# pg_check VARIANT SUITE: make check as $RUNAS; counts from pg_regress's
# summary ("ok"/"FAILED"/"ignored" lines)
pg_check() {
	local variant=$1 suite=$2 b=$CLIENT_DIR/$1/build sub log t0 rc=0
	local p f s backend=stock
	[ "$variant" = kqueue ] && backend=user
	case $suite in
	regress) sub=src/test/regress ;;
	isolation) sub=src/test/isolation ;;
	esac
	log=$LOGDIR/$backend-$suite-host.log
	chown -R "$RUNAS" "$b"
	t0=$(date +%s)
	# a time limit: the user backend once lost PostgreSQL's SIGURG latch
	# wake-ups and hung (doc/clients/postgresql.md); a hang must fail
	timeout -k 10 "${PG_TIMEOUT:-1800}" \
	runuser -u "$RUNAS" -- env KQUEUE_BACKEND=user \
		LD_LIBRARY_PATH="$KQ_LIBDIR" HOME=/tmp \
		$NICE make -C "$b/$sub" check > "$log" 2>&1 || rc=$?
	read -r p f s < <(pg_count "$log")
	[ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
	clients_result "postgresql-$suite" "$backend" host "$p" "$f" "$s"
	echo "$backend $suite host passed=$p failed=$f seconds=$(($(date +%s) - t0))" \
		>> "$LOGDIR/timings.txt"
	clients_say "postgresql $suite $backend/host: passed=$p failed=$f in $(($(date +%s) - t0)) s"
	[ "$rc" = 0 ] || FAILED=1
}

# pg_stage VARIANT: what the VM needs, in $CLIENT_DIR/VARIANT/install:
# pgsql/ (make install, without headers, static libraries and pgxs),
# regress/ (pg_regress, regress.so, refint.so, autoinc.so, sql/,
# expected/, data/, the schedule) and isolation/ (pg_isolation_regress,
# isolationtester, specs/, expected/, the schedule): the files `make
# check` takes from the build and source trees.
pg_stage() {
	local variant=$1 dir=$CLIENT_DIR/$1 b=$CLIENT_DIR/$1/build
	local i=$CLIENT_DIR/$1/install t=$CLIENT_DIR/$1/install.tmp
	local sr=$CLIENT_SRC/src/test/regress si=$CLIENT_SRC/src/test/isolation
	[ -e "$dir/install.done" ] && return 0
	clients_say "postgresql $variant: staging $i"
	rm -rf "$i" "$t"
	(cd "$b" && LD_LIBRARY_PATH=$KQ_LIBDIR $NICE make install \
		DESTDIR="$t" > "$dir/install.log" 2>&1) ||
		clients_die "make install failed, see $dir/install.log"
	# (pg_locked runs this in a || list, where set -e does not apply)
	{ mkdir -p "$i/regress" "$i/isolation" &&
	  mv "$t/usr/local/pgsql" "$i/pgsql" &&
	  rm -rf "$t" "$i/pgsql/include" "$i/pgsql/lib/pgxs" "$i/pgsql/lib/"*.a &&
	  cp -a "$b/src/test/regress/"{pg_regress,regress.so,refint.so,autoinc.so} \
		"$i/regress/" &&
	  cp -a "$sr/"{sql,expected,data,parallel_schedule,resultmap} \
		"$i/regress/" &&
	  cp -a "$b/src/test/isolation/"{pg_isolation_regress,isolationtester} \
		"$i/isolation/" &&
	  cp -a "$si/"{specs,expected,isolation_schedule} "$i/isolation/" &&
	  find "$i" -type f \( -name '*.so*' -o -perm -u+x \) -exec sh -c \
		'head -c 4 "$1" | grep -q ELF && strip --strip-debug "$1"' sh {} \;
	} || clients_die "staging $i failed"
	touch "$dir/install.done"
}

# pg_vm_script: the guest's command: each suite on each variant, as
# nobody, the way `make check` runs them (PATH and LD_LIBRARY_PATH to the
# install tree, pg_regress with a temp instance and the same options);
# the module's counters after each kqueue run
pg_vm_script() {
	local v s
	clients_vm_counters
	cat <<'EOT'
rc=0
# pgrun VARIANT SUITE BACKEND: one suite, as nobody, in /tmp/pg-VARIANT-SUITE
pgrun() {
	P=/opt/pg-$1
	o=/tmp/pg-$1-$2
	mkdir -p $o && chown nobody $o
	case $2 in
	regress) cmd="$P/regress/pg_regress --temp-instance=$o/tmp_check --inputdir=$P/regress --outputdir=$o --bindir= --dlpath=$P/regress --max-concurrent-tests=20 --schedule=$P/regress/parallel_schedule" ;;
	isolation) cmd="$P/isolation/pg_isolation_regress --temp-instance=$o/tmp_check_iso --inputdir=$P/isolation --outputdir=$o --bindir= --schedule=$P/isolation/isolation_schedule" ;;
	esac
	echo "@@PG-BEGIN $1 $2@@"
	# the most kqueues open at once during the run (sampled each second):
	# shows that the kqueue build used the module
	echo 0 > /tmp/kqmax
	( m=0; while :; do
		n=$(cat /sys/module/kqueue/parameters/nr_kqueues)
		[ "$n" -gt "$m" ] && { m=$n; echo $m > /tmp/kqmax; }
		sleep 1
	done ) &
	sampler=$!
	t0=$(date +%s)
	su -s /bin/sh nobody -c "cd $o && exec env PATH=$P/pgsql/bin:$P/$2:\$PATH LD_LIBRARY_PATH=$P/pgsql/lib KQUEUE_BACKEND=$3 HOME=/tmp $cmd"
	st=$?
	t1=$(date +%s)
	kill $sampler; wait $sampler 2>/dev/null
	echo "@@PG-KQMAX $1 $2 $(cat /tmp/kqmax)@@"
	echo "@@PG-END $1 $2 rc=$st seconds=$((t1 - t0))@@"
	if [ -s $o/regression.diffs ]; then
		echo "@@PG-DIFFS $1 $2 (first 400 lines)@@"
		head -n 400 $o/regression.diffs
		echo "@@PG-DIFFS-END@@"
	fi
	rm -rf $o/tmp_check $o/tmp_check_iso
	[ "$1" = kqueue ] && { kq_counters "$2 ($1)" || rc=1; }
	return 0
}
EOT
	for s in $SUITES; do
		for v in $VARIANTS; do
			if [ "$v" = kqueue ]; then
				echo "pgrun $v $s kmod"
			else
				echo "pgrun $v $s user"
			fi
		done
	done
	# shellcheck disable=SC2016 # for the guest
	echo 'exit $rc'
}

# pg_vm KERNEL: one boot, every suite on every variant; results per
# variant and suite from the console log
pg_vm() {
	local k=$1 kver ko log files=() v s p f sk vrc=0 t0 be part secs
	kver=$("$CLIENTS_TOP/tools/vm/kernels.sh" "$k")
	ko=$CLIENTS_TOP/build/kmod/$kver/kqueue.ko
	[ -e "$ko" ] || (cd "$CLIENTS_TOP" && $NICE make -j2 kmod >/dev/null) ||
		clients_die "make kmod failed"
	log=$LOGDIR/vm-$k.log
	for v in $VARIANTS; do
		files+=(--file "$CLIENT_DIR/$v/install:/opt/pg-$v")
	done
	clients_say "postgresql VM $kver: $SUITES on $VARIANTS (log $log)"
	t0=$(date +%s)
	# LD_LIBRARY_PATH: run-vm.sh's ldd finds libpq and libkqueue there
	# (the binaries' rpath names /usr/local/pgsql/lib, not on the host)
	LD_LIBRARY_PATH=$CLIENT_DIR/kqueue/install/pgsql/lib:$KQ_LIBDIR \
		"$CLIENTS_TOP/tools/vm/run-vm.sh" --kernel "$kver" \
		--module "$ko" --mem "${PG_VM_MEM:-3072}" \
		--timeout "${PG_VM_TIMEOUT:-14400}" "${files[@]}" \
		--run "$(pg_vm_script)" > "$log" 2>&1 || vrc=$?
	echo "vm $k boot: run-vm exit $vrc, host seconds=$(($(date +%s) - t0))" \
		>> "$LOGDIR/timings.txt"
	for s in $SUITES; do
		for v in $VARIANTS; do
			be=stock
			[ "$v" = kqueue ] && be=kmod
			part=$LOGDIR/$be-$s-$k.log
			sed -n '/@@KQVM-EXIT/q; p' "$log" |
				sed -n "/@@PG-BEGIN $v $s@@/,/@@PG-END $v $s /p" > "$part"
			read -r p f sk < <(pg_count "$part")
			secs=$(sed -n "s/.*@@PG-END $v $s rc=[0-9]* seconds=\([0-9]*\)@@.*/\1/p" "$part")
			grep -aq "@@PG-END $v $s rc=0 " "$part" || [ "$f" != 0 ] || f=1
			clients_result "postgresql-$s" "$be" "$kver" "$p" "$f" "$sk"
			echo "$be $s $k passed=$p failed=$f ignored=$sk guest_seconds=${secs:-none}" \
				>> "$LOGDIR/timings.txt"
			clients_say "postgresql $s $be/$k: passed=$p failed=$f ignored=$sk in ${secs:-?} s (guest)"
		done
		if [ -e "$LOGDIR/kmod-$s-$k.log" ] && [ -e "$LOGDIR/stock-$s-$k.log" ]; then
			f=$(comm -23 <(pg_failed "$LOGDIR/kmod-$s-$k.log") \
				<(pg_failed "$LOGDIR/stock-$s-$k.log"))
			if [ -n "$f" ]; then
				clients_say "postgresql $s on $k: failed on kqueue, passed on stock:" "$f"
				FAILED=1
			fi
		fi
	done
	if grep -aq 'COUNTERS-NOT-ZERO' "$log"; then
		grep -a 'COUNTERS-NOT-ZERO' "$log" >&2
		FAILED=1
	fi
	case $vrc in
	0) ;;
	1) ;;	# a suite failed or a counter: judged above
	*) clients_say "postgresql: VM run on $k failed (run-vm.sh exit $vrc, see $log)"
	   FAILED=1 ;;
	esac
}

clients_sources
clients_apt gcc make bison flex perl pkg-config libssl-dev util-linux
client_fetch_any postgresql-15
[ -e "$KQ_LIBDIR/libkqueue.so" ] ||
	(cd "$CLIENTS_TOP" && $NICE make -j2 lib >/dev/null) ||
	clients_die "make lib failed"
id "$RUNAS" >/dev/null 2>&1 || clients_die "no user $RUNAS"

for v in $VARIANTS; do
	pg_locked pg_build "$v"
	[ ${#KERNELS[@]} = 0 ] || pg_locked pg_stage "$v"
done
[ "$BUILD_ONLY" = 1 ] && exit 0
if [ "$HOST" = 1 ]; then
	for v in $VARIANTS; do
		for s in $SUITES; do
			pg_locked pg_check "$v" "$s"
		done
	done
fi
for k in ${KERNELS[@]+"${KERNELS[@]}"}; do
	pg_vm "$k"
done
exit "$FAILED"
