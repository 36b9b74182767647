// SPDX-License-Identifier: GPL-2.0
/*
 * kq_kqueue.c - the kqueue object: its knote table, registration of
 * changes (EV_ADD, EV_DELETE, EV_ENABLE, ...), and activation of knotes by
 * their event sources.
 *
 * Life of a kqueue: kq_alloc() at open (one reference, the file's);
 * kq_release() at the file's release drops every knote and that
 * reference; kq_put() frees it when the last reference (a pending reap of
 * closed fds, kq_fdclose.c) is gone.
 *
 * Locking: see kq.h.  Everything here runs under kq->mtx except
 * kn_activate(), which any event source may call in any context and which
 * takes only kq->lock.  kq->mtx is taken with kq_lock() or
 * kq_lock_killable(); the only mutex of another kqueue ever waited for
 * with one held is that of a kqueue the scan watches (kq_pending() for
 * EVFILT_READ's data, one level deep: deeper ones are only tried), taken
 * with kq_lock_inner() as lockdep's nested subclass.
 */
#include <linux/file.h>
#include <linux/hash.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/fdtable.h>

#include "kq.h"

#define KQ_TABLE_MIN_BITS	5
#define KQ_TABLE_MAX_BITS	20
#define KQ_RECHECK_MS		10

/*
 * A timer that re-activates a knote whose source does not signal the
 * change the knote waits for (kn_recheck_later()).
 */
struct kn_recheck {
	struct timer_list	timer;
	struct knote		*kn;
};

static struct kmem_cache *knote_cache;

int kq_knote_cache_init(void)
{
	knote_cache = kmem_cache_create("kq_knote", sizeof(struct knote), 0,
					SLAB_ACCOUNT, NULL);
	return knote_cache ? 0 : -ENOMEM;
}

void kq_knote_cache_exit(void)
{
	kmem_cache_destroy(knote_cache);
}

static void kq_wake_work(struct irq_work *work)
{
	kq_wake_pollers(container_of(work, struct kqueue, wake_work));
}

/*
 * One-shot knotes whose ring entries were taken are dropped by the next
 * kevent() through the kernel; this work does it meanwhile, so that a
 * program that takes all its events from the ring does not keep them (and
 * their sources) registered.  Queued when one is posted, it runs after
 * oneshot_delay, which doubles up to a second while some stay (entries
 * not taken yet, or the mutex busy), and stops when none is left.  It
 * only tries kq->mtx: no kworker waits for a mutex a user can hold.
 * kq_release() cancels it, so it never runs on a released kqueue.
 */
#define KQ_ONESHOT_DELAY_MAX	HZ

static void kq_oneshot_work(struct work_struct *work)
{
	struct kqueue *kq = container_of(to_delayed_work(work), struct kqueue,
					 oneshot_work);
	bool again = true;

	if (mutex_trylock(&kq->mtx)) {
		kq_reap_oneshots(kq);
		spin_lock_irq(&kq->lock);
		again = !list_empty(&kq->oneshots);
		if (!again)
			kq->oneshot_queued = false;
		spin_unlock_irq(&kq->lock);
		mutex_unlock(&kq->mtx);
	}
	if (!again)
		return;
	kq->oneshot_delay = min_t(unsigned long, kq->oneshot_delay * 2,
				  KQ_ONESHOT_DELAY_MAX);
	queue_delayed_work(system_unbound_wq, &kq->oneshot_work,
			   kq->oneshot_delay);
}

/* A one-shot knote was posted (kq->lock held, any context). */
static void kq_oneshot_work_queue(struct kqueue *kq)
{
	if (kq->oneshot_queued)
		return;
	kq->oneshot_queued = true;
	kq->oneshot_delay = 1;
	queue_delayed_work(system_unbound_wq, &kq->oneshot_work, 1);
}

struct kqueue *kq_alloc(void)
{
	struct kqueue *kq;

