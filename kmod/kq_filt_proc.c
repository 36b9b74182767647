// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_proc.c - EVFILT_PROC: what happens to a process.
 *
 * ident is a process id (as the registering task sees it); any process
 * the caller could send a signal to may be watched, not only children
 * (kill(2)'s rule: the caller's real or effective uid is the target's real
 * or saved uid, or CAP_KILL; else EPERM).  A pid that names no process, a
 * thread that is not a process, or one already reaped gives ESRCH.  fflags
 * says what to report; EV_CLEAR is always set and what is reported is
 * consumed, as on FreeBSD:
 *
 *   NOTE_EXIT    the process is gone (all its threads): data is the wait
 *                status waitpid() reports for it; the event has EV_EOF
 *                and the knote is dropped after it (EV_ONESHOT).  A
 *                zombie registered with NOTE_EXIT reports at once.  If the
 *                process exits with nothing requested left to report, the
 *                knote is dropped silently (FreeBSD's EV_DROP).
 *   NOTE_FORK    the process forked (a new thread is not a fork).
 *   NOTE_EXEC    the process called exec.
 *   NOTE_TRACK   follow forks: each child gets a knote in the same kqueue,
 *                with the parent's fflags, flags and udata, whose first
 *                report is NOTE_CHILD with data = the parent's pid; its
 *                later reports are the child's own events.  NOTE_TRACKERR
 *                on the parent when that knote could not be created.
 *
 * Facilities.  The exit is seen on the pid's pidfd wait queue
 * (pid->wait_pidfd), which the kernel wakes once the process has become
 * waitable (do_notify_parent()), under tasklist_lock, while the zombie is
 * still attached to its pid: the wake function reads the status there, so
 * a parent that reaps the child at once loses nothing.  Forks and execs
 * come from the sched_process_fork and sched_process_exec tracepoints,
 * whose probes find the knotes of a process in a hash keyed by its struct
 * pid (held by the knote, so never reused meanwhile).  With no EVFILT_PROC
 * knote in the system the probes return after one atomic read.
 *
 * NOTE_TRACK.  The fork probe runs in atomic context before the child
 * first runs, so a knote cannot be created there (that needs kq->mtx).
 * The probe creates the child's state instead (GFP_ATOMIC | __GFP_ACCOUNT,
 * charged to the forking process's memory cgroup and counted against the
 * kqueue's user as KQ_RES_TRACKED until it is bound; beyond that limit, or
 * without memory, the parent's knote reports NOTE_TRACKERR): hashed and on
 * the child's wait queue at once, so the child's own fork, exec and exit
 * are recorded from its first instruction on, but without a knote
 * ("unbound"), and queued on its group.  A group (struct kp_group) is made
 * for each NOTE_TRACK registration and shared by every state of that
 * tree; it has the list of its unbound states and a work item, which
 * binds them: it registers (child pid, EVFILT_PROC) in the kqueue through
 * kq_register(), whose attach adopts the state it is binding (kp_binding),
 * and reports what it recorded meanwhile.  The work only tries kq->mtx: if
 * the kqueue's owner holds it (it may, for as long as a copy to its own
 * memory takes), the work comes back later (backing off up to a second),
 * so no kworker ever waits for a mutex a user can hold, and one user's
 * kqueue never delays another's children.  Draining n unbound states is
 * O(n).  An EV_ADD of that pid by the user before the work ran adopts the
 * state the same way (found through kp_hash).  An unbound state holds a
 * reference on its kqueue; a closed kqueue's unbound states are freed by
 * the work.  The parent's event() binds its group's unbound states itself
 * before it reports anything (and reports at the next pass), so by the
 * time a parent's NOTE_EXIT is returned its children's knotes exist and
 * their NOTE_CHILD is queued: a watcher never sees a tree end too early.
 *
 * Rights.  A tracked child gets its knote only if the credentials that
 * registered the tree could send it a signal (kill(2)'s rule, checked when
 * it is bound): a child that became another user's (a setuid root process
 * that dropped to root entirely) is a NOTE_TRACKERR on its parent instead.
 * After an exec that gains privileges (setuid, setgid, file capabilities:
 * the exec the kernel marks AT_SECURE), a knote of a watcher without
 * CAP_KILL still reports that exec (NOTE_EXEC) and, later, the exit (which
 * any user can learn with pidfd_open()), but nothing else: no NOTE_FORK,
 * no NOTE_EXEC, and NOTE_TRACK no longer follows its children.  Dropping
 * the knote instead would leave a shell that runs a setuid program
 * waiting for an exit it is never told of.  (FreeBSD checks p_cansee()
 * only at registration, and not for a tracked child.)
 *
 * Completion ring.  While a bound knote outside a NOTE_TRACK tree has
 * nothing recorded for the scan, what its sources record goes to the
 * ring from their context (kp_ring_ok(), kn_ring_post_bits()): fork and
 * exec bits OR-ed into its waiting entry or a new one, the exit as its
 * last report.  An entry taken back unread gives its bits to
 * kp->unposted (an atomic: kp_ring_unpost() runs under kq->lock, which
 * nests inside kp->lock), and event() reports them.
 *
 * Differences from FreeBSD: the children's knotes are made just after
 * fork() returns instead of inside it, and one knote (not two) per child
 * reports NOTE_CHILD first and then the child's own events.
 *
 * Lifetime.  Sources reach a state only under its bucket lock (probes) or
 * under the wait-queue lock (exit); detach unhashes under the first and
 * removes the wait entry under the second, so once it returns no source
 * can reach the state or its knote.  A state is bound to its knote (kp->kn
 * set) under kp->lock, which every source takes to record an event.
 *
 * Locking (outermost first): tasklist_lock (the exit wake) or a bucket
 * lock (probes, adoption) -> pid->wait_pidfd.lock -> kp->lock -> kq->lock,
 * and bucket lock -> grp->lock.  All spinlocks here are irq-safe: the exit
 * wake runs with irqs off under tasklist_lock, which interrupts take for
 * reading.  kp_binding_lock is taken alone.  kq->mtx is above all of them
 * (attach, detach, event, the bind work, which only tries it).  A state's
 * bind field and its place on grp->pending are under grp->lock; only a
 * holder of kq->mtx takes a queued state off (kp_take()).
 */
