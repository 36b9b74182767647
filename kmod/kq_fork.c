// SPDX-License-Identifier: GPL-2.0
/*
 * kq_fork.c - a child made by fork() has no kqueue descriptors, as on
 * FreeBSD, where a kqueue is not copied into the child's table.
 *
 * Linux copies every descriptor in copy_process().  A probe on the
 * sched_process_fork tracepoint (the parent, atomic, before the child first
 * runs) gives each child with a descriptor table of its own a task work
 * item; it runs in the child before the child first returns to user space
 * (or at its exit, if it dies first) and closes every kqueue descriptor of
 * the child's table.  The child then finds those numbers free (EBADF,
 * reusable), whether it came from fork(), vfork() or posix_spawn().  A
 * child that shares its parent's table (clone(CLONE_FILES), threads)
 * shares the kqueues and keeps them.
 *
 * Cost: nothing while no kqueue exists; otherwise one small allocation per
 * fork and, in the child, one walk of its table, which the child pays (the
 * copy of the table it got cost the parent as much).  If the allocation
 * fails the child keeps the descriptors, and kevent() on them still fails
 * with EBADF (a kqueue belongs to its creator's table, kq_kqueue.c).
 *
 * Closing here is an ordinary close() by the child: the child's other
 * descriptors, the parent's kqueue and its knotes are untouched.
 *
 * Unload: work items in flight are counted; kq_fork_exit() waits for them
 * and then for their return out of the module (synchronize_rcu_tasks(),
 * as in kq_fdclose.c).  Locking: none of its own.
 */
#include <linux/fdtable.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/tracepoint.h>
#include <linux/wait_bit.h>
#include <trace/events/sched.h>

#include "kq.h"

static struct tracepoint *kq_fork_tp;
static atomic_t kq_fork_pending = ATOMIC_INIT(0);

static void kq_fork_work_done(void)
{
	if (atomic_dec_and_test(&kq_fork_pending))
		wake_up_var(&kq_fork_pending);
}

/* iterate_fd() callback: the number after fd if file is a kqueue. */
static int kq_fork_match(const void *unused, struct file *file,
			 unsigned int fd)
{
	return kq_is_kqueue_file(file) ? fd + 1 : 0;
}

/* Task work, in the child: close the kqueue descriptors of its table. */
static void kq_fork_close_kqueues(struct callback_head *cb)
{
	struct files_struct *files = current->files;
	int next = 0;

	kfree(cb);
	/* NULL when the child dies before it first runs (exit_files()). */
	while (files) {
		next = iterate_fd(files, next, kq_fork_match, NULL);
		if (!next)
			break;
		close_fd(next - 1);
		cond_resched();
	}
	kq_fork_work_done();
}

static void kq_fork_probe(void *data, struct task_struct *parent,
			  struct task_struct *child)
{
	struct callback_head *cb;

	if (likely(!atomic_long_read(&kq_nr_kqueues)))
		return;
	if ((child->flags & PF_KTHREAD) || !child->files ||
	    child->files == parent->files)
		return;
	cb = kmalloc(sizeof(*cb), GFP_ATOMIC | __GFP_NOWARN);
	if (!cb)
		return;
	init_task_work(cb, kq_fork_close_kqueues);
	atomic_inc(&kq_fork_pending);
	if (task_work_add(child, cb, TWA_RESUME)) {
		kfree(cb);
		kq_fork_work_done();
	}
}

/* No build if the probe does not match this kernel's tracepoint. */
static_assert(sizeof(register_trace_sched_process_fork(kq_fork_probe, NULL)));

int kq_fork_init(void)
{
	struct tracepoint *tp = kq_tracepoint("sched_process_fork");
	int err;

	if (!tp) {
		pr_err("kqueue: no sched_process_fork tracepoint\n");
		return -ENOENT;
	}
	err = tracepoint_probe_register(tp, kq_fork_probe, NULL);
	if (!err)
		kq_fork_tp = tp;
	return err;
}

void kq_fork_exit(void)
{
	if (kq_fork_tp)
		tracepoint_probe_unregister(kq_fork_tp, kq_fork_probe, NULL);
	tracepoint_synchronize_unregister();
	kq_fork_tp = NULL;
	wait_var_event(&kq_fork_pending, !atomic_read(&kq_fork_pending));
	synchronize_rcu_tasks();
}