	kq = kzalloc(sizeof(*kq), GFP_KERNEL_ACCOUNT);
	if (!kq)
		return NULL;
	kq->table_bits = KQ_TABLE_MIN_BITS;
	kq->table = kvcalloc(1U << kq->table_bits, sizeof(*kq->table),
			     GFP_KERNEL_ACCOUNT);
	kq->user = kq_user_get();
	if (!kq->table || !kq->user) {
		if (kq->user)
			kq_user_put(kq->user);
		kvfree(kq->table);
		kfree(kq);
		return NULL;
	}
	mutex_init(&kq->mtx);
	spin_lock_init(&kq->lock);
	INIT_LIST_HEAD(&kq->ready);
	INIT_LIST_HEAD(&kq->oneshots);
	INIT_LIST_HEAD(&kq->closed);
	INIT_LIST_HEAD(&kq->nest_down);
	INIT_LIST_HEAD(&kq->nest_up);
	init_waitqueue_head(&kq->wq);
	init_waitqueue_head(&kq->poll_wq);
	INIT_WORK(&kq->reap_work, kq_reap_work);
	INIT_DELAYED_WORK(&kq->oneshot_work, kq_oneshot_work);
	init_irq_work(&kq->wake_work, kq_wake_work);
	refcount_set(&kq->refs, 1);
	kq->owner_files = current->files;
	atomic_long_inc(&kq_nr_kqueues);
	return kq;
}

void kq_put(struct kqueue *kq)
{
	if (!refcount_dec_and_test(&kq->refs))
		return;
	/* No knote is left to queue it again. */
	irq_work_sync(&kq->wake_work);
	kvfree(kq->table);
	kvfree(kq->evbuf);
	kq_user_put(kq->user);
	kfree(kq);
	atomic_long_dec(&kq_nr_kqueues);
}

void kq_lock(struct kqueue *kq)
{
	mutex_lock(&kq->mtx);
}

int kq_lock_killable(struct kqueue *kq)
{
	return mutex_lock_killable(&kq->mtx);
}

/* A kqueue watched by the one whose mutex this task holds (see above). */
void kq_lock_inner(struct kqueue *kq)
{
	mutex_lock_nested(&kq->mtx, SINGLE_DEPTH_NESTING);
}

void kq_unlock(struct kqueue *kq)
{
	mutex_unlock(&kq->mtx);
}

/* The last close of the kqueue file: nobody else can call kevent() on it. */
void kq_release(struct kqueue *kq)
{
	struct hlist_node *tmp;
	struct knote *kn;
	unsigned int i;

	kq_lock(kq);
	kq->dead = true;
	for (i = 0; i < (1U << kq->table_bits); i++)
		hlist_for_each_entry_safe(kn, tmp, &kq->table[i], hnode)
			kn_drop(kn);
	WARN_ON_ONCE(kq->nknotes);
	kq_ring_release(kq);
	kq_unlock(kq);
	/* No knote is left to post: nothing queues it again. */
	cancel_delayed_work_sync(&kq->oneshot_work);
	kq_put(kq);
}

static unsigned int kq_hash(u64 ident, s16 filter, unsigned int bits)
{
	return hash_64(ident ^ ((u64)(u16)filter << 48), bits);
}

static struct knote *kq_find(struct kqueue *kq, u64 ident, s16 filter)
{
	struct knote *kn;

	hlist_for_each_entry(kn, &kq->table[kq_hash(ident, filter,
						    kq->table_bits)], hnode)
		if (kn->ident == ident && kn->filter == filter &&
		    !(READ_ONCE(kn->status) & KN_CLOSED))
			return kn;
	return NULL;
}

/*
 * The knote table has 2^table_bits buckets: doubled when there are more
 * than two knotes per bucket, halved when fewer than one per eight, so a
 * kqueue that was full and is emptied gives its table back (a user cannot
 * pin a big table per kqueue while holding no knote).  Each resize moves
 * every knote, and between two resizes at least a quarter of the table's
 * size in knotes were added or dropped, so the cost per change stays
 * constant on average.  Failure to allocate only leaves the old table.
 */
static void kq_table_resize(struct kqueue *kq, unsigned int bits)
{
	struct hlist_head *table;
	struct hlist_node *tmp;
	struct knote *kn;
	unsigned int i;

	table = kvcalloc(1U << bits, sizeof(*table),
			 GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!table)
		return;
	for (i = 0; i < (1U << kq->table_bits); i++)
		hlist_for_each_entry_safe(kn, tmp, &kq->table[i], hnode) {
			hlist_del(&kn->hnode);
			hlist_add_head(&kn->hnode,
				       &table[kq_hash(kn->ident, kn->filter,
						      bits)]);
		}
	kvfree(kq->table);
	kq->table = table;
	kq->table_bits = bits;
}

static void kq_table_grow(struct kqueue *kq)
{
	if (kq->nknotes >= (2U << kq->table_bits) &&
	    kq->table_bits < KQ_TABLE_MAX_BITS)
		kq_table_resize(kq, kq->table_bits + 1);
}

/* Not while kq_release() walks the table. */
static void kq_table_shrink(struct kqueue *kq)
{
	if (kq->nknotes < (1U << kq->table_bits) / 8 &&
	    kq->table_bits > KQ_TABLE_MIN_BITS && !kq->dead)
		kq_table_resize(kq, kq->table_bits - 1);
}

