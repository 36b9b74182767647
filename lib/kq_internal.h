/*
 * kq_internal.h - private declarations shared by the files of libkqueue:
 * the dispatcher (kqueue.c), the kernel-module backend (kmod.c) and the
 * user-space backend (user_*.c).  Nothing here is installed.
 *
 * The user-space backend (see user_core.c for the design and the locking
 * rules) keeps one struct ukq per kqueue, found from the kqueue descriptor
 * (an epoll fd) in a process-wide table.  Each filter family supplies a
 * struct ufilter: attach/detach/touch and a check that says whether the
 * knote would be reported now and fills data/fflags/flags.
 */
#ifndef KQ_INTERNAL_H
#define KQ_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sys/event.h"

/*
 * 1 when struct kevent is laid out as struct kq_uevent (64-bit programs),
 * 0 for a 32-bit program, whose 24-byte struct kevent the module converts
 * (its compat_ioctl) and whose ring entries kmod_ring.c converts.
 */
#if UINTPTR_MAX == UINT64_MAX
#define KQ_KEVENT_IS_UEVENT	1
#else
#define KQ_KEVENT_IS_UEVENT	0
#endif

/* ---- kmod.c --------------------------------------------------------- */

/* open("/dev/kqueue"); ENOSYS when the module is not loaded. */
int kq_kmod_open(int oflags);
int kq_kmod_kevent(int kq, const struct kevent *changelist, int nchanges,
		   struct kevent *eventlist, int nevents,
		   const struct timespec *timeout);
/* 1 if kq is a kqueue of the module, else 0. */
int kq_kmod_is_kqueue(int kq);

/* ---- kmod_ring.c ---------------------------------------------------- */

/* Map the completion ring of a new module kqueue (errno kept). */
void kq_ring_attach(int kq);
/* Events taken from kq's ring (>= 0), or -1: ask the kernel. */
int kq_ring_kevent(int kq, struct kevent *eventlist, int nevents,
		   const struct timespec *timeout);
/* The ioctl accepted list (wrote n entries) and timeout: see kmod_ring.c. */
void kq_ring_accepted(const struct kevent *list, int n,
		      const struct timespec *timeout);

/* ---- user_core.c ---------------------------------------------------- */

int kq_user_create(int cloexec);
/*
 * kevent() on kq if kq is a user-space kqueue of this process: returns
 * 1 with *ret set; 0 if kq is not one (the caller tries the module).
 * A kqueue inherited across fork() makes the call fail with EBADF.
 */
int kq_user_kevent(int kq, const struct kevent *changelist, int nchanges,
		   struct kevent *eventlist, int nevents,
		   const struct timespec *timeout, int *ret);
/* 1: kq is a live user-space kqueue of this process, else 0. */
int kq_user_owns(int kq);
/* Nonzero once any user-space kqueue was created (fast path for kmod). */
extern int kq_user_in_use;

/* ---- objects of the user-space backend ------------------------------ */

struct ukq;
struct uknote;
struct usrc;

/* Kinds of things registered in a kqueue's epoll set (usrc.kind). */
enum usrc_kind { SRC_FD = 1, SRC_TIMER, SRC_SIGNAL, SRC_PROC, SRC_VNODE };

/*
 * A source: one descriptor the kqueue's epoll set watches.  SRC_FD: the
 * user's descriptor, shared by that fd's READ/WRITE/EMPTY knotes; the
 * others: a private timerfd / signalfd / pidfd / inotify descriptor.
 * id is what the epoll event carries (slot index and generation), so a
 * stale event can never reach freed memory.
 */
struct usrc {
	enum usrc_kind kind;
	struct ukq *kq;
	uint64_t id;
	int fd;			/* watched (SRC_FD) or owned descriptor */
	uint32_t revents;	/* last epoll events seen (SRC_FD) */
	uint32_t events;	/* epoll interest registered (SRC_FD) */
	bool registered;	/* in the epoll set */
	bool nopoll;		/* regular file etc.: epoll refuses it */
	bool typed;		/* mode is known (see fdsrc_mode()) */
	bool quiet;		/* fdsrc_get() queued no epoll event */
	bool notukq;		/* known not to be a user-space kqueue */
	mode_t mode;		/* S_IFMT of the watched file (SRC_FD) */
	dev_t dev;		/* identity of a nopoll file (SRC_FD) */
	ino_t ino;
	struct uknote *kn[3];	/* SRC_FD: READ, WRITE, EMPTY; else [0] */
};

struct uknote {
	struct uknote *hnext;		/* hash chain */
	struct uknote *rprev, *rnext;	/* ready list */
	struct ukq *kq;
	const struct ufilter *fop;
	struct usrc *src;
	uintptr_t ident;
	short filter;
	unsigned short flags;		/* EV_ONESHOT | EV_CLEAR | EV_DISPATCH */
	unsigned int sfflags;		/* as given / filter state */
	int64_t sdata;			/* as given / filter state */
	void *udata;
	bool queued, disabled, active, force, recheck;
	uint64_t count;			/* TIMER/SIGNAL: pending count */
	uint64_t aux;			/* filter private */
	int64_t aux2;			/* filter private */
	int64_t aux3;			/* filter private */
	uint64_t pre_gen;		/* probe result valid in call pre_gen */
	int64_t pre_data;		/* the probe's answer (user_fd.c) */
};

