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
 * signal knote in the system it returns after one atomic read.  With the
 * completion ring the count goes there (kn_activate_count()): added to
 * the knote's entry while nobody took it, else a new entry; an entry
 * taken back unread (EV_DISABLE, queueing for the scan) is added back to
 * the knote's count (ks_ring_unpost()).
 *
 * Knotes are found through a resizable hash table (rhashtable) of
 * entries, one per (process, signal) watched, each with the list of its
 * knotes: a signal costs one lookup, then one step per knote watching
 * that very signal of that very process (which only that process could
 * register), so no process's knotes slow down the signals of another.
 * The probe looks up under RCU and walks the entry's list under the
 * entry's irq-safe spinlock; detach unlinks the knote under the same lock,
 * so once detach returns no probe can reach the knote.  Entries are made
 * and removed under ks_mutex (process context; O(1) work under it) and
 * freed after an RCU grace period.  An entry holds the process's struct
 * pid: it is never reused while the entry lives.
 *
 * An exec that gains privileges (setuid, setgid, file capabilities: the
 * kernel's AT_SECURE exec) ends the counting for the process's knotes:
 * they stay registered but report nothing further.  The kqueue may have
 * been shared (clone(CLONE_FILES)) with a process that keeps it across
 * that exec, and the signals a privileged program receives are not that
 * process's business.  (The exec'ing process itself cannot use the kqueue
 * any more: exec unshares its descriptor table.)  The sched_process_exec
 * tracepoint gives the exec.
 *
 * Locking: ks_mutex -> entry lock (irq-safe) -> kq->lock (inside
 * kn_activate()); the probe takes the last two under siglock.
 * attach/detach/event run under kq->mtx, above ks_mutex.
 */
#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/hash.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <trace/events/sched.h>
#include <trace/events/signal.h>

#include "kq.h"

/* What an entry is found by (no padding: it is hashed as bytes). */
struct ks_key {
	struct pid		*owner;		/* the process's tgid, held */
	unsigned long		sig;
};

/* The knotes watching one signal of one process. */
struct ks_entry {
	struct rhash_head	node;		/* ks_table */
	struct ks_key		key;
	spinlock_t		lock;		/* irq-safe; guards knotes */
	struct hlist_head	knotes;
	unsigned int		users;		/* kn_sig on it, under ks_mutex */
	struct rcu_head		rcu;
};

/* A signal knote's state (kn->fpriv). */
struct kn_sig {
	struct hlist_node	hnode;		/* entry->knotes, unless revoked */
	struct ks_entry		*entry;
	atomic_long_t		count;		/* generations not yet reported */
	struct knote		*kn;
};

static const struct rhashtable_params ks_params = {
	.key_len		= sizeof(struct ks_key),
	.key_offset		= offsetof(struct ks_entry, key),
	.head_offset		= offsetof(struct ks_entry, node),
	.automatic_shrinking	= true,
};

static struct rhashtable ks_table;
static bool ks_table_ready;
static DEFINE_MUTEX(ks_mutex);
static atomic_t ks_nr = ATOMIC_INIT(0);	/* signal knotes */
static struct tracepoint *ks_tp, *ks_tp_exec;

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
	struct ks_key key = { .owner = task_tgid(task), .sig = sig };
	struct ks_entry *e;
	struct kn_sig *ks;
	unsigned long flags;

	if (likely(!atomic_read(&ks_nr)) || !ks_counted(result))
		return;
	rcu_read_lock();
	e = rhashtable_lookup(&ks_table, &key, ks_params);
	if (e) {
		spin_lock_irqsave(&e->lock, flags);
		hlist_for_each_entry(ks, &e->knotes, hnode)
			kn_activate_count(ks->kn, &ks->count, 1);
		spin_unlock_irqrestore(&e->lock, flags);
	}
	rcu_read_unlock();
}

/* sched_process_exec: a privileged exec ends the process's counting. */
static void ks_exec_probe(void *data, struct task_struct *p, pid_t old_pid,
			  struct linux_binprm *bprm)
{
	struct ks_key key = { .owner = task_tgid(p) };
	struct ks_entry *e;
	struct hlist_node *tmp;
	struct kn_sig *ks;
	unsigned long flags;

	if (likely(!atomic_read(&ks_nr)) || !bprm->secureexec)
		return;
	rcu_read_lock();
	for (key.sig = 1; key.sig <= _NSIG; key.sig++) {
		e = rhashtable_lookup(&ks_table, &key, ks_params);
		if (!e)
			continue;
		spin_lock_irqsave(&e->lock, flags);
		hlist_for_each_entry_safe(ks, tmp, &e->knotes, hnode)
			hlist_del_init(&ks->hnode);
		spin_unlock_irqrestore(&e->lock, flags);
	}
	rcu_read_unlock();
}

/* No build if the probe does not match this kernel's tracepoint. */
static_assert(sizeof(register_trace_signal_generate(ks_probe, NULL)));
static_assert(sizeof(register_trace_sched_process_exec(ks_exec_probe, NULL)));

