/*
 * t_ring.c - what must hold whether or not the module's completion ring
 * carries the events (guest-suite.sh runs the whole suite with the ring,
 * the default, and with KQUEUE_RING=0):
 * at most one pending report per edge-triggered knote, updated by later
 * signals (latest data, fflags combined) and posted again only after it
 * was taken; EV_DELETE, EV_DISABLE and close(2) take back a report not
 * yet returned; EV_ONESHOT and EV_DISPATCH report once, and a one-shot
 * knote whose report waits is still a knote; more ready
 * knotes than the ring holds all get reported, each once; a fork child
 * gets EBADF; the kqueue fd polls readable while a report waits; a
 * nested kqueue sees it; a blocked kevent() is woken by it; several
 * threads consuming while others write lose no edge and invent no data;
 * EVFILT_SIGNAL's count is added to a report still waiting, and given
 * back to the knote when the report is taken back.
 * ring_mapping_matches_backend checks that the ring is mapped exactly
 * when it should be (module backend, not KQUEUE_RING=0), and
 * ring_fast_path_without_syscall that a mapped ring serves kevent()
 * without a system call; a bad eventlist still gets EFAULT.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

/* Exactly one event in a zero-timeout poll, for (ident, filter). */
static void expect_one(int kq, uintptr_t ident, short filter,
		       struct kevent *out)
{
	struct kevent ev[4];
	int n = kev_poll(kq, ev, 4);

	CHECKF(n == 1, "expected one event, got %d", n);
	CHECKF(ev[0].ident == ident && ev[0].filter == filter,
	       "got %s", kev_str(&ev[0]));
	if (out)
		*out = ev[0];
}

/* A new pipe p, its read end registered in kq with EV_ADD | flags. */
static void watch_pipe(int kq, int p[2], unsigned short flags, void *udata)
{
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | flags, 0, 0, udata);
}

/*
 * Let a signal that is on its way arrive: pipes and loopback sockets wake
 * their watchers before write() returns, but give TCP's softirq a moment.
 */
static void settle(void)
{
	sleep_ms(20);
}

TEST(ring_clear_pipe_coalesces)
{
	int kq = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(kq, p, EV_CLEAR, (void *)7);
	write_n(p[1], 3);
	write_n(p[1], 4);
	write_n(p[1], 5);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 12);
	CHECK(ev.udata == (void *)7);
	CHECK(ev.flags & EV_CLEAR);
	kev_expect_empty(kq);
}

TEST(ring_clear_pipe_new_edge_after_take)
{
	int kq = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 2);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 2);
	kev_expect_empty(kq);
	/* Not read: the next write is a new edge, data counts everything. */
	write_n(p[1], 3);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 5);
	kev_expect_empty(kq);
	read_n(p[0], 5);
	kev_expect_empty(kq);
}

TEST(ring_readd_new_udata_then_updates)
{
	int kq = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(kq, p, EV_CLEAR, (void *)1);
	write_n(p[1], 2);
	/* A new udata while the report waits: the report carries it. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)2);
	write_n(p[1], 3);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK(ev.udata == (void *)2);
	CHECK_EQ(ev.data, 5);
	kev_expect_empty(kq);
	/* A new report, then one update of it in place: all fields right. */
	write_n(p[1], 1);
	write_n(p[1], 1);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK(ev.udata == (void *)2);
	CHECK_EQ(ev.data, 7);
	CHECK(ev.flags & EV_CLEAR);
	CHECK(!(ev.flags & (EV_EOF | EV_ERROR)));
	kev_expect_empty(kq);
}

TEST(ring_delete_retracts)
{
	int kq = kq_new(), p[2];

	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	kev_expect_empty(kq);
	/* And again with a fresh knote: it reports what is there now. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	struct kevent ev;

	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 1);
}

TEST(ring_disable_retracts_enable_reports)
{
	int kq = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	/* The edge was not reported: enabling reports it, once. */
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 2);
	kev_expect_empty(kq);
}

TEST(ring_close_retracts)
{
	int kq = kq_new(), p[2], q[2];
	struct kevent ev;

	make_pipe(p);
	make_pipe(q);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_add(kq, q[0], EVFILT_READ, EV_ADD | EV_CLEAR | EV_ONESHOT, 0, 0,
		NULL);
	write_n(p[1], 1);
	write_n(q[1], 1);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(q[0]));
	kev_expect_empty(kq);
	/* A new pipe may get the same numbers: no stale report for it. */
	watch_pipe(kq, p, EV_CLEAR, NULL);
	kev_expect_empty(kq);
	write_n(p[1], 4);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 4);
}

