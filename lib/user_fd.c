/*
 * user_fd.c - EVFILT_READ, EVFILT_WRITE and EVFILT_EMPTY of the user-space
 * backend: the user's descriptor in the kqueue's epoll set (one
 * edge-triggered registration per fd, shared by its knotes; see
 * user_core.c), and the filter's check, which asks the descriptor for the
 * truth and the byte counts:
 *
 *   READ   pipes, FIFOs, sockets, ttys: FIONREAD; a listening TCP socket:
 *          TCP_INFO's backlog; a user-space kqueue: the events it would
 *          return; regular files: always ready, data = size - offset;
 *          anything else: poll(), data 0.  EV_EOF from the hang-up epoll
 *          reported (a FIFO's is asked again: a new writer ends it); a
 *          socket error in fflags, worked out without taking it (see
 *          sock_error_peek()).
 *   WRITE  pipes and FIFOs: F_GETPIPE_SZ - FIONREAD; sockets: poll() and
 *          SO_SNDBUF - SIOCOUTQ; regular files: always; else poll().
 *          A pipe(2) whose reader is gone: EPIPE at EV_ADD (FreeBSD).
 *   EMPTY  pipe/FIFO write ends: FIONREAD == 0; sockets: SIOCOUTQ == 0.
 *          Linux does not wake a writer when a pipe that was not full is
 *          emptied, nor when a TCP ACK arrives: these knotes are looked at
 *          again every 10 ms while unmet (as the module does for
 *          NOTE_LOWAT on WRITE), and so are WRITE knotes with NOTE_LOWAT.
 *
 * Called with kq->mtx held (user_core.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "kq_internal.h"

#define KN_IS_UKQ	1	/* kn->aux: the fd is a user-space kqueue */
#define KN_IS_KMODKQ	2	/* the fd is a kqueue of the module */

static short poll_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, 0) < 0)
		return 0;
	return p.revents;
}

/*
 * KN_IS_* if fd is a kqueue of either backend, else 0.  A user-space
 * kqueue is found in the table (a system call only if the fd number is
 * there); the module's (which only matters to refuse filters other than
 * READ: kmod) needs the file type and an ioctl.
 */
static int fd_kqueue_kind(struct usrc *src, bool kmod)
{
	struct ukq *k;
	mode_t mode;

	if (src->typed && src->mode != 0 && src->mode != S_IFCHR)
		return 0;	/* epoll fds have no file type */
	if (!src->notukq && ukq_others_exist()) {
		k = ukq_get(src->fd);
		if (k) {
			ukq_put(k);
			return KN_IS_UKQ;
		}
		src->notukq = true;	/* for the life of src (one file) */
	}
	if (!kmod)
		return 0;
	mode = fdsrc_mode(src);
	if (mode != 0 && mode != S_IFCHR)
		return 0;
	if (kq_kmod_is_kqueue(src->fd))
		return KN_IS_KMODKQ;
	return 0;
}

static void set_recheck(struct uknote *kn, bool on)
{
	if (kn->recheck == on)
		return;
	kn->recheck = on;
	if (on)
		kn->kq->nrecheck++;
	else
		kn->kq->nrecheck--;
}

static int fd_attach(struct uknote *kn, int slot, uint32_t want)
{
	struct usrc *src;
	int err = fdsrc_get(kn->kq, (int)kn->ident, want, &src);
	int kind;

	if (err)
		return -err;
	kind = fd_kqueue_kind(src, slot != 0);
	if (kind && slot != 0) {
		fdsrc_put(kn->kq, src);
		return EINVAL;	/* a kqueue only has EVFILT_READ */
	}
	if (slot == 2 && !(fdsrc_mode(src) == S_IFSOCK ||
			   (src->mode == S_IFIFO &&
			    (fcntl(src->fd, F_GETFL) & O_ACCMODE) !=
			    O_RDONLY))) {
		fdsrc_put(kn->kq, src);
		return EINVAL;
	}
	kn->aux = (uint64_t)kind;
	kn->src = src;
	src->kn[slot] = kn;
	if (src->nopoll) {
		kn_activate(kn);	/* always ready */
	} else if (src->quiet) {
		/*
		 * The fd was already in the epoll set (fdsrc_get()): no event
		 * will come for what is true now, so look now.  READ's probe
		 * keeps its FIONREAD for the scan of this same call.
		 */
		struct kevent ev = { 0 };

		if (kn->fop->probe)
			kn->fop->probe(kn);
		if (kn->fop->check(kn, &ev, true) > 0)
			kn_activate(kn);
	}
	if (slot == 2)
		set_recheck(kn, true);
	return 0;
}

