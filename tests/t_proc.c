/*
 * t_proc.c - EVFILT_PROC: ident is a pid; EV_CLEAR is implied and what is
 * reported is consumed.
 *
 *   - NOTE_EXIT: data is the wait status waitpid() reports (exit(3) ->
 *     WEXITSTATUS 3, SIGKILL -> WTERMSIG 9), with EV_EOF and EV_ONESHOT,
 *     and the knote is gone afterwards (nr_knotes); for a child, for a
 *     process that is not a child (a grandchild), for a multi-threaded
 *     process whose main thread left first (the status of the group, at
 *     the last thread), for a zombie registered afterwards (reported at
 *     once) and for many processes at once;
 *   - NOTE_FORK (not for a new thread), NOTE_EXEC;
 *   - NOTE_TRACK: each child gets a knote reporting NOTE_CHILD with data =
 *     the parent's pid, then its own events, grandchildren too, even when
 *     the child exits at once; the parent reports NOTE_FORK (if asked), and
 *     NOTE_TRACKERR when the child's knote cannot be made (the per-user
 *     knote cap); closing the kqueue with children pending frees them;
 *   - errors: ESRCH for pids that do not exist (reaped, 0, huge, a thread
 *     id, a zombie without NOTE_EXIT), EPERM for an unprivileged user
 *     watching root's process; a process exiting with nothing asked left to
 *     report is dropped silently; EV_DELETE.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KN	"nr_knotes"

/*
 * Events are read in batches and kept, so that waiting for one process's
 * event does not throw away another's (EV_CLEAR consumes what is read).
 */
#define EVQ_MAX	512
static struct kevent evq[EVQ_MAX];
static int evq_n;

static void evq_fill(const char *file, int line, int kq, int ms)
{
	struct kevent ev[16];
	int n = kev_wait_at(file, line, kq, ev, 16, ms);

	for (int i = 0; i < n; i++) {
		if (evq_n == EVQ_MAX)
			kqt_fail(file, line, "too many events kept");
		evq[evq_n++] = ev[i];
	}
}

static int evq_take(pid_t pid, struct kevent *out)
{
	for (int i = 0; i < evq_n; i++) {
		if (evq[i].ident != (uintptr_t)pid ||
		    evq[i].filter != EVFILT_PROC)
			continue;
		if (out)
			*out = evq[i];
		memmove(&evq[i], &evq[i + 1],
			(size_t)(evq_n - i - 1) * sizeof(evq[0]));
		evq_n--;
		return 1;
	}
	return 0;
}

/* The next event of (pid, EVFILT_PROC), in order, within ms. */
static void proc_next_at(const char *file, int line, int kq, pid_t pid,
			 int ms, struct kevent *out)
{
	long long deadline = now_ms() + ms;
	bool asked = false;

	for (;;) {
		long long left = deadline - now_ms();

		if (evq_take(pid, out))
			return;
		/* At least one kevent() call, however slow the machine. */
		if (left < 0 && asked)
			kqt_fail(file, line, "no event for pid %d within %d ms",
				 (int)pid, ms);
		if (left < 0)
			left = 0;
		evq_fill(file, line, kq, left > 100 ? 100 : (int)left);
		asked = true;
	}
}
#define proc_next(kq, pid, ms, out) \
	proc_next_at(__FILE__, __LINE__, kq, pid, ms, out)

/* No event of pid now (a zero-timeout poll). */
static void proc_none_at(const char *file, int line, int kq, pid_t pid)
{
	struct kevent ev;

	evq_fill(file, line, kq, 0);
	if (evq_take(pid, &ev))
		kqt_fail(file, line, "unexpected event %s", kev_str(&ev));
}
#define proc_none(kq, pid)	proc_none_at(__FILE__, __LINE__, kq, pid)

/* A child that waits for a byte on a pipe, then runs fn(arg). */
struct held {
	pid_t pid;
	int go;		/* write a byte to release it */
};

static void held_start(struct held *h, void (*fn)(int), int arg)
{
	int p[2];
	char c;

	make_pipe(p);
	h->pid = fork();
	CHECK_OK(h->pid);
	if (h->pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(120);
		fn(arg);
		_exit(121);
	}
	close(p[0]);
	h->go = p[1];
}

static void held_release(struct held *h)
{
	CHECK_EQ(write(h->go, "g", 1), 1);
	close(h->go);
}