TEST(ring_oneshot_once_then_gone)
{
	int kq = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(kq, p, EV_ONESHOT, NULL);
	write_n(p[1], 1);
	write_n(p[1], 1);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK(ev.flags & EV_ONESHOT);
	CHECK_GE(ev.data, 1);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	errno = 0;
	CHECK_EQ(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	/* Added again, it reports again. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT | EV_CLEAR, 0, 0,
		NULL);
	write_n(p[1], 1);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 4);
	kev_expect_empty(kq);
}

/*
 * An EV_ONESHOT knote whose report waits is still a knote with an event
 * pending, as on FreeBSD, whether the report waits in the ring or on the
 * kernel's list: EV_DELETE removes it (and its event), EV_DISABLE holds
 * the event back until EV_ENABLE, EV_ADD with new udata reports it once
 * with that udata, close(2) removes it.  Each is gone once reported.
 */
TEST(ring_oneshot_pending_is_a_knote)
{
	int kq = kq_new(), del[2], dis[2], add[2], cls[2];
	struct kevent ev;

	watch_pipe(kq, del, EV_ONESHOT, NULL);
	watch_pipe(kq, dis, EV_ONESHOT, NULL);
	watch_pipe(kq, add, EV_ONESHOT | EV_CLEAR, (void *)1);
	watch_pipe(kq, cls, EV_ONESHOT, NULL);
	write_n(del[1], 1);
	write_n(dis[1], 2);
	write_n(add[1], 3);
	write_n(cls[1], 4);

	CHECK_OK(kev_change(kq, del[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	kev_add(kq, dis[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kev_add(kq, add[0], EVFILT_READ, EV_ADD, 0, 0, (void *)2);
	CHECK_OK(close(cls[0]));
	expect_one(kq, add[0], EVFILT_READ, &ev);
	CHECK(ev.udata == (void *)2);
	CHECK_EQ(ev.data, 3);
	CHECK(ev.flags & EV_ONESHOT);
	kev_expect_empty(kq);

	kev_add(kq, dis[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, dis[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 2);
	kev_expect_empty(kq);

	/* Reported or deleted: none of them is a knote any more. */
	write_n(del[1], 1);
	write_n(dis[1], 1);
	write_n(add[1], 1);
	kev_expect_empty(kq);
	errno = 0;
	CHECK_EQ(kev_change(kq, del[0], EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	errno = 0;
	CHECK_EQ(kev_change(kq, dis[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	errno = 0;
	CHECK_EQ(kev_change(kq, add[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL),
		 -1);
	CHECK_EQ(errno, ENOENT);
}

/*
 * EVFILT_USER and EVFILT_TIMER with EV_ONESHOT: reported once, then the
 * knote is gone (a NOTE_TRIGGER or EV_DELETE finds none), and an EV_ADD
 * of the same ident is a new knote.
 */
TEST(ring_oneshot_user_and_timer_once)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 7, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, (void *)7);
	kev_add(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 5, 9, NULL);
	expect_one(kq, 7, EVFILT_USER, &ev);
	CHECK_EQ(ev.fflags, 5);
	CHECK_EQ(ev.data, 9);
	CHECK(ev.udata == (void *)7);
	kev_expect_empty(kq);
	errno = 0;
	CHECK_EQ(kev_change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	kev_add(kq, 7, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	kev_add(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	expect_one(kq, 7, EVFILT_USER, NULL);

	kev_add(kq, 8, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 5, (void *)8);
	sleep_ms(60);
	expect_one(kq, 8, EVFILT_TIMER, &ev);
	CHECK_EQ(ev.data, 1);
	CHECK(ev.udata == (void *)8);
	sleep_ms(30);
	kev_expect_empty(kq);
	errno = 0;
	CHECK_EQ(kev_change(kq, 8, EVFILT_TIMER, EV_DELETE, 0, 0, NULL), -1);
	CHECK_EQ(errno, ENOENT);
}

TEST(ring_dispatch_once_until_enable)
{
	int kq = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(kq, p, EV_CLEAR | EV_DISPATCH, NULL);
	write_n(p[1], 1);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 1);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 2);
	kev_expect_empty(kq);
	/* Reported, so disabled again: the next write waits for EV_ENABLE. */
	write_n(p[1], 1);
	kev_expect_empty(kq);
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 3);
	kev_expect_empty(kq);
}

/* More ready knotes than the ring has entries (1024): each reported once. */
#define NPIPES	1300

TEST(ring_overflow_reports_each_once)
{
	int kq = kq_new();
	static int p[NPIPES][2];
	static unsigned char seen[NPIPES];
	struct kevent ev[64];
	int i, n, total = 0;

	raise_nofile(2 * NPIPES + 64);
	for (i = 0; i < NPIPES; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0,
			(void *)(uintptr_t)i);
	}
	for (i = 0; i < NPIPES; i++)
		write_n(p[i][1], 1 + i % 7);
	while ((n = kev_poll(kq, ev, 64)) > 0) {
		for (int j = 0; j < n; j++) {
			uintptr_t k = (uintptr_t)ev[j].udata;

			CHECK_LT(k, NPIPES);
			CHECKF(!seen[k], "pipe %lu reported twice",
			       (unsigned long)k);
			seen[k] = 1;
			CHECK_EQ(ev[j].data, (int64_t)(1 + k % 7));
			total++;
		}
	}
	CHECK_EQ(total, NPIPES);
	/* And the ring works on: one more round, every pipe once more. */
	for (i = 0; i < NPIPES; i++)
		write_n(p[i][1], 1);
	memset(seen, 0, sizeof(seen));
	total = 0;
	while ((n = kev_poll(kq, ev, 64)) > 0) {
		for (int j = 0; j < n; j++) {
			uintptr_t k = (uintptr_t)ev[j].udata;

			CHECKF(!seen[k], "pipe %lu reported twice",
			       (unsigned long)k);
			seen[k] = 1;
			CHECK_EQ(ev[j].data, (int64_t)(2 + k % 7));
			total++;
		}
	}
	CHECK_EQ(total, NPIPES);
}

/*
 * More reports in the ring than the kernel stages per copy to user space
 * (256), and an event on the kernel's list, all in one call with room for
 * every one: each comes once.  (The kernel once staged the list's events
 * past the end of its buffer when the ring's alone had filled it.)
 */
TEST(ring_reports_fill_a_copy_then_kernel_list)
{
	enum { N = 300 };
	int kq = kq_new(), p[N][2], q[2];
	static struct kevent ev[N + 8], ev2[N + 8];
	static char seen[N];
	int n, got = 0, level = 0;

	raise_nofile(4 * N + 64);
	for (int i = 0; i < N; i++)
		watch_pipe(kq, p[i], EV_CLEAR, (void *)(intptr_t)i);
	watch_pipe(kq, q, 0, (void *)-1);
	for (int i = 0; i < N; i++)
		write_n(p[i][1], 1);
	write_n(q[1], 1);
	n = kev_poll(kq, ev, N + 8);
	CHECK_EQ(n, N + 1);
	for (int i = 0; i < n; i++) {
		intptr_t k = (intptr_t)ev[i].udata;

		CHECK_EQ(ev[i].filter, EVFILT_READ);
		CHECK_EQ(ev[i].data, 1);
		if (k == -1) {
			CHECK(ev[i].ident == (uintptr_t)q[0]);
			level++;
			continue;
		}
		CHECK(k >= 0 && k < N && ev[i].ident == (uintptr_t)p[k][0]);
		CHECK(!seen[k]);
		seen[k] = 1;
		got++;
	}
	CHECK_EQ(got, N);
	CHECK_EQ(level, 1);
	/* Only the level-triggered one is still true. */
	n = kev_poll(kq, ev, N + 8);
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == (uintptr_t)q[0]);
	/*
	 * The ring's reports alone, more than one copy's worth, into an
	 * array the kernel never wrote to (so the kernel takes them): all.
	 */
	kev_add(kq, q[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	for (int i = 0; i < N; i++)
		write_n(p[i][1], 1);
	memset(seen, 0, sizeof(seen));
	n = kev_poll(kq, ev2, N + 8);
	CHECK_EQ(n, N);
	for (int i = 0; i < n; i++) {
		intptr_t k = (intptr_t)ev2[i].udata;

		CHECK(k >= 0 && k < N && !seen[k]);
		seen[k] = 1;
		CHECK_EQ(ev2[i].data, 2);
	}
}

TEST(ring_user_coalesces_fflags)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, (void *)3);
	kev_add(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x1, 10,
		NULL);
	kev_add(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x4, 20,
		NULL);
	/* A change without a trigger still updates what will be reported. */
	kev_add(kq, 9, EVFILT_USER, 0, NOTE_FFOR | 0x10, 30, NULL);
	expect_one(kq, 9, EVFILT_USER, &ev);
	CHECK_EQ_HEX(ev.fflags, 0x15);
	CHECK_EQ(ev.data, 30);
	CHECK(ev.udata == (void *)3);
	kev_expect_empty(kq);
	kev_add(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, 40, NULL);
	expect_one(kq, 9, EVFILT_USER, &ev);
	CHECK_EQ(ev.data, 40);
	kev_expect_empty(kq);
}

TEST(ring_user_readd_keeps_pending)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_add(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 5, NULL);
	/* Re-adding with a new udata: still one report, with that udata. */
	kev_add(kq, 1, EVFILT_USER, EV_ADD, 0, 6, (void *)0x55);
	expect_one(kq, 1, EVFILT_USER, &ev);
	CHECK(ev.udata == (void *)0x55);
	CHECK_EQ(ev.data, 6);
	kev_expect_empty(kq);
	/* Disabled while pending, then enabled: reported then, once. */
	kev_add(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 7, NULL);
	kev_add(kq, 1, EVFILT_USER, EV_DISABLE, 0, 7, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 1, EVFILT_USER, EV_ENABLE, 0, 7, NULL);
	expect_one(kq, 1, EVFILT_USER, &ev);
	CHECK_EQ(ev.data, 7);
	kev_expect_empty(kq);
}

TEST(ring_user_clear_change_retracts)
{
	int kq = kq_new();

	kev_add(kq, 4, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_add(kq, 4, EVFILT_USER, 0, NOTE_TRIGGER, 1, NULL);
	kev_add(kq, 4, EVFILT_USER, EV_CLEAR, 0, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 4, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	kev_expect_empty(kq);
}

static void raise_sig(int sig, int n)
{
	for (int i = 0; i < n; i++)
		CHECK_OK(kill(getpid(), sig));
}

TEST(ring_signal_counts_added_in_place)
{
	int kq = kq_new();
	struct kevent ev;

	set_handler(SIGUSR1, SIG_IGN);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, (void *)9);
	raise_sig(SIGUSR1, 2);
	raise_sig(SIGUSR1, 1);
	expect_one(kq, SIGUSR1, EVFILT_SIGNAL, &ev);
	CHECK_EQ(ev.data, 3);
	CHECK(ev.udata == (void *)9);
	CHECK_EQ_HEX(ev.flags, EV_CLEAR);
	kev_expect_empty(kq);
	/* After the report was taken: a new one, counting from 0. */
	raise_sig(SIGUSR1, 1);
	expect_one(kq, SIGUSR1, EVFILT_SIGNAL, &ev);
	CHECK_EQ(ev.data, 1);
	/* EV_DISABLE takes the report back; disabled, it counts on. */
	raise_sig(SIGUSR1, 2);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	raise_sig(SIGUSR1, 1);
	kev_expect_empty(kq);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, SIGUSR1, EVFILT_SIGNAL, &ev);
	CHECK_EQ(ev.data, 3);
	kev_expect_empty(kq);
	/* EV_ADD while a report waits: one report of both, new udata. */
	raise_sig(SIGUSR1, 1);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, (void *)10);
	raise_sig(SIGUSR1, 1);
	expect_one(kq, SIGUSR1, EVFILT_SIGNAL, &ev);
	CHECK_EQ(ev.data, 2);
	CHECK(ev.udata == (void *)10);
	kev_expect_empty(kq);
	/* EV_DELETE takes a waiting report back for good. */
	raise_sig(SIGUSR1, 1);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_DELETE, 0, 0, NULL);
	kev_expect_empty(kq);
}

TEST(ring_signal_dispatch_once_until_enable)
{
	int kq = kq_new();
	struct kevent ev;

	set_handler(SIGUSR2, SIG_IGN);
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD | EV_DISPATCH, 0, 0, NULL);
	raise_sig(SIGUSR2, 1);
	raise_sig(SIGUSR2, 1);
	expect_one(kq, SIGUSR2, EVFILT_SIGNAL, &ev);
	CHECK_EQ(ev.data, 2);
	CHECK(ev.flags & EV_DISPATCH);
	raise_sig(SIGUSR2, 3);
	kev_expect_empty(kq);
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, SIGUSR2, EVFILT_SIGNAL, &ev);
	CHECK_EQ(ev.data, 3);
	kev_expect_empty(kq);
}

TEST(ring_tcp_clear_coalesces)
{
	int kq = kq_new(), sv[2];
	struct kevent ev;

	make_tcp_pair(AF_INET, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	write_n(sv[0], 100);
	write_n(sv[0], 50);
	kev_expect_data(kq, sv[1], EVFILT_READ, 150, WAIT_MS_DEFAULT, &ev);
	settle();
	kev_expect_empty(kq);
	read_n(sv[1], 150);
	write_n(sv[0], 7);
	kev_expect_data(kq, sv[1], EVFILT_READ, 7, WAIT_MS_DEFAULT, &ev);
	settle();
	kev_expect_empty(kq);
	/* EOF still comes through (from the kernel's own list). */
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ(ev.data, 7);
}

/*
 * EVFILT_WRITE EV_CLEAR on TCP: reported once when registered, then once
 * each time the peer's reads free space in a full send buffer, with the
 * free space as data, and not again without such a wake.
 */
TEST(ring_tcp_write_clear_space_freed)
{
	int kq = kq_new(), sv[2];
	struct kevent ev;
	char buf[65536];
	long long sent = 0, got = 0;
	ssize_t r;

	make_tcp_pair(AF_INET, sv);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	CHECK_OK(fcntl(sv[1], F_SETFL, O_NONBLOCK));
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL);
	expect_one(kq, sv[0], EVFILT_WRITE, &ev);
	CHECK(ev.data > 0);
	kev_expect_empty(kq);
	memset(buf, 'x', sizeof(buf));
	while ((r = write(sv[0], buf, sizeof(buf))) > 0)
		sent += r;
	CHECK(r < 0 && errno == EAGAIN);
	settle();
	kev_expect_empty(kq);
	/* The peer reads everything: the sender gets its space back. */
	got = (long long)read_total(sv[1], (size_t)sent);
	CHECK_EQ(got, sent);
	kev_expect(kq, sv[0], EVFILT_WRITE, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.data > 0 && !(ev.flags & EV_EOF));
	settle();
	kev_expect_empty(kq);
}

TEST(ring_fork_child_ebadf)
{
	int kq = kq_new(), p[2];
	struct kevent ev;
	pid_t pid;

	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 1);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct kevent cev[2];
		struct timespec ts = { 0, 0 };
		int r = kevent(kq, NULL, 0, cev, 2, &ts);

		_exit(r == -1 && errno == EBADF ? 0 : 1);
	}
	wait_child_ok(pid);
	/* The child took nothing: the parent's report is still there. */
	expect_one(kq, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 1);
}

TEST(ring_poll_kqueue_fd)
{
	int kq = kq_new(), p[2];
	struct pollfd pfd = { .fd = kq, .events = POLLIN };

	watch_pipe(kq, p, EV_CLEAR, NULL);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	write_n(p[1], 1);
	CHECK_EQ(poll(&pfd, 1, 0), 1);
	expect_one(kq, p[0], EVFILT_READ, NULL);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	/* A retracted report does not make it readable. */
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
}

TEST(ring_nested_reports_inner)
{
	int outer = kq_new(), inner = kq_new(), p[2];
	struct kevent ev;

	watch_pipe(inner, p, EV_CLEAR, NULL);
	kev_add(outer, inner, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_expect_empty(outer);
	write_n(p[1], 2);
	expect_one(outer, inner, EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 1);
	expect_one(inner, p[0], EVFILT_READ, &ev);
	CHECK_EQ(ev.data, 2);
	kev_expect_empty(outer);
}

struct writer_arg {
	int fd;
	int delay_ms;
};

static void *write_later(void *arg)
{
	struct writer_arg *w = arg;

	sleep_ms(w->delay_ms);
	write_n(w->fd, 1);
	return NULL;
}

TEST(ring_wakes_blocked_waiter)
{
	int kq = kq_new(), p[2];
	struct writer_arg w;
	struct kevent ev[2];
	pthread_t t;
	long long t0;
	int n;

	watch_pipe(kq, p, EV_CLEAR, NULL);
	w.fd = p[1];
	w.delay_ms = 100;
	CHECK_EQ(pthread_create(&t, NULL, write_later, &w), 0);
	t0 = now_ms();
	n = kev_wait(kq, ev, 2, 10000);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].data, 1);
	CHECK_LT(now_ms() - t0, 8000);
}

TEST(ring_changes_and_events_in_one_call)
{
	int kq = kq_new(), p[2], q[2];
	struct kevent ch, ev[4];
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	make_pipe(q);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	write_n(p[1], 1);
	write_n(q[1], 1);
	/* A call with a change returns the pending report too. */
	EV_SET(&ch, q[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	int n = kevent(kq, &ch, 1, ev, 4, &ts);

	CHECK_EQ(n, 2);
	CHECK(kev_find(ev, n, p[0], EVFILT_READ) != NULL);
	CHECK(kev_find(ev, n, q[0], EVFILT_READ) != NULL);
	kev_expect_empty(kq);
}

/* How many "[kqueue-ring]" mappings this process has. */
static int ring_mapped(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[kqueue-ring]"))
			found++;
	fclose(f);
	return found;
}

/* The module's ring parameter (a bool: "Y" or "N"). */
static int ring_param(void)
{
	FILE *f = fopen("/sys/module/kqueue/parameters/ring", "r");
	int c;

	CHECK(f != NULL);
	c = fgetc(f);
	fclose(f);
	CHECK(c == 'Y' || c == 'N');
	return c == 'Y';
}

TEST(ring_mapping_matches_backend)
{
	const char *env = getenv("KQUEUE_RING");
	int off = env && strcmp(env, "0") == 0;
	int kq = kq_new();
	int param = 1;

	if (kqueue_backend(kq) == KQUEUE_BACKEND_KMOD)
		param = ring_param();
	if (kqueue_backend(kq) == KQUEUE_BACKEND_USER || off || !param)
		CHECK_EQ(ring_mapped(), 0);
	else
		CHECK_EQ(ring_mapped(), 1);
}

/* Rings are a per-user resource: beyond max_user_rings, no ring. */
#define MAX_UR	"max_user_rings"

static void rings_worker(void *arg)
{
	const char *env = getenv("KQUEUE_RING");
	int want = env && strcmp(env, "0") == 0 ? 0 : 2;
	int kq[4];
	struct kevent ev;

	(void)arg;
	if (!ring_param())
		want = 0;
	alarm(kqt_scaled_s(20));
	drop_privileges(65534);	/* a user with no ring yet */
	for (int i = 0; i < 4; i++) {
		kq[i] = kq_new();
		kev_add(kq[i], 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER,
			i, NULL);
	}
	CHECK_EQ(ring_mapped(), want);
	/* With or without a ring, every kqueue works. */
	for (int i = 0; i < 4; i++) {
		expect_one(kq[i], 1, EVFILT_USER, &ev);
		CHECK_EQ(ev.data, i);
		kev_add(kq[i], 1, EVFILT_USER, 0, NOTE_TRIGGER, 10 + i, NULL);
		expect_one(kq[i], 1, EVFILT_USER, &ev);
		CHECK_EQ(ev.data, 10 + i);
	}
}

TEST(ring_max_user_rings)
{
	require_module_counters();
	struct kqt_param old = kqt_param_save(MAX_UR);

	CHECK_GE(old.old, 256);
	CHECK_OK(write_param(MAX_UR, 2));
	run_child_then(rings_worker, NULL, kqt_param_restore, &old);
	CHECK_EQ(read_counter(MAX_UR), old.old);
}

/*
 * Writers put single bytes into pipes; consumers, on each report, read
 * what the pipe has.  Whatever the interleaving, every byte written is
 * read once, and when the writers are done no pipe is left holding bytes
 * without a report on its way: an edge lost in the ring would leave one.
 */
#define ST_PIPES	16
#define ST_WRITERS	2
#define ST_READERS	3
#define ST_BYTES	3000	/* per writer */

struct stress {
	int kq;
	int p[ST_PIPES][2];
	long written, read;
	int stop;
};

static void *stress_writer(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = (unsigned int)(uintptr_t)pthread_self();

	for (int i = 0; i < ST_BYTES; i++) {
		write_n(s->p[rand_r(&seed) % ST_PIPES][1], 1);
		__atomic_add_fetch(&s->written, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *stress_reader(void *arg)
{
	struct stress *s = arg;
	struct kevent ev[8];
	char buf[4096];

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		int n = kev_wait(s->kq, ev, 8, 50);

		for (int i = 0; i < n; i++) {
			int fd = (int)ev[i].ident;
			ssize_t r;

			CHECK_GE(ev[i].data, 1);
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				__atomic_add_fetch(&s->read, r,
						   __ATOMIC_RELAXED);
			CHECK(r == -1 && errno == EAGAIN);
		}
	}
	return NULL;
}

TEST(ring_threads_exact_accounting)
{
	static struct stress s;
	pthread_t w[ST_WRITERS], r[ST_READERS];
	long long deadline;

	s.kq = kq_new();
	for (int i = 0; i < ST_PIPES; i++) {
		make_pipe_nb(s.p[i]);
		kev_add(s.kq, s.p[i][0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0,
			NULL);
	}
	for (int i = 0; i < ST_READERS; i++)
		CHECK_EQ(pthread_create(&r[i], NULL, stress_reader, &s), 0);
	for (int i = 0; i < ST_WRITERS; i++)
		CHECK_EQ(pthread_create(&w[i], NULL, stress_writer, &s), 0);
	for (int i = 0; i < ST_WRITERS; i++)
		CHECK_EQ(pthread_join(w[i], NULL), 0);
	/* Every byte is read through reports alone. */
	deadline = now_ms() + 10000;
	while (__atomic_load_n(&s.read, __ATOMIC_RELAXED) <
	       ST_WRITERS * ST_BYTES && now_ms() < deadline)
		sleep_ms(10);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < ST_READERS; i++)
		CHECK_EQ(pthread_join(r[i], NULL), 0);
	CHECK_EQ(s.written, ST_WRITERS * ST_BYTES);
	CHECK_EQ(s.read, ST_WRITERS * ST_BYTES);
	for (int i = 0; i < ST_PIPES; i++) {
		int left = -1;

		CHECK_OK(ioctl(s.p[i][0], FIONREAD, &left));
		CHECKF(left == 0, "pipe %d holds %d bytes", i, left);
	}
	kev_expect_empty(s.kq);
}

/*
 * The library finds a ring by the number it mapped it through.  When that
 * number comes to name another kqueue (dup2() over it while a dup of the
 * first kqueue stays open), kevent() on it must report the new kqueue's
 * events only, and the first kqueue's events still come through its dup.
 */
TEST(ring_fd_number_reused_by_dup2)
{
	int a = kq_new(), b = kq_new(), keep;
	struct kevent ev;

	kev_add(a, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 5, NULL);
	kev_add(b, 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	keep = dup(a);
	CHECK(keep >= 0);
	CHECK_EQ(dup2(b, a), a);
	/* a names b now: b has nothing pending. */
	kev_expect_empty(a);
	kev_add(a, 2, EVFILT_USER, 0, NOTE_TRIGGER, 6, NULL);
	expect_one(a, 2, EVFILT_USER, &ev);
	CHECK_EQ(ev.data, 6);
	/* The first kqueue's event, through its dup, once. */
	expect_one(keep, 1, EVFILT_USER, &ev);
	CHECK_EQ(ev.data, 5);
	kev_expect_empty(keep);
	kev_add(keep, 1, EVFILT_USER, 0, NOTE_TRIGGER, 7, NULL);
	expect_one(keep, 1, EVFILT_USER, &ev);
	CHECK_EQ(ev.data, 7);
	kev_expect_empty(a);
}

/*
 * A closed kqueue's number given to a new kqueue: the new one reports its
 * own events only, and the library maps its ring in the old one's place
 * (as many rings mapped as before).
 */
TEST(ring_number_reused_by_kqueue)
{
	int a = kq_new(), b, mapped;
	struct kevent ev;

	kev_add(a, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 5, NULL);
	mapped = ring_mapped();
	CHECK_OK(close(a));
	b = kqueue();
	CHECK_EQ(b, a);
	CHECK_EQ(ring_mapped(), mapped);
	kev_expect_empty(b);
	kev_add(b, 2, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 6, NULL);
	expect_one(b, 2, EVFILT_USER, &ev);
	CHECK_EQ(ev.data, 6);
	kev_expect_empty(b);
	CHECK_OK(close(b));
}

/*
 * A bad eventlist gets EFAULT whether or not the ring holds the event: the
 * library copies from the ring only into an array the kernel has already
 * written to, and the ioctl checks every other pointer.
 */
TEST(ring_bad_eventlist_efault)
{
	long psz = sysconf(_SC_PAGESIZE);
	int kq = kq_new(), p[2];
	struct timespec zero = { 0, 0 };
	struct kevent ev;
	char *pages;

	pages = mmap(NULL, 2 * (size_t)psz, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pages != MAP_FAILED);
	CHECK_OK(mprotect(pages, (size_t)psz, PROT_NONE));
	CHECK_OK(mprotect(pages + psz, (size_t)psz, PROT_READ));
	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 1);
	expect_one(kq, p[0], EVFILT_READ, &ev);
	write_n(p[1], 1);	/* a new edge: in the ring if there is one */
	errno = 0;
	CHECK_EQ(kevent(kq, NULL, 0, (struct kevent *)(void *)pages, 4,
			&zero), -1);
	CHECK_EQ(errno, EFAULT);
	write_n(p[1], 1);
	errno = 0;
	CHECK_EQ(kevent(kq, NULL, 0, (struct kevent *)(void *)(pages + psz),
			4, &zero), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(pages, 2 * (size_t)psz);
}

/*
 * The timeout is checked as without the ring, even with the event ready:
 * an invalid one is EINVAL (also at an address used fine before), a bad
 * pointer EFAULT.
 */
TEST(ring_invalid_timeout_einval)
{
	int kq = kq_new(), p[2];
	struct timespec ts = { 0, 0 };
	struct kevent ev[2];

	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 1);
	write_n(p[1], 1);
	ts.tv_nsec = 1000000000L;
	errno = 0;
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), -1);
	CHECK_EQ(errno, EINVAL);
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	errno = 0;
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), -1);
	CHECK_EQ(errno, EINVAL);
	ts.tv_sec = 0;
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 1);
	CHECK_EQ(ev[0].data, 2);
}

TEST(ring_bad_timeout_efault)
{
	long psz = sysconf(_SC_PAGESIZE);
	int kq = kq_new(), p[2];
	struct timespec zero = { 0, 0 };
	struct kevent ev[2];
	void *none;

	none = mmap(NULL, (size_t)psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	CHECK(none != MAP_FAILED);
	watch_pipe(kq, p, EV_CLEAR, NULL);
	write_n(p[1], 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &zero), 1);
	write_n(p[1], 1);
	/* Calls that never wait do not read the timeout (kqfuzz found). */
	CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, none), 0);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 0, none), 0);
	errno = 0;
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, none), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(none, (size_t)psz);
}

