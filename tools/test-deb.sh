#!/bin/bash
# test-deb.sh - `make check-deb`: builds the Debian packages (make deb),
# installs them on this host with apt-get, checks them, purges them and
# checks that nothing of them is left.  As root, no VM:
#
#   1. make deb (dpkg-buildpackage + lintian, no lintian error)
#   2. apt-get install of kqueue-dkms, libkqueue1, libkqueue1-dev,
#      kqueue-tools from build/deb/ (kqueue-dkms's postinst has DKMS build
#      and install the module for each kernel with headers; a running
#      kernel without headers, as on this host, must not make it fail)
#   3. the installed kqueue-backend runs (this host cannot load modules:
#      the library falls back to its user-space backend)
#   4. examples/ programs, copied out of the tree, build with
#      `pkg-config --cflags --libs libkqueue` against the installed header
#      and library (and statically against libkqueue.a) and run
#   5. DKMS: the postinst built and installed kqueue.ko for the two
#      kernels the project supports (tools/vm/kernels.sh), and
#      `dkms build kqueue/VERSION -k KVER --force` builds it again for each
#   6. the udev rule (/dev/kqueue mode 0666) and the modules-load.d entry
#   7. apt-get purge: no file any package listed (dpkg -L, saved before)
#      is left, nor /usr/src/kqueue-*, /var/lib/dkms/kqueue, a kqueue.ko
#      under /lib/modules, the udev rule or the modules-load.d file
#
# The host is left as found: packages this test installed are purged
# when it ends, however it ends (a trap), and a later run first purges
# what an interrupted run left (marker build/test-deb/installed).  It
# refuses to run (exit 1) if the packages, or libkqueue-dev which the
# -dev package would replace, were installed by someone else.
#
# Options: --no-build uses the .debs already in build/deb/.  Prints PASS /
# FAIL / SKIP lines, the timings, then "N passed, N failed, N skipped";
# exit 1 if anything failed.  Logs in build/test-deb/.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs=$top/build/test-deb
marker=$logs/installed
version=$(sed -n 's/^VERSION := *//p' Makefile)
PKGS=(kqueue-dkms libkqueue1 libkqueue1-dev kqueue-tools)
npass=0 nfail=0 nskip=0
build=1
[ "${1:-}" = --no-build ] && build=0

pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
skip() { echo "SKIP $1: $2"; nskip=$((nskip + 1)); }
log_tail() { tail -n "${2:-3}" "$1" | tr '\n' '|'; }

# is_installed PKG: is PKG installed (or half-installed, or config-files)?
is_installed() {
	local s
	s=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "$s" != not-installed ]
}

