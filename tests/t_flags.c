/*
 * t_flags.c - the EV_* action and behaviour flags and the rules of one
 * kevent() call: EV_ADD on an existing knote (updates udata, fflags/data,
 * enables it, never duplicates), EV_KEEPUDATA, level-triggered default,
 * EV_CLEAR, EV_ONESHOT, EV_DISPATCH, EV_DISABLE/EV_ENABLE, EV_DELETE,
 * EV_ADD|EV_DISABLE, EV_RECEIPT; READ and WRITE as independent knotes on
 * one fd; two kqueues on one pipe; udata round trip; changes applied in
 * order before events are collected; nevents 0; changelist == eventlist;
 * the flags returned are those given at EV_ADD (EV_RECEIPT, EV_KEEPUDATA
 * included) plus only what FreeBSD's filters add themselves.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "kqtest.h"

TEST(flags_add_updates_udata)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xaaaa);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xbbbb);
	write_n(p[1], 1);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK(ev[0].udata == (void *)0xbbbb);
}

TEST(flags_add_no_duplicate)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch[3], ev[8];

	make_pipe(p);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	/* Three more in a single call. */
	for (int i = 0; i < 3; i++)
		EV_SET(&ch[i], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kevent(kq, ch, 3, NULL, 0, NULL), 0);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	CHECK_EQ(kev_poll(kq, ev, 8), 1);
	/* One EV_DELETE removes it; a second finds nothing. */
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	kev_expect_empty(kq);
}

TEST(flags_add_updates_lowat)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	write_n(p[1], 5);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 10, NULL);
	kev_expect_empty(kq);
	/* Re-adding with a lower mark takes effect at once. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 5, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].data, 5);
	/* And back up again. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 6, NULL);
	kev_expect_empty(kq);
	/* Without NOTE_LOWAT: any byte will do. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
}

TEST(flags_add_enables_disabled)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)5);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK(ev[0].udata == (void *)5);
}

TEST(flags_keepudata)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1111);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_KEEPUDATA, 0, 0,
		(void *)0x2222);
	write_n(p[1], 1);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK(ev[0].udata == (void *)0x1111);
	/* Without EV_KEEPUDATA it changes. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x3333);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK(ev[0].udata == (void *)0x3333);
}

TEST(flags_level_triggered)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 8);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(kev_poll(kq, ev, 4), 1);
		CHECK_EQ(ev[0].data, 8);
	}
	/* Reading some: still reported, with the new count. */
	read_n(p[0], 3);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].data, 5);
	/* Reading all: no longer reported. */
	read_n(p[0], 5);
	kev_expect_empty(kq);
}

TEST(flags_clear)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	write_n(p[1], 5);
	CHECK_EQ(kev_wait(kq, ev, 4, 5000), 1);
	CHECK_EQ(ev[0].data, 5);
	/* Still readable, but not reported again without new data. */
	kev_expect_empty(kq);
	kev_expect_empty(kq);
	write_n(p[1], 3);
	CHECK_EQ(kev_wait(kq, ev, 4, 5000), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].data, 8);
	kev_expect_empty(kq);
	/* Still registered. */
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
}

TEST(flags_clear_ready_at_add)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	write_n(p[1], 2);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	/* Ready when added: reported once. */
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].data, 2);
	kev_expect_empty(kq);
}

TEST(flags_oneshot)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, (void *)4);
	kev_expect_empty(kq);
	write_n(p[1], 1);
	CHECK_EQ(kev_wait(kq, ev, 4, 5000), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK(ev[0].udata == (void *)4);
	/* Gone: not reported while still readable, not deletable. */
	kev_expect_empty(kq);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL),
		  ENOENT);
	/* It can be added again. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	kev_expect_empty(kq);
}

TEST(flags_dispatch)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, NULL);
	write_n(p[1], 1);
	CHECK_EQ(kev_wait(kq, ev, 4, 5000), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	/* Disabled after the report: silent even with new data. */
	kev_expect_empty(kq);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	/* EV_ENABLE: reported again since it is ready, then silent again. */
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].data, 2);
	kev_expect_empty(kq);
	/* Still registered. */
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

TEST(flags_disable_enable)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].data, 2);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	/* Enabled while not ready: nothing until data arrives. */
	read_n(p[0], 2);
	kev_add(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(p[1], 1);
	CHECK_EQ(kev_wait(kq, ev, 4, 5000), 1);
}

TEST(flags_delete)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(p[1], 1);
	kev_expect_empty(kq);
	CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

TEST(flags_add_disabled)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	/* Registered: enabling reports it. */
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].ident, p[0]);
}

