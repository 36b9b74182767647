#!/bin/bash
# cpython.sh - build CPython 3.11 (Debian source package python3.11) with
# its kqueue backend against this tree (select.kqueue, selectors.
# KqueueSelector, so asyncio's default event loop runs on kqueue) and as a
# stock build (epoll), then run its kqueue/selector/asyncio tests on the
# host (user-space backend) and in the VM on kqueue.ko (issue 16).
#
# Usage (as root, from anywhere):
#   tools/clients/cpython.sh [--ci] [--build-only] [--no-host] [--no-vm]
#                            [--kernels "6.1 6.12"] [--tests "T1 T2 ..."]
#                            [--variants "kqueue stock"] [--jobs N]
#
#   (default)     full build of both variants; test_kqueue test_selectors
#                 test_asyncio on the host (kqueue build on the user-space
#                 backend, stock build) and in the VM on 6.1 and 6.12
#                 (kqueue build on kqueue.ko, stock build)
#   --ci          the subset for `make check`: a minimal kqueue build
#                 (only the extension modules the tests need), test_kqueue
#                 and test_selectors on the host (user backend) and on
#                 kqueue.ko in the VM on 6.12; no stock build
#   --build-only  build (or take from the cache) and stop
#   --no-host / --no-vm   skip those runs
#   --kernels, --tests, --variants   override the defaults above
#   --jobs N      regrtest -jN in the VM (default 1; test_asyncio is split
#                 into its modules then, which the guest's 2 CPUs run in
#                 about half the time)
#
# The build is a plain upstream-style ./configure && make (no PGO/LTO) out
# of the unpacked Debian source, cached under $CLIENTS_CACHE/python3.11-
# VERSION/{kqueue,stock,kqueue-min}.  The kqueue variant builds the select
# module through Modules/Setup.local against build/lib/libkqueue.so (not
# copied into the build), so a cached build always runs this tree's current
# library: LD_LIBRARY_PATH on the host, and in the VM run-vm.sh copies the
# library that ldd finds for the module.  configure must report kqueue found
# (HAVE_KQUEUE) or the build fails.
#
# Per run, one result line (clients_result) with per-test-case counts from
# libregrtest's JUnit XML: backend is "user", "kmod" or "stock", kernel is
# "host" or the VM kernel.  Logs: build/clients/cpython/.  After each VM run
# the module's live counters (nr_kqueues, nr_knotes) must be back to 0.
# Exit status: non-zero if a build, a run, the counters or the VM failed;
# failed test cases alone do not fail a full run, but fail --ci.
set -eu
. "$(dirname "$0")/common.sh"

CI_MODE=0
BUILD_ONLY=0
DO_HOST=1
DO_VM=1
KERNELS="6.1 6.12"
TESTS="test_kqueue test_selectors test_asyncio"
VARIANTS="kqueue stock"
JOBS=1
while [ $# -gt 0 ]; do
	case $1 in
	--ci) CI_MODE=1; KERNELS=6.12; TESTS="test_kqueue test_selectors"
	      VARIANTS=kqueue-min ;;
	--build-only) BUILD_ONLY=1 ;;
	--no-host) DO_HOST=0 ;;
	--no-vm) DO_VM=0 ;;
	--kernels) KERNELS=$2; shift ;;
	--tests) TESTS=$2; shift ;;
	--variants) VARIANTS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	*) sed -n '/^# Usage/,/^# The build/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	   exit 2 ;;
	esac
	shift
done

LOGDIR=$CLIENTS_TOP/build/clients/cpython
mkdir -p "$LOGDIR"
FAILED=0

# Extension modules a minimal build leaves out (configure's py_cv_module_*
# switches): test_kqueue and test_selectors need none of them.
MIN_OFF="_bz2 _lzma _ctypes _ctypes_test _decimal _sqlite3 _tkinter _curses
_curses_panel _dbm _gdbm _ssl _hashlib readline _uuid nis _crypt
_testbuffer _testimportmultiple _testmultiphase xxlimited xxlimited_35
_xxtestfuzz _codecs_cn _codecs_hk _codecs_iso2022
_codecs_jp _codecs_kr _codecs_tw _multibytecodec audioop _lsprof
_testclinic spwd ossaudiodev
_zoneinfo _xxsubinterpreters _testcapi _testinternalcapi xxsubtype"

