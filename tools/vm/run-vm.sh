#!/bin/bash
# run-vm.sh - boot one Debian kernel under QEMU (TCG) with a throw-away
# busybox initramfs, load kernel modules, run one shell command in the guest
# and report its exit status; fails if the kernel logged a splat.
#
# This is how the module is tested on machines whose own kernel cannot load
# modules (see doc/design.md, section 10.3, "Testing the module on machines
# that cannot load modules").
#
# Usage:
#   run-vm.sh --kernel KVER [--module FILE.ko]... [--file SRC[:DEST]]...
#             [--timeout SECS] [--log FILE] [--mem MB] [--smp N] [--icount SHIFT]
#             --run 'shell command'
#
#   --kernel KVER    boot /boot/vmlinuz-KVER; "6.1" or "6.12" picks the newest
#                    installed kernel of that series (tools/vm/kernels.sh);
#                    a path containing "/" is booted as a bzImage itself
#                    (e.g. a locally built debug kernel)
#   --module F.ko    copied to /modules/ and insmod'ed in the order given
#   --file SRC[:DEST] copied to DEST (default /bin/BASENAME; a DEST ending in
#                    "/" is a directory) with the shared libraries it needs
#                    (found with ldd; libraries from outside the standard
#                    directories go to /lib/x86_64-linux-gnu, or /lib32 for
#                    a 32-bit program).  SRC may be a directory (copied
#                    whole).  DEST may be under /tmp.
#   --timeout SECS   whole-VM time limit, default 600
#   --log FILE       also save the complete console output to FILE
#   --mem MB         guest memory, default 1024
#   --smp N          guest CPUs, default 2 (1 for a benchmark whose client
#                    and server should not depend on how the host schedules
#                    two emulated CPUs)
#   --icount SHIFT   count instructions: the guest's clock advances 2^SHIFT
#                    ns per instruction executed (QEMU -icount, sleep=off),
#                    so a rate measured in the guest counts work, whatever
#                    else the host runs (one emulated CPU only)
#   --run CMD        run with /bin/sh -c in the guest, cwd /tmp, stdin
#                    /dev/null, HOME=/tmp, PATH=/bin:/sbin:/usr/bin:/usr/sbin
#
# Debian's static busybox shell runs its own applets (nc, ip, timeout, ...)
# in preference to same-named files in PATH: call a --file binary whose name
# is also a busybox applet by its full path.
#
# The guest console is streamed to stdout as it runs.  KQVM_APPEND, if set in
# the environment, is appended to the kernel command line (e.g. loglevel=8).
#
# Exit status:
#   3  a kernel splat (BUG, WARNING, Oops, lockdep, ...) appeared on the
#      console, even if the command succeeded
#   4  the guest did not finish (timeout, crash, panic); any splat lines
#      are printed too
#   5  an insmod failed (the command was not run)
#   2  usage error or the VM could not be set up
#   otherwise the exit status of the command
set -eu

VMDIR=$(cd "$(dirname "$0")" && pwd)

usage() {
	sed -n '/^# Usage:/,/^# Exit status:/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

die() {
	echo "run-vm: $*" >&2
	exit 2
}

KVER=
MODULES=()
FILES=()
TIMEOUT=600
LOG=
MEM=1024
SMP=2
ICOUNT=()
RUN=
have_run=0

while [ $# -gt 0 ]; do
	opt=$1
	case $opt in
	--kernel|--module|--file|--timeout|--log|--mem|--smp|--icount|--run)
		[ $# -ge 2 ] || die "$opt needs an argument"
		arg=$2
		shift 2 ;;
	-h|--help) usage ;;
	*) echo "run-vm: unknown argument: $opt" >&2; usage ;;
	esac
	case $opt in
	--kernel) KVER=$arg ;;
	--module) MODULES+=("$arg") ;;
	--file) FILES+=("$arg") ;;
	--timeout) TIMEOUT=$arg ;;
	--log) LOG=$arg ;;
	--mem) MEM=$arg ;;
	--smp) SMP=$arg ;;
	--icount)
		case $arg in [0-9]|1[0-9]) ;; *) die "--icount must be 0 to 19" ;; esac
		ICOUNT=(-icount "shift=$arg,sleep=off") ;;
	--run) RUN=$arg; have_run=1 ;;
	esac