/* Allow every system call but ioctl(), which fails with EPERM. */
static void forbid_ioctl(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = { sizeof(prog) / sizeof(prog[0]), prog };

	CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CHECK_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp));
}

/*
 * With the ring, a kevent() without changes whose events are in the ring
 * makes no system call: with ioctl() forbidden it still returns them, and
 * a poll that finds nothing in the ring or on the kernel's list returns 0.
 * An eventlist the kernel has not written to yet goes to the kernel
 * (EPERM here), as does a call while the kernel's list holds a
 * level-triggered event, and every call without a ring.
 */
TEST(ring_fast_path_without_syscall)
{
	int kq = kq_new(), p[2], q[2];
	int mapped = ring_mapped();
	int user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	struct timespec zero = { 0, 0 };
	struct kevent ev[4], other[4];
	int n;

	watch_pipe(kq, p, EV_CLEAR, NULL);
	watch_pipe(kq, q, 0, NULL);	/* level-triggered: the kernel's list */
	write_n(p[1], 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 1);
	write_n(p[1], 2);
	forbid_ioctl();
	errno = 0;
	n = kevent(kq, NULL, 0, other, 4, &zero);
	if (user) {
		/* The user-space backend waits without ioctl(). */
		CHECK_EQ(n, 1);
		CHECK(other[0].ident == (uintptr_t)p[0]);
		return;
	}
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, EPERM);
	errno = 0;
	n = kevent(kq, NULL, 0, ev, 4, &zero);
	if (!mapped) {
		CHECK_EQ(n, -1);
		CHECK_EQ(errno, EPERM);
		return;
	}
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == (uintptr_t)p[0] && ev[0].filter == EVFILT_READ);
	CHECK_EQ(ev[0].data, 3);
	/* Nothing anywhere: a poll answers 0 by itself. */
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 0);
	/* A level-triggered event is on the kernel's list: ask the kernel. */
	write_n(q[1], 1);
	errno = 0;
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), -1);
	CHECK_EQ(errno, EPERM);
}

