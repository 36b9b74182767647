/*
 * user_timer.c - EVFILT_TIMER of the user-space backend: one timerfd per
 * knote (CLOCK_MONOTONIC, or CLOCK_REALTIME with TFD_TIMER_ABSTIME for
 * NOTE_ABSTIME), in the kqueue's epoll set.  The rules are the module's
 * (kmod/kq_filt_timer.c, after FreeBSD 14): data is the period in ms or in
 * the unit NOTE_SECONDS/MSECONDS/USECONDS/NSECONDS names; periodic unless
 * EV_ONESHOT or NOTE_ABSTIME; a period of 0 means 1 unit, EV_ONESHOT with 0
 * fires at once; relative timers get EV_CLEAR; an NOTE_ABSTIME timer
 * without EV_CLEAR stays reported (data 1) once its deadline passed;
 * reported data = expirations since the last report (the timerfd's count);
 * EV_ADD on an existing timer restarts it; negative data, unknown fflags or
 * two units: EINVAL (an invalid EV_ADD leaves the timer as it was).
 *
 * Each timer costs a descriptor (RLIMIT_NOFILE applies).  kq->mtx held.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/time_types.h>

#include "kq_internal.h"

#define UNITS	(NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS)
#define FIRED	1	/* kn->aux: an NOTE_ABSTIME deadline has passed */

static int timer_valid(const struct kevent *kev)
{
	unsigned int u = kev->fflags & UNITS;

	if (kev->data < 0 || (kev->fflags & ~(UNITS | NOTE_ABSTIME)))
		return EINVAL;
	if (u & (u - 1))
		return EINVAL;
	return 0;
}

static int64_t unit_ns(unsigned int fflags)
{
	switch (fflags & UNITS) {
	case NOTE_SECONDS: return 1000000000;
	case NOTE_USECONDS: return 1000;
	case NOTE_NSECONDS: return 1;
	default: return 1000000;
	}
}

/*
 * The timerfd is set through the system call that takes 64-bit seconds
 * (struct __kernel_itimerspec), also from a 32-bit program: its struct
 * timespec has a 32-bit time_t, in which an absolute time after 2038, or
 * a relative one of more than 68 years, would wrap.  On x86-64 that is
 * timerfd_settime itself; i386 has timerfd_settime64.
 */
#ifdef SYS_timerfd_settime64
#define KQ_SYS_TIMERFD_SETTIME	SYS_timerfd_settime64
#else
#define KQ_SYS_TIMERFD_SETTIME	SYS_timerfd_settime
#endif

static struct __kernel_timespec ns_ts(int64_t ns)
{
	struct __kernel_timespec ts = { ns / 1000000000, ns % 1000000000 };

	return ts;
}

static int timer_arm(struct uknote *kn)
{
	struct __kernel_itimerspec its = { 0 };
	int64_t unit = unit_ns(kn->sfflags), ns;
	int flags = 0;

	ns = kn->sdata > INT64_MAX / unit ? INT64_MAX : kn->sdata * unit;
	if (kn->sfflags & NOTE_ABSTIME) {
		its.it_value = ns_ts(ns > 0 ? ns : 1);
		flags = TFD_TIMER_ABSTIME;
	} else if (kn->flags & EV_ONESHOT) {
		its.it_value = ns_ts(ns > 0 ? ns : 1);
	} else {
		its.it_value = ns_ts(ns > 0 ? ns : unit);
		its.it_interval = its.it_value;
	}
	kn->count = 0;
	kn->aux = 0;
	if (syscall(KQ_SYS_TIMERFD_SETTIME, kn->src->fd, flags, &its,
		    NULL) < 0)
		return errno;
	return 0;
}

static int timer_attach(struct uknote *kn)
{
	struct kevent kev = { .fflags = kn->sfflags, .data = kn->sdata };
	int err = timer_valid(&kev);
	int fd;

	if (err)
		return err;
	fd = timerfd_create((kn->sfflags & NOTE_ABSTIME) ? CLOCK_REALTIME :
			    CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return errno;
	kn->src = usrc_new(kn->kq, SRC_TIMER, fd);
	if (!kn->src) {
		close(fd);
		return ENOMEM;
	}
	kn->src->kn[0] = kn;
	err = usrc_epoll_add(kn->kq, kn->src, EPOLLIN);
	if (!err)
		err = -timer_arm(kn);
	if (err) {
		usrc_free(kn->kq, kn->src);
		return -err;
	}
	if (!(kn->sfflags & NOTE_ABSTIME))
		kn->flags |= EV_CLEAR;
	return 0;
}

static void timer_detach(struct uknote *kn)
{
	usrc_free(kn->kq, kn->src);
}

static int timer_touch(struct uknote *kn, const struct kevent *kev)
{
	int err;

	if (!(kev->flags & EV_ADD))
		return 0;
	err = timer_valid(kev);
	if (err)
		return err;
	if ((kev->fflags & NOTE_ABSTIME) != (kn->sfflags & NOTE_ABSTIME)) {
		/* Another clock: a new timerfd. */
		int fd = timerfd_create((kev->fflags & NOTE_ABSTIME) ?
					CLOCK_REALTIME : CLOCK_MONOTONIC,
					TFD_NONBLOCK | TFD_CLOEXEC);
		struct epoll_event ee = { .events = EPOLLIN | EPOLLET,
					  .data.u64 = kn->src->id };

		if (fd < 0)
			return errno;
		if (epoll_ctl(kn->kq->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			err = errno;
			close(fd);
			return err;
		}
		close(kn->src->fd);
		kn->src->fd = fd;
	}
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	return timer_arm(kn);
}

static void timer_collect(struct uknote *kn)
{
	uint64_t n;

	if (read(kn->src->fd, &n, sizeof(n)) == sizeof(n)) {
		kn->count += n;
		if (kn->sfflags & NOTE_ABSTIME)
			kn->aux = FIRED;
	}
}

static int timer_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	timer_collect(kn);
	if ((kn->sfflags & NOTE_ABSTIME) && !(kn->flags & EV_CLEAR) &&
	    kn->aux == FIRED) {
		ev->data = 1;
		return 1;
	}
	if (!kn->count)
		return 0;
	ev->data = (int64_t)kn->count;
	if (!peek)
		kn->count = 0;
	return 1;
}

static void timer_event(struct usrc *src, uint32_t events)
{
	(void)events;
	kn_activate(src->kn[0]);
}

const struct ufilter ufilt_timer = {
	.is_fd = false,
	.attach = timer_attach,
	.detach = timer_detach,
	.touch = timer_touch,
	.check = timer_check,
	.source_event = timer_event,
};
