/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kq.h - core objects of kqueue.ko: the kqueue, the knote and the filter
 * operations that connect a knote to an event source.
 *
 * Locking (outermost first):
 *
 *   kq->mtx    mutex; process context only.  Protects the knote table and
 *              every knote's registration state (sfflags, sdata, udata,
 *              flags) and its life: knotes are created, changed, detached
 *              and freed only under it.  The scan in kevent() holds it while
 *              it walks the ready queue, so a knote cannot go away under the
 *              scan.  Filters' attach/detach/event run under it.
 *
 *   kq->lock   spinlock, irq-safe; taken by event-source callbacks in any
 *              context (under the source's wait-queue lock, in hard or soft
 *              irq).  Protects kq->ready, kq->oneshots and each knote's
 *              kn->status and kn->rdlink.  Nothing sleeps, allocates or touches user memory
 *              under it, and no other kqueue lock is taken inside it.
 *
 * The completion ring (kq_ring.c) is written under kq->lock too.
 *
 * KN_ACTIVE in kn->pending is an atomic bit: the source sets it (under
 * kq->lock) whenever it signals; the scan clears it (test_and_clear_bit)
 * before it re-checks the source, and decides at the end of the scan, under
 * kq->lock, whether a signal arrived meanwhile.  That is what lets the scan
 * check sources without taking kq->lock per knote.
 */
#ifndef KQ_H
#define KQ_H

#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/refcount.h>
#include <linux/task_work.h>
#include <linux/workqueue.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>

/* EVFILT_*, EV_*, NOTE_*: the values <sys/event.h> gives applications. */
#include "kqueue_event.h"
#include "kqueue_ioctl.h"

struct knote;

/*
 * One filter: one file kq_filt_NAME.c defining a struct kq_filterops, and
 * one line in the table in kq_filter.c.  All hooks but init/exit run in
 * process context under kq->mtx.
 *
 * attach:  connect kn to its source (kn->ident, kn->sfflags, kn->sdata,
 *          kn->udata, kn->flags (EV_ONESHOT/CLEAR/DISPATCH) and, for is_fd
 *          filters, kn->file are set).  Returns 0 or -errno (the change's
 *          error).  May set kn->flags |= EV_CLEAR for filters that are
 *          always edge-triggered.  If the source is already signalling,
 *          call kn_activate().
 * detach:  disconnect; after it returns the source never calls
 *          kn_activate() for kn again.
 * event:   is the event true now?  Fill ev->data, ev->fflags and any
 *          EV_EOF in ev->flags; consume what is reported (e.g. a count,
 *          accumulated fflags) unless peek is set (poll on the kqueue only
 *          asks).  It may set kn->flags |= EV_ONESHOT to have the knote
 *          dropped after this report (e.g. a process that exited).
 *          Returning false, it may set_bit(KN_DROP, &kn->pending) (not
 *          when peek) to have the knote dropped without a report (a
 *          process that exited with nothing asked for left to say).
 * touch:   optional.  Called for every later change on an existing knote
 *          (not only EV_ADD: EVFILT_USER's NOTE_TRIGGER comes with flags
 *          0), before EV_DELETE/ENABLE/DISABLE are applied.  Without it,
 *          EV_ADD copies fflags and data into sfflags and sdata.  It may
 *          call kn_activate().  Returns 0 or -errno.
 * init/exit: optional; module load and unload (global hooks such as
 *          tracepoint probes).
 * ring_unpost: optional.  A report that event() would have consumed went
 *          to the completion ring (kn_activate_report()) and is taken
 *          back unread (the knote is being disabled or queued for a
 *          scan): give back what it consumed (ev is the report).  Called
 *          under kq->lock, with kq->mtx held for knotes not on an fd.
 *
 * Sources call kn_activate(kn) from any context (hard or soft irq,
 * under their own locks, under a tracepoint); it never sleeps.  A knote
 * with EV_CLEAR is only checked after such a signal; a level-triggered one
 * is re-checked at every scan while event() says true.
 */
struct kq_filterops {
	bool is_fd;		/* ident is a file descriptor */
	int (*attach)(struct knote *kn);
	void (*detach)(struct knote *kn);
	bool (*event)(struct knote *kn, struct kq_uevent *ev, bool peek);
	int (*touch)(struct knote *kn, const struct kq_uevent *kev);
	int (*init)(void);
	void (*exit)(void);
	void (*ring_unpost)(struct knote *kn, const struct kq_uevent *ev);
};