/*
 * kevent() into ev (4 entries) with the timeout ts (whose address the
 * kernel has read, so the library may take events itself) until it
 * returns something other than 0, at most tries times, ms apart.
 */
static int poll_until_event(int kq, struct kevent *ev,
			    const struct timespec *ts, int tries, int ms)
{
	int n = 0;

	for (int i = 0; i < tries && n == 0; i++) {
		errno = 0;
		n = kevent(kq, NULL, 0, ev, 4, ts);
		if (n == 0)
			sleep_ms(ms);
	}
	return n;
}

/*
 * A TCP socket's new write space reaches the library through the ring:
 * with ioctl() forbidden, the EV_CLEAR write event still comes (without
 * the ring, or on the kernel's list, kevent() would fail with EPERM).
 */
TEST(ring_tcp_write_without_syscall)
{
	int kq = kq_new(), sv[2];
	int mapped = ring_mapped();
	int user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	struct timespec zero = { 0, 0 };
	struct kevent ev[4];
	char buf[65536];
	long long sent = 0, got = 0;
	int n = -1;
	ssize_t r;

	make_tcp_pair(AF_INET, sv);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	CHECK_OK(fcntl(sv[1], F_SETFL, O_NONBLOCK));
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 1);
	memset(buf, 'x', sizeof(buf));
	/* Fill until no space comes back by itself (acks in flight). */
	for (int i = 0; i < 20 && n != 0; i++) {
		while ((r = write(sv[0], buf, sizeof(buf))) > 0)
			sent += r;
		CHECK(r < 0 && errno == EAGAIN);
		settle();
		n = kevent(kq, NULL, 0, ev, 4, &zero);
	}
	CHECK_EQ(n, 0);
	forbid_ioctl();
	got = (long long)read_total(sv[1], (size_t)sent);
	CHECK_EQ(got, sent);
	n = poll_until_event(kq, ev, &zero, 1000, 5);
	if (!user && !mapped) {
		CHECK_EQ(n, -1);
		CHECK_EQ(errno, EPERM);
		return;
	}
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == (uintptr_t)sv[0] && ev[0].filter == EVFILT_WRITE);
	CHECK(user || ev[0].data > 0);
}

