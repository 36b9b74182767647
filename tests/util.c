/*
 * util.c - helpers shared by every test file: kevent() wrappers that assert,
 * descriptor factories (pipes, UNIX / TCP / UDP socket pairs over loopback),
 * fill/drain, RLIMIT_NOFILE, a private temporary directory, the module's
 * live counters in sysfs, clocks, and errno names for messages.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kqtest.h"

#define FAIL_AT(file, line, ...)	kqt_fail(file, line, __VA_ARGS__)

const char *kqt_errname(int err)
{
	static __thread char buf[32];

	switch (err) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case ENOSPC: return "ENOSPC";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ECONNRESET: return "ECONNRESET";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ENOTCONN: return "ENOTCONN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ENETUNREACH: return "ENETUNREACH";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENOTSOCK: return "ENOTSOCK";
	case ERESTART: return "ERESTART";
	case 512: return "ERESTARTSYS(512)";
	case 513: return "ERESTARTNOINTR(513)";
	case 514: return "ERESTARTNOHAND(514)";
	case 515: return "ENOIOCTLCMD(515)";
	default:
		snprintf(buf, sizeof(buf), "errno %d", err);
		return buf;
	}
}

/* ---- kevent ------------------------------------------------------------- */

int kq_new_at(const char *file, int line)
{
	int kq = kqueue();

	if (kq < 0)
		FAIL_AT(file, line, "kqueue() failed: %s", kqt_errname(errno));
	return kq;
}

void kev_add_at(const char *file, int line, int kq, uintptr_t ident,
		short filter, unsigned short flags, unsigned int fflags,
		int64_t data, void *udata)
{
	struct kevent kev;
	int r;

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	r = kevent(kq, &kev, 1, NULL, 0, NULL);
	if (r != 0)
		FAIL_AT(file, line,
			"kevent(change ident=%llu filter=%d flags=0x%x) "
			"returned %d, errno %s", (unsigned long long)ident,
			filter, flags, r, r < 0 ? kqt_errname(errno) : "-");
}

int kev_change(int kq, uintptr_t ident, short filter, unsigned short flags,
	       unsigned int fflags, int64_t data, void *udata)
{
	struct kevent kev;

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	return kevent(kq, &kev, 1, NULL, 0, NULL);
}

int kev_poll_at(const char *file, int line, int kq, struct kevent *ev, int n)
{
	struct timespec ts = { 0, 0 };
	int r = kevent(kq, NULL, 0, ev, n, &ts);

	if (r < 0)
		FAIL_AT(file, line, "kevent(poll) failed: %s",
			kqt_errname(errno));
	if (r > n)
		FAIL_AT(file, line, "kevent(poll) returned %d > nevents %d",
			r, n);
	return r;
}

int kev_wait_at(const char *file, int line, int kq, struct kevent *ev, int n,
		int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	int r = kevent(kq, NULL, 0, ev, n, &ts);

	if (r < 0)
		FAIL_AT(file, line, "kevent(wait %d ms) failed: %s", ms,
			kqt_errname(errno));
	if (r > n)
		FAIL_AT(file, line, "kevent(wait) returned %d > nevents %d",
			r, n);
	return r;
}

const struct kevent *kev_find(const struct kevent *ev, int n,
			      uintptr_t ident, short filter)
{
	for (int i = 0; i < n; i++)
		if (ev[i].ident == ident && ev[i].filter == filter)
			return &ev[i];
	return NULL;
}

const char *kev_str(const struct kevent *ev)
{
	static __thread char buf[160];

	snprintf(buf, sizeof(buf),
		 "{ident=%llu filter=%d flags=0x%x fflags=0x%x data=%lld "
		 "udata=%p}", (unsigned long long)ev->ident, ev->filter,
		 ev->flags, ev->fflags, (long long)ev->data, ev->udata);
	return buf;
}

