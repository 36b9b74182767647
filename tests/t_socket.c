/*
 * t_socket.c - EVFILT_READ and EVFILT_WRITE on sockets: READ data is the
 * bytes queued (UNIX stream, TCP over IPv4 and IPv6 loopback), the total
 * payload of all queued datagrams (UNIX datagram, UDP v4 and v6), the
 * number of pending connections (listening TCP and UNIX sockets); WRITE
 * data > 0 when writable and no WRITE event for a full socket; EV_EOF on
 * peer shutdown(SHUT_WR) and close (READ), WRITE after the peer closed a
 * UNIX stream socket, EV_EOF with fflags ECONNRESET on a TCP reset;
 * the socket error (ECONNREFUSED, ECONNRESET) in READ's and WRITE's
 * fflags while it stays pending for getsockopt(SO_ERROR) and read();
 * NOTE_LOWAT on a UNIX stream socket.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <sys/un.h>
#include <unistd.h>

#include "kqtest.h"

#define WAIT_MS 5000

/* ---- UNIX ---------------------------------------------------------------- */

TEST(unix_stream_read_data)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(sv[1], 7);
	kev_expect_data(kq, sv[0], EVFILT_READ, 7, WAIT_MS, &ev);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
	read_n(sv[0], 3);
	kev_expect_data(kq, sv[0], EVFILT_READ, 4, WAIT_MS, NULL);
	write_n(sv[1], 10);
	kev_expect_data(kq, sv[0], EVFILT_READ, 14, WAIT_MS, NULL);
	read_n(sv[0], 14);
	kev_expect_empty(kq);
}

TEST(unix_dgram_read_data)
{
	int kq = kq_new();
	int sv[2];
	char buf[64];

	make_unix_pair(SOCK_DGRAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(sv[1], 5);
	kev_expect_data(kq, sv[0], EVFILT_READ, 5, WAIT_MS, NULL);
	write_n(sv[1], 6);
	kev_expect_data(kq, sv[0], EVFILT_READ, 11, WAIT_MS, NULL);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 5);
	kev_expect_data(kq, sv[0], EVFILT_READ, 6, WAIT_MS, NULL);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 6);
	kev_expect_empty(kq);
}

TEST(unix_seqpacket_read_ready)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_SEQPACKET, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(sv[1], 9);
	kev_expect(kq, sv[0], EVFILT_READ, WAIT_MS, &ev);
	CHECK_GT(ev.data, 0);
}

static int unix_listener(struct sockaddr_un *sa, socklen_t *len)
{
	static int seq;
	int l = socket(AF_UNIX, SOCK_STREAM, 0);

	CHECK_OK(l);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Abstract name: no file system needed. */
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
			 "kqtest-%d-%d", (int)getpid(), seq++);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	CHECK_OK(bind(l, (struct sockaddr *)sa, *len));
	CHECK_OK(listen(l, 16));
	return l;
}

TEST(unix_listen_backlog)
{
	int kq = kq_new();
	struct sockaddr_un sa;
	socklen_t len;
	int l = unix_listener(&sa, &len);
	int c[2];

	kev_add(kq, l, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	for (int i = 0; i < 2; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		CHECK_OK(c[i]);
		CHECK_OK(connect(c[i], (struct sockaddr *)&sa, len));
	}
	kev_expect_data(kq, l, EVFILT_READ, 2, WAIT_MS, NULL);
	int a = accept(l, NULL, NULL);
	CHECK_OK(a);
	kev_expect_data(kq, l, EVFILT_READ, 1, WAIT_MS, NULL);
	CHECK_OK(accept(l, NULL, NULL));
	kev_expect_empty(kq);
}

TEST(unix_stream_write_data)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_WRITE, 0, &ev);
	CHECK_GT(ev.data, 0);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
}

