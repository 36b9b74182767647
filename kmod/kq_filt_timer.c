// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_timer.c - EVFILT_TIMER: one timer per knote; ident is any number.
 *
 * data is the period in milliseconds, or in the unit that NOTE_SECONDS,
 * NOTE_MSECONDS, NOTE_USECONDS or NOTE_NSECONDS names (at most one of
 * them).  With NOTE_ABSTIME, data is a CLOCK_REALTIME deadline in that
 * unit since the epoch.  As FreeBSD 14 does:
 *
 *   - the timer is periodic unless EV_ONESHOT or NOTE_ABSTIME is given;
 *     a period of 0 means 1 unit; EV_ONESHOT with 0 fires at once, and so
 *     does a deadline in the past;
 *   - relative timers get EV_CLEAR; an NOTE_ABSTIME timer without EV_CLEAR
 *     (or EV_ONESHOT) stays reported, data 1, once its deadline passed;
 *   - data on return is the number of expirations since the last report;
 *   - EV_ADD on an existing timer restarts it with the new data and fflags
 *     and throws away the expirations not yet reported;
 *   - a disabled timer keeps counting: EV_ENABLE reports every expiration
 *     that happened while it was disabled;
 *   - negative data, fflags other than the units and NOTE_ABSTIME, or two
 *     units: EINVAL.
 *
 * Differences from FreeBSD: a NOTE_ABSTIME deadline follows changes of
 * CLOCK_REALTIME until it fires (like timerfd's TFD_TIMER_ABSTIME; FreeBSD
 * converts it to uptime once); the cap on timers is per user, not global
 * (FreeBSD's kern.kq_calloutmax, 4096): max_user_timers (kq_user.c,
 * default 4096), beyond which EV_ADD of a new timer fails with ENOMEM as
 * on FreeBSD; an invalid EV_ADD on an existing timer fails with EINVAL
 * and leaves the timer as it was (FreeBSD stops it).
 *
 * One hrtimer per knote: CLOCK_MONOTONIC for relative timers, or
 * CLOCK_REALTIME absolute for NOTE_ABSTIME.  The callback runs in hard
 * irq; it records the expiry and calls kn_activate(), and does not
 * restart the timer (so no period, however small, can keep it re-arming
 * itself in one interrupt).  The scan that reports a periodic timer
 * re-arms it, as timerfd does on read: it counts the periods that have
 * ended since the last count from the clock (kt->next, the end of the
 * first period not yet counted) and arms the timer at the next period
 * end, but never sooner than KN_TIMER_MIN_GAP after now.  So data is
 * always the true number of periods elapsed, while one timer interrupts
 * at most once per report taken and at most every KN_TIMER_MIN_GAP (a
 * 1 ns period costs what a 100 us one does); and a timer that nobody
 * collects (disabled, or its kqueue not waited on) stops interrupting.
 * Together with max_user_timers this bounds the callbacks one user can
 * line up for one hard-irq pass.
 *
 * With the completion ring, a periodic timer whose last report was taken
 * (or that has none) posts the periods counted so far as a new entry from
 * its callback and re-arms itself there, the same way (kn_timer_count()),
 * so a busy program gets its ticks without a system call.  A timer whose
 * entry still waits when it fires takes the path above instead: its
 * knote is queued for the scan, which takes the entry back
 * (kn_timer_ring_unpost(): its periods go to kt->unposted and are
 * reported with the scan's) and re-arms it.  So it still interrupts at
 * most once per report taken, from the ring or through kevent().  A timer
 * that fires once (EV_ONESHOT, or NOTE_ABSTIME with EV_CLEAR, which are
 * reported once) posts its one report, data 1, from its callback in the
 * same way; one taken back goes to kt->unposted like a periodic one's.
 * A NOTE_ABSTIME timer without either stays reported: the kernel list.
 *
 * Locking and lifetime: attach, touch, event and detach run under kq->mtx.
 * kt->next is touched by attach and touch (the timer stopped), by event()
 * only when it found kt->expired set (the callback that set it did not
 * restart the timer), and by the callback under kq->lock while the knote
 * is not queued (kn_ring_post_count()): never by two at once.  The
 * callback otherwise only touches kt->expired and kt->unposted (atomics)
 * and kn_activate().  detach's hrtimer_cancel() dequeues the timer and
 * waits for a running callback, so once it returns nothing can reach the
 * knote from the timer any more; detach then gives the user's timer back.
 */
#include <linux/atomic.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "kq.h"

#define KN_TIMER_UNITS		(NOTE_SECONDS | NOTE_MSECONDS | \
				 NOTE_USECONDS | NOTE_NSECONDS)

