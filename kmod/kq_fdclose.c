// SPDX-License-Identifier: GPL-2.0
/*
 * kq_fdclose.c - BSD close semantics: closing a descriptor removes its
 * knotes from every kqueue of the process.
 *
 * A knote keeps a reference to its struct file (its wait-queue entries
 * live in the file), so the module must learn of the close instead of
 * waiting for the file's release.  A kprobe on filp_close() (and, on
 * kernels whose close(2) no longer calls it, filp_flush()) sees every
 * close, close_range, dup2 over an fd, close-on-exec and exit.  Both get
 * (file, files_struct) after the fd has left the table.  A dup2() onto an
 * fd that already holds the same file closes that fd too (as on BSD), but
 * leaves the table unchanged; a kprobe on do_dup2() catches that case.
 * The hook:
 *
 *   1. looks the file up in kq_fidx, a hash of watched files; a close of a
 *      file nobody watches costs one barrier and one load (empty bucket);
 *   2. for each knote on that file whose kqueue belongs to that
 *      files_struct and whose fd no longer maps to the file (a dup of it
 *      that stays open keeps its own knote), marks it KN_CLOSED (it is
 *      never reported again) and puts it on kq->closed;
 *   3. has kq_reap() drop those knotes in process context: through
 *      task_work, so that it happens before close() returns to user space
 *      and the file (a socket, say) is really released then; or through a
 *      workqueue where task_work cannot run (kernel threads).
 *
 * Locking: kq_fidx buckets are bit spinlocks (hlist_bl), taken inside
 * nothing but kq->lock's callers never hold them; the hook takes a bucket
 * lock, then kq->lock.  kq_reap() takes kq->mtx.  A pending reap holds a
 * kq reference (kq->refs) and a count that module exit waits for.
 *
 * The race between EV_ADD and a close of the same fd on another thread is
 * closed by kq_fdclose_watch(): it publishes the knote, then re-reads the
 * fd table (full barriers on both sides), so either the hook sees the
 * knote or the registration sees the close and fails with EBADF.
 */
#include <linux/fdtable.h>
#include <linux/hash.h>
#include <linux/kprobes.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/wait_bit.h>

#include "kq.h"

#define KQ_FIDX_BITS	12

static struct hlist_bl_head kq_fidx[1 << KQ_FIDX_BITS];
static atomic_t kq_reaps_pending = ATOMIC_INIT(0);
static struct workqueue_struct *kq_reap_wq;

static struct hlist_bl_head *kq_fidx_bucket(const struct file *file)
{
	return &kq_fidx[hash_ptr(file, KQ_FIDX_BITS)];
}

static void kq_reap_twork(struct callback_head *head)
{
	kq_reap(container_of(head, struct kqueue, reap_twork));
}

void kq_reap_work(struct work_struct *work)
{
	kq_reap(container_of(work, struct kqueue, reap_work));
}

/* Mark kn closed and make sure a reap is on its way (hook context). */
static void kq_knote_closed(struct knote *kn)
{
	struct kqueue *kq = kn->kq;
	unsigned long flags;
	bool schedule = false;

	spin_lock_irqsave(&kq->lock, flags);
	if (!(kn->status & KN_CLOSED)) {
		kn->status |= KN_CLOSED | KN_DISABLED;
		list_add_tail(&kn->closelink, &kq->closed);
		if (!kq->reap_pending) {
			kq->reap_pending = true;
			schedule = true;
		}
	}
	spin_unlock_irqrestore(&kq->lock, flags);
	if (!schedule)
		return;

	/* kq cannot be gone: kn is still in kq_fidx, so kq is not released. */
	refcount_inc(&kq->refs);
	atomic_inc(&kq_reaps_pending);
	if (!(current->flags & PF_KTHREAD)) {
		init_task_work(&kq->reap_twork, kq_reap_twork);
		if (!task_work_add(current, &kq->reap_twork, TWA_RESUME))
			return;
	}
	queue_work(kq_reap_wq, &kq->reap_work);
}

/* The fd that held file in files is gone (or now holds another file). */
static void kq_file_closed(struct file *file, struct files_struct *files)
{
	struct hlist_bl_head *b = kq_fidx_bucket(file);
	struct hlist_bl_node *pos;
	struct knote *kn;

	/*
	 * The caller removed the fd from the table; order that before the
	 * look at the index.  Pairs with the barrier in kq_fdclose_watch().
	 */
	smp_mb();
	if (hlist_bl_empty(b))
		return;

	rcu_read_lock();
	hlist_bl_lock(b);
	hlist_bl_for_each_entry(kn, pos, b, fnode) {
		if (kn->file != file || kn->kq->owner_files != files)
			continue;
		if (files_lookup_fd_raw(files, (unsigned int)kn->ident) == file)
			continue;
		kq_knote_closed(kn);
	}
	hlist_bl_unlock(b);
	rcu_read_unlock();
}

/*
 * dup2(newfd = fd) over an fd that holds file already: the fd is closed
 * and reopened on the same file; its knotes go (as on BSD).  Called with
 * files->file_lock held, before the table changes.
 */