bool kq_has_ready(struct kqueue *kq)
{
	return !list_empty_careful(&kq->ready);
}

/*
 * Queued knotes, or some held by a scan in progress.  The two are read
 * together under kq->lock before saying no: read apart, they can miss the
 * knotes while a scan hands them back (queue read empty during the scan,
 * scanning read false after it).
 */
bool kq_maybe_ready(struct kqueue *kq)
{
	bool ready;

	if (kq_has_ready(kq) || READ_ONCE(kq->scanning) ||
	    kq_ring_maybe_ready(kq))
		return true;
	spin_lock_irq(&kq->lock);
	ready = !list_empty(&kq->ready) || kq->scanning;
	spin_unlock_irq(&kq->lock);
	return ready;
}

/*
 * The kqueues whose pollers this CPU is waking, innermost last.  A poller
 * can be an epoll instance or a kqueue that (directly or through epoll)
 * this kqueue watches in turn; its wake-up comes back here for the same
 * kqueue, whose poll_wq lock this CPU already holds.  Such a nested wake
 * is skipped: the outer one is already telling every poller.  The depth
 * is bounded as well, so that long chains of pollers cannot overflow the
 * stack.
 */
#define KQ_WAKE_DEPTH	8

struct kq_waking {
	int		depth;
	struct kqueue	*kq[KQ_WAKE_DEPTH];
};

static DEFINE_PER_CPU(struct kq_waking, kq_waking);

/* Nesting of kq_foreign_wake_enter() on this CPU. */
static DEFINE_PER_CPU(int, kq_foreign_wake);

/* Around kn_activate() from a wake function: that queue's lock is held. */
void kq_foreign_wake_enter(void)
{
	this_cpu_inc(kq_foreign_wake);
}

void kq_foreign_wake_exit(void)
{
	this_cpu_dec(kq_foreign_wake);
}

void kq_wake_pollers(struct kqueue *kq)
{
	struct kq_waking *w;
	unsigned long flags;
	int i;

	local_irq_save(flags);
	w = this_cpu_ptr(&kq_waking);
	for (i = 0; i < w->depth; i++)
		if (w->kq[i] == kq)
			goto out;
	if (w->depth == KQ_WAKE_DEPTH)
		goto out;
	w->kq[w->depth++] = kq;
	/* Inner kqueues are woken first: the height orders them for lockdep. */
	spin_lock_nested(&kq->poll_wq.lock, READ_ONCE(kq->height));
	wake_up_locked_poll(&kq->poll_wq, EPOLLIN | EPOLLRDNORM);
	spin_unlock(&kq->poll_wq.lock);
	w->depth--;
out:
	local_irq_restore(flags);
}

/*
 * The full barrier orders the queueing (or the ring post) before both
 * checks for sleepers, pairing with the one in each sleeper's
 * prepare_to_wait() or poll_wait() before it looks again: what
 * wq_has_sleeper() does, once for the two queues.  sync: see
 * kn_activate_sync().
 */
static void kq_wake(struct kqueue *kq, bool sync)
{
	/* What was queued or posted, before the checks for sleepers. */
	smp_mb();
	/* Ordered by the smp_mb() above, as wq_has_sleeper() would. */
	if (waitqueue_active(&kq->wq)) {
		if (sync)
			wake_up_sync(&kq->wq);
		else
			wake_up(&kq->wq);
	}
	/* The same smp_mb() orders this check. */
	if (!waitqueue_active(&kq->poll_wq))
		return;
	/*
	 * Called back by another wait queue (kn_poll_wake()), whose lock
	 * this CPU holds: a poller of this kqueue may own that queue (an
	 * epoll instance that this kqueue watches and that watches this
	 * kqueue: a cycle epoll cannot see) and would take that lock again.
	 * Wake the pollers right after, from an irq_work, with no lock held.
	 */
	if (this_cpu_read(kq_foreign_wake))
		irq_work_queue(&kq->wake_work);
	else
		kq_wake_pollers(kq);
}

/*
 * Take kn's ring entry back if nobody took it yet (kq->lock held): its
 * report is pending again, as a signal not yet checked (KN_ACTIVE), and
 * the filter gets back what the report consumed.
 */
