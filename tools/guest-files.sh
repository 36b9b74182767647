#!/bin/sh
# guest-files.sh - the files every VM run of the test suite copies into the
# guest (tools/run-tests.sh for each kernel, tools/debug-tier.sh for the
# debug kernel): the test programs, the guest scripts and the examples with
# their checks.  One path per line, relative to the top of the tree (SRC:DEST
# where the guest needs another name).  The 32-bit kqtest (`make m32`) goes
# in as /bin/kqtest32 when it was built; run-vm.sh adds its i386 loader and
# libc.
cd "$(dirname "$0")/.." || exit 1
for f in build/tests/kqtest tools/guest-suite.sh build/tests/kqfuzz \
	build/tests/kqstress tools/guest-reliability.sh \
	build/examples/* tools/check-*.sh; do
	echo "$f"
done
if [ -x build/m32/tests/kqtest ]; then
	echo build/m32/tests/kqtest:/bin/kqtest32
fi
