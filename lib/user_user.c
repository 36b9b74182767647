/*
 * user_user.c - EVFILT_USER of the user-space backend: no descriptor at
 * all.  A trigger puts the knote on the ready list; the kqueue's private
 * eventfd (user_core.c) then wakes threads sleeping in kevent() and makes
 * the kqueue descriptor readable.  The rules are the module's
 * (kmod/kq_filt_user.c): NOTE_TRIGGER at registration, on EV_ADD or with
 * flags 0 triggers; NOTE_FFNOP/FFAND/FFOR/FFCOPY combine the low 24 bits
 * into the saved fflags; every change stores data; EV_CLEAR in a change,
 * or a report of an EV_CLEAR knote, resets the trigger.
 *
 * State: kn->sfflags = saved low 24 bits | NOTE_TRIGGER while triggered;
 * kn->sdata = saved data.  kq->mtx held.
 */
#include "kq_internal.h"

static int user_attach(struct uknote *kn)
{
	kn->sfflags &= NOTE_FFLAGSMASK | NOTE_TRIGGER;
	if (kn->sfflags & NOTE_TRIGGER)
		kn_activate(kn);
	return 0;
}

static void user_detach(struct uknote *kn)
{
	(void)kn;
}

static int user_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	if (!(kn->sfflags & NOTE_TRIGGER))
		return 0;
	ev->fflags = kn->sfflags & NOTE_FFLAGSMASK;
	ev->data = kn->sdata;
	if (!peek && (kn->flags & EV_CLEAR))
		kn->sfflags &= ~NOTE_TRIGGER;
	return 1;
}

static int user_touch(struct uknote *kn, const struct kevent *kev)
{
	unsigned int saved = kn->sfflags & NOTE_FFLAGSMASK;
	unsigned int ff = kev->fflags & NOTE_FFLAGSMASK;
	bool triggered = kn->sfflags & NOTE_TRIGGER;

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
	default:
		break;
	}
	if (kev->fflags & NOTE_TRIGGER)
		triggered = true;
	if (kev->flags & EV_CLEAR)
		triggered = false;
	kn->sfflags = saved | (triggered ? NOTE_TRIGGER : 0);
	kn->sdata = kev->data;
	if (triggered && (kev->fflags & NOTE_TRIGGER))
		kn_activate(kn);
	return 0;
}

const struct ufilter ufilt_user = {
	.is_fd = false,
	.attach = user_attach,
	.detach = user_detach,
	.touch = user_touch,
	.check = user_check,
};