static int read_attach(struct uknote *kn)
{
	return fd_attach(kn, 0, EPOLLIN | EPOLLRDHUP);
}

/*
 * A pipe(2) write end whose reader is gone: FreeBSD refuses EVFILT_WRITE
 * on it with EPIPE.  pipe_poll() says POLLERR to a write end without
 * readers; pipefs tells a pipe from a FIFO (which keeps EV_EOF: its
 * readers may come back).
 */
static bool pipe_reader_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	struct statfs sfs;
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return false;
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PIPEFS_MAGIC)
		return false;
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR);
}

static int write_attach(struct uknote *kn)
{
	if (kn->ident <= INT_MAX && pipe_reader_gone((int)kn->ident))
		return EPIPE;
	return fd_attach(kn, 1, EPOLLOUT);
}

static int empty_attach(struct uknote *kn)
{
	return fd_attach(kn, 2, EPOLLOUT);
}

static void fd_detach(struct uknote *kn)
{
	for (int i = 0; i < 3; i++)
		if (kn->src->kn[i] == kn)
			kn->src->kn[i] = NULL;
	set_recheck(kn, false);
}

/*
 * The kernel's struct tcp_info up to tcpi_segs_in (Linux 4.2; the layout
 * is ABI, only ever appended to): glibc's struct tcp_info stops at
 * tcpi_total_retrans.
 */
struct tcp_info_ext {
	struct tcp_info base;
	uint64_t pacing_rate, max_pacing_rate;
	uint64_t bytes_acked, bytes_received;
	uint32_t segs_out, segs_in;
};
_Static_assert(sizeof(struct tcp_info) == 104, "glibc's struct tcp_info");

/*
 * The error pending on a socket (sk_err), for fflags, without taking it:
 * BSD leaves so_error for the program's own getsockopt(SO_ERROR), read()
 * or write() (libevent's connect path relies on that), and so does the
 * module.  Linux has no way to read sk_err that leaves it in place:
 * SO_ERROR, recv(MSG_PEEK) and a second connect() all take it (sock_error()
 * is an exchange with 0), and neither TCP_INFO nor sock_diag carries it.
 * So it is worked out, and only where that is certain enough; 0 otherwise
 * (README, "Differences of the user-space backend"):
 *
 *   poll(): no POLLERR means no error is pending (none, or the program
 *   took it): 0.  A UNIX socket's only error is ECONNRESET (its peer went
 *   away with data unread).  A TCP socket that the kernel closed
 *   (TCP_INFO: TCP_CLOSE) with an error pending:
 *     - never established (tcpi_rcv_space 0: the kernel sizes the receive
 *       space when the connection is established, on either side) and a
 *       segment came in (tcpi_segs_in; an ICMP error or a timeout brings
 *       none): reset by the peer during the handshake, ECONNREFUSED;
 *     - established, no retransmission or probe outstanding (a timeout
 *       leaves them counted): reset by the peer, ECONNRESET (also for a
 *       reset after the peer's FIN, where Linux says EPIPE, and for an
 *       administrator's SOCK_DESTROY, ECONNABORTED);
 *     - anything else (ICMP errors, timeouts, UDP): 0.
 */
