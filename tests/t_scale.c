/*
 * t_scale.c - behaviour with many knotes: fairness (64 ready pipes read
 * one event at a time report all 64 in 64 calls), many events in one
 * call and across calls with a short eventlist, 5,000 idle pipes with one
 * made ready (exactly that event, with its udata), and one kevent() call
 * carrying 1,000 changes (plain, EV_RECEIPT, EV_DELETE).
 */
#include <stdlib.h>
#include <unistd.h>

#include "kqtest.h"

TEST(scale_fairness_64_pipes)
{
	enum { N = 64 };
	int kq = kq_new();
	int p[N][2];
	struct kevent ev[2];

	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0,
			(void *)(intptr_t)i);
		write_n(p[i][1], 1);
	}
	for (int round = 0; round < 2; round++) {
		char seen[N] = { 0 };
		int distinct = 0;

		for (int c = 0; c < N; c++) {
			CHECK_EQ(kev_poll(kq, ev, 1), 1);
			intptr_t i = (intptr_t)ev[0].udata;
			CHECKF(i >= 0 && i < N, "udata %p", ev[0].udata);
			CHECK_EQ(ev[0].ident, p[i][0]);
			if (!seen[i]++)
				distinct++;
		}
		CHECKF(distinct == N, "round %d: %d calls with nevents 1 "
		       "reported only %d distinct pipes of %d ready", round,
		       N, distinct, N);
	}
}

TEST(scale_many_events_one_call)
{
	enum { N = 200 };
	int kq = kq_new();
	int p[N][2];
	struct kevent ev[N + 56];

	raise_nofile(1024);
	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0,
			(void *)(intptr_t)i);
		write_n(p[i][1], 1 + i % 7);
	}
	int n = kev_poll(kq, ev, N + 56);
	CHECK_EQ(n, N);
	char seen[N] = { 0 };
	for (int k = 0; k < n; k++) {
		intptr_t i = (intptr_t)ev[k].udata;
		CHECKF(i >= 0 && i < N && !seen[i], "bad or repeated %s",
		       kev_str(&ev[k]));
		seen[i] = 1;
		CHECK_EQ(ev[k].ident, p[i][0]);
		CHECK_EQ(ev[k].data, 1 + i % 7);
	}
	/* With an eventlist of 50: four calls cover all 200. */
	memset(seen, 0, sizeof(seen));
	int distinct = 0;
	for (int c = 0; c < 4; c++) {
		CHECK_EQ(kev_poll(kq, ev, 50), 50);
		for (int k = 0; k < 50; k++) {
			intptr_t i = (intptr_t)ev[k].udata;
			CHECK(i >= 0 && i < N);
			if (!seen[i]++)
				distinct++;
		}
	}
	CHECK_EQ(distinct, N);
}

TEST(scale_idle_5000_pipes)
{
	enum { N = 5000, BATCH = 500 };
	int kq = kq_new();
	int (*p)[2] = calloc(N, sizeof(*p));
	struct kevent *ch = calloc(BATCH, sizeof(*ch));
	struct kevent ev[16];

	CHECK(p && ch);
	raise_nofile(2 * N + 200);
	for (int i = 0; i < N; i++)
		make_pipe(p[i]);
	for (int b = 0; b < N; b += BATCH) {
		for (int i = 0; i < BATCH; i++)
			EV_SET(&ch[i], p[b + i][0], EVFILT_READ, EV_ADD, 0, 0,
			       (void *)(intptr_t)(1000000 + b + i));
		CHECK_EQ(kevent(kq, ch, BATCH, NULL, 0, NULL), 0);
	}
	/* Nothing is ready. */
	CHECK_EQ(kev_poll(kq, ev, 16), 0);

	const int pick = 2718;
	write_n(p[pick][1], 3);
	int n = kev_wait(kq, ev, 16, 5000);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, p[pick][0]);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK(ev[0].udata == (void *)(intptr_t)(1000000 + pick));
	CHECK_EQ(ev[0].data, 3);
	/* Still exactly one (level-triggered). */
	CHECK_EQ(kev_poll(kq, ev, 16), 1);
	CHECK_EQ(ev[0].ident, p[pick][0]);

	/* A sleeper is woken by the last pipe. */
	read_n(p[pick][0], 3);
	CHECK_EQ(kev_poll(kq, ev, 16), 0);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(200);
		write_n(p[N - 1][1], 1);
		_exit(0);
	}
	n = kev_wait(kq, ev, 16, 10000);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, p[N - 1][0]);
	CHECK(ev[0].udata == (void *)(intptr_t)(1000000 + N - 1));
	wait_child_ok(pid);
}

TEST(scale_1000_changes_one_call)
{
	enum { NP = 500, NC = 2 * NP };
	int kq = kq_new();
	int p[NP][2];
	struct kevent *ch = calloc(NC, sizeof(*ch));
	struct kevent *ev = calloc(NC + 24, sizeof(*ev));

	CHECK(ch && ev);
	raise_nofile(2 * NP + 200);
	for (int i = 0; i < NP; i++)
		make_pipe(p[i]);
	for (int i = 0; i < NP; i++) {
		EV_SET(&ch[2 * i], p[i][0], EVFILT_READ, EV_ADD, 0, 0,
		       (void *)(intptr_t)(2 * i));
		EV_SET(&ch[2 * i + 1], p[i][1], EVFILT_WRITE, EV_ADD, 0, 0,
		       (void *)(intptr_t)(2 * i + 1));
	}
	CHECK_EQ(kevent(kq, ch, NC, NULL, 0, NULL), 0);

	/* Every WRITE knote is ready, no READ knote. */
	int n = kev_poll(kq, ev, NC + 24);
	CHECK_EQ(n, NP);
	for (int k = 0; k < n; k++)
		CHECKF(ev[k].filter == EVFILT_WRITE, "%s", kev_str(&ev[k]));

	for (int i = 0; i < NP; i++)
		write_n(p[i][1], 1);
	n = kev_poll(kq, ev, NC + 24);
	CHECK_EQ(n, NC);
	char *seen = calloc(NC, 1);
	CHECK(seen);
	for (int k = 0; k < n; k++) {
		intptr_t u = (intptr_t)ev[k].udata;
		CHECKF(u >= 0 && u < NC && !seen[u], "bad or repeated %s",
		       kev_str(&ev[k]));
		seen[u] = 1;
		CHECK_EQ(ev[k].ident, (u & 1) ? p[u / 2][1] : p[u / 2][0]);
		CHECK_EQ(ev[k].filter, (u & 1) ? EVFILT_WRITE : EVFILT_READ);
	}

	/* 1,000 re-adds with EV_RECEIPT: 1,000 receipts, in order. */
	for (int i = 0; i < NC; i++)
		ch[i].flags = EV_ADD | EV_RECEIPT;
	n = kevent(kq, ch, NC, ev, NC, NULL);
	CHECK_EQ(n, NC);
	for (int k = 0; k < NC; k++) {
		CHECKF((ev[k].flags & EV_ERROR) && ev[k].data == 0 &&
		       ev[k].ident == ch[k].ident &&
		       ev[k].filter == ch[k].filter, "receipt %d: %s", k,
		       kev_str(&ev[k]));
	}

	/* 1,000 deletes in one call. */
	for (int i = 0; i < NC; i++)
		ch[i].flags = EV_DELETE;
	CHECK_EQ(kevent(kq, ch, NC, NULL, 0, NULL), 0);
	CHECK_EQ(kev_poll(kq, ev, NC), 0);
	CHECK_ERR(kevent(kq, ch, 1, NULL, 0, NULL), ENOENT);
}