#include <linux/binfmts.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/hash.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <linux/user_namespace.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <trace/events/sched.h>

#include "kq.h"

#define KP_HASH_BITS	8
#define KP_BACKOFF_MAX	HZ	/* the bind work's longest wait for kq->mtx */

struct kp_bucket {
	spinlock_t		lock;		/* irq-safe; guards head */
	struct hlist_head	head;
};

/* The unbound states of one NOTE_TRACK tree and the work binding them. */
struct kp_group {
	spinlock_t		lock;		/* irq-safe; pending, states' bind */
	struct list_head	pending;	/* KP_QUEUED states, oldest first */
	struct delayed_work	work;
	struct kqueue		*kq;		/* alive while the group has states */
	refcount_t		refs;		/* its states, and the queued work */
	unsigned long		backoff;	/* the work's, in jiffies */
};

/* Where a state is in its binding (kn_proc.bind, under grp->lock). */
enum kp_bind {
	KP_BOUND,	/* registered by the user: never unbound */
	KP_NEW,		/* made by the fork probe, not yet queued */
	KP_QUEUED,	/* on grp->pending: may be taken */
	KP_TAKEN,	/* taken by a holder of kq->mtx: bound or freed */
};

/* What is known about one watched process (kn->fpriv). */
struct kn_proc {
	struct hlist_node	hnode;		/* kp_hash, under bucket lock */
	struct list_head	pending;	/* grp->pending while KP_QUEUED */
	wait_queue_entry_t	wait;		/* on pid->wait_pidfd */
	struct pid		*pid;		/* the process (tgid), held */
	struct pid_namespace	*ns;		/* the watcher's, held */
	struct pid		*parent;	/* unbound: the tracked parent */
	const struct cred	*cred;		/* who registered (the tree) */
	struct kqueue		*kq;
	struct kp_group		*grp;		/* set with NOTE_TRACK, kept */
	bool			kq_ref;		/* holds a kq reference */
	bool			charged;	/* counted as KQ_RES_TRACKED */
	bool			cap_kill;	/* the registrant had CAP_KILL */
	u8			bind;		/* enum kp_bind */
	u64			ident;		/* pid number in ns */

	spinlock_t		lock;		/* the fields below */
	struct knote		*kn;		/* NULL while unbound */
	u32			sfflags;	/* what to record */
	u16			kflags;		/* flags for tracked children */
	u64			udata;		/* udata for tracked children */
	u32			fflags;		/* recorded, not yet reported */
	atomic_t		unposted;	/* fflags of ring entries taken back */
	bool			exited;
	bool			child;		/* NOTE_CHILD not yet reported */
	bool			revoked;	/* exec'd with privileges gained */
	s64			status;		/* wait status once exited */
	s64			ppid;		/* NOTE_CHILD data */
};

/*
 * kp_bind() registering a child's knote: its attach adopts c.  Only the
 * holder of kq->mtx can be binding in kq, so there is at most one per
 * kqueue and the list is as long as the number of tasks binding.
 */
struct kp_binding {
	struct list_head	link;		/* kp_bindings */
	struct kqueue		*kq;
	struct kn_proc		*c;
	bool			adopted;
};