export DEBIAN_FRONTEND=noninteractive
# Wait (up to 10 minutes) for another apt-get or dpkg to finish.
APT=(nice -n 19 apt-get -q -y -o DPkg::Lock::Timeout=600)
# purge_ours: purge those of PKGS that dpkg knows (apt-get refuses names
# it cannot find).
purge_ours() {
	local p some=()
	for p in "${PKGS[@]}"; do
		is_installed "$p" && some+=("$p")
	done
	[ ${#some[@]} = 0 ] && return 0
	"${APT[@]}" purge "${some[@]}" >> "$logs/purge.log" 2>&1
}

if [ "$(id -u)" != 0 ]; then
	echo "test-deb: needs root (apt-get install/purge, dkms)" >&2
	exit 1
fi
mkdir -p "$logs"
T=$(mktemp -d "${TMPDIR:-/tmp}/kq-deb.XXXXXX")
cleanup() {
	if [ -e "$marker" ]; then
		echo "test-deb: purging the test's packages"
		purge_ours || echo "test-deb: apt-get purge failed, see $logs/purge.log" >&2
		rm -f "$marker"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 0. the host as this test needs it --------------------------------------
: > "$logs/purge.log"
if [ -e "$marker" ]; then
	echo "test-deb: an earlier run was interrupted: purging its packages"
	purge_ours || { echo "test-deb: apt-get purge failed (see $logs/purge.log)" >&2; exit 1; }
	rm -f "$marker"
fi
for p in "${PKGS[@]}" libkqueue-dev; do
	if is_installed "$p"; then
		echo "test-deb: $p is installed, not by this test; it would be" \
			"replaced or purged: remove it first (apt-get purge $p)" >&2
		exit 1
	fi
done
if [ -e "/usr/src/kqueue-$version" ] || [ -e /var/lib/dkms/kqueue ]; then
	echo "test-deb: /usr/src/kqueue-$version or /var/lib/dkms/kqueue exists" \
		"(make install-dkms?): remove it first (make uninstall," \
		"dkms remove kqueue/$version --all)" >&2
	exit 1
fi

# --- 1. make deb -----------------------------------------------------------
t0=$(date +%s)
if [ $build = 1 ]; then
	if tools/deb-build.sh > "$logs/make-deb.log" 2>&1; then
		pass deb-build-lintian-clean
	else
		fail deb-build-lintian-clean "see $logs/make-deb.log: $(log_tail "$logs/make-deb.log")"
	fi
	grep -E '^  [EWIP]: ' "$logs/make-deb.log" | sed 's/^  /     lintian: /' || true
fi
t_build=$(( $(date +%s) - t0 ))
debs=()
for p in "${PKGS[@]}"; do
	f=$(ls build/deb/"${p}"_"${version}"_*.deb 2>/dev/null | head -n 1)
	[ -n "$f" ] && debs+=("$top/$f")
done
if [ ${#debs[@]} != ${#PKGS[@]} ]; then
	fail deb-files "build/deb/ lacks some of ${PKGS[*]} ($version)"
	echo "$npass passed, $nfail failed, $nskip skipped"
	exit 1
fi

# --- 2. install -------------------------------------------------------------
t0=$(date +%s)
touch "$marker"
if "${APT[@]}" install "${debs[@]}" > "$logs/install.log" 2>&1; then
	pass deb-install
else
	fail deb-install "see $logs/install.log: $(log_tail "$logs/install.log" 5)"
fi
t_install=$(( $(date +%s) - t0 ))
bad=
for p in "${PKGS[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || bad="$bad $p"
done
if [ -z "$bad" ]; then
	pass deb-installed-ok
else
	fail deb-installed-ok "not fully installed:$bad"
fi
# Save what the packages installed, for step 7.
for p in "${PKGS[@]}"; do
	dpkg -L "$p" 2>/dev/null
done | LC_ALL=C sort -u > "$T/files.txt"

# --- 3. the installed tool, user-space backend ---------------------------------
b=$(/usr/bin/kqueue-backend 2>&1) || true
u=$(KQUEUE_BACKEND=user /usr/bin/kqueue-backend 2>&1) || true
if [ -e /dev/kqueue ]; then want=kmod; else want=user; fi
if [ "$b" = "$want" ] && [ "$u" = user ]; then
	pass deb-kqueue-backend
	echo "     kqueue-backend: $b (forced user: $u)"
else
	fail deb-kqueue-backend "says '$b' (want $want), forced user: '$u'"
fi

# --- 4. examples against the installed header and library ---------------------
O=$T/oot
mkdir -p "$O"
cp examples/stdin_wait.c examples/event_loop.c "$O/"
cflags=$(pkg-config --cflags libkqueue 2>&1)
libs=$(pkg-config --libs libkqueue 2>&1)
pcver=$(pkg-config --modversion libkqueue 2>&1)
libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
if [ "$(echo "$cflags" | xargs)" = "-I/usr/include/kqueue" ] &&
   [ "$(echo "$libs" | xargs)" = "-lkqueue" ] && [ "$pcver" = "$version" ]; then
	pass deb-pkg-config
else
	fail deb-pkg-config "cflags '$cflags' libs '$libs' version '$pcver'"
fi
ok=1
for p in stdin_wait event_loop; do
	# shellcheck disable=SC2086 # pkg-config output is a word list
	if ! (cd "$O" && cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE $cflags \
		-H "$p.c" -o "$p" $libs) > "$logs/cc-$p.log" 2>&1; then
		ok=0
		fail deb-example-build "$p.c: $(log_tail "$logs/cc-$p.log")"
	fi
done
# shellcheck disable=SC2046
if ! (cd "$O" && cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -static \
	$(pkg-config --static --cflags libkqueue) stdin_wait.c \
	-o stdin_wait_static $(pkg-config --static --libs libkqueue)) \
	> "$logs/cc-static.log" 2>&1; then
	ok=0
	fail deb-example-build "static stdin_wait.c: $(log_tail "$logs/cc-static.log")"
fi
if [ $ok = 1 ]; then
	# The header the compiler read (-H) and the library the program needs.
	hdr=$(grep -m 1 'sys/event\.h' "$logs/cc-stdin_wait.log" | sed 's/^\.* *//')
	need=$(readelf -d "$O/stdin_wait" | sed -n 's/.*(NEEDED).*\[\(libkqueue[^]]*\)\]/\1/p')
	where=$(ldd "$O/stdin_wait" | sed -n 's/.*libkqueue[^ ]* => \([^ ]*\).*/\1/p')
	if [ "$hdr" = /usr/include/kqueue/sys/event.h ] &&
	   [ "$need" = libkqueue.so.1 ] &&
	   [ "$(readlink -f "$where")" = "$(readlink -f "$libdir/libkqueue.so.1")" ]; then
		pass deb-example-build
		echo "     header $hdr, NEEDED $need => $where"
	else
		fail deb-example-build "header '$hdr', NEEDED '$need' => '$where'"
	fi
	r1=$( (sleep 0.3; echo hello) | KQUEUE_BACKEND=user "$O/stdin_wait" 10 2>&1) || true
	r2=$( (sleep 0.3; echo hello) | "$O/stdin_wait_static" 10 2>&1) || true
	case $r1$r2 in
	*"stdin is readable: 6 bytes"*"stdin is readable: 6 bytes"*)
		pass deb-example-runs ;;
	*) fail deb-example-runs "shared: '$r1'; static: '$r2'" ;;
	esac
	r=$(cd "$O" && KQUEUE_BACKEND=user timeout 20 ./event_loop 1 < /dev/null 2>&1) &&
		st=0 || st=$?
	if [ "$st" = 0 ] && echo "$r" | grep -q '^deadline: done'; then
		pass deb-example-event-loop
	else
		fail deb-example-event-loop "exit $st: $(echo "$r" | tail -n 3 | tr '\n' '|')"
	fi
fi

# --- 5. DKMS ---------------------------------------------------------------
t0=$(date +%s)
kernels=()
for s in 6.1 6.12; do
	k=$(tools/vm/kernels.sh "$s" 2>/dev/null) || k=
	if [ -n "$k" ]; then
		kernels+=("$k")
	else
		skip "deb-dkms-$s" "no $s kernel with headers (tools/install-deps.sh)"
	fi
done
for k in "${kernels[@]}"; do
	st=$(dkms status -m kqueue -v "$version" -k "$k" 2>&1)
	ko=$(find "/lib/modules/$k/updates/dkms" -name 'kqueue.ko*' 2>/dev/null | head -n 1)
	if echo "$st" | grep -q ': installed' && [ -n "$ko" ]; then
		pass "deb-dkms-postinst-$k"
	else
		fail "deb-dkms-postinst-$k" "dkms status '$st', module '$ko'"
	fi
	if nice -n 19 dkms build -m kqueue -v "$version" -k "$k" --force \
		> "$logs/dkms-build-$k.log" 2>&1; then
		m=$(find "/var/lib/dkms/kqueue/$version/$k" -name 'kqueue.ko*' | head -n 1)
		case $m in
		*.xz) xz -dc "$m" > "$T/kqueue.ko" ;;
		*.zst) zstd -qdc "$m" > "$T/kqueue.ko" ;;
		*.gz) gzip -dc "$m" > "$T/kqueue.ko" ;;
		?*) cp "$m" "$T/kqueue.ko" ;;
		esac
		vm=$(modinfo -F vermagic "$T/kqueue.ko" 2>/dev/null) || vm=
		if [ "${vm%% *}" = "$k" ]; then
			pass "deb-dkms-build-$k"
		else
			fail "deb-dkms-build-$k" "module '$m' has vermagic '$vm'"
		fi
	else
		fail "deb-dkms-build-$k" "see $logs/dkms-build-$k.log: $(log_tail "$logs/dkms-build-$k.log")"
	fi
