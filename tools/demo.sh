#!/bin/bash
# demo.sh - the main job (`make demo`): boot each supported kernel under
# QEMU with kqueue.ko and run the examples in it (tools/demo-guest.sh),
# showing only what the guest printed; then the original paper's
# experiment (its Table 2: one wait call over N ready pipes) in short, as
# ratios measured in one boot (tools/bench.sh --short).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p build/demo
# No QEMU, no kernels or no module built: the user-space backend on the host.
kernels=$(tools/vm/kernels.sh 2>/dev/null || true)
if ! command -v qemu-system-x86_64 > /dev/null || [ -z "$kernels" ] ||
	! ls build/kmod/*/kqueue.ko > /dev/null 2>&1; then
	echo "demo: no QEMU, Debian kernels or kqueue.ko here;" \
		"running on the host with the user-space backend"
	exec tools/demo-user.sh
fi
for k in $kernels; do
	echo "=== Linux $k (QEMU TCG), kqueue.ko loaded"
	if ! tools/vm/run-vm.sh --kernel "$k" --timeout 600 \
		--module "build/kmod/$k/kqueue.ko" \
		--file build/examples/stdin_wait \
		--file tools/demo-guest.sh \
		--run demo-guest.sh > "build/demo/$k.log" 2>&1; then
		cat "build/demo/$k.log"
		echo "demo: the VM run on $k failed" >&2
		exit 1
	fi
	sed -n '/@@KQVM-START@@/,/@@KQVM-EXIT/p' "build/demo/$k.log" |
		sed '1d;$d' | grep -v '^\[ *[0-9.]*\]'
done

echo
echo "=== The paper's Table 2, short run (tools/bench.sh --short)"
tools/bench.sh --short
