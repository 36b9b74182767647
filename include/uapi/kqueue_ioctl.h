/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kqueue_ioctl.h - the fixed-width ABI between libkqueue and kqueue.ko.
 *
 * Private to the library and the module: applications use <sys/event.h>.
 * One ioctl, KQ_IOC_KEVENT, carries one kevent() call.  Every field has a
 * fixed width, so the layout is the same for every compiler and for the
 * kernel.  struct kq_uevent has the layout of the public struct kevent on
 * x86-64 (the library static-asserts that).
 */
#ifndef _UAPI_KQUEUE_IOCTL_H
#define _UAPI_KQUEUE_IOCTL_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/ioctl.h>
#else
#include <linux/types.h>
#include <sys/ioctl.h>
#endif

#define KQ_DEVICE_PATH		"/dev/kqueue"

/* One event or change, as laid out in user memory. */
struct kq_uevent {
	__u64	ident;
	__s16	filter;
	__u16	flags;
	__u32	fflags;
	__s64	data;
	__u64	udata;
};

/* A timeout, as laid out in user memory (struct timespec on x86-64). */
struct kq_utimespec {
	__s64	tv_sec;
	__s64	tv_nsec;
};

/*
 * One kevent() call.  changelist, eventlist and timeout are user pointers
 * (to arrays of struct kq_uevent and to one struct kq_utimespec).  A zero
 * timeout pointer waits forever.  The ioctl returns the number of entries
 * written to eventlist, or -1 with errno set.
 */
struct kq_kevent_args {
	__u64	changelist;
	__u64	eventlist;
	__u64	timeout;
	__s32	nchanges;
	__s32	nevents;
	__u64	reserved;	/* must be 0 */
};

#define KQ_IOC_MAGIC		0xB9
#define KQ_IOC_KEVENT		_IOWR(KQ_IOC_MAGIC, 0x01, struct kq_kevent_args)

#endif /* _UAPI_KQUEUE_IOCTL_H */