static bool kn_ring_unpost(struct knote *kn)
{
	struct kq_uevent ev;

	if (!kq_ring_retract(kn, &ev))
		return false;
	set_bit(KN_ACTIVE, &kn->pending);
	if (kn->status & KN_OSPOSTED) {
		/* Not reported after all: an EV_ONESHOT knote as before. */
		list_del_init(&kn->rdlink);
		kn->status &= ~(KN_OSPOSTED | KN_DISABLED);
	}
	if (kn_fop(kn)->ring_unpost)
		kn_fop(kn)->ring_unpost(kn, &ev);
	return true;
}

/*
 * Put kn on the ready queue (kq->lock held, kn not queued).  An entry of
 * kn's in the ring that nobody took yet is taken back: the scan will make
 * the one report.
 */
static void kn_queue_locked(struct knote *kn)
{
	struct kqueue *kq = kn->kq;

	kn_ring_unpost(kn);
	/* Its rdlink holds it on kq->oneshots: see kn_oneshot_settle(). */
	if (WARN_ON_ONCE(kn->status & KN_OSPOSTED))
		return;
	kn->status |= KN_QUEUED;
	list_add_tail(&kn->rdlink, &kq->ready);
	kq_ring_set_klist(kq);
}

/*
 * The source of kn signals.  Any context.  Queue kn for a check unless it
 * is queued already or disabled, and wake the kqueue's waiters.
 *
 * sync passes on a wake function's hint that its waker is about to sleep
 * (a socket that got data from a local sender, say): the scheduler then
 * lets the waker run on and the woken kevent() find several events at
 * once, rather than preempting the sender for each one -- what epoll does
 * with the same hint.
 */
void kn_activate_sync(struct knote *kn, bool sync)
{
	struct kqueue *kq = kn->kq;
	unsigned long irqflags;
	bool queued = false;

	spin_lock_irqsave(&kq->lock, irqflags);
	set_bit(KN_ACTIVE, &kn->pending);
	if (!(kn->status & (KN_QUEUED | KN_DISABLED))) {
		kn_queue_locked(kn);
		queued = true;
	}
	spin_unlock_irqrestore(&kq->lock, irqflags);
	if (queued)
		kq_wake(kq, sync);
}

/*
 * The source of an edge-triggered (EV_CLEAR or EV_DISPATCH) knote
 * signals, and its filter could tell, in the signal's context, what kn's
 * report is now: ready or not and, if ready, rep's data, fflags and
 * EV_EOF.  With a ring, the report goes there: into kn's entry if nobody
 * took it yet, else into a new one (and an EV_DISPATCH knote is disabled,
 * as the scan would on reporting it); a wake that finds the source not
 * ready changes nothing.  Without a ring, a full ring or a knote already
 * on the ready queue: kn_activate_sync().  Returns true if the ring holds
 * the report.
 */
/* May kn's reports go to the ring (kq->lock held)?  See below. */
static bool kn_ring_eligible(struct knote *kn)
{
	return kn->kq->ring && !(kn->status & KN_QUEUED) &&
	       (kn->flags & (EV_CLEAR | EV_DISPATCH | EV_ONESHOT));
}

/*
 * kn's report into the ring (kq->lock held, kn_ring_eligible()).  A new
 * entry covers a signal the scan has not checked yet, and disables an
 * EV_DISPATCH knote, as the scan would on reporting it.  An EV_ONESHOT
 * knote is disabled too and waits on kq->oneshots (KN_OSPOSTED) for its
 * entry to be taken: then it is done, and the kernel drops it under
 * kq->mtx (kq_reap_oneshots()).  Until then EV_DELETE, EV_DISABLE, an
 * EV_ADD and close(2) find it as on FreeBSD, a knote whose event is
 * pending (kn_oneshot_settle()).  An EV_ONESHOT knote's report is not
 * checked again when it is returned, as on FreeBSD: the post is it.
 */
static void kn_ring_posted_last(struct knote *kn)
{
	if (!(kn->status & KN_OSPOSTED)) {
		kn->status |= KN_DISABLED | KN_OSPOSTED;
		list_add_tail(&kn->rdlink, &kn->kq->oneshots);
		kq_oneshot_work_queue(kn->kq);
	}
}

static __always_inline enum kq_ring_result
kn_ring_put(struct knote *kn, const struct kq_uevent *rep,
	    const enum kq_ring_mode mode)
{
	enum kq_ring_result res;

	if (mode == KQ_RING_ADD)
		res = kq_ring_report_add(kn, rep);
	else if (mode == KQ_RING_OR)
		res = kq_ring_report_or(kn, rep);
	else
		res = kq_ring_report(kn, rep);
	if (res == KQ_RING_NEW) {
		if (unlikely(test_bit(KN_ACTIVE, &kn->pending)))
			clear_bit(KN_ACTIVE, &kn->pending);
		if (kn->flags & EV_ONESHOT)
			kn_ring_posted_last(kn);
		else if (kn->flags & EV_DISPATCH)
			kn->status |= KN_DISABLED;
	}
	return res;
}

