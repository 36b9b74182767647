# common.sh - shared by the scripts that build and test real kqueue
# programs against linux-kqueue (tools/clients/*.sh; `make clients`).
# Source it from bash: . "$(dirname "$0")/common.sh"
#
# Each client is built twice from its Debian source package: with its
# kqueue backend against this tree's <sys/event.h> and libkqueue ("kqueue"),
# and as Debian ships it, on epoll ("stock"), the control.  Builds are
# cached by source version under $CLIENTS_CACHE/NAME-VERSION/{src,kqueue,
# stock}; a build directory counts only once its "done" stamp exists, so an
# interrupted build is started again.
#
#   clients_sources          add a deb-src entry for bookworm (once) and
#                            apt-get update
#   clients_apt PKG...       install what is not installed yet
#   client_version SRCPKG    the version apt would fetch
#   client_fetch SRCPKG      unpack the source (cached); prints its dir
#   client_dir SRCPKG        $CLIENTS_CACHE/SRCPKG-VERSION
#   client_stamp DIR / client_done DIR
#                            mark a build finished / is it?
#   clients_result NAME BACKEND KERNEL PASSED FAILED SKIPPED
#                            one line in $CLIENTS_RESULTS (the README table
#                            is written from these lines)
#
# Everything runs as root (apt, the cache).  Builds run under nice(1), so
# that a VM run on the same machine keeps its timing.
set -eu

CLIENTS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLIENTS_CACHE=${CLIENTS_CACHE:-/var/cache/linux-kqueue/clients}
CLIENTS_RESULTS=${CLIENTS_RESULTS:-$CLIENTS_TOP/build/clients/results.txt}
CLIENTS_SRC_LIST=/etc/apt/sources.list.d/linux-kqueue-src.sources
KQ_INCLUDE=$CLIENTS_TOP/include
KQ_LIBDIR=$CLIENTS_TOP/build/lib
NICE="nice -n 19"

clients_say() {
	echo "clients: $*" >&2
}

clients_die() {
	echo "clients: error: $*" >&2
	exit 1
}

clients_sources() {
	[ "$(id -u)" = 0 ] || clients_die "run as root (apt-get, $CLIENTS_CACHE)"
	if [ ! -e "$CLIENTS_SRC_LIST" ]; then
		clients_say "adding bookworm deb-src to $CLIENTS_SRC_LIST"
		cat > "$CLIENTS_SRC_LIST" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
		apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null
	fi
	clients_apt dpkg-dev
}

clients_apt() {
	local p missing=
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null |
			grep -qx installed || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	clients_say "apt-get install$missing"
	# make check's package test may hold dpkg's lock meanwhile: wait
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null
}

client_version() {
	apt-cache showsrc "$1" 2>/dev/null |
		sed -n 's/^Version: //p' | sort -V | tail -n 1
}

client_dir() {
	local v
	v=$(client_version "$1")
	[ -n "$v" ] || clients_die "no source package $1 (deb-src missing?)"
	echo "$CLIENTS_CACHE/$1-${v#*:}"
}

# The stamp holds the SONAME the kqueue builds link against: a build
# linked against another one (an older tree's) is stale and is redone.
client_abi() {
	echo "libkqueue.so.$(sed -n 's/^SOVERSION *:= *\([0-9]*\).*/\1/p' "$CLIENTS_TOP/Makefile")"
}

client_stamp() {
	client_abi > "$1/done"
}

client_done() {
	[ -e "$1/done" ] && [ "$(cat "$1/done")" = "$(client_abi)" ]
}

# The unpacked source, shared by both builds (they build out of it into
# copies or build trees of their own).
client_fetch() {
	local dir src
	dir=$(client_dir "$1")
	src=$dir/src
	if ! client_done "$src"; then
		rm -rf "$src"
		mkdir -p "$src"
		clients_say "apt-get source $1"
		(cd "$src" && apt-get source -q "$1" >/dev/null 2>&1) ||
			clients_die "apt-get source $1 failed"
		client_stamp "$src"
	fi
	# the one directory dpkg-source made
	find "$src" -mindepth 1 -maxdepth 1 -type d | head -n 1
}

