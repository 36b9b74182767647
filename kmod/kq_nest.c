// SPDX-License-Identifier: GPL-2.0
/*
 * kq_nest.c - a kqueue watched by another kqueue.
 *
 * EVFILT_READ on a kqueue descriptor is an ordinary poll-based knote (the
 * inner kqueue's poll_wq wakes it); this file keeps the graph of such
 * registrations sane:
 *
 *   - a kqueue cannot watch itself (EINVAL);
 *   - no cycle (A in B in A) and no chain of more than KQ_MAX_NEST kqueues
 *     (ELOOP, as epoll does), so wake-ups and nested polls recurse a
 *     bounded number of times;
 *   - each kqueue's height (the longest chain of kqueues below it) is kept
 *     up to date: kq_wake_pollers() uses it as the lockdep subclass of the
 *     poll wait-queue locks, because waking an inner kqueue's pollers
 *     wakes the outer one's from inside.
 *
 * Locking: kq_nest_mutex protects every kq->nest_down / nest_up list and
 * kq->height.  It is taken with the outer kqueue's mtx held (registration
 * and drop of a knote), never the other way round.
 */
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "kq.h"

#define KQ_MAX_NEST	4	/* kqueues in one chain, outermost included */

struct kq_nest_link {
	struct list_head	down;	/* in outer->nest_down */
	struct list_head	up;	/* in inner->nest_up */
	struct kqueue		*outer;
	struct kqueue		*inner;
};

static DEFINE_MUTEX(kq_nest_mutex);

/*
 * Longest chain of kqueues below kq, or -ELOOP if target is among them or
 * the chain is too long.
 */
static int kq_depth_below(struct kqueue *kq, struct kqueue *target,
			  int depth)
{
	struct kq_nest_link *l;
	int max = 0;

	if (kq == target || depth >= KQ_MAX_NEST)
		return -ELOOP;
	list_for_each_entry(l, &kq->nest_down, down) {
		int d = kq_depth_below(l->inner, target, depth + 1);

		if (d < 0)
			return d;
		max = max(max, d + 1);
	}
	return max;
}

/* Longest chain of kqueues above kq. */
static int kq_depth_above(struct kqueue *kq, int depth)
{
	struct kq_nest_link *l;
	int max = 0;

	if (depth >= KQ_MAX_NEST)
		return KQ_MAX_NEST;
	list_for_each_entry(l, &kq->nest_up, up)
		max = max(max, kq_depth_above(l->outer, depth + 1) + 1);
	return max;
}

/* Recompute kq's height, then its watchers'. */
static void kq_update_height(struct kqueue *kq, int depth)
{
	struct kq_nest_link *l;
	int h = 0;

	list_for_each_entry(l, &kq->nest_down, down)
		h = max(h, READ_ONCE(l->inner->height) + 1);
	WRITE_ONCE(kq->height, h);
	if (depth >= KQ_MAX_NEST)
		return;
	list_for_each_entry(l, &kq->nest_up, up)
		kq_update_height(l->outer, depth + 1);
}

/* kn (in kn->kq) is about to watch the kqueue inner (outer's mtx held). */
int kq_nest_attach(struct knote *kn, struct kqueue *inner)
{
	struct kqueue *outer = kn->kq;
	struct kq_nest_link *l;
	int below, above;

	if (inner == outer)
		return -EINVAL;
	l = kmalloc(sizeof(*l), GFP_KERNEL_ACCOUNT);
	if (!l)
		return -ENOMEM;

	mutex_lock(&kq_nest_mutex);
	below = kq_depth_below(inner, outer, 1);
	above = kq_depth_above(outer, 0);
	if (below < 0 || above + 1 + below + 1 > KQ_MAX_NEST) {
		mutex_unlock(&kq_nest_mutex);
		kfree(l);
		return -ELOOP;
	}
	l->outer = outer;
	l->inner = inner;
	list_add(&l->down, &outer->nest_down);
	list_add(&l->up, &inner->nest_up);
	kq_update_height(outer, 0);
	mutex_unlock(&kq_nest_mutex);
	kn->nest = l;
	return 0;
}

void kq_nest_detach(struct knote *kn)
{
	struct kq_nest_link *l = kn->nest;

	mutex_lock(&kq_nest_mutex);
	list_del(&l->down);
	list_del(&l->up);
	kq_update_height(l->outer, 0);
	mutex_unlock(&kq_nest_mutex);
	kfree(l);
	kn->nest = NULL;
}