struct kq_user;

/* Most kqueues in one chain of nested kqueues, outermost included. */
#define KQ_MAX_NEST		4

struct kqueue {
	struct mutex		mtx;		/* table, knote life */
	spinlock_t		lock;		/* ready queue, kn->status */
	struct list_head	ready;		/* knotes to check, under lock */
	struct list_head	oneshots;	/* KN_OSPOSTED knotes, under lock */
	/* Drops taken one-shots without a kevent() (kq_kqueue.c). */
	struct delayed_work	oneshot_work;
	bool			oneshot_queued;	/* under lock */
	unsigned long		oneshot_delay;	/* its next wait, jiffies */
	bool			scanning;	/* a scan holds knotes, under lock */
	struct list_head	closed;		/* fd closed: to drop, under lock */
	wait_queue_head_t	wq;		/* threads in kevent() */
	wait_queue_head_t	poll_wq;	/* poll/select/epoll on the kq */

	struct hlist_head	*table;		/* knotes by (ident, filter) */
	unsigned int		table_bits;
	unsigned int		nknotes;
	bool			dead;		/* released, under mtx */

	struct kq_uevent	*evbuf;		/* copy-out staging, under mtx */
	bool			peek_nested;	/* kq_pending() for a watcher, under mtx */

	/* The process that created it; only it may use it (as on BSD). */
	struct files_struct	*owner_files;	/* compared, never followed */
	struct kq_user		*user;		/* knote limit accounting */
	refcount_t		refs;		/* the file's + pending reaps */

	/* Dropping knotes of closed fds (kq_fdclose.c), under lock. */
	bool			reap_pending;
	struct callback_head	reap_twork;
	struct work_struct	reap_work;

	/* the completion ring (kq_ring.c), set under lock, or NULL */
	struct kq_ring		*ring;

	/* kq_wake_pollers() put off by kq_wake() (kq_kqueue.c) */
	struct irq_work		wake_work;

	/* kqueues nested in this one and this one's watchers (kq_nest.c) */
	struct list_head	nest_down;
	struct list_head	nest_up;
	int			height;		/* chain below: poll_wq lockdep subclass */
	int			nest_depth;	/* chain above */
	unsigned int		nest_below[KQ_MAX_NEST]; /* edges by inner's height */
	unsigned int		nest_above[KQ_MAX_NEST]; /* edges by outer's depth */
};

/* kn->status bits, under kq->lock */
#define KN_QUEUED	0x01	/* on kq->ready or in a scan's private list */
#define KN_DISABLED	0x02	/* EV_DISABLE / EV_DISPATCH: not reported */
#define KN_CLOSED	0x04	/* its fd was closed: on kq->closed, dying */
#define KN_RINGED	0x08	/* has a ring entry maybe not taken yet */
/*
 * An EV_ONESHOT knote whose report went to the ring: it is on
 * kq->oneshots by its rdlink (never queued meanwhile), and disabled by
 * the post.  Once the entry is taken it is done, as if the scan had
 * reported it, and is dropped under kq->mtx: by kq_reap_oneshots(), or
 * by the change that finds it (kq_register()).
 */
#define KN_OSPOSTED	0x10

/* kn->pending bits, atomic */
#define KN_ACTIVE	0	/* the source signalled since the last check */
#define KN_FORCE	1	/* EV_FORCEONESHOT: report even if not true */
#define KN_DROP		3	/* event() said: drop it unreported */

/*
 * A wait-queue entry of a knote on its source.  wait.private is the knote.
 * whead is NULL once the head went away (POLLFREE) or before the entry is
 * hooked.  The file filter keeps its first one in the knote (kn->fwait).
 */
struct kn_waitent {
	wait_queue_entry_t	wait;
	wait_queue_head_t	*whead;
};

struct knote {
	struct hlist_node	hnode;		/* kq->table, under mtx */
	struct list_head	rdlink;		/* kq->ready, under lock */
	struct kqueue		*kq;

	u64			ident;
	s16			filter;
	u16			flags;		/* KQ_EV_KNOTE_FLAGS */
	u32			sfflags;	/* fflags given at registration */
	s64			sdata;		/* data given at registration */
	u64			udata;