static void do_exit(int code)
{
	_exit(code);
}

static void do_pause(int unused)
{
	(void)unused;
	for (;;)
		pause();
}

/*
 * Collects the events of (pid, EVFILT_PROC) until one has EV_EOF (or
 * until the timeout); returns the OR of their fflags and the last event.
 */
static unsigned int collect_until_eof(int kq, pid_t pid, struct kevent *last)
{
	long long deadline = now_ms() + WAIT_MS_DEFAULT;
	unsigned int all = 0;
	struct kevent ev;

	for (;;) {
		long long left = deadline - now_ms();

		CHECKF(left > 0, "no EV_EOF for pid %d (fflags so far %#x)",
		       (int)pid, all);
		proc_next(kq, pid, (int)left, &ev);
		all |= ev.fflags;
		if (ev.flags & EV_EOF)
			break;
	}
	*last = ev;
	return all;
}

TEST(proc_exit_status_exit3)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	struct held h;
	struct kevent ev;
	int st;

	held_start(&h, do_exit, 3);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		(void *)0x77);
	CHECK_COUNTER(NR_KN, ==, kn0 + 1);
	proc_none(kq, h.pid);
	held_release(&h);

	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ(ev.ident, (uintptr_t)h.pid);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(ev.flags & EV_EOF);
	CHECK(ev.flags & EV_CLEAR);
	CHECK(ev.udata == (void *)0x77);
	CHECKF(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 3,
	       "data %#llx", (long long)ev.data);
	/* Reported when it became waitable: the zombie is there. */
	CHECK_EQ(waitpid(h.pid, &st, WNOHANG), h.pid);
	CHECK_EQ(st, ev.data);
	/* Gone with the report (taken from the ring: dropped soon after). */
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	CHECK_EQ(kev_change(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_DELETE, 0,
			    0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
}

/*
 * FreeBSD (and the module) report NOTE_EXIT with EV_ONESHOT as well as
 * EV_EOF and EV_CLEAR: the knote is gone with that report, and the flags
 * say so.
 */
TEST(bsd_proc_exit_reports_oneshot)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;

	held_start(&h, do_exit, 5);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	held_release(&h);
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK_EQ_HEX(ev.flags & (EV_ONESHOT | EV_EOF | EV_CLEAR),
		     EV_ONESHOT | EV_EOF | EV_CLEAR);
	proc_none(kq, h.pid);
	CHECK_EQ(kev_change(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_DELETE, 0,
			    0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

TEST(proc_exit_status_sigkill)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;
	int st;

	held_start(&h, do_pause, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	held_release(&h);
	sleep_ms(20);
	proc_none(kq, h.pid);
	CHECK_OK(kill(h.pid, SIGKILL));
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(ev.flags & EV_EOF);
	CHECKF(WIFSIGNALED(ev.data) && WTERMSIG(ev.data) == SIGKILL,
	       "data %#llx", (long long)ev.data);
	CHECK_EQ(waitpid(h.pid, &st, 0), h.pid);
	CHECK_EQ(st, ev.data);
}

/*
 * A child forks a grandchild held on a pipe and passes its pid up; the
 * test watches the grandchild, which is not its child, and the child reaps
 * it.
 */
static void grandchild_case(int sig, int code)
{
	int kq = kq_new();
	int up[2], go[2];
	pid_t gpid;
	struct kevent ev;

	make_pipe(up);
	make_pipe(go);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		char c;
		int st;

		pid_t g = fork();
		if (g < 0)
			_exit(1);
		if (g == 0) {
			if (read(go[0], &c, 1) != 1)
				_exit(100);
			if (sig)
				for (;;)
					pause();
			_exit(code);
		}
		if (write(up[1], &g, sizeof(g)) != sizeof(g))
			_exit(2);
		if (waitpid(g, &st, 0) != g)
			_exit(3);
		_exit(0);
	}
	CHECK_EQ(read(up[0], &gpid, sizeof(gpid)), (ssize_t)sizeof(gpid));
	kev_add(kq, (uintptr_t)gpid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
	CHECK_EQ(write(go[1], "g", 1), 1);
	if (sig) {
		sleep_ms(20);
		CHECK_OK(kill(gpid, sig));
	}
	proc_next(kq, gpid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(ev.flags & EV_EOF);
	if (sig)
		CHECKF(WIFSIGNALED(ev.data) && WTERMSIG(ev.data) == sig,
		       "data %#llx", (long long)ev.data);
	else
		CHECKF(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == code,
		       "data %#llx", (long long)ev.data);
	wait_child_ok(pid);
}

TEST(proc_exit_nonchild_status)
{
	grandchild_case(0, 42);
}

TEST(proc_exit_nonchild_sigkill)
{
	grandchild_case(SIGKILL, 0);
}

/* SIGTERM from the default action: WTERMSIG 15. */
TEST(proc_exit_status_sigterm)
{
	grandchild_case(SIGTERM, 0);
}

static void *exit6_thread(void *arg)
{
	(void)arg;
	sleep_ms(300);
	exit(6);
}

static void threads_then_exit(int unused)
{
	pthread_t t;

	(void)unused;
	if (pthread_create(&t, NULL, exit6_thread, NULL) != 0)
		_exit(99);
	/* The main thread leaves first (exit(2), not exit_group(2)). */
	syscall(SYS_exit, 0);
	_exit(98);
}

TEST(proc_exit_multithreaded_group_status)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;
	int st;

	held_start(&h, threads_then_exit, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	held_release(&h);
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	/* Not the main thread's 0: the process's status. */
	CHECKF(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 6,
	       "data %#llx", (long long)ev.data);
	CHECK_EQ(waitpid(h.pid, &st, 0), h.pid);
	CHECK_EQ(st, ev.data);
}

TEST(proc_zombie_reported_at_once)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	siginfo_t si;
	struct kevent ev;
	int st;

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0)
		_exit(4);
	/* Wait until it is a zombie, without reaping it. */
	memset(&si, 0, sizeof(si));
	CHECK_OK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT));
	CHECK_EQ(si.si_pid, pid);

	/* Without NOTE_EXIT there is nothing to watch (FreeBSD: ESRCH). */
	CHECK_EQ(kev_change(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD,
			    NOTE_FORK | NOTE_EXEC, 0, NULL), -1);
	CHECK_EQ(errno, ESRCH);
	CHECK_COUNTER(NR_KN, ==, kn0);

	kev_add(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
	proc_next(kq, pid, 0, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(ev.flags & EV_EOF);
	CHECKF(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 4,
	       "data %#llx", (long long)ev.data);
	EXPECT_COUNTER(NR_KN, kn0);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_EQ(st, ev.data);
	/* Reaped: ESRCH. */
	CHECK_EQ(kev_change(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD,
			    NOTE_EXIT, 0, NULL), -1);
	CHECK_EQ(errno, ESRCH);
}

static atomic_int thread_tid;

static void *tid_thread(void *arg)
{
	(void)arg;
	atomic_store(&thread_tid, (int)syscall(SYS_gettid));
	pause();
	return NULL;
}

TEST(proc_esrch)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	pthread_t t;

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0)
		_exit(0);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);

	atomic_store(&thread_tid, 0);
	CHECK_EQ(pthread_create(&t, NULL, tid_thread, NULL), 0);
	while (!atomic_load(&thread_tid))
		sleep_ms(1);

	const uintptr_t bad[] = {
		(uintptr_t)pid, 0, 4194304 + 1, (uintptr_t)INT32_MAX,
		(uintptr_t)-1,
#if UINTPTR_MAX > UINT32_MAX
		(uintptr_t)1 << 32 | 1,
#endif
		(uintptr_t)atomic_load(&thread_tid),
	};

	if (KQT_ABI_BITS == 32)
		kqt_abi_note("ident 2^32 + 1 (pid 1 in the low 32 bits) "
			     "not checked");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kevent ch, ev[2];

		errno = 0;
		int r = kev_change(kq, bad[i], EVFILT_PROC, EV_ADD, NOTE_EXIT,
				   0, NULL);
		CHECKF(r == -1 && errno == ESRCH, "pid %#llx: %d/%s",
		       (unsigned long long)bad[i], r, kqt_errname(errno));
		EV_SET(&ch, bad[i], EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
		r = kevent(kq, &ch, 1, ev, 2, NULL);
		CHECK_EQ(r, 1);
		CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
		CHECK_EQ(ev[0].data, ESRCH);
	}
	CHECK_COUNTER(NR_KN, ==, kn0);
	/* Positive control: this process, and its main thread's id. */
	kev_add(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	kev_expect_empty(kq);
}

