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
 * converts it to uptime once); there is no global cap on timers
 * (kern.kq_calloutmax): knotes are capped per user; an invalid EV_ADD on an
 * existing timer fails with EINVAL and leaves the timer as it was (FreeBSD
 * stops it).
 *
 * One hrtimer per knote: CLOCK_MONOTONIC relative, or CLOCK_REALTIME
 * absolute for NOTE_ABSTIME.  The callback runs in hard irq; it only
 * records the expiry and calls kn_activate(), and never restarts the
 * timer.  The scan that reports a periodic timer re-arms it, as timerfd
 * does on read: it counts the periods that have passed since the expiry
 * and moves the expiry to the next period boundary (no drift).  So a
 * tiny period costs one interrupt per kevent() call, not one per period,
 * and a timer that nobody collects (disabled, or its kqueue not waited
 * on) stops interrupting after one expiry.
 *
 * Locking and lifetime: attach, touch, event and detach run under kq->mtx,
 * and they are the only places that start the hrtimer.  The callback only
 * touches kt->expired (atomic) and kn_activate().  detach's
 * hrtimer_cancel() dequeues the timer and waits for a running callback, so
 * once it returns nothing can reach the knote from the timer any more.
 */
#include <linux/atomic.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "kq.h"

#define NOTE_SECONDS		0x00000001
#define NOTE_MSECONDS		0x00000002
#define NOTE_USECONDS		0x00000004
#define NOTE_NSECONDS		0x00000008
#define NOTE_ABSTIME		0x00000010
#define NOTE_TIMER_UNITS	(NOTE_SECONDS | NOTE_MSECONDS | \
				 NOTE_USECONDS | NOTE_NSECONDS)

struct kn_timer {
	struct hrtimer	timer;
	struct knote	*kn;
	ktime_t		period;		/* 0: fires once */
	atomic_t	expired;	/* expired since the last report */
};

/* What a (fflags, data) pair asks for. */
struct kn_timer_spec {
	ktime_t		when;		/* relative, or absolute REALTIME */
	ktime_t		period;		/* 0: fires once */
	bool		abstime;
};

static enum hrtimer_restart kn_timer_fire(struct hrtimer *t)
{
	struct kn_timer *kt = container_of(t, struct kn_timer, timer);

	/* Fully ordered: the scan sees it once it sees KN_ACTIVE. */
	atomic_xchg(&kt->expired, 1);
	kn_activate(kt->kn);
	return HRTIMER_NORESTART;
}

static int kn_timer_parse(const struct knote *kn, u32 fflags, s64 data,
			  struct kn_timer_spec *spec)
{
	u32 unit = fflags & NOTE_TIMER_UNITS;
	s64 mult, ns;

	if (data < 0 || (fflags & ~(NOTE_TIMER_UNITS | NOTE_ABSTIME)))
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

/* Start the (inactive) timer as spec says. */
static void kn_timer_start(struct kn_timer *kt,
			   const struct kn_timer_spec *spec)
{
	enum hrtimer_mode mode = spec->abstime ? HRTIMER_MODE_ABS :
						 HRTIMER_MODE_REL;

	hrtimer_init(&kt->timer, spec->abstime ? CLOCK_REALTIME :
			CLOCK_MONOTONIC, mode);
	kt->timer.function = kn_timer_fire;
	kt->period = spec->period;
	atomic_set(&kt->expired, 0);
	hrtimer_start(&kt->timer, spec->when, mode);
}

static int kn_timer_attach(struct knote *kn)
{
	struct kn_timer_spec spec;
	struct kn_timer *kt;
	int err;

	err = kn_timer_parse(kn, kn->sfflags, kn->sdata, &spec);
	if (err)
		return err;
	kt = kzalloc(sizeof(*kt), GFP_KERNEL_ACCOUNT);
	if (!kt)
		return -ENOMEM;
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
}

/*
 * A periodic timer has expired and is stopped (or its callback is
 * returning HRTIMER_NORESTART): count the periods that have ended since
 * its expiry, that one included, and move the expiry to the end of the
 * current one.  Unlike hrtimer_forward(), the period is not rounded up to
 * the timer resolution, so the count is exact however coarse the clock.
 */
static s64 kn_timer_forward(struct kn_timer *kt)
{
	ktime_t expires = hrtimer_get_expires(&kt->timer);
	ktime_t delta = ktime_sub(ktime_get(), expires);
	s64 n = 1, step;

	if (delta > 0)
		n += ktime_divns(delta, kt->period);
	if (check_mul_overflow(n, (s64)kt->period, &step))
		step = KTIME_MAX;
	hrtimer_set_expires(&kt->timer, ktime_add_safe(expires, step));
	return n;
}

static bool kn_timer_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_timer *kt = kn->fpriv;

	if (!atomic_read(&kt->expired))
		return false;
	ev->data = 1;
	if (peek)
		return true;
	if (!kt->period) {
		/* Fired once; without EV_CLEAR it stays reported. */
		if (kn->flags & EV_CLEAR)
			atomic_set(&kt->expired, 0);
		return true;
	}
	atomic_set(&kt->expired, 0);
	ev->data = kn_timer_forward(kt);
	hrtimer_start_expires(&kt->timer, HRTIMER_MODE_ABS);
	return true;
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
};
