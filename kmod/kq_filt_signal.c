// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_signal.c - EVFILT_SIGNAL: count the signals sent to a process.
 *
 * ident is a signal number (1.._NSIG); data reports how many times the
 * signal was generated for the process since the last report (EV_CLEAR is
 * always set).  The signal itself is only observed: it is still ignored,
 * handled, left pending while blocked, exactly as without the knote.  The
 * process is the thread group of the task that registered the knote; a
 * signal sent to any of its threads (tgkill, pthread_kill) counts, signals
 * of other processes never do.
 *
 * What counts, as FreeBSD's tdsendsignal() records every attempt before it
 * looks at the disposition (the signal_generate tracepoint's result):
 *
 *   TRACE_SIGNAL_DELIVERED        queued or acted upon          counted
 *   TRACE_SIGNAL_IGNORED          SIG_IGN, or SIG_DFL whose     counted
 *                                 default is to ignore
 *   TRACE_SIGNAL_ALREADY_PENDING  a standard signal already     counted
 *                                 pending: coalesced, but it
 *                                 was generated
 *   TRACE_SIGNAL_LOSE_INFO        delivered without siginfo     counted
 *   TRACE_SIGNAL_OVERFLOW_FAIL    an rt signal the queue had    not counted
 *                                 no room for: the sender got
 *                                 EAGAIN, nothing happened
 *
 * SIGCHLD with SIG_IGN: Linux does not generate it at all when a child
 * exits (the child is reaped at once), so it is not counted, which is what
 * FreeBSD documents; an explicit kill(SIGCHLD) is counted on both.
 *
 * The source is the signal_generate tracepoint, registered at module load.
 * Its probe runs under the target's siglock with interrupts off, possibly
 * in hard irq (timers): it only looks the knotes up and counts.  With no
 * signal knote in the system it returns after one atomic read.
 *
 * Knotes are found through a small hash keyed by (owner's tgid struct pid,
 * signal); each bucket has an irq-safe spinlock.  The probe holds the
 * bucket lock while it touches a knote, and detach unhashes under the same
 * lock, so once detach returns no probe can reach the knote.  The struct
 * pid is held by the knote: it is never reused while the knote lives.
 *
 * Locking: bucket lock (irq-safe) -> kq->lock (inside kn_activate()); the
 * probe takes both under siglock.  attach/detach/event run under kq->mtx.
 */
#include <linux/atomic.h>
#include <linux/hash.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <trace/events/signal.h>

#include "kq.h"

#define KS_HASH_BITS	6

struct ks_bucket {
	spinlock_t		lock;		/* irq-safe; guards head */
	struct hlist_head	head;
};

/* A signal knote's state (kn->fpriv). */
struct kn_sig {
	struct hlist_node	hnode;		/* ks_hash, under bucket lock */
	struct pid		*owner;		/* tgid of the registering task */
	int			sig;
	atomic_long_t		count;		/* generations not yet reported */
	struct knote		*kn;
};

static struct ks_bucket ks_hash[1 << KS_HASH_BITS];
static atomic_t ks_nr = ATOMIC_INIT(0);	/* knotes in ks_hash */
static struct tracepoint *ks_tp;

static struct ks_bucket *ks_bucket(const struct pid *owner, int sig)
{
	return &ks_hash[hash_long((unsigned long)owner ^ sig, KS_HASH_BITS)];
}

static bool ks_counted(int result)
{
	switch (result) {
	case TRACE_SIGNAL_DELIVERED:
	case TRACE_SIGNAL_IGNORED:
	case TRACE_SIGNAL_ALREADY_PENDING:
	case TRACE_SIGNAL_LOSE_INFO:
		return true;
	default:
		return false;
	}
}

/* signal_generate: under task's siglock, irqs off, any context. */
static void ks_probe(void *data, int sig, struct kernel_siginfo *info,
		     struct task_struct *task, int group, int result)
{
	struct ks_bucket *b;
	struct kn_sig *ks;
	struct pid *owner;
	unsigned long flags;

	if (likely(!atomic_read(&ks_nr)) || !ks_counted(result))
		return;
	owner = task_tgid(task);
	b = ks_bucket(owner, sig);
	spin_lock_irqsave(&b->lock, flags);
	hlist_for_each_entry(ks, &b->head, hnode) {
		if (ks->owner != owner || ks->sig != sig)
			continue;
		atomic_long_inc(&ks->count);
		kn_activate(ks->kn);
	}
	spin_unlock_irqrestore(&b->lock, flags);
}

/* No build if the probe does not match this kernel's tracepoint. */
static_assert(sizeof(register_trace_signal_generate(ks_probe, NULL)));

static int ks_attach(struct knote *kn)
{
	struct ks_bucket *b;
	struct kn_sig *ks;
	unsigned long flags;

	if (kn->ident == 0 || kn->ident > _NSIG)
		return -EINVAL;
	ks = kzalloc(sizeof(*ks), GFP_KERNEL_ACCOUNT);
	if (!ks)
		return -ENOMEM;
	ks->owner = get_task_pid(current, PIDTYPE_TGID);
	ks->sig = (int)kn->ident;
	ks->kn = kn;
	atomic_long_set(&ks->count, 0);
	kn->fpriv = ks;
	kn->flags |= EV_CLEAR;

	b = ks_bucket(ks->owner, ks->sig);
	spin_lock_irqsave(&b->lock, flags);
	hlist_add_head(&ks->hnode, &b->head);
	spin_unlock_irqrestore(&b->lock, flags);
	atomic_inc(&ks_nr);
	return 0;
}

static void ks_detach(struct knote *kn)
{
	struct kn_sig *ks = kn->fpriv;
	struct ks_bucket *b = ks_bucket(ks->owner, ks->sig);
	unsigned long flags;

	/* After this no probe can see ks: it looks only under the lock. */
	spin_lock_irqsave(&b->lock, flags);
	hlist_del(&ks->hnode);
	spin_unlock_irqrestore(&b->lock, flags);
	atomic_dec(&ks_nr);
	put_pid(ks->owner);
	kfree(ks);
	kn->fpriv = NULL;
}

static bool ks_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_sig *ks = kn->fpriv;
	long n;

	if (peek)
		n = atomic_long_read(&ks->count);
	else
		n = atomic_long_xchg(&ks->count, 0);
	ev->data = n;
	return n > 0;
}

static void ks_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "signal_generate"))
		*(struct tracepoint **)priv = tp;
}

static int ks_init(void)
{
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(ks_hash); i++) {
		spin_lock_init(&ks_hash[i].lock);
		INIT_HLIST_HEAD(&ks_hash[i].head);
	}
	for_each_kernel_tracepoint(ks_find_tp, &ks_tp);
	if (!ks_tp) {
		pr_err("kqueue: no signal_generate tracepoint\n");
		return -ENOENT;
	}
	err = tracepoint_probe_register(ks_tp, ks_probe, NULL);
	if (err)
		ks_tp = NULL;
	return err;
}

static void ks_exit(void)
{
	if (!ks_tp)
		return;
	tracepoint_probe_unregister(ks_tp, ks_probe, NULL);
	tracepoint_synchronize_unregister();
	ks_tp = NULL;
}

const struct kq_filterops kq_signal_filtops = {
	.attach	= ks_attach,
	.detach	= ks_detach,
	.event	= ks_event,
	.init	= ks_init,
	.exit	= ks_exit,
};
