/*
 * t_cycles.c - a kqueue and an epoll instance watching each other.
 *
 * epoll's loop check cannot see into a kqueue and the kqueue's cannot see
 * into epoll, so the cycle (kqueue watches epoll, epoll watches the
 * kqueue) is allowed.  Every way of asking either side about the other
 * must answer without deadlocking: epoll_wait(), poll() on the kqueue,
 * kevent(), in either order, from one thread and from two at once.
 */
#include <pthread.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kqtest.h"

struct cycle {
	int kq, ep, p[2];
};

static void cycle_make(struct cycle *c)
{
	struct epoll_event ee = { .events = EPOLLIN };

	c->kq = kq_new();
	c->ep = epoll_create1(0);
	CHECK(c->ep >= 0);
	make_pipe(c->p);
	CHECK(epoll_ctl(c->ep, EPOLL_CTL_ADD, c->kq, &ee) == 0);
	kev_add(c->kq, c->ep, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(c->kq, c->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
}

TEST(cycle_epoll_wait_first)
{
	struct epoll_event out;
	struct pollfd pf;
	struct cycle c;

	cycle_make(&c);
	write_n(c.p[1], 1);
	/* epoll_wait polls the kqueue, which holds a knote on the epoll. */
	KQT_CMP(epoll_wait(c.ep, &out, 1, 0), ==, 1);
	pf.fd = c.kq;
	pf.events = POLLIN;
	KQT_CMP(poll(&pf, 1, 0), ==, 1);
	kev_expect(c.kq, c.p[0], EVFILT_READ, 0, NULL);
}

TEST(cycle_kevent_first)
{
	struct epoll_event out;
	struct cycle c;

	cycle_make(&c);
	write_n(c.p[1], 1);
	kev_expect(c.kq, c.p[0], EVFILT_READ, 0, NULL);
	/* The answer may be either; it must come back. */
	CHECK(epoll_wait(c.ep, &out, 1, 0) >= 0);
}

static void *cycle_epoll_loop(void *arg)
{
	struct cycle *c = arg;
	struct epoll_event out;
	int i;

	for (i = 0; i < 2000; i++)
		if (epoll_wait(c->ep, &out, 1, 0) < 0)
			FAIL("epoll_wait: %s", kqt_errname(errno));
	return NULL;
}

TEST(cycle_two_threads)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev[4];
	pthread_t t;
	struct cycle c;
	int i;

	cycle_make(&c);
	write_n(c.p[1], 1);
	CHECK(pthread_create(&t, NULL, cycle_epoll_loop, &c) == 0);
	for (i = 0; i < 2000; i++) {
		struct pollfd pf = { .fd = c.kq, .events = POLLIN };

		CHECK(kevent(c.kq, NULL, 0, ev, 4, &zero) >= 1);
		CHECK(poll(&pf, 1, 0) >= 0);
	}
	CHECK(pthread_join(t, NULL) == 0);
}

/*
 * EVFILT_WRITE on an epoll instance that holds this kqueue: a second
 * kqueue registering the epoll polls it, epoll polls the first kqueue,
 * whose queued WRITE knote must not poll the epoll back (its mutex is
 * held: that was a deadlock, found by kqfuzz seed 756858807400).  An
 * epoll instance is never writable.
 */
TEST(cycle_write_filter_on_epoll_in_chain)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct kevent ev[4];
	int a = kq_new(), b = kq_new(), ep = epoll_create1(0);

	CHECK(ep >= 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, b, &ee) == 0);
	kev_add(b, ep, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	/* A second EV_ADD queues the knote for a check. */
	kev_add(b, ep, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	alarm(kqt_scaled_s(10));
	kev_add(a, ep, EVFILT_READ, EV_ADD, 0, 0, NULL);
	KQT_CMP(kev_wait(a, ev, 4, 0), ==, 0);
	KQT_CMP(kev_wait(b, ev, 4, 0), ==, 0);
	alarm(0);
}
