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
 *   1. looks (file, files_struct) up in kq_fidx, the close index; a close
 *      while nothing is watched costs one barrier and one load, and a close
 *      of a file this process does not watch one hash lookup;
 *   2. for each knote of that entry whose fd no longer maps to the file (a
 *      dup of it that stays open keeps its own knote), marks it KN_CLOSED
 *      (it is never reported again) and puts it on kq->closed;
 *   3. has kq_reap() drop those knotes in process context: through
 *      task_work, so that it happens before close() returns to user space
 *      and the file (a socket, say) is really released then; or through a
 *      workqueue where task_work cannot run (kernel threads).
 *
 * The close index: one struct kq_fwatch per watched (file, files_struct of
 * the kqueues' owner) in a resizable hash (rhashtable: it grows with the
 * number of entries, so chains stay short however many files are watched),
 * each holding the list of its knotes.  Every knote of one file in one
 * process, whatever kqueue, filter or dup it is on, is on one entry, so a
 * lookup walks distinct watched files only, and the knotes are walked by a
 * close of that file in that process only: the process that registered
 * them pays for them, never a close elsewhere in the system (or of the
 * same file inherited by another process).  That owner's own close of a
 * watched file walks the file's knotes in that process (under fw->lock).
 * An entry lives while it has knotes; the last kq_fdclose_unwatch() takes
 * it out of the index and frees it after an RCU grace period.  Entries are
 * charged to the registering process's memory cgroup and are bounded by
 * its knotes (max_user_knotes); without memory for one, or room in the
 * index, EV_ADD fails with ENOMEM.
 *
 * Locking: lookups in kq_fidx are under RCU; its bucket locks are the
 * rhashtable's own.  fw->lock (a spinlock, never taken in irq context)
 * protects an entry's knote list and fw->dead, and is held while the
 * entry is removed, so a knote is only added to an entry still indexed.
 * The hook takes fw->lock (inside files->file_lock for do_dup2()), then
 * kq->lock.  kq_reap() takes kq->mtx.  A pending reap holds a kq
 * reference (kq->refs) and a count that module exit waits for.
 *
 * The race between EV_ADD and a close of the same fd on another thread is
 * closed by kq_fdclose_watch(): it publishes the knote, then re-reads the
 * fd table (full barriers on both sides), so either the hook sees the
 * knote or the registration sees the close and fails with EBADF.
 *
 * Module unload: a reaper that runs as task_work is module text called by
 * task_work_run(); after its last step (the decrement of kq_reaps_pending
 * that module exit waits for) it still has to return through that text.
 * Any "I am done" signal given from module code has this tail, so
 * kq_fdclose_exit() does not rely on one alone: it waits for the count to
 * reach 0 (no reap is left with work to do: no new one can be queued, the
 * kprobes are gone and no kqueue is open), then calls
 * synchronize_rcu_tasks(), which returns only once every task has made a
 * voluntary context switch or run in user space since: a reaper can do
 * neither before it has returned out of this module (its tail after the
 * decrement never sleeps), so none is left in module text when the module
 * is freed.  (Plain synchronize_rcu() would not do: with preemptible RCU a
 * tick in that tail is a quiescent state.)  Reaps run by the workqueue
 * return into the workqueue core, and destroy_workqueue() waits for them.
 */
#include <linux/fdtable.h>
#include <linux/hash.h>
#include <linux/kprobes.h>
#include <linux/rcupdate.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/wait_bit.h>

#include "kq.h"

/* The key: a file as seen by one process (the owner of the kqueues). */
struct kq_fkey {
	struct file		*file;
	struct files_struct	*files;		/* compared, never followed */
};

/* One entry of the close index: the knotes of one file in one process. */
struct kq_fwatch {
	struct rhash_head	node;		/* kq_fidx */
	struct kq_fkey		key;
	spinlock_t		lock;		/* knotes, dead */
	bool			dead;		/* out of kq_fidx: add no knote */
	struct hlist_head	knotes;		/* kn->fnode */
	struct rcu_head		rcu;
};

/* Two multiplications instead of jhash2(): this runs on every close(2). */
static u32 kq_fidx_hash(const void *data, u32 len, u32 seed)
{
	const struct kq_fkey *key = data;

	return hash_64((unsigned long)key->file ^ seed ^
		       (unsigned long)key->files * GOLDEN_RATIO_64, 32);
}

static int kq_fidx_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct kq_fkey *key = arg->key;
	const struct kq_fwatch *fw = obj;

	return fw->key.file != key->file || fw->key.files != key->files;
}

static const struct rhashtable_params kq_fidx_params = {
	.head_offset		= offsetof(struct kq_fwatch, node),
	.key_offset		= offsetof(struct kq_fwatch, key),
	.key_len		= sizeof(struct kq_fkey),
	.hashfn			= kq_fidx_hash,
	.obj_cmpfn		= kq_fidx_cmp,
	.automatic_shrinking	= true,
};

static struct rhashtable kq_fidx;
static bool kq_fidx_ready;
static atomic_t kq_reaps_pending = ATOMIC_INIT(0);
static struct workqueue_struct *kq_reap_wq;

/* The entry of (file, files), or NULL; under rcu_read_lock(). */
static struct kq_fwatch *kq_fwatch_find(struct file *file,
					struct files_struct *files)
{
	struct kq_fkey key = { .file = file, .files = files };

