/*
 * t_fork.c - a kqueue belongs to the process that created it (BSD), and
 * exec closes a close-on-exec kqueue:
 *
 *   - a child made by fork() has no kqueue descriptors: the numbers are
 *     free in it (fcntl, fstat, dup: EBADF), whatever the kqueue was made
 *     with; a child made by posix_spawn() (vfork) execs without them;
 *   - it gets EBADF from kevent() on them in every form (changes only,
 *     events only, both, blocking, nothing at all) and none of its calls
 *     changes the parent's knotes;
 *   - nothing the child does to its copies of the watched descriptors
 *     (close, dup2 over them, close_range, exit) removes the parent's knotes;
 *   - poll(), select(), epoll or a kqueue of its own looking at the inherited
 *     kqueue do not consume the parent's events (EV_ONESHOT, EV_CLEAR,
 *     EV_DISPATCH stay pending);
 *   - the child's own kqueue works, watches the same files independently
 *     and outlives the parent's close of the shared file;
 *   - a process that shares the fd table (clone(CLONE_FILES)) shares the
 *     kqueue: it can use it, and its close() removes the knotes;
 *   - kqueuex(KQUEUE_CLOEXEC) and kqueue1(O_CLOEXEC) kqueues are closed at
 *     exec (counted from the parent while the child sleeps in /bin/sleep),
 *     and so is the knote by which a surviving kqueue watched one of them.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define NR_KQ	"nr_kqueues"
#define NR_KN	"nr_knotes"

static void child_sync_read(int fd)
{
	char c;
	ssize_t r;

	do {
		r = read(fd, &c, 1);
	} while (r < 0 && errno == EINTR);
	CHECKF(r == 1, "sync read: %zd (%s)", r, r < 0 ?
	       kqt_errname(errno) : "EOF");
}

TEST(fork_child_kevent_ebadf_every_form)
{
	int kq = kq_new();
	int p[2], ready[2], go[2];

	make_pipe(p);
	make_pipe(ready);
	make_pipe(go);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xf1);
	write_n(p[1], 2);
	long long kn0 = counter_base(NR_KN);

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		struct kevent ch, ev[4];
		struct timespec ts0 = { 0, 0 };

		alarm(kqt_scaled_s(10));	/* a kevent() that blocks is a failure too */
		EV_SET(&ch, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
		CHECK_ERR(kevent(kq, &ch, 1, NULL, 0, NULL), EBADF);
		CHECK_ERR(kevent(kq, &ch, 1, ev, 4, &ts0), EBADF);
		CHECK_ERR(kevent(kq, NULL, 0, ev, 4, &ts0), EBADF);
		CHECK_ERR(kevent(kq, NULL, 0, ev, 4, NULL), EBADF);
		CHECK_ERR(kevent(kq, NULL, 0, NULL, 0, NULL), EBADF);
		/* Not even with room for an EV_ERROR entry. */
		EV_SET(&ch, p[0], EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0,
		       NULL);
		CHECK_ERR(kevent(kq, &ch, 1, ev, 4, &ts0), EBADF);
		EV_SET(&ch, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
		CHECK_ERR(kevent(kq, &ch, 1, NULL, 0, NULL), EBADF);
		EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xbad);
		CHECK_ERR(kevent(kq, &ch, 1, NULL, 0, NULL), EBADF);
		/* The number is not open here. */
		CHECK_ERR(dup(kq), EBADF);
		write_n(ready[1], 1);
		child_sync_read(go[0]);
		_exit(0);
	}
	CHECK_OK(close(ready[1]));
	await_child_byte(ready[0], pid);
	/* While the child lives, and after: the parent's knote as it was. */
	EXPECT_COUNTER(NR_KN, kn0);
	struct kevent ev;
	kev_expect(kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xf1);
	CHECK_EQ(ev.data, 2);
	kev_expect_none(kq, p[1], EVFILT_WRITE);
	write_n(go[1], 1);
	wait_child_ok(pid);
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect(kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xf1);
}