/*
 * Signals reach the library through the ring: with ioctl() forbidden, the
 * count of two signals still comes (without the ring kevent() fails with
 * EPERM; the user-space backend never uses ioctl()).
 */
TEST(ring_signal_without_syscall)
{
	int kq = kq_new();
	int mapped = ring_mapped();
	int user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	struct timespec zero = { 0, 0 };
	struct kevent ev[4];
	int n;

	set_handler(SIGUSR1, SIG_IGN);
	kev_add(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	raise_sig(SIGUSR1, 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 1);
	raise_sig(SIGUSR1, 2);
	forbid_ioctl();
	errno = 0;
	n = kevent(kq, NULL, 0, ev, 4, &zero);
	if (user) {
		CHECK_EQ(n, 1);
		CHECK(ev[0].ident == SIGUSR1 && ev[0].filter == EVFILT_SIGNAL);
		return;
	}
	if (!mapped) {
		CHECK_EQ(n, -1);
		CHECK_EQ(errno, EPERM);
		return;
	}
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == SIGUSR1 && ev[0].filter == EVFILT_SIGNAL);
	CHECK_EQ(ev[0].data, 2);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 0);
}

/*
 * A periodic timer whose report was taken posts its next one to the ring
 * from its own interrupt and re-arms itself there: with ioctl() forbidden
 * the next tick still comes, data 1 (without the ring kevent() fails with
 * EPERM).  Waits by polling with a zero timeout, which finds the tick in
 * the ring within a millisecond of its post, long before the next one.
 */
