#!/bin/sh
# deb-build.sh - `make deb`: builds linux-kqueue's Debian binary packages
# (debian/: kqueue-dkms, libkqueue1, libkqueue1-dev, kqueue-tools) with
# `dpkg-buildpackage -us -uc -b`, then checks them with lintian.
#
# The build runs in a copy of the source tree, build/deb/src/linux-kqueue
# (the files git tracks or would track, or, outside git, the tree less
# build/): dpkg-buildpackage cleans the tree it runs in and writes its
# results to the parent directory, and neither may touch the developer's
# tree or its parent.  Results, replaced on each run:
#   build/deb/*.deb, *.changes, *.buildinfo   the packages
#   build/deb/build.log                       dpkg-buildpackage's output
#   build/deb/lintian.txt                     lintian's tags (E/W/I/P)
#   build/deb/lintian.err                     lintian's own messages
# Exit status: 0 if the packages were built and lintian reports no error
# (E:) tag; warnings are printed and allowed.  Needs dpkg-dev, debhelper,
# dh-dkms and lintian (tools/install-deps.sh installs them).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/deb
src=$out/src/linux-kqueue

say() {
	echo "deb: $*"
}

for cmd in dpkg-buildpackage dh dh_dkms lintian; do
	command -v "$cmd" > /dev/null || {
		echo "deb: $cmd not found (run tools/install-deps.sh)" >&2
		exit 1
	}
done

rm -rf "$out"
mkdir -p "$src"

# The copy: what git would commit (tracked, and new files not ignored), so
# that build artefacts of the working tree never reach a package.
cd "$top"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	# (a tracked file deleted in the working tree is left out)
	git ls-files -z --cached --others --exclude-standard |
		tar -cf - --no-recursion --ignore-failed-read --null -T - \
			2>/dev/null | tar -xf - -C "$src"
else
	tar -cf - --exclude=./build --exclude=./.git . | tar -xf - -C "$src"
fi

say "dpkg-buildpackage -us -uc -b (log: build/deb/build.log)"
start=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1; then
	tail -n 30 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed (full log: build/deb/build.log)" >&2
	exit 1
fi
# dpkg-buildpackage wrote the packages next to the copy.
mv "$out/src"/*.deb "$out/src"/*.changes "$out/src"/*.buildinfo "$out/"
rm -rf "$out/src"
say "built in $(( $(date +%s) - start )) s:"
(cd "$out" && ls -1 ./*.deb | sed 's|^\./|  |')

say "lintian (tags: build/deb/lintian.txt)"
changes=$(ls "$out"/*.changes)
status=0
# (its complaint about running as root goes to stderr, kept apart)
lintian --fail-on error --info --display-info --pedantic "$changes" \
	> "$out/lintian.txt" 2> "$out/lintian.err" || status=$?
if [ "$status" != 0 ] && [ ! -s "$out/lintian.txt" ]; then
	cat "$out/lintian.err" >&2
fi
if [ -s "$out/lintian.txt" ]; then
	sed 's/^/  /' "$out/lintian.txt"
else
	echo "  (no tags)"
fi
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$out/lintian.txt" || true)
say "lintian: $errors error(s), $warnings warning(s)"
if [ "$status" != 0 ] || [ "$errors" != 0 ]; then
	echo "deb: lintian reports errors" >&2
	exit 1
fi