static void unprivileged_watch(void *arg)
{
	pid_t root_pid = *(pid_t *)arg;
	int kq;

	drop_privileges(65534);
	kq = kq_new();
	/* root's processes: EPERM, whatever is asked. */
	CHECK_EQ(kev_change(kq, (uintptr_t)root_pid, EVFILT_PROC, EV_ADD,
			    NOTE_EXIT, 0, NULL), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(kev_change(kq, 1, EVFILT_PROC, EV_ADD, NOTE_FORK, 0, NULL),
		 -1);
	CHECK_EQ(errno, EPERM);
	/* A pid that does not exist is still ESRCH. */
	CHECK_EQ(kev_change(kq, 0, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL),
		 -1);
	CHECK_EQ(errno, ESRCH);

	/* Its own child (same uid): allowed. */
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	kev_add(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
	kev_add(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD, NOTE_FORK, 0,
		NULL);
	CHECK_OK(kill(pid, SIGKILL));
	struct kevent ev;
	proc_next(kq, pid, WAIT_MS_DEFAULT, &ev);
	CHECK(WIFSIGNALED(ev.data));
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
}

static void no_cleanup(void *arg)
{
	(void)arg;
}

TEST(proc_eperm_other_user)
{
	pid_t self = getpid();

	if (geteuid() != 0)
		FAIL("needs root (to become nobody)");
	run_child_then(unprivileged_watch, &self, no_cleanup, NULL);
}

static void do_fork_child(int code)
{
	pid_t p = fork();

	if (p < 0)
		_exit(1);
	if (p == 0)
		_exit(code);
	if (waitpid(p, NULL, 0) != p)
		_exit(2);
	_exit(0);
}

TEST(proc_fork)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;

	held_start(&h, do_fork_child, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_FORK | NOTE_EXIT, 0, NULL);
	proc_none(kq, h.pid);
	held_release(&h);
	unsigned int all = collect_until_eof(kq, h.pid, &ev);
	CHECK_EQ_HEX(all, NOTE_FORK | NOTE_EXIT);
	CHECK(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 0);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

static void *noop_thread(void *arg)
{
	return arg;
}

/* This process: the fork is recorded before fork() returns. */
TEST(proc_fork_self_not_threads)
{
	int kq = kq_new();
	struct kevent ev;
	pthread_t t;

	kev_add(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD, NOTE_FORK, 0,
		NULL);
	CHECK_EQ(pthread_create(&t, NULL, noop_thread, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	proc_none(kq, getpid());

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0)
		_exit(0);
	proc_next(kq, getpid(), 0, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_FORK);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	/* Consumed (EV_CLEAR). */
	proc_none(kq, getpid());
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	/* The child's exit is not ours. */
	proc_none(kq, getpid());

	/* Two forks before a report: one event. */
	for (int i = 0; i < 2; i++) {
		pid = fork();
		CHECK_OK(pid);
		if (pid == 0)
			_exit(0);
		CHECK_EQ(waitpid(pid, NULL, 0), pid);
	}
	proc_next(kq, getpid(), 0, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_FORK);
	proc_none(kq, getpid());

	/* vfork is a fork too. */
	pid = vfork();
	if (pid == 0)
		_exit(0);
	CHECK_OK(pid);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	proc_next(kq, getpid(), 0, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_FORK);
}

static void do_exec_true(int unused)
{
	(void)unused;
	execl("/bin/true", "true", (char *)NULL);
	_exit(127);
}

TEST(proc_exec)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;

	held_start(&h, do_exec_true, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_EXEC | NOTE_EXIT, 0, NULL);
	held_release(&h);
	unsigned int all = collect_until_eof(kq, h.pid, &ev);
	CHECK_EQ_HEX(all, NOTE_EXEC | NOTE_EXIT);
	CHECKF(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 0,
	       "data %#llx (did /bin/true run?)", (long long)ev.data);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);

	/* Only what is asked is reported: NOTE_EXIT alone. */
	held_start(&h, do_exec_true, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	held_release(&h);
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

/* exec of a long-lived program: NOTE_EXEC alone, no EV_EOF. */
static void do_exec_sleep(int unused)
{
	(void)unused;
	execl("/bin/sleep", "sleep", "30", (char *)NULL);
	_exit(127);
}

TEST(proc_exec_alone)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;

	held_start(&h, do_exec_sleep, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_EXEC | NOTE_EXIT, 0, NULL);
	held_release(&h);
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXEC);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	CHECK_EQ(ev.data, 0);
	proc_none(kq, h.pid);
	CHECK_OK(kill(h.pid, SIGKILL));
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(WIFSIGNALED(ev.data) && WTERMSIG(ev.data) == SIGKILL);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

/*
 * A tracked process: forks a child that exits with gcode once it reads a
 * byte from track_go_fd, sends the child's pid up track_up_fd, reaps it and
 * exits 0.
 */
static int track_go_fd;
static int track_up_fd;

static void track_parent(int gcode)
{
	char c;
	int st;

	pid_t g = fork();
	if (g < 0)
		_exit(1);
	if (g == 0) {
		if (read(track_go_fd, &c, 1) != 1)
			_exit(100);
		_exit(gcode);
	}
	if (write(track_up_fd, &g, sizeof(g)) != sizeof(g))
		_exit(2);
	if (waitpid(g, &st, 0) != g)
		_exit(3);
	_exit(0);
}

/* Events of (pid, EVFILT_PROC) in order, until EV_EOF. */
struct proc_log {
	unsigned int fflags[8];
	int64_t data[8];
	void *udata[8];
	int n;
};

static void log_until_eof(int kq, pid_t pid, struct proc_log *log)
{
	long long deadline = now_ms() + WAIT_MS_DEFAULT;
	struct kevent ev;

	memset(log, 0, sizeof(*log));
	for (;;) {
		long long left = deadline - now_ms();

		CHECKF(left > 0 && log->n < 8, "pid %d: %d events, no EV_EOF",
		       (int)pid, log->n);
		proc_next(kq, pid, (int)left, &ev);
		log->fflags[log->n] = ev.fflags;
		log->data[log->n] = ev.data;
		log->udata[log->n] = ev.udata;
		log->n++;
		if (ev.flags & EV_EOF)
			return;
	}
}

TEST(proc_track_child)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int up[2], go[2];
	struct held h;
	struct kevent ev;
	pid_t gpid;

	make_pipe(up);
	make_pipe(go);
	track_go_fd = go[0];
	track_up_fd = up[1];
	held_start(&h, track_parent, 5);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_TRACK | NOTE_FORK | NOTE_EXIT, 0, (void *)0xab);
	held_release(&h);
	CHECK_EQ(read(up[0], &gpid, sizeof(gpid)), (ssize_t)sizeof(gpid));

	/* The parent: NOTE_FORK. */
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_FORK);
	CHECK(ev.udata == (void *)0xab);
	/* The child: NOTE_CHILD, data = parent pid, the parent's udata. */
	proc_next(kq, gpid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_CHILD);
	CHECK_EQ(ev.data, h.pid);
	CHECK(ev.udata == (void *)0xab);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	CHECK_COUNTER(NR_KN, ==, kn0 + 2);

	/* The child's exit, through its own knote. */
	CHECK_EQ(write(go[1], "g", 1), 1);
	proc_next(kq, gpid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(ev.flags & EV_EOF);
	CHECKF(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 5,
	       "data %#llx", (long long)ev.data);
	proc_next(kq, h.pid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 0);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
	EXPECT_COUNTER(NR_KN, kn0);
}