	unsigned int		status;
	u16			fkind;		/* filter's own: kind of source */
	u16			scanmark;	/* kq_collect()'s, under mtx */
	u16			ring_slot;	/* its ring entry (KN_RINGED) */
	u32			ring_gen;	/* ...and the post's number */
	unsigned long		pending;

	struct file		*file;		/* is_fd filters: held reference */
	struct hlist_node	fnode;		/* kq_fdclose.c: fwatch->knotes */
	struct kq_fwatch	*fwatch;	/* its entry in the close index */
	struct list_head	closelink;	/* kq->closed, under lock */
	/*
	 * Only a knote on a kqueue file (EVFILT_READ, see kn_is_nested())
	 * has a nest link; only other knotes are ever rechecked by time.
	 */
	union {
		struct kq_nest_link	*nest;
		struct kn_recheck	*recheck; /* kn_recheck_later() */
	};
	void			*fpriv;		/* filter's private state */
	struct kn_waitent	fwait;		/* the file filter's first */
};

struct kq_nest_link;
struct kn_recheck;
struct kq_fwatch;

/* kq_kqueue.c */
int kq_knote_cache_init(void);
void kq_knote_cache_exit(void);
struct kqueue *kq_alloc(void);
void kq_release(struct kqueue *kq);
void kq_put(struct kqueue *kq);
void kq_lock(struct kqueue *kq);
void kq_lock_inner(struct kqueue *kq);
int kq_lock_killable(struct kqueue *kq);
void kq_unlock(struct kqueue *kq);
int kq_register(struct kqueue *kq, struct kq_uevent *kev);
void kn_activate_sync(struct knote *kn, bool sync);
void kn_activate_count(struct knote *kn, atomic_long_t *count, long n);
bool kn_ring_post_count(struct knote *kn, s64 (*count)(struct knote *kn));
bool kn_ring_post_bits(struct knote *kn, const struct kq_uevent *rep,
		       bool last);
bool kn_activate_report(struct knote *kn, const struct kq_uevent *rep,
			bool ready, bool sync);
bool kn_ring_refresh(struct knote *kn, const struct kq_uevent *rep);
void kn_ring_cancel(struct knote *kn);

/* The source of kn signalled (any context): see kn_activate_sync(). */
static inline void kn_activate(struct knote *kn)
{
	kn_activate_sync(kn, false);
}

void kn_drop(struct knote *kn);
void kq_reap_oneshots(struct kqueue *kq);
void kn_recheck_later(struct knote *kn);
bool kq_has_ready(struct kqueue *kq);
bool kq_maybe_ready(struct kqueue *kq);
void kq_wake_pollers(struct kqueue *kq);
void kq_foreign_wake_enter(void);
void kq_foreign_wake_exit(void);

/* kq_ring.c */
struct vm_area_struct;
int kq_ring_mmap(struct kqueue *kq, struct vm_area_struct *vma);
void kq_ring_release(struct kqueue *kq);
void kq_ring_fd_closed(struct kqueue *kq);
void kq_ring_set_klist(struct kqueue *kq);
void kq_ring_clear_klist(struct kqueue *kq);
bool kq_ring_retract(struct knote *kn, struct kq_uevent *out);
bool kq_ring_update(struct knote *kn, const struct kq_uevent *rep);
bool kq_ring_waiting(struct knote *kn);
bool kq_ring_has_room(struct kqueue *kq);
enum kq_ring_result { KQ_RING_NONE, KQ_RING_UPDATED, KQ_RING_NEW };
enum kq_ring_mode { KQ_RING_SET, KQ_RING_ADD, KQ_RING_OR };
enum kq_ring_result kq_ring_report(struct knote *kn,
				   const struct kq_uevent *rep);
enum kq_ring_result kq_ring_report_add(struct knote *kn,
				       const struct kq_uevent *rep);
enum kq_ring_result kq_ring_report_or(struct knote *kn,
				      const struct kq_uevent *rep);
bool kq_ring_maybe_ready(struct kqueue *kq);
int kq_ring_count(struct kqueue *kq);
int kq_ring_take(struct kqueue *kq, struct kq_uevent *out, int max);

/* kq_kevent.c */

/*
 * The caller's layout of struct kevent and struct timespec, chosen once
 * per kevent() call by the ioctl entry point: every copy of events and
 * of the timeout between the module and the caller goes through it.
 * kq_uabi_native: a 64-bit task (struct kq_uevent, struct kq_utimespec);
 * kq_uabi_compat: a 32-bit task through compat_ioctl (CONFIG_COMPAT).
 */
