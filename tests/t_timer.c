/*
 * t_timer.c - EVFILT_TIMER: ident is any number; data is the period in
 * milliseconds or in the unit NOTE_SECONDS / NOTE_MSECONDS /
 * NOTE_USECONDS / NOTE_NSECONDS names; periodic with EV_CLEAR implied and
 * data = expirations since the last report; EV_ONESHOT fires once and the
 * knote is gone; NOTE_ABSTIME fires once at a CLOCK_REALTIME deadline (at
 * once if it has passed) and, without EV_CLEAR, stays reported; EV_ADD on
 * an existing timer restarts it and drops unreported expirations; a
 * disabled timer keeps counting and EV_ENABLE reports the count;
 * EV_DELETE stops it; 2,000 timers in one kqueue all fire; invalid
 * arguments -> EINVAL; udata round trip; the knote counter returns to its
 * baseline.
 *
 * Timing runs under emulation: lower bounds are those the kernel
 * guarantees (a timer never fires early), upper bounds are generous.
 */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KN	"nr_knotes"
#define SLACK_MS 5000		/* generous upper bound under emulation */

static long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Waits for the next event of (ident, TIMER); returns the milliseconds
 * from t0 (taken before the timer was set) until it came.
 */
static long long fired_after(int kq, uintptr_t ident, long long t0,
			     struct kevent *out)
{
	kev_expect(kq, ident, EVFILT_TIMER, SLACK_MS + 2000, out);
	return now_ms() - t0;
}

TEST(timer_periodic_count_grows)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 7, EVFILT_TIMER, EV_ADD, 0, 200, (void *)0x1234);
	kev_expect_none(kq, 7, EVFILT_TIMER);
	sleep_ms(700);
	kev_expect(kq, 7, EVFILT_TIMER, 0, &ev);
	CHECKF(ev.data >= 2, "after ~3.5 periods: %s", kev_str(&ev));
	CHECK(ev.udata == (void *)0x1234);
	CHECKF(ev.flags & EV_CLEAR, "EV_CLEAR is implied: %s", kev_str(&ev));
	CHECK_EQ(ev.flags & (EV_ERROR | EV_EOF | EV_ONESHOT), 0);
	CHECK_EQ(ev.fflags, 0);

	/* It keeps firing: one or more expirations per report. */
	for (int i = 0; i < 3; i++) {
		kev_expect(kq, 7, EVFILT_TIMER, SLACK_MS, &ev);
		CHECK_GE(ev.data, 1);
	}
	kev_add(kq, 7, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
}

TEST(timer_report_consumes_count)
{
	int kq = kq_new();
	struct kevent ev;

	/* A long period: after one report nothing is left to report. */
	long long t0 = now_ms();

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 2, NULL);
	long long ms = fired_after(kq, 1, t0, &ev);
	CHECK_GE(ms, 1500);
	CHECK_EQ(ev.data, 1);
	kev_expect_none(kq, 1, EVFILT_TIMER);
	/* The next period is counted from the first expiry. */
	kev_expect(kq, 1, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_EQ(ev.data, 1);
}

TEST(timer_first_fire_not_early)
{
	int kq = kq_new();
	struct kevent ev;

	long long t0 = now_ms();

	kev_add(kq, 42, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 300, NULL);
	long long ms = fired_after(kq, 42, t0, &ev);
	CHECKF(ms >= 290, "fired after %lld ms, period 300 ms", ms);
	CHECK_EQ(ev.data, 1);
}