/* NOTE_TRACK without NOTE_FORK: the parent reports nothing for a fork. */
TEST(proc_track_without_fork)
{
	int kq = kq_new();
	int up[2], go[2];
	struct held h;
	struct kevent ev;
	pid_t gpid;

	make_pipe(up);
	make_pipe(go);
	track_go_fd = go[0];
	track_up_fd = up[1];
	held_start(&h, track_parent, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_TRACK | NOTE_EXIT, 0, NULL);
	held_release(&h);
	CHECK_EQ(read(up[0], &gpid, sizeof(gpid)), (ssize_t)sizeof(gpid));
	proc_next(kq, gpid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_CHILD);
	CHECK_EQ(ev.data, h.pid);
	proc_none(kq, h.pid);
	CHECK_EQ(write(go[1], "g", 1), 1);
	struct proc_log log;
	log_until_eof(kq, h.pid, &log);
	CHECK_EQ(log.n, 1);
	CHECK_EQ_HEX(log.fflags[0], NOTE_EXIT);
	proc_next(kq, gpid, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

/*
 * The tracked child exits at once, likely before its knote exists: its
 * NOTE_CHILD and its exit are still reported, in that order; and its own
 * child (tracked too) reports NOTE_CHILD with its pid.
 */
static void fork_chain(int depth)
{
	pid_t pair[2];
	int st;

	for (int d = depth; d > 0; d--) {
		pair[0] = getpid();
		pair[1] = fork();
		if (pair[1] < 0)
			_exit(1);
		if (pair[1] == 0)
			continue;	/* the child goes one level down */
		if (write(track_up_fd, pair, sizeof(pair)) != sizeof(pair))
			_exit(2);
		if (waitpid(pair[1], &st, 0) != pair[1])
			_exit(3);
		_exit(d == depth ? 0 : 8);
	}
	_exit(9);
}

TEST(proc_track_fast_exit_and_grandchild)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int up[2];
	struct held h;
	pid_t c1 = 0, c2 = 0, pair[2];
	struct proc_log log;

	make_pipe(up);
	track_up_fd = up[1];
	/* h -> c1 -> c2, c2 exits 9 at once, c1 8, h 0. */
	held_start(&h, fork_chain, 2);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_TRACK | NOTE_EXIT | NOTE_FORK, 0, (void *)5);
	held_release(&h);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(read(up[0], pair, sizeof(pair)),
			 (ssize_t)sizeof(pair));
		if (pair[0] == h.pid)
			c1 = pair[1];
		else
			c2 = pair[1];
	}
	CHECK(c1 > 0 && c2 > 0);

	log_until_eof(kq, c2, &log);
	CHECK_EQ(log.n, 2);
	CHECK_EQ_HEX(log.fflags[0], NOTE_CHILD);
	CHECK_EQ(log.data[0], c1);
	CHECK_EQ_HEX(log.fflags[1], NOTE_EXIT);
	CHECK(WIFEXITED(log.data[1]) && WEXITSTATUS(log.data[1]) == 9);
	CHECK(log.udata[1] == (void *)5);

	log_until_eof(kq, c1, &log);
	CHECK_EQ_HEX(log.fflags[0], NOTE_CHILD);
	CHECK_EQ(log.data[0], h.pid);
	unsigned int rest = 0;
	for (int i = 1; i < log.n; i++)
		rest |= log.fflags[i];
	CHECK_EQ_HEX(rest, NOTE_FORK | NOTE_EXIT);
	CHECK(WIFEXITED(log.data[log.n - 1]) &&
	      WEXITSTATUS(log.data[log.n - 1]) == 8);

	log_until_eof(kq, h.pid, &log);
	rest = 0;
	for (int i = 0; i < log.n; i++)
		rest |= log.fflags[i];
	CHECK_EQ_HEX(rest, NOTE_FORK | NOTE_EXIT);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
}

