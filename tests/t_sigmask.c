/*
 * t_sigmask.c - EVFILT_SIGNAL and the program's own signal mask.  On BSD
 * a registered signal is recorded whatever the mask, and the registration
 * does not change the mask.  So, after EV_ADD:
 *
 *   - sigprocmask()/pthread_sigmask() report the mask the program set
 *     (EV_ADD left it alone; *oldset is what the program asked for);
 *   - the program unblocks the signal (SIG_SETMASK without it, as
 *     PostgreSQL's latch code does with SIGURG set to SIG_IGN, or
 *     SIG_UNBLOCK): still counted, and a handler still runs;
 *   - another thread that blocked it at EV_ADD unblocks it later: still
 *     counted;
 *   - the program blocks it after EV_ADD: counted, stays pending, the
 *     handler does not run, and it is still blocked after EV_DELETE and
 *     in a forked child; unblocked by the program, it is unblocked after
 *     EV_DELETE (a handler runs at once) and in a forked child.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

static void mask_one(int how, int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK_EQ(pthread_sigmask(how, &set, NULL), 0);
}

/* Does the program's mask (as sigprocmask() reports it) have sig? */
static int believed_blocked(int sig)
{
	sigset_t cur;

	CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
	return sigismember(&cur, sig);
}

static void expect_count(int kq, int sig, long long want)
{
	struct kevent ev;

	kev_expect(kq, (uintptr_t)sig, EVFILT_SIGNAL, WAIT_MS_DEFAULT, &ev);
	CHECKF(ev.data == want, "signal %d: data %lld, want %lld (%s)", sig,
	       (long long)ev.data, want, kev_str(&ev));
	kev_expect_none(kq, (uintptr_t)sig, EVFILT_SIGNAL);
}

static volatile sig_atomic_t handled;

static void count_handler(int sig)
{
	(void)sig;
	handled++;
}

/*
 * PostgreSQL's kqueue latch: EVFILT_SIGNAL for SIGURG, SIGURG set to
 * SIG_IGN, then the mask: everything blocked, then a mask without SIGURG.
 */
TEST(bsd_sigmask_setmask_unblocks_ignored_counted)
{
	int kq = kq_new();
	sigset_t none, all, old;

	set_handler(SIGURG, SIG_DFL);
	sigemptyset(&none);
	CHECK_OK(sigprocmask(SIG_SETMASK, &none, NULL));
	kev_add(kq, SIGURG, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	CHECKF(!believed_blocked(SIGURG), "EV_ADD changed the mask");
	set_handler(SIGURG, SIG_IGN);
	sigfillset(&all);
	CHECK_OK(sigprocmask(SIG_SETMASK, &all, NULL));
	CHECK_OK(sigprocmask(SIG_SETMASK, &none, &old));
	CHECK(sigismember(&old, SIGURG));
	CHECK(sigismember(&old, SIGUSR1));
	CHECK(!believed_blocked(SIGURG));

	CHECK_OK(kill(getpid(), SIGURG));
	expect_count(kq, SIGURG, 1);
	CHECK_OK(kill(getpid(), SIGURG));
	expect_count(kq, SIGURG, 1);

	/* Gone with the knote: unblocked for real, a handler runs at once. */
	kev_add(kq, SIGURG, EVFILT_SIGNAL, EV_DELETE, 0, 0, NULL);
	handled = 0;
	set_handler(SIGURG, count_handler);
	CHECK_OK(kill(getpid(), SIGURG));
	CHECK_EQ(handled, 1);
	kev_expect_none(kq, SIGURG, EVFILT_SIGNAL);
}

/* Blocked by the program at EV_ADD, unblocked later: handled, counted. */
TEST(bsd_sigmask_unblock_after_add_handler_counted)
{
	int kq = kq_new();

	handled = 0;
	set_handler(SIGUSR1, count_handler);
	mask_one(SIG_BLOCK, SIGUSR1);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	CHECK(believed_blocked(SIGUSR1));
	mask_one(SIG_UNBLOCK, SIGUSR1);
	CHECK(!believed_blocked(SIGUSR1));
	CHECK_OK(kill(getpid(), SIGUSR1));
	expect_count(kq, SIGUSR1, 1);
	CHECK_EQ(handled, 1);

	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_DELETE, 0, 0, NULL);
	CHECK_OK(kill(getpid(), SIGUSR1));
	CHECK_EQ(handled, 2);
	kev_expect_none(kq, SIGUSR1, EVFILT_SIGNAL);
}