TEST(timer_units)
{
	int kq = kq_new();
	const struct {
		unsigned int fflags;
		int64_t data;
		long long min_ms;
		const char *name;
	} u[] = {
		{ NOTE_SECONDS, 1, 990, "NOTE_SECONDS 1" },
		{ NOTE_MSECONDS, 300, 290, "NOTE_MSECONDS 300" },
		{ 0, 300, 290, "(default ms) 300" },
		{ NOTE_USECONDS, 300000, 290, "NOTE_USECONDS 300000" },
		{ NOTE_NSECONDS, 300000000, 290, "NOTE_NSECONDS 300000000" },
	};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		struct kevent ev;
		long long t0 = now_ms();

		kev_add(kq, 100 + i, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
			u[i].fflags, u[i].data, NULL);
		long long ms = fired_after(kq, 100 + i, t0, &ev);

		CHECKF(ms >= u[i].min_ms && ms <= u[i].min_ms + SLACK_MS,
		       "%s fired after %lld ms", u[i].name, ms);
		CHECK_EQ(ev.data, 1);
		kev_expect_empty(kq);
	}
	/* Small units really are small: 20,000 us is not 20,000 ms. */
	kev_add(kq, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_USECONDS,
		20000, NULL);
	fired_after(kq, 1, 0, NULL);
	kev_add(kq, 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_NSECONDS,
		20000000, NULL);
	fired_after(kq, 2, 0, NULL);
}