enum kp_state { KP_ALIVE, KP_EXITED, KP_GONE };

static struct kp_bucket kp_hash[1 << KP_HASH_BITS];
static atomic_t kp_nr = ATOMIC_INIT(0);		/* states in kp_hash */
static atomic_t kp_nr_groups = ATOMIC_INIT(0);
static struct workqueue_struct *kp_wq;

static LIST_HEAD(kp_bindings);
static DEFINE_SPINLOCK(kp_binding_lock);

static struct tracepoint *kp_tp_fork, *kp_tp_exec;

static void kp_group_work(struct work_struct *work);

static struct kp_bucket *kp_bucket(const struct pid *pid)
{
	return &kp_hash[hash_ptr(pid, KP_HASH_BITS)];
}

/* The status waitpid() would report for a dead thread group leader. */
static s64 kp_wait_status(struct task_struct *leader)
{
	struct signal_struct *sig = leader->signal;

	if (READ_ONCE(sig->flags) & SIGNAL_GROUP_EXIT)
		return READ_ONCE(sig->group_exit_code) & 0xffff;
	return READ_ONCE(leader->exit_code) & 0xffff;
}

/* Is the process alive, waitable (all threads gone) or reaped? */
static enum kp_state kp_state(struct pid *pid, s64 *status)
{
	struct task_struct *task;
	enum kp_state st = KP_ALIVE;

	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_TGID);
	if (!task) {
		st = KP_GONE;
	} else if (READ_ONCE(task->exit_state) && thread_group_empty(task)) {
		st = KP_EXITED;
		*status = kp_wait_status(task);
	}
	rcu_read_unlock();
	return st;
}

/*
 * May what kp records go to the completion ring (kp->lock held)?  Only
 * for a bound knote that is not part of a NOTE_TRACK tree (whose event()
 * binds the children's knotes before it reports) and has nothing
 * recorded for the scan: so the ring and the scan never hold parts of
 * one report at once.
 */
static bool kp_ring_ok(struct kn_proc *kp)
{
	return kp->kn && !kp->grp && !kp->child && !kp->fflags &&
	       !atomic_read(&kp->unposted);
}

/* Record an event; any context. */
static void kp_record(struct kn_proc *kp, u32 event)
{
	struct kq_uevent rep = { };
	unsigned long flags;

	spin_lock_irqsave(&kp->lock, flags);
	if ((kp->sfflags & event) || event == NOTE_TRACKERR) {
		rep.fflags = event & (kp->sfflags | NOTE_TRACKERR);
		if (!kp_ring_ok(kp) || !kn_ring_post_bits(kp->kn, &rep, false)) {
			kp->fflags |= rep.fflags;
			if (kp->kn)
				kn_activate(kp->kn);
		}
	}
	spin_unlock_irqrestore(&kp->lock, flags);
}

static void kp_record_exit(struct kn_proc *kp, s64 status)
{
	struct kq_uevent rep = {
		.flags	= EV_EOF | EV_ONESHOT,
		.fflags	= NOTE_EXIT,
		.data	= status,
	};
	unsigned long flags;

	spin_lock_irqsave(&kp->lock, flags);
	if (!kp->exited) {
		kp->exited = true;
		kp->status = status;
		/* The last report: the knote is done once it is taken. */
		if ((kp->sfflags & NOTE_EXIT) && kp_ring_ok(kp) &&
		    kn_ring_post_bits(kp->kn, &rep, true))
			goto out;
		if (kp->sfflags & NOTE_EXIT)
			kp->fflags |= NOTE_EXIT;
		/* Even with nothing to report: event() drops the knote. */
		if (kp->kn)
			kn_activate(kp->kn);
	}
out:
	spin_unlock_irqrestore(&kp->lock, flags);
}

/* pid->wait_pidfd: under its lock, usually under tasklist_lock too. */
static int kp_exit_wake(struct wait_queue_entry *wait, unsigned int mode,
			int sync, void *key)
{
	struct kn_proc *kp = container_of(wait, struct kn_proc, wait);
	s64 status;

	if (kp_state(kp->pid, &status) == KP_EXITED)
		kp_record_exit(kp, status);
	return 0;
}

static void kp_init_state(struct kn_proc *kp)
{
	INIT_HLIST_NODE(&kp->hnode);
	INIT_LIST_HEAD(&kp->pending);
	init_waitqueue_func_entry(&kp->wait, kp_exit_wake);
	spin_lock_init(&kp->lock);
}

