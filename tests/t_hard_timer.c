/*
 * t_hard_timer.c - issue 14 item 6 (timers): one hrtimer per EVFILT_TIMER
 * knote must not let one user line up unbounded hard-irq work.
 *
 *   - max_user_timers caps the timers of one user: beyond it EV_ADD of a
 *     new timer fails with ENOMEM (as FreeBSD's kern.kq_calloutmax does);
 *     EV_ADD on an existing timer, other filters and other users are not
 *     affected; deleting one (or a one-shot firing) makes room;
 *   - a 1 ns periodic timer reports data that is the true number of
 *     periods elapsed (checked against CLOCK_MONOTONIC around the calls),
 *     wakes its waiter at most every 100 us (module), and another thread's
 *     10 ms sleeps overshoot by a bounded amount meanwhile;
 *   - 2,000 timers on one instant all fire, once each, not early.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "kqtest.h"

#define MAX_UT		"max_user_timers"
#define NR_KN		"nr_knotes"

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the per-user timer cap -------------------------------------------- */

enum { TCAP = 16 };

/* As uid 65531: once 65532 is full, TCAP timers of its own, then ENOMEM. */
static void tcap_other_user(int go_fd)
{
	char c;

	drop_privileges(65531);
	/* No byte: the worker failed (its message is the one to see). */
	if (read(go_fd, &c, 1) != 1)
		_exit(0);
	int kq = kq_new();

	for (int i = 0; i < TCAP; i++)
		kev_add(kq, i, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 60, NULL);
	CHECK_ERR(kev_change(kq, 99, EVFILT_TIMER, EV_ADD, 0, 5, NULL),
		  ENOMEM);
}