/* Closing the kqueue while tracked children may still be pending. */
TEST(proc_track_close_kqueue)
{
	long long kn0 = counter_base(NR_KN);
	long long kq0 = counter_base("nr_kqueues");

	for (int round = 0; round < 20; round++) {
		int kq = kq_new();

		kev_add(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD,
			NOTE_TRACK | NOTE_EXIT, 0, NULL);
		pid_t pid = fork();
		CHECK_OK(pid);
		if (pid == 0)
			_exit(0);
		CHECK_OK(close(kq));
		CHECK_EQ(waitpid(pid, NULL, 0), pid);
	}
	EXPECT_COUNTER(NR_KN, kn0);
	/* The pending children's references on the kqueues are gone. */
	EXPECT_COUNTER("nr_kqueues", kq0);
}

/* A process exiting with nothing asked left to say is dropped unseen. */
TEST(proc_exit_unasked_dropped)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	struct held h;
	struct kevent ev[4];

	held_start(&h, do_exit, 0);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXEC, 0,
		NULL);
	CHECK_COUNTER(NR_KN, ==, kn0 + 1);
	held_release(&h);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
	CHECK_EQ(kev_wait(kq, ev, 4, 200), 0);
	CHECK_COUNTER(NR_KN, ==, kn0);
}

TEST(proc_delete)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	struct held h;

	held_start(&h, do_exit, 1);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL);
	CHECK_COUNTER(NR_KN, ==, kn0);
	held_release(&h);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
	kev_expect_empty(kq);
}

