#!/bin/sh
# check-proc-watch.sh - guest check of examples/proc_watch (busybox sh, in
# the VM, with kqueue.ko loaded and proc_watch in PATH).
#
# Runs `proc_watch -- /bin/sh -c 'sleep 0.2 & exit 3'` and checks that the
# shell's exec, its fork, the child (NOTE_CHILD with the shell's pid), the
# child's exit 0 and the shell's exit 3 are all reported, and that
# proc_watch waited for the whole tree (the orphaned child too: `done` is
# the last line) and exited with the shell's status, 3.
# Prints `PASS example-proc-watch` or `FAIL example-proc-watch: why`.
set -u

fail() {
	echo "FAIL example-proc-watch: $1"
	printf '%s\n' "$out" | sed 's/^/  | /'
	exit 0
}

out=$(proc_watch -- /bin/sh -c 'sleep 0.2 & exit 3' 2>&1)
st=$?
sh_pid=$(printf '%s\n' "$out" | sed -n 's/^watching \([0-9][0-9]*\)$/\1/p')
[ -n "$sh_pid" ] || fail "no 'watching PID' line"
[ "$st" -eq 3 ] || fail "exit status $st, want 3"
has() { printf '%s\n' "$out" | grep -qx "$1"; }
has "$sh_pid exec" || fail "no exec of the shell"
has "$sh_pid fork" || fail "no fork of the shell"
has "$sh_pid exit 3" || fail "no 'exit 3' of the shell"
child=$(printf '%s\n' "$out" | sed -n "s/^\([0-9][0-9]*\) child of $sh_pid\$/\1/p")
[ -n "$child" ] || fail "no 'child of $sh_pid' line"
has "$child exit 0" || fail "no 'exit 0' of the child $child"
[ "$(printf '%s\n' "$out" | tail -n 1)" = done ] || fail "last line is not 'done'"
echo "PASS example-proc-watch"
