/*
 * t_hard_vnode.c - EVFILT_VNODE against a user who wants to make the
 * kernel slow for everybody (issue 14):
 *
 *   - thousands of knotes on one file in one kqueue: registering them is
 *     quick (one fsnotify mark for the (file, kqueue) pair, not one per
 *     knote), each knote gets every event, and another process's
 *     open/read/close of the file stays about as fast as without them;
 *   - the per-user limit on marks, max_user_marks: one more (file, kqueue)
 *     pair than allowed is ENOSPC, while more knotes on a pair already
 *     marked are not limited by it; deleting knotes and closing the
 *     kqueue give the marks back;
 *   - knotes of several directories under one parent share its mark:
 *     removing one directory reports NOTE_DELETE for its knotes only;
 *   - NOTE_REVOKE does not open the caller's /proc/self/mountinfo: with a
 *     FIFO in its place (an unprivileged user's own user and mount
 *     namespace), EV_ADD does not block, and a lazy unmount is still
 *     reported;
 *   - EV_ADD on an O_WRONLY descriptor of a file the caller may not read
 *     is EACCES (as inotify_add_watch() wants read permission).
 *
 * The tests that change a module parameter restore it whatever happens
 * (run_child_then()).  Files are made in a private directory under
 * tmp_dir() and removed at the end.
 */
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#define MAX_UM		"max_user_marks"
#define NOBODY		65534

/* ---- a private directory, searchable by everybody ---------------------- */

static char hv_dir[256];

static const char *hv_mkdir(void)
{
	snprintf(hv_dir, sizeof(hv_dir), "%s/hv-%d", tmp_dir(),
		 (int)getpid());
	CHECK_OK(mkdir(hv_dir, 0711));
	CHECK_OK(chmod(hv_dir, 0711));
	/* tmp_dir() itself is 0700: others need to reach hv_dir. */
	CHECK_OK(chmod(tmp_dir(), 0711));
	return hv_dir;
}

/* hv_dir/name, in buf. */
static const char *hv_path(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", hv_dir, name);
	return buf;
}

/* A file of size bytes at hv_dir/name, mode 0644; an O_RDWR fd of it. */
static int hv_file(const char *name, size_t size)
{
	char p[PATH_MAX];
	int fd = CHECK_OK(open(hv_path(p, name),
			       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));

	CHECK_OK(fchmod(fd, 0644));
	if (size)
		write_n(fd, size);
	return fd;
}

static void hv_rm(const char *name)
{
	char p[PATH_MAX];

	if (unlink(hv_path(p, name)) < 0 && errno != ENOENT)
		rmdir(p);
}

static void hv_rmdir(void)
{
	rmdir(hv_dir);
}

/* ---- many knotes on one file -------------------------------------------- */

enum { NKN = 10000 };

/*
 * ms taken by a child running as another user that opens, reads a byte
 * of and closes path n times.
 */
static long long hv_reader_ms(const char *path, int n)
{
	int pfd[2];
	long long ms = -1;

	CHECK_OK(pipe(pfd));
	pid_t pid = CHECK_OK(fork());
	if (pid == 0) {
		char c;

		close(pfd[0]);
		drop_privileges(NOBODY);
		long long t0 = now_ms();
		for (int i = 0; i < n; i++) {
			int fd = CHECK_OK(open(path, O_RDONLY | O_CLOEXEC));

			CHECK_EQ(read(fd, &c, 1), 1);
			close(fd);
		}
		long long t = now_ms() - t0;
		CHECK_EQ(write(pfd[1], &t, sizeof(t)), (ssize_t)sizeof(t));
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &ms, sizeof(ms)) != (ssize_t)sizeof(ms))
		ms = -1;
	close(pfd[0]);
	wait_child_ok(pid);
	CHECK_GE(ms, 0);
	return ms;
}