static unsigned int sock_error_peek(int fd)
{
	struct tcp_info_ext ti;
	socklen_t len = sizeof(int);
	int domain = 0;

	if (!(poll_fd(fd, 0) & POLLERR))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return 0;
	if (domain == AF_UNIX)
		return ECONNRESET;
	if (domain != AF_INET && domain != AF_INET6)
		return 0;
	memset(&ti, 0, sizeof(ti));
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info_ext, segs_in) + sizeof(ti.segs_in) ||
	    ti.base.tcpi_state != TCP_CLOSE)
		return 0;
	if (ti.base.tcpi_rcv_space == 0)
		return ti.segs_in > 0 ? ECONNREFUSED : 0;
	if (ti.base.tcpi_retransmits == 0 && ti.base.tcpi_probes == 0)
		return ECONNRESET;
	return 0;
}

/*
 * EV_EOF, and for a socket its error in fflags, from what epoll last said
 * (hup: the epoll bits that mean EOF for this filter).  A FIFO's hang-up
 * ends when a new writer opens it, which epoll does not report: it is
 * asked again (poll) before EOF is reported.
 */
static bool fd_eof(struct uknote *kn, struct kevent *ev, uint32_t hup)
{
	struct usrc *src = kn->src;

	if (!(src->revents & (hup | EPOLLERR)))
		return false;
	if (fdsrc_mode(src) == S_IFIFO &&
	    !(poll_fd(src->fd, POLLIN) & (POLLHUP | POLLERR))) {
		src->revents &= ~(EPOLLHUP | EPOLLRDHUP | EPOLLERR);
		return false;
	}
	ev->flags |= EV_EOF;
	if (src->mode == S_IFSOCK)
		ev->fflags = sock_error_peek(src->fd);
	return true;
}

static int64_t lowat(struct uknote *kn)
{
	if ((kn->sfflags & NOTE_LOWAT) && kn->sdata > 0)
		return kn->sdata;
	return 1;
}

static int read_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	struct usrc *src = kn->src;
	int fd = src->fd, n = 0;
	bool eof;

	(void)peek;
	if (src->nopoll) {
		struct stat st;
		off_t off;

		if (src->mode != S_IFREG)
			return 1;
		if (fstat(fd, &st) < 0)
			return errno == EBADF ? -1 : 0;
		off = lseek(fd, 0, SEEK_CUR);
		ev->data = off >= 0 && st.st_size > off ? st.st_size - off : 0;
		return 1;
	}
	if (kn->aux == KN_IS_UKQ) {
		struct ukq *inner = ukq_get(fd);

		if (!inner)
			return -1;
		ev->data = ukq_pending(inner);
		ukq_put(inner);
		return ev->data > 0;
	}
	eof = fd_eof(kn, ev, EPOLLHUP | EPOLLRDHUP);
	if (kn->pre_gen == kn->kq->callgen) {
		ev->data = kn->pre_data;	/* read_probe() in this call */
	} else if (ioctl(fd, FIONREAD, &n) == 0) {
		ev->data = n;
	} else if (errno == EBADF) {
		return -1;
	} else {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		short re;

		re = poll_fd(fd, POLLIN);
		if (fdsrc_mode(src) == S_IFSOCK &&
		    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
		    ti.tcpi_state == TCP_LISTEN) {
			ev->data = ti.tcpi_unacked;	/* the backlog */
			return ev->data > 0;
		}
		if (re & POLLNVAL)
			return -1;
		if (re & (POLLHUP | POLLRDHUP))
			ev->flags |= EV_EOF;
		return (re & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) != 0;
	}
	if (eof)
		return 1;
	return ev->data >= lowat(kn);
}

/*
 * EV_ENABLE of a READ knote: FIONREAD both says that the fd is open and
 * gives what read_check() will report in this kevent() call, so a
 * re-enabled EV_DISPATCH knote costs one system call.  The answer is
 * used only in the same call and only while epoll brought no news for
 * the fd since (harvest() forgets it; see user_core.c): the reported
 * `data` is the byte count at a moment inside the call, after the change.
 */
