/*
 * <sys/event.h> - the BSD kqueue(2)/kevent(2) interface for Linux.
 *
 * This is the public header of linux-kqueue.  It is installed as
 * <sys/event.h> under $(includedir)/kqueue/ (pkg-config libkqueue adds that
 * directory), so that programs written for FreeBSD compile unchanged.
 *
 * Every EVFILT_*, EV_* and NOTE_* name carries FreeBSD 14's value.  Names
 * that exist only on other BSDs get a bit of their own that FreeBSD does not
 * use; each such case is marked below.  The README's status table says which
 * filters and flags the module implements today; a filter that exists here
 * but is not implemented is refused by kevent() with EOPNOTSUPP.
 *
 * struct kevent has the 32-byte layout that libkqueue uses on x86-64 (no
 * ext[] array), so sources ported to Linux with libkqueue switch by
 * rebuilding.
 */
#ifndef _SYS_EVENT_H_
#define _SYS_EVENT_H_

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Filters (FreeBSD values). */
#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
#define EVFILT_AIO		(-3)	/* not implemented */
#define EVFILT_VNODE		(-4)
#define EVFILT_PROC		(-5)
#define EVFILT_SIGNAL		(-6)
#define EVFILT_TIMER		(-7)
#define EVFILT_PROCDESC		(-8)	/* not implemented */
#define EVFILT_FS		(-9)	/* not implemented */
#define EVFILT_LIO		(-10)	/* not implemented */
#define EVFILT_USER		(-11)
#define EVFILT_SENDFILE		(-12)	/* not implemented */
#define EVFILT_EMPTY		(-13)
#define EVFILT_SYSCOUNT		13

/* Actions and behaviour flags (kevent.flags, input). */
#define EV_ADD		0x0001	/* add the event, or modify an existing one */
#define EV_DELETE	0x0002	/* remove the event */
#define EV_ENABLE	0x0004	/* let the event be reported */
#define EV_DISABLE	0x0008	/* keep the event but do not report it */
#define EV_FORCEONESHOT	0x0100	/* fire an existing event once, then drop it */
#define EV_KEEPUDATA	0x0200	/* EV_ADD on an existing event keeps udata */

#define EV_ONESHOT	0x0010	/* report once, then delete */
#define EV_CLEAR	0x0020	/* reset the state after it is reported */
#define EV_RECEIPT	0x0040	/* report the change's result, do not wait */
#define EV_DISPATCH	0x0080	/* disable after each report */

#define EV_SYSFLAGS	0xF000	/* reserved; ignored on input */
#define EV_DROP		0x1000
#define EV_FLAG1	0x2000
#define EV_FLAG2	0x4000

/* Returned flags (kevent.flags, output). */
#define EV_EOF		0x8000	/* end of file / peer gone */
#define EV_ERROR	0x4000	/* data holds an errno for this change */

/* EVFILT_USER: fflags operations and the trigger bit. */
#define NOTE_FFNOP	0x00000000
#define NOTE_FFAND	0x40000000
#define NOTE_FFOR	0x80000000
#define NOTE_FFCOPY	0xc0000000
#define NOTE_FFCTRLMASK	0xc0000000
#define NOTE_FFLAGSMASK	0x00ffffff
#define NOTE_TRIGGER	0x01000000

/* EVFILT_READ / EVFILT_WRITE. */
#define NOTE_LOWAT	0x0001	/* data holds a low-water mark */
#define NOTE_FILE_POLL	0x0002	/* poll(2) semantics on regular files */