/* *oldset is the mask the program set, set and oldset one object or not. */
TEST(bsd_sigmask_oldset_as_set_by_program)
{
	int kq = kq_new();
	sigset_t m, old;

	set_handler(SIGUSR2, SIG_IGN);
	mask_one(SIG_UNBLOCK, SIGUSR2);
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &m, &old), 0);
	CHECKF(!sigismember(&old, SIGUSR2), "oldset has the watched signal");
	CHECK(believed_blocked(SIGUSR2));
	/* Restore what was saved. */
	CHECK_OK(sigprocmask(SIG_SETMASK, &old, &m));
	CHECK(sigismember(&m, SIGUSR2));
	CHECK(!believed_blocked(SIGUSR2));
	CHECK_OK(kill(getpid(), SIGUSR2));
	expect_count(kq, SIGUSR2, 1);

	/* A bad how is EINVAL, and changes nothing. */
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	CHECK_EQ(pthread_sigmask(12345, &m, &old), EINVAL);
	errno = 0;
	CHECK_EQ(sigprocmask(-1, &m, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK(!believed_blocked(SIGUSR2));
	CHECK_OK(kill(getpid(), SIGUSR2));
	expect_count(kq, SIGUSR2, 1);
}

/*
 * Blocked by the program after EV_ADD: counted, not handled, still
 * blocked after EV_DELETE (pending until the program unblocks it).
 */
TEST(bsd_sigmask_block_after_add_survives_delete)
{
	int kq = kq_new();
	sigset_t pend;

	handled = 0;
	set_handler(SIGUSR2, count_handler);
	mask_one(SIG_UNBLOCK, SIGUSR2);
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	mask_one(SIG_BLOCK, SIGUSR2);
	CHECK_OK(kill(getpid(), SIGUSR2));
	expect_count(kq, SIGUSR2, 1);
	CHECK_EQ(handled, 0);

	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_DELETE, 0, 0, NULL);
	CHECK(believed_blocked(SIGUSR2));
	CHECK_OK(kill(getpid(), SIGUSR2));
	CHECK_EQ(handled, 0);
	CHECK_OK(sigpending(&pend));
	CHECK(sigismember(&pend, SIGUSR2));
	mask_one(SIG_UNBLOCK, SIGUSR2);
	CHECK_EQ(handled, 1);
}

/*
 * A thread started after EV_ADD (every thread blocks the signal then)
 * unblocks it: a signal to the process is still counted.
 */
TEST(bsd_sigmask_other_thread_unblocks_later)
{
	int kq = kq_new();
	struct parked_thread t;

	set_handler(SIGUSR1, SIG_IGN);
	mask_one(SIG_BLOCK, SIGUSR1);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	/* It unblocks SIGUSR1 (blocked when it started), then waits. */
	parked_start(&t, SIGUSR1);
	for (int i = 0; i < 3; i++) {
		CHECK_OK(kill(getpid(), SIGUSR1));
		sleep_ms(20);	/* time for the thread to take it */
		expect_count(kq, SIGUSR1, 1);
	}
	parked_stop(&t);
}

/* The child's mask is the one the program set, whatever the knotes. */
TEST(bsd_sigmask_fork_child_has_program_mask)
{
	int kq = kq_new();
	pid_t pid;

	set_handler(SIGUSR1, SIG_IGN);
	set_handler(SIGUSR2, SIG_IGN);
	mask_one(SIG_UNBLOCK, SIGUSR1);
	mask_one(SIG_BLOCK, SIGUSR2);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	/* Swapped after the registration. */
	mask_one(SIG_BLOCK, SIGUSR1);
	mask_one(SIG_UNBLOCK, SIGUSR2);
	pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sigset_t cur;

		if (sigprocmask(SIG_BLOCK, NULL, &cur) != 0)
			_exit(1);
		if (!sigismember(&cur, SIGUSR1))
			_exit(2);
		if (sigismember(&cur, SIGUSR2))
			_exit(3);
		_exit(0);
	}
	wait_child_ok(pid);
	CHECK_OK(kill(getpid(), SIGUSR2));
	expect_count(kq, SIGUSR2, 1);
}