void kev_expect_at(const char *file, int line, int kq, uintptr_t ident,
		   short filter, int ms, struct kevent *out)
{
	long long deadline = now_ms() + ms;
	struct kevent ev[64];

	for (;;) {
		long long left = deadline - now_ms();
		int n;

		if (left < 0)
			left = 0;
		n = kev_wait_at(file, line, kq, ev, 64, (int)left);
		const struct kevent *k = kev_find(ev, n, ident, filter);
		if (k) {
			if (out)
				*out = *k;
			return;
		}
		if (left == 0)
			break;
		if (n == 0)
			continue;
		/* Others were ready; give the expected one a moment. */
		sleep_ms(10);
	}
	FAIL_AT(file, line, "no event for ident=%llu filter=%d within %d ms",
		(unsigned long long)ident, filter, ms);
}

void kev_expect_data_at(const char *file, int line, int kq, uintptr_t ident,
			short filter, int64_t want, int ms,
			struct kevent *out)
{
	long long deadline = now_ms() + ms;
	struct kevent ev[64];
	struct kevent last = { 0 };
	int seen = 0;

	for (;;) {
		int n = kev_wait_at(file, line, kq, ev, 64, 50);
		const struct kevent *k = kev_find(ev, n, ident, filter);

		if (k) {
			seen = 1;
			last = *k;
			if (k->data == want) {
				if (out)
					*out = *k;
				return;
			}
		}
		if (now_ms() >= deadline)
			break;
		if (n > 0)
			sleep_ms(10);
	}
	if (seen)
		FAIL_AT(file, line, "ident=%llu filter=%d: data %lld, want "
			"%lld (event %s)", (unsigned long long)ident, filter,
			(long long)last.data, (long long)want, kev_str(&last));
	FAIL_AT(file, line, "no event for ident=%llu filter=%d within %d ms "
		"(want data %lld)", (unsigned long long)ident, filter, ms,
		(long long)want);
}

void kev_expect_eof_at(const char *file, int line, int kq, uintptr_t ident,
		       short filter, int ms, struct kevent *out)
{
	long long deadline = now_ms() + ms;
	struct kevent ev[64];
	struct kevent last = { 0 };
	int seen = 0;

	for (;;) {
		int n = kev_wait_at(file, line, kq, ev, 64, 50);
		const struct kevent *k = kev_find(ev, n, ident, filter);

		if (k) {
			seen = 1;
			last = *k;
			if (k->flags & EV_EOF) {
				if (out)
					*out = *k;
				return;
			}
		}
		if (now_ms() >= deadline)
			break;
		if (n > 0)
			sleep_ms(10);
	}
	if (seen)
		FAIL_AT(file, line, "ident=%llu filter=%d: no EV_EOF within "
			"%d ms, last event %s", (unsigned long long)ident,
			filter, ms, kev_str(&last));
	FAIL_AT(file, line, "no event for ident=%llu filter=%d within %d ms "
		"(want EV_EOF)", (unsigned long long)ident, filter, ms);
}

void kev_expect_none_at(const char *file, int line, int kq, uintptr_t ident,
			short filter)
{
	struct kevent ev[64];
	int n = kev_poll_at(file, line, kq, ev, 64);
	const struct kevent *k = kev_find(ev, n, ident, filter);

	if (k)
		FAIL_AT(file, line, "unexpected event %s", kev_str(k));
}

void kev_expect_empty_at(const char *file, int line, int kq)
{
	struct kevent ev[8];
	int n = kev_poll_at(file, line, kq, ev, 8);

	if (n != 0)
		FAIL_AT(file, line, "expected no events, got %d, first %s",
			n, kev_str(&ev[0]));
}

/* ---- descriptors -------------------------------------------------------- */

void make_pipe_at(const char *file, int line, int fds[2], int flags)
{
	if (pipe2(fds, flags) < 0)
		FAIL_AT(file, line, "pipe2: %s", kqt_errname(errno));
}

