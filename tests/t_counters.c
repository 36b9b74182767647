/*
 * t_counters.c - the module's live object counters,
 * /sys/module/kqueue/parameters/nr_kqueues and .../nr_knotes (decimal
 * text): opening a kqueue adds one kqueue, registering adds knotes,
 * EV_DELETE and a fired EV_ONESHOT remove them, closing the kqueue and a
 * process exiting with an open kqueue bring both back to the baseline
 * taken before the test.  Module only: each test starts with
 * require_module_counters(), so it fails (an expected failure) on the
 * user-space backend.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KQ	"nr_kqueues"
#define NR_KN	"nr_knotes"

TEST(counters_readable)
{
	require_module_counters();
	int kq = kq_new();

	CHECK_GE(read_counter(NR_KQ), 1);
	CHECK_GE(read_counter(NR_KN), 0);
	CHECK_OK(close(kq));
}

TEST(counters_kqueue_open_close)
{
	require_module_counters();
	int gate = kq_new();
	long long kq0 = read_counter(NR_KQ);
	long long kn0 = read_counter(NR_KN);
	int kq[3];

	for (int i = 0; i < 3; i++) {
		kq[i] = kq_new();
		expect_counter(NR_KQ, kq0 + i + 1);
	}
	/* A dup()ed descriptor is the same kqueue. */
	int d = dup(kq[0]);
	CHECK_OK(d);
	expect_counter(NR_KQ, kq0 + 3);
	CHECK_OK(close(kq[0]));
	expect_counter(NR_KQ, kq0 + 3);
	CHECK_OK(close(d));
	expect_counter(NR_KQ, kq0 + 2);
	CHECK_OK(close(kq[1]));
	CHECK_OK(close(kq[2]));
	expect_counter(NR_KQ, kq0);
	expect_counter(NR_KN, kn0);
	CHECK_OK(close(gate));
	expect_counter(NR_KQ, kq0 - 1);
}

TEST(counters_knotes_add_delete_close)
{
	require_module_counters();
	enum { N = 100 };
	long long kq0 = read_counter(NR_KQ);
	long long kn0 = read_counter(NR_KN);
	int kq = kq_new();
	int p[N][2];

	expect_counter(NR_KQ, kq0 + 1);
	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	}
	expect_counter(NR_KN, kn0 + N);
	/* Re-adding does not add. */
	kev_add(kq, p[0][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	expect_counter(NR_KN, kn0 + N);
	/* A failed add does not add. */
	CHECK_ERR(kev_change(kq, 100000, EVFILT_READ, EV_ADD, 0, 0, NULL),
		  EBADF);
	expect_counter(NR_KN, kn0 + N);
	/* WRITE on the same fds: separate knotes. */
	for (int i = 0; i < 10; i++)
		kev_add(kq, p[i][1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	expect_counter(NR_KN, kn0 + N + 10);
	for (int i = 0; i < 10; i++)
		kev_add(kq, p[i][1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	expect_counter(NR_KN, kn0 + N);
	/* EV_DELETE. */
	for (int i = 0; i < 10; i++)
		kev_add(kq, p[i][0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	expect_counter(NR_KN, kn0 + N - 10);
	/* Disabled knotes still count. */
	for (int i = 10; i < 20; i++)
		kev_add(kq, p[i][0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	expect_counter(NR_KN, kn0 + N - 10);
	/* Closing the kqueue frees the rest. */
	CHECK_OK(close(kq));
	expect_counter(NR_KN, kn0);
	expect_counter(NR_KQ, kq0);
}

TEST(counters_oneshot_fired)
{
	require_module_counters();
	enum { N = 10 };
	int kq = kq_new();
	long long kn0 = read_counter(NR_KN);
	int p[N][2];
	struct kevent ev[N + 2];

	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0,
			NULL);
	}
	expect_counter(NR_KN, kn0 + N);
	for (int i = 0; i < N; i++)
		write_n(p[i][1], 1);
	/* Ready but not yet retrieved: still registered. */
	expect_counter(NR_KN, kn0 + N);
	CHECK_EQ(kev_poll(kq, ev, 4), 4);
	expect_counter(NR_KN, kn0 + N - 4);
	CHECK_EQ(kev_poll(kq, ev, N + 2), N - 4);
	expect_counter(NR_KN, kn0);
	/* EV_DISPATCH keeps its knote after firing. */
	kev_add(kq, p[0][0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 2), 1);
	expect_counter(NR_KN, kn0 + 1);
	CHECK_OK(close(kq));
	expect_counter(NR_KN, kn0);
}

/*
 * One-shot events taken without a system call (from the module's ring):
 * the knotes are removed soon after all the same, by the kernel's own
 * work, with no kevent() through the kernel.
 */
TEST(counters_oneshot_taken_from_ring)
{
	require_module_counters();
	enum { N = 6 };
	int kq = kq_new();
	long long kn0 = read_counter(NR_KN);
	struct timespec zero = { 0, 0 };
	int p[N][2];
	struct kevent ev[N];

	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0,
			NULL);
	}
	/* The kernel writes an event here first: the library may then too. */
	kev_add(kq, 1, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0,
		NULL);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 1, &zero), 1);
	expect_counter(NR_KN, kn0 + N);
	for (int i = 0; i < N; i++)
		write_n(p[i][1], 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 1, &zero), 1);
	expect_counter(NR_KN, kn0 + N - 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, N, &zero), N - 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, N, &zero), 0);
	expect_counter(NR_KN, kn0);
	CHECK_OK(close(kq));
	expect_counter(NR_KN, kn0);
}

TEST(counters_child_exit)
{
	require_module_counters();
	enum { N = 50 };
	int gate = kq_new();
	long long kq0 = read_counter(NR_KQ);
	long long kn0 = read_counter(NR_KN);
	int ready[2], go[2];

	make_pipe(ready);
	make_pipe(go);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		int kq = kq_new();
		int p[N][2];
		char c = 0;

		for (int i = 0; i < N; i++) {
			make_pipe(p[i]);
			kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
			kev_add(kq, p[i][1], EVFILT_WRITE, EV_ADD, 0, 0,
				NULL);
		}
		/* Some events pending at exit, too. */
		for (int i = 0; i < N; i += 2)
			write_n(p[i][1], 1);
		write_n(ready[1], 1);
		/* Wait for the parent, then exit without closing. */
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	read_n(ready[0], 1);
	expect_counter(NR_KQ, kq0 + 1);
	expect_counter(NR_KN, kn0 + 2 * N);
	write_n(go[1], 1);
	wait_child_ok(pid);
	expect_counter(NR_KQ, kq0);
	expect_counter(NR_KN, kn0);
	CHECK_OK(close(gate));
}

TEST(counters_child_killed_while_waiting)
{
	require_module_counters();
	enum { N = 20 };
	int gate = kq_new();
	long long kq0 = read_counter(NR_KQ);
	long long kn0 = read_counter(NR_KN);
	int ready[2];

	make_pipe(ready);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		int kq = kq_new();
		int p[N][2];
		struct kevent ev[4];

		for (int i = 0; i < N; i++) {
			make_pipe(p[i]);
			kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		}
		write_n(ready[1], 1);
		kevent(kq, NULL, 0, ev, 4, NULL);	/* blocks forever */
		_exit(3);
	}
	read_n(ready[0], 1);
	expect_counter(NR_KN, kn0 + N);
	sleep_ms(100);
	CHECK_OK(kill(pid, SIGKILL));
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	expect_counter(NR_KQ, kq0);
	expect_counter(NR_KN, kn0);
	CHECK_OK(close(gate));
}