TEST(unix_stream_full_not_writable)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	size_t filled = fill_fd(sv[0]);
	CHECK_GT(filled, 0);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, sv[0], EVFILT_WRITE);
	/* The reader drains it: writable again. */
	CHECK_EQ(drain_fd(sv[1]), filled);
	kev_expect(kq, sv[0], EVFILT_WRITE, WAIT_MS, &ev);
	CHECK_GT(ev.data, 0);
}

TEST(unix_dgram_write_ready)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_DGRAM, sv);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_WRITE, 0, &ev);
	CHECK_GT(ev.data, 0);
}

TEST(unix_stream_shutdown_eof)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(sv[1], 2);
	kev_expect_data(kq, sv[0], EVFILT_READ, 2, WAIT_MS, &ev);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	CHECK_OK(shutdown(sv[1], SHUT_WR));
	kev_expect_eof(kq, sv[0], EVFILT_READ, WAIT_MS, &ev);
	CHECK_EQ(ev.data, 2);
	read_n(sv[0], 2);
	kev_expect_eof(kq, sv[0], EVFILT_READ, WAIT_MS, &ev);
	CHECK_EQ(ev.data, 0);
}

TEST(unix_stream_close_eof)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	kev_expect_none(kq, sv[0], EVFILT_READ);
	CHECK_OK(close(sv[1]));
	kev_expect_eof(kq, sv[0], EVFILT_READ, WAIT_MS, NULL);
	kev_expect_eof(kq, sv[0], EVFILT_WRITE, WAIT_MS, NULL);
}

TEST(unix_stream_close_wakes_waiter)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev[2];

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(200);
		_exit(0);
	}
	CHECK_OK(close(sv[1]));
	CHECK_EQ(kev_wait(kq, ev, 2, 10000), 1);
	CHECKF(ev[0].flags & EV_EOF, "%s", kev_str(&ev[0]));
	wait_child_ok(pid);
}

TEST(unix_stream_lowat_read)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_unix_pair(SOCK_STREAM, sv);
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 10, NULL);
	write_n(sv[1], 5);
	sleep_ms(20);
	kev_expect_empty(kq);
	write_n(sv[1], 5);
	kev_expect(kq, sv[0], EVFILT_READ, WAIT_MS, &ev);
	CHECK_EQ(ev.data, 10);
}

/* ---- TCP ------------------------------------------------------------------ */

static void tcp_read_data(int family)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_tcp_pair(family, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, sv[1], EVFILT_READ);
	write_n(sv[0], 100);
	kev_expect_data(kq, sv[1], EVFILT_READ, 100, WAIT_MS, &ev);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
	read_n(sv[1], 30);
	kev_expect_data(kq, sv[1], EVFILT_READ, 70, WAIT_MS, NULL);
	/* And the other direction. */
	kev_add(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(sv[1], 1000);
	kev_expect_data(kq, sv[0], EVFILT_READ, 1000, WAIT_MS, NULL);
}

TEST(tcp4_read_data)
{
	tcp_read_data(AF_INET);
}

TEST(tcp6_read_data)
{
	tcp_read_data(AF_INET6);
}

static void tcp_listen_backlog(int family)
{
	int kq = kq_new();
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int l = make_tcp_listener(family, &ss, &len);

	kev_add(kq, l, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	for (int i = 0; i < 2; i++) {
		int c = socket(family, SOCK_STREAM, 0);

		CHECK_OK(c);
		CHECK_OK(connect(c, (struct sockaddr *)&ss, len));
	}
	kev_expect_data(kq, l, EVFILT_READ, 2, WAIT_MS, NULL);
	CHECK_OK(accept(l, NULL, NULL));
	kev_expect_data(kq, l, EVFILT_READ, 1, WAIT_MS, NULL);
	CHECK_OK(accept(l, NULL, NULL));
	kev_expect_empty(kq);
}

TEST(tcp4_listen_backlog)
{
	tcp_listen_backlog(AF_INET);
}

TEST(tcp6_listen_backlog)
{
	tcp_listen_backlog(AF_INET6);
}

TEST(tcp4_write_data)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_tcp_pair(AF_INET, sv);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_WRITE, WAIT_MS, &ev);
	CHECK_GT(ev.data, 0);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
}

