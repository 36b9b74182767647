/*
 * t_time64.c - kevent() from a program whose time_t is 64 bits.
 *
 * In a 32-bit (i386) build this file is compiled with _TIME_BITS=64 (and
 * the _FILE_OFFSET_BITS=64 that glibc requires with it), unlike the rest of
 * kqtest: its struct timespec is then 16 bytes (64-bit tv_sec, 32-bit
 * tv_nsec, 4 bytes of padding), and <sys/event.h> sends its kevent() calls
 * to the library's kevent_time64().  In a 64-bit build time_t is 64 bits
 * anyway and these are ordinary timeout tests.  The helpers called here
 * take no type whose size those macros change (time_t, off_t, rlim_t).
 */
#if defined(__i386__) && !defined(_TIME_BITS)
#define _TIME_BITS		64
#define _FILE_OFFSET_BITS	64
#endif

#include <string.h>
#include <unistd.h>

#include "kqtest.h"

_Static_assert(sizeof(time_t) == 8, "this file is built with a 64-bit time_t");

/* A timeout whose padding (i386: after tv_nsec) holds garbage. */
static struct timespec ts_dirty(long long sec, long nsec)
{
	struct timespec ts;

	memset(&ts, 0xff, sizeof(ts));
	ts.tv_sec = sec;
	ts.tv_nsec = nsec;
	return ts;
}

TEST(time64_timeout_zero_polls)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct timespec ts = ts_dirty(0, 0);

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	long long t0 = now_ms();
	for (int i = 0; i < 20; i++)
		CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
	CHECKF(now_ms() - t0 < 2000, "20 zero-timeout polls took %lld ms",
	       now_ms() - t0);
	write_n(p[1], 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 1);
	CHECK_EQ(ev[0].ident, p[0]);
}

TEST(time64_timeout_expires)
{
	int kq = kq_new();
	struct kevent ev[2];
	struct timespec ts = ts_dirty(0, 300 * 1000000L);

	long long t0 = now_ms();
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
	long long dt = now_ms() - t0;

	CHECKF(dt >= 290 && dt < 5000, "a 300 ms timeout returned after "
	       "%lld ms", dt);
	ts = ts_dirty(1, 0);
	t0 = now_ms();
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
	dt = now_ms() - t0;
	CHECKF(dt >= 990 && dt < 6000, "a 1 s timeout returned after %lld ms",
	       dt);
}

/* Beyond 32-bit seconds: a wait that an event ends, not an error. */
TEST(time64_timeout_huge_waits)
{
	int kq = kq_new();
	struct kevent ev[2];
	const long long huge[] = { 1LL << 32, 1LL << 40, INT64_MAX };

	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		struct timespec ts = ts_dirty(huge[i], 999999999L);

		kev_add(kq, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 100,
			NULL);
		long long t0 = now_ms();
		int n = kevent(kq, NULL, 0, ev, 2, &ts);

		CHECKF(n == 1, "tv_sec %lld: got %d (%s)", huge[i], n,
		       n < 0 ? kqt_errname(errno) : "-");
		CHECK_EQ(ev[0].filter, EVFILT_TIMER);
		CHECKF(now_ms() - t0 >= 90, "tv_sec %lld: returned after %lld "
		       "ms, before the timer", huge[i], now_ms() - t0);
	}
}

TEST(time64_timeout_invalid)
{
	int kq = kq_new();
	struct kevent ev[2];
	const struct { long long sec; long nsec; } bad[] = {
		{ -1, 0 }, { INT64_MIN, 0 }, { -(1LL << 32), 0 },
		{ 0, -1 }, { 0, 1000000000L }, { 1LL << 40, -1 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct timespec ts = ts_dirty(bad[i].sec, bad[i].nsec);

		errno = 0;
		int r = kevent(kq, NULL, 0, ev, 2, &ts);

		CHECKF(r == -1 && errno == EINVAL, "{%lld, %ld}: %d/%s, want "
		       "-1/EINVAL", bad[i].sec, bad[i].nsec, r,
		       kqt_errname(errno));
	}
}
