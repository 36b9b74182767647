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
 * The graph has one edge (struct kq_nest_link) per (outer, inner) pair of
 * kqueues, however many knotes of the outer one watch descriptors of the
 * inner one (dup()s of one kqueue fd are one edge with a count), so its
 * size is bounded by the number of kqueues, not by the knotes.  Every
 * kqueue keeps two numbers, both exact at all times:
 *
 *   height  the longest chain of edges below it (0: it watches none)
 *   depth   the longest chain of edges above it (0: nobody watches it)
 *
 * and, so that both can be recomputed from its neighbours in O(1), how
 * many of its edges lead to a kqueue of each height (nest_below[]) and
 * come from a kqueue of each depth (nest_above[]).
 *
 * Checking a new edge outer -> inner is then O(1): the longest chain
 * through it has depth(outer) + 1 + height(inner) + 1 kqueues.  If that is
 * within KQ_MAX_NEST, a cycle through the new edge could only close over
 * an existing edge inner -> outer: were outer d edges below inner, then
 * depth(outer) >= d and height(inner) >= d, so 2d <= KQ_MAX_NEST - 2 = 2.
 * One hash lookup answers that.
 *
 * Adding or removing an edge changes heights above it and depths below
 * it.  A change is passed on only to the neighbours of a kqueue whose
 * number changed, and the numbers only grow (add) or only shrink (remove)
 * within one update and are below KQ_MAX_NEST, so one update costs at most
 * KQ_MAX_NEST passes over the edges of the kqueues it reaches: linear in
 * the registrations of the caller's own chain, never exponential.
 *
 * Locking: kq_nest_mutex protects the edge hash, every kq->nest_down /
 * nest_up list, every link's count, and each kqueue's height, depth and
 * nest_below/nest_above.  It is taken with the outer kqueue's mtx held
 * (registration and drop of a knote), never the other way round.
 * kq->height is also read without it (READ_ONCE) by kq_wake_pollers().
 */
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "kq.h"

struct kq_nest_key {
	struct kqueue		*outer;
	struct kqueue		*inner;
};

struct kq_nest_link {
	struct rhash_head	hnode;	/* in kq_nest_edges */
	struct kq_nest_key	key;
	struct list_head	down;	/* in outer->nest_down */
	struct list_head	up;	/* in inner->nest_up */
	unsigned int		nknotes; /* knotes of outer on inner */
	struct rcu_head		rcu;
};

static const struct rhashtable_params kq_nest_params = {
	.key_len		= sizeof(struct kq_nest_key),
	.key_offset		= offsetof(struct kq_nest_link, key),
	.head_offset		= offsetof(struct kq_nest_link, hnode),
	.automatic_shrinking	= true,
};

static DEFINE_MUTEX(kq_nest_mutex);
static struct rhashtable kq_nest_edges;

int kq_nest_init(void)
{
	return rhashtable_init(&kq_nest_edges, &kq_nest_params);
}

/* Every kqueue is gone, and with it every edge. */
void kq_nest_exit(void)
{
	rhashtable_destroy(&kq_nest_edges);
}

static struct kq_nest_link *kq_nest_find(struct kqueue *outer,
					 struct kqueue *inner)
{
	struct kq_nest_key key = { .outer = outer, .inner = inner };

	return rhashtable_lookup_fast(&kq_nest_edges, &key, kq_nest_params);
}

/* 0 without edges, else one more than the highest level counted. */
static int kq_nest_level(const unsigned int *count)
{
	int i;

	for (i = KQ_MAX_NEST - 1; i >= 0; i--)
		if (count[i])
			return i + 1;
	return 0;
}

/* Move one edge of a count from level old to level new. */
static void kq_nest_move(unsigned int *count, int old, int new)
{
	count[old]--;
	count[new]++;
}

static void kq_nest_height_changed(struct kqueue *kq, int old);
static void kq_nest_depth_changed(struct kqueue *kq, int old);

