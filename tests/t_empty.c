/*
 * t_empty.c - EVFILT_EMPTY: fires when what was written has left: a pipe
 * or FIFO (write end) is empty, the peer of a UNIX stream or datagram
 * socket has read everything, a TCP socket has nothing unacknowledged;
 * data is 0 then.  It does not fire while data is queued, and fires
 * again, level-triggered, while empty; with EV_CLEAR once per drain.  A
 * pipe with data and no reader left fires with EV_EOF.  The read end of a
 * pipe, regular files, eventfds, /dev/null and kqueues -> EINVAL.  A
 * drain wakes a thread blocked in kevent(); closing the descriptor drops
 * the knote.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KN	"nr_knotes"

/* Reads from fd until total bytes have come (fd may still be filling). */
static void read_all(int fd, size_t total)
{
	long long deadline = now_ms() + 20000;
	size_t got = 0;

	while (got < total) {
		got += drain_fd(fd);
		if (got >= total)
			break;
		CHECKF(now_ms() < deadline, "read %zu of %zu bytes", got,
		       total);
		sleep_ms(5);
	}
	CHECK_EQ(got, total);
}

TEST(empty_pipe_fires_when_drained)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD, 0, 0, (void *)0x99);
	/* Empty from the start; level-triggered: reported while empty. */
	kev_expect(kq, p[1], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);
	CHECK(ev.udata == (void *)0x99);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
	kev_expect(kq, p[1], EVFILT_EMPTY, 0, NULL);

	write_n(p[1], 100);
	kev_expect_none(kq, p[1], EVFILT_EMPTY);
	read_n(p[0], 60);
	sleep_ms(100);
	kev_expect_none(kq, p[1], EVFILT_EMPTY);
	read_n(p[0], 40);
	kev_expect(kq, p[1], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);
	CHECK_EQ(ev.flags & EV_EOF, 0);
}

TEST(empty_pipe_clear_once_per_drain)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_expect(kq, p[1], EVFILT_EMPTY, 5000, &ev);
	kev_expect_none(kq, p[1], EVFILT_EMPTY);
	for (int i = 0; i < 3; i++) {
		write_n(p[1], 10 + i);
		kev_expect_none(kq, p[1], EVFILT_EMPTY);
		read_n(p[0], 10 + i);
		kev_expect(kq, p[1], EVFILT_EMPTY, 5000, &ev);
		CHECK_EQ(ev.data, 0);
		kev_expect_none(kq, p[1], EVFILT_EMPTY);
	}
}

TEST(empty_pipe_full_then_drained)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	size_t filled = fill_fd(p[1]);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	sleep_ms(100);
	kev_expect_none(kq, p[1], EVFILT_EMPTY);
	CHECK_EQ(drain_fd(p[0]), filled);
	kev_expect(kq, p[1], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);
	CHECK(ev.flags & EV_ONESHOT);
	/* Gone after firing once. */
	CHECK_ERR(kev_change(kq, p[1], EVFILT_EMPTY, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

TEST(empty_pipe_no_reader_eof)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	signal(SIGPIPE, SIG_IGN);
	make_pipe(p);
	write_n(p[1], 10);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, p[1], EVFILT_EMPTY);
	CHECK_OK(close(p[0]));
	kev_expect(kq, p[1], EVFILT_EMPTY, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
	CHECK_EQ(ev.data, 10);
}

TEST(empty_fifo)
{
	int kq = kq_new();
	char path[300];
	struct kevent ev;

	snprintf(path, sizeof(path), "%s/empty_fifo", tmp_dir());
	CHECK_OK(mkfifo(path, 0600));
	int rd = open(path, O_RDONLY | O_NONBLOCK);
	CHECK_OK(rd);
	int wr = open(path, O_WRONLY);
	CHECK_OK(wr);
	CHECK_OK(unlink(path));

	kev_add(kq, wr, EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect(kq, wr, EVFILT_EMPTY, 5000, NULL);
	write_n(wr, 500);
	kev_expect_none(kq, wr, EVFILT_EMPTY);
	read_n(rd, 500);
	kev_expect(kq, wr, EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);
	/* The read end is not a send side. */
	CHECK_ERR(kev_change(kq, rd, EVFILT_EMPTY, EV_ADD, 0, 0, NULL),
		  EINVAL);
}

TEST(empty_unix_stream)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);

	write_n(sv[0], 3000);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	read_n(sv[1], 1000);
	sleep_ms(100);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	read_n(sv[1], 2000);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);
	/* The other direction is independent. */
	kev_add(kq, sv[1], EVFILT_EMPTY, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_expect(kq, sv[1], EVFILT_EMPTY, 5000, NULL);
	write_n(sv[1], 10);
	kev_expect_none(kq, sv[1], EVFILT_EMPTY);
	read_n(sv[0], 10);
	kev_expect(kq, sv[1], EVFILT_EMPTY, 5000, NULL);
}

