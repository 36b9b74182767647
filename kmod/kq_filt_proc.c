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
 * The probe creates the child's state instead (GFP_ATOMIC): hashed and on
 * the child's wait queue at once, so the child's own fork, exec and exit
 * are recorded from its first instruction on, but without a knote
 * ("unbound"), and put on kp_pending.  A work item then registers
 * (child pid, EVFILT_PROC) in the kqueue through kq_register(); attach
 * finds the pending state for (kqueue, ident) and adopts it, and reports
 * what it recorded meanwhile.  An EV_ADD of that pid by the user before
 * the work ran adopts it the same way.  An unbound state holds a reference
 * on its kqueue; a closed kqueue's pending states are freed by the work.
 * The parent's event() binds its pending children itself before it
 * reports anything (and reports at the next pass), so by the time a
 * parent's NOTE_EXIT is returned its children's knotes exist and their
 * NOTE_CHILD is queued: a watcher never sees a tree end too early.
 * Differences from FreeBSD: the children's knotes are made just after
 * fork() returns instead of inside it, the states made in the fork probe
 * are not charged to a memory cgroup, and one knote (not two) per child
 * reports NOTE_CHILD first and then the child's own events.
 *
 * Lifetime.  Sources reach a state only under its bucket lock (probes) or
 * under the wait-queue lock (exit); detach unhashes under the first and
 * removes the wait entry under the second, so once it returns no source
 * can reach the state or its knote.  A state is bound to its knote (kp->kn
 * set) under kp->lock, which every source takes to record an event.
 *
 * Locking (outermost first): tasklist_lock (the exit wake) or a bucket
 * lock (probes) -> pid->wait_pidfd.lock -> kp->lock -> kq->lock.  All
 * spinlocks here are irq-safe: the exit wake runs with irqs off under
 * tasklist_lock, which interrupts take for reading.  kp_pending_lock is
 * taken alone.  kq->mtx is above all of them (attach, detach, event, the
 * bind work).
 */
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

#ifndef NOTE_EXIT
#define NOTE_EXIT	0x80000000U
#define NOTE_FORK	0x40000000U
#define NOTE_EXEC	0x20000000U
#define NOTE_TRACK	0x00000001U
#define NOTE_TRACKERR	0x00000002U
#define NOTE_CHILD	0x00000004U
#endif

#define KP_HASH_BITS	8

struct kp_bucket {
	spinlock_t		lock;		/* irq-safe; guards head */
	struct hlist_head	head;
};

/* What is known about one watched process (kn->fpriv). */
struct kn_proc {
	struct hlist_node	hnode;		/* kp_hash, under bucket lock */
	struct list_head	pending;	/* kp_pending while unbound */
	wait_queue_entry_t	wait;		/* on pid->wait_pidfd */
	struct pid		*pid;		/* the process (tgid), held */
	struct pid_namespace	*ns;		/* the watcher's, held */
	struct pid		*parent;	/* unbound: the tracked parent */
	struct kqueue		*kq;
	bool			kq_ref;		/* holds a kq reference */
	u64			ident;		/* pid number in ns */

	spinlock_t		lock;		/* the fields below */
	struct knote		*kn;		/* NULL while unbound */
	u32			sfflags;	/* what to record */
	u16			kflags;		/* flags for tracked children */
	u64			udata;		/* udata for tracked children */
	u32			fflags;		/* recorded, not yet reported */
	bool			exited;
	bool			child;		/* NOTE_CHILD not yet reported */
	s64			status;		/* wait status once exited */
	s64			ppid;		/* NOTE_CHILD data */
};

enum kp_state { KP_ALIVE, KP_EXITED, KP_GONE };

static struct kp_bucket kp_hash[1 << KP_HASH_BITS];
static atomic_t kp_nr = ATOMIC_INIT(0);		/* states in kp_hash */

static LIST_HEAD(kp_pending);
static DEFINE_SPINLOCK(kp_pending_lock);
static void kp_bind_work_fn(struct work_struct *work);
static DECLARE_WORK(kp_bind_work, kp_bind_work_fn);

static struct tracepoint *kp_tp_fork, *kp_tp_exec;

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

/* Record an event; any context. */
static void kp_record(struct kn_proc *kp, u32 event)
{
	unsigned long flags;

	spin_lock_irqsave(&kp->lock, flags);
	if ((kp->sfflags & event) || event == NOTE_TRACKERR) {
		kp->fflags |= event & (kp->sfflags | NOTE_TRACKERR);
		if (kp->kn)
			kn_activate(kp->kn);
	}
	spin_unlock_irqrestore(&kp->lock, flags);
}