TEST(tcp4_full_not_writable)
{
	int kq = kq_new();
	int sv[2];
	int sndbuf = 16384;
	struct kevent ev;

	make_tcp_pair(AF_INET, sv);
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			    sizeof(sndbuf)));
	size_t filled = fill_fd(sv[0]);
	/* Let loopback settle (ACKs, window), then top up again. */
	sleep_ms(100);
	filled += fill_fd(sv[0]);
	CHECK_GT(filled, 0);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, sv[0], EVFILT_WRITE);

	/* The reader drains: writable again. */
	long long deadline = now_ms() + 10000;
	for (;;) {
		struct kevent evs[4];
		drain_fd(sv[1]);
		int n = kev_wait(kq, evs, 4, 100);
		if (kev_find(evs, n, sv[0], EVFILT_WRITE)) {
			ev = *kev_find(evs, n, sv[0], EVFILT_WRITE);
			break;
		}
		CHECKF(now_ms() < deadline, "not writable after draining");
	}
	CHECK_GT(ev.data, 0);
}

static void tcp_shutdown_eof(int family)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_tcp_pair(family, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(sv[0], 5);
	kev_expect_data(kq, sv[1], EVFILT_READ, 5, WAIT_MS, &ev);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS, &ev);
	CHECK_EQ(ev.data, 5);
	CHECK_EQ(ev.fflags, 0);
	read_n(sv[1], 5);
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS, &ev);
	CHECK_EQ(ev.data, 0);
}

TEST(tcp4_shutdown_eof)
{
	tcp_shutdown_eof(AF_INET);
}

TEST(tcp6_shutdown_eof)
{
	tcp_shutdown_eof(AF_INET6);
}

TEST(tcp4_close_eof)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_tcp_pair(AF_INET, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	CHECK_OK(close(sv[0]));
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS, &ev);
	CHECK_EQ(ev.data, 0);
}

static void tcp_reset(int family)
{
	int kq = kq_new();
	int sv[2];
	struct linger lg = { 1, 0 };
	struct kevent ev;

	make_tcp_pair(family, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CHECK_OK(close(sv[0]));
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS, &ev);
	CHECKF(ev.fflags == ECONNRESET, "fflags %u, want ECONNRESET (%d); %s",
	       ev.fflags, ECONNRESET, kev_str(&ev));
}

TEST(tcp4_reset_econnreset)
{
	tcp_reset(AF_INET);
}

TEST(tcp6_reset_econnreset)
{
	tcp_reset(AF_INET6);
}

/*
 * BSD leaves a socket's error pending for the program (so_error): kqueue
 * reports it in fflags without clearing it.  A non-blocking connect() to a
 * port nobody listens on: READ and WRITE both say EV_EOF with ECONNREFUSED,
 * and the program's own getsockopt(SO_ERROR) still finds it afterwards
 * (libevent's connect path depends on this).  Once the program took it,
 * the reports say EV_EOF with fflags 0.
 */