/* Recompute kq's height from nest_below[]; pass a change on upwards. */
static void kq_nest_fix_height(struct kqueue *kq)
{
	int old = kq->height;
	int h = kq_nest_level(kq->nest_below);

	if (h == old)
		return;
	WRITE_ONCE(kq->height, h);
	kq_nest_height_changed(kq, old);
}

/* Recompute kq's depth from nest_above[]; pass a change on downwards. */
static void kq_nest_fix_depth(struct kqueue *kq)
{
	int old = kq->nest_depth;
	int d = kq_nest_level(kq->nest_above);

	if (d == old)
		return;
	kq->nest_depth = d;
	kq_nest_depth_changed(kq, old);
}

/*
 * The recursion below follows one chain of kqueues, so it is at most
 * KQ_MAX_NEST deep: heights and depths never reach KQ_MAX_NEST.
 */
static void kq_nest_height_changed(struct kqueue *kq, int old)
{
	struct kq_nest_link *l;

	list_for_each_entry(l, &kq->nest_up, up) {
		kq_nest_move(l->key.outer->nest_below, old, kq->height);
		kq_nest_fix_height(l->key.outer);
		cond_resched();
	}
}

static void kq_nest_depth_changed(struct kqueue *kq, int old)
{
	struct kq_nest_link *l;

	list_for_each_entry(l, &kq->nest_down, down) {
		kq_nest_move(l->key.inner->nest_above, old, kq->nest_depth);
		kq_nest_fix_depth(l->key.inner);
		cond_resched();
	}
}

/* kn (in kn->kq) is about to watch the kqueue inner (outer's mtx held). */
int kq_nest_attach(struct knote *kn, struct kqueue *inner)
{
	struct kqueue *outer = kn->kq;
	struct kq_nest_link *l, *fresh;
	int err = 0;

	if (inner == outer)
		return -EINVAL;
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!fresh)
		return -ENOMEM;

	mutex_lock(&kq_nest_mutex);
	l = kq_nest_find(outer, inner);
	if (l) {
		/* One more knote on an edge that was already checked. */
		l->nknotes++;
		goto out;
	}
	if (outer->nest_depth + 1 + inner->height + 1 > KQ_MAX_NEST ||
	    kq_nest_find(inner, outer)) {
		err = -ELOOP;
		goto out;
	}
	l = fresh;
	l->key.outer = outer;
	l->key.inner = inner;
	l->nknotes = 1;
	err = rhashtable_insert_fast(&kq_nest_edges, &l->hnode,
				     kq_nest_params);
	if (err) {
		err = -ENOMEM;
		goto out;
	}
	fresh = NULL;
	list_add(&l->down, &outer->nest_down);
	list_add(&l->up, &inner->nest_up);
	outer->nest_below[inner->height]++;
	kq_nest_fix_height(outer);
	inner->nest_above[outer->nest_depth]++;
	kq_nest_fix_depth(inner);
out:
	mutex_unlock(&kq_nest_mutex);
	kfree(fresh);
	if (!err)
		kn->nest = l;
	return err;
}

void kq_nest_detach(struct knote *kn)
{
	struct kq_nest_link *l = kn->nest;
	struct kqueue *outer = l->key.outer, *inner = l->key.inner;

	kn->nest = NULL;
	mutex_lock(&kq_nest_mutex);
	if (--l->nknotes) {
		mutex_unlock(&kq_nest_mutex);
		return;
	}
	rhashtable_remove_fast(&kq_nest_edges, &l->hnode, kq_nest_params);
	list_del(&l->down);
	list_del(&l->up);
	outer->nest_below[inner->height]--;
	kq_nest_fix_height(outer);
	inner->nest_above[outer->nest_depth]--;
	kq_nest_fix_depth(inner);
	mutex_unlock(&kq_nest_mutex);
	/* rhashtable lookups run under RCU. */
	kfree_rcu(l, rcu);
}