TEST(ring_timer_without_syscall)
{
	int kq = kq_new();
	int mapped = ring_mapped();
	int user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	struct timespec zero = { 0, 0 };
	struct kevent ev[4];
	int n;

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD, 0, 300, (void *)3);
	/* The kernel reads this timeout first: the library then trusts it. */
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 0);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, NULL), 1);
	CHECK_EQ(ev[0].data, 1);
	forbid_ioctl();
	n = poll_until_event(kq, ev, &zero, 2000, 1);
	if (!mapped && !user) {
		CHECK_EQ(n, -1);
		CHECK_EQ(errno, EPERM);
		return;
	}
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == 1 && ev[0].filter == EVFILT_TIMER);
	CHECK(ev[0].udata == (void *)3);
	CHECK_EQ(ev[0].data, 1);
	CHECK(ev[0].flags & EV_CLEAR);
}

/*
 * EV_ONESHOT reports reach the library through the ring: with ioctl()
 * forbidden, a pipe's one-shot event and a one-shot timer's still come,
 * each once (without the ring kevent() fails with EPERM).
 */
TEST(ring_oneshot_without_syscall)
{
	int kq = kq_new(), p[2];
	int mapped = ring_mapped();
	int user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	struct timespec zero = { 0, 0 };
	struct kevent ev[4];
	int n;

	watch_pipe(kq, p, EV_ONESHOT, (void *)4);
	kev_add(kq, 9, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 100, (void *)9);
	/* The kernel writes an event here first: the library then trusts it. */
	kev_add(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0, NULL);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 1);
	write_n(p[1], 2);
	write_n(p[1], 1);
	forbid_ioctl();
	errno = 0;
	n = kevent(kq, NULL, 0, ev, 4, &zero);
	if (!mapped && !user) {
		CHECK_EQ(n, -1);
		CHECK_EQ(errno, EPERM);
		return;
	}
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == (uintptr_t)p[0] && ev[0].filter == EVFILT_READ);
	CHECK(ev[0].udata == (void *)4);
	CHECK(ev[0].flags & EV_ONESHOT);
	/* The user-space backend counts the bytes with ioctl(FIONREAD). */
	if (!user)
		CHECK_EQ(ev[0].data, 3);
	write_n(p[1], 1);
	n = poll_until_event(kq, ev, &zero, 2000, 1);
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == 9 && ev[0].filter == EVFILT_TIMER);
	CHECK(ev[0].udata == (void *)9);
	CHECK_EQ(ev[0].data, 1);
	sleep_ms(20);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 0);
}

