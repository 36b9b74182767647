// SPDX-License-Identifier: GPL-2.0
/*
 * kq_user.c - per-user limits, like epoll's max_user_watches and inotify's
 * max_user_watches: one unprivileged user cannot pin unbounded kernel
 * memory, or make every other user's work slower, through /dev/kqueue.
 *
 * Each kqueue holds a reference to the kq_user of the effective uid that
 * opened it.  Every object one user can make the module keep is counted
 * there against a limit (enum kq_res); beyond it the call that asked for
 * one more fails with the errno its caller documents (ENOMEM for knotes).
 * Each limit is a module parameter, writable by root in
 * /sys/module/kqueue/parameters/; a value <= 0 at load means "the default",
 * which scales with memory.  The memory itself is also charged to the
 * caller's memory cgroup (GFP_KERNEL_ACCOUNT) where it is allocated.
 *
 *   max_user_knotes   knotes of every filter
 *   max_user_marks    EVFILT_VNODE: (inode, kqueue) fsnotify marks
 *   max_user_timers   EVFILT_TIMER: armed hrtimers
 *   max_user_tracked  EVFILT_PROC NOTE_TRACK: children forked but not yet
 *                     given their knotes
 *   max_user_rings    completion rings (kq_ring.c, 40 KiB each with their
 *                     bookkeeping); beyond it mmap() of a kqueue fails with
 *                     ENOMEM and the library does without the ring
 *
 * Locking: kq_users_lock (a spinlock) protects the hash of kq_user; the
 * counts are atomic, and charging never sleeps (it may run in atomic
 * context, e.g. at fork).
 */
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>

#include "kq.h"

struct kq_user {
	struct hlist_node	node;
	kuid_t			uid;
	refcount_t		refs;
	atomic_long_t		count[KQ_NR_RES];
};

/* The cost of one knote with one wait-queue entry, for the default. */
#define KQ_KNOTE_COST	(sizeof(struct knote) + 64)

long kq_user_max[KQ_NR_RES];
module_param_named(max_user_knotes, kq_user_max[KQ_RES_KNOTES], long, 0644);
MODULE_PARM_DESC(max_user_knotes, "Most knotes one user may register");
module_param_named(max_user_marks, kq_user_max[KQ_RES_MARKS], long, 0644);
MODULE_PARM_DESC(max_user_marks,
		 "Most (inode, kqueue) marks of EVFILT_VNODE per user");
module_param_named(max_user_timers, kq_user_max[KQ_RES_TIMERS], long, 0644);
MODULE_PARM_DESC(max_user_timers, "Most EVFILT_TIMER knotes per user");
module_param_named(max_user_tracked, kq_user_max[KQ_RES_TRACKED], long,
		   0644);
MODULE_PARM_DESC(max_user_tracked,
		 "Most NOTE_TRACK children awaiting their knotes per user");
module_param_named(max_user_rings, kq_user_max[KQ_RES_RINGS], long, 0644);
MODULE_PARM_DESC(max_user_rings,
		 "Most completion rings (mmap of a kqueue) per user");

static DEFINE_SPINLOCK(kq_users_lock);
static DEFINE_HASHTABLE(kq_users, 6);

int kq_user_init(void)
{
	long knotes = ((totalram_pages() / 25) << PAGE_SHIFT) / KQ_KNOTE_COST;

	if (kq_user_max[KQ_RES_KNOTES] <= 0)
		kq_user_max[KQ_RES_KNOTES] = knotes;
	/* inotify's default per user is 8192 (and scales with memory). */
	if (kq_user_max[KQ_RES_MARKS] <= 0)
		kq_user_max[KQ_RES_MARKS] = clamp(knotes / 64, 8192L, 1048576L);
	/* FreeBSD's kern.kq_calloutmax is 4096 for the whole system. */
	if (kq_user_max[KQ_RES_TIMERS] <= 0)
		kq_user_max[KQ_RES_TIMERS] = 4096;
	if (kq_user_max[KQ_RES_TRACKED] <= 0)
		kq_user_max[KQ_RES_TRACKED] = 4096;
	/* 2% of memory, as pipe-user-pages-soft is about on a small machine */
	if (kq_user_max[KQ_RES_RINGS] <= 0)
		kq_user_max[KQ_RES_RINGS] =
			max(256UL, totalram_pages() / 50 /
			    (KQ_RING_MAP_SIZE / PAGE_SIZE + 1));
	return 0;
}

struct kq_user *kq_user_get(void)
{
	kuid_t uid = current_euid();
	struct kq_user *u, *fresh;
	int i;

	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	spin_lock(&kq_users_lock);
	hash_for_each_possible(kq_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid)) {
			refcount_inc(&u->refs);
			goto out;
		}
	u = fresh;
	fresh = NULL;
	if (u) {
		u->uid = uid;
		refcount_set(&u->refs, 1);
		for (i = 0; i < KQ_NR_RES; i++)
			atomic_long_set(&u->count[i], 0);
		hash_add(kq_users, &u->node, __kuid_val(uid));
	}
out:
	spin_unlock(&kq_users_lock);
	kfree(fresh);
	return u;
}

/* One more reference to a kq_user the caller already holds one of. */
struct kq_user *kq_user_hold(struct kq_user *u)
{
	refcount_inc(&u->refs);
	return u;
}

void kq_user_put(struct kq_user *u)
{
	bool last;

	spin_lock(&kq_users_lock);
	last = refcount_dec_and_test(&u->refs);
	if (last)
		hash_del(&u->node);
	spin_unlock(&kq_users_lock);
	if (last)
		kfree(u);
}

/* Count one more res for u; false (nothing counted) beyond its limit. */
bool kq_user_charge_res(struct kq_user *u, enum kq_res res)
{
	if (atomic_long_inc_return(&u->count[res]) <=
	    READ_ONCE(kq_user_max[res]))
		return true;
	atomic_long_dec(&u->count[res]);
	return false;
}

void kq_user_uncharge_res(struct kq_user *u, enum kq_res res)
{
	atomic_long_dec(&u->count[res]);
}