static void kq_fd_reopened(struct files_struct *files, struct file *file,
			   unsigned int fd)
{
	struct hlist_bl_head *b = kq_fidx_bucket(file);
	struct hlist_bl_node *pos;
	struct knote *kn;

	if (files_lookup_fd_raw(files, fd) != file)
		return;		/* another file: filp_close() sees it */
	smp_mb();
	if (hlist_bl_empty(b))
		return;
	hlist_bl_lock(b);
	hlist_bl_for_each_entry(kn, pos, b, fnode)
		if (kn->file == file && kn->ident == fd &&
		    kn->kq->owner_files == files)
			kq_knote_closed(kn);
	hlist_bl_unlock(b);
}

static int kq_dup2_pre(struct kprobe *p, struct pt_regs *regs)
{
	void *files = (void *)regs_get_kernel_argument(regs, 0);
	struct file *file = (struct file *)regs_get_kernel_argument(regs, 1);
	unsigned int fd = regs_get_kernel_argument(regs, 2);

	if (files && file)
		kq_fd_reopened(files, file, fd);
	return 0;
}

static int kq_close_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct file *file = (struct file *)regs_get_kernel_argument(regs, 0);
	void *owner = (void *)regs_get_kernel_argument(regs, 1);

	/* filp_close(file, NULL) is a kernel-internal close: no fd. */
	if (file && owner)
		kq_file_closed(file, owner);
	return 0;
}

static struct kprobe kq_close_kprobes[] = {
	{ .symbol_name = "filp_close", .pre_handler = kq_close_pre },
	/* 6.7+: close(2) calls filp_flush() and __fput_sync() directly. */
	{ .symbol_name = "filp_flush", .pre_handler = kq_close_pre },
	/* static: a kernel that inlines it keeps same-file dup2 knotes. */
	{ .symbol_name = "do_dup2", .pre_handler = kq_dup2_pre },
};

static bool kq_kprobe_registered[ARRAY_SIZE(kq_close_kprobes)];

/*
 * Index kn by its file and check that its fd still refers to it; -EBADF
 * if the fd was closed meanwhile (kn is then unindexed again).
 */
int kq_fdclose_watch(struct knote *kn)
{
	struct hlist_bl_head *b = kq_fidx_bucket(kn->file);
	struct file *now;

	INIT_LIST_HEAD(&kn->closelink);
	hlist_bl_lock(b);
	hlist_bl_add_head(&kn->fnode, b);
	hlist_bl_unlock(b);

	/* Pairs with the barrier in kq_file_closed(). */
	smp_mb();
	rcu_read_lock();
	now = files_lookup_fd_raw(current->files, (unsigned int)kn->ident);
	rcu_read_unlock();
	if (now == kn->file)
		return 0;
	kq_fdclose_unwatch(kn);
	return -EBADF;
}

void kq_fdclose_unwatch(struct knote *kn)
{
	struct hlist_bl_head *b = kq_fidx_bucket(kn->file);

	hlist_bl_lock(b);
	hlist_bl_del_init(&kn->fnode);
	hlist_bl_unlock(b);
}

/* Drop the knotes of closed fds (process context). */
void kq_reap(struct kqueue *kq)
{
	struct knote *kn, *tmp;
	LIST_HEAD(closed);

	kq_lock(kq);
	spin_lock_irq(&kq->lock);
	list_splice_init(&kq->closed, &closed);
	kq->reap_pending = false;
	spin_unlock_irq(&kq->lock);
	list_for_each_entry_safe(kn, tmp, &closed, closelink)
		kn_drop(kn);
	kq_unlock(kq);
	kq_put(kq);
	if (atomic_dec_and_test(&kq_reaps_pending))
		wake_up_var(&kq_reaps_pending);
}

int kq_fdclose_init(void)
{
	unsigned int i;
	int err = 0;

	for (i = 0; i < ARRAY_SIZE(kq_fidx); i++)
		INIT_HLIST_BL_HEAD(&kq_fidx[i]);
	kq_reap_wq = alloc_workqueue("kqueue_reap", 0, 0);
	if (!kq_reap_wq)
		return -ENOMEM;
	/* filp_close is required; the others help where they exist. */
	for (i = 0; i < ARRAY_SIZE(kq_close_kprobes); i++) {
		int ret = register_kprobe(&kq_close_kprobes[i]);

		kq_kprobe_registered[i] = !ret;
		if (i == 0)
			err = ret;
	}
	if (err) {
		pr_err("kqueue: cannot hook filp_close (%d)\n", err);
		kq_fdclose_exit();
	}
	return err;
}

void kq_fdclose_exit(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(kq_close_kprobes); i++)
		if (kq_kprobe_registered[i])
			unregister_kprobe(&kq_close_kprobes[i]);
	/* Reaps queued by closes that raced with the last kqueue release. */
	wait_var_event(&kq_reaps_pending, !atomic_read(&kq_reaps_pending));
	destroy_workqueue(kq_reap_wq);
}
