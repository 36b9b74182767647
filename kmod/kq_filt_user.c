// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_user.c - EVFILT_USER: events that user space triggers itself;
 * ident is any number.
 *
 * A knote is triggered by NOTE_TRIGGER in fflags: at registration, with
 * EV_ADD on an existing knote, or with flags 0 (a plain trigger).  Every
 * change also combines the low 24 bits of its fflags (NOTE_FFLAGSMASK)
 * into the knote's saved fflags as NOTE_FFCTRLMASK says: NOTE_FFNOP
 * ignores them, NOTE_FFAND ands, NOTE_FFOR ors, NOTE_FFCOPY replaces; and
 * every change stores its data (FreeBSD's filt_usertouch).  A change with
 * EV_CLEAR in its flags resets the triggered state.
 *
 * While triggered the knote reports fflags = the saved low 24 bits and
 * data = the saved data.  With EV_CLEAR the triggered state is reset by
 * the report; without it the knote is reported at every kevent() until a
 * change with EV_CLEAR resets it or it is deleted (EV_DISPATCH: until it
 * is re-enabled, then again).
 *
 * Differences from FreeBSD 14: NOTE_TRIGGER at registration triggers the
 * knote (FreeBSD ignores it there; macOS, OpenBSD and libkqueue honour
 * it), and the fflags reported are always masked with NOTE_FFLAGSMASK
 * (FreeBSD reports the registration's fflags unmasked until the first
 * change); at registration the saved fflags are the low 24 bits given,
 * whatever NOTE_FFCTRLMASK says.
 *
 * State: kn->sfflags holds the saved fflags in its low 24 bits and the
 * triggered state in the NOTE_TRIGGER bit; kn->sdata the saved data.
 * Both change only under kq->mtx (attach, touch, event, ring_unpost), so
 * nothing is allocated and there is no source to detach from.
 *
 * With the completion ring a trigger's report is posted there at once
 * (kn_activate_report()); for EV_CLEAR that consumes the triggered state,
 * as the scan's report does.  While nobody took the entry, later changes
 * update it (new fflags and data) and a change with EV_CLEAR retracts it;
 * an entry taken back unread (ring_unpost) is triggered again.
 */
#include "kq.h"

static int kn_user_attach(struct knote *kn)
{
	kn->sfflags &= NOTE_FFLAGSMASK | NOTE_TRIGGER;
	if (kn->sfflags & NOTE_TRIGGER)
		kn_activate(kn);
	return 0;
}

static void kn_user_detach(struct knote *kn)
{
}

static bool kn_user_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	if (!(kn->sfflags & NOTE_TRIGGER))
		return false;
	ev->fflags = kn->sfflags & NOTE_FFLAGSMASK;
	ev->data = kn->sdata;
	if (!peek && (kn->flags & EV_CLEAR))
		kn->sfflags &= ~NOTE_TRIGGER;
	return true;
}

static int kn_user_touch(struct knote *kn, const struct kq_uevent *kev)
{
	u32 saved = kn->sfflags & NOTE_FFLAGSMASK;
	u32 ff = kev->fflags & NOTE_FFLAGSMASK;
	bool triggered = kn->sfflags & NOTE_TRIGGER;
	struct kq_uevent rep = { };

	switch (kev->fflags & NOTE_FFCTRLMASK) {
	case NOTE_FFAND:
		saved &= ff;
		break;
	case NOTE_FFOR:
		saved |= ff;
		break;
	case NOTE_FFCOPY:
		saved = ff;
		break;
	default:		/* NOTE_FFNOP */
		break;
	}
	if (kev->fflags & NOTE_TRIGGER)
		triggered = true;
	if (kev->flags & EV_CLEAR)
		triggered = false;
	kn->sfflags = saved | (triggered ? NOTE_TRIGGER : 0);
	kn->sdata = kev->data;
	if (kev->flags & EV_CLEAR) {
		kn_ring_cancel(kn);
		return 0;
	}
	rep.fflags = saved;
	rep.data = kn->sdata;
	if (triggered && (kev->fflags & NOTE_TRIGGER)) {
		if (kn_activate_report(kn, &rep, true, false) &&
		    (kn->flags & EV_CLEAR))
			kn->sfflags &= ~NOTE_TRIGGER;
	} else {
		kn_ring_refresh(kn, &rep);
	}
	return 0;
}

static void kn_user_ring_unpost(struct knote *kn, const struct kq_uevent *ev)
{
	kn->sfflags |= NOTE_TRIGGER;
}

const struct kq_filterops kq_user_filtops = {
	.is_fd	= false,
	.attach	= kn_user_attach,
	.detach	= kn_user_detach,
	.event	= kn_user_event,
	.touch	= kn_user_touch,
	.ring_unpost = kn_user_ring_unpost,
};