/* Make kp visible to the sources. */
static void kp_hook(struct kn_proc *kp)
{
	struct kp_bucket *b = kp_bucket(kp->pid);
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	hlist_add_head(&kp->hnode, &b->head);
	spin_unlock_irqrestore(&b->lock, flags);
	atomic_inc(&kp_nr);
	add_wait_queue(&kp->pid->wait_pidfd, &kp->wait);
}

/* After this no source can reach kp (process context). */
static void kp_unhook(struct kn_proc *kp)
{
	struct kp_bucket *b = kp_bucket(kp->pid);
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	hlist_del_init(&kp->hnode);
	spin_unlock_irqrestore(&b->lock, flags);
	atomic_dec(&kp_nr);
	remove_wait_queue(&kp->pid->wait_pidfd, &kp->wait);
}

/* A group for a new NOTE_TRACK registration in kq (process context). */
static struct kp_group *kp_group_new(struct kqueue *kq)
{
	struct kp_group *g;

	g = kzalloc(sizeof(*g), GFP_KERNEL_ACCOUNT);
	if (!g)
		return NULL;
	spin_lock_init(&g->lock);
	INIT_LIST_HEAD(&g->pending);
	INIT_DELAYED_WORK(&g->work, kp_group_work);
	g->kq = kq;
	refcount_set(&g->refs, 1);
	atomic_inc(&kp_nr_groups);
	return g;
}

static void kp_group_put(struct kp_group *g)
{
	if (!refcount_dec_and_test(&g->refs))
		return;
	kfree(g);
	if (atomic_dec_and_test(&kp_nr_groups))
		wake_up_var(&kp_nr_groups);
}

/* No longer unbound: the user's count of tracked children drops. */
static void kp_uncharge(struct kn_proc *kp)
{
	if (kp->charged) {
		kp->charged = false;
		kq_user_uncharge_res(kp->kq->user, KQ_RES_TRACKED);
	}
}

/* Process context: put_pid_ns() and kq_put() may free. */
static void kp_free(struct kn_proc *kp)
{
	kp_uncharge(kp);
	put_pid(kp->pid);
	put_pid(kp->parent);
	put_pid_ns(kp->ns);
	if (kp->cred)
		put_cred(kp->cred);
	if (kp->grp)
		kp_group_put(kp->grp);
	if (kp->kq_ref)
		kq_put(kp->kq);
	kfree(kp);
}

/* Take a queued state off its group (kq->mtx held); false if not queued. */
static bool kp_take(struct kn_proc *c)
{
	struct kp_group *g = c->grp;
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(&g->lock, flags);
	ok = c->bind == KP_QUEUED;
	if (ok) {
		list_del_init(&c->pending);
		c->bind = KP_TAKEN;
	}
	spin_unlock_irqrestore(&g->lock, flags);
	if (ok)
		kp_uncharge(c);
	return ok;
}

/* The oldest queued state of g, taken (kq->mtx held), or NULL. */
static struct kn_proc *kp_take_first(struct kp_group *g)
{
	struct kn_proc *c;

	spin_lock_irq(&g->lock);
	c = list_first_entry_or_null(&g->pending, struct kn_proc, pending);
	if (c) {
		list_del_init(&c->pending);
		c->bind = KP_TAKEN;
	}
	spin_unlock_irq(&g->lock);
	if (c)
		kp_uncharge(c);
	return c;
}

/*
 * Queue a child made by the fork probe (hooked already) and have its
 * group's work run.  The work, once queued, holds the group and the
 * kqueue; both are alive here (c holds them until it is taken).
 */
static void kp_queue(struct kn_proc *c)
{
	struct kp_group *g = c->grp;
	struct kqueue *kq = c->kq;
	unsigned long flags;

	spin_lock_irqsave(&g->lock, flags);
	list_add_tail(&c->pending, &g->pending);
	c->bind = KP_QUEUED;
	/* c may be taken and freed as soon as the lock is dropped. */
	refcount_inc(&g->refs);
	refcount_inc(&kq->refs);
	spin_unlock_irqrestore(&g->lock, flags);
	if (mod_delayed_work(kp_wq, &g->work, 0)) {
		/* Already queued: that work holds both. */
		refcount_dec(&kq->refs);
		kp_group_put(g);
	}
}

/*
 * The state of a child that kp's process just forked, for NOTE_TRACK
 * (fork probe, atomic, kp's bucket lock held).  NULL if it cannot be
 * made: beyond the user's max_user_tracked, or without memory.
 */
static struct kn_proc *kp_new_child(struct kn_proc *kp,
				    struct task_struct *child)
{
	struct pid *cpid = task_tgid(child);
	struct kn_proc *c;
	pid_t nr;

