#!/bin/bash
# test-install.sh - checks that linux-kqueue installs and ships like a Linux
# project (issue 8); part of `make check` (tools/run-tests.sh).  On the
# host, as root (dkms needs it), after `make all`:
#
#   1. man pages: groff -ww and man --warnings render them without a word
#   2. make install install-dkms install-examples DESTDIR=T (with KVERS set
#      to a kernel that does not exist: installing never builds the
#      module) produces exactly the expected files, modes and links
#   3. pkg-config, with PKG_CONFIG_SYSROOT_DIR/PKG_CONFIG_PATH pointing
#      into T, gives the installed -I/-L/-l and version
#   4. example programs copied out of the tree build against the installed
#      files with `pkg-config --cflags --libs libkqueue` alone (and one
#      statically, with --static, against libkqueue.a)
#   5. DKMS: dkms add + dkms build (private dkms and source trees, from the
#      sources `make install-dkms` installed) for every supported kernel;
#      dkms.conf's version is the Makefile's
#   6. per kernel, one VM boot with the DKMS-built module and the installed
#      library: /dev/kqueue is mode 0666, and the out-of-tree programs run
#   7. make uninstall DESTDIR=T leaves no file behind
#
# Prints `PASS name` / `FAIL name: why` lines.  Logs in build/test-logs/.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
logs=$top/build/test-logs
mkdir -p "$logs"
T=$(mktemp -d "${TMPDIR:-/tmp}/kq-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
R=$T/root			# the DESTDIR
prefix=/usr/local
version=$(sed -n 's/^VERSION := *//p' Makefile)
soversion=$(sed -n 's/^SOVERSION := *//p' Makefile)
soname=libkqueue.so.${soversion%%.*}

# The install layout this script expects, whatever the caller's
# environment or `make check VAR=...` (passed down in MAKEFLAGS) says.
mk=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s "PREFIX=$prefix"
	"bindir=$prefix/bin" "libdir=$prefix/lib" "libexecdir=$prefix/libexec"
	"includedir=$prefix/include" "mandir=$prefix/share/man"
	udevrulesdir=/etc/udev/rules.d modulesloaddir=/etc/modules-load.d
	dkmssrcdir=/usr/src)

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# --- 1. man pages -----------------------------------------------------
for page in man/kqueue.2 man/kevent.2; do
	name=install-man-$(basename "$page")
	w1=$(groff -ww -man -Tutf8 -z "$page" 2>&1)
	w2=$(MANWIDTH=80 man --warnings=w -l "$page" 2>&1 >/dev/null)
	lines=$(MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)
	if [ -z "$w1$w2" ] && [ "$lines" -gt 100 ]; then
		pass "$name-renders-clean"
	else
		fail "$name-renders-clean" "$lines lines; $(printf '%s\n%s' "$w1" "$w2" | head -n 5 | tr '\n' '|')"
	fi
done

# --- 2. make install into a DESTDIR ---------------------------------------
if "${mk[@]}" install install-dkms install-examples DESTDIR="$R" \
	KVERS=0.0.0-no-such-kernel > "$logs/install.log" 2>&1; then
	pass install-make-install
else
	fail install-make-install "see $logs/install.log: $(tail -n 3 "$logs/install.log" | tr '\n' '|')"
fi

