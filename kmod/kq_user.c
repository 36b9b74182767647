// SPDX-License-Identifier: GPL-2.0
/*
 * kq_user.c - per-user limit on knotes, like epoll's max_user_watches:
 * one user cannot pin unbounded kernel memory through /dev/kqueue.
 *
 * Each kqueue holds a reference to the kq_user of the effective uid that
 * opened it; every knote is charged to it.  Beyond max_user_knotes
 * (module parameter, writable by root; default: 4% of low memory divided
 * by the cost of a knote) EV_ADD fails with ENOMEM.  The memory itself is
 * also charged to the caller's memory cgroup (GFP_KERNEL_ACCOUNT).
 *
 * Locking: kq_users_lock (a spinlock) protects the hash of kq_user; the
 * count is atomic.
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
	atomic_long_t		nknotes;
};

/* The cost of one knote with one wait-queue entry, for the default. */
#define KQ_KNOTE_COST	(sizeof(struct knote) + 64)

long kq_max_user_knotes;
module_param_named(max_user_knotes, kq_max_user_knotes, long, 0644);
MODULE_PARM_DESC(max_user_knotes, "Most knotes one user may register");

static DEFINE_SPINLOCK(kq_users_lock);
static DEFINE_HASHTABLE(kq_users, 6);

int kq_user_init(void)
{
	if (kq_max_user_knotes <= 0)
		kq_max_user_knotes = ((totalram_pages() / 25) << PAGE_SHIFT) /
				     KQ_KNOTE_COST;
	return 0;
}

struct kq_user *kq_user_get(void)
{
	kuid_t uid = current_euid();
	struct kq_user *u, *fresh;

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
		atomic_long_set(&u->nknotes, 0);
		hash_add(kq_users, &u->node, __kuid_val(uid));
	}
out:
	spin_unlock(&kq_users_lock);
	kfree(fresh);
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

bool kq_user_charge(struct kq_user *u)
{
	if (atomic_long_inc_return(&u->nknotes) <=
	    READ_ONCE(kq_max_user_knotes))
		return true;
	atomic_long_dec(&u->nknotes);
	return false;
}

void kq_user_uncharge(struct kq_user *u)
{
	atomic_long_dec(&u->nknotes);
}
