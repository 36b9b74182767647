/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kqueue_event.h - the values of every EVFILT_*, EV_* and NOTE_* name.
 *
 * The one place they are defined: <sys/event.h> includes this file (as
 * <uapi/kqueue_event.h>; it is installed as
 * $(includedir)/kqueue/uapi/kqueue_event.h next to kqueue/sys/event.h) and
 * kqueue.ko includes it through kmod/kq.h, so the library, applications
 * and the module cannot disagree on a value.  Applications include
 * <sys/event.h>, not this file.
 *
 * Only integer constants: no types, no includes, nothing else enters the
 * application's namespace, and the file is the same C or C++ for user
 * space and the kernel.
 *
 * Every name carries FreeBSD 14's value.  Names that exist only on other
 * BSDs get a bit of their own that FreeBSD does not use; each such case is
 * marked below.
 */
#ifndef _UAPI_KQUEUE_EVENT_H
#define _UAPI_KQUEUE_EVENT_H

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

#endif /* _UAPI_KQUEUE_EVENT_H */
