/*
 * kmod.c - the kernel-module backend of libkqueue: a kqueue is an open of
 * /dev/kqueue (kqueue.ko); kevent() is a single ioctl carrying struct
 * kq_kevent_args, unless the completion ring has the events (kmod_ring.c).
 * The same for a 32-bit program (the module's compat_ioctl reads its
 * layouts; see below).
 * No locks: async-signal-safe and fork-safe as far as the module allows.
 *
 * Errors specific to this backend:
 *   open: ENOSYS when /dev/kqueue does not exist (module not loaded).
 *   kevent(): EBADF when kq is open but not a kqueue (the ioctl is not
 *             understood by whatever kq refers to: ENOTTY, or EINVAL from
 *             a file that is not a kqueue).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kq_internal.h"
#include "kqueue_ioctl.h"

/*
 * The structs the module reads and writes.  A 64-bit program's struct
 * kevent and struct timespec are exactly the ABI's struct kq_uevent and
 * struct kq_utimespec.  A 32-bit (i386) program's are smaller: struct
 * kevent is 24 bytes (32-bit ident and udata, data 4-byte aligned) and
 * struct timespec is the old 32-bit one; the module's compat_ioctl
 * converts those itself (kmod/kq_kevent.c, struct kq_compat_uevent and
 * struct old_timespec32), so the library passes the caller's pointers
 * unchanged in both cases.  Only the completion ring's entries, which are
 * struct kq_uevent for every task, are converted here (kmod_ring.c).
 */
/* One layout, and so one ioctl number, for 32-bit and 64-bit programs. */
_Static_assert(sizeof(struct kq_kevent_args) == 40, "kq_kevent_args");

#if KQ_KEVENT_IS_UEVENT
_Static_assert(sizeof(struct timespec) == sizeof(struct kq_utimespec) &&
	       offsetof(struct timespec, tv_nsec) ==
	       offsetof(struct kq_utimespec, tv_nsec), "struct timespec");
_Static_assert(sizeof(struct kevent) == sizeof(struct kq_uevent),
	       "struct kevent size");
_Static_assert(offsetof(struct kevent, ident) ==
	       offsetof(struct kq_uevent, ident), "ident");
_Static_assert(offsetof(struct kevent, filter) ==
	       offsetof(struct kq_uevent, filter), "filter");
_Static_assert(offsetof(struct kevent, flags) ==
	       offsetof(struct kq_uevent, flags), "flags");
_Static_assert(offsetof(struct kevent, fflags) ==
	       offsetof(struct kq_uevent, fflags), "fflags");
_Static_assert(offsetof(struct kevent, data) ==
	       offsetof(struct kq_uevent, data), "data");
_Static_assert(offsetof(struct kevent, udata) ==
	       offsetof(struct kq_uevent, udata), "udata");
#elif defined(__i386__)
/* The module's struct kq_compat_uevent and struct old_timespec32. */
_Static_assert(sizeof(struct kevent) == 24 &&
	       offsetof(struct kevent, filter) == 4 &&
	       offsetof(struct kevent, flags) == 6 &&
	       offsetof(struct kevent, fflags) == 8 &&
	       offsetof(struct kevent, data) == 12 &&
	       offsetof(struct kevent, udata) == 20, "i386 struct kevent");
_Static_assert(sizeof(struct timespec) == 8 &&
	       offsetof(struct timespec, tv_nsec) == 4,
	       "the library is built with the 32-bit time_t (kevent_time64 "
	       "serves _TIME_BITS=64 programs)");
#else
#error "struct kevent of this ABI is neither x86-64's nor i386's"
#endif

int kq_kmod_open(int oflags)
{
	int fd = open(KQ_DEVICE_PATH, O_RDWR | oflags);

	if (fd < 0 && (errno == ENOENT || errno == ENXIO || errno == ENODEV))
		errno = ENOSYS;
	return fd;
}

int kq_kmod_kevent(int kq, const struct kevent *changelist, int nchanges,
		   struct kevent *eventlist, int nevents,
		   const struct timespec *timeout)
{
	struct kq_kevent_args args = {
		.changelist = (uintptr_t)changelist,
		.eventlist = (uintptr_t)eventlist,
		.nchanges = nchanges,
		.nevents = nevents,
		.timeout = (uintptr_t)timeout,
	};
	int ret;

	if (nchanges == 0) {
		ret = kq_ring_kevent(kq, eventlist, nevents, timeout);
		if (ret >= 0)
			return ret;
	}
	ret = ioctl(kq, KQ_IOC_KEVENT, &args);
	/*
	 * The kernel read the timeout only if it got to waiting: no
	 * changes (they may end the call with EV_ERROR entries) and room
	 * for events.
	 */
	if (ret >= 0)
		kq_ring_accepted(eventlist, ret,
				 nchanges == 0 && nevents > 0 ? timeout : NULL);
	if (ret < 0 && errno == ENOTTY)
		errno = EBADF;
	/* epoll fds answer unknown ioctls with EINVAL (Linux 6.9+). */
	if (ret < 0 && errno == EINVAL && !kq_kmod_is_kqueue(kq))
		errno = EBADF;
	return ret;
}

int kq_kmod_is_kqueue(int kq)
{
	struct kq_kevent_args args = { 0 };
	int err = errno;
	int ret = ioctl(kq, KQ_IOC_KEVENT, &args);

	errno = err;
	return ret == 0;
}