static void kp_record_exit(struct kn_proc *kp, s64 status)
{
	unsigned long flags;

	spin_lock_irqsave(&kp->lock, flags);
	if (!kp->exited) {
		kp->exited = true;
		kp->status = status;
		if (kp->sfflags & NOTE_EXIT)
			kp->fflags |= NOTE_EXIT;
		/* Even with nothing to report: event() drops the knote. */
		if (kp->kn)
			kn_activate(kp->kn);
	}
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

/* Process context: put_pid_ns() and kq_put() may free. */
static void kp_free(struct kn_proc *kp)
{
	put_pid(kp->pid);
	put_pid(kp->parent);
	put_pid_ns(kp->ns);
	if (kp->kq_ref)
		kq_put(kp->kq);
	kfree(kp);
}

/*
 * The state of a child that kp's process just forked, for NOTE_TRACK
 * (fork probe, atomic, kp's bucket lock held).  NULL if it cannot be made.
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
	c = kzalloc(sizeof(*c), GFP_ATOMIC | __GFP_NOWARN);
	if (!c)
		return NULL;
	kp_init_state(c);
	c->pid = get_pid(cpid);
	c->ns = get_pid_ns(kp->ns);
	c->parent = get_pid(kp->pid);
	/* kp (hashed) keeps its kqueue alive: the reference can be taken. */
	c->kq = kp->kq;
	refcount_inc(&c->kq->refs);
	c->kq_ref = true;
	c->ident = nr;
	c->child = true;
	c->ppid = kp->ident;

	spin_lock(&kp->lock);
	c->sfflags = kp->sfflags;
	c->kflags = kp->kflags;
	c->udata = kp->udata;
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
 * sched_process_fork: the forking task, before the child first runs.  The
 * children's states are pending before NOTE_FORK is recorded, so that the
 * parent's event() finds them (see kp_bind_children()).
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

	if (!list_empty(&born)) {
		list_for_each_entry(c, &born, pending)
			kp_hook(c);
		spin_lock_irqsave(&kp_pending_lock, flags);
		list_for_each_entry_safe(c, tmp, &born, pending)
			list_move_tail(&c->pending, &kp_pending);
		spin_unlock_irqrestore(&kp_pending_lock, flags);
		queue_work(system_unbound_wq, &kp_bind_work);
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

/* A pending state of kq (kq->mtx held: only its holder takes one off). */
static struct kn_proc *kp_first_pending(struct kqueue *kq)
{
	struct kn_proc *c, *found = NULL;

	spin_lock_irq(&kp_pending_lock);
	list_for_each_entry(c, &kp_pending, pending) {
		if (c->kq == kq) {
			found = c;
			break;
		}
	}
	spin_unlock_irq(&kp_pending_lock);
	return found;
}

/* A pending child of the process parent in kq (kq->mtx held). */
static struct kn_proc *kp_first_child(struct kqueue *kq, struct pid *parent)
{
	struct kn_proc *c, *found = NULL;

	spin_lock_irq(&kp_pending_lock);
	list_for_each_entry(c, &kp_pending, pending) {
		if (c->kq == kq && c->parent == parent) {
			found = c;
			break;
		}
	}
	spin_unlock_irq(&kp_pending_lock);
	return found;
}

/* Create the knote of a tracked child (kq->mtx held). */
static void kp_bind(struct kqueue *kq, struct kn_proc *c)
{
	bool adopted;

	if (!kq->dead) {
		struct kq_uevent kev = {
			.ident	= c->ident,
			.filter	= EVFILT_PROC,
			.flags	= EV_ADD | (c->kflags &
					    (EV_ONESHOT | EV_DISPATCH)),
			.fflags	= c->sfflags,
			.udata	= c->udata,
		};

		/* attach adopts c; a failure leaves it pending. */
		kq_register(kq, &kev);
	}
	spin_lock_irq(&kp_pending_lock);
	adopted = list_empty(&c->pending);
	list_del_init(&c->pending);
	spin_unlock_irq(&kp_pending_lock);
	if (adopted)
		return;
	if (!kq->dead)
		kp_trackerr(kq, c->parent);
	kp_unhook(c);
	kp_free(c);
}

static void kp_bind_work_fn(struct work_struct *work)
{
	for (;;) {
		struct kqueue *kq;
		struct kn_proc *c;

		spin_lock_irq(&kp_pending_lock);
		c = list_first_entry_or_null(&kp_pending, struct kn_proc,
					     pending);
		if (!c) {
			spin_unlock_irq(&kp_pending_lock);
			return;
		}
		kq = c->kq;
		/* c holds a reference: kq cannot go away here. */
		refcount_inc(&kq->refs);
		spin_unlock_irq(&kp_pending_lock);

		kq_lock(kq);
		while ((c = kp_first_pending(kq)))
			kp_bind(kq, c);
		kq_unlock(kq);
		kq_put(kq);
		cond_resched();
	}
}

/* A state NOTE_TRACK made for (kq, ident), not yet bound: take it. */
static struct kn_proc *kp_adopt(struct knote *kn)
{
	struct kn_proc *c, *found = NULL;

	spin_lock_irq(&kp_pending_lock);
	list_for_each_entry(c, &kp_pending, pending) {
		if (c->kq == kn->kq && c->ident == kn->ident) {
			list_del_init(&c->pending);
			found = c;
			break;
		}
	}
	spin_unlock_irq(&kp_pending_lock);
	return found;
}

/* kill(2)'s permission rule. */
static bool kp_may_watch(struct task_struct *task)
{
	const struct cred *cred = current_cred();
	const struct cred *tcred = get_task_cred(task);
	bool ok;

	ok = uid_eq(cred->euid, tcred->suid) ||
	     uid_eq(cred->euid, tcred->uid) ||
	     uid_eq(cred->uid, tcred->suid) ||
	     uid_eq(cred->uid, tcred->uid) ||
	     ns_capable(tcred->user_ns, CAP_KILL);
	put_cred(tcred);
	return ok;
}

/* Bind kp to kn; report what was recorded before. */
static void kp_bind_knote(struct kn_proc *kp, struct knote *kn)
{
	spin_lock_irq(&kp->lock);
	kp->kn = kn;
	kp->sfflags = kn->sfflags;
	kp->kflags = kn->flags;
	kp->udata = kn->udata;
	if (kp->fflags || kp->exited || kp->child)
		kn_activate(kn);
	spin_unlock_irq(&kp->lock);
}

static int kp_attach(struct knote *kn)
{
	struct task_struct *task;
	struct kn_proc *kp;
	struct pid *pid;
	s64 status = 0;
	enum kp_state st;

	kn->flags |= EV_CLEAR;
	kp = kp_adopt(kn);
	if (kp) {
		/* Now the knote's: it keeps the kqueue alive. */
		kq_put(kp->kq);
		kp->kq_ref = false;
		put_pid(kp->parent);
		kp->parent = NULL;
		kn->fpriv = kp;
		kp_bind_knote(kp, kn);
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

	kp = kzalloc(sizeof(*kp), GFP_KERNEL_ACCOUNT);
	if (!kp) {
		put_pid(pid);
		return -ENOMEM;
	}
	kp_init_state(kp);
	kp->pid = pid;
	kp->ns = get_pid_ns(task_active_pid_ns(current));
	kp->kq = kn->kq;
	kp->ident = kn->ident;
	kp->sfflags = kn->sfflags;

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
 * parent at the next pass, after the children's NOTE_CHILD.
 */
static bool kp_bind_children(struct knote *kn)
{
	struct kn_proc *kp = kn->fpriv, *c;
	bool any = false;

	while ((c = kp_first_child(kn->kq, kp->pid))) {
		kp_bind(kn->kq, c);
		any = true;
	}
	return any;
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
	ev->fflags = kp->fflags;
	ready = kp->fflags != 0;
	if (kp->exited) {
		kn->flags |= EV_ONESHOT;
		ev->flags |= EV_EOF;
		if (kp->fflags & NOTE_EXIT)
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

	if (!(kev->flags & EV_ADD))
		return 0;
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	spin_lock_irq(&kp->lock);
	kp->sfflags = kn->sfflags;
	kp->udata = kn->udata;
	spin_unlock_irq(&kp->lock);
	return 0;
}

struct kp_tp_want {
	const char		*name;
	struct tracepoint	**tp;
};

static void kp_find_tp(struct tracepoint *tp, void *priv)
{
	struct kp_tp_want *w;

	for (w = priv; w->name; w++)
		if (!strcmp(tp->name, w->name))
			*w->tp = tp;
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
	/* Free the pending states of closed kqueues. */
	flush_work(&kp_bind_work);
}

static int kp_init(void)
{
	struct kp_tp_want want[] = {
		{ "sched_process_fork", &kp_tp_fork },
		{ "sched_process_exec", &kp_tp_exec },
		{ NULL, NULL },
	};
	struct tracepoint *fork_tp, *exec_tp;
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(kp_hash); i++) {
		spin_lock_init(&kp_hash[i].lock);
		INIT_HLIST_HEAD(&kp_hash[i].head);
	}
	for_each_kernel_tracepoint(kp_find_tp, want);
	fork_tp = kp_tp_fork;
	exec_tp = kp_tp_exec;
	kp_tp_fork = NULL;
	kp_tp_exec = NULL;
	if (!fork_tp || !exec_tp) {
		pr_err("kqueue: no sched_process_fork/exec tracepoint\n");
		return -ENOENT;
	}
	err = tracepoint_probe_register(fork_tp, kp_fork_probe, NULL);
	if (err)
		return err;
	kp_tp_fork = fork_tp;
	err = tracepoint_probe_register(exec_tp, kp_exec_probe, NULL);
	if (err) {
		kp_exit();
		return err;
	}
	kp_tp_exec = exec_tp;
	return 0;
}

const struct kq_filterops kq_proc_filtops = {
	.attach	= kp_attach,
	.detach	= kp_detach,
	.event	= kp_event,
	.touch	= kp_touch,
	.init	= kp_init,
	.exit	= kp_exit,
};