clients_result() {
	mkdir -p "$(dirname "$CLIENTS_RESULTS")"
	printf '%s %s %s passed=%s failed=%s skipped=%s\n' "$@" \
		>> "$CLIENTS_RESULTS"
}

# client_fetch_any SRCPKG: like client_fetch, but for a mirror that lacks
# some versions (e.g. no debian-security pool): uses a version already
# unpacked in the cache, else tries every version apt knows, newest first.
# Sets CLIENT_DIR ($CLIENTS_CACHE/SRCPKG-VERSION) and CLIENT_SRC (the
# unpacked tree); call it directly, not in $(...).
client_fetch_any() {
	local v dir vers
	CLIENT_DIR=
	CLIENT_SRC=
	vers=$(apt-cache showsrc "$1" 2>/dev/null |
		sed -n 's/^Version: //p' | sort -Vr)
	# shellcheck disable=SC2086 # a list
	for v in $(for v in $vers; do
			client_done "$CLIENTS_CACHE/$1-${v#*:}/src" && echo "$v"
		done) $vers; do
		dir=$CLIENTS_CACHE/$1-${v#*:}
		if ! client_done "$dir/src"; then
			rm -rf "$dir/src"
			mkdir -p "$dir/src"
			clients_say "apt-get source $1=$v"
			if ! (cd "$dir/src" &&
			      apt-get source -q "$1=$v" >/dev/null 2>&1); then
				clients_say "$1=$v not on the mirror"
				rm -rf "$dir"
				continue
			fi
			client_stamp "$dir/src"
		fi
		CLIENT_DIR=$dir
		CLIENT_SRC=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d |
			head -n 1)
		return 0
	done
	clients_die "no version of $1 could be fetched"
}

# clients_time LABEL CMD...: run CMD, then log "LABEL: N s" to stderr and
# to $CLIENTS_TIMES (build/clients/times.txt), so that the cost of each
# build and test run on this machine is on record.
clients_time() {
	local label=$1 t0 t1 rc=0
	shift
	t0=$(date +%s)
	"$@" || rc=$?
	t1=$(date +%s)
	mkdir -p "$(dirname "${CLIENTS_TIMES:-$CLIENTS_TOP/build/clients/times.txt}")"
	echo "$label: $((t1 - t0)) s (exit $rc)" |
		tee -a "${CLIENTS_TIMES:-$CLIENTS_TOP/build/clients/times.txt}" >&2
	return $rc
}

# clients_vm_counters: shell text for the guest that prints the module's
# live counters and fails unless both are 0 (run it after a client exits;
# a closing kqueue may take a moment, so it waits up to 10 s for them).
clients_vm_counters() {
	cat <<'EOT'
kq_counters() {
	i=0
	while :; do
		k=$(cat /sys/module/kqueue/parameters/nr_kqueues)
		n=$(cat /sys/module/kqueue/parameters/nr_knotes)
		[ "$k$n" = 00 ] || [ $i -ge 10 ] && break
		i=$((i + 1)); sleep 1
	done
	echo "kqueue counters after $1: nr_kqueues=$k nr_knotes=$n"
	[ "$k" = 0 ] && [ "$n" = 0 ] || { echo "COUNTERS-NOT-ZERO after $1"; return 1; }
}
EOT
}

# client_prepare SRCPKG APTPKG...: what every client script does first:
# the deb-src entry, build-essential and APTPKG..., this tree's library,
# and the source (client_fetch_any); sets SRC (the unpacked tree), DIR (its
# cache dir, CLIENT_DIR) and NAME (the tree's directory name).
client_prepare() {
	local pkg=$1
	shift
	clients_sources
	clients_apt build-essential "$@"
	[ -e "$KQ_LIBDIR/libkqueue.so" ] ||
		(cd "$CLIENTS_TOP" && $NICE make -j2 lib >/dev/null)
	client_fetch_any "$pkg"
	SRC=$CLIENT_SRC
	DIR=$CLIENT_DIR
	NAME=$(basename "$SRC")
}