bool kn_activate_report(struct knote *kn, const struct kq_uevent *rep,
			bool ready, bool sync)
{
	struct kqueue *kq = kn->kq;
	unsigned long irqflags;
	bool posted = false, held = false;

	spin_lock_irqsave(&kq->lock, irqflags);
	if (!kn_ring_eligible(kn))
		goto activate;
	if (!ready)
		goto out;
	held = true;
	switch (kn_ring_put(kn, rep, KQ_RING_SET)) {
	case KQ_RING_UPDATED:
		goto out;
	case KQ_RING_NONE:
		goto activate;
	case KQ_RING_NEW:
		break;
	}
	posted = true;
out:
	spin_unlock_irqrestore(&kq->lock, irqflags);
	if (posted)
		kq_wake(kq, sync);
	return held;
activate:
	spin_unlock_irqrestore(&kq->lock, irqflags);
	kn_activate_sync(kn, sync);
	return false;
}

/*
 * n more occurrences of what kn counts, its report being how many came
 * since the last one (EVFILT_SIGNAL; any context).  *count holds those
 * the scan will report.  With a ring, and nothing counted for the scan,
 * they go there: added to kn's entry if nobody took it yet, else as a
 * new entry.  Otherwise they are added to *count and kn is activated.
 * *count changes only under kq->lock here and in the filter's
 * ring_unpost, and is taken by its event() while kn is queued, when the
 * ring is not used: so each occurrence is reported exactly once.
 */
void kn_activate_count(struct knote *kn, atomic_long_t *count, long n)
{
	struct kq_uevent rep = { .data = n };
	struct kqueue *kq = kn->kq;
	enum kq_ring_result res = KQ_RING_NONE;
	unsigned long irqflags;

	spin_lock_irqsave(&kq->lock, irqflags);
	if (kn_ring_eligible(kn) && !atomic_long_read(count))
		res = kn_ring_put(kn, &rep, KQ_RING_ADD);
	if (res == KQ_RING_NONE)
		atomic_long_add(n, count);
	spin_unlock_irqrestore(&kq->lock, irqflags);
	if (res == KQ_RING_NEW)
		kq_wake(kq, false);
	else if (res == KQ_RING_NONE)
		kn_activate(kn);
}

/*
 * A source that reports counts, and that goes on by itself only while its
 * reports are taken (EVFILT_TIMER), has one for kn (any context).  With a
 * ring, kn eligible and enabled, no entry of kn's still waiting and room
 * for a new one, count(kn) works the report out under kq->lock (and may
 * commit the source's state: the post that follows cannot fail) and it
 * is posted; returns true.  Otherwise nothing was done: false, and the
 * source takes the kernel's path.
 */
bool kn_ring_post_count(struct knote *kn, s64 (*count)(struct knote *kn))
{
	struct kq_uevent rep = { 0 };
	struct kqueue *kq = kn->kq;
	unsigned long irqflags;
	bool posted = false;

	spin_lock_irqsave(&kq->lock, irqflags);
	if (kn_ring_eligible(kn) && !(kn->status & KN_DISABLED) &&
	    !kq_ring_waiting(kn) && kq_ring_has_room(kq)) {
		rep.data = count(kn);
		posted = kn_ring_put(kn, &rep, KQ_RING_SET) == KQ_RING_NEW;
	}
	spin_unlock_irqrestore(&kq->lock, irqflags);
	if (posted)
		kq_wake(kq, false);
	return posted;
}

/*
 * What kn reports is a set of bits its source recorded, and these are
 * new (EVFILT_PROC; any context, under the source's own lock, which
 * ring_unpost does not take): rep's flags and fflags are added to kn's
 * entry if nobody took it yet, its data replaces the entry's; else they
 * go to a new entry.  last: kn reports nothing after this one; once the
 * entry is taken kn is done, as an EV_ONESHOT knote (KN_OSPOSTED).
 * Returns true if the ring took them; false: nothing was done, and the
 * source records them for the scan and activates kn.
 */