TEST(empty_unix_dgram)
{
	int kq = kq_new();
	int sv[2];
	char buf[256] = { 0 };

	make_unix_pair(SOCK_DGRAM, sv);
	kev_add(kq, sv[0], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, NULL);
	CHECK_EQ(send(sv[0], buf, 100, 0), 100);
	CHECK_EQ(send(sv[0], buf, 100, 0), 100);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 100);
	sleep_ms(100);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 100);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, NULL);
}

TEST(empty_tcp_acked)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_tcp_pair(AF_INET, sv);
	kev_add(kq, sv[0], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);

	/* A few KB: acknowledged once they reach the peer. */
	write_n(sv[0], 4096);
	read_n(sv[1], 4096);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);

	/*
	 * More than the peer's window: the rest waits in our send queue
	 * until the peer reads.
	 */
	size_t filled = fill_fd(sv[0]);
	CHECK_GT(filled, 0);
	sleep_ms(200);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	read_all(sv[1], filled);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, &ev);
	CHECK_EQ(ev.data, 0);
}

TEST(empty_tcp_v6_and_listener)
{
	int kq = kq_new();
	int sv[2];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	make_tcp_pair(AF_INET6, sv);
	size_t filled = fill_fd(sv[0]);
	kev_add(kq, sv[0], EVFILT_EMPTY, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	sleep_ms(100);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	read_all(sv[1], filled);
	kev_expect(kq, sv[0], EVFILT_EMPTY, 5000, NULL);

	/* A listening socket has nothing to send (FreeBSD: fires). */
	int l = make_tcp_listener(AF_INET, &ss, &len);
	kev_add(kq, l, EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect(kq, l, EVFILT_EMPTY, 5000, NULL);
}

static void *drain_later(void *arg)
{
	int fd = *(int *)arg;

	sleep_ms(300);
	drain_fd(fd);
	return NULL;
}

TEST(empty_drain_wakes_blocked_waiter)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;
	pthread_t t;

	make_pipe(p);
	write_n(p[1], 1000);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_expect_empty(kq);
	CHECK_EQ(pthread_create(&t, NULL, drain_later, &p[0]), 0);
	long long t0 = now_ms();
	CHECK_EQ(kev_wait(kq, &ev, 1, 10000), 1);
	CHECK_EQ(ev.ident, p[1]);
	CHECK_EQ(ev.filter, EVFILT_EMPTY);
	CHECK_GE(now_ms() - t0, 250);
	CHECK_EQ(pthread_join(t, NULL), 0);

	/* poll(2) on the kqueue sees it too. */
	struct pollfd pfd = { .fd = kq, .events = POLLIN };
	write_n(p[1], 10);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	read_n(p[0], 10);
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	kev_expect(kq, p[1], EVFILT_EMPTY, 0, NULL);
}

TEST(empty_other_files_einval)
{
	int kq = kq_new();
	int p[2];
	char path[300];

	make_pipe(p);
	snprintf(path, sizeof(path), "%s/empty_regular", tmp_dir());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_OK(f);
	int efd = eventfd(0, 0);
	CHECK_OK(efd);
	int dn = open("/dev/null", O_WRONLY);
	CHECK_OK(dn);
	int kq2 = kq_new();
	const struct { int fd; const char *name; } bad[] = {
		{ p[0], "pipe read end" }, { f, "regular file" },
		{ efd, "eventfd" }, { dn, "/dev/null" }, { kq2, "kqueue" },
	};
	long long kn0 = counter_base(NR_KN);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kevent ch, ev[2];

		errno = 0;
		int r = kev_change(kq, bad[i].fd, EVFILT_EMPTY, EV_ADD, 0, 0,
				   NULL);
		CHECKF(r == -1 && errno == EINVAL, "%s: %d/%s, want -1/EINVAL",
		       bad[i].name, r, kqt_errname(errno));
		EV_SET(&ch, bad[i].fd, EVFILT_EMPTY, EV_ADD, 0, 0, (void *)4);
		CHECK_EQ(kevent(kq, &ch, 1, ev, 2, NULL), 1);
		CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
		CHECK_EQ(ev[0].data, EINVAL);
	}
	EXPECT_COUNTER(NR_KN, kn0);
	/* Not an open descriptor: EBADF. */
	CHECK_ERR(kev_change(kq, 100000, EVFILT_EMPTY, EV_ADD, 0, 0, NULL),
		  EBADF);
	CHECK_OK(unlink(path));
	kev_expect_empty(kq);
}

