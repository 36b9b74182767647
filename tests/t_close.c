/*
 * t_close.c - BSD close semantics in depth: whatever closes a descriptor
 * removes that descriptor's knotes from every kqueue of the process, at
 * once, and a knote never keeps its file open.
 *
 *   - close(), close_range() over a range of watched fds (CLOSE_RANGE_CLOEXEC
 *     alone closes nothing), dup2()/dup3() over a watched fd (also from
 *     another descriptor of the same file), FD_CLOEXEC at exec (set by
 *     O_CLOEXEC, SOCK_CLOEXEC, F_SETFD and close_range), process exit (also
 *     with nested kqueues and a thread blocked in kevent());
 *   - the file is really released when close() returns: the peer of a
 *     registered UNIX stream socket sees EOF without waiting, a registered
 *     TCP socket has left ESTABLISHED (its peer sees EOF soon after: the FIN
 *     crosses loopback in softirq context, which may run later), a pipe's
 *     writer gets EPIPE, a registered listening socket's port refuses
 *     connections;
 *   - a reused fd number starts with no registration; EV_DELETE of a closed
 *     fd is EBADF; a dup that stays open keeps its own knotes; a queued event
 *     of a closed fd is never reported;
 *   - closing a watched fd or the kqueue itself while another thread waits
 *     in kevent() on that kqueue.
 *
 * Counters (nr_knotes, nr_kqueues) are compared with EXPECT_COUNTER()'s
 * patience, on the module backend only; the behaviour (no event, EOF,
 * EPIPE) is checked at once, on either backend.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define NR_KQ	"nr_kqueues"
#define NR_KN	"nr_knotes"

/* The peer of a just-closed socket: readable now, and at EOF (or reset). */
static void expect_peer_eof_now_at(const char *file, int line, int fd,
				   int allow_reset)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;
	int r = poll(&pfd, 1, 0);

	if (r != 1 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		kqt_fail(file, line, "peer fd %d not readable right after "
			 "close(): poll %d, revents 0x%x (is the closed socket "
			 "still held open?)", fd, r, pfd.revents);
	errno = 0;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	if (n == 0)
		return;
	if (n < 0 && allow_reset && errno == ECONNRESET)
		return;
	kqt_fail(file, line, "peer fd %d: recv %zd (%s), want 0 (EOF)", fd, n,
		 n < 0 ? kqt_errname(errno) : "data");
}
#define expect_peer_eof_now(fd, rst) \
	expect_peer_eof_now_at(__FILE__, __LINE__, fd, rst)

/* A pipe's write end whose only reader was closed: EPIPE at once. */
static void expect_epipe_at(const char *file, int line, int wfd)
{
	errno = 0;
	ssize_t w = write(wfd, "x", 1);

	if (w != -1 || errno != EPIPE)
		kqt_fail(file, line, "write to fd %d: %zd (%s), want -1/EPIPE "
			 "(its read end should be closed by now)", wfd, w,
			 w < 0 ? kqt_errname(errno) : "-");
}
#define expect_epipe(wfd)	expect_epipe_at(__FILE__, __LINE__, wfd)

/* fd is not open (checked before a dup2() onto a chosen number). */
static void expect_fd_free_at(const char *file, int line, int fd)
{
	if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
		kqt_fail(file, line, "fd %d is already open", fd);
}
#define expect_fd_free(fd)	expect_fd_free_at(__FILE__, __LINE__, fd)