TEST(timer_oneshot_fires_once_and_is_gone)
{
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 5, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 50,
		(void *)0xabc);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	kev_expect(kq, 5, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_EQ(ev.data, 1);
	CHECK(ev.udata == (void *)0xabc);
	CHECKF(ev.flags & EV_ONESHOT, "%s", kev_str(&ev));
	EXPECT_COUNTER(NR_KN, kn0);
	CHECK_ERR(kev_change(kq, 5, EVFILT_TIMER, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	sleep_ms(200);
	kev_expect_empty(kq);
}

TEST(timer_zero_data)
{
	int kq = kq_new();
	struct kevent ev;

	/* EV_ONESHOT with 0 fires at once. */
	long long t0 = now_ms();

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	long long ms = fired_after(kq, 1, t0, &ev);
	CHECK_LE(ms, SLACK_MS);
	CHECK_EQ(ev.data, 1);

	/* Periodic with 0 is one unit (1 ms): many expirations. */
	kev_add(kq, 2, EVFILT_TIMER, EV_ADD, 0, 0, NULL);
	kev_expect(kq, 2, EVFILT_TIMER, SLACK_MS, &ev);
	sleep_ms(300);
	kev_expect(kq, 2, EVFILT_TIMER, SLACK_MS, &ev);
	CHECKF(ev.data >= 100, "1 ms period over 300 ms: %s", kev_str(&ev));
	/* The same with NOTE_SECONDS: 0 means 1 s, not a busy timer. */
	t0 = now_ms();
	kev_add(kq, 3, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 0, NULL);
	kev_add(kq, 2, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	ms = fired_after(kq, 3, t0, &ev);
	CHECK_GE(ms, 990);
}

TEST(timer_tiny_period_counts_overruns)
{
	int kq = kq_new();
	struct kevent ev;

	/* 1 us: counted by elapsed time, not by one interrupt each. */
	kev_add(kq, 9, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 1, NULL);
	kev_expect(kq, 9, EVFILT_TIMER, SLACK_MS, &ev);
	sleep_ms(200);
	kev_expect(kq, 9, EVFILT_TIMER, SLACK_MS, &ev);
	CHECKF(ev.data >= 100000, "1 us period over 200 ms: %s",
	       kev_str(&ev));
	/* The machine is still responsive: a pipe event comes through. */
	int p[2];
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	kev_expect(kq, p[0], EVFILT_READ, SLACK_MS, NULL);
	kev_add(kq, 9, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
}

TEST(timer_abstime_future)
{
	int kq = kq_new();
	struct kevent ev;
	long long deadline = realtime_us() + 300000;

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD | EV_CLEAR,
		NOTE_ABSTIME | NOTE_USECONDS, deadline, (void *)1);
	kev_expect_none(kq, 1, EVFILT_TIMER);
	kev_expect(kq, 1, EVFILT_TIMER, SLACK_MS, &ev);
	CHECKF(realtime_us() >= deadline, "fired %lld us early",
	       deadline - realtime_us());
	CHECK_EQ(ev.data, 1);
	CHECK(ev.udata == (void *)1);
	/* Not periodic. */
	sleep_ms(700);
	kev_expect_none(kq, 1, EVFILT_TIMER);

	/* In milliseconds (the default unit), and in seconds. */
	deadline = realtime_us() / 1000 + 300;
	kev_add(kq, 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_ABSTIME,
		deadline, NULL);
	fired_after(kq, 2, 0, &ev);
	CHECK_GE(realtime_us() / 1000, deadline);
	deadline = realtime_us() / 1000000 + 2;
	kev_add(kq, 3, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
		NOTE_ABSTIME | NOTE_SECONDS, deadline, NULL);
	fired_after(kq, 3, 0, &ev);
	CHECK_GE(realtime_us() / 1000000, deadline);
}

TEST(timer_abstime_level_without_clear)
{
	int kq = kq_new();
	struct kevent ev;

	/* As on FreeBSD, no implied EV_CLEAR: it stays reported. */
	kev_add(kq, 4, EVFILT_TIMER, EV_ADD, NOTE_ABSTIME | NOTE_USECONDS,
		realtime_us() + 100000, NULL);
	kev_expect(kq, 4, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_EQ(ev.data, 1);
	CHECK_EQ(ev.flags & EV_CLEAR, 0);
	for (int i = 0; i < 3; i++) {
		kev_expect(kq, 4, EVFILT_TIMER, 0, &ev);
		CHECK_EQ(ev.data, 1);
	}
	kev_add(kq, 4, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	kev_expect_empty(kq);
}

TEST(timer_abstime_past_fires_at_once)
{
	int kq = kq_new();
	struct kevent ev;

	long long t0 = now_ms();

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
		NOTE_ABSTIME | NOTE_SECONDS, 1, NULL);
	long long ms = fired_after(kq, 1, t0, &ev);
	CHECK_LE(ms, SLACK_MS);
	CHECK_EQ(ev.data, 1);

	kev_add(kq, 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
		NOTE_ABSTIME | NOTE_USECONDS, realtime_us() - 10000000, NULL);
	kev_expect(kq, 2, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_EQ(ev.data, 1);
	/* 0 (the epoch) is in the past too. */
	kev_add(kq, 3, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_ABSTIME, 0,
		NULL);
	kev_expect(kq, 3, EVFILT_TIMER, SLACK_MS, &ev);
	kev_expect_empty(kq);
}

TEST(timer_readd_rearms)
{
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	struct kevent ev;

	/* A 20 s timer shortened to 200 ms fires in about 200 ms. */
	kev_add(kq, 3, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 20, (void *)1);
	long long t0 = now_ms();

	kev_add(kq, 3, EVFILT_TIMER, EV_ADD, 0, 200, (void *)2);
	long long ms = fired_after(kq, 3, t0, &ev);
	CHECK_GE(ms, 190);
	CHECK(ev.udata == (void *)2);
	EXPECT_COUNTER(NR_KN, kn0 + 1);

	/* Expirations not yet reported are dropped by a re-add. */
	kev_add(kq, 4, EVFILT_TIMER, EV_ADD, 0, 30, NULL);
	sleep_ms(300);
	kev_add(kq, 4, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 20, NULL);
	kev_expect_none(kq, 4, EVFILT_TIMER);

	/* Lengthened: the old period no longer applies. */
	kev_add(kq, 3, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 20, NULL);
	sleep_ms(500);
	kev_expect_empty(kq);

	/* Periodic to absolute and back. */
	kev_add(kq, 4, EVFILT_TIMER, EV_ADD, NOTE_ABSTIME | NOTE_USECONDS,
		realtime_us() + 100000, NULL);
	kev_expect(kq, 4, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_EQ(ev.data, 1);
	kev_add(kq, 4, EVFILT_TIMER, EV_ADD, 0, 100, NULL);
	kev_expect(kq, 4, EVFILT_TIMER, SLACK_MS, &ev);
	kev_expect(kq, 4, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_GE(ev.data, 1);
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(timer_readd_invalid_keeps_timer)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 8, EVFILT_TIMER, EV_ADD, 0, 100, NULL);
	CHECK_ERR(kev_change(kq, 8, EVFILT_TIMER, EV_ADD, 0, -1, NULL),
		  EINVAL);
	CHECK_ERR(kev_change(kq, 8, EVFILT_TIMER, EV_ADD,
			     NOTE_SECONDS | NOTE_NSECONDS, 1, NULL), EINVAL);
	/* Still there, still running with its 100 ms period. */
	kev_expect(kq, 8, EVFILT_TIMER, SLACK_MS, &ev);
	kev_expect(kq, 8, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_GE(ev.data, 1);
}

TEST(timer_disable_keeps_counting_enable_reports)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 6, EVFILT_TIMER, EV_ADD, 0, 100, NULL);
	kev_expect(kq, 6, EVFILT_TIMER, SLACK_MS, &ev);
	kev_add(kq, 6, EVFILT_TIMER, EV_DISABLE, 0, 0, NULL);
	sleep_ms(600);
	kev_expect_none(kq, 6, EVFILT_TIMER);
	/* FreeBSD semantics: what expired meanwhile is reported now. */
	kev_add(kq, 6, EVFILT_TIMER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 6, EVFILT_TIMER, 0, &ev);
	CHECKF(ev.data >= 4, "600 ms disabled, 100 ms period: %s",
	       kev_str(&ev));

	/* Registered disabled: nothing until enabled. */
	kev_add(kq, 7, EVFILT_TIMER, EV_ADD | EV_DISABLE, 0, 50, NULL);
	sleep_ms(300);
	kev_expect_none(kq, 7, EVFILT_TIMER);
	kev_add(kq, 7, EVFILT_TIMER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 7, EVFILT_TIMER, 0, &ev);
	CHECK_GE(ev.data, 3);
}

TEST(timer_dispatch)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD | EV_DISPATCH, 0, 50, NULL);
	kev_expect(kq, 1, EVFILT_TIMER, SLACK_MS, &ev);
	CHECKF(ev.flags & EV_DISPATCH, "%s", kev_str(&ev));
	sleep_ms(300);
	kev_expect_none(kq, 1, EVFILT_TIMER);
	kev_add(kq, 1, EVFILT_TIMER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 1, EVFILT_TIMER, 0, &ev);
	CHECK_GE(ev.data, 3);
	kev_expect_none(kq, 1, EVFILT_TIMER);
}

TEST(timer_delete_stops_it)
{
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 2, EVFILT_TIMER, EV_ADD, 0, 50, NULL);
	kev_expect(kq, 2, EVFILT_TIMER, SLACK_MS, &ev);
	sleep_ms(150);		/* expired again, not reported */
	kev_add(kq, 2, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	sleep_ms(300);
	kev_expect_empty(kq);
	CHECK_ERR(kev_change(kq, 2, EVFILT_TIMER, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	/* The same ident can be used again. */
	kev_add(kq, 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 10, NULL);
	kev_expect(kq, 2, EVFILT_TIMER, SLACK_MS, &ev);
	CHECK_EQ(ev.data, 1);
}

TEST(timer_idents_and_udata)
{
	int kq = kq_new();
	const uintptr_t ids[] = { 0, 1, 100000, (uintptr_t)INT32_MAX + 7,
				  UINTPTR_MAX };
	enum { N = sizeof(ids) / sizeof(ids[0]) };
	struct kevent ev[N + 2];
	int seen[N] = { 0 };

	/* Not descriptors: 100000 and UINTPTR_MAX are fine. */
	for (int i = 0; i < N; i++)
		kev_add(kq, ids[i], EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0,
			50 + 10 * i, (void *)(uintptr_t)(0x1000 + i));
	long long deadline = now_ms() + SLACK_MS;
	int got = 0;

	while (got < N && now_ms() < deadline) {
		int n = kev_wait(kq, ev, N + 2, 500);

		for (int j = 0; j < n; j++) {
			int i;

			for (i = 0; i < N && ids[i] != ev[j].ident; i++)
				;
			CHECKF(i < N, "unknown %s", kev_str(&ev[j]));
			CHECK_EQ(ev[j].filter, EVFILT_TIMER);
			CHECK(ev[j].udata == (void *)(uintptr_t)(0x1000 + i));
			CHECK_EQ(ev[j].data, 1);
			CHECK_EQ(seen[i], 0);
			seen[i] = 1;
			got++;
		}
	}
	CHECK_EQ(got, N);

	/* The same ident on another kqueue is another timer. */
	int kq2 = kq_new();
	kev_add(kq, 77, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 30, NULL);
	kev_add(kq2, 77, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 20, NULL);
	kev_expect(kq2, 77, EVFILT_TIMER, SLACK_MS, NULL);
	kev_expect_empty(kq);
	/* EV_KEEPUDATA keeps it across a re-add. */
	kev_add(kq, 78, EVFILT_TIMER, EV_ADD, 0, 30, (void *)0x55);
	kev_add(kq, 78, EVFILT_TIMER, EV_ADD | EV_KEEPUDATA, 0, 30,
		(void *)0x66);
	kev_expect(kq, 78, EVFILT_TIMER, SLACK_MS, &ev[0]);
	CHECK(ev[0].udata == (void *)0x55);
}

TEST(timer_invalid_arguments)
{
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	const struct {
		unsigned int fflags;
		int64_t data;
	} bad[] = {
		{ 0, -1 },
		{ NOTE_SECONDS, -5 },
		{ 0, INT64_MIN },
		{ NOTE_SECONDS | NOTE_MSECONDS, 1 },
		{ NOTE_USECONDS | NOTE_NSECONDS, 1 },
		{ NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS |
		  NOTE_NSECONDS, 1 },
		{ NOTE_ABSTIME | NOTE_SECONDS | NOTE_NSECONDS, 1 },
		{ 0x20, 100 },
		{ 0x01000000, 100 },
		{ NOTE_ABSTIME, -1 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kevent ch, ev[2];
		int r;

		errno = 0;
		r = kev_change(kq, 1, EVFILT_TIMER, EV_ADD, bad[i].fflags,
			       bad[i].data, NULL);
		CHECKF(r == -1 && errno == EINVAL, "fflags 0x%x data %lld: "
		       "%d/%s, want -1/EINVAL", bad[i].fflags,
		       (long long)bad[i].data, r, kqt_errname(errno));
		EV_SET(&ch, 1, EVFILT_TIMER, EV_ADD, bad[i].fflags,
		       bad[i].data, (void *)9);
		r = kevent(kq, &ch, 1, ev, 2, NULL);
		CHECK_EQ(r, 1);
		CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
		CHECK_EQ(ev[0].data, EINVAL);
		CHECK(ev[0].udata == (void *)9);
	}
	/* Nothing was registered. */
	CHECK_ERR(kev_change(kq, 1, EVFILT_TIMER, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	EXPECT_COUNTER(NR_KN, kn0);
	/* Huge values are accepted (and saturate). */
	kev_add(kq, 2, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, INT64_MAX, NULL);
	kev_add(kq, 3, EVFILT_TIMER, EV_ADD, 0, INT64_MAX, NULL);
	kev_add(kq, 4, EVFILT_TIMER, EV_ADD, NOTE_ABSTIME | NOTE_SECONDS,
		INT64_MAX, NULL);
	sleep_ms(100);
	kev_expect_empty(kq);
	EXPECT_COUNTER(NR_KN, kn0 + 3);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(timer_many_in_one_kqueue)
{
	enum { N = 2000, PERIOD = 50 };
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	static struct kevent ch[N], ev[512];
	static unsigned char seen[N];
	int got = 0;

	for (int i = 0; i < N; i++)
		EV_SET(&ch[i], 10000 + i, EVFILT_TIMER, EV_ADD, 0, PERIOD,
		       (void *)(uintptr_t)i);
	long long t0 = now_ms();
	CHECK_EQ(kevent(kq, ch, N, NULL, 0, NULL), 0);
	EXPECT_COUNTER(NR_KN, kn0 + N);

	/* Every one reports, within a (generous) window. */
	while (got < N && now_ms() - t0 < 20000) {
		int n = kev_wait(kq, ev, 512, 1000);

		for (int j = 0; j < n; j++) {
			uintptr_t i = (uintptr_t)ev[j].udata;

			CHECK_LT(i, N);
			CHECK_EQ(ev[j].ident, 10000 + i);
			CHECK_GE(ev[j].data, 1);
			if (!seen[i]) {
				seen[i] = 1;
				got++;
			}
		}
	}
	long long took = now_ms() - t0;
	CHECKF(got == N, "%d of %d timers reported in %lld ms", got, N,
	       took);
	CHECKF(took >= PERIOD - 10, "all fired after %lld ms", took);

	/* They keep firing: the next round reports every one again. */
	memset(seen, 0, sizeof(seen));
	got = 0;
	t0 = now_ms();
	while (got < N && now_ms() - t0 < 20000) {
		int n = kev_wait(kq, ev, 512, 1000);

		for (int j = 0; j < n; j++) {
			uintptr_t i = (uintptr_t)ev[j].udata;

			CHECK_LT(i, N);
			if (!seen[i]) {
				seen[i] = 1;
				got++;
			}
		}
	}
	CHECKF(got == N, "second round: %d of %d", got, N);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(timer_wakes_poll_on_kqueue)
{
	int kq = kq_new();
	struct pollfd pfd = { .fd = kq, .events = POLLIN };
	struct kevent ev;

	long long t0 = now_ms();

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD, 0, 200, NULL);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_EQ(poll(&pfd, 1, SLACK_MS + 2000), 1);
	CHECK(pfd.revents & POLLIN);
	CHECK_GE(now_ms() - t0, 190);
	/* poll only peeked: the expiration is still there. */
	kev_expect(kq, 1, EVFILT_TIMER, 0, &ev);
	CHECK_GE(ev.data, 1);
}

/* About the module's counters: module only. */
TEST(timer_counters_close_and_exit)
{
	require_module_counters();
	enum { N = 100 };
	int gate = kq_new();
	long long kn0 = read_counter(NR_KN);
	int ready[2];

	int kq = kq_new();
	for (int i = 0; i < N; i++)
		kev_add(kq, i, EVFILT_TIMER, EV_ADD, 0, 10 + i, NULL);
	expect_counter(NR_KN, kn0 + N);
	sleep_ms(200);		/* some expired, not reported */
	CHECK_OK(close(kq));
	expect_counter(NR_KN, kn0);

	/* A process exiting with running timers frees them. */
	make_pipe(ready);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		int k = kq_new();

		for (int i = 0; i < N; i++)
			kev_add(k, i, EVFILT_TIMER, EV_ADD, NOTE_USECONDS,
				100 + i, NULL);
		write_n(ready[1], 1);
		pause();
		_exit(0);
	}
	read_n(ready[0], 1);
	expect_counter(NR_KN, kn0 + N);
	sleep_ms(100);
	CHECK_OK(kill(pid, SIGKILL));
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	expect_counter(NR_KN, kn0);
	CHECK_OK(close(gate));
}

/* macOS's and libkqueue's spelling of NOTE_ABSTIME compiles and works. */
_Static_assert(NOTE_ABSOLUTE == NOTE_ABSTIME, "NOTE_ABSOLUTE is NOTE_ABSTIME");

TEST(bsd_timer_note_absolute_alias)
{
	int kq = kq_new();
	struct kevent ev;
	long long deadline = realtime_us() + 200000;

	kev_add(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_ABSOLUTE | NOTE_USECONDS,
		deadline, (void *)1);
	kev_expect_none(kq, 1, EVFILT_TIMER);
	kev_expect(kq, 1, EVFILT_TIMER, SLACK_MS, &ev);
	CHECKF(realtime_us() >= deadline, "fired %lld us early",
	       deadline - realtime_us());
	CHECK_EQ(ev.data, 1);
	CHECK(ev.udata == (void *)1);
}
