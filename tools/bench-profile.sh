#!/bin/bash
# bench-profile.sh - where the instructions of each benchmark case go: runs
# bench/profile.c's cases in one QEMU boot with the tbprof TCG plugin
# (bench/prof/tbprof.c), which counts every guest instruction executed
# between the program's marks, and attributes them to functions (kernel,
# kqueue.ko, user space) with bench/prof/analyze.py.
#
# Usage: tools/bench-profile.sh [--kernel KVER] [--out FILE] [--csv FILE] [--quiet]
#   --kernel   default: the first of tools/vm/kernels.sh
#   --out      Markdown report (default doc/bench/profile-KVER.md)
#   --csv      also instructions per call by case, as CSV (bench/report.py
#              puts them in doc/bench/README.md)
#   --quiet    do not print the report
#
# Instruction counts do not depend on the emulator's speed or on the load of
# the host, unlike the times of `make bench`; they do not weigh cache misses
# or atomic operations either.  The guest gets one vCPU here (the counts
# cover everything that CPU runs between the marks, interrupts included).  Symbols come from the guest's /proc/kallsyms
# (Debian's /boot/System.map is a stub), passed out through the console
# gzipped and base64-encoded.  Expects `make bench-progs kmod`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

k=
out=
csv=
quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) k=$2; shift ;;
	--out) out=$2; shift ;;
	--csv) csv=$2; shift ;;
	--quiet) quiet=1 ;;
	*) echo "bench-profile.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$k" ] || k=$(tools/vm/kernels.sh | head -n 1)
case $k in
6.1|6.12) k=$(tools/vm/kernels.sh "$k") ;;
esac
[ -n "$out" ] || out=doc/bench/profile-$k.md
[ -x build/bench/profile ] || { echo "bench-profile.sh: make bench-progs" >&2; exit 1; }
[ -f "build/kmod/$k/kqueue.ko" ] || { echo "bench-profile.sh: make kmod" >&2; exit 1; }

d=$top/build/bench/prof/$k
rm -rf "$d"
mkdir -p "$d/bin"
cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$d/tbprof.so" \
	bench/prof/tbprof.c -lpthread
# run-vm.sh starts qemu-system-x86_64 from PATH: add the plugin, and make
# it one vCPU (the last -smp wins), so that nothing the other vCPU does
# lands in the counts and the counters are never updated concurrently.
real=$(command -v qemu-system-x86_64)
cat > "$d/bin/qemu-system-x86_64" <<EOF
#!/bin/sh
exec "$real" -plugin "file=$d/tbprof.so,out=$d/prof" "\$@" -smp 1
EOF
chmod +x "$d/bin/qemu-system-x86_64"

# CASE N CALLS
cases="t2-poll 1000 20
t2-epoll 1000 20
t2-kqueue 1000 20
t2-epoll-et 1000 20
t2-kqueue-clear 1000 20
t2-kqueue-clear-noring 1000 20
t2-epoll 100 200
t2-kqueue 100 200
idle-epoll 10000 500
idle-kqueue 10000 500
idle-kqueue-noring 10000 500
rearm-epoll 1 2000
rearm-kqueue-dispatch 1 2000
rearm-kqueue-dispatch-noring 1 2000
rearm-kqueue-oneshot 1 2000
rearm-epoll 100 20
rearm-kqueue-dispatch 100 20
rearm-kqueue-oneshot 100 20
reg-epoll 1000 5
reg-kqueue 1000 5
wr-epoll-et 1000 20
wr-kqueue-clear 1000 20
wr-kqueue-clear-noring 1000 20
wru-epoll-et 1000 20
wru-kqueue-clear 1000 20
wru-kqueue-clear-noring 1000 20"
run="grep -E '^[0-9a-f]+ [TtWw] ' /proc/kallsyms | gzip -9 | base64 |
	sed 's/^/KSYMS64 /'
$(printf '%s\n' "$cases" | sed 's/^/profile /; s/$/ || exit 1/')"

echo "bench-profile.sh: Linux $k: $(printf '%s\n' "$cases" | wc -l) cases in QEMU with tbprof ..." >&2
log=$d/console.log
if ! PATH="$d/bin:$PATH" tools/vm/run-vm.sh \
	--kernel "$k" --mem 2048 --timeout 1800 \
	--module "build/kmod/$k/kqueue.ko" --file build/bench/profile \
	--run "$run" > "$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "bench-profile.sh: the VM run failed" >&2
	exit 1
fi
grep -a -o 'KSYMS64 .*' "$log" | cut -c9- | base64 -d | gunzip > "$d/kallsyms"
mkdir -p "$(dirname "$out")"
python3 bench/prof/analyze.py "$d/kallsyms" "$log" "$d/prof" "$k" ${csv:+"$csv"} > "$out"
[ "$quiet" = 1 ] || cat "$out"
echo "bench-profile.sh: written to $out" >&2