TEST(close_removes_knotes_in_every_kqueue)
{
	int kq[3] = { kq_new(), kq_new(), kq_new() };
	long long kn0 = counter_base(NR_KN);
	int p[2], q[2];
	struct kevent ev[16];

	make_pipe(p);
	make_pipe(q);
	kev_add(kq[0], p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x10);
	kev_add(kq[1], p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0,
		(void *)0x11);
	kev_add(kq[2], p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0,
		(void *)0x12);
	kev_add(kq[2], p[0], EVFILT_WRITE, EV_ADD, 0, 0, (void *)0x13);
	kev_add(kq[0], p[1], EVFILT_WRITE, EV_ADD, 0, 0, (void *)0x14);
	kev_add(kq[1], q[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x15);
	EXPECT_COUNTER(NR_KN, kn0 + 6);
	/* Events pending everywhere, none collected. */
	write_n(p[1], 3);
	write_n(q[1], 1);

	CHECK_OK(close(p[0]));
	/* p[0] was the only reader: the pipe's read side is gone now. */
	expect_epipe(p[1]);
	for (int k = 0; k < 3; k++) {
		int n = kev_poll(kq[k], ev, 16);

		for (int i = 0; i < n; i++)
			CHECKF(ev[i].ident != (uintptr_t)p[0],
			       "kqueue %d reports the closed fd: %s", k,
			       kev_str(&ev[i]));
	}
	/* The other knotes are untouched. */
	int n = kev_poll(kq[0], ev, 16);
	const struct kevent *k = kev_find(ev, n, p[1], EVFILT_WRITE);
	CHECKF(k != NULL, "no WRITE event for the pipe's write end");
	CHECK(k->udata == (void *)0x14);
	CHECKF(k->flags & EV_EOF, "write end: %s, want EV_EOF", kev_str(k));
	n = kev_poll(kq[1], ev, 16);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, q[0]);
	CHECK(ev[0].udata == (void *)0x15);
	kev_expect_empty(kq[2]);
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	/* Gone for good: EV_DELETE finds nothing on a new file there. */
	CHECK_EQ(dup2(q[0], p[0]), p[0]);
	for (int j = 0; j < 3; j++)
		CHECK_ERR(kev_change(kq[j], p[0], EVFILT_READ, EV_DELETE, 0,
				     0, NULL), ENOENT);
	CHECK_ERR(kev_change(kq[2], p[0], EVFILT_WRITE, EV_DELETE, 0, 0,
			     NULL), ENOENT);
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	for (int j = 0; j < 3; j++)
		CHECK_OK(close(kq[j]));
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(close_range_removes_knotes)
{
	enum { N = 16, LO = 300 };
	int kq = kq_new(), kq2 = kq_new();
	long long kn0 = counter_base(NR_KN);
	int p[N][2], ctl[2];
	struct kevent ev[2 * N + 4];

	raise_nofile(LO + N + 64);
	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		expect_fd_free(LO + i);
		CHECK_EQ(dup2(p[i][0], LO + i), LO + i);
		CHECK_OK(close(p[i][0]));
		p[i][0] = LO + i;
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0,
			(void *)(intptr_t)(i + 1));
		if (i % 2)
			kev_add(kq2, p[i][0], EVFILT_READ, EV_ADD | EV_CLEAR,
				0, 0, NULL);
		if (i % 3 == 0)
			write_n(p[i][1], 1);
	}
	make_pipe(ctl);
	kev_add(kq, ctl[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xc0);
	write_n(ctl[1], 1);
	EXPECT_COUNTER(NR_KN, kn0 + N + N / 2 + 1);

	/* Marking them close-on-exec closes nothing. */
	CHECK_OK(syscall(SYS_close_range, LO, LO + N - 1,
			 CLOSE_RANGE_CLOEXEC));
	EXPECT_COUNTER(NR_KN, kn0 + N + N / 2 + 1);
	kev_expect(kq, p[0][0], EVFILT_READ, WAIT_MS_DEFAULT, NULL);
	for (int i = 0; i < N; i++)
		CHECK_OK(fcntl(p[i][0], F_SETFD, 0));

	/* One call closes the whole range (and a hole above it). */
	CHECK_OK(syscall(SYS_close_range, LO, LO + N + 10, 0));
	for (int i = 0; i < N; i++)
		expect_epipe(p[i][1]);
	int n = kev_poll(kq, ev, 2 * N + 4);
	CHECKF(n == 1 && ev[0].ident == (uintptr_t)ctl[0],
	       "after close_range: %d events, first %s", n,
	       n > 0 ? kev_str(&ev[0]) : "-");
	kev_expect_empty(kq2);
	EXPECT_COUNTER(NR_KN, kn0 + 1);

	/* The numbers are free again; a new file there is not watched. */
	int r[2];
	make_pipe(r);
	CHECK_EQ(dup2(r[0], LO), LO);
	CHECK_EQ(dup2(r[0], LO + 1), LO + 1);
	write_n(r[1], 1);
	kev_expect_none(kq, LO, EVFILT_READ);
	kev_expect_empty(kq2);
	CHECK_ERR(kev_change(kq, LO, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	CHECK_ERR(kev_change(kq2, LO + 1, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);

	/* close_range() over the kqueues themselves frees their knotes. */
	CHECK_OK(syscall(SYS_close_range, kq, kq, 0));
	CHECK_OK(syscall(SYS_close_range, kq2, kq2, 0));
	EXPECT_COUNTER(NR_KN, kn0);
}

/* dup2() or dup3() of another pipe onto a watched read end. */
static void dup_over_watched_fd(int use_dup3)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int a[2], b[2];
	struct kevent ev;

	make_pipe(a);
	make_pipe(b);
	int x = a[0];
	kev_add(kq, x, EVFILT_READ, EV_ADD, 0, 0, (void *)0xa);
	kev_add(kq, b[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0xb);
	write_n(a[1], 2);		/* pending, not collected */
	EXPECT_COUNTER(NR_KN, kn0 + 2);

	if (use_dup3)
		CHECK_EQ(dup3(b[0], x, O_CLOEXEC), x);
	else
		CHECK_EQ(dup2(b[0], x), x);
	/* x was the old pipe's only reader: that file is closed. */
	expect_epipe(a[1]);
	/* Its pending event is not reported, and nothing else is. */
	kev_expect_empty(kq);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	/* The file now at x is b's: only b[0]'s own knote sees its data. */
	write_n(b[1], 5);
	kev_expect_data(kq, b[0], EVFILT_READ, 5, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xb);
	kev_expect_none(kq, x, EVFILT_READ);
	CHECK_ERR(kev_change(kq, x, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	/* A fresh registration of x watches the new file. */
	kev_add(kq, x, EVFILT_READ, EV_ADD, 0, 0, (void *)0xc);
	kev_expect_data(kq, x, EVFILT_READ, 5, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xc);
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(close_dup2_over_watched_fd)
{
	dup_over_watched_fd(0);
}

TEST(close_dup3_over_watched_fd)
{
	dup_over_watched_fd(1);
}

/*
 * dup2() onto a watched fd from another descriptor of the same file still
 * closes that fd (FreeBSD: closefp() -> knote_fdclose()), so its knote
 * goes, even though the number ends up on the same file.  dup2(x, x) is
 * no close at all.
 */
TEST(close_dup2_same_file_removes_knote)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int p[2];
	struct kevent ev;

	make_pipe(p);
	int x = p[0];
	int d = dup(x);
	CHECK_OK(d);
	kev_add(kq, x, EVFILT_READ, EV_ADD, 0, 0, (void *)0x51);
	write_n(p[1], 1);
	CHECK_EQ(dup2(x, x), x);
	kev_expect(kq, x, EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0x51);
	EXPECT_COUNTER(NR_KN, kn0 + 1);

	CHECK_EQ(dup2(d, x), x);
	kev_expect_none(kq, x, EVFILT_READ);
	EXPECT_COUNTER(NR_KN, kn0);
	CHECK_ERR(kev_change(kq, x, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

/* ---- exec ---------------------------------------------------------------- */

struct cloexec_setup {
	int sock;		/* SOCK_CLOEXEC end, the parent has the peer */
};

static void cloexec_setup(void *arg)
{
	struct cloexec_setup *s = arg;
	int kq = kq_new();	/* survives the exec */
	int a[2], b[2], c[2], d[2];

	CHECK_EQ(fcntl(kq, F_GETFD) & FD_CLOEXEC, 0);
	make_pipe_at(__FILE__, __LINE__, a, O_CLOEXEC);
	kev_add(kq, a[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, a[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_add(kq, s->sock, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, s->sock, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	/* Made close-on-exec after it was registered, two ways. */
	make_pipe(c);
	kev_add(kq, c[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_OK(fcntl(c[0], F_SETFD, FD_CLOEXEC));
	make_pipe(d);
	kev_add(kq, d[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_OK(syscall(SYS_close_range, d[0], d[0], CLOSE_RANGE_CLOEXEC));
	/* Kept across the exec. */
	make_pipe(b);
	kev_add(kq, b[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
}

TEST(close_on_exec_removes_knotes)
{
	int gate = kq_new();
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);
	int sv[2];
	struct exec_child ec;
	struct cloexec_setup s;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	s.sock = sv[0];
	exec_child_start(&ec, cloexec_setup, &s);
	/* The child's copy is the only one left. */
	CHECK_OK(close(sv[0]));
	EXPECT_COUNTER(NR_KQ, kq0 + 1);
	EXPECT_COUNTER(NR_KN, kn0 + 7);

	exec_child_exec(&ec);
	/* The kqueue lives on in /bin/sleep with the one knote kept. */
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	EXPECT_COUNTER(NR_KQ, kq0 + 1);
	/* The registered socket was really closed by the exec. */
	struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
	char ch;
	CHECKF(poll(&pfd, 1, WAIT_MS_DEFAULT) == 1,
	       "the peer of a close-on-exec socket sees no EOF after exec");
	CHECK_EQ(read(sv[1], &ch, 1), 0);

	exec_child_end(&ec);
	EXPECT_COUNTER(NR_KN, kn0);
	EXPECT_COUNTER(NR_KQ, kq0);
	CHECK_OK(close(gate));
}

/* ---- exit ---------------------------------------------------------------- */

static void *block_forever(void *arg)
{
	struct kevent ev;

	kevent(*(int *)arg, NULL, 0, &ev, 1, NULL);
	return NULL;
}

TEST(close_process_exit_removes_everything)
{
	enum { N = 25 };
	int gate = kq_new();
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);
	int sv[2], ready[2], go[2];

	make_unix_pair(SOCK_STREAM, sv);
	make_pipe(ready);
	make_pipe(go);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		int outer = kq_new(), inner = kq_new(), idle = kq_new();
		int p[N][2], e[2];
		pthread_t t;

		close(sv[1]);
		kev_add(outer, inner, EVFILT_READ, EV_ADD, 0, 0, NULL);
		for (int i = 0; i < N; i++) {
			make_pipe(p[i]);
			kev_add(inner, p[i][0], EVFILT_READ, EV_ADD, 0, 0,
				NULL);
			kev_add(outer, p[i][0], EVFILT_READ, EV_CLEAR | EV_ADD,
				0, 0, NULL);
			kev_add(outer, p[i][1], EVFILT_WRITE, EV_ADD, 0, 0,
				NULL);
			if (i % 2)
				write_n(p[i][1], 1);
		}
		kev_add(inner, sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		kev_add(outer, sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
		/* A thread blocked in kevent() on a third kqueue. */
		make_pipe(e);
		kev_add(idle, e[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		CHECK_EQ(pthread_create(&t, NULL, block_forever, &idle), 0);
		write_n(ready[1], 1);
		read_n(go[0], 1);
		_exit(0);	/* nothing closed by hand */
	}
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(ready[1]));
	await_child_byte(ready[0], pid);
	EXPECT_COUNTER(NR_KQ, kq0 + 3);
	EXPECT_COUNTER(NR_KN, kn0 + 3 * N + 4);
	write_n(go[1], 1);
	wait_child_ok(pid);
	/* Reaped: everything it had is gone, no waiting needed. */
	CHECK_COUNTER(NR_KN, ==, kn0);
	CHECK_COUNTER(NR_KQ, ==, kq0);
	expect_peer_eof_now(sv[1], 0);
	CHECK_OK(close(gate));
}

/* ---- sockets ------------------------------------------------------------- */

enum { SK_UNIX, SK_TCP4, SK_TCP6, SK_COUNT };

static unsigned int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	CHECK_OK(getsockname(fd, (struct sockaddr *)&ss, &len));
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * The state (include/net/tcp_states.h) of the TCP connection from lport to
 * rport in /proc/net/tcp or tcp6; 0 if there is none.
 */
static int tcp_state(int family, unsigned int lport, unsigned int rport)
{
	const char *path = family == AF_INET6 ? "/proc/net/tcp6" :
						"/proc/net/tcp";
	char line[512];
	int state = 0;
	FILE *f = fopen(path, "r");

	CHECKF(f != NULL, "open %s: %s", path, kqt_errname(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned int lp, rp, st;

		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x %x",
			   &lp, &rp, &st) == 3 && lp == lport && rp == rport)
			state = (int)st;
	}
	fclose(f);
	return state;
}
#define TCP_ESTABLISHED_ 1

static void sock_pair(int kind, int sv[2])
{
	switch (kind) {
	case SK_UNIX:
		make_unix_pair(SOCK_STREAM, sv);
		break;
	case SK_TCP4:
		make_tcp_pair(AF_INET, sv);
		break;
	default:
		make_tcp_pair(AF_INET6, sv);
		break;
	}
}

TEST(close_registered_socket_peer_sees_eof_at_once)
{
	static const char *const kinds[] = { "unix", "tcp4", "tcp6" };
	int kq1 = kq_new(), kq2 = kq_new();
	long long kn0 = counter_base(NR_KN);

	/*
	 * How the socket is registered: 0 READ, 1 WRITE, 2 READ+WRITE,
	 * 3 READ+WRITE in two kqueues, 4 = 3 with an event pending for each
	 * knote (the peer's data unread: the close may be a reset).
	 */
	for (int kind = 0; kind < SK_COUNT; kind++) {
		for (int how = 0; how < 5; how++) {
			int sv[2];

			sock_pair(kind, sv);
			if (how != 1)
				kev_add(kq1, sv[0], EVFILT_READ, EV_ADD, 0, 0,
					NULL);
			if (how >= 1)
				kev_add(kq1, sv[0], EVFILT_WRITE, EV_ADD, 0,
					0, NULL);
			if (how >= 3) {
				kev_add(kq2, sv[0], EVFILT_READ,
					EV_ADD | EV_CLEAR, 0, 0, NULL);
				kev_add(kq2, sv[0], EVFILT_WRITE,
					EV_ADD | EV_ONESHOT, 0, 0, NULL);
			}
			if (how == 4) {
				write_n(sv[1], 10);
				kev_expect_data(kq1, sv[0], EVFILT_READ, 10,
						WAIT_MS_DEFAULT, NULL);
			}
			unsigned int lp = local_port(sv[0]);
			unsigned int rp = local_port(sv[1]);
			int fam = kind == SK_TCP6 ? AF_INET6 : AF_INET;

			if (kind != SK_UNIX)
				CHECK_EQ(tcp_state(fam, lp, rp),
					 TCP_ESTABLISHED_);
			CHECK_OK(close(sv[0]));
			/*
			 * Released by the time close() returns.  A UNIX peer
			 * sees that at once.  TCP: the socket has left
			 * ESTABLISHED at once (tcp_close() ran), but the FIN
			 * reaches the peer through loopback in softirq
			 * context, which the kernel may defer to ksoftirqd,
			 * so the peer gets a moment.
			 */
			struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
			int r;
			if (kind == SK_UNIX) {
				r = poll(&pfd, 1, 0);
			} else {
				int st = tcp_state(fam, lp, rp);

				CHECKF(st != TCP_ESTABLISHED_, "%s socket "
				       "registered for case %d: still "
				       "ESTABLISHED right after close()",
				       kinds[kind], how);
				r = poll(&pfd, 1, WAIT_MS_DEFAULT);
			}
			CHECKF(r == 1, "%s socket registered for case %d: its "
			       "peer is not readable after close() (poll %d)",
			       kinds[kind], how, r);
			expect_peer_eof_now(sv[1], how == 4);
			kev_expect_empty(kq1);
			kev_expect_empty(kq2);
			EXPECT_COUNTER(NR_KN, kn0);
			CHECK_OK(close(sv[1]));
		}
	}

	/* A registered listening socket: its port refuses at once. */
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int l = make_tcp_listener(AF_INET, &ss, &len);
	kev_add(kq1, l, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq2, l, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_OK(close(l));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_OK(c);
	CHECK_ERR(connect(c, (struct sockaddr *)&ss, len), ECONNREFUSED);
	CHECK_OK(close(c));
	EXPECT_COUNTER(NR_KN, kn0);
}

/* ---- numbers, EBADF, dups, pending events -------------------------------- */

TEST(close_fd_number_reuse_starts_fresh)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int s[2], b[2];
	struct kevent ev[8];

	make_unix_pair(SOCK_STREAM, s);
	int x = s[0];
	int keep = dup(x);	/* keeps the old socket alive, unwatched */
	CHECK_OK(keep);
	kev_add(kq, x, EVFILT_READ, EV_ADD, 0, 0, (void *)0x01);
	kev_add(kq, x, EVFILT_WRITE, EV_ADD, 0, 0, (void *)0x02);
	write_n(s[1], 3);
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	make_pipe(b);
	CHECK_OK(close(x));
	EXPECT_COUNTER(NR_KN, kn0);

	/* The same number, a different file. */
	CHECK_EQ(fcntl(b[0], F_DUPFD, x), x);
	CHECK_OK(close(b[0]));
	kev_add(kq, x, EVFILT_READ, EV_ADD, 0, 0, (void *)0x03);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	/* The old socket still has data and room: nothing of it shows. */
	write_n(s[1], 4);
	kev_expect_empty(kq);
	/* The new file's event, with the new udata and the pipe's count. */
	write_n(b[1], 7);
	int n = kev_poll(kq, ev, 8);
	CHECKF(n == 1, "%d events, first %s", n, n ? kev_str(&ev[0]) : "-");
	CHECK_EQ(ev[0].ident, x);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK(ev[0].udata == (void *)0x03);
	CHECK_EQ(ev[0].data, 7);
	/* The old WRITE registration did not carry over. */
	CHECK_ERR(kev_change(kq, x, EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	CHECK_ERR(kev_change(kq, x, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL),
		  ENOENT);
	kev_add(kq, x, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	EXPECT_COUNTER(NR_KN, kn0);
	/* The socket kept alive by the dup was never watched through it. */
	CHECK_ERR(kev_change(kq, keep, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

TEST(close_delete_of_closed_fd_ebadf)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int p[2];
	struct kevent ch, ev[2];

	make_pipe(p);
	int x = p[0];
	kev_add(kq, x, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	CHECK_OK(close(x));
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	CHECK_ERR(kev_change(kq, x, EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  EBADF);
	CHECK_ERR(kev_change(kq, x, EVFILT_READ, EV_DISABLE, 0, 0, NULL),
		  EBADF);
	CHECK_ERR(kev_change(kq, x, EVFILT_READ, EV_ENABLE, 0, 0, NULL),
		  EBADF);
	CHECK_ERR(kev_change(kq, x, EVFILT_READ, EV_ADD, 0, 0, NULL), EBADF);
	/* With room for it: an EV_ERROR entry. */
	EV_SET(&ch, x, EVFILT_READ, EV_DELETE, 0, 0, (void *)0xbad);
	CHECK_EQ(kevent(kq, &ch, 1, ev, 2, NULL), 1);
	CHECK_EQ(ev[0].ident, x);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
	CHECK_EQ(ev[0].data, EBADF);
	CHECK(ev[0].udata == (void *)0xbad);
	/* Open but never registered: ENOENT. */
	CHECK_ERR(kev_change(kq, p[1], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	kev_add(kq, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	CHECK_ERR(kev_change(kq, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(close_dup_keeps_its_own_knotes)
{
	int kq1 = kq_new(), kq2 = kq_new();
	long long kn0 = counter_base(NR_KN);
	int p[2];
	struct kevent ev[8];

	make_pipe(p);
	/* Only p[0] registered; an unwatched dup keeps the file open. */
	int e = dup(p[0]);
	CHECK_OK(e);
	int a = dup(p[0]);
	CHECK_OK(a);
	kev_add(kq1, a, EVFILT_READ, EV_ADD, 0, 0, (void *)0xa);
	CHECK_OK(close(a));
	EXPECT_COUNTER(NR_KN, kn0);
	write_n(p[1], 1);
	/* The knote was the descriptor's, not the file's. */
	kev_expect_empty(kq1);

	int d = dup(p[0]);
	CHECK_OK(d);
	kev_add(kq1, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1);
	kev_add(kq1, d, EVFILT_READ, EV_ADD, 0, 0, (void *)0x2);
	kev_add(kq2, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)0x3);
	kev_add(kq2, d, EVFILT_READ, EV_ADD, 0, 0, (void *)0x4);
	EXPECT_COUNTER(NR_KN, kn0 + 4);
	CHECK_EQ(kev_poll(kq1, ev, 8), 2);
	CHECK_EQ(kev_poll(kq2, ev, 8), 2);

	CHECK_OK(close(p[0]));
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	write_n(p[1], 1);	/* the file is still open through d and e */
	int n = kev_poll(kq1, ev, 8);
	CHECKF(n == 1, "kq1: %d events", n);
	CHECK_EQ(ev[0].ident, d);
	CHECK(ev[0].udata == (void *)0x2);
	CHECK_EQ(ev[0].data, 2);
	n = kev_poll(kq2, ev, 8);
	CHECKF(n == 1, "kq2: %d events", n);
	CHECK_EQ(ev[0].ident, d);
	CHECK(ev[0].udata == (void *)0x4);

	/* Closing an unwatched dup changes nothing. */
	CHECK_OK(close(e));
	EXPECT_COUNTER(NR_KN, kn0 + 2);
	CHECK_EQ(kev_poll(kq1, ev, 8), 1);
	CHECK_EQ(kev_poll(kq2, ev, 8), 1);

	/* The last descriptor: knotes gone, the file released. */
	CHECK_OK(close(d));
	expect_epipe(p[1]);
	kev_expect_empty(kq1);
	kev_expect_empty(kq2);
	EXPECT_COUNTER(NR_KN, kn0);
}

TEST(close_pending_events_never_reported)
{
	enum { N = 8 };
	static const unsigned short kinds[4] = {
		0, EV_CLEAR, EV_ONESHOT, EV_DISPATCH,
	};
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int p[N][2];
	struct kevent ev[2 * N + 4];

	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD | kinds[i % 4], 0, 0,
			(void *)(intptr_t)(0x100 + i));
		kev_add(kq, p[i][1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0,
			(void *)(intptr_t)(0x200 + i));
		write_n(p[i][1], i + 1);
	}
	EXPECT_COUNTER(NR_KN, kn0 + 2 * N);
	int q[4][2];
	for (int i = 0; i < 4; i++)
		make_pipe(q[i]);
	/* Close the read ends of the first four, one of each kind. */
	int closed[4];
	for (int i = 0; i < 4; i++) {
		closed[i] = p[i][0];
		CHECK_OK(close(p[i][0]));
	}
	/*
	 * Their numbers come straight back, on empty pipes registered
	 * afresh: a stale queued knote must not show up under them.
	 */
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(fcntl(q[i][0], F_DUPFD, closed[i]), closed[i]);
		kev_add(kq, closed[i], EVFILT_READ, EV_ADD, 0, 0,
			(void *)(intptr_t)(0x300 + i));
	}
	int n = kev_poll(kq, ev, 2 * N + 4);
	int reads = 0, writes = 0;
	for (int k = 0; k < n; k++) {
		intptr_t u = (intptr_t)ev[k].udata;

		CHECKF(!(u >= 0x100 && u < 0x104) && !(u >= 0x300 &&
							 u < 0x304),
		       "event of a closed fd or an empty pipe: %s",
		       kev_str(&ev[k]));
		if (ev[k].filter == EVFILT_READ) {
			CHECK(u >= 0x104 && u < 0x100 + N);
			CHECK_EQ(ev[k].ident, p[u - 0x100][0]);
			CHECK_EQ(ev[k].data, u - 0x100 + 1);
			reads++;
		} else {
			CHECK(u >= 0x200 && u < 0x200 + N);
			int i = (int)(u - 0x200);
			CHECK_EQ(ev[k].ident, p[i][1]);
			/* No reader left for the first four. */
			CHECKF(!!(ev[k].flags & EV_EOF) == (i < 4), "%s",
			       kev_str(&ev[k]));
			writes++;
		}
	}
	CHECK_EQ(reads, N - 4);
	CHECK_EQ(writes, N);
	/* 2N - 4 closed + 4 new, less the one fired EV_ONESHOT. */
	EXPECT_COUNTER(NR_KN, kn0 + 2 * N - 1);
}

/* ---- threads ------------------------------------------------------------- */

struct blocked {
	int kq;
	int ms;
	int n;
	int err;
	int done;
	long long dt;
	struct kevent ev;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	struct timespec ts = { b->ms / 1000, (long)(b->ms % 1000) * 1000000 };
	long long t0 = now_ms();

	b->n = kevent(b->kq, NULL, 0, &b->ev, 1, &ts);
	b->err = errno;
	b->dt = now_ms() - t0;
	__atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(close_while_another_thread_waits)
{
	long long kq0 = counter_base(NR_KQ);
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	int p[2], q[2];
	pthread_t t;
	struct blocked b = { .kq = kq, .ms = 8000 };

	make_pipe(p);
	make_pipe(q);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1);
	kev_add(kq, q[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x2);
	CHECK_EQ(pthread_create(&t, NULL, blocked_main, &b), 0);
	sleep_ms(200);

	/* A watched fd closed under the waiter: it is not woken for it. */
	CHECK_OK(close(p[0]));
	expect_epipe(p[1]);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	sleep_ms(200);
	CHECKF(!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST),
	       "the waiter returned %d (%s) after a close", b.n,
	       kev_str(&b.ev));
	/* The kqueue still works for it. */
	write_n(q[1], 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECKF(b.n == 1, "waiter: %d (%s)", b.n,
	       b.n < 0 ? kqt_errname(b.err) : "-");
	CHECK_EQ(b.ev.ident, q[0]);
	CHECK(b.ev.udata == (void *)0x2);
	read_n(q[0], 1);

	/*
	 * The kqueue descriptor itself closed under a waiter: the waiter
	 * keeps waiting until its timeout; the kqueue goes when it returns.
	 */
	b.ms = 1500;
	b.done = 0;
	CHECK_EQ(pthread_create(&t, NULL, blocked_main, &b), 0);
	sleep_ms(200);
	CHECK_OK(close(kq));
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECKF(b.n == 0, "waiter on a closed kqueue: %d (%s)", b.n,
	       b.n < 0 ? kqt_errname(b.err) : kev_str(&b.ev));
	CHECKF(b.dt >= 1000, "waiter returned after %lld ms of 1500", b.dt);
	EXPECT_COUNTER(NR_KN, kn0);
	EXPECT_COUNTER(NR_KQ, kq0);
	CHECK_ERR(kevent(kq, NULL, 0, NULL, 0, NULL), EBADF);
}
