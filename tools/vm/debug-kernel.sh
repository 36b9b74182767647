#!/bin/bash
# debug-kernel.sh - build (once per machine) the 6.1 debug kernel of the
# debug-kernel test tier, and print the directory of its build tree.
#
# The kernel is Debian's linux-source-6.1 (/usr/src/linux-source-6.1.tar.xz)
# configured with `make tinyconfig` + tools/vm/debug-kernel.config (KASAN,
# lockdep, kmemleak, debugobjects, ...).  The tree is kept in
#
#   $KQ_DEBUG_KERNEL_CACHE/debug-kernel-HASH     (default cache directory:
#   /var/cache/linux-kqueue, or ~/.cache/linux-kqueue if that is not
#   writable)
#
# where HASH covers the config fragment, the source package's version, the
# compiler's version and this script's build recipe (RECIPE below), so a
# change of any of them builds a new tree and an unchanged setup never
# rebuilds.  The printed directory holds arch/x86/boot/bzImage (for
# run-vm.sh --kernel), vmlinux (for symbolizing), and what an external
# module build needs (make -C DIR M=...; Module.symvers is a copy of
# vmlinux.symvers).  build.log in it is the build's log.
#
# Safe to interrupt, and to run twice at once: the build happens in a
# temporary directory next to the cache entry, under a lock, and is renamed
# into place only once complete; a run finding a leftover temporary
# directory (from a killed run) deletes it.
#
# Usage: debug-kernel.sh [--jobs N]
#   --jobs N   make -jN (default: KQ_DEBUG_KERNEL_JOBS, else the number of
#              CPUs + 1)
# Progress goes to stderr; stdout gets only the directory.  Exit status 0 on
# success, 1 if the build failed (the log's tail is shown), 2 on a usage or
# setup error.
set -eu

VMDIR=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$VMDIR/debug-kernel.config
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/$SRC_PKG.tar.xz
# Bump when the way the tree is built changes (commands, targets).
RECIPE="tinyconfig+fragment; bzImage modules_prepare; v1"

say() { echo "debug-kernel: $*" >&2; }
die() { say "error: $*"; exit 2; }

JOBS=${KQ_DEBUG_KERNEL_JOBS:-$(( $(nproc) + 1 ))}
while [ $# -gt 0 ]; do
	case $1 in
	--jobs) [ $# -ge 2 ] || die "--jobs needs a number"; JOBS=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done
case $JOBS in ''|*[!0-9]*|0) die "--jobs must be a positive number" ;; esac

[ -r "$FRAGMENT" ] || die "cannot read $FRAGMENT"
[ -r "$SRC_TAR" ] || die "$SRC_TAR missing (run tools/install-deps.sh as root)"
src_ver=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) ||
	die "package $SRC_PKG is not installed (run tools/install-deps.sh as root)"
for tool in make gcc flex bison bc xz flock sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run tools/install-deps.sh as root)"
done
[ -r /usr/include/gelf.h ] || die "libelf-dev missing (run tools/install-deps.sh as root)"
cc_ver=$(gcc --version | head -n 1)

key=$( { cat "$FRAGMENT"; echo "$SRC_PKG $src_ver"; echo "$cc_ver";
	 echo "$RECIPE"; } | sha256sum | cut -c1-16)

# --- the cache directory ---
if [ -n "${KQ_DEBUG_KERNEL_CACHE:-}" ]; then
	base=$KQ_DEBUG_KERNEL_CACHE
	{ mkdir -p "$base" 2>/dev/null && [ -w "$base" ]; } || die "cannot write $base"
else
	base=/var/cache/linux-kqueue
	if ! { mkdir -p "$base" 2>/dev/null && [ -w "$base" ]; }; then
		base=${XDG_CACHE_HOME:-$HOME/.cache}/linux-kqueue
		{ mkdir -p "$base" && [ -w "$base" ]; } || die "cannot write $base"
	fi
fi
final=$base/debug-kernel-$key

done_already() {
	if [ -f "$final/.complete" ]; then
		echo "$final"
		exit 0
	fi
}
done_already

# One build at a time per cache directory; the other runs wait and then
# find the tree built.
exec 9> "$base/.debug-kernel.lock"
if ! flock -n 9; then
	say "another build is running; waiting for it"
	flock 9
fi
done_already

# We hold the lock: any temporary directory left is from a killed run.
for old in "$base"/.tmp-debug-kernel-*; do
	[ -e "$old" ] || continue
	say "removing the leftover $old"
	rm -rf "$old"
done
# An entry without .complete cannot exist (it is renamed in complete), but
# clear the name in case someone made it by hand.
[ ! -e "$final" ] || die "$final exists but is incomplete; remove it"

tmp=$(mktemp -d "$base/.tmp-debug-kernel-$key.XXXXXX")
child=
# shellcheck disable=SC2317 # called from traps
cleanup() {
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step CMD...: run CMD with output to the log, in the background so that a
# signal to this script is handled at once (bash runs traps only between
# foreground commands).
step() {
	"$@" >> "$log" 2>&1 &
	child=$!
	local st=0
	wait "$child" || st=$?
	child=
	return $st
}

log=$tmp/build.log
start=$(date +%s)
say "building the debug kernel in $tmp (key $key, $SRC_PKG $src_ver, -j$JOBS; log: $log)"

fail() {
	say "build failed: $*; last lines of $log:"
	tail -n 40 "$log" >&2
	exit 1
}

say "extracting $SRC_TAR"
step tar -xJf "$SRC_TAR" -C "$tmp" --strip-components=1 || fail "tar"
cp "$FRAGMENT" "$tmp/kqueue-debug.config"

say "configuring: tinyconfig + $(basename "$FRAGMENT")"
step make -C "$tmp" tinyconfig || fail "make tinyconfig"
# shellcheck disable=SC2016 # $1 is for the inner shell
step sh -c 'cd "$1" && scripts/kconfig/merge_config.sh -m .config kqueue-debug.config' \
	sh "$tmp" || fail "merge_config.sh"
step make -C "$tmp" olddefconfig || fail "make olddefconfig"

# Every CONFIG_X=y / CONFIG_X=N of the fragment must have survived
# olddefconfig (a dependency missing silently drops an option), and every
# "is not set" must be unset.
bad=
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qx -- "$line" "$tmp/.config" || bad="$bad ${line%%=*}" ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		! grep -q "^$opt=" "$tmp/.config" || bad="$bad $opt(unset)" ;;
	esac
done < "$FRAGMENT"
[ -z "$bad" ] || fail "options not as the fragment asks in .config:$bad"

say "compiling (make -j$JOBS bzImage modules_prepare)"
step make -C "$tmp" -j"$JOBS" bzImage modules_prepare || fail "make"
[ -s "$tmp/arch/x86/boot/bzImage" ] || fail "no bzImage"
[ -s "$tmp/vmlinux.symvers" ] || fail "no vmlinux.symvers"
cp "$tmp/vmlinux.symvers" "$tmp/Module.symvers"

secs=$(( $(date +%s) - start ))
echo "built in $secs s with -j$JOBS" >> "$log"
touch "$tmp/.complete"
chmod 755 "$tmp"
mv "$tmp" "$final"
tmp=
say "built in $secs s: $final"
echo "$final"