struct timespec64;
struct kq_uabi {
	size_t	evsize;		/* bytes per user event */
	/* n changes in, n events out; 0 or -EFAULT */
	int	(*get)(struct kq_uevent *dst, const void __user *src, int n);
	int	(*put)(void __user *dst, const struct kq_uevent *src, int n);
	/* the timeout, not yet checked; 0 or -EFAULT */
	int	(*timeout)(const void __user *src, struct timespec64 *ts);
};

extern const struct kq_uabi kq_uabi_native;
#ifdef CONFIG_COMPAT
extern const struct kq_uabi kq_uabi_compat;
#endif

long kq_kevent(struct kqueue *kq, const struct kq_kevent_args *args,
	       const struct kq_uabi *abi);
int kq_pending(struct kqueue *kq, bool trylock, bool nested);

/* kq_fdclose.c */
int kq_fdclose_init(void);
void kq_fdclose_exit(void);
int kq_fdclose_watch(struct knote *kn);
void kq_fdclose_unwatch(struct knote *kn);
void kq_reap(struct kqueue *kq);
void kq_reap_work(struct work_struct *work);

/* kq_fork.c: a fork child drops its copies of kqueue descriptors */
int kq_fork_init(void);
void kq_fork_exit(void);

/* kq_nest.c */
int kq_nest_init(void);
void kq_nest_exit(void);
int kq_nest_attach(struct knote *kn, struct kqueue *inner);
void kq_nest_detach(struct knote *kn);

/* kq_user.c: what one user may make the module keep (see its top) */
enum kq_res {
	KQ_RES_KNOTES,
	KQ_RES_MARKS,
	KQ_RES_TIMERS,
	KQ_RES_TRACKED,
	KQ_RES_RINGS,
	KQ_NR_RES
};

extern long kq_user_max[KQ_NR_RES];
struct kq_user *kq_user_get(void);
struct kq_user *kq_user_hold(struct kq_user *u);
void kq_user_put(struct kq_user *u);
bool kq_user_charge_res(struct kq_user *u, enum kq_res res);
void kq_user_uncharge_res(struct kq_user *u, enum kq_res res);
int kq_user_init(void);

static inline bool kq_user_charge(struct kq_user *u)
{
	return kq_user_charge_res(u, KQ_RES_KNOTES);
}

static inline void kq_user_uncharge(struct kq_user *u)
{
	kq_user_uncharge_res(u, KQ_RES_KNOTES);
}

/* kq_filter.c */
extern const struct kq_filterops *const kq_filters[EVFILT_SYSCOUNT];
const struct kq_filterops *kq_filter_find(s16 filter, int *err);

/* The filter of a knote (its filter number was checked at EV_ADD). */
static inline const struct kq_filterops *kn_fop(const struct knote *kn)
{
	return kq_filters[~(int)kn->filter];
}

int kq_filters_init(void);
void kq_filters_exit(void);

/* kq_filt_file.c */
extern const struct kq_filterops kq_read_filtops;
extern const struct kq_filterops kq_write_filtops;
int kq_filt_file_init(void);
void kq_filt_file_exit(void);

/* kq_main.c */
extern atomic_long_t kq_nr_kqueues;
struct tracepoint;
struct tracepoint *kq_tracepoint(const char *name);
extern atomic_long_t kq_nr_knotes;
bool kq_is_kqueue_file(const struct file *file);

/* kn watches a kqueue: kn->nest is its link (or NULL), not kn->recheck. */
static inline bool kn_is_nested(const struct knote *kn)
{
	return kn->file && kq_is_kqueue_file(kn->file);
}

/* kq_filt_timer.c, kq_filt_user.c, kq_filt_empty.c */
extern const struct kq_filterops kq_timer_filtops;
extern const struct kq_filterops kq_user_filtops;
extern const struct kq_filterops kq_empty_filtops;

/* kq_filt_proc.c, kq_filt_signal.c */
extern const struct kq_filterops kq_proc_filtops;
extern const struct kq_filterops kq_signal_filtops;

/* kq_filt_vnode.c */
extern const struct kq_filterops kq_vnode_filtops;

#endif /* KQ_H */