/* A child that exits with code once a byte comes on *gate (closed here). */
static pid_t child_exiting_on(int gate[2], int code)
{
	pid_t pid;
	char c;

	make_pipe(gate);
	pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		close(gate[1]);
		if (read(gate[0], &c, 1) < 0)
			_exit(100);
		_exit(code);
	}
	close(gate[0]);
	return pid;
}

/*
 * A process's exit reaches the library through the ring: with ioctl()
 * forbidden, NOTE_EXIT still comes, with EV_EOF and EV_ONESHOT and the
 * wait status, and nothing after it (without the ring kevent() fails
 * with EPERM).
 */
TEST(ring_proc_exit_without_syscall)
{
	int kq = kq_new(), gate[2], st;
	int mapped = ring_mapped();
	int user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	struct timespec zero = { 0, 0 };
	struct kevent ev[4];
	pid_t pid = child_exiting_on(gate, 7);
	int n;

	kev_add(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
		(void *)5);
	/* The kernel writes an event here first: the library then trusts it. */
	kev_add(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0, NULL);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 1);
	forbid_ioctl();
	write_n(gate[1], 1);
	n = poll_until_event(kq, ev, &zero, 2000, 1);
	if (!mapped && !user) {
		CHECK_EQ(n, -1);
		CHECK_EQ(errno, EPERM);
		CHECK_EQ(waitpid(pid, NULL, 0), pid);
		return;
	}
	CHECK_EQ(n, 1);
	CHECK(ev[0].ident == (uintptr_t)pid && ev[0].filter == EVFILT_PROC);
	CHECK(ev[0].udata == (void *)5);
	CHECK_EQ_HEX(ev[0].fflags, NOTE_EXIT);
	CHECK_EQ_HEX(ev[0].flags & (EV_EOF | EV_ONESHOT), EV_EOF | EV_ONESHOT);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_EQ(ev[0].data, st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &zero), 0);
}

