/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kqueue_ioctl.h - the fixed-width ABI between libkqueue and kqueue.ko.
 *
 * Private to the library and the module: applications use <sys/event.h>.
 * The EVFILT_*, EV_* and NOTE_* values both use are in kqueue_event.h.
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

#include "kqueue_event.h"

#define KQ_DEVICE_PATH		"/dev/kqueue"

/*
 * The kevent.flags a change may carry (any other bit: EINVAL), and those a
 * knote keeps from its EV_ADD and reports back in its events: what the
 * user gave minus the actions, as FreeBSD keeps them.  Both backends, the
 * module and the library's user-space one, apply these.
 */
#define KQ_EV_INPUT_FLAGS	(EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | \
				 EV_ONESHOT | EV_CLEAR | EV_RECEIPT | \
				 EV_DISPATCH | EV_FORCEONESHOT | EV_KEEPUDATA)
#define KQ_EV_KNOTE_FLAGS	(EV_ONESHOT | EV_CLEAR | EV_RECEIPT | \
				 EV_DISPATCH | EV_KEEPUDATA)

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

/*
 * The completion ring: mmap() of a kqueue fd, KQ_RING_MAP_SIZE bytes at
 * offset 0, MAP_SHARED, read and write.  A header page (struct
 * kq_ring_hdr), then KQ_RING_ENTRIES events (struct kq_uevent) from
 * offset KQ_RING_EVENTS_OFF.  The kernel posts complete reports of
 * edge-triggered knotes into it; a consumer takes entry prod..cons by
 * claiming the index (compare-and-swap on cons), then the entry (state
 * POSTED -> TAKEN), reading it, and giving it back (state FREE).
 * kmod/kq_ring.c describes the protocol and its memory ordering.
 */
#define KQ_RING_ENTRIES		1024
#define KQ_RING_EVENTS_OFF	4096
#define KQ_RING_MAP_SIZE	(KQ_RING_EVENTS_OFF + \
				 KQ_RING_ENTRIES * 32)
#define KQ_RING_VERSION		1

/* state[] of an entry */
#define KQ_RING_FREE		0	/* empty: the kernel may post here */
#define KQ_RING_POSTED		1	/* holds an event nobody took yet */
#define KQ_RING_BUSY		2	/* the kernel is updating it in place */
#define KQ_RING_TAKEN		3	/* a consumer is reading it */
#define KQ_RING_CANCELLED	4	/* retracted: consumers skip it */

/* kflags */
#define KQ_RING_KLIST		0x1	/* the kernel's own list may hold events */
#define KQ_RING_DEAD		0x2	/* the kqueue, or a descriptor of it, was
					 * closed: use the ioctl */

struct kq_ring_hdr {
	__u32	version;		/* KQ_RING_VERSION */
	__u32	nentries;		/* KQ_RING_ENTRIES */
	__u32	kflags;			/* written by the kernel */
	__u32	pad0[13];
	__u32	prod;			/* at 64: entries posted (kernel) */
	__u32	pad1[15];
	__u32	cons;			/* at 128: entries claimed (consumers) */
	__u32	pad2[31];
	__u16	state[KQ_RING_ENTRIES];	/* at 256 */
};

#define KQ_IOC_MAGIC		0xB9
#define KQ_IOC_KEVENT		_IOWR(KQ_IOC_MAGIC, 0x01, struct kq_kevent_args)

#endif /* _UAPI_KQUEUE_IOCTL_H */
