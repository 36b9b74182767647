/*
 * t_design.c - behaviour that doc/design.md describes beyond the filter rules:
 * close(fd) removes that fd's knotes (BSD semantics; a new file on the
 * same fd number is not watched) and does not keep the file alive (a
 * closed socket's peer sees EOF); the kqueue descriptor itself is pollable
 * (poll(2), and nested in another kqueue); a kqueue is not usable from a
 * forked child, and the child's exit leaves the parent's knotes alone.
 */
#include <poll.h>
#include <unistd.h>

#include "kqtest.h"

TEST(design_close_fd_removes_knote)
{
	int kq = kq_new();
	int p[2], q[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xdead);
	write_n(p[1], 1);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	int old = p[0];
	CHECK_OK(close(old));
	/* Ready knote of a closed fd: gone from the ready list too. */
	kev_expect_empty(kq);
	/* A new pipe on the same descriptor number is not watched. */
	make_pipe(q);
	CHECK_OK(dup2(q[0], old));
	write_n(q[1], 1);
	kev_expect_empty(kq);
	CHECK_ERR(kev_change(kq, old, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	/* And it can be registered afresh. */
	kev_add(kq, old, EVFILT_READ, EV_ADD, 0, 0, (void *)0xbeef);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK(ev[0].udata == (void *)0xbeef);
}

TEST(design_close_fd_keeps_other_fd_knote)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	int d = dup(p[0]);
	CHECK_OK(d);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
	kev_add(kq, d, EVFILT_READ, EV_ADD, 0, 0, (void *)2);
	write_n(p[1], 1);
	CHECK_EQ(kev_poll(kq, ev, 4), 2);
	/* Closing one descriptor leaves the knote on the other. */
	CHECK_OK(close(p[0]));
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].ident, d);
	CHECK(ev[0].udata == (void *)2);
}

TEST(design_close_socket_peer_sees_eof)
{
	int kq = kq_new();
	int sv[2];
	struct pollfd pfd;
	char c;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	CHECK_OK(close(sv[0]));
	/* The knotes must not keep the socket open. */
	pfd.fd = sv[1];
	pfd.events = POLLIN;
	CHECK_EQ(poll(&pfd, 1, 3000), 1);
	CHECK_EQ(read(sv[1], &c, 1), 0);

	int tv[2];
	make_tcp_pair(AF_INET, tv);
	kev_add(kq, tv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_OK(close(tv[0]));
	pfd.fd = tv[1];
	CHECK_EQ(poll(&pfd, 1, 3000), 1);
	CHECK_EQ(read(tv[1], &c, 1), 0);
}

TEST(design_kqueue_fd_pollable)
{
	int kq = kq_new();
	int p[2];
	struct pollfd pfd = { .fd = kq, .events = POLLIN };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	write_n(p[1], 1);
	CHECK_EQ(poll(&pfd, 1, 3000), 1);
	CHECK(pfd.revents & POLLIN);
	/*
	 * Consumed: once a kevent() has found nothing (a level-triggered
	 * knote may stay queued until the next scan, as on FreeBSD), the
	 * kqueue fd is no longer readable.
	 */
	read_n(p[0], 1);
	kev_expect_empty(kq);
	CHECK_EQ(poll(&pfd, 1, 0), 0);

	/* A poll() sleeper is woken by an event. */
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(200);
		write_n(p[1], 1);
		_exit(0);
	}
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	CHECK(pfd.revents & POLLIN);
	wait_child_ok(pid);
}

TEST(design_kqueue_nested)
{
	int inner = kq_new(), outer = kq_new();
	int p[2];
	struct kevent ev[4];

	make_pipe(p);
	kev_add(inner, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(outer, inner, EVFILT_READ, EV_ADD, 0, 0, (void *)0x1e);
	kev_expect_empty(outer);
	write_n(p[1], 1);
	CHECK_EQ(kev_wait(outer, ev, 4, 5000), 1);
	CHECK_EQ(ev[0].ident, inner);
	CHECK(ev[0].udata == (void *)0x1e);
	CHECK_EQ(kev_poll(inner, ev, 4), 1);
	CHECK_EQ(ev[0].ident, p[0]);
}

TEST(design_fork_child_cannot_use_kqueue)
{
	int kq = kq_new();
	int p[2];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xf0);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		struct kevent ev[2];
		struct timespec ts = { 0, 0 };

		write_n(p[1], 1);
		errno = 0;
		int r = kevent(kq, NULL, 0, ev, 2, &ts);
		CHECKF(r == -1, "kevent() on the parent's kqueue in a forked "
		       "child returned %d, want -1", r);
		/* The child closes everything it inherited and exits. */
		close(p[0]);
		close(p[1]);
		close(kq);
		_exit(0);
	}
	wait_child_ok(pid);
	/* The parent's knote survived the child's close() and exit. */
	struct kevent ev;
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECK(ev.udata == (void *)0xf0);
	CHECK_EQ(ev.data, 1);
}