/*
 * A process's exit not yet returned is a pending event of a knote that is
 * still there, whether it waits in the ring or on the kernel's list:
 * EV_DISABLE holds it back, EV_ENABLE reports it once with the wait
 * status, then the knote is gone; EV_DELETE of another drops its exit.
 */
TEST(ring_proc_pending_exit_is_a_knote)
{
	int kq = kq_new(), g1[2], g2[2], st;
	struct kevent ev;
	siginfo_t si;
	pid_t p1 = child_exiting_on(g1, 3), p2 = child_exiting_on(g2, 4);

	kev_add(kq, (uintptr_t)p1, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
	kev_add(kq, (uintptr_t)p2, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
	write_n(g1[1], 1);
	write_n(g2[1], 1);
	/* Both exited, and stay zombies until the end. */
	CHECK_OK(waitid(P_PID, (id_t)p1, &si, WEXITED | WNOWAIT));
	CHECK_OK(waitid(P_PID, (id_t)p2, &si, WEXITED | WNOWAIT));
	kev_add(kq, (uintptr_t)p1, EVFILT_PROC, EV_DISABLE, 0, 0, NULL);
	CHECK_OK(kev_change(kq, (uintptr_t)p2, EVFILT_PROC, EV_DELETE, 0, 0,
			    NULL));
	kev_expect_empty(kq);
	kev_add(kq, (uintptr_t)p1, EVFILT_PROC, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, (uintptr_t)p1, EVFILT_PROC, &ev);
	CHECK_EQ_HEX(ev.fflags, NOTE_EXIT);
	CHECK(ev.flags & EV_EOF);
	kev_expect_empty(kq);
	errno = 0;
	CHECK_EQ(kev_change(kq, (uintptr_t)p1, EVFILT_PROC, EV_DELETE, 0, 0,
			    NULL), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(waitpid(p1, &st, 0), p1);
	CHECK_EQ(ev.data, st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	CHECK_EQ(waitpid(p2, NULL, 0), p2);
}

/*
 * EV_ADD on a timer drops the expirations not reported yet, a tick that
 * waits in the ring included: nothing comes after the re-add.
 */
TEST(ring_timer_readd_drops_waiting_tick)
{
	int kq = kq_new();

	kev_add(kq, 5, EVFILT_TIMER, EV_ADD, 0, 300, NULL);
	sleep_ms(350);
	kev_add(kq, 5, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 20, NULL);
	kev_expect_empty(kq);
}

/*
 * A tick that waits in the ring when the next one comes is taken back and
 * counted with it, and EV_DISABLE takes it back too: no period is lost or
 * counted twice.  data adds up to the periods that ended since EV_ADD,
 * from the clock: at most those ended when the last report was taken, at
 * least those ended before it was asked for, less the one whose interrupt
 * may still be on its way.
 */
static void expect_periods(long long total, long long t0, long long t1,
			   long long before, long long after, int period)
{
	long long lo = (before - t1) / period - 1, hi = (after - t0) / period;

	CHECKF(total >= lo && total <= hi,
	       "%lld periods reported, %lld..%lld ended", total, lo, hi);
}

TEST(ring_timer_ticks_add_up)
{
	int kq = kq_new();
	struct kevent ev;
	long long total = 0, t0, t1, before;

	t0 = now_ms();
	kev_add(kq, 2, EVFILT_TIMER, EV_ADD, 0, 40, NULL);
	t1 = now_ms();
	CHECK_EQ(kevent(kq, NULL, 0, &ev, 1, NULL), 1);
	total += ev.data;
	/* Several periods pass with nobody taking the ticks. */
	sleep_ms(300);
	before = now_ms();
	expect_one(kq, 2, EVFILT_TIMER, &ev);
	total += ev.data;
	expect_periods(total, t0, t1, before, now_ms(), 40);
	CHECK(total >= 5);
	/* Disabled while a tick may wait: enabled, every period comes. */
	kev_add(kq, 2, EVFILT_TIMER, EV_DISABLE, 0, 0, NULL);
	sleep_ms(200);
	kev_expect_empty(kq);
	before = now_ms();
	kev_add(kq, 2, EVFILT_TIMER, EV_ENABLE, 0, 0, NULL);
	expect_one(kq, 2, EVFILT_TIMER, &ev);
	total += ev.data;
	expect_periods(total, t0, t1, before, now_ms(), 40);
}