	nr = pid_nr_ns(cpid, kp->ns);
	if (nr <= 0)
		return NULL;
	if (!kq_user_charge_res(kp->kq->user, KQ_RES_TRACKED))
		return NULL;
	c = kzalloc(sizeof(*c), GFP_ATOMIC | __GFP_ACCOUNT | __GFP_NOWARN);
	if (!c) {
		kq_user_uncharge_res(kp->kq->user, KQ_RES_TRACKED);
		return NULL;
	}
	kp_init_state(c);
	c->charged = true;
	c->pid = get_pid(cpid);
	c->ns = get_pid_ns(kp->ns);
	c->parent = get_pid(kp->pid);
	c->cred = get_cred(kp->cred);
	c->cap_kill = kp->cap_kill;
	/* kp (hashed) keeps its kqueue alive: the reference can be taken. */
	c->kq = kp->kq;
	refcount_inc(&c->kq->refs);
	c->kq_ref = true;
	c->ident = nr;
	c->child = true;
	c->ppid = kp->ident;
	c->bind = KP_NEW;

	spin_lock(&kp->lock);
	c->sfflags = kp->sfflags;
	c->kflags = kp->kflags;
	c->udata = kp->udata;
	c->grp = kp->grp;
	refcount_inc(&c->grp->refs);
	spin_unlock(&kp->lock);
	return c;
}

/* Record event on every state of the process pid. */
static void kp_record_pid(struct pid *pid, u32 event)
{
	struct kp_bucket *b = kp_bucket(pid);
	struct kn_proc *kp;
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	hlist_for_each_entry(kp, &b->head, hnode)
		if (kp->pid == pid)
			kp_record(kp, event);
	spin_unlock_irqrestore(&b->lock, flags);
}

/*
 * An exec that gained privileges (see "Rights" above): the states of
 * watchers without CAP_KILL record only the exit from now on.
 */
static void kp_revoke_pid(struct pid *pid)
{
	struct kp_bucket *b = kp_bucket(pid);
	struct kn_proc *kp;
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	hlist_for_each_entry(kp, &b->head, hnode) {
		if (kp->pid != pid || kp->cap_kill)
			continue;
		spin_lock(&kp->lock);
		kp->revoked = true;
		kp->sfflags &= NOTE_EXIT;
		spin_unlock(&kp->lock);
	}
	spin_unlock_irqrestore(&b->lock, flags);
}

/*
 * sched_process_fork: the forking task, before the child first runs.  The
 * children's states are queued before NOTE_FORK is recorded, so that the
 * parent's event() finds them (see kp_bind_group()).
 */
static void kp_fork_probe(void *data, struct task_struct *parent,
			  struct task_struct *child)
{
	struct kn_proc *kp, *c, *tmp;
	struct kp_bucket *b;
	struct pid *ppid;
	unsigned long flags;
	bool watched = false;
	LIST_HEAD(born);

	if (likely(!atomic_read(&kp_nr)))
		return;
	if (!thread_group_leader(child))	/* a thread, not a process */
		return;
	ppid = task_tgid(parent);
	b = kp_bucket(ppid);
	spin_lock_irqsave(&b->lock, flags);
	hlist_for_each_entry(kp, &b->head, hnode) {
		if (kp->pid != ppid)
			continue;
		watched = true;
		if (!(READ_ONCE(kp->sfflags) & NOTE_TRACK))
			continue;
		c = kp_new_child(kp, child);
		if (c)
			list_add_tail(&c->pending, &born);
		else
			kp_record(kp, NOTE_TRACKERR);
	}
	spin_unlock_irqrestore(&b->lock, flags);
	if (!watched)
		return;

	/* KP_NEW: nobody takes c until it is queued. */
	list_for_each_entry_safe(c, tmp, &born, pending) {
		list_del_init(&c->pending);
		kp_hook(c);
		kp_queue(c);
	}
	kp_record_pid(ppid, NOTE_FORK);
}

/* sched_process_exec: the task that exec'd, after the point of no return. */
static void kp_exec_probe(void *data, struct task_struct *p, pid_t old_pid,
			  struct linux_binprm *bprm)
{
	if (likely(!atomic_read(&kp_nr)))
		return;
	kp_record_pid(task_tgid(p), NOTE_EXEC);
	if (bprm->secureexec)
		kp_revoke_pid(task_tgid(p));
}

/* No build if the probes do not match this kernel's tracepoints. */
static_assert(sizeof(register_trace_sched_process_fork(kp_fork_probe, NULL)));
static_assert(sizeof(register_trace_sched_process_exec(kp_exec_probe, NULL)));

/* NOTE_TRACKERR on the knote(s) of kq watching the process parent. */
static void kp_trackerr(struct kqueue *kq, struct pid *parent)
{
	struct kp_bucket *b = kp_bucket(parent);
	struct kn_proc *kp;
	unsigned long flags;

	spin_lock_irqsave(&b->lock, flags);
	hlist_for_each_entry(kp, &b->head, hnode)
		if (kp->pid == parent && kp->kq == kq)
			kp_record(kp, NOTE_TRACKERR);
	spin_unlock_irqrestore(&b->lock, flags);
}