expected() {
	local l=$prefix/lib i=$prefix/include m=$prefix/share/man f
	printf '%s\n' "$l/libkqueue.so.$soversion" "$l/$soname" \
		"$l/libkqueue.so" "$l/libkqueue.a" "$l/pkgconfig/libkqueue.pc" \
		"$i/kqueue/sys/event.h" "$i/kqueue/uapi/kqueue_event.h" \
		"$m/man2/kqueue.2" "$m/man2/kevent.2" \
		"$m/man2/kqueuex.2" "$m/man2/kqueue1.2" \
		"$m/man3/kqueue_backend.3" "$m/man3/EV_SET.3" \
		"$m/man1/kqueue-backend.1" \
		/etc/udev/rules.d/60-kqueue.rules /etc/modules-load.d/kqueue.conf \
		"/usr/src/kqueue-$version/dkms.conf" \
		"/usr/src/kqueue-$version/include/uapi/kqueue_event.h" \
		"/usr/src/kqueue-$version/include/uapi/kqueue_ioctl.h"
	for f in kmod/*.c kmod/*.h kmod/Kbuild; do
		echo "/usr/src/kqueue-$version/$f"
	done
	for f in examples/*.c; do
		echo "$prefix/libexec/linux-kqueue/$(basename "$f" .c)"
	done
	echo "$prefix/bin/kqueue-backend"
}
got=$( (cd "$R" 2>/dev/null && find . ! -type d) | sed 's|^\.||' | LC_ALL=C sort)
want=$(expected | LC_ALL=C sort)
if [ "$got" = "$want" ]; then
	pass install-tree-exact
else
	fail install-tree-exact "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -n 8 | tr '\n' ' ')"
fi

# Modes, links and contents that matter to users.
L=$R$prefix/lib
problems=
[ "$(readlink "$L/$soname")" = "libkqueue.so.$soversion" ] || problems="$problems soname-link"
[ "$(readlink "$L/libkqueue.so")" = "$soname" ] || problems="$problems dev-link"
[ "$(stat -c %a "$L/libkqueue.so.$soversion" 2>/dev/null)" = 755 ] || problems="$problems so-mode"
for h in sys/event.h uapi/kqueue_event.h; do
	[ "$(stat -c %a "$R$prefix/include/kqueue/$h" 2>/dev/null)" = 644 ] || problems="$problems header-mode:$h"
done
got_soname=$(readelf -d "$L/libkqueue.so.$soversion" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$got_soname" = "$soname" ] || problems="$problems soname=$got_soname"
for h in sys/event.h uapi/kqueue_event.h; do
	cmp -s "include/$h" "$R$prefix/include/kqueue/$h" || problems="$problems header-content:$h"
done
grep -q '^kqueue$' "$R/etc/modules-load.d/kqueue.conf" 2>/dev/null || problems="$problems modules-load"
grep -q 'KERNEL=="kqueue".*MODE="0666"' "$R/etc/udev/rules.d/60-kqueue.rules" 2>/dev/null || problems="$problems udev-rule"
[ "$(cat "$R$prefix/share/man/man2/kqueuex.2" 2>/dev/null)" = ".so man2/kqueue.2" ] || problems="$problems man-link"
if [ -z "$problems" ]; then
	pass install-links-modes-contents
else
	fail install-links-modes-contents "$problems"
fi

# --- 3. pkg-config against the installed files ------------------------------
export PKG_CONFIG_SYSROOT_DIR=$R
export PKG_CONFIG_PATH=$R$prefix/lib/pkgconfig
export PKG_CONFIG_LIBDIR=$R$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs libkqueue 2>&1 | xargs)
pcver=$(pkg-config --modversion libkqueue 2>&1)
if [ "$flags" = "-I$R$prefix/include/kqueue -L$R$prefix/lib -lkqueue" ] &&
   [ "$pcver" = "$version" ]; then
	pass install-pkg-config
else
	fail install-pkg-config "got '$flags', version '$pcver'"
fi

# --- 4. out-of-tree build: sources copied away from the tree -------------
O=$T/oot
mkdir -p "$O"
oot_ok=1
for p in stdin_wait echo_server echo_client; do
	cp "examples/$p.c" "$O/"
	# shellcheck disable=SC2046 # pkg-config output is a word list
	if ! (cd "$O" && cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
		$(pkg-config --cflags libkqueue) "$p.c" -o "oot_$p" \
		$(pkg-config --libs libkqueue)) >> "$logs/install.log" 2>&1; then
		oot_ok=0
		fail install-oot-build "$p.c: see $logs/install.log"
	fi
done
# And fully static, against libkqueue.a (pkg-config --static).
# shellcheck disable=SC2046
if ! (cd "$O" && cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -static \
	$(pkg-config --static --cflags libkqueue) stdin_wait.c \
	-o oot_static_stdin_wait $(pkg-config --static --libs libkqueue)) \
	>> "$logs/install.log" 2>&1; then
	oot_ok=0
	fail install-oot-build "static stdin_wait.c: see $logs/install.log"
fi
# The binaries must need the installed shared library, found there.
if [ $oot_ok = 1 ]; then
	need=$(readelf -d "$O/oot_stdin_wait" | grep NEEDED | grep -cF "[$soname]")
	where=$(LD_LIBRARY_PATH=$L ldd "$O/oot_stdin_wait" | sed -n "s/.*$soname => \([^ ]*\).*/\1/p")
	if [ "$need" = 1 ] && [ "$where" = "$L/$soname" ]; then
		pass install-oot-build
	else
		oot_ok=0
		fail install-oot-build "NEEDED count $need, resolved to '$where'"
	fi
fi
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH PKG_CONFIG_LIBDIR

# --- 5. DKMS from the installed sources --------------------------------------
mapfile -t kernels < <(tools/vm/kernels.sh 2>/dev/null)
confver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
if [ "$confver" = "$version" ]; then
	pass install-dkms-version
else
	fail install-dkms-version "dkms.conf has '$confver', Makefile '$version'"
fi
DK=$T/dkms
mkdir -p "$DK"
declare -A kmod_for
if ! command -v dkms > /dev/null; then
	fail install-dkms-add "dkms not installed (run tools/install-deps.sh)"
elif [ "$(id -u)" != 0 ]; then
	fail install-dkms-add "dkms needs root"
elif ! dkms add -m kqueue -v "$version" --sourcetree "$R/usr/src" \
	--dkmstree "$DK" > "$logs/dkms.log" 2>&1; then
	fail install-dkms-add "see $logs/dkms.log"
else
	pass install-dkms-add
	for k in "${kernels[@]}"; do
		if ! dkms build -m kqueue -v "$version" -k "$k" \
			--sourcetree "$R/usr/src" --dkmstree "$DK" \
			>> "$logs/dkms.log" 2>&1; then
			fail "install-dkms-build-$k" "see $logs/dkms.log: $(tail -n 3 "$logs/dkms.log" | tr '\n' '|')"
			continue
		fi
		ko=$(find "$DK/kqueue/$version/$k" -name 'kqueue.ko*' | head -n 1)
		case $ko in
		*.xz) xz -dc "$ko" > "$T/kqueue-$k.ko" ;;
		*.zst) zstd -qdc "$ko" > "$T/kqueue-$k.ko" ;;
		*.gz) gzip -dc "$ko" > "$T/kqueue-$k.ko" ;;
		?*) cp "$ko" "$T/kqueue-$k.ko" ;;
		esac
		vm=$(modinfo -F vermagic "$T/kqueue-$k.ko" 2>/dev/null)
		if [ "${vm%% *}" = "$k" ]; then
			pass "install-dkms-build-$k"
			kmod_for[$k]=$T/kqueue-$k.ko
		else
			fail "install-dkms-build-$k" "module '$ko' has vermagic '$vm'"
		fi
	done
