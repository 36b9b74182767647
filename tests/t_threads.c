/*
 * t_threads.c - several threads on one kqueue: four threads blocked in
 * kevent() get one EV_ONESHOT event each when four pipes become ready;
 * one ready EV_ONESHOT knote is delivered to exactly one of four waiters;
 * a registration of an already-ready knote by one thread wakes a thread
 * blocked in kevent(); concurrent registration/deletion from four threads
 * while another thread polls keeps every result consistent.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "kqtest.h"

enum { NT = 4 };

struct waiter {
	pthread_t tid;
	int kq;
	int ms;			/* timeout */
	pthread_barrier_t *bar;
	int n;			/* kevent() result */
	int err;
	struct kevent ev;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct timespec ts = { w->ms / 1000, (long)(w->ms % 1000) * 1000000 };

	pthread_barrier_wait(w->bar);
	w->n = kevent(w->kq, NULL, 0, &w->ev, 1, &ts);
	w->err = errno;
	return NULL;
}

static void start_waiters(struct waiter *w, int n, int kq, int ms,
			  pthread_barrier_t *bar)
{
	CHECK_EQ(pthread_barrier_init(bar, NULL, n + 1), 0);
	for (int i = 0; i < n; i++) {
		w[i].kq = kq;
		w[i].ms = ms;
		w[i].bar = bar;
		w[i].n = -2;
		CHECK_EQ(pthread_create(&w[i].tid, NULL, waiter_main, &w[i]),
			 0);
	}
	pthread_barrier_wait(bar);
	sleep_ms(300);		/* let them block in kevent() */
}

TEST(threads_four_waiters_four_oneshots)
{
	int kq = kq_new();
	int p[NT][2];
	struct waiter w[NT];
	pthread_barrier_t bar;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < NT; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0,
			(void *)(intptr_t)i);
	}
	start_waiters(w, NT, kq, 8000, &bar);
	for (int i = 0; i < NT; i++)
		write_n(p[i][1], 1);
	int seen[NT] = { 0 };
	for (int t = 0; t < NT; t++) {
		CHECK_EQ(pthread_join(w[t].tid, NULL), 0);
		CHECKF(w[t].n == 1, "thread %d: kevent returned %d (%s)", t,
		       w[t].n, w[t].n < 0 ? kqt_errname(w[t].err) : "-");
		intptr_t i = (intptr_t)w[t].ev.udata;
		CHECKF(i >= 0 && i < NT, "thread %d: %s", t,
		       kev_str(&w[t].ev));
		CHECK_EQ(w[t].ev.ident, p[i][0]);
		seen[i]++;
	}
	for (int i = 0; i < NT; i++)
		CHECKF(seen[i] == 1, "pipe %d reported %d times", i, seen[i]);
	kev_expect_empty(kq);
}

TEST(threads_one_oneshot_four_waiters)
{
	int kq = kq_new();
	int p[2];
	struct waiter w[NT];
	pthread_barrier_t bar;

	memset(w, 0, sizeof(w));
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT | EV_CLEAR, 0, 0,
		(void *)0x51);
	start_waiters(w, NT, kq, 1500, &bar);
	write_n(p[1], 1);
	int got = 0;
	for (int t = 0; t < NT; t++) {
		CHECK_EQ(pthread_join(w[t].tid, NULL), 0);
		CHECKF(w[t].n == 0 || w[t].n == 1, "thread %d: %d (%s)", t,
		       w[t].n, w[t].n < 0 ? kqt_errname(w[t].err) : "-");
		if (w[t].n == 1) {
			got++;
			CHECK_EQ(w[t].ev.ident, p[0]);
			CHECK(w[t].ev.udata == (void *)0x51);
		}
	}
	CHECKF(got == 1, "the one oneshot event was delivered %d times", got);
	kev_expect_empty(kq);
}

TEST(threads_register_wakes_waiter)
{
	int kq = kq_new();
	int p[2];
	struct waiter w[1];
	pthread_barrier_t bar;

	memset(w, 0, sizeof(w));
	make_pipe(p);
	write_n(p[1], 2);	/* ready before it is registered */
	start_waiters(w, 1, kq, 6000, &bar);
	long long t0 = now_ms();
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x52);
	CHECK_EQ(pthread_join(w[0].tid, NULL), 0);
	long long dt = now_ms() - t0;
	CHECKF(w[0].n == 1, "waiter got %d (%s) after %lld ms", w[0].n,
	       w[0].n < 0 ? kqt_errname(w[0].err) : "-", dt);
	CHECK(w[0].ev.udata == (void *)0x52);
	CHECKF(dt < 4000, "waiter woke only after %lld ms", dt);
}