void make_unix_pair_at(const char *file, int line, int type, int sv[2])
{
	if (socketpair(AF_UNIX, type, 0, sv) < 0)
		FAIL_AT(file, line, "socketpair: %s", kqt_errname(errno));
}

void set_handler_at(const char *file, int line, int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0)
		FAIL_AT(file, line, "sigaction(%d): %s", sig,
			kqt_errname(errno));
}

static void *parked_main(void *arg)
{
	struct parked_thread *p = arg;
	sigset_t set;
	char c = 'u';

	if (p->unblock_sig) {
		sigemptyset(&set);
		sigaddset(&set, p->unblock_sig);
		if (pthread_sigmask(SIG_UNBLOCK, &set, NULL) != 0)
			return NULL;	/* no "up": parked_start() fails */
	}
	if (write(p->up[1], &c, 1) != 1)
		return NULL;
	while (read(p->gate[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

void parked_start_at(const char *file, int line, struct parked_thread *p,
		     int unblock_sig)
{
	char c;
	int err;

	p->unblock_sig = unblock_sig;
	make_pipe_at(file, line, p->gate, 0);
	make_pipe_at(file, line, p->up, 0);
	err = pthread_create(&p->t, NULL, parked_main, p);
	if (err)
		FAIL_AT(file, line, "pthread_create: %s", kqt_errname(err));
	/* EOF: the thread ended without running as asked. */
	if (read(p->up[0], &c, 1) != 1)
		FAIL_AT(file, line, "parked thread did not start");
}

void parked_stop_at(const char *file, int line, struct parked_thread *p)
{
	int err;

	if (write(p->gate[1], "x", 1) != 1)
		FAIL_AT(file, line, "release: %s", kqt_errname(errno));
	err = pthread_join(p->t, NULL);
	if (err)
		FAIL_AT(file, line, "pthread_join: %s", kqt_errname(err));
	close(p->gate[0]);
	close(p->gate[1]);
	close(p->up[0]);
	close(p->up[1]);
}

void send_fd_at(const char *file, int line, int sock, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	char b = 'f';
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *cm;

	memset(&cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &mh, 0) != 1)
		FAIL_AT(file, line, "sendmsg(SCM_RIGHTS): %s",
			kqt_errname(errno));
}

int recv_fd_at(const char *file, int line, int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	char b;
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int fd;

	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	cm = n == 1 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (!cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS)
		FAIL_AT(file, line, "recvmsg(SCM_RIGHTS): %zd (%s)", n,
			n < 0 ? kqt_errname(errno) : "no descriptor");
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

void loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0)
			sleep_ms(50);	/* let ::1 appear */
	}
	close(s);
}

static void loopback_addr(int family, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*s4);
	}
}

/* bind(), retried a little: ::1 may take a moment after lo comes up. */
static int bind_loopback(int s, int family, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	for (int i = 0; i < 50; i++) {
		loopback_addr(family, ss, len);
		if (bind(s, (struct sockaddr *)ss, *len) == 0) {
			if (getsockname(s, (struct sockaddr *)ss, len) < 0)
				return -1;
			return 0;
		}
		if (errno != EADDRNOTAVAIL)
			return -1;
		sleep_ms(100);
	}
	return -1;
}

int make_tcp_listener_at(const char *file, int line, int family,
			 struct sockaddr_storage *addr, socklen_t *len)
{
	int one = 1;
	int l;

	loopback_up();
	l = socket(family, SOCK_STREAM, 0);
	if (l < 0)
		FAIL_AT(file, line, "socket(TCP %s): %s",
			family == AF_INET6 ? "v6" : "v4", kqt_errname(errno));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind_loopback(l, family, addr, len) < 0)
		FAIL_AT(file, line, "bind(TCP %s loopback): %s",
			family == AF_INET6 ? "v6" : "v4", kqt_errname(errno));
	if (listen(l, 16) < 0)
		FAIL_AT(file, line, "listen: %s", kqt_errname(errno));
	return l;
}