static void connect_refused(int family)
{
	int kq = kq_new();
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct kevent ch[2], rd, wr;
	int s, err = -1;
	socklen_t elen = sizeof(err);

	CHECK_OK(close(make_tcp_listener(family, &ss, &len)));
	s = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK_OK(s);
	errno = 0;
	CHECKF(connect(s, (struct sockaddr *)&ss, len) == -1 &&
	       errno == EINPROGRESS, "connect: %s", kqt_errname(errno));
	EV_SET(&ch[0], s, EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], s, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kevent(kq, ch, 2, NULL, 0, NULL), 0);
	kev_expect_eof(kq, s, EVFILT_READ, WAIT_MS, &rd);
	kev_expect_eof(kq, s, EVFILT_WRITE, WAIT_MS, &wr);
	CHECKF(rd.fflags == ECONNREFUSED, "READ %s", kev_str(&rd));
	CHECKF(wr.fflags == ECONNREFUSED, "WRITE %s", kev_str(&wr));
	/* Both again, in one call: still the same error. */
	kev_expect_eof(kq, s, EVFILT_READ, WAIT_MS, &rd);
	CHECKF(rd.fflags == ECONNREFUSED, "READ again %s", kev_str(&rd));
	/* The program's own look at the error: still pending. */
	CHECK_OK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen));
	CHECKF(err == ECONNREFUSED, "SO_ERROR %s after the reports",
	       kqt_errname(err));
	CHECK_OK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen));
	CHECK_EQ(err, 0);
	/* Taken: EOF stays, the error is gone from the reports. */
	kev_expect_eof(kq, s, EVFILT_READ, WAIT_MS, &rd);
	kev_expect_eof(kq, s, EVFILT_WRITE, WAIT_MS, &wr);
	CHECKF(rd.fflags == 0, "READ after SO_ERROR %s", kev_str(&rd));
	CHECKF(wr.fflags == 0, "WRITE after SO_ERROR %s", kev_str(&wr));
	CHECK_OK(close(s));
}

TEST(bsd_connect_refused_error_stays_pending)
{
	connect_refused(AF_INET);
}

TEST(bsd_connect6_refused_error_stays_pending)
{
	connect_refused(AF_INET6);
}

/* A reset: ECONNRESET in fflags, and read() still fails with it. */
TEST(bsd_tcp_reset_error_stays_pending)
{
	int kq = kq_new();
	int sv[2];
	struct linger lg = { 1, 0 };
	struct kevent ev;
	char c;

	make_tcp_pair(AF_INET, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, sv[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CHECK_OK(close(sv[0]));
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS, &ev);
	CHECKF(ev.fflags == ECONNRESET, "READ %s", kev_str(&ev));
	kev_expect_eof(kq, sv[1], EVFILT_WRITE, WAIT_MS, &ev);
	CHECKF(ev.fflags == ECONNRESET, "WRITE %s", kev_str(&ev));
	CHECK_ERR(read(sv[1], &c, 1), ECONNRESET);
	CHECK_EQ(read(sv[1], &c, 1), 0);
	kev_expect_eof(kq, sv[1], EVFILT_READ, WAIT_MS, &ev);
	CHECKF(ev.fflags == 0, "READ after read() %s", kev_str(&ev));
	CHECK_OK(close(sv[1]));
}

/* ---- UDP ------------------------------------------------------------------ */

static void udp_read_data(int family)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_udp_pair(family, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
	write_n(sv[0], 20);
	kev_expect_data(kq, sv[1], EVFILT_READ, 20, WAIT_MS, &ev);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
	char buf[64];
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 20);
	kev_expect_empty(kq);
}

TEST(udp4_read_data)
{
	udp_read_data(AF_INET);
}

TEST(udp6_read_data)
{
	udp_read_data(AF_INET6);
}

static void udp_read_data_total(int family)
{
	int kq = kq_new();
	int sv[2];
	char buf[64];

	make_udp_pair(family, sv);
	kev_add(kq, sv[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(sv[0], 20);
	kev_expect_data(kq, sv[1], EVFILT_READ, 20, WAIT_MS, NULL);
	write_n(sv[0], 30);
	kev_expect_data(kq, sv[1], EVFILT_READ, 50, WAIT_MS, NULL);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 20);
	kev_expect_data(kq, sv[1], EVFILT_READ, 30, WAIT_MS, NULL);
}

TEST(udp4_read_data_total)
{
	udp_read_data_total(AF_INET);
}

TEST(udp6_read_data_total)
{
	udp_read_data_total(AF_INET6);
}

TEST(udp4_write_ready)
{
	int kq = kq_new();
	int sv[2];
	struct kevent ev;

	make_udp_pair(AF_INET, sv);
	kev_add(kq, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, sv[0], EVFILT_WRITE, 0, &ev);
	CHECK_GT(ev.data, 0);
}