/* EV_DISABLE: the exit is kept and reported at EV_ENABLE. */
TEST(proc_exit_while_disabled)
{
	int kq = kq_new();
	struct held h;
	struct kevent ev;

	held_start(&h, do_exit, 12);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD | EV_DISABLE,
		NOTE_EXIT, 0, NULL);
	held_release(&h);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
	proc_none(kq, h.pid);
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ENABLE, 0, 0, NULL);
	proc_next(kq, h.pid, 0, &ev);
	CHECK(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 12);
}

#define MANY 64

TEST(proc_many_processes)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	struct held h[MANY];
	int seen[MANY] = { 0 };
	struct kevent ev[16];

	for (int i = 0; i < MANY; i++) {
		held_start(&h[i], do_exit, i);
		kev_add(kq, (uintptr_t)h[i].pid, EVFILT_PROC, EV_ADD,
			NOTE_EXIT, 0, (void *)(intptr_t)i);
	}
	CHECK_COUNTER(NR_KN, ==, kn0 + MANY);
	for (int i = 0; i < MANY; i++)
		held_release(&h[i]);

	long long deadline = now_ms() + 20000;
	int got = 0;
	while (got < MANY) {
		CHECKF(now_ms() < deadline, "%d of %d exits", got, MANY);
		int n = kev_wait(kq, ev, 16, 500);
		for (int k = 0; k < n; k++) {
			int i = (int)(intptr_t)ev[k].udata;

			CHECK(i >= 0 && i < MANY);
			CHECK_EQ(ev[k].ident, (uintptr_t)h[i].pid);
			CHECK_EQ_HEX(ev[k].fflags, NOTE_EXIT);
			CHECKF(WIFEXITED(ev[k].data) &&
			       WEXITSTATUS(ev[k].data) == i, "child %d: %s",
			       i, kev_str(&ev[k]));
			CHECK_EQ(seen[i], 0);
			seen[i] = 1;
			got++;
		}
	}
	for (int i = 0; i < MANY; i++)
		CHECK_EQ(waitpid(h[i].pid, NULL, 0), h[i].pid);
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
}