/* Collects every pending event of kq; each must be for EVFILT_VNODE. */
static int hv_collect(int kq, struct kevent *ev, int max, unsigned int want)
{
	int got = 0;
	long long end = now_ms() + WAIT_MS_DEFAULT;

	while (got < max && now_ms() < end) {
		int n = kev_wait(kq, ev, max, 100);

		for (int i = 0; i < n; i++) {
			CHECKF(ev[i].filter == EVFILT_VNODE &&
			       ev[i].fflags == want && !(ev[i].flags & EV_ERROR),
			       "event %d: %s, want fflags 0x%x", got + i,
			       kev_str(&ev[i]), want);
		}
		got += n;
		if (n == 0 && got)
			break;
	}
	return got;
}

TEST(hard_vnode_many_knotes_one_file)
{
	const unsigned int rd = NOTE_OPEN | NOTE_READ | NOTE_CLOSE;
	char path[PATH_MAX];
	struct kevent *ev = calloc(NKN + 16, sizeof(*ev));
	struct kevent *ch = calloc(NKN, sizeof(*ch));
	int *fds = calloc(NKN, sizeof(*fds));

	CHECK(ev && ch && fds);
	raise_nofile(NKN + 64);
	hv_mkdir();
	int fd = hv_file("many", 64);
	hv_path(path, "many");
	int kq = kq_new();

	/* Another user's 200 open/read/close, nothing watching. */
	long long base = hv_reader_ms(path, 200);

	fds[0] = fd;
	for (int i = 1; i < NKN; i++)
		fds[i] = CHECK_OK(dup(fd));
	for (int i = 0; i < NKN; i++)
		EV_SET(&ch[i], fds[i], EVFILT_VNODE, EV_ADD | EV_CLEAR,
		       NOTE_WRITE | rd, 0, NULL);
	long long t0 = now_ms();
	for (int i = 0; i < NKN; i += 1000)
		CHECK_EQ(kevent(kq, &ch[i], NKN - i < 1000 ? NKN - i : 1000,
				NULL, 0, NULL), 0);
	long long add_ms = now_ms() - t0;
	printf("hard_vnode_many_knotes_one_file: %d EV_ADDs in %lld ms\n",
	       NKN, add_ms);
	CHECKF(add_ms < kqt_scaled_s(8) * 1000LL,
	       "%d knotes on one file took %lld ms to register", NKN, add_ms);

	/* Every knote sees a write, twice. */
	for (int round = 0; round < 2; round++) {
		CHECK_EQ(pwrite(fd, "x", 1, 0), 1);
		CHECK_EQ(hv_collect(kq, ev, NKN + 16, NOTE_WRITE), NKN);
		kev_expect_empty(kq);
	}

	/* Another user's reads with NKN knotes asking for them. */
	long long with = hv_reader_ms(path, 200);
	printf("hard_vnode_many_knotes_one_file: 200 open/read/close by "
	       "another user: %lld ms unwatched, %lld ms with %d knotes\n",
	       base, with, NKN);
	CHECKF(with <= 3 * base + 1000,
	       "%lld ms with %d knotes vs %lld ms without", with, NKN, base);
	/* ... and every knote got them. */
	CHECK_EQ(hv_collect(kq, ev, NKN + 16, rd), NKN);
	kev_expect_empty(kq);

	/* Half of them go; the others still see everything. */
	for (int i = 0; i < NKN; i += 2)
		CHECK_OK(close(fds[i]));
	CHECK_EQ(pwrite(fds[1], "x", 1, 0), 1);
	CHECK_EQ(hv_collect(kq, ev, NKN + 16, NOTE_WRITE), NKN / 2);
	for (int i = 1; i < NKN; i += 2)
		CHECK_OK(close(fds[i]));
	CHECK_OK(close(kq));
	hv_rm("many");
	hv_rmdir();
	free(ev);
	free(ch);
	free(fds);
}

/* ---- max_user_marks ----------------------------------------------------- */

enum { LIM = 4, NFILES = LIM + 2, NDUP = 300 };

struct hv_lim {
	int fd[NFILES];
	long long old;
};

static void hv_restore_marks(void *arg)
{
	struct hv_lim *l = arg;

	if (write_param(MAX_UM, l->old) < 0 || read_counter(MAX_UM) != l->old)
		FAIL("could not restore " MAX_UM " to %lld: %s", l->old,
		     kqt_errname(errno));
}

static int hv_add(int kq, int fd)
{
	return kev_change(kq, fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE, 0, NULL);
}

