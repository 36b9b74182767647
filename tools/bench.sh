#!/bin/bash
# bench.sh - `make bench`: every benchmark scenario (bench/*.c) in one QEMU
# boot per kernel, with kqueue.ko loaded; then CSV, a Markdown summary with
# the targets checked and gnuplot PNGs in doc/bench/ (bench/report.py), and
# the Markdown on stdout.
#
#   scenario 1  bench/table2.c  the paper's Table 2: N pipes, all ready
#   scenario 2  bench/idle.c    k active among N registered
#   scenario 3  bench/churn.c   one-shot re-arm loop; registering N fds
#   scenario 4  bench/memory.c  kernel memory per registration
#
# Then, unless --no-profile, tools/bench-profile.sh boots each kernel once
# more to count the guest instructions of the same kinds of calls (a
# measure the host's load cannot disturb); the report shows both.
#
# Usage: tools/bench.sh [--short] [--kernel KVER]... [--reps R] [--out DIR]
#                       [--no-profile]
#   --short    scenario 1 only at N = 100, 500, 800, 1000 with 3
#              repetitions, on one kernel (the first of tools/vm/kernels.sh
#              unless --kernel says), printed as the paper's Table 2; writes
#              nothing to doc/bench.  Under a minute.
#   --kernel   kernels to run on (default: every one tools/vm/kernels.sh
#              lists)
#   --reps     repetitions of each measurement (default 5; --short 3)
#   --out      results directory (default doc/bench)
#   --no-profile  skip the instruction counts
#
# Expects `make bench-progs kmod` to have run (`make bench` does both).
# The full run takes 4 to 10 minutes per kernel on a 2-core host, depending
# on what else the host runs.  Console
# logs: build/bench/bench-KVER.log.  Times are from an emulated CPU (QEMU
# TCG): only ratios between mechanisms of one boot mean anything.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

short=0
profile=1
reps=
out=doc/bench
kernels=()
while [ $# -gt 0 ]; do
	case $1 in
	--short) short=1 ;;
	--kernel) kernels+=("$2"); shift ;;
	--reps) reps=$2; shift ;;
	--out) out=$2; shift ;;
	--no-profile) profile=0 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ ${#kernels[@]} -eq 0 ]; then
	read -r -a kernels <<< "$(tools/vm/kernels.sh | tr '\n' ' ')"
	[ ${#kernels[@]} -gt 0 ] || { echo "bench.sh: no kernels" >&2; exit 1; }
	[ "$short" = 0 ] || kernels=("${kernels[0]}")
fi

progs=(table2 idle churn memory)
[ "$short" = 0 ] || progs=(table2)
for p in "${progs[@]}"; do
	[ -x "build/bench/$p" ] || {
		echo "bench.sh: build/bench/$p missing (make bench-progs)" >&2
		exit 1
	}
done

guest_args=
[ "$short" = 0 ] || guest_args=--short
[ -z "$reps" ] || guest_args="$guest_args --reps $reps"
mkdir -p build/bench
inputs=()
for k in "${kernels[@]}"; do
	case $k in
	6.1|6.12) k=$(tools/vm/kernels.sh "$k") ;;
	esac
	[ -f "build/kmod/$k/kqueue.ko" ] || {
		echo "bench.sh: build/kmod/$k/kqueue.ko missing (make kmod)" >&2
		exit 1
	}
	tag=bench
	[ "$short" = 0 ] || tag=bench-short
	log=build/bench/$tag-$k.log
	files=()
	for p in "${progs[@]}"; do
		files+=(--file "build/bench/$p")
	done
	echo "bench.sh: Linux $k: running in QEMU (log: $log) ..." >&2
	t0=$(date +%s)
	if ! tools/vm/run-vm.sh --kernel "$k" --mem 2048 \
		--timeout "$([ "$short" = 1 ] && echo 600 || echo 2400)" \
		--module "build/kmod/$k/kqueue.ko" "${files[@]}" \
		--file tools/bench-guest.sh \
		--run "bench-guest.sh $guest_args" > "$log" 2>&1; then
		tail -n 40 "$log" >&2
		echo "bench.sh: the VM run on $k failed" >&2
		exit 1
	fi
	echo "bench.sh: Linux $k: done in $(( $(date +%s) - t0 )) s" >&2
	grep -a -o 'BENCH[A-Z]*,.*' "$log" > "build/bench/$tag-$k.txt" || true
	inputs+=("$k=build/bench/$tag-$k.txt")
done

if [ "$short" = 1 ]; then
	exec python3 bench/report.py --short "${inputs[@]}"
fi
mkdir -p "$out"
if [ "$profile" = 1 ]; then
	for k in "${kernels[@]}"; do
		case $k in
		6.1|6.12) k=$(tools/vm/kernels.sh "$k") ;;
		esac
		tools/bench-profile.sh --kernel "$k" --quiet \
			--out "$out/profile-$k.md" --csv "$out/profile-$k.csv"
	done
fi
python3 bench/report.py --out "$out" "${inputs[@]}"
echo "bench.sh: results in $out/ (README.md, summary.csv, raw-*.csv, *.png," \
	"profile-*.md)" >&2
