#!/bin/bash
# test-abi.sh - `make abi-check`: the binary-compatibility decision with
# libkqueue 2.x (mheily/libkqueue, Debian's libkqueue0/libkqueue-dev,
# libkqueue.so.0), checked on the host, no VM (README, "Binary
# compatibility with libkqueue 2.x"):
#
#   1. tools/abi-compare.sh compares libkqueue's <sys/event.h> with
#      include/sys/event.h: every macro's value, struct kevent's layout,
#      the prototypes.  libkqueue's header comes from, each where found:
#        - LIBKQUEUE_INCLUDE=DIR (DIR/sys/event.h, e.g. an extracted
#          libkqueue-dev's usr/include/kqueue);
#        - `apt-get download libkqueue-dev libkqueue0`, if apt knows them
#          (Debian 12 does not: the package left Debian before bookworm),
#          whose library's exported symbols are compared too;
#        - always, the facts recorded from three libkqueue 2.x headers in
#          tools/abi/*.facts.
#   2. the decision follows: since some values differ, the library's
#      SONAME is not libkqueue.so.0, and debian/ names the runtime package
#      after the SONAME, its -dev Conflicts+Replaces libkqueue-dev (same
#      file names) and the symbols file names the SONAME;
#   3. a program linked against a libkqueue.so.0 does not load this
#      library in its place;
#   4. why: tools/abi/old-binary.c, compiled with libkqueue's values and
#      run against this library (KQUEUE_BACKEND=user), sees a
#      microsecond timer read as milliseconds and NOTE_OPEN reported as
#      its NOTE_TRUNCATE; filters only libkqueue has are refused with an
#      error (EOPNOTSUPP), never served.
#
# Needs build/lib (make lib).  Prints PASS/FAIL/SKIP lines and ends with
# "N passed, N failed, N skipped"; exit 1 if anything failed.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
T=$(mktemp -d "${TMPDIR:-/tmp}/kq-abi.XXXXXX")
trap 'rm -rf "$T"' EXIT
CC=${CC:-cc}
npass=0 nfail=0 nskip=0

pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
skip() { echo "SKIP $1: $2"; nskip=$((nskip + 1)); }

so=$(readlink -f build/lib/libkqueue.so 2>/dev/null || true)
[ -n "$so" ] && [ -e "$so" ] || { echo "test-abi: no build/lib/libkqueue.so.* (make lib)" >&2; exit 1; }
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')

# --- 1. the comparisons ---------------------------------------------------
# sources: "name facts-file" lines
: > "$T/sources"
if [ -n "${LIBKQUEUE_INCLUDE:-}" ]; then
	if tools/abi-compare.sh dump "$LIBKQUEUE_INCLUDE" > "$T/env.facts"; then
		echo "env $T/env.facts" >> "$T/sources"
	else
		fail abi-dump-env "cannot read $LIBKQUEUE_INCLUDE/sys/event.h"
	fi
fi
their_lib=
if apt-cache show libkqueue-dev > /dev/null 2>&1; then
	mkdir -p "$T/deb"
	if (cd "$T/deb" && apt-get -q download libkqueue-dev libkqueue0) \
		> "$T/apt.log" 2>&1; then
		for d in "$T"/deb/*.deb; do dpkg-deb -x "$d" "$T/deb/x"; done
		inc=$(dirname "$(dirname "$(find "$T/deb/x" -path '*/sys/event.h' | head -n 1)")")
		their_lib=$(find "$T/deb/x" -name 'libkqueue.so.*' -type f | head -n 1)
		if [ -n "$inc" ] && tools/abi-compare.sh dump "$inc" > "$T/debian.facts"; then
			echo "debian $T/debian.facts" >> "$T/sources"
		else
			fail abi-dump-debian "no usable sys/event.h in libkqueue-dev"
		fi
	else
		fail abi-download-debian "apt-get download failed: $(tail -n 2 "$T/apt.log" | tr '\n' ' ')"
	fi