bool kn_ring_post_bits(struct knote *kn, const struct kq_uevent *rep,
		       bool last)
{
	enum kq_ring_result res = KQ_RING_NONE;
	struct kqueue *kq = kn->kq;
	unsigned long irqflags;

	spin_lock_irqsave(&kq->lock, irqflags);
	if (kn_ring_eligible(kn))
		res = kn_ring_put(kn, rep, KQ_RING_OR);
	if (res != KQ_RING_NONE && last)
		kn_ring_posted_last(kn);
	spin_unlock_irqrestore(&kq->lock, irqflags);
	if (res == KQ_RING_NEW)
		kq_wake(kq, false);
	return res != KQ_RING_NONE;
}

/*
 * The report kn's ring entry holds changed without a new signal (new
 * fflags of EVFILT_USER): update it if nobody took it yet.  Returns true
 * if it did.
 */
bool kn_ring_refresh(struct knote *kn, const struct kq_uevent *rep)
{
	struct kqueue *kq = kn->kq;
	bool done;

	if (!(READ_ONCE(kn->status) & KN_RINGED))
		return false;
	spin_lock_irq(&kq->lock);
	done = kq_ring_update(kn, rep);
	spin_unlock_irq(&kq->lock);
	return done;
}

/* Retract kn's ring entry: its report no longer holds. */
void kn_ring_cancel(struct knote *kn)
{
	struct kqueue *kq = kn->kq;

	if (!(READ_ONCE(kn->status) & KN_RINGED))
		return;
	spin_lock_irq(&kq->lock);
	kq_ring_retract(kn, NULL);
	spin_unlock_irq(&kq->lock);
}

/* Queue kn for a check at the next scan (kq->mtx held). */
static void kn_requeue(struct knote *kn)
{
	struct kqueue *kq = kn->kq;
	bool queued = false;

	spin_lock_irq(&kq->lock);
	if (!(kn->status & (KN_QUEUED | KN_DISABLED))) {
		kn_queue_locked(kn);
		queued = true;
	}
	spin_unlock_irq(&kq->lock);
	if (queued)
		kq_wake(kq, false);
}

static void kn_disable(struct knote *kn)
{
	struct kqueue *kq = kn->kq;

	spin_lock_irq(&kq->lock);
	kn_ring_unpost(kn);
	kn->status |= KN_DISABLED;
	if (kn->status & KN_QUEUED) {
		list_del_init(&kn->rdlink);
		kn->status &= ~KN_QUEUED;
	}
	spin_unlock_irq(&kq->lock);
}

/*
 * Let kn be reported again.  It is queued for a check if its source
 * signalled while it was disabled or, with recheck, if it is
 * level-triggered (its condition may still hold).
 */
static void kn_enable(struct knote *kn, bool recheck)
{
	struct kqueue *kq = kn->kq;
	bool queued = false;

	spin_lock_irq(&kq->lock);
	/*
	 * Closed; or a one-shot whose report this very change posted (a
	 * trigger, in touch) and another thread took: it is done.
	 */
	if ((kn->status & KN_CLOSED) ||
	    ((kn->status & KN_OSPOSTED) && !kn_ring_unpost(kn))) {
		spin_unlock_irq(&kq->lock);
		return;
	}
	kn->status &= ~KN_DISABLED;
	/* Signals until now found it disabled and only set KN_ACTIVE. */
	if (((recheck && !(kn->flags & EV_CLEAR)) ||
	     test_bit(KN_ACTIVE, &kn->pending)) &&
	    !(kn->status & KN_QUEUED)) {
		kn_queue_locked(kn);
		queued = true;
	}
	spin_unlock_irq(&kq->lock);
	if (queued)
		kq_wake(kq, false);
}

static void kn_recheck_fire(struct timer_list *t)
{
	struct kn_recheck *rc = from_timer(rc, t, timer);

	kn_activate(rc->kn);
}

/*
 * Check kn again in KQ_RECHECK_MS (kq->mtx held).  For conditions that the
 * source does not signal: a pipe wakes writers only when it was full, a
 * socket when half its send buffer is free, so a NOTE_LOWAT mark of free
 * space in between is re-checked by time.  Without memory it is left to
 * the source's next signal.
 */
void kn_recheck_later(struct knote *kn)
{
	if (WARN_ON_ONCE(kn_is_nested(kn)))
		return;
	if (!kn->recheck) {
		kn->recheck = kzalloc(sizeof(*kn->recheck), GFP_KERNEL_ACCOUNT);
		if (!kn->recheck)
			return;
		kn->recheck->kn = kn;
		timer_setup(&kn->recheck->timer, kn_recheck_fire, 0);
	}
	if (!timer_pending(&kn->recheck->timer))
		mod_timer(&kn->recheck->timer,
			  jiffies + msecs_to_jiffies(KQ_RECHECK_MS));
}