struct ufilter {
	bool is_fd;
	int (*attach)(struct uknote *kn);
	void (*detach)(struct uknote *kn);
	/* change to an existing knote; NULL: store fflags/data on EV_ADD */
	int (*touch)(struct uknote *kn, const struct kevent *kev);
	/*
	 * Would it be reported now?  Fills ev->data/fflags/flags (EV_EOF).
	 * peek: do not consume the state (counts stay).  Returns 1 yes,
	 * 2 yes and drop the knote once reported, 0 no, -1 no and drop it.
	 */
	int (*check)(struct uknote *kn, struct kevent *ev, bool peek);
	/* An event from the knote's own source (epoll events). */
	void (*source_event)(struct usrc *src, uint32_t events);
	/*
	 * Is the knote's descriptor still open (a change without EV_ADD)?
	 * 0 or EBADF.  May remember what check() would read now in
	 * pre_data/pre_gen, so that the same kevent() call needs no second
	 * system call.  NULL: fcntl(F_GETFD).
	 */
	int (*probe)(struct uknote *kn);
};

/* A pool of same-sized objects (user_pool.c); one user at a time. */
struct plink {
	struct plink *next, *prev;	/* circular, the head included */
};

struct upool {
	size_t objsize;
	struct plink all;	/* every chunk */
	struct plink avail;	/* chunks with a free object */
};

void upool_init(struct upool *p, size_t objsize);
void *upool_alloc(struct upool *p);	/* zeroed; NULL: no memory */
void upool_free(struct upool *p, void *obj);
void upool_destroy(struct upool *p);
void upool_atfork_prepare(void);
void upool_atfork_parent(void);
void upool_atfork_child(void);

struct ukq {
	pthread_mutex_t mtx;	/* everything below */
	int epfd;		/* the user's kqueue descriptor */
	int evfd;		/* readable while the ready list is not empty */
	bool evfd_set;
	uint64_t callgen;	/* bumped at each kevent() start and end */
	int refs;		/* table + callers inside kevent() */
	bool dead;		/* no longer in the table */
	struct uknote **table;	/* hash (ident, filter) */
	unsigned int table_mask;
	unsigned int nknotes;
	struct upool knpool;	/* the knotes' memory (user_pool.c) */
	struct upool srcpool;	/* the sources' memory */
	struct uknote ready;	/* ready list head (circular) */
	unsigned int nrecheck;	/* knotes re-checked every 10 ms */
	struct usrc **srcs;	/* id -> source */
	uint32_t *srcgen;
	unsigned int nsrcs, capsrcs, nfree;	/* high mark, size, free */
	unsigned int *freeidx;	/* free slots below nsrcs */
	struct usrc **fdsrc;	/* fd -> SRC_FD source */
	unsigned int capfd;
	int sigfd;		/* signalfd, or -1 */
	struct usrc *sigsrc;
	uint64_t sigmask[2];	/* signals some knote watches (1..128) */
};

extern const struct ufilter ufilt_read, ufilt_write, ufilt_empty,
	ufilt_timer, ufilt_user, ufilt_signal, ufilt_proc, ufilt_vnode;

/* user_core.c services for the filters (kq->mtx held). */
struct usrc *usrc_new(struct ukq *kq, enum usrc_kind kind, int fd);
void usrc_free(struct ukq *kq, struct usrc *src);
/* epoll_ctl ADD of src->fd with src->events (ET); 0 or -errno. */
int usrc_epoll_add(struct ukq *kq, struct usrc *src, uint32_t events);
/* Mark active and put on the ready list (if enabled). */
void kn_activate(struct uknote *kn);
struct uknote *kn_find(struct ukq *kq, uintptr_t ident, short filter);
/*
 * The SRC_FD source of fd, registered in the epoll set with at least the
 * events want (created, or re-created if fd now names another file, whose
 * stale knotes are dropped).  0 or -errno.
 */
int fdsrc_get(struct ukq *kq, int fd, uint32_t want, struct usrc **out);
void fdsrc_put(struct ukq *kq, struct usrc *src);
/* S_IFMT of an fd source's file, found out (fstat) at the first need. */
mode_t fdsrc_mode(struct usrc *src);
/* A user-space kqueue by descriptor, referenced; NULL if none. */
struct ukq *ukq_get(int fd);
/* More than one user-space kqueue in this process (no lock taken)? */
bool ukq_others_exist(void);
void ukq_put(struct ukq *kq);
/* How many events kevent() on kq would return now (kq->mtx not held). */
int ukq_pending(struct ukq *kq);
void ukq_signal_update(struct ukq *kq);
/*
 * user_signal.c: give the signals read meanwhile their disposition and
 * undo this thread's blocks that are no longer needed; no lock held.
 */
void ukq_signal_deliver(void);
void ukq_signal_atfork_prepare(void);
void ukq_signal_atfork_parent(void);
void ukq_signal_atfork_child(void);

/* ---- user_sigmask.c: the program's view of its signal mask ---------- */

/* Signals some knote watches (bit s - 1); written under sig_lock. */
extern uint64_t ukq_sig_watched;
/* Per signal: threads that believe it unblocked while it is blocked. */
extern unsigned int ukq_sig_nlie[65];
/* This thread's watched signals it believes unblocked (bit s - 1). */
extern __thread uint64_t ukq_sig_lie __attribute__((tls_model("initial-exec")));
/* This thread now believes exactly lie; keeps ukq_sig_nlie in step. */
void ukq_sig_set_lie(uint64_t lie);
/* The C library's pthread_sigmask(), never interposed. */
int ukq_real_sigmask(int how, const sigset_t *set, sigset_t *old);

#endif /* KQ_INTERNAL_H */