TEST(fork_child_closes_leave_parent_knotes)
{
	enum { RFD = 1000, GFD = 1001 };
	int kq = kq_new(), inner = kq_new();
	int a[2], b[2], c[2], sv[2], ready[2], go[2];

	raise_nofile(1100);
	make_pipe(a);
	make_pipe(b);
	make_pipe(c);
	make_unix_pair(SOCK_STREAM, sv);
	make_pipe(ready);
	make_pipe(go);
	int d = dup(a[0]);
	CHECK_OK(d);
	kev_add(kq, a[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x2);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, (void *)0x3);
	kev_add(kq, b[1], EVFILT_WRITE, EV_ADD, 0, 0, (void *)0x4);
	kev_add(kq, d, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)0x5);
	kev_add(inner, c[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, inner, EVFILT_READ, EV_ADD, 0, 0, (void *)0x6);
	long long kn0 = counter_base(NR_KN);
	long long kq0 = counter_base(NR_KQ);

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		CHECK_EQ(dup2(ready[1], RFD), RFD);
		CHECK_EQ(dup2(go[0], GFD), GFD);
		/* (The kqueues themselves are not in its table.) */
		CHECK_ERR(close(kq), EBADF);
		CHECK_ERR(close(inner), EBADF);
		/* Every way of closing its copies... */
		int dn = open("/dev/null", O_RDWR);
		CHECK_OK(dn);
		CHECK_EQ(dup2(dn, sv[0]), sv[0]);
		CHECK_EQ(dup3(dn, b[1], O_CLOEXEC), b[1]);
		CHECK_OK(close(a[0]));
		write_n(a[1], 3);
		write_n(c[1], 1);
		write_n(sv[1], 4);
		/* ...then everything but the two sync descriptors. */
		CHECK_OK(syscall(SYS_close_range, 3, RFD - 1, 0));
		CHECK_EQ(write(RFD, "r", 1), 1);
		child_sync_read(GFD);
		_exit(0);
	}
	CHECK_OK(close(ready[1]));
	for (int pass = 0; pass < 2; pass++) {
		struct kevent ev[16];

		if (pass == 0) {
			await_child_byte(ready[0], pid);
		} else {
			write_n(go[1], 1);
			wait_child_ok(pid);
		}
		EXPECT_COUNTER(NR_KN, kn0);
		EXPECT_COUNTER(NR_KQ, kq0);
		sleep_ms(20);	/* the socket's data is asynchronous */
		int n = kev_poll(kq, ev, 16);
		const struct kevent *k;

		k = kev_find(ev, n, a[0], EVFILT_READ);
		CHECKF(k && k->udata == (void *)0x1 && k->data == 3,
		       "pass %d: a[0]: %s", pass, k ? kev_str(k) : "none");
		k = kev_find(ev, n, sv[0], EVFILT_READ);
		CHECKF(k && k->udata == (void *)0x2 && k->data == 4,
		       "pass %d: sv[0] READ: %s", pass,
		       k ? kev_str(k) : "none");
		k = kev_find(ev, n, sv[0], EVFILT_WRITE);
		CHECKF(k && k->udata == (void *)0x3, "pass %d: sv[0] WRITE: %s",
		       pass, k ? kev_str(k) : "none");
		k = kev_find(ev, n, b[1], EVFILT_WRITE);
		CHECKF(k && k->udata == (void *)0x4, "pass %d: b[1]: %s", pass,
		       k ? kev_str(k) : "none");
		k = kev_find(ev, n, d, EVFILT_READ);
		/* EV_CLEAR: reported once, in the first pass. */
		if (pass == 0)
			CHECKF(k && k->udata == (void *)0x5 && k->data == 3,
			       "d: %s", k ? kev_str(k) : "none");
		else
			CHECKF(!k, "d again: %s", kev_str(k));
		k = kev_find(ev, n, inner, EVFILT_READ);
		CHECKF(k && k->udata == (void *)0x6 && k->data == 1,
		       "pass %d: inner: %s", pass, k ? kev_str(k) : "none");
		CHECKF(n == 6 - pass, "pass %d: %d events", pass, n);
	}
}