/* EV_ADD of (kq, fd) succeeds within a few seconds (freeing may lag). */
static void hv_add_soon_at(const char *file, int line, int kq, int fd)
{
	long long end = now_ms() + 3000;

	while (hv_add(kq, fd) < 0) {
		if (errno != ENOSPC || now_ms() > end)
			kqt_fail(file, line, "EV_ADD: %s", kqt_errname(errno));
		sleep_ms(10);
	}
}
#define hv_add_soon(kq, fd)	hv_add_soon_at(__FILE__, __LINE__, kq, fd)

static void hv_lim_child(void *arg)
{
	struct hv_lim *l = arg;
	int dups[NDUP];

	alarm(kqt_scaled_s(20));
	drop_privileges(NOBODY);
	int kq = kq_new(), kq2 = kq_new();

	for (int i = 0; i < LIM; i++)
		CHECK_OK(hv_add(kq, l->fd[i]));
	CHECK_ERR(hv_add(kq, l->fd[LIM]), ENOSPC);
	/* Knotes on a file already marked in this kqueue: no new mark. */
	for (int i = 0; i < NDUP; i++) {
		dups[i] = CHECK_OK(dup(l->fd[i % LIM]));
		CHECK_OK(hv_add(kq, dups[i]));
	}
	/* Changing a knote's selection is no new mark either. */
	CHECK_OK(kev_change(kq, l->fd[0], EVFILT_VNODE, EV_ADD | EV_CLEAR,
			    NOTE_WRITE | NOTE_ATTRIB | NOTE_READ, 0, NULL));
	/* The same file in another kqueue is another mark. */
	CHECK_ERR(hv_add(kq2, l->fd[0]), ENOSPC);
	/* Every knote still works. */
	write_n(l->fd[1], 1);
	kev_expect(kq, dups[1], EVFILT_VNODE, WAIT_MS_DEFAULT, NULL);

	/* Deleting some knotes of file 3 keeps its mark... */
	for (int i = 3; i < NDUP; i += LIM)
		CHECK_OK(close(dups[i]));
	CHECK_ERR(hv_add(kq, l->fd[LIM]), ENOSPC);
	/* ...the last one gives it back. */
	kev_add(kq, l->fd[3], EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	hv_add_soon(kq, l->fd[LIM]);
	CHECK_ERR(hv_add(kq, l->fd[LIM + 1]), ENOSPC);
	/* EV_ONESHOT: reported, the knote and the mark are gone. */
	kev_add(kq, l->fd[LIM], EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	kev_add(kq, l->fd[LIM], EVFILT_VNODE, EV_ADD | EV_CLEAR | EV_ONESHOT, NOTE_WRITE,
		0, NULL);
	write_n(l->fd[LIM], 1);
	kev_expect(kq, l->fd[LIM], EVFILT_VNODE, WAIT_MS_DEFAULT, NULL);
	hv_add_soon(kq, l->fd[LIM + 1]);
	/* Closing every descriptor of file 1 gives its mark back. */
	CHECK_ERR(hv_add(kq, l->fd[3]), ENOSPC);
	for (int i = 1; i < NDUP; i += LIM)
		CHECK_OK(close(dups[i]));
	CHECK_OK(close(l->fd[1]));
	hv_add_soon(kq, l->fd[3]);
	/* Closing the kqueue gives all of them back. */
	CHECK_OK(close(kq));
	for (int i = 2; i < 2 + LIM; i++)
		hv_add_soon(kq2, l->fd[i]);
	CHECK_ERR(hv_add(kq2, l->fd[0]), ENOSPC);
	CHECK_OK(close(kq2));
}

TEST(hard_vnode_mark_limit)
{
	struct hv_lim l;
	char name[16];

	require_module_counters();
	hv_mkdir();
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "lim%d", i);
		l.fd[i] = hv_file(name, 0);
	}
	raise_nofile(NDUP + 64);
	l.old = read_counter(MAX_UM);
	CHECK_GE(l.old, 8192);
	CHECK_OK(write_param(MAX_UM, LIM));
	run_child_then(hv_lim_child, &l, hv_restore_marks, &l);
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "lim%d", i);
		hv_rm(name);
	}
	hv_rmdir();
}

