/*
 * user_proc.c - EVFILT_PROC of the user-space backend: one pidfd per knote
 * (pidfd_open(2), Linux 5.3), readable when the process exits.  NOTE_EXIT
 * reports EV_EOF and data = the wait status (waitid(P_PIDFD, WNOWAIT), so
 * the caller can still reap it); the knote is gone after that report,
 * which says so with EV_ONESHOT (as FreeBSD).  EV_CLEAR is implied.
 *
 * What user space cannot do: NOTE_FORK, NOTE_EXEC and NOTE_TRACK need the
 * kernel's process events (the module uses tracepoints): they are refused
 * with EOPNOTSUPP.  The exit status of a process that is not the caller's
 * child cannot be read: data is 0 for it.
 *
 * Errors: ESRCH for a pid that does not exist (or a zombie watched without
 * NOTE_EXIT), EPERM when the caller may not signal the process.
 * kq->mtx held.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kq_internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int proc_attach(struct uknote *kn)
{
	pid_t pid = (pid_t)kn->ident;
	struct pollfd p;
	int fd, err;

	if (kn->ident == 0 || kn->ident > INT_MAX)
		return ESRCH;
	if (kill(pid, 0) < 0 && errno == EPERM)
		return EPERM;
	if (kn->sfflags & (NOTE_FORK | NOTE_EXEC | NOTE_TRACK))
		return EOPNOTSUPP;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		/* EINVAL: no such pid; ENOENT: a thread, not a process. */
		return errno == EINVAL || errno == ENOENT ? ESRCH : errno;
	p.fd = fd;
	p.events = POLLIN;
	if (!(kn->sfflags & NOTE_EXIT) && poll(&p, 1, 0) == 1) {
		close(fd);
		return ESRCH;	/* a zombie, nothing to wait for */
	}
	kn->src = usrc_new(kn->kq, SRC_PROC, fd);
	if (!kn->src) {
		close(fd);
		return ENOMEM;
	}
	kn->src->kn[0] = kn;
	err = usrc_epoll_add(kn->kq, kn->src, EPOLLIN);
	if (err) {
		usrc_free(kn->kq, kn->src);
		return -err;
	}
	kn->flags |= EV_CLEAR;
	return 0;
}

static void proc_detach(struct uknote *kn)
{
	usrc_free(kn->kq, kn->src);
}

static int proc_touch(struct uknote *kn, const struct kevent *kev)
{
	if (!(kev->flags & EV_ADD))
		return 0;
	if (kev->fflags & (NOTE_FORK | NOTE_EXEC | NOTE_TRACK))
		return EOPNOTSUPP;
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	return 0;
}

static int proc_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	struct pollfd p = { .fd = kn->src->fd, .events = POLLIN };
	siginfo_t si;

	(void)peek;
	if (poll(&p, 1, 0) != 1)
		return 0;
	if (!(kn->sfflags & NOTE_EXIT))
		return -1;
	si.si_pid = 0;
	ev->data = 0;
	if (waitid(P_PIDFD, (id_t)kn->src->fd, &si,
		   WEXITED | WNOWAIT | WNOHANG) == 0 && si.si_pid) {
		if (si.si_code == CLD_EXITED)
			ev->data = (si.si_status & 0xff) << 8;
		else
			ev->data = (si.si_status & 0x7f) |
				   (si.si_code == CLD_DUMPED ? 0x80 : 0);
	}
	ev->fflags = NOTE_EXIT;
	ev->flags |= EV_EOF | EV_ONESHOT;	/* dropped with this report */
	return 2;
}

static void proc_event(struct usrc *src, uint32_t events)
{
	(void)events;
	kn_activate(src->kn[0]);
}

const struct ufilter ufilt_proc = {
	.is_fd = false,
	.attach = proc_attach,
	.detach = proc_detach,
	.touch = proc_touch,
	.check = proc_check,
	.source_event = proc_event,
};