/* A kqueue closed with knotes on live processes frees them. */
TEST(proc_close_frees)
{
	long long kn0 = counter_base(NR_KN);
	struct held h;

	/* Before the kqueue: the child must not hold it open. */
	held_start(&h, do_exit, 0);
	int kq = kq_new();
	kev_add(kq, (uintptr_t)h.pid, EVFILT_PROC, EV_ADD,
		NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK, 0, NULL);
	kev_add(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		NULL);
	CHECK_COUNTER(NR_KN, ==, kn0 + 2);
	CHECK_OK(close(kq));
	CHECK_COUNTER(NR_KN, ==, kn0);
	held_release(&h);
	CHECK_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

/* ---- NOTE_TRACKERR: the child's knote cannot be created ----------------- */

#define MAX_UK	"max_user_knotes"

/* As a user of its own, at a cap of 1 knote: the tracked fork fails. */
static void trackerr_worker(void *arg)
{
	struct kevent ev;
	unsigned int all = 0;

	(void)arg;
	drop_privileges(65532);
	int kq = kq_new();
	kev_add(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD,
		NOTE_TRACK | NOTE_FORK, 0, NULL);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(300);
		_exit(0);
	}
	/* NOTE_FORK at once, NOTE_TRACKERR when the work gave up. */
	long long deadline = now_ms() + WAIT_MS_DEFAULT;
	while (all != (NOTE_FORK | NOTE_TRACKERR)) {
		CHECKF(now_ms() < deadline, "fflags %#x", all);
		proc_next(kq, getpid(), WAIT_MS_DEFAULT, &ev);
		all |= ev.fflags;
		CHECK_EQ(ev.fflags & ~(NOTE_FORK | NOTE_TRACKERR), 0);
	}
	/* No knote for the child. */
	CHECK_EQ(kev_change(kq, (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0,
			    NULL), -1);
	CHECK_EQ(errno, ENOENT);
	proc_none(kq, pid);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	proc_none(kq, pid);
}

/* Provoked with a module parameter: module only. */
TEST(proc_track_error)
{
	require_module_counters();
	struct kqt_param old = kqt_param_save(MAX_UK);

	CHECK_OK(write_param(MAX_UK, 1));
	run_child_then(trackerr_worker, NULL, kqt_param_restore, &old);
}