TEST(flags_read_write_independent)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev[4];

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, (void *)'r');
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, (void *)'w');
	/* Writable, not readable. */
	int n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].filter, EVFILT_WRITE);
	CHECK(ev[0].udata == (void *)'w');
	CHECK_EQ(ev[0].ident, sv[0]);

	write_n(sv[1], 3);
	kev_expect_data(kq, sv[0], EVFILT_READ, 3, 5000, NULL);
	n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 2);
	CHECK(kev_find(ev, n, sv[0], EVFILT_READ)->udata == (void *)'r');
	CHECK(kev_find(ev, n, sv[0], EVFILT_WRITE)->udata == (void *)'w');

	/* Deleting READ leaves WRITE; disabling WRITE leaves nothing. */
	kev_add(kq, sv[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].filter, EVFILT_WRITE);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_DISABLE, 0, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
}

TEST(flags_two_kqueues_same_pipe)
{
	int kq1 = kq_new(), kq2 = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq1, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
	kev_add(kq2, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)2);
	write_n(p[1], 6);
	CHECK_EQ(kev_wait(kq1, ev, 4, 5000), 1);
	CHECK(ev[0].udata == (void *)1);
	CHECK_EQ(ev[0].data, 6);
	CHECK_EQ(kev_wait(kq2, ev, 4, 5000), 1);
	CHECK(ev[0].udata == (void *)2);
	CHECK_EQ(ev[0].data, 6);
	/* Deleting from one leaves the other. */
	kev_add(kq1, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	kev_expect_empty(kq1);
	CHECK_EQ(kev_poll(kq2, ev, 4), 1);
}

TEST(flags_two_kqueues_blocking)
{
	int kq1 = kq_new(), kq2 = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq1, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_add(kq2, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(200);
		write_n(p[1], 1);
		_exit(0);
	}
	/* A wake-up must reach both kqueues' knotes. */
	CHECK_EQ(kev_wait(kq1, ev, 4, 10000), 1);
	CHECK_EQ(kev_wait(kq2, ev, 4, 10000), 1);
	wait_child_ok(pid);
}

TEST(flags_udata_roundtrip)
{
	int kq = kq_new();
	int local;
	/* The extremes of a pointer of this ABI (32 or 64 bits). */
	void *const vals[] = {
		NULL, (void *)1, (void *)-1,
		(void *)(UINTPTR_MAX / 2 + 1), (void *)(UINTPTR_MAX / 2),
		&local, (void *)(uintptr_t)0xdeadbeefcafeull,
	};
	enum { N = sizeof(vals) / sizeof(vals[0]) };
	int p[N][2];
	struct kevent ev[N + 1];

	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, vals[i]);
		write_n(p[i][1], 1);
	}
	int n = kev_poll(kq, ev, N + 1);
	CHECK_EQ(n, N);
	for (int i = 0; i < N; i++) {
		const struct kevent *k = kev_find(ev, n, p[i][0], EVFILT_READ);

		CHECKF(k != NULL, "no event for pipe %d", i);
		CHECKF(k->udata == vals[i], "udata %p, want %p", k->udata,
		       vals[i]);
	}
}

TEST(flags_receipt)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch, ev[4];
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	write_n(p[1], 1);
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, (void *)77);
	/* Exactly one entry, the receipt; the ready event is not drained. */
	int n = kevent(kq, &ch, 1, ev, 4, &ts);
	CHECKF(n == 1, "got %d (%s)", n, n < 0 ? kqt_errname(errno) : "");
	CHECKF(ev[0].flags & EV_ERROR, "%s", kev_str(&ev[0]));
	CHECK_EQ(ev[0].data, 0);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK(ev[0].udata == (void *)77);
	/* The next call returns the event. */
	n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].flags & EV_ERROR, 0);
	CHECK(ev[0].udata == (void *)77);
}

TEST(flags_receipt_does_not_wait)
{
	int kq = kq_new();
	int p[2], q[2];
	struct kevent ch[3], ev[4];
	struct timespec ts = { 5, 0 };

	make_pipe(p);
	make_pipe(q);
	write_n(q[1], 1);
	kev_add(kq, q[0], EVFILT_READ, EV_ADD, 0, 0, NULL);	/* pending */
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[1], p[1], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[2], p[0], EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0,
	       NULL);
	long long t0 = now_ms();
	int n = kevent(kq, ch, 3, ev, 4, &ts);

	CHECKF(n == 3, "got %d (%s)", n, n < 0 ? kqt_errname(errno) : "");
	CHECKF(now_ms() - t0 < 2500, "EV_RECEIPT call waited %lld ms",
	       now_ms() - t0);
	CHECK(ev[0].flags & EV_ERROR);
	CHECK_EQ(ev[0].data, 0);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK(ev[1].flags & EV_ERROR);
	CHECK_EQ(ev[1].data, 0);
	CHECK_EQ(ev[1].ident, p[1]);
	CHECK_EQ(ev[1].filter, EVFILT_WRITE);
	/* A failing change under EV_RECEIPT reports its errno. */
	CHECK(ev[2].flags & EV_ERROR);
	CHECK_EQ(ev[2].data, ENOENT);
	/* Pending events were left alone: q and p[1] (writable) remain. */
	n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 2);
	CHECK(kev_find(ev, n, q[0], EVFILT_READ));
	CHECK(kev_find(ev, n, p[1], EVFILT_WRITE));
}

