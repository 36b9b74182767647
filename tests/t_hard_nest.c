/*
 * t_hard_nest.c - nested kqueues cannot be made to cost more than the
 * caller's own registrations (issue 14, item 1).
 *
 * Each EVFILT_READ knote on a dup() of a kqueue descriptor used to be its
 * own edge of the nesting graph, and the checks walked every path: with a
 * chain A -> B -> C -> D of F dups per level, one EV_ADD into D visited F^3
 * paths under a global mutex (a soft lockup with F = 1300).  Now an edge
 * is a pair of kqueues, whatever number of knotes it carries, and the
 * checks are O(1); these tests build such chains and time single calls.
 */
#include <stdlib.h>
#include <unistd.h>

#include "kqtest.h"

enum { FAN = 400 };	/* dups per level: F^3 = 64 million paths */

/* FAN EVFILT_READ knotes in outer, each on its own dup() of inner. */
static void add_dups(int outer, int inner, int *fds)
{
	struct kevent *ch = calloc(FAN, sizeof(*ch));

	CHECK(ch);
	for (int i = 0; i < FAN; i++) {
		fds[i] = CHECK_OK(dup(inner));
		EV_SET(&ch[i], fds[i], EVFILT_READ, EV_ADD, 0, 0, NULL);
	}
	CHECK_EQ(kevent(outer, ch, FAN, NULL, 0, NULL), 0);
	free(ch);
}

static void del_dups(int outer, const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		kev_add(outer, fds[i], EVFILT_READ, EV_DELETE, 0, 0, NULL);
}

/* ms one change takes (it must succeed or fail with err). */
static long long timed_change(int kq, int ident, short filter, int err)
{
	long long t0 = now_ms();

	if (err)
		CHECK_ERR(kev_change(kq, ident, filter, EV_ADD, 0, 0, NULL),
			  err);
	else
		kev_add(kq, ident, filter, EV_ADD, 0, 0, NULL);
	return now_ms() - t0;
}

/*
 * A chain A -> B -> C -> D with FAN knotes per level: building it, adding
 * to its ends, and an event travelling up it all take little time, and
 * every one of the FAN knotes of A reports.
 */
TEST(hard_nest_fanout_chain_is_cheap)
{
	int a = kq_new(), b = kq_new(), c = kq_new(), d = kq_new();
	int *fd = calloc(3 * FAN, sizeof(*fd));
	int p[2];

	CHECK(fd);
	raise_nofile(3 * FAN + 100);
	long long t0 = now_ms();
	add_dups(c, d, fd);
	add_dups(b, c, fd + FAN);
	add_dups(a, b, fd + 2 * FAN);
	long long build = now_ms() - t0;

	/* One more knote at the bottom: used to walk F^3 paths upwards. */
	make_pipe(p);
	long long bottom = timed_change(d, p[0], EVFILT_READ, 0);
	long long top = timed_change(a, p[1], EVFILT_WRITE, 0);
	kev_add(a, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	CHECKF(bottom < 200 && top < 200, "one EV_ADD took %lld ms (bottom) "
	       "and %lld ms (top) with %d dups per level", bottom, top, FAN);
	CHECKF(build < kqt_scaled_s(10) * 1000LL, "building the chain of "
	       "%d knotes took %lld ms", 3 * FAN, build);

	/* An event in D reaches A through every knote of every level. */
	write_n(p[1], 1);
	struct kevent *ev = calloc(FAN + 1, sizeof(*ev));
	CHECK(ev);
	int n = 0;
	long long deadline = now_ms() + WAIT_MS_DEFAULT;
	while (n < FAN && now_ms() < deadline) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		int r = CHECK_OK(kevent(a, NULL, 0, ev + n, FAN + 1 - n, &ts));

		for (int i = n; i < n + r; i++)
			CHECK_EQ(ev[i].filter, EVFILT_READ);
		n += r;
	}
	CHECK_EQ(n, FAN);

	/* Tearing the chain down is as cheap. */
	t0 = now_ms();
	for (int i = 0; i < 3 * FAN; i++)
		CHECK_OK(close(fd[i]));
	CHECK_OK(close(a));
	CHECK_OK(close(b));
	CHECK_OK(close(c));
	CHECK_OK(close(d));
	long long down = now_ms() - t0;
	CHECKF(down < kqt_scaled_s(10) * 1000LL, "closing took %lld ms", down);
	free(ev);
	free(fd);
}

/*
 * The many knotes of one (outer, inner) pair count as one edge for the
 * depth limit and the cycle check, and the edge goes with its last knote:
 * depths and heights shrink again when a chain loses a link.
 */
TEST(hard_nest_dup_edges_counted)
{
	int a = kq_new(), b = kq_new(), c = kq_new(), d = kq_new();
	int e = kq_new();
	int *fd = calloc(3 * FAN, sizeof(*fd));

	CHECK(fd);
	raise_nofile(3 * FAN + 100);
	add_dups(c, d, fd);
	add_dups(b, c, fd + FAN);
	add_dups(a, b, fd + 2 * FAN);

	/* Four kqueues in the chain: a fifth above or below is refused. */
	CHECK_ERR(kev_change(e, a, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_ERR(kev_change(d, e, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	/* Cycles through any level. */
	CHECK_ERR(kev_change(d, a, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_ERR(kev_change(c, b, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_ERR(kev_change(d, c, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	/* A short cut does not lengthen the chain. */
	kev_add(a, d, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(a, d, EVFILT_READ, EV_DELETE, 0, 0, NULL);

	/* B -> C loses all knotes but one: still an edge. */
	del_dups(b, fd + FAN, FAN - 1);
	CHECK_ERR(kev_change(c, b, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_ERR(kev_change(e, a, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	/* And then the last: A -> B and C -> D are chains of two. */
	del_dups(b, fd + 2 * FAN - 1, 1);
	kev_add(e, a, EVFILT_READ, EV_ADD, 0, 0, NULL);	/* E -> A -> B */
	/* C -> D -> E -> A -> B would be five. */
	CHECK_ERR(kev_change(d, e, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	kev_add(e, a, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	/* Was a cycle while B -> C was there: C -> D -> A -> B now. */
	kev_add(d, a, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kev_change(e, c, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_ERR(kev_change(b, e, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	kev_add(e, b, EVFILT_READ, EV_ADD, 0, 0, NULL);	/* E -> B */
	for (int i = 0; i < 3 * FAN; i++)
		close(fd[i]);
	free(fd);
}
