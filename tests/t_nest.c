/*
 * t_nest.c - the kqueue descriptor as an event source.
 *
 *   - poll(), select() and epoll report a kqueue readable exactly when
 *     kevent() would return an event: not with nothing registered or nothing
 *     ready, yes once a pipe is readable, no again once the data is read (a
 *     level-triggered knote whose condition went away), no for a collected
 *     EV_CLEAR or EV_DISPATCH knote, a disabled knote or an unmet
 *     NOTE_LOWAT; a poll does not consume; epoll_wait(), select() (and epoll
 *     on a kqueue nesting another) sleep until an event arrives later;
 *   - EVFILT_READ on a kqueue reports data = the events it would return, and
 *     stops firing once they are consumed; a waiter on the outermost kqueue
 *     of a chain is woken by an event at the bottom;
 *   - the graph stays sane: a kqueue in itself (also through a dup) is
 *     EINVAL, EVFILT_WRITE on a kqueue is EINVAL (FreeBSD), cycles are ELOOP,
 *     chains of more than four kqueues are ELOOP from either end and when
 *     two chains are joined; removing a link (EV_DELETE, or closing either
 *     kqueue) makes room again.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KQ	"nr_kqueues"
#define NR_KN	"nr_knotes"

/*
 * Whether kq is readable now; poll(), select() and epoll (ep watches kq,
 * level-triggered) must agree.
 */
static int kq_readable_at(const char *file, int line, int kq, int ep)
{
	struct pollfd pfd = { .fd = kq, .events = POLLIN };
	struct timeval tv = { 0, 0 };
	struct epoll_event ee = { 0 };
	fd_set rs;
	int rp, rsel, rep;

	rp = poll(&pfd, 1, 0);
	FD_ZERO(&rs);
	FD_SET(kq, &rs);
	rsel = select(kq + 1, &rs, NULL, NULL, &tv);
	rep = epoll_wait(ep, &ee, 1, 0);
	if (rp < 0 || rsel < 0 || rep < 0)
		kqt_fail(file, line, "poll %d, select %d, epoll_wait %d: %s",
			 rp, rsel, rep, kqt_errname(errno));
	if (rp != rsel || rp != rep)
		kqt_fail(file, line, "poll says %d (revents 0x%x), select %d, "
			 "epoll %d", rp, pfd.revents, rsel, rep);
	if (rp && pfd.revents != POLLIN)
		kqt_fail(file, line, "poll revents 0x%x, want POLLIN",
			 pfd.revents);
	if (rep && ee.events != EPOLLIN)
		kqt_fail(file, line, "epoll events 0x%x, want EPOLLIN",
			 ee.events);
	return rp;
}
#define kq_readable(kq, ep)	kq_readable_at(__FILE__, __LINE__, kq, ep)

static int epoll_on(int fd)
{
	struct epoll_event ee = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	CHECK_OK(ep);
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee));
	return ep;
}