TEST(fork_child_cannot_consume_parent_events)
{
	int kq = kq_new();
	int p[2], q[2], r[2], sp[2];

	make_unix_pair(SOCK_STREAM, sp);
	make_pipe(p);
	make_pipe(q);
	make_pipe(r);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, (void *)1);
	kev_add(kq, q[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)2);
	kev_add(kq, r[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, (void *)3);
	write_n(p[1], 1);
	write_n(q[1], 2);
	write_n(r[1], 3);
	long long kn0 = counter_base(NR_KN);

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		struct timeval tv = { 0, 0 };
		struct epoll_event ee = { .events = EPOLLIN };
		struct kevent ev[4];
		fd_set rs;

		alarm(kqt_scaled_s(10));
		/* Not inherited: the parent's kqueue comes over a socket. */
		CHECK_ERR(fcntl(kq, F_GETFD), EBADF);
		kq = recv_fd(sp[1]);
		struct pollfd pfd = { .fd = kq, .events = POLLIN };
		for (int i = 0; i < 3; i++) {
			CHECK_OK(poll(&pfd, 1, 0));
			FD_ZERO(&rs);
			FD_SET(kq, &rs);
			CHECK_OK(select(kq + 1, &rs, NULL, NULL, &tv));
		}
		int ep = epoll_create1(EPOLL_CLOEXEC);
		CHECK_OK(ep);
		CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, kq, &ee));
		CHECK_OK(epoll_wait(ep, &ee, 1, 0));
		CHECK_OK(epoll_wait(ep, &ee, 1, 0));
		/*
		 * Its own kqueue watching the parent's (FreeBSD would not
		 * let it: a kqueue cannot be passed there); if the module
		 * allows it, collecting must not consume anything.
		 */
		int own = kq_new();
		if (kev_change(own, kq, EVFILT_READ, EV_ADD, 0, 0, NULL) == 0) {
			kev_poll(own, ev, 4);
			kev_poll(own, ev, 4);
		}
		_exit(0);
	}
	send_fd(sp[0], kq);
	wait_child_ok(pid);
	EXPECT_COUNTER(NR_KN, kn0);
	struct kevent ev[8];
	int n = kev_poll(kq, ev, 8);
	CHECKF(n == 3, "the parent got %d of its 3 pending events", n);
	const struct kevent *k = kev_find(ev, n, p[0], EVFILT_READ);
	CHECKF(k && k->udata == (void *)1 && k->data == 1, "oneshot: %s",
	       k ? kev_str(k) : "none");
	k = kev_find(ev, n, q[0], EVFILT_READ);
	CHECKF(k && k->udata == (void *)2 && k->data == 2, "clear: %s",
	       k ? kev_str(k) : "none");
	k = kev_find(ev, n, r[0], EVFILT_READ);
	CHECKF(k && k->udata == (void *)3 && k->data == 3, "dispatch: %s",
	       k ? kev_str(k) : "none");
	kev_expect_empty(kq);
	EXPECT_COUNTER(NR_KN, kn0 - 1);
}