done

[ -n "$KVER" ] || die "--kernel is required"
[ "$have_run" = 1 ] || die "--run is required"
case $TIMEOUT in ''|*[!0-9]*) die "--timeout must be a number of seconds" ;; esac
case $MEM in ''|*[!0-9]*) die "--mem must be a number of MB" ;; esac
case $SMP in [1-8]) ;; *) die "--smp must be 1 to 8" ;; esac

case $KVER in
6.1|6.12) KVER=$("$VMDIR/kernels.sh" "$KVER") || exit 2 ;;
esac
case $KVER in
*/*) KERNEL=$KVER ;;
*) KERNEL=/boot/vmlinuz-$KVER ;;
esac
[ -r "$KERNEL" ] || die "cannot read $KERNEL (run tools/install-deps.sh as root)"

BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static)"
if LC_ALL=C ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is not statically linked (install busybox-static)"
fi
for tool in qemu-system-x86_64 cpio gzip timeout; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run tools/install-deps.sh)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/run-vm.XXXXXX")
# shellcheck disable=SC2317 # called from traps
cleanup() {
	rm -rf "$TMP"
}
# shellcheck disable=SC2317 # called from traps
stop_vm() {
	if [ -s "$TMP/timeout.pid" ]; then
		kill -TERM "$(cat "$TMP/timeout.pid")" 2>/dev/null || true
		wait 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'stop_vm; exit 130' INT
trap 'stop_vm; exit 143' TERM

ROOT=$TMP/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,modules,kqvm}

# --- busybox; /init makes the other applet links in /bin at boot (faster
# than ~270 ln calls here; it leaves --file copies of the same name alone)
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"

# --- users, groups, name lookup ---
cat > "$ROOT/etc/passwd" <<'EOT'
root:x:0:0:root:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOT
cat > "$ROOT/etc/group" <<'EOT'
root:x:0:
tty:x:5:
nobody:x:65534:
EOT
cat > "$ROOT/etc/hosts" <<'EOT'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
EOT
cat > "$ROOT/etc/nsswitch.conf" <<'EOT'
passwd:	files
group:	files
shadow:	files
hosts:	files
EOT
echo kqvm > "$ROOT/etc/hostname"

# --- modules, loaded in the order given ---
: > "$ROOT/kqvm/modules"
for mod in ${MODULES[@]+"${MODULES[@]}"}; do
	[ -f "$mod" ] || die "module not found: $mod"
	base=$(basename "$mod")
	[ ! -e "$ROOT/modules/$base" ] || die "two modules named $base"
	cp "$mod" "$ROOT/modules/$base"
	echo "/modules/$base" >> "$ROOT/kqvm/modules"
done

# --- files and the shared libraries they need ---
# copy_libs FILE: copy the ELF interpreter and the libraries FILE needs,
# as ldd resolves them on the host.  Libraries from the standard directories
# go to the same paths in the initramfs; any other library (e.g. one found
# through RUNPATH in the build tree) goes to /lib/x86_64-linux-gnu under the
# name the binary asks for, where the guest's ld.so finds it whatever the
# RUNPATH says.  A 32-bit (i386) program's come from Debian's multilib
# directories (ldd lists /lib/ld-linux.so.2 and /lib32/libc.so.6): those
# are standard too, and its other libraries go to /lib32, which its
# ld-linux.so.2 searches.
copy_libs() {
	local f=$1 out line lib name dest libdir=/lib/x86_64-linux-gnu
	# only ELF files
	[ "$(head -c 4 "$f" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || return 0
	# EI_CLASS 1: a 32-bit program
	[ "$(od -An -tu1 -j4 -N1 "$f" | tr -d ' ')" = 1 ] && libdir=/lib32
	out=$(LC_ALL=C ldd "$f" 2>/dev/null) || return 0   # static: nothing to do
	while IFS= read -r line; do
		line=${line#"${line%%[! 	]*}"}
		case $line in
		*"=> not found"*) die "$f: missing library: ${line%% =>*}" ;;
		*"=> /"*) name=${line%% =>*}; lib=${line#*=> }; lib=${lib%% (*} ;;
		/*) name=; lib=${line%% (*} ;;
		*) continue ;;
		esac
		case $(dirname "$lib") in
		/lib|/lib64|/usr/lib|/lib/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu)
			dest=$lib ;;
		/lib32|/usr/lib32|/lib/i386-linux-gnu|/usr/lib/i386-linux-gnu)
			dest=$lib ;;
		*)	dest=$libdir/$(basename "${name:-$lib}") ;;
		esac
		[ -e "$ROOT$dest" ] && continue
		mkdir -p "$ROOT$(dirname "$dest")"
		cp -L "$lib" "$ROOT$dest"
	done <<< "$out"
}

for spec in ${FILES[@]+"${FILES[@]}"}; do
	case $spec in
	*:*) src=${spec%%:*}; dest=${spec#*:} ;;
	*) src=$spec; dest= ;;
	esac
	[ -e "$src" ] || die "file not found: $src"
	case $dest in
	'') dest=/bin/$(basename "$src") ;;
	*/) dest=$dest$(basename "$src") ;;
	/*) ;;
	*) dest=/$dest ;;
	esac
	case $dest in
	/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/run|/run/*|/init|/kqvm|/kqvm/*)
		die "--file destination $dest is not usable (hidden or reserved in the guest)" ;;
	esac
	mkdir -p "$ROOT$(dirname "$dest")"
	rm -rf "$ROOT$dest"
	cp -a -L "$src" "$ROOT$dest"
	if [ -d "$src" ]; then
		while IFS= read -r -d '' f; do
			copy_libs "$f"
		done < <(find -L "$src" -type f -perm -u+x -print0)
	else
		copy_libs "$src"
	fi
done

# --- the command and /init ---
printf '%s\n' "$RUN" > "$ROOT/kqvm/cmd"

cat > "$ROOT/init" <<'EOT'
#!/bin/sh
# Guest init written by tools/vm/run-vm.sh.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts -o gid=5,ptmxmode=0666,mode=620
[ -c /dev/ptmx ] || mknod -m 666 /dev/ptmx c 5 2
chmod 666 /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# /tmp may hold --file copies: move them onto the new tmpfs
mkdir -p /.newtmp
mount -t tmpfs -o mode=1777 tmpfs /.newtmp
cp -a /tmp/. /.newtmp/
mount --move /.newtmp /tmp
chmod 1777 /tmp
mount -t tmpfs -o mode=755 tmpfs /run
hostname kqvm
ip link set lo up

finish() {
	printf '@@KQVM-EXIT %d@@\n' "$1"
	sync
	reboot -f
	while :; do sleep 1; done
}

while IFS= read -r mod; do
	if ! insmod "$mod"; then
		echo "run-vm: insmod $mod failed"
		echo "@@KQVM-INSMOD-FAILED@@"
		finish 125
	fi
done < /kqvm/modules

cd /tmp
echo "@@KQVM-START@@"
/bin/sh -c "$(cat /kqvm/cmd)" < /dev/null
finish $?
EOT
chmod 755 "$ROOT/init"

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 > "$TMP/initrd.gz"

# --- boot ---
CONSOLE=${LOG:-$TMP/console.log}
: > "$CONSOLE" || die "cannot write $CONSOLE"

BIOS=()
[ -r /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)

# panic=-1: reboot (= quit, with -no-reboot) at once on a panic.  Oopses do
# not panic, so their report reaches the console and the run goes on.
# loglevel=5: the console gets everything at KERN_WARNING and above, which
# includes WARNING:, lockdep and the Call Trace: lines (KERN_DEFAULT = 4).
# 6.12 crashes at boot with cx16 under multi-threaded TCG: keep -cx16.
# timeout(1) puts QEMU in a process group of its own, so a Ctrl-C or a kill
# of this script would not reach it: the INT/TERM traps stop it through
# timeout, which passes the signal on.  The pipeline runs in the background
# because bash runs traps only once a foreground job has finished.
# One VM at a time on this machine (2 cores: two TCG guests make each
# other's timing-based tests flaky).  KQVM_LOCK names the lock file.
exec 9> "${KQVM_LOCK:-/tmp/linux-kqueue-vm.lock}"
if ! flock -n 9; then
	echo "run-vm: waiting for another VM run to finish" >&2
	flock 9
fi
{
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu qemu64,-cx16 -smp "$SMP" -m "$MEM" ${ICOUNT[@]+"${ICOUNT[@]}"} \
		-nodefaults -nographic -no-reboot "${BIOS[@]}" \
		-serial stdio -monitor none \
		-kernel "$KERNEL" -initrd "$TMP/initrd.gz" \
		-append "console=ttyS0 panic=-1 loglevel=5 printk.time=1${KQVM_APPEND:+ $KQVM_APPEND}" \
		< /dev/null 2>&1 &
	echo $! > "$TMP/timeout.pid"
	if wait $!; then echo 0; else echo $?; fi > "$TMP/qemu.status"
} | sed -u 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[c()][0-9A-Z]\{0,1\}//g' |
	tee "$CONSOLE" &
wait $! || true
qemu_status=$(cat "$TMP/qemu.status" 2>/dev/null || echo unknown)

# --- verdict ---
SPLAT='BUG:|WARNING:|Oops|general protection fault|Kernel panic|KASAN|UBSAN|kmemleak|possible recursive locking|circular locking|inconsistent lock state|sleeping function called from invalid context|scheduling while atomic|stack-protector|list_add corruption|list_del corruption|soft lockup|hard LOCKUP|hung_task|blocked for more than|RCU stall|rcu_sched self-detected|detected stall|non-static key|ODEBUG|kernel BUG at|Call Trace:'

tail_console() {
	echo "run-vm: last 60 console lines:"
	tail -n 60 "$CONSOLE"
}

# Only kernel messages count: printk.time=1 puts "[ secs.usecs]" before each
# of them (possibly after a partial line the guest command wrote), so a test
# that prints e.g. "WARNING:" itself is not taken for a splat.
# Lines that only echo the kernel command line (and so whatever KQVM_APPEND
# holds, e.g. kmemleak=on) and kmemleak's start-up notices are not splats;
# they only reach the console with a higher loglevel in KQVM_APPEND.
BENIGN='ommand line:|Unknown kernel command line parameters|^\[ *[0-9.]+\] +[^ ]+=[^ ]*$|kmemleak: (Kernel memory leak detector (initialized|disabled)|Automatic memory scanning thread)'
splat=$(grep -a -E "\[ *[0-9]+\.[0-9]{6}\].*($SPLAT)" "$CONSOLE" |
	grep -a -v -E "$BENIGN") || true
status=$(grep -a -o '@@KQVM-EXIT [0-9]*@@' "$CONSOLE" | tail -n 1 | tr -dc 0-9)

if [ -n "$splat" ]; then
	echo "run-vm: kernel splat detected:"
	printf '%s\n' "$splat"
	[ -z "$status" ] || exit 3
fi
if [ -z "$status" ]; then
	if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
		echo "run-vm: timed out after $TIMEOUT s"
	fi
	echo "run-vm: guest did not finish"
	tail_console
	exit 4
fi
if grep -a -q '@@KQVM-INSMOD-FAILED@@' "$CONSOLE"; then
	echo "run-vm: insmod failed; command not run"
	tail_console
	exit 5
fi
if [ "$status" != 0 ]; then
	echo "run-vm: command exited with status $status"
	tail_console
fi
exit "$status"