/* kill(2)'s permission rule, for cred against task. */
static bool kp_cred_may_kill(const struct cred *cred, struct task_struct *task)
{
	const struct cred *tcred = get_task_cred(task);
	bool ok;

	ok = uid_eq(cred->euid, tcred->suid) ||
	     uid_eq(cred->euid, tcred->uid) ||
	     uid_eq(cred->uid, tcred->suid) ||
	     uid_eq(cred->uid, tcred->uid);
	put_cred(tcred);
	return ok;
}

/* The caller may watch task: kill(2)'s rule. */
static bool kp_may_watch(struct task_struct *task)
{
	bool ok = kp_cred_may_kill(current_cred(), task);

	if (!ok) {
		const struct cred *tcred = get_task_cred(task);

		ok = ns_capable(tcred->user_ns, CAP_KILL);
		put_cred(tcred);
	}
	return ok;
}

/*
 * May the registrant of c's tree watch the child?  A child already reaped
 * was the parent's own at fork, and nothing can happen to it any more.
 */
static bool kp_may_track(struct kn_proc *c)
{
	struct task_struct *task;
	bool ok;

	if (c->cap_kill)
		return true;
	task = get_pid_task(c->pid, PIDTYPE_TGID);
	if (!task)
		return true;
	ok = kp_cred_may_kill(c->cred, task);
	put_task_struct(task);
	return ok;
}

/* Create the knote of a tracked child c, taken (kq->mtx held). */
static void kp_bind(struct kqueue *kq, struct kn_proc *c)
{
	struct kp_binding bd = { .kq = kq, .c = c };

	if (!kq->dead && kp_may_track(c)) {
		struct kq_uevent kev = {
			.ident	= c->ident,
			.filter	= EVFILT_PROC,
			.flags	= EV_ADD | (c->kflags &
					    (EV_ONESHOT | EV_DISPATCH)),
			.fflags	= c->sfflags,
			.udata	= c->udata,
		};

		spin_lock(&kp_binding_lock);
		list_add(&bd.link, &kp_bindings);
		spin_unlock(&kp_binding_lock);
		/* attach adopts c; a failure leaves it to us. */
		kq_register(kq, &kev);
		spin_lock(&kp_binding_lock);
		list_del(&bd.link);
		spin_unlock(&kp_binding_lock);
	}
	if (bd.adopted)
		return;
	if (!kq->dead)
		kp_trackerr(kq, c->parent);
	kp_unhook(c);
	kp_free(c);
}

/* Bind every queued state of g (kq->mtx held); were there any? */
static bool kp_bind_group(struct kqueue *kq, struct kp_group *g)
{
	struct kn_proc *c;
	bool any = false;

	while ((c = kp_take_first(g))) {
		kp_bind(kq, c);
		any = true;
	}
	return any;
}

/*
 * The group's work: bind its queued states if kq->mtx is free now, else
 * come back later.  It never waits for the mutex: its holder may be a
 * user stuck for as long as they like (e.g. copying events to memory that
 * faults), and a kworker waiting for it would be a hung task.
 */
static void kp_group_work(struct work_struct *work)
{
	struct kp_group *g = container_of(to_delayed_work(work),
					  struct kp_group, work);
	struct kqueue *kq = g->kq;

	if (!mutex_trylock(&kq->mtx)) {
		g->backoff = clamp(g->backoff * 2, 1UL,
				   (unsigned long)KP_BACKOFF_MAX);
		if (queue_delayed_work(kp_wq, &g->work, g->backoff))
			return;		/* the references go with it */
		goto out;
	}
	g->backoff = 0;
	kp_bind_group(kq, g);
	kq_unlock(kq);
out:
	kp_group_put(g);
	kq_put(kq);
}

/* The state kp_bind() is binding for this new knote, or NULL. */
static struct kn_proc *kp_binding_adopt(struct knote *kn)
{
	struct kp_binding *bd;
	struct kn_proc *c = NULL;

	spin_lock(&kp_binding_lock);
	list_for_each_entry(bd, &kp_bindings, link) {
		if (bd->kq == kn->kq && bd->c->ident == kn->ident &&
		    !bd->adopted) {
			bd->adopted = true;
			c = bd->c;
			break;
		}
	}
	spin_unlock(&kp_binding_lock);
	return c;
}

/* A queued state NOTE_TRACK made for (kq, pid): take it (kq->mtx held). */
static struct kn_proc *kp_adopt_queued(struct knote *kn, struct pid *pid)
{
	struct kp_bucket *b = kp_bucket(pid);
	struct kn_proc *c, *found = NULL;

