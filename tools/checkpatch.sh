#!/bin/sh
# checkpatch.sh - run the kernel's checkpatch.pl over the module sources.
#
# checkpatch.pl comes from Debian's linux-source-6.1 package: the script
# and the two data files it reads are unpacked once into build/checkpatch/.
# Usage: tools/checkpatch.sh FILE...   (exit status 0 iff no warning/error)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/checkpatch
tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n 1 || true)

if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
	if [ -z "$tarball" ]; then
		echo "checkpatch: linux-source-6.1 is not installed" \
			"(apt-get install linux-source-6.1)" >&2
		exit 2
	fi
	mkdir -p "$dir"
	tar -xf "$tarball" -C "$dir" --strip-components=1 \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
fi

exec perl "$dir/scripts/checkpatch.pl" --no-tree --quiet --strict \
	--ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES -f "$@"