TEST(threads_enable_wakes_waiter)
{
	int kq = kq_new();
	int p[2];
	struct waiter w[1];
	pthread_barrier_t bar;

	memset(w, 0, sizeof(w));
	make_pipe(p);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, NULL);
	start_waiters(w, 1, kq, 6000, &bar);
	long long t0 = now_ms();
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(pthread_join(w[0].tid, NULL), 0);
	long long dt = now_ms() - t0;
	CHECKF(w[0].n == 1, "waiter got %d after %lld ms", w[0].n, dt);
	CHECKF(dt < 4000, "waiter woke only after %lld ms", dt);
}

struct churn {
	pthread_t tid;
	int kq;
	int fds[16];
	int failures;
	char msg[200];
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	struct kevent ch[16];

	for (int it = 0; it < 100 && !c->failures; it++) {
		for (int i = 0; i < 16; i++)
			EV_SET(&ch[i], c->fds[i], EVFILT_WRITE, EV_ADD, 0, 0,
			       c);
		int r = kevent(c->kq, ch, 16, NULL, 0, NULL);
		if (r != 0) {
			snprintf(c->msg, sizeof(c->msg), "add: %d (%s)", r,
				 kqt_errname(errno));
			c->failures++;
			break;
		}
		for (int i = 0; i < 16; i++)
			ch[i].flags = (it & 1) ? EV_DISABLE : EV_ENABLE;
		r = kevent(c->kq, ch, 16, NULL, 0, NULL);
		if (r != 0) {
			snprintf(c->msg, sizeof(c->msg), "disable/enable: %d "
				 "(%s)", r, kqt_errname(errno));
			c->failures++;
			break;
		}
		for (int i = 0; i < 16; i++)
			ch[i].flags = EV_DELETE;
		r = kevent(c->kq, ch, 16, NULL, 0, NULL);
		if (r != 0) {
			snprintf(c->msg, sizeof(c->msg), "delete: %d (%s)", r,
				 kqt_errname(errno));
			c->failures++;
			break;
		}
	}
	return NULL;
}

TEST(threads_concurrent_register_and_poll)
{
	int kq = kq_new();
	struct churn c[NT];
	struct kevent ev[64];

	memset(c, 0, sizeof(c));
	for (int t = 0; t < NT; t++) {
		c[t].kq = kq;
		for (int i = 0; i < 16; i += 2) {
			int p[2];

			make_pipe(p);
			c[t].fds[i] = p[1];
			c[t].fds[i + 1] = dup(p[1]);
			CHECK_OK(c[t].fds[i + 1]);
		}
	}
	for (int t = 0; t < NT; t++)
		CHECK_EQ(pthread_create(&c[t].tid, NULL, churn_main, &c[t]),
			 0);
	/* Poll while they churn; every event must be one of theirs. */
	int running = 1;
	int joined[NT] = { 0 };
	long long deadline = now_ms() + kqt_scaled_s(20) * 1000LL;
	while (running) {
		int n = kev_poll(kq, ev, 64);

		for (int k = 0; k < n; k++) {
			struct churn *o = ev[k].udata;
			int ok = 0;

			for (int t = 0; t < NT; t++)
				if (o == &c[t])
					for (int i = 0; i < 16; i++)
						ok |= (uintptr_t)c[t].fds[i] ==
						      ev[k].ident;
			CHECKF(ok && ev[k].filter == EVFILT_WRITE,
			       "stray event %s", kev_str(&ev[k]));
		}
		running = 0;
		for (int t = 0; t < NT; t++) {
			if (!joined[t] &&
			    pthread_tryjoin_np(c[t].tid, NULL) == 0)
				joined[t] = 1;
			if (!joined[t])
				running = 1;
		}
		CHECKF(now_ms() < deadline, "threads did not finish");
	}
	for (int t = 0; t < NT; t++)
		CHECKF(!c[t].failures, "thread %d: %s", t, c[t].msg);
	kev_expect_empty(kq);
}