static int read_probe(struct uknote *kn)
{
	struct usrc *src = kn->src;
	int n = 0;

	if (src->nopoll || kn->aux == KN_IS_UKQ)
		return fcntl(src->fd, F_GETFD) < 0 ? EBADF : 0;
	if (ioctl(src->fd, FIONREAD, &n) == 0) {
		kn->pre_data = n;
		kn->pre_gen = kn->kq->callgen;
		return 0;
	}
	return errno == EBADF ? EBADF : 0;	/* open: read_check decides */
}

static int write_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	struct usrc *src = kn->src;
	int fd = src->fd, n = 0;
	short re;

	(void)peek;
	if (src->nopoll)
		return 1;
	if (fdsrc_mode(src) == S_IFIFO) {
		int size = fcntl(fd, F_GETPIPE_SZ);

		if (size < 0)
			return errno == EBADF ? -1 : 0;
		re = poll_fd(fd, POLLOUT);
		if (re & POLLERR) {
			ev->flags |= EV_EOF;
			return 1;
		}
		if (ioctl(fd, FIONREAD, &n) < 0)
			n = 0;
		ev->data = size > n ? size - n : 0;
	} else {
		re = poll_fd(fd, POLLOUT);
		if (re & POLLNVAL)
			return -1;
		if (re & (POLLHUP | POLLERR)) {
			ev->flags |= EV_EOF;
			if (fdsrc_mode(src) == S_IFSOCK)
				ev->fflags = sock_error_peek(fd);
			return 1;
		}
		if (!(re & POLLOUT)) {
			set_recheck(kn, (kn->sfflags & NOTE_LOWAT) != 0);
			return 0;
		}
		if (src->mode == S_IFSOCK) {
			int sz = 0;
			socklen_t len = sizeof(sz);

			if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz,
				       &len) == 0 &&
			    ioctl(fd, SIOCOUTQ, &n) == 0)
				ev->data = sz > n ? sz - n : 0;
		}
		if (!(kn->sfflags & NOTE_LOWAT))
			return 1;
	}
	if (ev->data >= lowat(kn)) {
		set_recheck(kn, false);
		return 1;
	}
	set_recheck(kn, (kn->sfflags & NOTE_LOWAT) != 0);
	return 0;
}

static int empty_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	struct usrc *src = kn->src;
	int fd = src->fd, n = 0;
	short re;

	re = poll_fd(fd, POLLOUT);
	if (re & POLLNVAL)
		return -1;
	if (ioctl(fd, fdsrc_mode(src) == S_IFSOCK ? SIOCOUTQ : FIONREAD,
		  &n) < 0) {
		if (src->mode != S_IFSOCK)
			return 0;
		n = 0;	/* a listening socket has nothing to send */
	}
	if (re & (POLLERR | POLLHUP)) {
		ev->flags |= EV_EOF;
		ev->data = n;
		return 1;
	}
	if (n != 0) {
		kn->aux2 = 0;	/* not empty: the next drain is an edge */
		return 0;
	}
	/* EV_CLEAR: once per drain (this knote is polled, not woken). */
	if ((kn->flags & EV_CLEAR) && kn->aux2)
		return 0;
	if (!peek)
		kn->aux2 = 1;
	return 1;
}

const struct ufilter ufilt_read = {
	.is_fd = true,
	.attach = read_attach,
	.detach = fd_detach,
	.check = read_check,
	.probe = read_probe,
};

const struct ufilter ufilt_write = {
	.is_fd = true,
	.attach = write_attach,
	.detach = fd_detach,
	.check = write_check,
};

const struct ufilter ufilt_empty = {
	.is_fd = true,
	.attach = empty_attach,
	.detach = fd_detach,
	.check = empty_check,
};