	spin_lock_irq(&b->lock);
	hlist_for_each_entry(c, &b->head, hnode) {
		if (c->pid == pid && c->kq == kn->kq && c->kq_ref &&
		    kp_take(c)) {
			found = c;
			break;
		}
	}
	spin_unlock_irq(&b->lock);
	return found;
}

/* What a state records: only the exit once revoked (kp->lock held). */
static u32 kp_allowed(const struct kn_proc *kp, u32 sfflags)
{
	return kp->revoked ? sfflags & NOTE_EXIT : sfflags;
}

/* Bind kp to kn; report what was recorded before. */
static void kp_bind_knote(struct kn_proc *kp, struct knote *kn)
{
	spin_lock_irq(&kp->lock);
	kp->kn = kn;
	kp->sfflags = kp_allowed(kp, kn->sfflags);
	kp->kflags = kn->flags;
	kp->udata = kn->udata;
	if (kp->fflags || kp->exited || kp->child)
		kn_activate(kn);
	spin_unlock_irq(&kp->lock);
}

/* An unbound state becomes kn's. */
static void kp_adopt(struct kn_proc *kp, struct knote *kn)
{
	/* Now the knote's: it keeps the kqueue alive. */
	kq_put(kp->kq);
	kp->kq_ref = false;
	put_pid(kp->parent);
	kp->parent = NULL;
	kn->fpriv = kp;
	kp_bind_knote(kp, kn);
}

static int kp_attach(struct knote *kn)
{
	struct task_struct *task;
	struct kn_proc *kp;
	struct pid *pid;
	s64 status = 0;
	enum kp_state st;

	kn->flags |= EV_CLEAR;
	kp = kp_binding_adopt(kn);
	if (kp) {
		kp_adopt(kp, kn);
		return 0;
	}

	if (kn->ident == 0 || kn->ident > PID_MAX_LIMIT)
		return -ESRCH;
	pid = find_get_pid((pid_t)kn->ident);
	if (!pid)
		return -ESRCH;
	/* A thread's id is not a process. */
	task = get_pid_task(pid, PIDTYPE_TGID);
	if (!task) {
		put_pid(pid);
		return -ESRCH;
	}
	if (!kp_may_watch(task)) {
		put_task_struct(task);
		put_pid(pid);
		return -EPERM;
	}
	put_task_struct(task);

	/* A child NOTE_TRACK made, which the work has not bound yet. */
	kp = kp_adopt_queued(kn, pid);
	if (kp) {
		put_pid(pid);
		kp_adopt(kp, kn);
		return 0;
	}

	kp = kzalloc(sizeof(*kp), GFP_KERNEL_ACCOUNT);
	if (!kp) {
		put_pid(pid);
		return -ENOMEM;
	}
	kp_init_state(kp);
	kp->pid = pid;
	kp->ns = get_pid_ns(task_active_pid_ns(current));
	kp->cred = get_current_cred();
	kp->cap_kill = ns_capable_noaudit(&init_user_ns, CAP_KILL);
	kp->kq = kn->kq;
	kp->ident = kn->ident;
	kp->sfflags = kn->sfflags;
	kp->bind = KP_BOUND;
	if (kn->sfflags & NOTE_TRACK) {
		kp->grp = kp_group_new(kn->kq);
		if (!kp->grp) {
			kp_free(kp);
			return -ENOMEM;
		}
	}

	/* Hook first, then look: an exit in between is seen either way. */
	kp_hook(kp);
	st = kp_state(pid, &status);
	if (st == KP_GONE ||
	    (st == KP_EXITED && !(kn->sfflags & NOTE_EXIT))) {
		/* Reaped, or a zombie and no NOTE_EXIT (as FreeBSD). */
		kp_unhook(kp);
		kp_free(kp);
		return -ESRCH;
	}
	if (st == KP_EXITED)
		kp_record_exit(kp, status);
	kn->fpriv = kp;
	kp_bind_knote(kp, kn);
	return 0;
}

static void kp_detach(struct knote *kn)
{
	struct kn_proc *kp = kn->fpriv;

	kp_unhook(kp);
	kp_free(kp);
	kn->fpriv = NULL;
}

/*
 * Before a process's event is reported, the knotes of the children it
 * forked must exist (as on FreeBSD, where they are made in fork()), or a
 * watcher could see the last process of a tree exit before it learns of
 * a child.  The work usually made them already; if not, make them here
 * (process context, kq->mtx held: what the work does) and report the
 * parent at the next pass, after the children's NOTE_CHILD.  Each queued
 * state is bound once, by whoever takes it first: O(1) per child.
 */