/* Detach kn from its source, unlink it and free it (kq->mtx held). */
void kn_drop(struct knote *kn)
{
	struct kqueue *kq = kn->kq;

	kn_fop(kn)->detach(kn);
	if (kn_is_nested(kn)) {
		if (kn->nest)
			kq_nest_detach(kn);
	} else if (kn->recheck) {
		del_timer_sync(&kn->recheck->timer);
		kfree(kn->recheck);
	}
	if (kn->file)
		kq_fdclose_unwatch(kn);
	spin_lock_irq(&kq->lock);
	if (kn->status & (KN_QUEUED | KN_OSPOSTED))
		list_del(&kn->rdlink);
	if (kn->status & KN_CLOSED)
		list_del(&kn->closelink);
	kq_ring_retract(kn, NULL);
	kn->status = KN_DISABLED;
	spin_unlock_irq(&kq->lock);
	hlist_del(&kn->hnode);
	kq->nknotes--;
	if (kn->file)
		fput(kn->file);
	kmem_cache_free(knote_cache, kn);
	kq_user_uncharge(kq->user);
	atomic_long_dec(&kq_nr_knotes);
	kq_table_shrink(kq);
}

/*
 * Drop the EV_ONESHOT knotes whose ring entries were taken (kq->mtx held):
 * they were reported, as the scan would have dropped them.  Called by
 * every kevent() through the kernel, before its changes and after its
 * scan.  The walk is bounded: what stays on kq->oneshots has an entry
 * still in the ring, at most KQ_RING_ENTRIES.
 */
void kq_reap_oneshots(struct kqueue *kq)
{
	LIST_HEAD(taken);
	struct knote *kn, *tmp;

	/* A post this misses is reaped by the next call. */
	if (list_empty(&kq->oneshots))
		return;
	spin_lock_irq(&kq->lock);
	list_for_each_entry_safe(kn, tmp, &kq->oneshots, rdlink)
		if (!kq_ring_waiting(kn))
			list_move_tail(&kn->rdlink, &taken);
	spin_unlock_irq(&kq->lock);
	/* Disabled, so nothing but kn_drop() moves their rdlinks now. */
	list_for_each_entry_safe(kn, tmp, &taken, rdlink)
		kn_drop(kn);
}

/*
 * A change found kn with its EV_ONESHOT report posted to the ring
 * (KN_OSPOSTED, kq->mtx held).  If nobody took the entry, take it back
 * and queue kn for the scan: to the change, kn is a knote whose event is
 * pending, as on FreeBSD.  If it was taken, kn was reported: drop it and
 * return true, and the change finds no knote.
 */
static bool kn_oneshot_settle(struct knote *kn)
{
	struct kqueue *kq = kn->kq;
	bool pending;

	spin_lock_irq(&kq->lock);
	pending = kn_ring_unpost(kn);
	if (pending)
		kn_queue_locked(kn);
	spin_unlock_irq(&kq->lock);
	if (!pending) {
		kn_drop(kn);
		return true;
	}
	kq_wake(kq, false);
	return false;
}

static int kn_create(struct kqueue *kq, const struct kq_filterops *fop,
		     struct kq_uevent *kev, struct knote **knp)
{
	struct knote *kn;
	int err;

	if (!kq_user_charge(kq->user))
		return -ENOMEM;
	err = -ENOMEM;
	kn = kmem_cache_zalloc(knote_cache, GFP_KERNEL_ACCOUNT);
	if (!kn)
		goto out_uncharge;
	INIT_LIST_HEAD(&kn->rdlink);
	INIT_LIST_HEAD(&kn->closelink);
	kn->kq = kq;
	kn->ident = kev->ident;
	kn->filter = kev->filter;
	kn->flags = kev->flags & KQ_EV_KNOTE_FLAGS;
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	kn->udata = kev->udata;
	/* Disabled until it is in the table: attach may activate it. */
	kn->status = KN_DISABLED;

	if (fop->is_fd) {
		err = -EBADF;
		if (kev->ident > INT_MAX)
			goto out_free;
		kn->file = fget((unsigned int)kev->ident);
		if (!kn->file)
			goto out_free;
		if (kq_is_kqueue_file(kn->file)) {
			/* As on FreeBSD, a kqueue only has EVFILT_READ. */
			err = -EINVAL;
			if (kn->filter != EVFILT_READ)
				goto out_fput;
			err = kq_nest_attach(kn, kn->file->private_data);
			if (err)
				goto out_fput;
		}
	}

	err = fop->attach(kn);
	if (err)
		goto out_unnest;