TEST(nest_kqfd_readable_exactly_when_events)
{
	int kq = kq_new();
	int ep = epoll_on(kq);
	int p[2], q[2], r[2], s[2];
	struct kevent ev[8];

	CHECK_EQ(kq_readable(kq, ep), 0);	/* nothing registered */
	make_pipe(p);
	make_pipe(q);
	make_pipe(r);
	make_pipe(s);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
	kev_add(kq, q[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)2);
	kev_add(kq, r[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, (void *)3);
	kev_add(kq, s[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 4, (void *)4);
	CHECK_EQ(kq_readable(kq, ep), 0);	/* nothing ready */
	kev_expect_empty(kq);

	/* Level-triggered. */
	write_n(p[1], 1);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kq_readable(kq, ep), 1);	/* asking consumes nothing */
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(kq_readable(kq, ep), 1);	/* still true */
	read_n(p[0], 1);
	CHECK_EQ(kq_readable(kq, ep), 0);	/* no kevent() in between */
	kev_expect_empty(kq);

	/* Disabled while true, enabled again. */
	write_n(p[1], 1);
	CHECK_EQ(kq_readable(kq, ep), 1);
	kev_add(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	CHECK_EQ(kq_readable(kq, ep), 0);
	kev_expect_empty(kq);
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	read_n(p[0], 1);
	CHECK_EQ(kq_readable(kq, ep), 0);

	/* EV_CLEAR: collected means gone, though the data is still there. */
	write_n(q[1], 1);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(ev[0].ident, q[0]);
	CHECK_EQ(kq_readable(kq, ep), 0);
	kev_expect_empty(kq);
	write_n(q[1], 1);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(ev[0].data, 2);
	CHECK_EQ(kq_readable(kq, ep), 0);

	/* EV_DISPATCH: disabled once collected, true again when enabled. */
	write_n(r[1], 1);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(ev[0].ident, r[0]);
	CHECK_EQ(kq_readable(kq, ep), 0);
	kev_expect_empty(kq);
	kev_add(kq, r[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(kq_readable(kq, ep), 0);

	/* NOTE_LOWAT: readable only once the mark is reached. */
	write_n(s[1], 2);
	CHECK_EQ(kq_readable(kq, ep), 0);
	kev_expect_empty(kq);
	write_n(s[1], 2);
	CHECK_EQ(kq_readable(kq, ep), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(ev[0].data, 4);
	kev_add(kq, s[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHECK_EQ(kq_readable(kq, ep), 0);
	kev_expect_empty(kq);
}

struct late_writer {
	pthread_t tid;
	int fd;
	int ms;
};

static void *late_writer_main(void *arg)
{
	struct late_writer *w = arg;

	sleep_ms(w->ms);
	write_n(w->fd, 1);
	return NULL;
}

static void late_write(struct late_writer *w, int fd, int ms)
{
	w->fd = fd;
	w->ms = ms;
	CHECK_EQ(pthread_create(&w->tid, NULL, late_writer_main, w), 0);
}

TEST(nest_kqfd_sleepers_woken_by_later_event)
{
	int kq = kq_new();
	int ep = epoll_on(kq);
	int p[2];
	struct late_writer w;
	struct epoll_event ee;
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);

	/* epoll_wait() */
	long long t0 = now_ms();
	late_write(&w, p[1], 200);
	int n = epoll_wait(ep, &ee, 1, 10000);
	long long dt = now_ms() - t0;
	CHECKF(n == 1 && (ee.events & EPOLLIN), "epoll_wait: %d (%s), "
	       "events 0x%x", n, n < 0 ? kqt_errname(errno) : "-",
	       n > 0 ? ee.events : 0);
	CHECKF(dt >= 150, "epoll_wait returned after %lld ms, before the "
	       "write", dt);
	CHECKF(dt < 8000, "epoll_wait woke only after %lld ms", dt);
	CHECK_EQ(pthread_join(w.tid, NULL), 0);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	read_n(p[0], 1);
	CHECK_EQ(kq_readable(kq, ep), 0);

	/* select() */
	fd_set rs;
	struct timeval tv = { 10, 0 };
	FD_ZERO(&rs);
	FD_SET(kq, &rs);
	t0 = now_ms();
	late_write(&w, p[1], 200);
	n = select(kq + 1, &rs, NULL, NULL, &tv);
	dt = now_ms() - t0;
	CHECKF(n == 1 && FD_ISSET(kq, &rs), "select: %d", n);
	CHECKF(dt >= 150 && dt < 8000, "select returned after %lld ms", dt);
	CHECK_EQ(pthread_join(w.tid, NULL), 0);
	read_n(p[0], 1);

	/* epoll on a kqueue that nests another one. */
	int inner = kq_new(), outer = kq_new();
	int q[2];
	make_pipe(q);
	kev_add(inner, q[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(outer, inner, EVFILT_READ, EV_ADD, 0, 0, NULL);
	int ep2 = epoll_on(outer);
	CHECK_EQ(kq_readable(outer, ep2), 0);
	t0 = now_ms();
	late_write(&w, q[1], 200);
	n = epoll_wait(ep2, &ee, 1, 10000);
	dt = now_ms() - t0;
	CHECKF(n == 1, "epoll_wait on the outer kqueue: %d", n);
	CHECKF(dt >= 150 && dt < 8000, "returned after %lld ms", dt);
	CHECK_EQ(pthread_join(w.tid, NULL), 0);
	CHECK_EQ(kev_poll(outer, ev, 4), 1);
	CHECK_EQ(ev[0].ident, inner);
}

TEST(nest_read_data_counts_inner_events)
{
	enum { NP = 6 };
	int inner = kq_new(), outer = kq_new();
	int p[NP][2];
	struct kevent ev[8];

	for (int i = 0; i < NP; i++) {
		make_pipe(p[i]);
		kev_add(inner, p[i][0], EVFILT_READ,
			EV_ADD | (i == 3 || i == 4 ? EV_CLEAR : 0), 0, 0,
			NULL);
	}
	kev_add(outer, inner, EVFILT_READ, EV_ADD, 0, 0, (void *)0x77);
	kev_expect_empty(outer);

	for (int i = 0; i < 3; i++)
		write_n(p[i][1], 1);
	int n = kev_poll(outer, ev, 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, inner);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK_EQ_HEX(ev[0].flags, 0);
	CHECK_EQ(ev[0].fflags, 0);
	CHECK_EQ(ev[0].data, 3);
	CHECK(ev[0].udata == (void *)0x77);

	read_n(p[0][0], 1);
	kev_expect_data(outer, inner, EVFILT_READ, 2, WAIT_MS_DEFAULT, NULL);
	write_n(p[3][1], 1);
	write_n(p[4][1], 1);
	kev_expect_data(outer, inner, EVFILT_READ, 4, WAIT_MS_DEFAULT, NULL);
	/* Collecting the inner kqueue consumes its EV_CLEAR events. */
	CHECK_EQ(kev_poll(inner, ev, 8), 4);
	kev_expect_data(outer, inner, EVFILT_READ, 2, WAIT_MS_DEFAULT, NULL);
	/* Reading the rest leaves nothing to report. */
	read_n(p[1][0], 1);
	read_n(p[2][0], 1);
	kev_expect_empty(outer);
	kev_expect_empty(inner);
	/* A disabled inner knote does not count either. */
	write_n(p[5][1], 1);
	kev_expect_data(outer, inner, EVFILT_READ, 1, WAIT_MS_DEFAULT, NULL);
	kev_add(inner, p[5][0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(outer);
}

struct waiter {
	pthread_t tid;
	int kq;
	int n;
	int err;
	long long dt;
	struct kevent ev;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct timespec ts = { 10, 0 };
	long long t0 = now_ms();

	w->n = kevent(w->kq, NULL, 0, &w->ev, 1, &ts);
	w->err = errno;
	w->dt = now_ms() - t0;
	return NULL;
}

TEST(nest_outer_waiter_woken_through_chain)
{
	int k1 = kq_new(), k2 = kq_new(), k3 = kq_new();
	int p[2];
	struct waiter w[2] = { { .kq = k3 }, { .kq = k2 } };

	make_pipe(p);
	kev_add(k1, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(k2, k1, EVFILT_READ, EV_ADD, 0, 0, (void *)0x21);
	kev_add(k3, k2, EVFILT_READ, EV_ADD, 0, 0, (void *)0x32);
	kev_expect_empty(k3);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&w[i].tid, NULL, waiter_main, &w[i]),
			 0);
	sleep_ms(300);
	write_n(p[1], 1);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(pthread_join(w[i].tid, NULL), 0);
		CHECKF(w[i].n == 1, "waiter on k%d: %d (%s) after %lld ms",
		       3 - i, w[i].n, w[i].n < 0 ? kqt_errname(w[i].err) :
		       "-", w[i].dt);
		CHECKF(w[i].dt < 5000, "woken after %lld ms", w[i].dt);
		CHECK_EQ(w[i].ev.data, 1);
	}
	CHECK_EQ(w[0].ev.ident, k2);
	CHECK(w[0].ev.udata == (void *)0x32);
	CHECK_EQ(w[1].ev.ident, k1);
	CHECK(w[1].ev.udata == (void *)0x21);
}

struct spinner {
	pthread_t tid;
	int kq;
	int stop;
	long scans;
	int err;
};

/* Collects from kq as fast as it can until told to stop. */
static void *spinner_main(void *arg)
{
	struct spinner *s = arg;
	struct timespec ts0 = { 0, 0 };
	struct kevent ev[128];

	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		if (kevent(s->kq, NULL, 0, ev, 128, &ts0) < 0) {
			s->err = errno;
			break;
		}
		__atomic_add_fetch(&s->scans, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * An inner kqueue with a level-triggered event always pending, collected
 * over and over by another thread: a waiter on the outer kqueue, and a
 * poll() on the inner one, must each see it every time (a scan in progress
 * is no reason to miss it for good).
 */
TEST(nest_inner_readable_while_collected_by_another_thread)
{
	enum { PHASE_MS = 2000, MS = 3000, NP = 64 };
	int inner = kq_new(), outer = kq_new();
	int p[NP][2];
	struct spinner s = { .kq = inner };
	struct kevent ev[4];
	int rounds;

	/* Many ready knotes: each of the collector's scans takes a while. */
	for (int i = 0; i < NP; i++) {
		make_pipe(p[i]);
		kev_add(inner, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		write_n(p[i][1], 1);	/* never read: always true */
	}
	kev_add(outer, inner, EVFILT_READ, EV_ADD, 0, 0, (void *)0x10);
	CHECK_EQ(pthread_create(&s.tid, NULL, spinner_main, &s), 0);
	while (!__atomic_load_n(&s.scans, __ATOMIC_RELAXED))
		sched_yield();

	/* Each phase: as many rounds as fit in PHASE_MS (at least 20). */
	long long end = now_ms() + PHASE_MS;
	for (rounds = 0; rounds < 20 || now_ms() < end; rounds++) {
		long long t0 = now_ms();
		int n = kev_wait(outer, ev, 4, MS);

		CHECKF(n == 1, "round %d: the outer kqueue reported nothing "
		       "for %lld ms although the inner one always has an "
		       "event", rounds, now_ms() - t0);
		CHECK_EQ(ev[0].ident, inner);
	}
	end = now_ms() + PHASE_MS;
	for (rounds = 0; rounds < 20 || now_ms() < end; rounds++) {
		struct pollfd pfd = { .fd = inner, .events = POLLIN };
		long long t0 = now_ms();
		int n = poll(&pfd, 1, MS);

		CHECKF(n == 1, "round %d: poll() on the inner kqueue: %d after "
		       "%lld ms although it always has an event", rounds, n,
		       now_ms() - t0);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(pthread_join(s.tid, NULL), 0);
	CHECKF(s.err == 0, "collector: %s", kqt_errname(s.err));
}

TEST(nest_self_einval)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	struct kevent ch, ev[2];

	CHECK_ERR(kev_change(kq, kq, EVFILT_READ, EV_ADD, 0, 0, NULL),
		  EINVAL);
	/* Through another descriptor it is still the same kqueue. */
	int d = dup(kq);
	CHECK_OK(d);
	CHECK_ERR(kev_change(kq, d, EVFILT_READ, EV_ADD, 0, 0, NULL), EINVAL);
	CHECK_ERR(kev_change(d, kq, EVFILT_READ, EV_ADD, 0, 0, NULL), EINVAL);
	EV_SET(&ch, kq, EVFILT_READ, EV_ADD, 0, 0, (void *)0x5e1f);
	CHECK_EQ(kevent(kq, &ch, 1, ev, 2, NULL), 1);
	CHECK_EQ(ev[0].ident, kq);
	CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
	CHECK_EQ(ev[0].data, EINVAL);
	CHECK(ev[0].udata == (void *)0x5e1f);
	EXPECT_COUNTER(NR_KN, kn0);
	/* Still a working kqueue. */
	int p[2];
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	CHECK_EQ(kev_poll(d, ev, 2), 1);
}

/* FreeBSD's kqueue_kqfilter() accepts EVFILT_READ only. */
TEST(nest_write_filter_on_kqueue_einval)
{
	int inner = kq_new(), outer = kq_new();
	long long kn0 = counter_base(NR_KN);

	CHECK_ERR(kev_change(outer, inner, EVFILT_WRITE, EV_ADD, 0, 0, NULL),
		  EINVAL);
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(nest_cycles_eloop)
{
	int a = kq_new(), b = kq_new(), c = kq_new();
	long long kn0 = counter_base(NR_KN);
	struct kevent ch, ev[2];

	/* a in b */
	kev_add(b, a, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kev_change(a, b, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	/* b in c */
	kev_add(c, b, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kev_change(a, c, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_ERR(kev_change(b, c, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	EV_SET(&ch, c, EVFILT_READ, EV_ADD, 0, 0, (void *)0x100b);
	CHECK_EQ(kevent(a, &ch, 1, ev, 2, NULL), 1);
	CHECK_EQ(ev[0].ident, c);
	CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
	CHECK_EQ(ev[0].data, ELOOP);
	CHECK(ev[0].udata == (void *)0x100b);
	EXPECT_COUNTER(NR_KN, kn0 + 2);

	/* Without b in c, c may go in a; then b in c closes a cycle. */
	kev_add(c, b, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	/* c in a */
	kev_add(a, c, EVFILT_READ, EV_ADD, 0, 0, (void *)0xac);
	CHECK_ERR(kev_change(c, b, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	/* Events flow down the chain c -> a -> b. */
	int p[2];
	make_pipe(p);
	kev_add(c, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	struct kevent e;
	kev_expect_data(b, a, EVFILT_READ, 1, WAIT_MS_DEFAULT, &e);
	kev_expect_data(a, c, EVFILT_READ, 1, WAIT_MS_DEFAULT, &e);
	CHECK(e.udata == (void *)0xac);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
	CHECK_OK(close(c));
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(nest_chain_of_four_max)
{
	int k[6];
	int p[2];
	struct kevent e;

	for (int i = 0; i < 6; i++)
		k[i] = kq_new();
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);

	/* k1 in k2 in k3 in k4: four kqueues, allowed. */
	kev_add(k[2], k[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(k[3], k[2], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(k[4], k[3], EVFILT_READ, EV_ADD, 0, 0, NULL);
	/* A fifth at the top, or at the bottom: ELOOP. */
	CHECK_ERR(kev_change(k[5], k[4], EVFILT_READ, EV_ADD, 0, 0, NULL),
		  ELOOP);
	CHECK_ERR(kev_change(k[1], k[0], EVFILT_READ, EV_ADD, 0, 0, NULL),
		  ELOOP);
	/* Joining a chain of two to it, either way round: ELOOP. */
	/* k0 in k5 */
	kev_add(k[5], k[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kev_change(k[1], k[5], EVFILT_READ, EV_ADD, 0, 0, NULL),
		  ELOOP);
	CHECK_ERR(kev_change(k[0], k[4], EVFILT_READ, EV_ADD, 0, 0, NULL),
		  ELOOP);
	/* A side branch that keeps every chain at four: fine. */
	/* k0 in k3 */
	kev_add(k[3], k[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	EXPECT_COUNTER(NR_KN, kn0 + 5);

	/* An event at the bottom shows at the top. */
	make_pipe(p);
	kev_add(k[1], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	kev_expect_data(k[4], k[3], EVFILT_READ, 1, WAIT_MS_DEFAULT, &e);

	/* Without the bottom link there is room at the top... */
	kev_add(k[2], k[1], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	/* k4 in k5 */
	kev_add(k[5], k[4], EVFILT_READ, EV_ADD, 0, 0, NULL);
	/* ...and none at the bottom any more. */
	CHECK_ERR(kev_change(k[2], k[1], EVFILT_READ, EV_ADD, 0, 0, NULL),
		  ELOOP);
	EXPECT_COUNTER(NR_KN, kn0 + 6);
	for (int i = 0; i < 6; i++)
		CHECK_OK(close(k[i]));
	EXPECT_COUNTER(NR_KN, kn0);
	EXPECT_COUNTER(NR_KQ, kq0 - 6);
}

TEST(nest_close_inner_or_outer_unlinks)
{
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);
	int inner = kq_new(), outer = kq_new();
	int p[2], q[2];

	make_pipe(p);
	make_pipe(q);
	kev_add(inner, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(inner, q[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(outer, inner, EVFILT_READ, EV_ADD, 0, 0, (void *)0x1);
	EXPECT_COUNTER(NR_KN, kn0 + 3);
	EXPECT_COUNTER(NR_KQ, kq0 + 2);
	write_n(p[1], 1);	/* the outer's event is pending */

	/* Closing the inner kqueue removes the outer's knote on it. */
	int x = inner;
	CHECK_OK(close(inner));
	EXPECT_COUNTER(NR_KN, kn0);
	EXPECT_COUNTER(NR_KQ, kq0 + 1);
	kev_expect_empty(outer);
	write_n(q[1], 1);
	kev_expect_empty(outer);
	/* Its number on a new kqueue: not watched. */
	int fresh = kq_new();
	if (fresh != x) {
		CHECK_EQ(fcntl(fresh, F_DUPFD, x), x);
		CHECK_OK(close(fresh));
	}
	CHECK_ERR(kev_change(outer, x, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	CHECK_OK(close(x));

	/* outer's height is back to 0: it can be the bottom of four. */
	int a = kq_new(), b = kq_new(), c = kq_new();
	kev_add(a, outer, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(b, a, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(c, b, EVFILT_READ, EV_ADD, 0, 0, NULL);

	/*
	 * Closing an outer kqueue unlinks it from its inner one: u in y, and
	 * a chain m in n in o; o in u would make five; with y closed it is
	 * four.
	 */
	int u = kq_new(), y = kq_new(), m = kq_new(), n = kq_new();
	int o = kq_new();
	kev_add(y, u, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(n, m, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(o, n, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kev_change(u, o, EVFILT_READ, EV_ADD, 0, 0, NULL), ELOOP);
	CHECK_OK(close(y));
	kev_add(u, o, EVFILT_READ, EV_ADD, 0, 0, NULL);

	int all[] = { outer, a, b, c, u, m, n, o };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		CHECK_OK(close(all[i]));
	EXPECT_COUNTER(NR_KN, kn0);
	EXPECT_COUNTER(NR_KQ, kq0);
}
