/*
 * <sys/event.h> - the BSD kqueue(2)/kevent(2) interface for Linux.
 *
 * This is the public header of linux-kqueue.  It is installed as
 * <sys/event.h> under $(includedir)/kqueue/ (pkg-config libkqueue adds that
 * directory), so that programs written for FreeBSD compile unchanged.
 *
 * Every EVFILT_*, EV_* and NOTE_* name carries FreeBSD 14's value.  They
 * are defined in <uapi/kqueue_event.h> (installed next to this file as
 * $(includedir)/kqueue/uapi/kqueue_event.h), which kqueue.ko includes too,
 * so library, applications and module share one copy of each value.  Names
 * that exist only on other BSDs get a bit of their own that FreeBSD does not
 * use; that header marks each such case.  The README's status table says
 * which filters and flags the module implements today; a filter that exists
 * but is not implemented is refused by kevent() with EOPNOTSUPP.
 *
 * struct kevent has the 32-byte layout that libkqueue uses on x86-64 (no
 * ext[] array), so sources ported to Linux with libkqueue switch by
 * rebuilding.  In a 32-bit (i386) program it is 24 bytes (32-bit ident
 * and udata); the module's compat_ioctl handles that layout.
 */
#ifndef _SYS_EVENT_H_
#define _SYS_EVENT_H_

#include <stdint.h>
#include <time.h>

/* EVFILT_*, EV_* and NOTE_*: their one definition, shared with the module. */
#include <uapi/kqueue_event.h>

#ifdef __cplusplus
extern "C" {
#endif

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
#elif defined(__i386__) && !defined(__cplusplus)
_Static_assert(sizeof(struct kevent) == 24, "struct kevent is 24 bytes");
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

/*
 * A 32-bit program built with _TIME_BITS=64 has a 16-byte struct timespec:
 * its calls go to kevent_time64(), which takes that layout (as glibc
 * renames its own functions that take a struct timespec).
 */
#if defined(__USE_TIME_BITS64) && defined(__TIMESIZE) && __TIMESIZE == 32
int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout) __asm__("kevent_time64");
#else
int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout);
#endif

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
