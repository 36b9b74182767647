// SPDX-License-Identifier: GPL-2.0
/*
 * kq_kevent.c - one kevent() call: apply the changelist in order, then
 * collect ready events from the ready queue, sleeping until the timeout if
 * there are none.
 *
 * The cost of a call depends on the events it returns, not on the number
 * of knotes registered: only knotes on kq->ready are looked at.  The scan
 * splices kq->ready into a private list under kq->lock once, checks each
 * knote's source without that lock, stages the results in kq->evbuf and
 * copies them to user space in one go per KQ_EVBUF_LEN events; one more
 * kq->lock section at the end puts level-triggered knotes that are still
 * true back at the tail of kq->ready, so a small eventlist still sees
 * every ready source in turn.
 *
 * The caller's struct kevent and struct timespec are read and written
 * through a struct kq_uabi chosen once per call by the ioctl entry
 * (kq_main.c): kq_uabi_native for a 64-bit task (the fixed-width struct
 * kq_uevent and struct kq_utimespec, which are x86-64's layouts), and with
 * CONFIG_COMPAT kq_uabi_compat for a 32-bit (i386) task, whose struct
 * kevent is 24 bytes (struct kq_compat_uevent) and whose timeout is the
 * old 32-bit struct timespec.  Inside the module an event is always a
 * struct kq_uevent; only the copies to and from user memory differ.
 *
 * Locking: see kq.h.  Changes and the scan run under kq->mtx; the sleep
 * does not.
 */
#include <linux/compat.h>
#include <linux/hrtimer.h>
#include <linux/indirect_call_wrapper.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/time32.h>
#include <linux/uaccess.h>

#include "kq.h"

#define KQ_CHANGE_BATCH	16	/* changes copied in per step (on stack) */
#define KQ_EVBUF_LEN	256	/* events staged per copy to user */

/*
 * A 64-bit task's events cross to and from user memory as four 64-bit
 * words each (kq_native_get(), kq_native_put()), moved
 * with unsafe_get_user()/unsafe_put_user() inside one user-access section:
 * for a few 32-byte records that costs less than copy_from/to_user(), whose
 * hardened-usercopy checks and string copy outweigh the data.  Long runs
 * of events still go out with copy_to_user().
 */
#define KQ_UEV_WORDS	(sizeof(struct kq_uevent) / sizeof(u64))
#define KQ_PUT_MAX	16	/* up to this many events: word by word */

static_assert(sizeof(struct kq_uevent) == 4 * sizeof(u64));

/* The change batch is written before it is read: spare it the auto-init. */
#if __has_attribute(__uninitialized__)
#define kq_noinit	__attribute__((__uninitialized__))
#else
#define kq_noinit
#endif