fi

# --- 6. the installed library and out-of-tree programs in the VM ------------
guest=$T/guest-install.sh
cat > "$guest" <<'EOT'
#!/bin/sh
# In the guest: the module is the DKMS build, /usr/local/lib the install.
k=$1
export LD_LIBRARY_PATH=/usr/local/lib
mode=$(stat -c %a /dev/kqueue)
if [ "$mode" = 666 ]; then
	echo "PASS install-dev-kqueue-0666-$k"
else
	echo "FAIL install-dev-kqueue-0666-$k: mode $mode"
fi
for p in oot_stdin_wait oot_static_stdin_wait; do
	out=$( (sleep 1; echo hello) | /usr/local/bin/$p 30)
	name=install-$(echo "$p" | tr _ -)-$k
	case $out in
	*"stdin is readable: 6 bytes"*) echo "PASS $name" ;;
	*) echo "FAIL $name: got: $out" ;;
	esac
done
ulimit -n 4096
/usr/local/bin/oot_echo_server -q -p 7100 > /tmp/oot_srv.out 2>&1 &
spid=$!
sleep 1
out=$(/usr/local/bin/oot_echo_client -p 7100 -n 400 -c 200 -b 65536 2>&1)
kill -TERM $spid
wait $spid
case $out in
*"total 400 ok 400 failed 0 peak 200 "*) echo "PASS install-oot-echo-$k" ;;
*) echo "FAIL install-oot-echo-$k: $(echo "$out" | tr '\n' '|') server: $(tr '\n' '|' < /tmp/oot_srv.out)" ;;
esac
b=$(/usr/local/bin/kqueue-backend 2>&1)
u=$(KQUEUE_BACKEND=user /usr/local/bin/kqueue-backend 2>&1)
if [ "$b" = kmod ] && [ "$u" = user ]; then
	echo "PASS install-kqueue-backend-$k"
else
	echo "FAIL install-kqueue-backend-$k: says '$b', forced user: '$u'"
fi
EOT
chmod +x "$guest"
for k in "${kernels[@]}"; do
	if [ $oot_ok != 1 ] || [ -z "${kmod_for[$k]:-}" ]; then
		fail "install-vm-$k" "nothing to run (build steps above failed)"
		continue
	fi
	files=(--file "$guest:/bin/guest-install.sh"
		--file "$L:/usr/local/lib"
		--file "$R$prefix/bin/kqueue-backend:/usr/local/bin/"
		--file "$O/oot_stdin_wait:/usr/local/bin/"
		--file "$O/oot_static_stdin_wait:/usr/local/bin/"
		--file "$O/oot_echo_server:/usr/local/bin/"
		--file "$O/oot_echo_client:/usr/local/bin/")
	# ldd on the host must find the installed library to copy the
	# programs' dependencies; the guest uses /usr/local/lib.
	LD_LIBRARY_PATH=$L tools/vm/run-vm.sh --kernel "$k" --timeout 300 \
		--module "${kmod_for[$k]}" "${files[@]}" \
		--run "guest-install.sh $k" > "$logs/vm-install-$k.log" 2>&1
	st=$?
	grep -E '^(PASS|FAIL) ' "$logs/vm-install-$k.log"
	if [ $st -eq 0 ]; then
		pass "install-vm-clean-$k"
	else
		fail "install-vm-clean-$k" "run-vm.sh exit $st, see $logs/vm-install-$k.log"
	fi
done

# --- 7. make uninstall leaves nothing ----------------------------------------
if "${mk[@]}" uninstall DESTDIR="$R" >> "$logs/install.log" 2>&1; then
	left=$(cd "$R" && find . ! -type d | head -n 5 | tr '\n' ' ')
	if [ -z "$left" ]; then
		pass install-uninstall-removes-all
	else
		fail install-uninstall-removes-all "left behind: $left"
	fi
else
	fail install-uninstall-removes-all "make uninstall failed, see $logs/install.log"
fi
exit 0
