/*
 * kqueue.c - libkqueue's public entry points: kqueue(), kqueuex(),
 * kqueue1(), kevent() and kqueue_backend(), dispatching to one of two
 * backends:
 *
 *   kmod  kqueue.ko through /dev/kqueue (kmod.c): every registration in
 *         the kernel, full BSD semantics;
 *   user  the user-space backend (user_*.c) over epoll, timerfd, eventfd,
 *         signalfd, pidfd and inotify, for machines without the module.
 *
 * The backend is chosen when a kqueue is created: KQUEUE_BACKEND=kmod or
 * =user forces one (kmod forced without /dev/kqueue: ENOSYS; any other
 * non-empty value: EINVAL); otherwise the module when /dev/kqueue exists,
 * else user space.  kevent() looks kq up among this process's user-space
 * kqueues (no lookup at all until one was made) and otherwise hands it to
 * the module, which answers EBADF for anything that is not its kqueue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "kq_internal.h"

/* KQUEUE_BACKEND_* to use for a new kqueue, or -1 with errno set. */
static int choose_backend(void)
{
	const char *env = getenv("KQUEUE_BACKEND");

	if (!env || !env[0])
		return 0;	/* automatic */
	if (strcmp(env, "kmod") == 0)
		return KQUEUE_BACKEND_KMOD;
	if (strcmp(env, "user") == 0)
		return KQUEUE_BACKEND_USER;
	errno = EINVAL;
	return -1;
}

static int kq_create(int cloexec)
{
	int b = choose_backend();
	int fd;

	if (b < 0)
		return -1;
	if (b == KQUEUE_BACKEND_USER)
		return kq_user_create(cloexec);
	fd = kq_kmod_open(cloexec ? O_CLOEXEC : 0);
	if (fd >= 0)
		kq_ring_attach(fd);
	if (fd >= 0 || b == KQUEUE_BACKEND_KMOD || errno != ENOSYS)
		return fd;
	return kq_user_create(cloexec);
}

int kqueue(void)
{
	return kq_create(0);
}

int kqueuex(unsigned int flags)
{
	if (flags & ~(unsigned int)KQUEUE_CLOEXEC) {
		errno = EINVAL;
		return -1;
	}
	return kq_create(flags & KQUEUE_CLOEXEC);
}

int kqueue1(int flags)
{
	if (flags & ~O_CLOEXEC) {
		errno = EINVAL;
		return -1;
	}
	return kq_create(flags & O_CLOEXEC);
}

int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout)
{
	int ret;

	if (__atomic_load_n(&kq_user_in_use, __ATOMIC_RELAXED) &&
	    kq_user_kevent(kq, changelist, nchanges, eventlist, nevents,
			   timeout, &ret))
		return ret;
	return kq_kmod_kevent(kq, changelist, nchanges, eventlist, nevents,
			      timeout);
}

#if !KQ_KEVENT_IS_UEVENT
/*
 * kevent() for a 32-bit program built with _TIME_BITS=64, whose struct
 * timespec is 16 bytes (a 64-bit tv_sec, then a 32-bit tv_nsec and 4
 * bytes of padding): <sys/event.h> renames its kevent() calls to this.
 * The library itself is built with glibc's default 32-bit time_t, and so
 * is what the module's compat_ioctl reads: the timeout is converted here.
 * A relative timeout of more than 2^31 - 1 seconds (68 years) waits that
 * long; a negative one stays negative (EINVAL).  Unlike kevent(), a
 * timeout pointer into unmapped memory faults here instead of failing
 * with EFAULT (README, "32-bit programs").
 */
struct kq_timespec64 {
	int64_t tv_sec;
	int32_t tv_nsec;
	int32_t pad;
};
_Static_assert(sizeof(struct kq_timespec64) == 16, "time64 timespec");

int kevent_time64(int kq, const struct kevent *changelist, int nchanges,
		  struct kevent *eventlist, int nevents,
		  const struct kq_timespec64 *timeout);

int kevent_time64(int kq, const struct kevent *changelist, int nchanges,
		  struct kevent *eventlist, int nevents,
		  const struct kq_timespec64 *timeout)
{
	struct timespec ts;

	if (!timeout)
		return kevent(kq, changelist, nchanges, eventlist, nevents,
			      NULL);
	if (timeout->tv_sec > INT32_MAX)
		ts.tv_sec = INT32_MAX;
	else if (timeout->tv_sec < 0)
		ts.tv_sec = -1;
	else
		ts.tv_sec = (time_t)timeout->tv_sec;
	ts.tv_nsec = timeout->tv_nsec;
	return kevent(kq, changelist, nchanges, eventlist, nevents, &ts);
}
#endif

int kqueue_backend(int kq)
{
	if (__atomic_load_n(&kq_user_in_use, __ATOMIC_RELAXED)) {
		if (kq_user_owns(kq))
			return KQUEUE_BACKEND_USER;
	}
	if (kq_kmod_is_kqueue(kq))
		return KQUEUE_BACKEND_KMOD;
	errno = EBADF;
	return -1;
}