static int kq_native_get(struct kq_uevent *batch, const void __user *ubuf,
			 int n)
{
	const struct kq_uevent __user *uchanges = ubuf;
	const u64 __user *src = ubuf;
	u64 *dst = (u64 *)batch;
	unsigned int i;

	if (!user_access_begin(uchanges, n * sizeof(*uchanges)))
		return -EFAULT;
	for (i = 0; i < n * KQ_UEV_WORDS; i++)
		unsafe_get_user(dst[i], &src[i], efault);
	user_access_end();
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

static int kq_native_put(void __user *ubuf, const struct kq_uevent *evbuf,
			 int n)
{
	struct kq_uevent __user *uevents = ubuf;
	u64 __user *dst = ubuf;
	const u64 *src = (const u64 *)evbuf;
	unsigned int i;

	if (n > KQ_PUT_MAX)
		return copy_to_user(uevents, evbuf, n * sizeof(*evbuf)) ?
			-EFAULT : 0;
	if (!user_access_begin(uevents, n * sizeof(*uevents)))
		return -EFAULT;
	for (i = 0; i < n * KQ_UEV_WORDS; i++)
		unsafe_put_user(src[i], &dst[i], efault);
	user_access_end();
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

static int kq_native_timeout(const void __user *ubuf, struct timespec64 *ts)
{
	const struct kq_utimespec __user *uts = ubuf;
	s64 sec, nsec;

	if (!user_access_begin(uts, sizeof(*uts)))
		return -EFAULT;
	unsafe_get_user(sec, &uts->tv_sec, efault);
	unsafe_get_user(nsec, &uts->tv_nsec, efault);
	user_access_end();
	ts->tv_sec = sec;
	ts->tv_nsec = nsec;
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

const struct kq_uabi kq_uabi_native = {
	.evsize		= sizeof(struct kq_uevent),
	.get		= kq_native_get,
	.put		= kq_native_put,
	.timeout	= kq_native_timeout,
};

#ifdef CONFIG_COMPAT
/*
 * struct kevent in a 32-bit (i386) program: ident and udata are 32 bits,
 * data is 64 bits with 4-byte alignment (compat_s64), 24 bytes in all.
 * Coming in, ident and udata are zero-extended; going out they are
 * truncated to 32 bits, which gives back what a 32-bit task registered.
 */
struct kq_compat_uevent {
	compat_uptr_t	ident;
	s16		filter;
	u16		flags;
	u32		fflags;
	compat_s64	data;
	compat_uptr_t	udata;
};

#ifdef CONFIG_X86
static_assert(sizeof(struct kq_compat_uevent) == 24);
static_assert(offsetof(struct kq_compat_uevent, filter) == 4);
static_assert(offsetof(struct kq_compat_uevent, flags) == 6);
static_assert(offsetof(struct kq_compat_uevent, fflags) == 8);
static_assert(offsetof(struct kq_compat_uevent, data) == 12);
static_assert(offsetof(struct kq_compat_uevent, udata) == 20);
#endif

static int kq_compat_get(struct kq_uevent *batch, const void __user *ubuf,
			 int n)
{
	const struct kq_compat_uevent __user *uc = ubuf;
	int i;

	if (!user_access_begin(uc, n * sizeof(*uc)))
		return -EFAULT;
	for (i = 0; i < n; i++) {
		unsafe_get_user(batch[i].ident, &uc[i].ident, efault);
		unsafe_get_user(batch[i].filter, &uc[i].filter, efault);
		unsafe_get_user(batch[i].flags, &uc[i].flags, efault);
		unsafe_get_user(batch[i].fflags, &uc[i].fflags, efault);
		unsafe_get_user(batch[i].data, &uc[i].data, efault);
		unsafe_get_user(batch[i].udata, &uc[i].udata, efault);
	}
	user_access_end();
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

static int kq_compat_put(void __user *ubuf, const struct kq_uevent *evbuf,
			 int n)
{
	struct kq_compat_uevent __user *uc = ubuf;
	int i;

	if (!user_access_begin(uc, n * sizeof(*uc)))
		return -EFAULT;
	for (i = 0; i < n; i++) {
		const struct kq_uevent *ev = &evbuf[i];

		unsafe_put_user((compat_uptr_t)ev->ident, &uc[i].ident,
				efault);
		unsafe_put_user(ev->filter, &uc[i].filter, efault);
		unsafe_put_user(ev->flags, &uc[i].flags, efault);
		unsafe_put_user(ev->fflags, &uc[i].fflags, efault);
		unsafe_put_user(ev->data, &uc[i].data, efault);
		unsafe_put_user((compat_uptr_t)ev->udata, &uc[i].udata,
				efault);
	}
	user_access_end();
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

/* The old 32-bit struct timespec (glibc's default time_t on i386). */
static int kq_compat_timeout(const void __user *ubuf, struct timespec64 *ts)
{
	return get_old_timespec32(ts, ubuf) ? -EFAULT : 0;
}

const struct kq_uabi kq_uabi_compat = {
	.evsize		= sizeof(struct kq_compat_uevent),
	.get		= kq_compat_get,
	.put		= kq_compat_put,
	.timeout	= kq_compat_timeout,
};
#endif /* CONFIG_COMPAT */

/*
 * The caller's layout's copies.  A 64-bit caller's are called directly,
 * without an indirect call (and its retpoline).
 */
static inline int kq_uev_get(const struct kq_uabi *abi, struct kq_uevent *dst,
			     const void __user *src, int n)
{
	return INDIRECT_CALL_1(abi->get, kq_native_get, dst, src, n);
}

static inline int kq_uev_put(const struct kq_uabi *abi, void __user *dst,
			     const struct kq_uevent *src, int n)
{
	return INDIRECT_CALL_1(abi->put, kq_native_put, dst, src, n);
}

/* Entry i of an array of user events in the caller's layout. */
static void __user *kq_uev_at(const struct kq_uabi *abi, void __user *base,
			      int i)
{
	return (u8 __user *)base + (size_t)i * abi->evsize;
}

/*
 * Apply the changelist.  Returns the number of EV_ERROR entries written to
 * the eventlist, or -errno for the whole call.
 */
static long kq_apply_changes(struct kqueue *kq, const struct kq_uabi *abi,
			     void __user *uchanges, int nchanges,
			     void __user *uevents, int *nevents)
{
	struct kq_uevent batch[KQ_CHANGE_BATCH] kq_noinit;
	long nerrors = 0;
	int done = 0;

	while (done < nchanges) {
		int n = min(nchanges - done, KQ_CHANGE_BATCH), i;

		if (kq_uev_get(abi, batch, kq_uev_at(abi, uchanges, done), n))
			return -EFAULT;

		if (kq_lock_killable(kq))
			return -EINTR;
		/* A oneshot taken from the ring is gone to these changes. */
		kq_reap_oneshots(kq);
		for (i = 0; i < n; i++) {
			struct kq_uevent *kev = &batch[i];
			int err;

			kev->flags &= ~EV_SYSFLAGS;
			err = kq_register(kq, kev);
			if (!err && !(kev->flags & EV_RECEIPT))
				continue;
			if (*nevents == 0) {
				/* No room to report it: it is the call's. */
				kq_unlock(kq);
				return err ? err : nerrors;
			}
			kev->flags = EV_ERROR;
			kev->data = -err;
			if (kq_uev_put(abi, kq_uev_at(abi, uevents, nerrors),
				       kev, 1)) {
				kq_unlock(kq);
				return -EFAULT;
			}
			nerrors++;
			(*nevents)--;
		}
		kq_unlock(kq);
		done += n;
		cond_resched();
	}
	return nerrors;
}

/*
 * Check the queued knotes and report up to maxevents of them (kq->mtx
 * held).  Returns the number reported or -EFAULT.  With peek, only count
 * the knotes that would be reported and consume nothing: stale ones leave
 * the queue, the others stay in order.  (A NULL uevents is not a peek but
 * a caller's bad eventlist, which fails with EFAULT.)
 *
 * Every knote the scan goes through stays where it is in txlist.  Those
 * that may leave the queue (not true, EV_CLEAR or EV_DISPATCH reported, fd
 * closed) get a mark and a last look under kq->lock at the end, when a
 * signal that came during the scan keeps them queued.  Then the part of
 * txlist the scan went through goes to the tail of kq->ready (to the head
 * when peeking, which must leave the order alone) and the part it did not
 * reach back to the head.
 */
#define KN_SCAN_SETTLE		0x1	/* leaves the queue unless signalled */
#define KN_SCAN_DISPATCH	0x2	/* and is disabled (EV_DISPATCH) */

/*
 * The rest of the ring's reports, while the call has room (not peeking):
 * the first take stops at one staging buffer's worth.  Stages them after
 * the *staged already in kq->evbuf, copying out each full buffer.  Each
 * round takes at least one report, so at most maxevents are taken.
 * Returns 0 or -EFAULT.
 */
static int kq_collect_ring_rest(struct kqueue *kq, const struct kq_uabi *abi,
				void __user **uevents, int *staged,
				int *count, int maxevents)
{
	int n, err;

	while (*count < maxevents) {
		if (*staged == KQ_EVBUF_LEN) {
			err = kq_uev_put(abi, *uevents, kq->evbuf, *staged);
			if (err)
				return err;
			*uevents = kq_uev_at(abi, *uevents, *staged);
			*staged = 0;
			/* Writers may keep the ring full: a huge call yields. */
			cond_resched();
		}
		spin_lock_irq(&kq->lock);
		n = kq_ring_take(kq, kq->evbuf + *staged,
				 min(maxevents - *count,
				     KQ_EVBUF_LEN - *staged));
		spin_unlock_irq(&kq->lock);
		if (!n)
			break;
		*staged += n;
		*count += n;
	}
	return 0;
}

static int kq_collect(struct kqueue *kq, const struct kq_uabi *abi,
		      void __user *uevents, int maxevents, bool peek)
{
	LIST_HEAD(txlist);
	LIST_HEAD(done);
	bool stopped = false, requeued, ring_rest;
	struct knote *kn, *tmp;
	struct kq_uevent *ev;
	int count = 0, staged = 0, nsettle = 0, err = 0;

	spin_lock_irq(&kq->lock);
	/* The ring's reports first: they were complete when posted. */
	if (kq->ring) {
		if (peek)
			count = kq_ring_count(kq);
		else
			staged = kq_ring_take(kq, kq->evbuf,
					      min(maxevents, KQ_EVBUF_LEN));
	}
	list_splice_init(&kq->ready, &txlist);
	kq->scanning = !list_empty(&txlist);
	if (!kq->scanning)
		kq_ring_clear_klist(kq);
	spin_unlock_irq(&kq->lock);
	if (!peek)
		count = staged;
	/* The ring may hold more than one buffer's worth: see below. */
	ring_rest = staged == KQ_EVBUF_LEN;
	if (list_empty(&txlist)) {
		if (ring_rest)
			err = kq_collect_ring_rest(kq, abi, &uevents, &staged,
						   &count, maxevents);
		if (staged && !err)
			err = kq_uev_put(abi, uevents, kq->evbuf, staged);
		return err ? err : count;
	}

	list_for_each_entry_safe(kn, tmp, &txlist, rdlink) {
		bool active = false, force;

		if (count == maxevents) {
			stopped = true;
			break;
		}
		/* Full, maybe of the ring's reports alone: copy them out. */
		if (staged == KQ_EVBUF_LEN) {
			err = kq_uev_put(abi, uevents, kq->evbuf, staged);
			uevents = kq_uev_at(abi, uevents, staged);
			staged = 0;
			if (err)
				break;
		}
		if (READ_ONCE(kn->status) & KN_CLOSED)
			goto settle;
		/* Read first: a locked operation costs more than a load. */
		if (test_bit(KN_ACTIVE, &kn->pending))
			active = test_and_clear_bit(KN_ACTIVE, &kn->pending);
		/* EV_CLEAR: nothing new since it was last reported. */
		if ((kn->flags & EV_CLEAR) && !active)
			goto settle;

		force = test_bit(KN_FORCE, &kn->pending);
		ev = &kq->evbuf[staged];
		ev->flags = 0;
		ev->fflags = 0;
		ev->data = 0;
		if (!kn_fop(kn)->event(kn, ev, peek) && !force) {
			if (!peek && test_bit(KN_DROP, &kn->pending)) {
				kn_drop(kn);
				continue;
			}
			goto settle;
		}
		count++;
		if (peek) {
			/* Keep it exactly as it was. */
			if (active)
				set_bit(KN_ACTIVE, &kn->pending);
			continue;
		}
		if (force)
			clear_bit(KN_FORCE, &kn->pending);
		ev->ident = kn->ident;
		ev->filter = kn->filter;
		ev->flags |= kn->flags;
		ev->udata = kn->udata;
		staged++;

		if (kn->flags & EV_ONESHOT) {
			kn_drop(kn);
		} else if (kn->flags & EV_DISPATCH) {
			kn->scanmark = KN_SCAN_SETTLE | KN_SCAN_DISPATCH;
			nsettle++;
		} else if (kn->flags & EV_CLEAR) {
			kn->scanmark = KN_SCAN_SETTLE;
			nsettle++;
		}
		continue;
settle:
		kn->scanmark = KN_SCAN_SETTLE;
		nsettle++;
	}
	if (ring_rest && !stopped && !err)
		err = kq_collect_ring_rest(kq, abi, &uevents, &staged, &count,
					   maxevents);
	if (staged && !err)
		err = kq_uev_put(abi, uevents, kq->evbuf, staged);

	/* What the scan went through, apart from what it did not reach. */
	if (stopped)
		list_cut_before(&done, &txlist, &kn->rdlink);
	else
		list_splice_init(&txlist, &done);

	spin_lock_irq(&kq->lock);
	if (nsettle) {
		list_for_each_entry_safe(kn, tmp, &done, rdlink) {
			if (!kn->scanmark)
				continue;
			if (kn->scanmark & KN_SCAN_DISPATCH)
				kn->status |= KN_DISABLED;
			kn->scanmark = 0;
			/* A signal during the scan keeps it queued. */
			if (!(kn->status & KN_DISABLED) &&
			    test_bit(KN_ACTIVE, &kn->pending))
				continue;
			list_del_init(&kn->rdlink);
			kn->status &= ~KN_QUEUED;
		}
	}
	list_splice(&txlist, &kq->ready);
	if (peek)
		list_splice(&done, &kq->ready);
	else
		list_splice_tail(&done, &kq->ready);
	kq->scanning = false;
	requeued = !list_empty(&kq->ready);
	if (!requeued)
		kq_ring_clear_klist(kq);
	spin_unlock_irq(&kq->lock);

	/*
	 * Pollers that looked while the scan held the knotes may have seen
	 * nothing: tell them again about what is still (or again) queued.
	 */
	if (requeued && !peek && wq_has_sleeper(&kq->poll_wq))
		kq_wake_pollers(kq);
	return err ? err : count;
}

static int kq_evbuf_alloc(struct kqueue *kq)
{
	if (kq->evbuf)
		return 0;
	kq->evbuf = kvmalloc_array(KQ_EVBUF_LEN, sizeof(*kq->evbuf),
				   GFP_KERNEL_ACCOUNT);
	return kq->evbuf ? 0 : -ENOMEM;
}

/*
 * How many events kevent() would return now (poll on the kqueue, and the
 * data of EVFILT_READ on a kqueue).  Process context; may sleep.
 *
 * With trylock (->poll), a kqueue whose mutex is busy answers from its
 * ready queue alone (-EBUSY).  ->poll can be reached with that very mutex
 * held, through another poller: this kqueue watches an epoll instance
 * that watches this kqueue, say.  Waiting for it there would deadlock.
 * Without trylock the caller is the scan of a kqueue that watches this
 * one, holding that kqueue's mutex (kq_lock_inner()).
 *
 * nested: the caller is a knote of a kqueue that watches this one.  Then
 * this kqueue's own knotes on kqueues answer from those kqueues' ready
 * queues (kq->peek_nested, kn_file_state()) instead of asking them in
 * turn: the cost of a scan or a poll stays the product of two levels'
 * knotes, however deep and wide the chain below is.
 */
int kq_pending(struct kqueue *kq, bool trylock, bool nested)
{
	int n;

	if (!trylock)
		kq_lock_inner(kq);
	else if (!mutex_trylock(&kq->mtx))
		return -EBUSY;
	n = kq_evbuf_alloc(kq);
	if (!n) {
		kq->peek_nested = nested;
		n = kq_collect(kq, &kq_uabi_native, NULL, INT_MAX, true);
		kq->peek_nested = false;
	}
	kq_unlock(kq);
	return max(n, 0);
}

static int kq_read_timeout(const struct kq_uabi *abi, const void __user *uts,
			   ktime_t *deadline)
{
	struct timespec64 ts;
	int err = INDIRECT_CALL_1(abi->timeout, kq_native_timeout, uts, &ts);

	if (err)
		return err;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= NSEC_PER_SEC)
		return -EINVAL;
	if (ts.tv_sec == 0 && ts.tv_nsec == 0) {
		*deadline = 0;
		return 0;
	}
	*deadline = ktime_add_safe(ktime_get(),
				   ktime_set(min_t(s64, ts.tv_sec,
						   KTIME_SEC_MAX),
					     ts.tv_nsec));
	return 0;
}

/*
 * Wait for events.  deadline NULL waits forever, *deadline == 0 only
 * polls.
 */
static long kq_scan(struct kqueue *kq, const struct kq_uabi *abi,
		    void __user *uevents, int maxevents, ktime_t *deadline)
{
	bool timed_out = false;
	long ret;

	if (!READ_ONCE(kq->evbuf)) {
		kq_lock(kq);
		ret = kq_evbuf_alloc(kq);
		kq_unlock(kq);
		if (ret)
			return ret;
	}

	for (;;) {
		DEFINE_WAIT_FUNC(wait, autoremove_wake_function);

		/* Knotes held by another scan count: it puts them back. */
		if (kq_maybe_ready(kq)) {
			if (kq_lock_killable(kq))
				return -EINTR;
			ret = kq_collect(kq, abi, uevents, maxevents, false);
			kq_reap_oneshots(kq);
			kq_unlock(kq);
			if (ret)
				break;
		}
		if (timed_out || (deadline && *deadline == 0)) {
			ret = 0;
			break;
		}

		/* One event wakes one waiter: sleep exclusive. */
		prepare_to_wait_exclusive(&kq->wq, &wait, TASK_INTERRUPTIBLE);
		if (!kq_maybe_ready(kq)) {
			if (signal_pending(current)) {
				finish_wait(&kq->wq, &wait);
				return -EINTR;
			}
			if (deadline)
				timed_out = !schedule_hrtimeout_range(deadline,
						current->timer_slack_ns,
						HRTIMER_MODE_ABS);
			else
				schedule();
		}
		finish_wait(&kq->wq, &wait);
		/*
		 * Not slept: the ring looked non-empty, yet the scan found
		 * nothing in it (another consumer was faster, or the
		 * process rewrote the header).  Stay killable and fair.
		 */
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}

	/* Events left over: let another waiter have them. */
	if (ret > 0 && (kq_has_ready(kq) || kq_ring_maybe_ready(kq)) &&
	    wq_has_sleeper(&kq->wq))
		wake_up(&kq->wq);
	return ret;
}

long kq_kevent(struct kqueue *kq, const struct kq_kevent_args *args,
	       const struct kq_uabi *abi)
{
	void __user *uevents = u64_to_user_ptr(args->eventlist);
	ktime_t deadline;
	int nevents = args->nevents;
	long ret;

	if (args->nchanges < 0 || args->nevents < 0 || args->reserved)
		return -EINVAL;

	ret = kq_apply_changes(kq, abi, u64_to_user_ptr(args->changelist),
			       args->nchanges, uevents, &nevents);
	if (ret)
		return ret;
	if (args->nevents == 0)
		return 0;

	if (args->timeout) {
		ret = kq_read_timeout(abi, u64_to_user_ptr(args->timeout),
				      &deadline);
		if (ret)
			return ret;
	}
	return kq_scan(kq, abi, uevents, args->nevents,
		       args->timeout ? &deadline : NULL);
}
