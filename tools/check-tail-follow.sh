#!/bin/sh
# check-tail-follow.sh - drives examples/tail_follow in the guest (busybox
# sh, kqueue.ko loaded, tail_follow in PATH): follows a file in /tmp while
# lines are appended with echo, the file is truncated, more lines are
# appended, and the file is deleted.  tail_follow must print exactly the
# appended lines (not what was in the file before it started), say that the
# file was truncated and deleted, and exit 0.
#
# Prints `PASS example-tail-follow` or `FAIL example-tail-follow: why`;
# exits 0 either way (the PASS/FAIL line is the result).
set -u

name=example-tail-follow
dir=$(mktemp -d /tmp/tailfollow.XXXXXX) || {
	echo "FAIL $name: mktemp failed"
	exit 0
}
f=$dir/log
out=$dir/out
err=$dir/err
pid=

finish() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$dir"
	exit 0
}

fail() {
	echo "FAIL $name: $*"
	echo "--- stdout:"; cat "$out" 2>/dev/null
	echo "--- stderr:"; cat "$err" 2>/dev/null
	finish
}

# wait_for FILE TEXT: up to 20 s for a line containing TEXT in FILE.
wait_for() {
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && return 1
		sleep 0.1
	done
	return 0
}

echo "old line" > "$f"
tail_follow -n 60 "$f" > "$out" 2> "$err" &
pid=$!
wait_for "$err" "following" || fail "tail_follow did not start"

echo "line 1" >> "$f"
echo "line 2" >> "$f"
wait_for "$out" "line 2" || fail "appended lines not printed"

: > "$f"
wait_for "$err" "truncated" || fail "truncation not reported"

echo "line 3" >> "$f"
wait_for "$out" "line 3" || fail "line appended after truncation not printed"

rm "$f"
# A watchdog ends it if it does not exit by itself.
(sleep 20; kill "$pid" 2>/dev/null) &
wd=$!
wait "$pid"
st=$?
pid=
kill "$wd" 2>/dev/null

[ "$st" -eq 0 ] || fail "exit status $st after the file was deleted, want 0"
grep -q "file deleted" "$err" || fail "deletion not reported"
expect=$(printf 'line 1\nline 2\nline 3')
got=$(cat "$out")
[ "$got" = "$expect" ] || fail "output differs from the appended lines"

echo "PASS $name"
finish