	return rhashtable_lookup(&kq_fidx, &key, kq_fidx_params);
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
		kq_ring_retract(kn, NULL);
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
	struct kq_fwatch *fw;
	struct knote *kn;

	/*
	 * A kqueue's own descriptor, in its owner's table (a fork child
	 * dropping its copies does not count): the number the library
	 * mapped the ring through may name something else now.
	 */
	if (kq_is_kqueue_file(file) &&
	    ((struct kqueue *)file->private_data)->owner_files == files)
		kq_ring_fd_closed(file->private_data);

	/*
	 * The caller removed the fd from the table; order that before the
	 * look at the index.  Pairs with the barrier in kq_fdclose_watch().
	 */
	smp_mb();
	if (!atomic_read(&kq_fidx.nelems))
		return;

	rcu_read_lock();
	fw = kq_fwatch_find(file, files);
	if (fw) {
		spin_lock(&fw->lock);
		hlist_for_each_entry(kn, &fw->knotes, fnode)
			if (files_lookup_fd_raw(files,
						(unsigned int)kn->ident) != file)
				kq_knote_closed(kn);
		spin_unlock(&fw->lock);
	}
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
	struct kq_fwatch *fw;
	struct knote *kn;

	if (files_lookup_fd_raw(files, fd) != file)
		return;		/* another file: filp_close() sees it */
	smp_mb();
	if (!atomic_read(&kq_fidx.nelems))
		return;
	rcu_read_lock();
	fw = kq_fwatch_find(file, files);
	if (fw) {
		spin_lock(&fw->lock);
		hlist_for_each_entry(kn, &fw->knotes, fnode)
			if (kn->ident == fd)
				kq_knote_closed(kn);
		spin_unlock(&fw->lock);
	}
	rcu_read_unlock();
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

/* Put kn on fw unless fw is on its way out of the index. */
static bool kq_fwatch_add(struct kq_fwatch *fw, struct knote *kn)
{
	bool ok;

	spin_lock(&fw->lock);
	ok = !fw->dead;
	if (ok) {
		hlist_add_head(&kn->fnode, &fw->knotes);
		kn->fwatch = fw;
	}
	spin_unlock(&fw->lock);
	return ok;
}

/* Index kn under (its file, its kqueue's owner): 0 or -ENOMEM. */
static int kq_fwatch_index(struct knote *kn)
{
	struct kq_fkey key = {
		.file = kn->file,
		.files = kn->kq->owner_files,
	};
	struct kq_fwatch *fw, *new = NULL;
	int err = 0;

	for (;;) {
		rcu_read_lock();
		fw = rhashtable_lookup(&kq_fidx, &key, kq_fidx_params);
		if (!fw && new) {
			fw = rhashtable_lookup_get_insert_fast(&kq_fidx,
							       &new->node,
							       kq_fidx_params);
			if (IS_ERR(fw)) {
				rcu_read_unlock();
				err = PTR_ERR(fw);
				break;
			}
			if (!fw) {
				fw = new;
				new = NULL;
			}
		}
		/* A dead entry is out of the index once we saw it dead. */
		if (fw && kq_fwatch_add(fw, kn)) {
			rcu_read_unlock();
			break;
		}
		rcu_read_unlock();
		if (!new) {
			new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
			if (!new) {
				err = -ENOMEM;
				break;
			}
			new->key = key;
			spin_lock_init(&new->lock);
			INIT_HLIST_HEAD(&new->knotes);
		}
		cond_resched();
	}
	kfree(new);
	/* No memory, or the index is full: no knote. */
	return err ? -ENOMEM : 0;
}

/*
 * Index kn by its file and check that its fd still refers to it; -EBADF
 * if the fd was closed meanwhile (kn is then unindexed again), -ENOMEM if
 * it cannot be indexed.
 */
int kq_fdclose_watch(struct knote *kn)
{
	struct file *now;
	int err;

	INIT_LIST_HEAD(&kn->closelink);
	err = kq_fwatch_index(kn);
	if (err)
		return err;

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
	struct kq_fwatch *fw = kn->fwatch;
	bool last;

	if (!fw)
		return;
	spin_lock(&fw->lock);
	hlist_del(&kn->fnode);
	kn->fwatch = NULL;
	last = hlist_empty(&fw->knotes);
	if (last) {
		fw->dead = true;
		rhashtable_remove_fast(&kq_fidx, &fw->node, kq_fidx_params);
	}
	spin_unlock(&fw->lock);
	/* The hook may still be looking at it (under RCU). */
	if (last)
		kfree_rcu(fw, rcu);
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
	int err;

	err = rhashtable_init(&kq_fidx, &kq_fidx_params);
	if (err)
		return err;
	kq_fidx_ready = true;
	kq_reap_wq = alloc_workqueue("kqueue_reap", 0, 0);
	if (!kq_reap_wq) {
		kq_fdclose_exit();
		return -ENOMEM;
	}
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
	/* ... and their return out of this module (see the top). */
	synchronize_rcu_tasks();
	if (kq_reap_wq)
		destroy_workqueue(kq_reap_wq);
	kq_reap_wq = NULL;
	if (kq_fidx_ready) {
		WARN_ON_ONCE(atomic_read(&kq_fidx.nelems));
		rhashtable_destroy(&kq_fidx);
		kq_fidx_ready = false;
	}
}