/* ---- directories under one parent --------------------------------------- */

TEST(hard_vnode_dirs_share_parent)
{
	int kq = kq_new();
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	int fa[3], fb[3];
	struct kevent ev[8];

	hv_mkdir();
	hv_path(a, "a");
	hv_path(b, "b");
	hv_path(c, "c");
	CHECK_OK(mkdir(a, 0700));
	CHECK_OK(mkdir(b, 0700));
	CHECK_OK(mkdir(c, 0700));
	for (int i = 0; i < 3; i++) {
		fa[i] = CHECK_OK(open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		fb[i] = CHECK_OK(open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		kev_add(kq, fa[i], EVFILT_VNODE, EV_ADD | EV_CLEAR,
			NOTE_DELETE | NOTE_WRITE, 0, NULL);
		kev_add(kq, fb[i], EVFILT_VNODE, EV_ADD | EV_CLEAR,
			NOTE_DELETE | NOTE_WRITE, 0, NULL);
	}
	/* One of a's knotes leaves: the others still share the marks. */
	kev_add(kq, fa[2], EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	CHECK_OK(rmdir(a));
	int n = kev_wait(kq, ev, 8, WAIT_MS_DEFAULT);
	sleep_ms(50);
	n += kev_poll(kq, ev + n, 8 - n);
	CHECK_EQ(n, 2);
	for (int i = 0; i < n; i++) {
		CHECK(ev[i].ident == (uintptr_t)fa[0] ||
		      ev[i].ident == (uintptr_t)fa[1]);
		CHECK_EQ(ev[i].fflags, NOTE_DELETE);
	}
	/* b moves under c, then goes: seen through its new parent. */
	char nb[PATH_MAX];

	hv_path(nb, "c/b");
	CHECK_OK(rename(b, nb));
	CHECK_EQ(kev_poll(kq, ev, 8), 0);
	CHECK_OK(rmdir(nb));
	n = kev_wait(kq, ev, 8, WAIT_MS_DEFAULT);
	sleep_ms(50);
	n += kev_poll(kq, ev + n, 8 - n);
	CHECK_EQ(n, 3);
	for (int i = 0; i < n; i++)
		CHECK_EQ(ev[i].fflags, NOTE_DELETE);
	for (int i = 0; i < 3; i++) {
		close(fa[i]);
		close(fb[i]);
	}
	CHECK_OK(rmdir(c));
	hv_rmdir();
}

/* ---- NOTE_REVOKE and a FIFO for /proc/self/mountinfo -------------------- */

static void hv_on_alarm(int sig)
{
	(void)sig;
}

/* Writes s to path (a /proc/self file of the user namespace). */
static void hv_write_file(const char *path, const char *s)
{
	int fd = CHECK_OK(open(path, O_WRONLY | O_CLOEXEC));

	CHECK_EQ(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	CHECK_OK(close(fd));
}

/* Can nobody make a user namespace here (not on every kernel)? */
static int hv_userns_ok(void)
{
	int st;
	pid_t pid = CHECK_OK(fork());

	if (pid == 0) {
		drop_privileges(NOBODY);
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * As nobody, in a user and mount namespace of its own (root in it), or
 * where unprivileged user namespaces are off, as root in a mount namespace
 * of its own: mounts a tmpfs on mnt with a file to watch, and a tmpfs over
 * /proc where self/mountinfo is a FIFO.
 */
static void hv_fifo_child(void *arg)
{
	char mnt[PATH_MAX], file[PATH_MAX];
	struct sigaction sa = { .sa_handler = hv_on_alarm };
	struct kevent ev;
	int kq;

	(void)arg;
	alarm(kqt_scaled_s(20));
	if (hv_userns_ok()) {
		drop_privileges(NOBODY);
		/* setuid() made it undumpable: its /proc/self files are root's. */
		CHECK_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
		kq = kq_new();
		CHECK_OK(unshare(CLONE_NEWUSER | CLONE_NEWNS));
		hv_write_file("/proc/self/setgroups", "deny");
		hv_write_file("/proc/self/uid_map", "0 65534 1");
		hv_write_file("/proc/self/gid_map", "0 65534 1");
	} else {
		printf("hard_vnode_revoke_mountinfo_fifo: no unprivileged user "
		       "namespaces: as root\n");
		kq = kq_new();
		CHECK_OK(unshare(CLONE_NEWNS));
	}
	CHECK_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	hv_path(mnt, "mnt");
	hv_path(file, "mnt/file");
	CHECK_OK(mount("kqtest", mnt, "tmpfs", 0, "size=1m"));
	int fd = CHECK_OK(open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	/* /proc of this namespace: a tmpfs where self/mountinfo is a FIFO. */
	CHECK_OK(mount("kqtest", "/proc", "tmpfs", 0, "size=1m"));
	CHECK_OK(mkdir("/proc/self", 0755));
	CHECK_OK(mkfifo("/proc/self/mountinfo", 0644));

	/* Opening the FIFO would wait for a writer; SIGALRM ends the wait. */
	CHECK_OK(sigaction(SIGALRM, &sa, NULL));
	alarm(kqt_scaled_s(6));
	long long t0 = now_ms();
	int r = kev_change(kq, fd, EVFILT_VNODE, EV_ADD | EV_CLEAR,
			   NOTE_REVOKE | NOTE_WRITE, 0, NULL);
	long long ms = now_ms() - t0;
	alarm(kqt_scaled_s(20));
	CHECKF(ms < 3000, "EV_ADD of NOTE_REVOKE took %lld ms", ms);
	CHECK_EQ(r, 0);
	/* It still works (the file was empty: the write extends it). */
	CHECK_EQ(pwrite(fd, "x", 1, 0), 1);
	kev_expect(kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ(ev.fflags, NOTE_WRITE | NOTE_EXTEND);
	CHECK_OK(umount2(mnt, MNT_DETACH));
	kev_expect(kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ(ev.fflags, NOTE_REVOKE);
	CHECK(ev.flags & EV_EOF);
	CHECK_OK(close(fd));
}

static void hv_nothing(void *arg)
{
	(void)arg;
}

TEST(hard_vnode_revoke_mountinfo_fifo)
{
	char mnt[PATH_MAX];

	hv_mkdir();
	CHECK_OK(mkdir(hv_path(mnt, "mnt"), 0700));
	CHECK_OK(chown(mnt, NOBODY, NOBODY));
	run_child_then(hv_fifo_child, NULL, hv_nothing, NULL);
	rmdir(hv_path(mnt, "mnt"));
	hv_rmdir();
}

/* ---- read permission ------------------------------------------------------ */

static void hv_perm_child(void *arg)
{
	int *fd = arg;

	alarm(kqt_scaled_s(20));
	drop_privileges(NOBODY);
	int kq = kq_new();

	CHECK_ERR(kev_change(kq, fd[0], EVFILT_VNODE, EV_ADD | EV_CLEAR,
			     NOTE_OPEN | NOTE_READ | NOTE_CLOSE, 0, NULL),
		  EACCES);
	CHECK_ERR(kev_change(kq, fd[0], EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE, 0,
			     NULL), EACCES);
	/* A file it may read, also through an O_WRONLY descriptor. */
	kev_add(kq, fd[1], EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE, 0, NULL);
	write_n(fd[1], 1);
	kev_expect(kq, fd[1], EVFILT_VNODE, WAIT_MS_DEFAULT, NULL);
	kev_expect_empty(kq);
}

TEST(hard_vnode_wronly_needs_read)
{
	char p[PATH_MAX];
	int fd[2];

	hv_mkdir();
	/* Mode 0222, owned by the user: it may write, not read. */
	fd[0] = CHECK_OK(open(hv_path(p, "wonly"),
			      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
	CHECK_OK(fchown(fd[0], NOBODY, NOBODY));
	CHECK_OK(fchmod(fd[0], 0222));
	fd[1] = CHECK_OK(open(hv_path(p, "rw"),
			      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
	CHECK_OK(fchown(fd[1], NOBODY, NOBODY));
	CHECK_OK(fchmod(fd[1], 0644));
	run_child_then(hv_perm_child, fd, hv_nothing, NULL);
	hv_rm("wonly");
	hv_rm("rw");
	hv_rmdir();
}