/* EVFILT_VNODE. */
#define NOTE_DELETE	0x0001
#define NOTE_WRITE	0x0002
#define NOTE_EXTEND	0x0004
#define NOTE_ATTRIB	0x0008
#define NOTE_LINK	0x0010
#define NOTE_RENAME	0x0020
#define NOTE_REVOKE	0x0040
#define NOTE_OPEN	0x0080
#define NOTE_CLOSE	0x0100
#define NOTE_CLOSE_WRITE 0x0200
#define NOTE_READ	0x0400
/*
 * OpenBSD and libkqueue call 0x0080 NOTE_TRUNCATE; FreeBSD uses that value
 * for NOTE_OPEN and reports truncation as NOTE_ATTRIB.  Here NOTE_TRUNCATE
 * gets a bit of its own: a truncation that shrinks the file posts
 * NOTE_ATTRIB|NOTE_TRUNCATE, and NOTE_TRUNCATE is reported only to a knote
 * that asked for it.
 */
#define NOTE_TRUNCATE	0x0800

/* EVFILT_PROC. */
#define NOTE_EXIT	0x80000000
#define NOTE_FORK	0x40000000
#define NOTE_EXEC	0x20000000
#define NOTE_PCTRLMASK	0xf0000000
#define NOTE_PDATAMASK	0x000fffff
#define NOTE_TRACK	0x00000001
#define NOTE_TRACKERR	0x00000002
#define NOTE_CHILD	0x00000004

/* EVFILT_TIMER: units and flags. */
#define NOTE_SECONDS	0x00000001
#define NOTE_MSECONDS	0x00000002
#define NOTE_USECONDS	0x00000004
#define NOTE_NSECONDS	0x00000008
#define NOTE_ABSTIME	0x00000010
/* macOS's and libkqueue's name for NOTE_ABSTIME (FreeBSD's value). */
#define NOTE_ABSOLUTE	NOTE_ABSTIME

/* kqueuex() flags. */
#define KQUEUE_CLOEXEC	0x00000001

struct kevent {
	uintptr_t	ident;	/* identifier: fd, pid, signal, timer id */
	short		filter;	/* EVFILT_* */
	unsigned short	flags;	/* EV_* */
	unsigned int	fflags;	/* filter flags: NOTE_* */
	int64_t		data;	/* filter data */
	void		*udata;	/* opaque user data, returned as given */
};

#if defined(__x86_64__) && !defined(__cplusplus)
_Static_assert(sizeof(struct kevent) == 32, "struct kevent is 32 bytes");
#endif

#define EV_SET(kevp, a, b, c, d, e, f) do {		\
	struct kevent *__kevp = (kevp);			\
	__kevp->ident = (a);				\
	__kevp->filter = (b);				\
	__kevp->flags = (c);				\
	__kevp->fflags = (d);				\
	__kevp->data = (e);				\
	__kevp->udata = (f);				\
} while (0)

/*
 * kqueue() returns a new kqueue descriptor, or -1 with errno set.  When the
 * kernel module is not loaded (no /dev/kqueue) the user-space backend is
 * used, unless KQUEUE_BACKEND=kmod forces the module (then errno ENOSYS).
 */
int kqueue(void);
/* FreeBSD: flags is 0 or KQUEUE_CLOEXEC; anything else is EINVAL. */
int kqueuex(unsigned int flags);
/* NetBSD: flags is 0 or O_CLOEXEC; anything else is EINVAL. */
int kqueue1(int flags);

int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout);

/*
 * Backends.  A kqueue is served either by the kernel module (/dev/kqueue)
 * or, where the module is not loaded, by a user-space emulation over
 * epoll, timerfd, signalfd, pidfd and inotify (see the README for what it
 * cannot do).  kqueue() picks the module when /dev/kqueue exists, else user
 * space; the environment variable KQUEUE_BACKEND=kmod or =user forces one
 * (kmod without the module: ENOSYS; any other value: EINVAL).
 */
#define KQUEUE_BACKEND_KMOD	1
#define KQUEUE_BACKEND_USER	2

/* Which backend kq uses; -1 with errno EBADF if kq is not a kqueue. */
int kqueue_backend(int kq);

#ifdef __cplusplus
}
#endif

#endif /* _SYS_EVENT_H_ */