	/* From here on a close of the fd drops the knote. */
	if (kn->file) {
		err = kq_fdclose_watch(kn);
		if (err) {
			fop->detach(kn);
			goto out_unnest;
		}
	}

	hlist_add_head(&kn->hnode,
		       &kq->table[kq_hash(kn->ident, kn->filter,
					  kq->table_bits)]);
	kq->nknotes++;
	atomic_long_inc(&kq_nr_knotes);
	*knp = kn;
	return 0;

out_unnest:
	if (kn_is_nested(kn) && kn->nest)
		kq_nest_detach(kn);
	/*
	 * attach may have queued it, and a close racing with
	 * kq_fdclose_watch() may have put it on kq->closed.
	 */
	spin_lock_irq(&kq->lock);
	if (kn->status & KN_QUEUED)
		list_del(&kn->rdlink);
	if (kn->status & KN_CLOSED)
		list_del(&kn->closelink);
	spin_unlock_irq(&kq->lock);
out_fput:
	if (kn->file)
		fput(kn->file);
out_free:
	kmem_cache_free(knote_cache, kn);
out_uncharge:
	kq_user_uncharge(kq->user);
	return err;
}

/*
 * Is ident an open descriptor of the caller that fget() would return?  No
 * reference is taken: the answer only decides the change's errno.
 */
static bool kq_fd_is_open(u64 ident)
{
	struct file *file;
	bool open;

	if (ident > INT_MAX)
		return false;
	rcu_read_lock();
	file = files_lookup_fd_raw(current->files, (unsigned int)ident);
	open = file && !(READ_ONCE(file->f_mode) & FMODE_PATH);
	rcu_read_unlock();
	return open;
}

/* A change to an existing knote (see kq_filterops.touch). */
static int kn_touch(struct knote *kn, const struct kq_uevent *kev)
{
	if ((kev->flags & EV_ADD) && !(kev->flags & EV_KEEPUDATA))
		kn->udata = kev->udata;
	if (kn_fop(kn)->touch)
		return kn_fop(kn)->touch(kn, kev);
	if (kev->flags & EV_ADD) {
		kn->sfflags = kev->fflags;
		kn->sdata = kev->data;
	}
	return 0;
}

/*
 * Apply one change (kq->mtx held).  Returns 0 or -errno; the caller turns
 * that into an EV_ERROR entry or the call's errno.
 */
int kq_register(struct kqueue *kq, struct kq_uevent *kev)
{
	const struct kq_filterops *fop;
	struct knote *kn;
	bool created = false;
	int err;

	if (kev->flags & ~KQ_EV_INPUT_FLAGS)
		return -EINVAL;
	fop = kq_filter_find(kev->filter, &err);
	if (!fop)
		return err;

	/*
	 * As on FreeBSD, an fd filter needs an open descriptor whatever the
	 * action.  For a new knote kn_create()'s fget() checks that.
	 */
	kn = kq_find(kq, kev->ident, kev->filter);
	if (kn && (READ_ONCE(kn->status) & KN_OSPOSTED) &&
	    kn_oneshot_settle(kn))
		kn = NULL;
	if (fop->is_fd && (kn || !(kev->flags & EV_ADD)) &&
	    !kq_fd_is_open(kev->ident))
		return -EBADF;
	if (!kn) {
		if (!(kev->flags & EV_ADD))
			return -ENOENT;
		err = kn_create(kq, fop, kev, &kn);
		if (err)
			return err;
		created = true;
		kq_table_grow(kq);
	} else {
		err = kn_touch(kn, kev);
		if (err)
			return err;
	}

	if (kev->flags & EV_DELETE) {
		kn_drop(kn);
		return 0;
	}

	if (!created && (kev->flags & EV_FORCEONESHOT)) {
		kn->flags |= EV_ONESHOT;
		set_bit(KN_FORCE, &kn->pending);
		set_bit(KN_ACTIVE, &kn->pending);
		kn_requeue(kn);
	}

	/*
	 * EV_ADD enables (unless EV_DISABLE says otherwise).  A touched knote
	 * is re-checked as FreeBSD does: new fflags or data (a low-water
	 * mark) may make it true.
	 */
	if (!created && (kev->flags & EV_ADD))
		set_bit(KN_ACTIVE, &kn->pending);
	if (kev->flags & EV_DISABLE)
		kn_disable(kn);
	if (kev->flags & EV_ENABLE)
		kn_enable(kn, true);
	else if ((kev->flags & EV_ADD) && !(kev->flags & EV_DISABLE))
		kn_enable(kn, false);
	return 0;
}