else
	echo "NOTE apt knows no libkqueue-dev here (not in Debian 12): comparing with the recorded headers only"
fi
for f in tools/abi/*.facts; do
	echo "$(basename "$f" .facts) $f" >> "$T/sources"
done

differs=0
while read -r name facts; do
	st=0
	tools/abi-compare.sh compare "$facts" include > "$T/cmp-$name.txt" 2>&1 || st=$?
	case $st in
	0) pass "abi-compare-$name"
	   echo "     $name: nothing differs" ;;
	1) pass "abi-compare-$name"
	   differs=1
	   grep -E '^(DIFFERS|ONLY-THEIRS)' "$T/cmp-$name.txt" | sed "s/^/     $name: /"
	   tail -n 2 "$T/cmp-$name.txt" | sed "s/^/     $name: /" ;;
	*) fail "abi-compare-$name" "$(tail -n 3 "$T/cmp-$name.txt" | tr '\n' ' ')" ;;
	esac
done < "$T/sources"

# Their library's exported functions (only with the real package).
if [ -n "$their_lib" ]; then
	nm -D --defined-only "$their_lib" | awk '$2 ~ /[TW]/ { print $3 }' | sort > "$T/their.syms"
	nm -D --defined-only "$so" | awk '$2 ~ /[TW]/ { print $3 }' | sort > "$T/our.syms"
	missing=$(comm -23 "$T/their.syms" "$T/our.syms" | tr '\n' ' ')
	echo "     debian: functions only libkqueue.so.0 exports: ${missing:-none}"
	pass abi-symbols-debian
fi

# --- 2. the decision: SONAME and packages ---------------------------------
major=${soname##*.so.}
if [ "$differs" = 1 ]; then
	if [ "$soname" != libkqueue.so.0 ] && [ -n "$major" ]; then
		pass abi-soname-not-libkqueue0
		echo "     SONAME $soname: programs built against libkqueue 2.x (libkqueue.so.0) never load it"
	else
		fail abi-soname-not-libkqueue0 "SONAME is '$soname' though values differ from libkqueue 2.x"
	fi
else
	pass abi-drop-in
	echo "     nothing differs: libkqueue.so.0 would be possible (SONAME now $soname)"
fi

problems=
ctl=debian/control
grep -qx "Package: libkqueue$major" "$ctl" || problems="$problems no-package-libkqueue$major"
! grep -qx 'Package: libkqueue0' "$ctl" || problems="$problems package-libkqueue0"
grep -qx "Package: libkqueue$major-dev" "$ctl" || problems="$problems no-package-libkqueue$major-dev"
dev=$(awk -v p="libkqueue$major-dev" '/^Package: / { cur = $2 } cur == p' "$ctl")
echo "$dev" | grep -q '^Conflicts:.*\blibkqueue-dev\b' || problems="$problems dev-no-conflicts"
echo "$dev" | grep -q '^Replaces:.*\blibkqueue-dev\b' || problems="$problems dev-no-replaces"
sym=$(grep -v '^#' "debian/libkqueue$major.symbols" 2>/dev/null | head -n 1)
[ "$sym" = "$soname libkqueue$major #MINVER#" ] || problems="$problems symbols-header='$sym'"
grep -q "^usr/lib/\${DEB_HOST_MULTIARCH}/$soname\*\$" "debian/libkqueue$major.install" 2>/dev/null ||
	problems="$problems install-file"
if [ -z "$problems" ]; then
	pass abi-packages-follow-soname
	echo "     packages libkqueue$major, libkqueue$major-dev (Conflicts+Replaces: libkqueue-dev)"
else
	fail abi-packages-follow-soname "$problems"
fi

# --- 3. a binary linked against libkqueue.so.0 does not load this one ------
mkdir -p "$T/old"
printf 'int kqueue(void) { return -1; }\n' > "$T/old/stub.c"
printf 'int kqueue(void);\nint main(void) { return kqueue() == -1 ? 0 : 1; }\n' > "$T/old/prog.c"
if "$CC" -shared -fPIC -Wl,-soname,libkqueue.so.0 -o "$T/old/libkqueue.so.0" "$T/old/stub.c" &&
   "$CC" -o "$T/old/prog" "$T/old/prog.c" -L"$T/old" -l:libkqueue.so.0; then
	rm -f "$T/old/libkqueue.so.0"
	out=$(LD_LIBRARY_PATH=$top/build/lib "$T/old/prog" 2>&1) && st=0 || st=$?
	if [ "$st" != 0 ] && echo "$out" | grep -q 'libkqueue.so.0'; then
		pass abi-old-binary-not-loaded
	else
		fail abi-old-binary-not-loaded "exit $st: $out"
	fi
else
	fail abi-old-binary-not-loaded "could not build the stand-in program"
fi

# --- 4. why: libkqueue's values read by this library -----------------------
# The values from the newest source that has them (recorded: 2.x-latest).
facts=$(awk '$1 == "env" || $1 == "debian" { print $2; exit }' "$T/sources")
[ -n "$facts" ] || facts=tools/abi/libkqueue-2.x-latest.facts
val() { awk -F '\t' -v n="$1" '$1 == "macro" && $2 == n && $3 != "-" { print $3 }' "$facts"; }
defs=()
for n in NOTE_USECONDS NOTE_TRUNCATE EVFILT_LIBKQUEUE NOTE_VERSION EVFILT_NETDEV; do
	v=$(val "$n")
	[ -n "$v" ] && defs+=("-DTHEIR_$n=$v")
done
if ! "$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude "${defs[@]}" \
	tools/abi/old-binary.c -Lbuild/lib -lkqueue -Wl,-rpath,"$top/build/lib" \
	-o "$T/old-binary" 2> "$T/cc.log"; then
	fail abi-old-binary-build "$(head -n 3 "$T/cc.log" | tr '\n' ' ')"
else
	KQUEUE_BACKEND=user "$T/old-binary" > "$T/ob.txt" 2>&1 || true
	sed 's/^/     /' "$T/ob.txt"
	line() { sed -n "s/^$1: //p" "$T/ob.txt"; }
	case $(line pipe) in
	readable) pass abi-shared-values-work ;;
	*) fail abi-shared-values-work "pipe: $(line pipe)" ;;
	esac
	if [ -z "$(val NOTE_USECONDS)" ] || [ "$(val NOTE_USECONDS)" = 4 ]; then
		skip abi-why-timer-units "NOTE_USECONDS does not differ in $facts"
	elif [[ $(line timer_ms) == "fired after"* ]] &&
	     [[ $(line timer_usec) == "did not fire"* ]]; then
		pass abi-why-timer-units
	else
		fail abi-why-timer-units "ms: $(line timer_ms); usec: $(line timer_usec)"
	fi
	if [ -z "$(val NOTE_TRUNCATE)" ] || [ "$(val NOTE_TRUNCATE)" = 2048 ]; then
		skip abi-why-note-truncate "NOTE_TRUNCATE does not differ in $facts"
	elif [[ $(line note_truncate) == reported* ]]; then
		pass abi-why-note-truncate
	else
		fail abi-why-note-truncate "$(line note_truncate)"
	fi
	for f in evfilt_libkqueue evfilt_netdev; do
		r=$(line $f)
		if [ -z "$r" ]; then
			skip "abi-only-theirs-$f-refused" "not in $facts"
		elif [[ $r == *"Operation not supported"* || $r == *"Invalid argument"* ]]; then
			pass "abi-only-theirs-$f-refused"
		else
			fail "abi-only-theirs-$f-refused" "$r"
		fi
	done
fi

echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" = 0 ]
