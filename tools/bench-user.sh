#!/bin/bash
# bench-user.sh - `make bench-user`: benchmark scenarios 1 (the paper's
# Table 2: N pipes, all ready) and 3 (churn: one-shot re-arm loop;
# registering N fds) on THIS host, with libkqueue's user-space backend
# (KQUEUE_BACKEND=user) against the host's own epoll and poll.  No VM, no
# module.  Writes doc/bench/user-backend.md (and the raw CSV next to it)
# unless --short, and prints the Markdown.
#
# Usage: tools/bench-user.sh [--short] [--reps R] [--out DIR]
#   --short  N = 100,1000 and B = 1,100 with 3 repetitions, print only
#            (what `make demo` runs without QEMU); about 20 s
#
# Figures: the median over repetitions of each driver's per-call (Table 2)
# or per-event / per-fd (churn) time; the ratio is kqueue / epoll.  The
# host is shared: run it on a quiet machine.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
short=0
reps=5
out=doc/bench
while [ $# -gt 0 ]; do
	case $1 in
	--short) short=1; reps=3 ;;
	--reps) reps=$2; shift ;;
	--out) out=$2; shift ;;
	*) echo "bench-user.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
for p in table2 churn; do
	[ -x "build/bench/$p" ] || {
		echo "bench-user.sh: build/bench/$p missing (make bench-progs)" >&2
		exit 1
	}
done
backend=$(KQUEUE_BACKEND=user build/bin/kqueue-backend 2>/dev/null || echo "?")
ns=100,500,1000,2000
bs=1,10,100
rn=1000
if [ "$short" = 1 ]; then ns=100,1000; bs=1,100; rn=1000; fi
csv=$(mktemp)
trap 'rm -f "$csv"' EXIT
export KQUEUE_BACKEND=user
build/bench/table2 -n "$ns" -r "$reps" -m poll,epoll,kqueue 2>/dev/null |
	grep '^BENCH,' >> "$csv"
build/bench/churn -B "$bs" -n "$rn" -r "$reps" 2>/dev/null |
	grep '^BENCH,' >> "$csv"

# scenario,mech,N -> median value; then a table with kqueue/epoll ratios.
report() {
	awk -F, '
	{ k = $2 "," $3 "," $4; v[k] = v[k] " " $7 }
	END {
		for (k in v) {
			n = split(substr(v[k], 2), a, " ")
			for (i = 1; i <= n; i++)	# insertion sort
				for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) {
					t = a[j]; a[j] = a[j-1]; a[j-1] = t
				}
			med = n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
			print k "," med
		}
	}' "$csv" | sort -t, -k1,1 -k3,3n -k2,2
}
med=$(report)
get() { echo "$med" | awk -F, -v s="$1" -v m="$2" -v n="$3" \
	'$1 == s && $2 == m && $3 == n { print $4 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }

{
echo "# The user-space backend on the host"
echo
echo "Measured by \`tools/bench-user.sh\` ($(date -u +%Y-%m-%d), $(uname -r)," \
	"$(nproc) CPUs, backend: $backend, median of $reps repetitions)."
echo "The host's own kernel, no VM: libkqueue's user-space backend against"
echo "raw epoll and poll on the same host.  Target (issue 7): scenario 1 and 3"
echo "within 1.3 x raw epoll."
echo
echo "## Scenario 1: the paper's Table 2 (N pipes, all ready), µs per call"
echo
echo "| N | poll | epoll | kqueue (user) | kqueue / epoll |"
echo "|---|---|---|---|---|"
for n in ${ns//,/ }; do
	p=$(get table2 poll "$n"); e=$(get table2 epoll "$n")
	k=$(get table2 kqueue "$n")
	echo "| $n | $p | $e | $k | $(ratio "$k" "$e") |"
done
echo
echo "## Scenario 3a: one-shot re-arm loop (B ready pipes), µs per event"
echo
echo "| B | epoll-oneshot | kqueue-oneshot | ratio | kqueue-dispatch | ratio |"
echo "|---|---|---|---|---|---|"
for b in ${bs//,/ }; do
	e=$(get churn-rearm epoll-oneshot "$b")
	o=$(get churn-rearm kqueue-oneshot "$b")
	d=$(get churn-rearm kqueue-dispatch "$b")
	echo "| $b | $e | $o | $(ratio "$o" "$e") | $d | $(ratio "$d" "$e") |"
done
echo
echo "## Scenario 3b: registering / deleting N idle pipes, µs per fd"
echo
echo "| N | epoll add | kqueue add (1 call) | ratio | epoll del | kqueue del | ratio |"
echo "|---|---|---|---|---|---|---|"
for n in ${rn//,/ }; do
	ea=$(get churn-register epoll "$n"); ka=$(get churn-register kqueue "$n")
	ed=$(get churn-delete epoll "$n"); kd=$(get churn-delete kqueue "$n")
	echo "| $n | $ea | $ka | $(ratio "$ka" "$ea") | $ed | $kd | $(ratio "$kd" "$ed") |"
done
echo
echo "Why: every reported event needs one system call for its \`data\`"
echo "(FIONREAD for a pipe), which epoll does not give; a one-shot re-add"
echo "is an epoll_ctl() plus that call; each kevent() also checks (one"
echo "epoll_ctl()) that the kqueue descriptor was not closed, and collects"
echo "epoll's news with one epoll_wait().  See the README (Backends)."
} > "$csv.md"
if [ "$short" = 0 ]; then
	mkdir -p "$out"
	cp "$csv.md" "$out/user-backend.md"
	cp "$csv" "$out/user-backend.csv"
fi
cat "$csv.md"
rm -f "$csv.md"