py_build() {
	local variant=$1 dir=$CLIENT_DIR/$1 b t0 t1 m env_off=()
	local conf=(--prefix=/opt/py --without-ensurepip --with-system-expat)
	if client_done "$dir"; then
		clients_say "cpython $variant: cached in $dir"
		return 0
	fi
	clients_say "cpython $variant: building in $dir"
	b=$dir/build
	t0=$(date +%s)
	case $variant in
	kqueue*) conf+=(CPPFLAGS="-I$KQ_INCLUDE") ;;
	esac
	case $variant in
	*-min)
		for m in $MIN_OFF; do
			env_off+=("py_cv_module_$m=n/a")
		done ;;
	esac
	# an interrupted build goes on where it stopped once configured
	if [ ! -e "$dir/configured" ]; then
		rm -rf "$dir"
		mkdir -p "$b"
		(cd "$b" && env "${env_off[@]}" $NICE "$CLIENT_SRC/configure" \
			"${conf[@]}" > "$dir/configure.log" 2>&1) ||
			clients_die "configure failed, see $dir/configure.log"
		touch "$dir/configured"
		echo "configure $(($(date +%s) - t0))" >> "$dir/build-phases"
	fi
	# Debian's pyexpat.c (a backported fix) includes an internal header
	# that needs Py_BUILD_CORE_MODULE, which setup.py does not pass: build
	# pyexpat and _elementtree through makesetup, as Debian does.
	printf '*shared*\npyexpat pyexpat.c -DPy_BUILD_CORE_MODULE -lexpat\n%s\n' \
		'_elementtree _elementtree.c -DPy_BUILD_CORE_MODULE' \
		> "$b/Modules/Setup.local"
	case $variant in
	kqueue*)
		grep -q '^checking for kqueue\.\.\. yes' "$dir/configure.log" &&
			grep -q '^#define HAVE_KQUEUE 1' "$b/pyconfig.h" ||
			clients_die "configure did not find kqueue ($dir/configure.log)"
		# setup.py cannot pass a library to one module: build select
		# through makesetup instead (setup.py then leaves it alone)
		printf 'select selectmodule.c -L%s -lkqueue\n' \
			"$KQ_LIBDIR" >> "$b/Modules/Setup.local" ;;
	*)
		grep -q '^#define HAVE_EPOLL 1' "$b/pyconfig.h" ||
			clients_die "stock build without epoll?" ;;
	esac
	# LD_LIBRARY_PATH: setup.py imports every module it built (and
	# _asyncio imports select)
	(cd "$b" && LD_LIBRARY_PATH=$KQ_LIBDIR $NICE make -j2 \
		> "$dir/make.log" 2>&1) ||
		clients_die "make failed, see $dir/make.log"
	if grep -q 'could not be imported\|^Failed to build' "$dir/make.log"
	then
		grep -A3 'could not be imported\|^Failed to build' \
			"$dir/make.log" >&2
		clients_die "modules failed to import ($dir/make.log)"
	fi
	echo "make $(($(date +%s) - t0))" >> "$dir/build-phases"
	rm -rf "$dir/root"
	(cd "$b" && LD_LIBRARY_PATH=$KQ_LIBDIR $NICE make install \
		DESTDIR="$dir/root" > "$dir/install.log" 2>&1) ||
		clients_die "make install failed, see $dir/install.log"
	echo "install $(($(date +%s) - t0))" >> "$dir/build-phases"
	# keep the tree small for the VM's initramfs: no static libpython,
	# headers, optimized bytecode or debug info
	rm -rf "$dir/root/opt/py/lib/libpython3.11.a" \
		"$dir/root/opt/py/lib/python3.11/config-3.11-"* \
		"$dir/root/opt/py/include" "$dir/root/opt/py/share"
	find "$dir/root" -name '*.opt-[12].pyc' -delete
	find "$dir/root" -name '*_failed.so' -delete
	find "$dir/root" -type f \( -name '*.so' -o -name 'python3.11' \) \
		-exec strip --strip-debug {} +
	count_script > "$dir/root/opt/py/kq-count.py"
	t1=$(date +%s)
	echo "$((t1 - t0))" > "$dir/build-seconds"
	clients_say "cpython $variant: built in $((t1 - t0)) s"
	client_stamp "$dir"
}

# Prints "passed=N failed=N skipped=N" from libregrtest's JUnit XML.
count_script() {
	cat <<'EOF'
# kq-count.py - per-test-case counts from `python -m test --junit-xml`
import sys
import xml.etree.ElementTree as ET
p = f = s = 0
for case in ET.parse(sys.argv[1]).getroot().iter('testcase'):
    kinds = {c.tag for c in case}
    if 'skipped' in kinds:
        s += 1
    elif kinds & {'failure', 'error'}:
        f += 1
        print('FAILED-CASE', case.get('classname'), case.get('name'))
    else:
        p += 1
print('PYCOUNT passed=%d failed=%d skipped=%d' % (p, f, s))
EOF
}

