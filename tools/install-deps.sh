#!/bin/sh
# install-deps.sh - install what building and testing linux-kqueue needs on
# Debian 12 (bookworm): the compiler (with gcc-multilib for the 32-bit
# library and tests of `make m32`), sparse, QEMU + busybox for the VM
# tests (tools/vm/), gnuplot for the benchmarks, what building the debug
# kernel from linux-source-6.1 needs (tools/vm/debug-kernel.sh: flex, bison,
# bc, libelf-dev, libssl-dev, xz-utils), what the install checks use
# (tools/test-install.sh: dkms, pkgconf, groff-base, man-db), what the
# Debian packages need (make deb, make check-deb: dpkg-dev, debhelper,
# dh-dkms, lintian), and the two kernels the module is tested against,
# each with its headers:
#   6.1  cloud kernel  (linux-image-cloud-amd64 from bookworm)
#   6.12 cloud kernel  (linux-image-6.12-cloud-amd64 if apt knows it, else
#                       the versioned package bookworm-backports'
#                       linux-image-cloud-amd64 depends on)
#
# Run as root; idempotent.  If everything is installed already it does not
# touch apt at all.  Run as another user it only checks and lists what is
# missing: exit 1 if even the compiler is missing, else 0 (make demo then
# runs on the host with the user-space backend).
set -eu

BASE_PKGS="gcc gcc-multilib make libc6-dev qemu-system-x86 busybox-static cpio kmod gzip
sparse linux-source-6.1 gnuplot-nox iproute2
flex bison bc libelf-dev libssl-dev xz-utils
dkms pkgconf groff-base man-db
dpkg-dev debhelper dh-dkms lintian"
BACKPORTS_FILE=/etc/apt/sources.list.d/backports.sources
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() {
	echo "install-deps: $*"
}

die() {
	echo "install-deps: error: $*" >&2
	exit 1
}

# installed PATTERN: is a package whose name matches the dpkg-query glob
# PATTERN fully installed?
installed() {
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

# missing_pkgs: print, space-separated, what is not installed yet.
missing_pkgs() {
	m=
	for p in $BASE_PKGS; do
		installed "$p" || m="$m $p"
	done
	if ! installed 'linux-image-6.1.*-cloud-amd64' ||
	   ! installed 'linux-headers-6.1.*-cloud-amd64'; then
		m="$m linux-image-cloud-amd64 linux-headers-cloud-amd64"
	fi
	if ! installed 'linux-image-6.12.*-cloud-amd64' ||
	   ! installed 'linux-headers-6.12.*-cloud-amd64'; then
		m="$m linux-image-6.12-cloud-amd64 linux-headers-6.12-cloud-amd64"
	fi
	echo "${m# }"
}

# has_candidate PKG: can apt install PKG?
has_candidate() {
	apt-cache policy "$1" 2>/dev/null | grep -q '^ *Candidate: [^(]'
}

# resolve_612: print the image and headers package names of the 6.12 cloud
# kernel.
resolve_612() {
	if has_candidate linux-image-6.12-cloud-amd64 &&
	   has_candidate linux-headers-6.12-cloud-amd64; then
		echo linux-image-6.12-cloud-amd64 linux-headers-6.12-cloud-amd64
		return
	fi
	img=$(apt-cache show linux-image-cloud-amd64/bookworm-backports 2>/dev/null |
		sed -n 's/^Depends: //p' | tr ',|' '\n' |
		grep -o '^ *linux-image-6\.12\.[^ ]*-cloud-amd64\b' |
		tr -d ' ' | head -n 1) || true
	hdr=$(apt-cache show linux-headers-cloud-amd64/bookworm-backports 2>/dev/null |
		sed -n 's/^Depends: //p' | tr ',|' '\n' |
		grep -o '^ *linux-headers-6\.12\.[^ ]*-cloud-amd64\b' |
		tr -d ' ' | head -n 1) || true
	if [ -z "$img" ] || [ -z "$hdr" ]; then
		die "cannot find the 6.12 cloud kernel in apt (is bookworm-backports in the apt sources and 'apt-get update' done?)"
	fi
	echo "$img $hdr"
}

# backports_configured: does an active apt source line use bookworm-backports?
backports_configured() {
	grep -qsE '^[^#]*bookworm-backports' /etc/apt/sources.list && return 0
	grep -rqsE --include='*.list' --include='*.sources' \
		'^[^#]*bookworm-backports' /etc/apt/sources.list.d
}

say "checking installed packages"
missing=$(missing_pkgs)
if [ -z "$missing" ]; then
	say "all packages already installed, nothing to do"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages: $missing" >&2
	echo "install-deps: run this script as root to install them" >&2
	# Without the VM tools the main job still runs, on the host with the
	# user-space backend (tools/demo.sh); without a compiler nothing does.
	if command -v cc > /dev/null && command -v make > /dev/null; then
		echo "install-deps: continuing: make demo falls back to the" \
			"user-space backend; make check's VM tiers will fail" >&2
		exit 0
	fi
	exit 1
fi
say "missing: $missing"

if backports_configured; then
	say "bookworm-backports already in the apt sources"
else
	[ -r "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"
	[ ! -e "$BACKPORTS_FILE" ] ||
		die "$BACKPORTS_FILE exists but has no bookworm-backports entry; fix it by hand"
	say "adding bookworm-backports to $BACKPORTS_FILE"
	cat > "$BACKPORTS_FILE" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: $KEYRING
EOF
fi

export DEBIAN_FRONTEND=noninteractive
LOG=$(mktemp /tmp/install-deps.XXXXXX.log)

say "apt-get update (log: $LOG)"
apt-get -q update > "$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "apt-get update failed"; }

pkgs_612=$(resolve_612)
say "6.12 kernel packages: $pkgs_612"

# shellcheck disable=SC2086 # word splitting wanted
set -- $BASE_PKGS linux-image-cloud-amd64 linux-headers-cloud-amd64 $pkgs_612
say "apt-get install $*"
apt-get -q -y --no-install-recommends install "$@" >> "$LOG" 2>&1 ||
	{ tail -n 30 "$LOG" >&2; die "apt-get install failed (full log: $LOG)"; }

say "verifying"
missing=$(missing_pkgs)
[ -z "$missing" ] || die "still missing after install: $missing"
rm -f "$LOG"
say "done"