static void tcap_worker(void *arg)
{
	int gate[2];

	(void)arg;
	alarm(kqt_scaled_s(25));
	make_pipe(gate);
	/* Another user, started while we are root; it waits for gate. */
	pid_t other = fork();

	CHECK_OK(other);
	if (other == 0) {
		alarm(kqt_scaled_s(20));
		close(gate[1]);
		tcap_other_user(gate[0]);
		_exit(0);
	}
	close(gate[0]);
	drop_privileges(65532);

	int kq = kq_new(), kq2 = kq_new();
	struct kevent ev;

	/* TCAP timers of every kind: periodic, one-shot, NOTE_ABSTIME. */
	for (int i = 0; i < TCAP - 2; i++)
		kev_add(kq, i, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 60, NULL);
	kev_add(kq, 100, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_SECONDS, 60,
		NULL);
	kev_add(kq2, 200, EVFILT_TIMER, EV_ADD, NOTE_USECONDS | NOTE_ABSTIME,
		realtime_us() + 60000000LL, NULL);

	/* The cap holds for every kqueue of the user and every kind. */
	CHECK_ERR(kev_change(kq, 50, EVFILT_TIMER, EV_ADD, 0, 10, NULL),
		  ENOMEM);
	CHECK_ERR(kev_change(kq2, 50, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0,
			     10, NULL), ENOMEM);
	CHECK_ERR(kev_change(kq2, 51, EVFILT_TIMER, EV_ADD,
			     NOTE_ABSTIME | NOTE_SECONDS, 1, NULL), ENOMEM);
	/* Re-adding an existing timer is no new timer; other filters work. */
	kev_add(kq, 0, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 30, NULL);
	kev_add(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_add(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	kev_expect(kq, 1, EVFILT_USER, 0, NULL);

	/* Another user has a cap of its own, while ours is full. */
	CHECK_EQ(write(gate[1], "g", 1), 1);
	wait_child_ok(other);

	/* EV_DELETE makes room for exactly one. */
	kev_add(kq, 3, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	kev_add(kq, 50, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 20,
		NULL);
	CHECK_ERR(kev_change(kq, 51, EVFILT_TIMER, EV_ADD, 0, 10, NULL),
		  ENOMEM);
	/* A one-shot that fired and was reported is gone: room again. */
	kev_expect(kq, 50, EVFILT_TIMER, 5000, &ev);
	CHECK_EQ(ev.data, 1);
	kev_add(kq, 51, EVFILT_TIMER, EV_ADD, 0, 10, NULL);
	CHECK_ERR(kev_change(kq, 52, EVFILT_TIMER, EV_ADD, 0, 10, NULL),
		  ENOMEM);
	/* Closing a kqueue gives its timers back. */
	CHECK_OK(close(kq2));
	kev_add(kq, 52, EVFILT_TIMER, EV_ADD, 0, 10, NULL);
	CHECK_ERR(kev_change(kq, 53, EVFILT_TIMER, EV_ADD, 0, 10, NULL),
		  ENOMEM);
	/* The timers under the cap still fire. */
	kev_expect(kq, 51, EVFILT_TIMER, 5000, &ev);
	CHECK_GE(ev.data, 1);

	close(gate[1]);
	CHECK_OK(close(kq));
}

/* A module parameter: module only. */
TEST(hard_timer_max_user_timers_enomem)
{
	require_module_counters();
	struct kqt_param old = kqt_param_save(MAX_UT);

	CHECK_GT(old.old, TCAP);
	CHECK_OK(write_param(MAX_UT, TCAP));
	CHECK_EQ(read_counter(MAX_UT), TCAP);
	run_child_then(tcap_worker, NULL, kqt_param_restore, &old);
	CHECK_EQ(read_counter(MAX_UT), old.old);
}

/* ---- a 1 ns periodic timer ------------------------------------------- */

struct sleeper {
	atomic_int stop;
	long long worst_ns;
	int rounds;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	while (!atomic_load(&s->stop)) {
		long long t0 = mono_ns();

		sleep_ms(10);
		long long over = mono_ns() - t0 - 10000000LL;

		if (over > s->worst_ns)
			s->worst_ns = over;
		s->rounds++;
	}
	return NULL;
}

TEST(hard_timer_nsec_period_counts_and_responsive)
{
	int kq = kq_new();
	struct kevent ev;
	struct sleeper s = { 0 };
	pthread_t th;
	long long sum = 0, wakes = 0, last_call = 0;
	const long long run_ns = 1000000000LL;

	CHECK_EQ(pthread_create(&th, NULL, sleeper_main, &s), 0);
	long long add0 = mono_ns();

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_NSECONDS, 1, NULL);
	long long add1 = mono_ns();

	for (;;) {
		struct timespec ts = { 1, 0 };
		long long call = mono_ns();
		int n = kevent(kq, NULL, 0, &ev, 1, &ts);

		CHECK_OK(n);
		if (n == 0)
			continue;
		CHECK_EQ(ev.ident, 1);
		CHECK_GE(ev.data, 1);
		sum += ev.data;
		wakes++;
		last_call = call;
		if (mono_ns() - add1 > run_ns)
			break;
	}
	long long end = mono_ns();

	atomic_store(&s.stop, 1);
	pthread_join(th, NULL);
	fprintf(stderr, "hard_timer: 1 ns timer: %lld periods in %lld wakes "
		"over %lld ns; sleeper: %d rounds, worst overshoot %lld us\n",
		sum, wakes, end - add0, s.rounds, s.worst_ns / 1000);

	/*
	 * Every period that ended by the last scan was counted, and none
	 * that had not: the periods end at reg + k ns (k >= 1), with reg in
	 * [add0, add1], and the last scan ran in [last_call, end].
	 */
	CHECKF(sum <= end - add0, "%lld periods counted, at most %lld ns "
	       "passed", sum, end - add0);
	CHECKF(sum >= last_call - add1 - 1, "%lld periods counted, at least "
	       "%lld ns passed", sum, last_call - add1);
	/* Module: at most one wake-up per 100 us (not one per scan). */
	if (kqt_module_counters())
		CHECKF(wakes <= (end - add0) / 100000 + 2,
		       "%lld wake-ups in %lld us", wakes, (end - add0) / 1000);
	/* The rest of the machine kept going. */
	CHECK_GT(s.rounds, 5);
	CHECKF(s.worst_ns < 1000000000LL, "a 10 ms sleep overshot by %lld us",
	       s.worst_ns / 1000);
	kev_add(kq, 1, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	CHECK_OK(close(kq));
}

/* ---- many timers on one instant ----------------------------------------- */

TEST(hard_timer_many_on_one_instant)
{
	enum { N = 2000 };	/* half of max_user_timers's default */
	long long kn0 = counter_base(NR_KN);
	static struct kevent ch[N], ev[512];
	static unsigned char seen[N];
	int kq = kq_new(), got = 0;

	raise_nofile(N + 256);
	long long when = realtime_us() + 500000;

	for (int i = 0; i < N; i++)
		EV_SET(&ch[i], i, EVFILT_TIMER,
		       EV_ADD | EV_ONESHOT, NOTE_USECONDS | NOTE_ABSTIME,
		       when, (void *)(uintptr_t)i);
	CHECK_EQ(kevent(kq, ch, N, NULL, 0, NULL), 0);
	EXPECT_COUNTER(NR_KN, kn0 + N);

	long long t0 = now_ms();

	while (got < N && now_ms() - t0 < 15000) {
		int n = kev_wait(kq, ev, 512, 1000);
		long long now = realtime_us();

		for (int j = 0; j < n; j++) {
			uintptr_t i = (uintptr_t)ev[j].udata;

			CHECK_LT(i, N);
			CHECK_EQ(ev[j].ident, i);
			CHECK_EQ(ev[j].data, 1);
			CHECKF(!seen[i], "timer %ju reported twice",
			       (uintmax_t)i);
			CHECKF(now >= when, "fired %lld us early", when - now);
			seen[i] = 1;
			got++;
		}
	}
	CHECKF(got == N, "%d of %d timers fired in %lld ms", got, N,
	       now_ms() - t0);
	/* One-shots: all gone once reported. */
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	CHECK_OK(close(kq));
}