static void ks_entry_free(struct rcu_head *rcu)
{
	kfree(container_of(rcu, struct ks_entry, rcu));
}

/*
 * The entry for (current's process, sig) (ks_mutex held); fresh (made
 * before, so that nothing waits for memory under the mutex) becomes it if
 * there is none, else the caller frees it.  NULL: no room in the table.
 */
static struct ks_entry *ks_entry_get(int sig, struct ks_entry **fresh)
{
	struct ks_key key = { .owner = task_tgid(current), .sig = sig };
	struct ks_entry *e;

	e = rhashtable_lookup_fast(&ks_table, &key, ks_params);
	if (e)
		return e;
	e = *fresh;
	e->key.owner = get_pid(key.owner);
	e->key.sig = sig;
	spin_lock_init(&e->lock);
	INIT_HLIST_HEAD(&e->knotes);
	if (rhashtable_insert_fast(&ks_table, &e->node, ks_params)) {
		put_pid(e->key.owner);
		return NULL;
	}
	*fresh = NULL;
	return e;
}

static int ks_attach(struct knote *kn)
{
	struct ks_entry *e, *fresh;
	struct kn_sig *ks;

	if (kn->ident == 0 || kn->ident > _NSIG)
		return -EINVAL;
	ks = kzalloc(sizeof(*ks), GFP_KERNEL_ACCOUNT);
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!ks || !fresh) {
		kfree(ks);
		kfree(fresh);
		return -ENOMEM;
	}
	ks->kn = kn;
	atomic_long_set(&ks->count, 0);

	mutex_lock(&ks_mutex);
	e = ks_entry_get((int)kn->ident, &fresh);
	if (!e) {
		mutex_unlock(&ks_mutex);
		kfree(ks);
		kfree(fresh);
		return -ENOMEM;
	}
	e->users++;
	ks->entry = e;
	spin_lock_irq(&e->lock);
	hlist_add_head(&ks->hnode, &e->knotes);
	spin_unlock_irq(&e->lock);
	mutex_unlock(&ks_mutex);
	kfree(fresh);
	kn->fpriv = ks;
	kn->flags |= EV_CLEAR;
	atomic_inc(&ks_nr);
	return 0;
}

static void ks_detach(struct knote *kn)
{
	struct kn_sig *ks = kn->fpriv;
	struct ks_entry *e = ks->entry;

	mutex_lock(&ks_mutex);
	/* After this no probe can see ks: it looks only under the lock. */
	spin_lock_irq(&e->lock);
	if (!hlist_unhashed(&ks->hnode))
		hlist_del(&ks->hnode);
	spin_unlock_irq(&e->lock);
	if (!--e->users) {
		rhashtable_remove_fast(&ks_table, &e->node, ks_params);
		put_pid(e->key.owner);
		call_rcu(&e->rcu, ks_entry_free);
	}
	mutex_unlock(&ks_mutex);
	atomic_dec(&ks_nr);
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

/* A report taken back from the ring (kq->lock held): count it again. */
static void ks_ring_unpost(struct knote *kn, const struct kq_uevent *ev)
{
	struct kn_sig *ks = kn->fpriv;

	if (ev->data > 0)
		atomic_long_add(ev->data, &ks->count);
}

static void ks_exit(void)
{
	if (ks_tp_exec)
		tracepoint_probe_unregister(ks_tp_exec, ks_exec_probe, NULL);
	if (ks_tp)
		tracepoint_probe_unregister(ks_tp, ks_probe, NULL);
	tracepoint_synchronize_unregister();
	ks_tp = NULL;
	ks_tp_exec = NULL;
	if (ks_table_ready) {
		/* Every knote is gone: so is every entry (after RCU). */
		rcu_barrier();
		rhashtable_destroy(&ks_table);
		ks_table_ready = false;
	}
}

static int ks_init(void)
{
	int err;

	err = rhashtable_init(&ks_table, &ks_params);
	if (err)
		return err;
	ks_table_ready = true;
	ks_tp = kq_tracepoint("signal_generate");
	ks_tp_exec = kq_tracepoint("sched_process_exec");
	if (!ks_tp || !ks_tp_exec) {
		pr_err("kqueue: no signal_generate/sched_process_exec tracepoint\n");
		ks_tp = NULL;
		ks_tp_exec = NULL;
		ks_exit();
		return -ENOENT;
	}
	err = tracepoint_probe_register(ks_tp, ks_probe, NULL);
	if (err) {
		ks_tp = NULL;
		ks_tp_exec = NULL;
		ks_exit();
		return err;
	}
	err = tracepoint_probe_register(ks_tp_exec, ks_exec_probe, NULL);
	if (err) {
		ks_tp_exec = NULL;
		ks_exit();
	}
	return err;
}

const struct kq_filterops kq_signal_filtops = {
	.attach	= ks_attach,
	.detach	= ks_detach,
	.event	= ks_event,
	.ring_unpost = ks_ring_unpost,
	.init	= ks_init,
	.exit	= ks_exit,
};