TEST(empty_close_drops_knote)
{
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	int p[2], sv[2];

	make_pipe(p);
	make_unix_pair(SOCK_STREAM, sv);
	write_n(p[1], 10);
	write_n(sv[0], 10);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_add(kq, sv[0], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);	/* checks both: rechecks are running */
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	EXPECT_COUNTER(NR_KN, kn0);
	sleep_ms(100);
	kev_expect_empty(kq);

	/* Deleted while data is queued: nothing left behind. */
	make_pipe(p);
	write_n(p[1], 10);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, p[1], EVFILT_EMPTY, EV_DELETE, 0, 0, NULL);
	read_n(p[0], 10);
	sleep_ms(100);
	kev_expect_empty(kq);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}

/*
 * TCP after the peer's receive window was shrunk and grown: the filter
 * follows the send queue (SIOCOUTQ) exactly, so EVFILT_EMPTY fires as soon
 * as the queue has drained, and never before.  How long the drain takes is
 * Linux's business: it re-opens a closed window only as the reader frees
 * space (and probes a zero window with backoff), so the event may come
 * later after the last read than on FreeBSD (README, differences).
 */
TEST(bsd_empty_tcp_window_shrunk_and_grown)
{
	int kq = kq_new();
	int sv[2], small = 4096, big = 1 << 20, sndbuf = 32768;
	struct kevent ev;

	/* A small send buffer keeps the drain to about a second. */
	make_tcp_pair(AF_INET, sv);
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			    sizeof(sndbuf)));
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small,
			    sizeof(small)));
	size_t filled = fill_fd(sv[0]);
	CHECK_GT(filled, 0);
	kev_add(kq, sv[0], EVFILT_EMPTY, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, sv[0], EVFILT_EMPTY);
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)));

	long long deadline = now_ms() + kqt_scaled_s(20) * 1000LL;
	long long drained_at = -1;
	size_t got = 0;
	int outq = -1;

	for (;;) {
		got += drain_fd(sv[1]);
		CHECK_OK(ioctl(sv[0], SIOCOUTQ, &outq));
		if (outq == 0 && drained_at < 0)
			drained_at = now_ms();
		if (kev_poll(kq, &ev, 1) == 1)
			break;
		CHECKF(now_ms() < deadline, "no EMPTY: read %zu of %zu, "
		       "%d bytes still queued", got, filled, outq);
		sleep_ms(2);
	}
	CHECK_EQ(ev.ident, sv[0]);
	CHECK_EQ(ev.data, 0);
	/* Never early: nothing is queued once it fired... */
	CHECK_OK(ioctl(sv[0], SIOCOUTQ, &outq));
	CHECK_EQ(outq, 0);
	got += drain_fd(sv[1]);
	CHECK_EQ(got, filled);
	/* ... and not late: within a few rechecks of the queue emptying. */
	if (drained_at >= 0)
		CHECKF(now_ms() - drained_at < 1000,
		       "fired %lld ms after the queue drained",
		       now_ms() - drained_at);
}