void make_tcp_pair_at(const char *file, int line, int family, int sv[2])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;
	int l = make_tcp_listener_at(file, line, family, &ss, &len);
	int c = socket(family, SOCK_STREAM, 0);

	if (c < 0)
		FAIL_AT(file, line, "socket: %s", kqt_errname(errno));
	if (connect(c, (struct sockaddr *)&ss, len) < 0)
		FAIL_AT(file, line, "connect(TCP %s loopback): %s",
			family == AF_INET6 ? "v6" : "v4", kqt_errname(errno));
	int a = accept(l, NULL, NULL);
	if (a < 0)
		FAIL_AT(file, line, "accept: %s", kqt_errname(errno));
	close(l);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sv[0] = c;
	sv[1] = a;
}

void make_udp_pair_at(const char *file, int line, int family, int sv[2])
{
	struct sockaddr_storage sa[2];
	socklen_t len[2];

	loopback_up();
	for (int i = 0; i < 2; i++) {
		sv[i] = socket(family, SOCK_DGRAM, 0);
		if (sv[i] < 0)
			FAIL_AT(file, line, "socket(UDP): %s",
				kqt_errname(errno));
		len[i] = sizeof(sa[i]);
		if (bind_loopback(sv[i], family, &sa[i], &len[i]) < 0)
			FAIL_AT(file, line, "bind(UDP %s loopback): %s",
				family == AF_INET6 ? "v6" : "v4",
				kqt_errname(errno));
	}
	for (int i = 0; i < 2; i++)
		if (connect(sv[i], (struct sockaddr *)&sa[!i], len[!i]) < 0)
			FAIL_AT(file, line, "connect(UDP): %s",
				kqt_errname(errno));
}

void write_n_at(const char *file, int line, int fd, size_t len)
{
	char buf[4096];

	memset(buf, 'k', sizeof(buf));
	while (len > 0) {
		size_t chunk = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t w = write(fd, buf, chunk);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			FAIL_AT(file, line, "write(fd %d, %zu): %s", fd,
				chunk, w < 0 ? kqt_errname(errno) : "0");
		len -= (size_t)w;
	}
}

void read_n_at(const char *file, int line, int fd, size_t len)
{
	char buf[4096];

	while (len > 0) {
		size_t chunk = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t r = read(fd, buf, chunk);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			FAIL_AT(file, line, "read(fd %d, %zu): %s", fd, chunk,
				r < 0 ? kqt_errname(errno) : "EOF");
		len -= (size_t)r;
	}
}

size_t fill_fd(int fd)
{
	static char buf[65536];
	size_t total = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	memset(buf, 'f', sizeof(buf));
	for (;;) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		total += (size_t)w;
	}
	/* Top up with single bytes: a big write can fail with room left. */
	for (;;) {
		ssize_t w = write(fd, buf, 1);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		total += (size_t)w;
	}
	return total;
}

size_t drain_fd(int fd)
{
	static char buf[65536];
	size_t total = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	return total;
}

size_t read_total(int fd, size_t want)
{
	static char buf[65536];
	size_t got = 0;
	int idle = 0;

	while (got < want && idle < 10000) {
		size_t n = want - got < sizeof(buf) ? want - got : sizeof(buf);
		ssize_t r = read(fd, buf, n);

		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			sleep_ms(1);
			idle++;
			continue;
		}
		if (r <= 0)
			break;
		got += (size_t)r;
		idle = 0;
	}
	return got;
}

void raise_nofile_at(const char *file, int line, rlim_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		FAIL_AT(file, line, "getrlimit: %s", kqt_errname(errno));
	if (rl.rlim_cur >= n)
		return;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	rl.rlim_cur = n;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		FAIL_AT(file, line, "setrlimit(RLIMIT_NOFILE, %llu): %s "
			"(run as root or raise the hard limit)",
			(unsigned long long)n, kqt_errname(errno));
}