/* A periodic timer is never re-armed to expire sooner than this from now. */
#define KN_TIMER_MIN_GAP	(100 * NSEC_PER_USEC)

struct kn_timer {
	struct hrtimer	timer;
	struct knote	*kn;
	ktime_t		period;		/* 0: fires once */
	ktime_t		next;		/* periodic: first period end not counted */
	atomic_t	expired;	/* expired since the last report */
	atomic64_t	unposted;	/* periods of ring entries taken back */
};

/* What a (fflags, data) pair asks for. */
struct kn_timer_spec {
	ktime_t		when;		/* relative, or absolute REALTIME */
	ktime_t		period;		/* 0: fires once */
	bool		abstime;
};

static s64 kn_timer_count(struct kn_timer *kt, ktime_t now);
static ktime_t kn_timer_arm_at(ktime_t next, ktime_t now);

/* The callback's report for the ring (kq->lock held): see the top. */
static s64 kn_timer_ring_count(struct knote *kn)
{
	struct kn_timer *kt = kn->fpriv;
	ktime_t now = ktime_get();
	s64 n = kn_timer_count(kt, now);

	hrtimer_set_expires(&kt->timer, kn_timer_arm_at(kt->next, now));
	return n;
}

/* A timer that fires once is reported once: data 1. */
static s64 kn_timer_ring_once(struct knote *kn)
{
	return 1;
}

static enum hrtimer_restart kn_timer_fire(struct hrtimer *t)
{
	struct kn_timer *kt = container_of(t, struct kn_timer, timer);

	if (kt->period) {
		if (kn_ring_post_count(kt->kn, kn_timer_ring_count))
			return HRTIMER_RESTART;
	} else if ((READ_ONCE(kt->kn->flags) & (EV_CLEAR | EV_ONESHOT)) &&
		   kn_ring_post_count(kt->kn, kn_timer_ring_once)) {
		/* Reported once, as the scan does with EV_CLEAR: done. */
		return HRTIMER_NORESTART;
	}
	/* Fully ordered: the scan sees it once it sees KN_ACTIVE. */
	atomic_xchg(&kt->expired, 1);
	kn_activate(kt->kn);
	return HRTIMER_NORESTART;
}

static int kn_timer_parse(const struct knote *kn, u32 fflags, s64 data,
			  struct kn_timer_spec *spec)
{
	u32 unit = fflags & KN_TIMER_UNITS;
	s64 mult, ns;

	if (data < 0 || (fflags & ~(KN_TIMER_UNITS | NOTE_ABSTIME)))
		return -EINVAL;
	switch (unit) {
	case NOTE_SECONDS:
		mult = NSEC_PER_SEC;
		break;
	case 0:
	case NOTE_MSECONDS:
		mult = NSEC_PER_MSEC;
		break;
	case NOTE_USECONDS:
		mult = NSEC_PER_USEC;
		break;
	case NOTE_NSECONDS:
		mult = 1;
		break;
	default:		/* more than one unit */
		return -EINVAL;
	}
	if (data == 0 && !(kn->flags & EV_ONESHOT))
		data = 1;
	if (check_mul_overflow(data, mult, &ns))
		ns = KTIME_MAX;

	spec->abstime = fflags & NOTE_ABSTIME;
	spec->when = ns;
	spec->period = (spec->abstime || (kn->flags & EV_ONESHOT)) ? 0 : ns;
	return 0;
}

/* When a periodic timer whose next period ends at next is to expire. */
static ktime_t kn_timer_arm_at(ktime_t next, ktime_t now)
{
	return max(next, ktime_add_safe(now, KN_TIMER_MIN_GAP));
}

