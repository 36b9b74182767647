#!/bin/bash
# bench-close.sh - `make bench-close`: the cost the close hook adds to
# close(2).  In one VM boot per kernel, five alternations of: close_cost
# without the module, then insmod and close_cost with it loaded (nothing
# watched, 1,000 other pipes watched, the closed fd itself watched), then
# rmmod.  Prints a Markdown table: per case, the median over the
# alternations of (time with module / time without it, same alternation),
# each time being the fastest of 31 batches of 1,000 closes.  Absolute
# times from TCG mean nothing and medians swing by 2x between batches
# (translation-cache effects), which is why the minimum and alternation.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p build/bench
echo "| kernel | module loaded, nothing watched | 1,000 other pipes watched | the closed fd watched |"
echo "|---|---|---|---|"
for k in $(tools/vm/kernels.sh); do
	log=build/bench/close-$k.log
	tools/vm/run-vm.sh --kernel "$k" --timeout 900 \
		--file build/bench/close_cost \
		--file "build/kmod/$k/kqueue.ko:/tmp/kqueue.ko" \
		--run 'close_cost plain 11 >/dev/null
		       for i in 1 2 3 4 5; do
			close_cost plain 31 | sed "s/^/BENCH $i base /"
			insmod /tmp/kqueue.ko || exit 1
			for m in plain others watched; do
				close_cost $m 31 | sed "s/^/BENCH $i /"
			done
			rmmod kqueue || exit 1
		       done' > "$log" 2>&1 || { cat "$log"; exit 1; }
	awk -v k="$k" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++)
				for (j = i + 1; j <= n; j++)
					if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return a[int((n + 1) / 2)]
		}
		/^BENCH [0-9]+ base / { base[$2] = $5; next }
		/^BENCH [0-9]+ plain / { p[$2] = $4 / base[$2] }
		/^BENCH [0-9]+ others / { o[$2] = $4 / base[$2] }
		/^BENCH [0-9]+ watched / { w[$2] = $4 / base[$2]; n = $2 }
		END { printf "| %s | %.2f | %.2f | %.2f |\n", k,
			median(p, n), median(o, n), median(w, n) }' "$log"
done