# record BACKEND KERNEL LOG ELAPSED: the result line from a run's log
record() {
	local line
	line=$(grep '^PYCOUNT ' "$3" | tail -n 1) || true
	if [ -z "$line" ]; then
		clients_say "cpython $1/$2: no counts (see $3)"
		clients_result cpython "$1" "$2" 0 1 0
		FAILED=1
		return
	fi
	set -- "$1" "$2" "$3" "$4" ${line#PYCOUNT }
	clients_result cpython "$1" "$2" "${5#passed=}" "${6#failed=}" \
		"${7#skipped=}"
	clients_say "cpython $1/$2: $5 $6 $7 in $4 s"
	echo "$1 $2 $5 $6 $7 seconds=$4" >> "$LOGDIR/timings.txt"
	if [ "$CI_MODE" = 1 ] && [ "${6#failed=}" != 0 ]; then
		FAILED=1
	fi
}

host_run() {
	local variant=$1 backend=$2 root=$CLIENT_DIR/$1/root/opt/py
	local log=$LOGDIR/$backend-host.log t0 rc=0
	t0=$(date +%s)
	rm -f "$LOGDIR/$backend-host.xml"
	# shellcheck disable=SC2086 # $TESTS is a list
	KQUEUE_BACKEND=user LD_LIBRARY_PATH=$KQ_LIBDIR $NICE \
		"$root/bin/python3.11" -m test -j1 --timeout 1200 \
		--junit-xml "$LOGDIR/$backend-host.xml" $TESTS > "$log" 2>&1 ||
		rc=$?
	KQUEUE_BACKEND=user "$root/bin/python3.11" "$root/kq-count.py" \
		"$LOGDIR/$backend-host.xml" >> "$log" 2>&1 || true
	echo "regrtest exit $rc" >> "$log"
	record "$backend" host "$log" "$(($(date +%s) - t0))"
}

vm_run() {
	local variant=$1 backend=$2 kernel=$3 kver log t0 rc=0 be
	kver=$("$CLIENTS_TOP/tools/vm/kernels.sh" "$kernel")
	log=$LOGDIR/$backend-$kernel.log
	be=kmod
	[ "$backend" = stock ] && be=user
	t0=$(date +%s)
	LD_LIBRARY_PATH=$KQ_LIBDIR "$CLIENTS_TOP/tools/vm/run-vm.sh" \
		--kernel "$kver" \
		--module "$CLIENTS_TOP/build/kmod/$kver/kqueue.ko" \
		--file "$CLIENT_DIR/$variant/root/opt/py:/opt/py" \
		--mem 2048 --timeout 7200 --run "
export KQUEUE_BACKEND=$be PYTHONDONTWRITEBYTECODE=1
/opt/py/bin/python3.11 -m test -j$JOBS --timeout 3600 --junit-xml /tmp/j.xml $TESTS
echo regrtest exit \$?
/opt/py/bin/python3.11 /opt/py/kq-count.py /tmp/j.xml
q=\$(cat /sys/module/kqueue/parameters/nr_kqueues)
n=\$(cat /sys/module/kqueue/parameters/nr_knotes)
echo KQCOUNTERS nr_kqueues=\$q nr_knotes=\$n
[ \"\$q\" = 0 ] && [ \"\$n\" = 0 ]" > "$log" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		clients_say "cpython $backend/$kernel: VM run failed ($rc), see $log"
		grep KQCOUNTERS "$log" >&2 || true
		FAILED=1
	fi
	# guest uptime at the end: the VM's own time, without waiting for
	# the VM lock or packing the initramfs
	echo "guest_seconds=$(sed -n 's/^\[ *\([0-9]*\)\.[0-9]*\] reboot:.*/\1/p' \
		"$log" | tail -n 1)" >> "$LOGDIR/timings.txt"
	record "$backend" "$kernel" "$log" "$(($(date +%s) - t0))"
}

clients_sources
clients_apt gcc make pkg-config libssl-dev libffi-dev zlib1g-dev libexpat1-dev \
	binutils busybox-static
client_fetch_any python3.11
[ -e "$KQ_LIBDIR/libkqueue.so" ] ||
	(cd "$CLIENTS_TOP" && $NICE make -j2 lib >/dev/null) ||
	clients_die "make lib failed"

for v in $VARIANTS; do
	py_build "$v"
done
[ "$BUILD_ONLY" = 1 ] && exit 0

for v in $VARIANTS; do
	case $v in
	kqueue*) host_be=user; vm_be=kmod ;;
	*) host_be=stock; vm_be=stock ;;
	esac
	[ "$DO_HOST" = 1 ] && host_run "$v" "$host_be"
	if [ "$DO_VM" = 1 ]; then
		for k in $KERNELS; do
			kver=$("$CLIENTS_TOP/tools/vm/kernels.sh" "$k")
			[ -e "$CLIENTS_TOP/build/kmod/$kver/kqueue.ko" ] ||
				(cd "$CLIENTS_TOP" && $NICE make -j2 all \
					>/dev/null) || clients_die "make all failed"
			vm_run "$v" "$vm_be" "$k"
		done
	fi
done
exit "$FAILED"