done
t_dkms=$(( $(date +%s) - t0 ))

# --- 6. udev rule, modules-load.d --------------------------------------------
problems=
grep -q 'KERNEL=="kqueue".*MODE="0666"' /usr/lib/udev/rules.d/60-kqueue.rules 2>/dev/null ||
	problems="$problems udev-rule"
grep -qx kqueue /usr/lib/modules-load.d/kqueue.conf 2>/dev/null || problems="$problems modules-load"
[ -r "/usr/src/kqueue-$version/dkms.conf" ] || problems="$problems dkms.conf"
if [ -z "$problems" ]; then
	pass deb-udev-modules-load
else
	fail deb-udev-modules-load "$problems"
fi

# --- 7. purge leaves nothing ------------------------------------------------------
t0=$(date +%s)
if purge_ours; then
	rm -f "$marker"
	pass deb-purge
else
	fail deb-purge "see $logs/purge.log: $(log_tail "$logs/purge.log" 5)"
fi
t_purge=$(( $(date +%s) - t0 ))
left=
while IFS= read -r f; do
	# Directories other packages share (/usr/lib, /usr/share/man/man2...)
	# stay; a file or a link of ours must go, and so must our own
	# directories (checked below).
	if [ -e "$f" ] || [ -L "$f" ]; then
		[ -d "$f" ] && [ ! -L "$f" ] && continue
		left="$left $f"
	fi
done < "$T/files.txt"
for d in /usr/src/kqueue-* /var/lib/dkms/kqueue /usr/include/kqueue \
	/usr/lib/udev/rules.d/60-kqueue.rules /usr/lib/modules-load.d/kqueue.conf \
	/usr/share/doc/kqueue-dkms /usr/share/doc/libkqueue1 \
	/usr/share/doc/libkqueue1-dev /usr/share/doc/kqueue-tools \
	/lib/modules/*/updates/dkms/kqueue.ko*; do
	[ -e "$d" ] && left="$left $d"
done
for p in "${PKGS[@]}"; do
	is_installed "$p" && left="$left package:$p"
done
if [ -z "$left" ]; then
	pass deb-purge-leaves-nothing
else
	fail deb-purge-leaves-nothing "left:$(echo "$left" | cut -c1-400)"
fi

echo "     timings: make deb ${t_build} s, install (with DKMS builds) ${t_install} s," \
	"dkms build x${#kernels[@]} ${t_dkms} s, purge ${t_purge} s"
echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" = 0 ]