TEST(fork_child_own_kqueue_independent)
{
	int kq = kq_new();
	int p[2], ready[2], go[2];

	make_pipe(p);
	make_pipe(ready);
	make_pipe(go);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1);
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		int own = kq_new();
		struct kevent ev;

		alarm(kqt_scaled_s(20));
		kev_add(own, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x2);
		kev_expect_empty(own);
		write_n(ready[1], 1);
		/* The parent wrote 4 bytes: seen here with this udata. */
		child_sync_read(go[0]);
		kev_expect_data(own, p[0], EVFILT_READ, 4, WAIT_MS_DEFAULT,
				&ev);
		CHECK(ev.udata == (void *)0x2);
		read_n(p[0], 4);
		kev_expect_empty(own);
		write_n(ready[1], 1);
		/* The parent closed its p[0]: this knote is unaffected. */
		child_sync_read(go[0]);
		kev_expect_data(own, p[0], EVFILT_READ, 5, WAIT_MS_DEFAULT,
				&ev);
		CHECK(ev.udata == (void *)0x2);
		_exit(0);
	}
	CHECK_OK(close(ready[1]));
	await_child_byte(ready[0], pid);
	EXPECT_COUNTER(NR_KQ, kq0 + 1);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	write_n(p[1], 4);
	struct kevent ev[4];
	kev_expect_data(kq, p[0], EVFILT_READ, 4, WAIT_MS_DEFAULT, &ev[0]);
	CHECK(ev[0].udata == (void *)0x1);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);	/* not the child's */
	write_n(go[1], 1);
	await_child_byte(ready[0], pid);	/* the child read the data */
	kev_expect_empty(kq);

	/* The parent's close removes its knote only. */
	CHECK_OK(close(p[0]));
	EXPECT_COUNTER(NR_KN, kn0);
	write_n(p[1], 5);		/* the child still has a reader */
	kev_expect_empty(kq);
	write_n(go[1], 1);
	wait_child_ok(pid);
	EXPECT_COUNTER(NR_KN, kn0 - 1);
	EXPECT_COUNTER(NR_KQ, kq0);
}

/* ---- a shared descriptor table ------------------------------------------ */

struct shared_arg {
	int kq;
	int p[2];	/* registered by the parent */
	int q[2];	/* registered by the clone */
};