/* Start the (inactive) timer as spec says. */
static void kn_timer_start(struct kn_timer *kt,
			   const struct kn_timer_spec *spec)
{
	ktime_t now;

	kt->period = spec->period;
	atomic_set(&kt->expired, 0);
	atomic64_set(&kt->unposted, 0);
	if (spec->abstime) {
		hrtimer_init(&kt->timer, CLOCK_REALTIME, HRTIMER_MODE_ABS);
		kt->timer.function = kn_timer_fire;
		hrtimer_start(&kt->timer, spec->when, HRTIMER_MODE_ABS);
		return;
	}
	hrtimer_init(&kt->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	kt->timer.function = kn_timer_fire;
	now = ktime_get();
	kt->next = ktime_add_safe(now, spec->when);
	hrtimer_start(&kt->timer, kt->period ?
		      kn_timer_arm_at(kt->next, now) : kt->next,
		      HRTIMER_MODE_ABS);
}

static int kn_timer_attach(struct knote *kn)
{
	struct kn_timer_spec spec;
	struct kn_timer *kt;
	int err;

	err = kn_timer_parse(kn, kn->sfflags, kn->sdata, &spec);
	if (err)
		return err;
	if (!kq_user_charge_res(kn->kq->user, KQ_RES_TIMERS))
		return -ENOMEM;
	kt = kzalloc(sizeof(*kt), GFP_KERNEL_ACCOUNT);
	if (!kt) {
		kq_user_uncharge_res(kn->kq->user, KQ_RES_TIMERS);
		return -ENOMEM;
	}
	kt->kn = kn;
	if (!spec.abstime)
		kn->flags |= EV_CLEAR;
	kn->fpriv = kt;
	kn_timer_start(kt, &spec);
	return 0;
}

static void kn_timer_detach(struct knote *kn)
{
	struct kn_timer *kt = kn->fpriv;

	hrtimer_cancel(&kt->timer);
	kfree(kt);
	kn->fpriv = NULL;
	kq_user_uncharge_res(kn->kq->user, KQ_RES_TIMERS);
}

/*
 * A periodic timer has expired and is stopped (or its callback is
 * returning HRTIMER_NORESTART): count the periods that have ended since
 * the last count, from the clock (the callback may have come late, or
 * after several periods: its expiry is at least KN_TIMER_MIN_GAP after
 * the last re-arm), move kt->next past them and re-arm.  The period is
 * not rounded to the timer resolution, so the count is exact however
 * coarse the clock; one division, however many periods passed.
 */
static s64 kn_timer_count(struct kn_timer *kt, ktime_t now)
{
	ktime_t delta = ktime_sub(now, kt->next);
	s64 n = 1, step;

	if (delta > 0)
		n += ktime_divns(delta, kt->period);
	if (check_mul_overflow(n, (s64)kt->period, &step))
		step = KTIME_MAX;
	kt->next = ktime_add_safe(kt->next, step);
	return n;
}

static s64 kn_timer_forward(struct kn_timer *kt)
{
	ktime_t now = ktime_get();
	s64 n = kn_timer_count(kt, now);

	hrtimer_start(&kt->timer, kn_timer_arm_at(kt->next, now),
		      HRTIMER_MODE_ABS);
	return n;
}

static bool kn_timer_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_timer *kt = kn->fpriv;
	s64 back;

	if (!atomic_read(&kt->expired) && !atomic64_read(&kt->unposted))
		return false;
	ev->data = 1;
	if (peek)
		return true;
	back = atomic64_xchg(&kt->unposted, 0);
	if (!atomic_read(&kt->expired)) {
		/* Only a ring entry taken back; the timer runs on. */
		ev->data = back;
		return back > 0;
	}
	if (!kt->period) {
		/* Fired once; without EV_CLEAR it stays reported. */
		if (kn->flags & EV_CLEAR)
			atomic_set(&kt->expired, 0);
		return true;
	}
	atomic_set(&kt->expired, 0);
	ev->data = kn_timer_forward(kt) + back;
	return true;
}

/* A ring entry taken back unread (kq->lock held): report it later. */
static void kn_timer_ring_unpost(struct knote *kn, const struct kq_uevent *ev)
{
	struct kn_timer *kt = kn->fpriv;

	if (ev->data > 0)
		atomic64_add(ev->data, &kt->unposted);
}

/*
 * EV_ADD on an existing timer: restart it with the new data and fflags;
 * expirations not yet reported are dropped, as on FreeBSD.  The core then
 * re-checks the knote, which event() finds not expired.
 */
static int kn_timer_touch(struct knote *kn, const struct kq_uevent *kev)
{
	struct kn_timer *kt = kn->fpriv;
	struct kn_timer_spec spec;
	int err;

	if (!(kev->flags & EV_ADD))
		return 0;
	err = kn_timer_parse(kn, kev->fflags, kev->data, &spec);
	if (err)
		return err;
	hrtimer_cancel(&kt->timer);
	/* Its waiting report goes too (kn_timer_start() clears unposted). */
	kn_ring_cancel(kn);
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	if (!spec.abstime)
		kn->flags |= EV_CLEAR;
	kn_timer_start(kt, &spec);
	return 0;
}

const struct kq_filterops kq_timer_filtops = {
	.is_fd	= false,
	.attach	= kn_timer_attach,
	.detach	= kn_timer_detach,
	.event	= kn_timer_event,
	.touch	= kn_timer_touch,
	.ring_unpost = kn_timer_ring_unpost,
};