const char *tmp_dir(void)
{
	static char path[256];
	const char *bases[] = { getenv("TMPDIR"), "/tmp", "/dev/shm",
				"/var/tmp", "/run", "." };

	if (path[0])
		return path;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!bases[i] || !bases[i][0])
			continue;
		snprintf(path, sizeof(path), "%s/kqtest.XXXXXX", bases[i]);
		if (mkdtemp(path))
			return path;
	}
	/* No writable directory: make /tmp (the VM's root is a ramfs). */
	mkdir("/tmp", 01777);
	snprintf(path, sizeof(path), "/tmp/kqtest.XXXXXX");
	if (mkdtemp(path))
		return path;
	FAIL("no writable temporary directory: %s", kqt_errname(errno));
}

/* ---- misc --------------------------------------------------------------- */

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned int kqt_scaled_s(unsigned int s)
{
	const char *env = getenv("KQTEST_TIMEOUT");
	int limit = env ? atoi(env) : 0;

	return limit > 30 ? s * (unsigned int)limit / 30 : s;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#define COUNTER_DIR "/sys/module/kqueue/parameters/"

static int try_read_counter(const char *name, long long *val)
{
	char path[256], buf[64], *end;
	FILE *f;

	snprintf(path, sizeof(path), COUNTER_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		errno = EIO;
		return -1;
	}
	fclose(f);
	errno = 0;
	*val = strtoll(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || errno) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

long long read_counter_at(const char *file, int line, const char *name)
{
	long long v;

	if (try_read_counter(name, &v) < 0)
		FAIL_AT(file, line, "cannot read " COUNTER_DIR "%s "
			"(a decimal number): %s", name, kqt_errname(errno));
	return v;
}

void expect_counter_at(const char *file, int line, const char *name,
		       long long want, int ms)
{
	long long deadline = now_ms() + ms;
	long long v;

	for (;;) {
		v = read_counter_at(file, line, name);
		if (v == want)
			return;
		if (now_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	FAIL_AT(file, line, "%s is %lld, want %lld", name, v, want);
}

/* -1 until probed; the runner probes it before it forks the tests. */
static int module_counters = -1;

int kqt_module_counters(void)
{
	if (module_counters < 0)
		module_counters = !kqt_backend_is_user();
	return module_counters;
}

long long counter_base_at(const char *file, int line, const char *name)
{
	return kqt_module_counters() ? read_counter_at(file, line, name) : 0;
}

void require_module_counters_at(const char *file, int line)
{
	if (!kqt_module_counters())
		FAIL_AT(file, line, "module only: checks the counters in "
			COUNTER_DIR ", which do not describe user-space "
			"backend kqueues");
}

/* ---- module parameters, children (t_close.c, t_fork.c, t_limits.c) ----- */

#include <grp.h>
#include <signal.h>
#include <sys/wait.h>

void kqt_param_restore(void *saved)
{
	const struct kqt_param *p = saved;

	if (write_param(p->name, p->old) < 0 || read_counter(p->name) != p->old)
		FAIL("could not restore %s to %lld: %s", p->name, p->old,
		     kqt_errname(errno));
}

int write_param(const char *name, long long val)
{
	char path[256], buf[32];
	int fd, len, err;
	ssize_t w;

	snprintf(path, sizeof(path), COUNTER_DIR "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%lld\n", val);
	w = write(fd, buf, (size_t)len);
	err = errno;
	close(fd);
	if (w != len) {
		errno = w < 0 ? err : EIO;
		return -1;
	}
	return 0;
}

void drop_privileges_at(const char *file, int line, uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 ||
	    setuid(uid) < 0)
		FAIL_AT(file, line, "dropping to uid %d: %s", (int)uid,
			kqt_errname(errno));
	if (geteuid() != uid || getegid() != (gid_t)uid)
		FAIL_AT(file, line, "still euid %d egid %d", (int)geteuid(),
			(int)getegid());
}

static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t r;

	do {
		r = read(fd, buf, len);
	} while (r < 0 && errno == EINTR);
	return r;
}

void exec_child_start_at(const char *file, int line, struct exec_child *ec,
			 void (*setup)(void *arg), void *arg)
{
	int rp[2], gp[2];
	pid_t pid;
	char c;

	if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0)
		FAIL_AT(file, line, "pipe2: %s", kqt_errname(errno));
	pid = fork();
	if (pid < 0)
		FAIL_AT(file, line, "fork: %s", kqt_errname(errno));
	if (pid == 0) {
		close(rp[0]);
		close(gp[1]);
		setup(arg);
		if (write(rp[1], "R", 1) != 1)
			_exit(126);
		if (read_retry(gp[0], &c, 1) != 1)
			_exit(126);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		c = 'E';
		if (write(rp[1], &c, 1) != 1)
			_exit(127);
		_exit(127);
	}
	close(rp[1]);
	close(gp[0]);
	ec->pid = pid;
	ec->rd = rp[0];
	ec->go = gp[1];
	if (read_retry(ec->rd, &c, 1) == 1 && c == 'R')
		return;
	/* The setup failed: report the child's own message. */
	wait_child_ok_at(file, line, pid);
	FAIL_AT(file, line, "exec child exited before it was ready");
}

void exec_child_exec_at(const char *file, int line, struct exec_child *ec)
{
	ssize_t r;
	char c;
	int st;

	if (write(ec->go, "G", 1) != 1)
		FAIL_AT(file, line, "write(go): %s", kqt_errname(errno));
	r = read_retry(ec->rd, &c, 1);
	if (r == 1)
		FAIL_AT(file, line, "the child could not exec /bin/sleep");
	if (r < 0)
		FAIL_AT(file, line, "read(exec pipe): %s", kqt_errname(errno));
	/* EOF: its close-on-exec pipe end is gone, so it has exec'd. */
	if (waitpid(ec->pid, &st, WNOHANG) == ec->pid) {
		ec->pid = 0;
		FAIL_AT(file, line, "the child died at exec (status 0x%x)",
			st);
	}
}

void exec_child_end_at(const char *file, int line, struct exec_child *ec)
{
	int st;

	if (ec->pid > 0) {
		kill(ec->pid, SIGKILL);
		if (waitpid(ec->pid, &st, 0) != ec->pid)
			FAIL_AT(file, line, "waitpid(%d): %s", (int)ec->pid,
				kqt_errname(errno));
		ec->pid = 0;
	}
	close(ec->rd);
	close(ec->go);
}

void run_child_then_at(const char *file, int line, void (*fn)(void *),
		       void *arg, void (*cleanup)(void *), void *carg)
{
	pid_t pid, r;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cleanup(carg);
		FAIL_AT(file, line, "fork: %s", kqt_errname(errno));
	}
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	do {
		r = waitpid(pid, &st, 0);
	} while (r < 0 && errno == EINTR);
	cleanup(carg);
	if (r != pid)
		FAIL_AT(file, line, "waitpid(%d): %s", (int)pid,
			kqt_errname(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (WIFSIGNALED(st))
		FAIL_AT(file, line, "child killed by signal %d (%s)",
			WTERMSIG(st), strsignal(WTERMSIG(st)));
	/*
	 * A child that failed an assertion left its message in the page the
	 * runner reads; end this process without overwriting it.
	 */
	_exit(1);
}

void await_child_byte_at(const char *file, int line, int fd, pid_t pid)
{
	char c;

	if (read_retry(fd, &c, 1) == 1)
		return;
	/* It died (or closed the pipe) first: report why. */
	wait_child_ok_at(file, line, pid);
	FAIL_AT(file, line, "child %d exited without signalling", (int)pid);
}