static int shared_main(void *v)
{
	struct shared_arg *a = v;
	struct kevent ev;

	/* Same descriptor table: the kqueue is this process's too. */
	kev_expect(a->kq, a->p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0x11);
	kev_add(a->kq, a->q[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x22);
	/* A close here is a close of the parent's descriptor. */
	CHECK_OK(close(a->p[0]));
	_exit(0);
}

TEST(fork_clone_files_shares_kqueue)
{
	enum { STACK = 256 * 1024 };
	struct shared_arg a;
	char *stack = malloc(STACK);
	struct kevent ev[4];

	CHECK(stack != NULL);
	a.kq = kq_new();
	make_pipe(a.p);
	make_pipe(a.q);
	kev_add(a.kq, a.p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x11);
	write_n(a.p[1], 1);
	long long kn0 = counter_base(NR_KN);

	pid_t pid = clone(shared_main, stack + STACK, CLONE_FILES | SIGCHLD,
			  &a);
	CHECK_OK(pid);
	wait_child_ok(pid);
	/* Its registration is in our kqueue; our knote went with its close. */
	EXPECT_COUNTER(NR_KN, kn0);
	CHECK_ERR(fcntl(a.p[0], F_GETFD), EBADF);
	write_n(a.q[1], 2);
	int n = kev_poll(a.kq, ev, 4);
	CHECKF(n == 1, "%d events, first %s", n, n ? kev_str(&ev[0]) : "-");
	CHECK_EQ(ev[0].ident, a.q[0]);
	CHECK(ev[0].udata == (void *)0x22);
	CHECK_EQ(ev[0].data, 2);
	free(stack);
}

/* ---- exec ---------------------------------------------------------------- */

static void cloexec_kqueues_setup(void *arg)
{
	int k1 = kqueuex(KQUEUE_CLOEXEC);
	int k2 = kqueue1(O_CLOEXEC);
	int k3 = kq_new();
	int a[2], b[2];

	(void)arg;
	CHECKF(k1 >= 0 && k2 >= 0, "kqueuex/kqueue1: %s", kqt_errname(errno));
	make_pipe(a);
	make_pipe(b);
	kev_add(k1, a[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(k1, a[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_add(k2, a[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(k3, b[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	/* k3 survives the exec; its knote on k1 must not. */
	kev_add(k3, k1, EVFILT_READ, EV_ADD, 0, 0, NULL);
}

/* Seen through the module's counters only: module only. */
TEST(fork_exec_closes_cloexec_kqueues)
{
	require_module_counters();
	int gate = kq_new();
	long long kq0 = read_counter(NR_KQ);
	long long kn0 = read_counter(NR_KN);
	struct exec_child ec;

	exec_child_start(&ec, cloexec_kqueues_setup, NULL);
	expect_counter(NR_KQ, kq0 + 3);
	expect_counter(NR_KN, kn0 + 5);
	exec_child_exec(&ec);
	/* /bin/sleep still holds k3 with its knote on the pipe. */
	expect_counter(NR_KQ, kq0 + 1);
	expect_counter(NR_KN, kn0 + 1);
	exec_child_end(&ec);
	expect_counter(NR_KQ, kq0);
	expect_counter(NR_KN, kn0);
	CHECK_OK(close(gate));
}

/* The kqueue descriptors a child must not have, and one it must keep. */
struct fork_fds {
	int kq, kq_cloexec, pipe_rd;
};

static void fork_fds_make(struct fork_fds *f, int p[2])
{
	f->kq = kq_new();
	f->kq_cloexec = kqueuex(KQUEUE_CLOEXEC);
	CHECK_OK(f->kq_cloexec);
	make_pipe(p);
	f->pipe_rd = p[0];
	kev_add(f->kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xf0);
	kev_add(f->kq_cloexec, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xf1);
}

/*
 * FreeBSD does not copy a kqueue into a fork child's table (the file type
 * is not inheritable): the child finds the numbers free.
 */
TEST(bsd_fork_child_has_no_kqueue_descriptor)
{
	struct fork_fds f;
	int p[2];

	fork_fds_make(&f, p);
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		const int gone[] = { f.kq, f.kq_cloexec };
		struct stat st;

		alarm(kqt_scaled_s(10));
		for (unsigned int i = 0; i < 2; i++) {
			CHECK_ERR(fcntl(gone[i], F_GETFD), EBADF);
			CHECK_ERR(fstat(gone[i], &st), EBADF);
			CHECK_ERR(close(gone[i]), EBADF);
		}
		/* Other descriptors are inherited as ever. */
		CHECK_OK(fcntl(f.pipe_rd, F_GETFD));
		/* The lowest free number is the first kqueue's again. */
		int lowest = f.kq < f.kq_cloexec ? f.kq : f.kq_cloexec;
		int d = open("/dev/null", O_RDONLY);
		CHECKF(d <= lowest, "open() got %d, the kqueue had %d", d,
		       lowest);
		_exit(0);
	}
	wait_child_ok(pid);
	/* The parent's kqueues, their numbers and knotes: as they were. */
	EXPECT_COUNTER(NR_KQ, kq0);
	EXPECT_COUNTER(NR_KN, kn0);
	write_n(p[1], 1);
	struct kevent ev;
	kev_expect(f.kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xf0);
	kev_expect(f.kq_cloexec, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xf1);
}

/*
 * posix_spawn() makes its child with clone(CLONE_VM | CLONE_VFORK), which
 * runs no pthread_atfork() handler: the program it runs must not find the
 * kqueues either (a kqueue without close-on-exec survives exec, so a
 * shell tests whether the number is open).
 */
TEST(bsd_fork_spawn_child_has_no_kqueue_descriptor)
{
	struct fork_fds f;
	int p[2];
	char script[128];

	fork_fds_make(&f, p);
	snprintf(script, sizeof(script),
		 "test -e /proc/self/fd/%d && exit 3; "
		 "test -e /proc/self/fd/%d || exit 4; exit 0",
		 f.kq, f.pipe_rd);
	char *argv[] = { "sh", "-c", script, NULL };
	extern char **environ;
	pid_t pid;

	CHECK_EQ(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
	wait_child_ok(pid);
	write_n(p[1], 1);
	struct kevent ev;
	kev_expect(f.kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
}

/* A dup() of a kqueue descriptor is a kqueue descriptor too. */
TEST(bsd_fork_child_has_no_dup_of_kqueue)
{
	int kq = kq_new();
	int d = dup(kq);

	CHECK_OK(d);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		alarm(kqt_scaled_s(10));
		CHECK_ERR(fcntl(d, F_GETFD), EBADF);
		_exit(0);
	}
	wait_child_ok(pid);
	CHECK_OK(fcntl(d, F_GETFD));
}