TEST(flags_changes_applied_in_order)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch[3], ev[4];
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	write_n(p[1], 1);

	/* ADD then DELETE: not registered afterwards. */
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHECK_EQ(kevent(kq, ch, 2, ev, 4, &ts), 0);
	CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);

	/* ADD|DISABLE, ENABLE, then collect: reported in the same call. */
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, NULL);
	EV_SET(&ch[1], p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHECK_EQ(kevent(kq, ch, 2, ev, 4, &ts), 1);
	CHECK_EQ(ev[0].ident, p[0]);

	/* DISABLE, ENABLE, DISABLE: ends disabled. */
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	EV_SET(&ch[1], p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	EV_SET(&ch[2], p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	CHECK_EQ(kevent(kq, ch, 3, ev, 4, &ts), 0);

	/* DELETE then ADD with a new udata: registered, new udata. */
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	EV_SET(&ch[1], p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)42);
	CHECK_EQ(kevent(kq, ch, 2, ev, 4, &ts), 1);
	CHECK(ev[0].udata == (void *)42);
}

TEST(flags_same_array)
{
	int kq = kq_new();
	int p1[2], p2[2];
	struct kevent a[2];
	struct timespec ts = { 0, 0 };

	make_pipe(p1);
	make_pipe(p2);
	write_n(p1[1], 1);
	write_n(p2[1], 2);
	EV_SET(&a[0], p1[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
	EV_SET(&a[1], p2[0], EVFILT_READ, EV_ADD, 0, 0, (void *)2);
	int n = kevent(kq, a, 2, a, 2, &ts);

	CHECK_EQ(n, 2);
	const struct kevent *k1 = kev_find(a, 2, p1[0], EVFILT_READ);
	const struct kevent *k2 = kev_find(a, 2, p2[0], EVFILT_READ);
	CHECK(k1 && k2);
	CHECK_EQ(k1->data, 1);
	CHECK_EQ(k2->data, 2);
	CHECK(k1->udata == (void *)1 && k2->udata == (void *)2);
	CHECK_EQ(k1->flags & EV_ERROR, 0);

	/* Same array with an error entry and a receipt. */
	EV_SET(&a[0], 100000, EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&a[1], p1[0], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	n = kevent(kq, a, 2, a, 2, &ts);
	CHECK_EQ(n, 2);
	CHECK_EQ(a[0].ident, 100000);
	CHECK_EQ(a[0].data, EBADF);
	CHECK_EQ(a[1].ident, p1[0]);
	CHECK_EQ(a[1].data, 0);
}

TEST(flags_nevents_zero_only_applies)
{
	int kq = kq_new();
	int p[2], q[2];
	struct kevent ch, ev[4];

	make_pipe(p);
	make_pipe(q);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	write_n(q[1], 1);
	/* Events are pending; nevents 0 with a NULL timeout returns 0. */
	CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 0, NULL), 0);
	EV_SET(&ch, q[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, NULL), 0);
	/* Nothing was consumed and the change was applied. */
	int n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 2);
	CHECK(kev_find(ev, n, p[0], EVFILT_READ));
	CHECK(kev_find(ev, n, q[0], EVFILT_READ));

	/* nevents 0 does not consume a oneshot either. */
	int r[2];
	make_pipe(r);
	write_n(r[1], 1);
	kev_add(kq, r[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
	n = kev_poll(kq, ev, 4);
	CHECK_EQ(n, 3);
	CHECK(kev_find(ev, n, r[0], EVFILT_READ));
}

/*
 * FreeBSD keeps the flags given with EV_ADD on the knote, less the actions
 * (EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, EV_FORCEONESHOT), and returns
 * them in its events: EV_RECEIPT and EV_KEEPUDATA too.  A later EV_ADD
 * that modifies the knote does not change them.
 */
TEST(bsd_flags_receipt_kept_on_knote)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch, ev[2];
	struct timespec ts0 = { 0, 0 };

	make_pipe(p);
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD | EV_ENABLE | EV_RECEIPT, 0, 0,
	       (void *)1);
	CHECK_EQ(kevent(kq, &ch, 1, ev, 2, &ts0), 1);
	CHECKF((ev[0].flags & EV_ERROR) && ev[0].data == 0, "%s",
	       kev_str(&ev[0]));
	write_n(p[1], 1);
	kev_expect(kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev[0]);
	CHECK_EQ_HEX(ev[0].flags, EV_RECEIPT);
	/* Modified without it: still there, with the new udata. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)2);
	kev_expect(kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev[0]);
	CHECK_EQ_HEX(ev[0].flags, EV_RECEIPT);
	CHECK(ev[0].udata == (void *)2);
	/* Disabled and enabled again: the same. */
	kev_add(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kev_expect_none(kq, p[0], EVFILT_READ);
	kev_add(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, p[0], EVFILT_READ, WAIT_MS_DEFAULT, &ev[0]);
	CHECK_EQ_HEX(ev[0].flags, EV_RECEIPT);

	/* EV_KEEPUDATA and EV_DISPATCH given at creation come back too. */
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD | EV_KEEPUDATA | EV_DISPATCH,
		0, 0, (void *)3);
	kev_expect(kq, p[1], EVFILT_WRITE, WAIT_MS_DEFAULT, &ev[0]);
	CHECK_EQ_HEX(ev[0].flags, EV_KEEPUDATA | EV_DISPATCH);
	CHECK(ev[0].udata == (void *)3);
}

/*
 * The flags of a returned event are the knote's (as given) plus what the
 * filter adds the way FreeBSD's does: EV_CLEAR for TIMER (relative),
 * SIGNAL and PROC, EV_EOF|EV_ONESHOT for a NOTE_EXIT; nothing else.  In
 * particular EVFILT_VNODE adds no EV_CLEAR of its own.
 */
static void expect_flags(int kq, uintptr_t ident, short filter,
			 unsigned short want, const char *what)
{
	struct kevent ev;

	kev_expect(kq, ident, filter, WAIT_MS_DEFAULT, &ev);
	CHECKF(ev.flags == want, "%s: flags 0x%x, want 0x%x (%s)", what,
	       ev.flags, want, kev_str(&ev));
}

TEST(bsd_flags_no_internal_flags_returned)
{
	int kq = kq_new();
	int p[2], e[2], go[2];
	char path[300];
	sigset_t mask, old;
	struct sigaction ign = { .sa_handler = SIG_IGN }, oact;

	make_pipe(p);
	make_pipe(e);
	make_pipe(go);
	snprintf(path, sizeof(path), "%s/flags_vnode", tmp_dir());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_OK(f);

	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	expect_flags(kq, p[0], EVFILT_READ, 0, "READ");
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	expect_flags(kq, p[1], EVFILT_WRITE, EV_ONESHOT, "WRITE");
	kev_add(kq, e[1], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	expect_flags(kq, e[1], EVFILT_EMPTY, 0, "EMPTY");
	kev_add(kq, 7, EVFILT_USER, EV_ADD | EV_DISPATCH, 0, 0, NULL);
	kev_add(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	expect_flags(kq, 7, EVFILT_USER, EV_DISPATCH, "USER");
	kev_add(kq, 8, EVFILT_TIMER, EV_ADD, 0, 5, NULL);
	expect_flags(kq, 8, EVFILT_TIMER, EV_CLEAR, "TIMER");
	kev_add(kq, 8, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);

	kev_add(kq, f, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, NULL);
	write_n(f, 1);
	expect_flags(kq, f, EVFILT_VNODE, 0, "VNODE");
	kev_add(kq, f, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);

	/* Ignored and blocked: both backends see it, nobody dies of it. */
	CHECK_OK(sigaction(SIGUSR2, &ign, &oact));
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	CHECK_OK(sigprocmask(SIG_BLOCK, &mask, &old));
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	CHECK_OK(kill(getpid(), SIGUSR2));
	expect_flags(kq, SIGUSR2, EVFILT_SIGNAL, EV_CLEAR, "SIGNAL");
	kev_add(kq, SIGUSR2, EVFILT_SIGNAL, EV_DELETE, 0, 0, NULL);
	CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
	CHECK_OK(sigaction(SIGUSR2, &oact, NULL));

	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		char c;

		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	kev_add(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
	write_n(go[1], 1);
	expect_flags(kq, pid, EVFILT_PROC, EV_CLEAR | EV_EOF | EV_ONESHOT,
		     "PROC NOTE_EXIT");
	wait_child_ok(pid);
}
