/*
 * t_basic.c - creating kqueues and the simplest event round trip:
 * kqueue()/kqueuex()/kqueue1() and their FD_CLOEXEC and EINVAL rules,
 * independent kqueues, an empty poll, the fields of a returned event
 * (ident, filter, udata round trip, 32-byte struct kevent layout), events
 * pending before registration, and /dev/kqueue being usable by an
 * unprivileged user (uid/gid 65534).
 */
#include <grp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

static int has_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	CHECKF(fl >= 0, "F_GETFD: %s", kqt_errname(errno));
	return !!(fl & FD_CLOEXEC);
}

TEST(basic_kqueue_returns_fd)
{
	int kq = kq_new();
	struct stat st;

	CHECK_GE(kq, 0);
	CHECK_OK(fstat(kq, &st));
	CHECK_EQ(has_cloexec(kq), 0);
	/* Usable right away: an empty poll returns nothing. */
	kev_expect_empty(kq);
	CHECK_OK(close(kq));
}

TEST(basic_kqueues_are_distinct)
{
	int kq1 = kq_new(), kq2 = kq_new();
	int p[2];

	CHECK_NE(kq1, kq2);
	make_pipe(p);
	kev_add(kq1, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	kev_expect(kq1, p[0], EVFILT_READ, 0, NULL);
	/* Nothing was registered in kq2. */
	kev_expect_empty(kq2);
	CHECK_ERR(kev_change(kq2, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

TEST(basic_kqueuex_cloexec)
{
	int a = kqueuex(0);

	CHECKF(a >= 0, "kqueuex(0): %s", kqt_errname(errno));
	CHECK_EQ(has_cloexec(a), 0);

	int b = kqueuex(KQUEUE_CLOEXEC);

	CHECKF(b >= 0, "kqueuex(KQUEUE_CLOEXEC): %s", kqt_errname(errno));
	CHECK_EQ(has_cloexec(b), 1);
	kev_expect_empty(a);
	kev_expect_empty(b);
}

TEST(basic_kqueue1_cloexec)
{
	int a = kqueue1(0);

	CHECKF(a >= 0, "kqueue1(0): %s", kqt_errname(errno));
	CHECK_EQ(has_cloexec(a), 0);

	int b = kqueue1(O_CLOEXEC);

	CHECKF(b >= 0, "kqueue1(O_CLOEXEC): %s", kqt_errname(errno));
	CHECK_EQ(has_cloexec(b), 1);
	kev_expect_empty(a);
	kev_expect_empty(b);
}

TEST(basic_kqueuex_bad_flags)
{
	int kq = kq_new();	/* the module is there... */

	CHECK_GE(kq, 0);
	/* ...and still bad flags are refused. */
	CHECK_ERR(kqueuex(2), EINVAL);
	CHECK_ERR(kqueuex(KQUEUE_CLOEXEC | 2), EINVAL);
	CHECK_ERR(kqueuex(0x80000000u), EINVAL);
	CHECK_ERR(kqueue1(O_NONBLOCK), EINVAL);
	CHECK_ERR(kqueue1(O_CLOEXEC | O_NONBLOCK), EINVAL);
}

TEST(basic_empty_poll)
{
	int kq = kq_new();
	struct kevent ev[4];
	struct timespec ts = { 0, 0 };

	CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &ts), 0);
	/* nchanges 0 and nevents 0: nothing to do, returns 0 at once. */
	CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
}

TEST(basic_pipe_read_event)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];
	int marker;

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, &marker);
	kev_expect_empty(kq);
	write_n(p[1], 3);
	int n = kev_wait(kq, ev, 4, 5000);

	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK(ev[0].udata == &marker);
	CHECK_EQ(ev[0].data, 3);
	CHECKF((ev[0].flags & (EV_ERROR | EV_EOF)) == 0, "%s",
	       kev_str(&ev[0]));
	CHECK_EQ(ev[0].fflags, 0);
}

TEST(basic_ready_before_register)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];

	make_pipe(p);
	write_n(p[1], 4);
	/* Data already there at EV_ADD: reported on the first poll. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 2), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].data, 4);
}

TEST(basic_register_and_collect_in_one_call)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch, ev[2];
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	write_n(p[1], 2);
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1234);
	/* Changes are applied before events are collected. */
	CHECK_EQ(kevent(kq, &ch, 1, ev, 2, &ts), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK(ev[0].udata == (void *)0x1234);
}

TEST(basic_struct_kevent_layout)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];

#if UINTPTR_MAX > UINT32_MAX
	CHECK_EQ(sizeof(struct kevent), 32);
	CHECK_EQ(offsetof(struct kevent, ident), 0);
	CHECK_EQ(offsetof(struct kevent, filter), 8);
	CHECK_EQ(offsetof(struct kevent, flags), 10);
	CHECK_EQ(offsetof(struct kevent, fflags), 12);
	CHECK_EQ(offsetof(struct kevent, data), 16);
	CHECK_EQ(offsetof(struct kevent, udata), 24);
#else
	/* i386: 32-bit ident and udata, data 4-byte aligned. */
	CHECK_EQ(sizeof(struct kevent), 24);
	CHECK_EQ(offsetof(struct kevent, ident), 0);
	CHECK_EQ(offsetof(struct kevent, filter), 4);
	CHECK_EQ(offsetof(struct kevent, flags), 6);
	CHECK_EQ(offsetof(struct kevent, fflags), 8);
	CHECK_EQ(offsetof(struct kevent, data), 12);
	CHECK_EQ(offsetof(struct kevent, udata), 20);
#endif

	/* The module writes exactly nevents entries, not one byte more. */
	make_pipe(p);
	write_n(p[1], 1);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	memset(ev, 0xa5, sizeof(ev));
	CHECK_EQ(kev_poll(kq, ev, 1), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	const unsigned char *b = (const unsigned char *)&ev[1];
	for (size_t i = 0; i < sizeof(ev[1]); i++)
		CHECKF(b[i] == 0xa5, "byte %zu past the eventlist was written",
		       i);
}

TEST(basic_unprivileged_user)
{
	pid_t pid;
	int gate = kq_new();	/* the module must be there */

	CHECK_GE(gate, 0);
	pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		if (geteuid() == 0) {
			CHECK_OK(setgroups(0, NULL));
			CHECK_OK(setgid(65534));
			CHECK_OK(setuid(65534));
		}
		CHECK(geteuid() != 0);
		int kq = kqueue();

		CHECKF(kq >= 0, "kqueue() as uid %d: %s", (int)geteuid(),
		       kqt_errname(errno));
		int p[2];
		make_pipe(p);
		kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)7);
		write_n(p[1], 5);
		struct kevent ev;
		kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
		CHECK_EQ(ev.data, 5);
		CHECK(ev.udata == (void *)7);
		_exit(0);
	}
	wait_child_ok(pid);
}