static bool kp_bind_children(struct knote *kn)
{
	struct kn_proc *kp = kn->fpriv;

	return kp->grp && kp_bind_group(kn->kq, kp->grp);
}

static bool kp_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_proc *kp = kn->fpriv;
	bool ready;

	if (!peek && kp_bind_children(kn)) {
		kn_activate(kn);
		return false;
	}
	spin_lock_irq(&kp->lock);
	if (kp->child) {
		/* A tracked child's first report, on its own. */
		ev->fflags = NOTE_CHILD;
		ev->data = kp->ppid;
		if (!peek) {
			kp->child = false;
			if (kp->fflags || kp->exited)
				kn_activate(kn);
		}
		spin_unlock_irq(&kp->lock);
		return true;
	}
	/* Bits of ring entries taken back are reported here. */
	if (peek)
		ev->fflags = kp->fflags | atomic_read(&kp->unposted);
	else
		ev->fflags = kp->fflags | atomic_xchg(&kp->unposted, 0);
	ready = ev->fflags != 0;
	if (kp->exited) {
		kn->flags |= EV_ONESHOT;
		ev->flags |= EV_EOF;
		if (ev->fflags & NOTE_EXIT)
			ev->data = kp->status;
		if (!ready) {
			/* Nothing asked for: drop it unreported. */
			if (peek)
				kn_activate(kn);
			else
				set_bit(KN_DROP, &kn->pending);
		}
	}
	if (!peek)
		kp->fflags = 0;
	spin_unlock_irq(&kp->lock);
	return ready;
}

/* A later change: EV_ADD replaces fflags (and udata, done by the core). */
static int kp_touch(struct knote *kn, const struct kq_uevent *kev)
{
	struct kn_proc *kp = kn->fpriv;
	struct kp_group *g = NULL;

	if (!(kev->flags & EV_ADD))
		return 0;
	if ((kev->fflags & NOTE_TRACK) && !kp->grp) {
		g = kp_group_new(kn->kq);
		if (!g)
			return -ENOMEM;
	}
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	spin_lock_irq(&kp->lock);
	/* The fork probe reads grp with sfflags, under kp->lock. */
	if (g)
		kp->grp = g;
	kp->sfflags = kp_allowed(kp, kn->sfflags);
	kp->udata = kn->udata;
	spin_unlock_irq(&kp->lock);
	return 0;
}

static void kp_exit(void)
{
	if (kp_tp_exec)
		tracepoint_probe_unregister(kp_tp_exec, kp_exec_probe, NULL);
	if (kp_tp_fork)
		tracepoint_probe_unregister(kp_tp_fork, kp_fork_probe, NULL);
	tracepoint_synchronize_unregister();
	kp_tp_exec = NULL;
	kp_tp_fork = NULL;
	/* The works free the unbound states of closed kqueues. */
	wait_var_event(&kp_nr_groups, !atomic_read(&kp_nr_groups));
	if (kp_wq)
		destroy_workqueue(kp_wq);
	kp_wq = NULL;
}

static int kp_init(void)
{
	struct tracepoint *fork_tp, *exec_tp;
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(kp_hash); i++) {
		spin_lock_init(&kp_hash[i].lock);
		INIT_HLIST_HEAD(&kp_hash[i].head);
	}
	kp_wq = alloc_workqueue("kqueue_track", WQ_UNBOUND, 0);
	if (!kp_wq)
		return -ENOMEM;
	fork_tp = kq_tracepoint("sched_process_fork");
	exec_tp = kq_tracepoint("sched_process_exec");
	if (!fork_tp || !exec_tp) {
		pr_err("kqueue: no sched_process_fork/exec tracepoint\n");
		kp_exit();
		return -ENOENT;
	}
	err = tracepoint_probe_register(fork_tp, kp_fork_probe, NULL);
	if (err) {
		kp_exit();
		return err;
	}
	kp_tp_fork = fork_tp;
	err = tracepoint_probe_register(exec_tp, kp_exec_probe, NULL);
	if (err) {
		kp_exit();
		return err;
	}
	kp_tp_exec = exec_tp;
	return 0;
}

/* A ring entry taken back unread (kq->lock held): the scan reports it. */
static void kp_ring_unpost(struct knote *kn, const struct kq_uevent *ev)
{
	struct kn_proc *kp = kn->fpriv;

	atomic_or(ev->fflags, &kp->unposted);
}

const struct kq_filterops kq_proc_filtops = {
	.attach	= kp_attach,
	.detach	= kp_detach,
	.event	= kp_event,
	.touch	= kp_touch,
	.ring_unpost = kp_ring_unpost,
	.init	= kp_init,
	.exit	= kp_exit,
};
