// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_vnode.c - EVFILT_VNODE: changes to a file or a directory, seen
 * through fsnotify.
 *
 * ident is an open descriptor of a regular file or a directory of a
 * mountable file system (a symbolic link too, but the core refuses O_PATH
 * descriptors with EBADF); anything else (pipes, sockets, devices,
 * anonymous inodes such as eventfd, memfd and other files of internal
 * mounts) is EINVAL.  As for inotify_add_watch(2), the caller must be
 * allowed to read the file (EACCES otherwise, even on an O_WRONLY
 * descriptor), and each (inode, kqueue) pair takes one fsnotify mark
 * counted against the user's max_user_marks (ENOSPC beyond it, as
 * inotify_add_watch(2) beyond max_user_watches).  As on FreeBSD the
 * bits reported accumulate until a report of an EV_CLEAR knote clears
 * them; without EV_CLEAR the knote stays reported, with every bit seen
 * since it was added (level-triggered: FreeBSD's filt_vfsvnode() keeps
 * kn_fflags).  Each change has a hint, the NOTE_* bits FreeBSD's
 * vop_*_post hooks (sys/kern/vfs_subr.c) post for it, and as FreeBSD's
 * filter does, a knote reports the whole hint of every change since its
 * last report whose hint shares a bit with what it asked for, nothing of
 * one that shares none (NOTE_TRUNCATE, which is not FreeBSD's, only when
 * asked):
 *
 *   write, fallocate...  NOTE_WRITE, | NOTE_EXTEND if the size grew
 *   truncate, O_TRUNC    NOTE_ATTRIB (FreeBSD's setattr, whatever the size
 *                        does), | NOTE_TRUNCATE if the size shrank
 *   chmod, chown, times, xattrs          NOTE_ATTRIB
 *   link, unlink of another name         NOTE_LINK (FreeBSD: an unlink is
 *                                        NOTE_DELETE on every name)
 *   last name gone (link count 0)        NOTE_DELETE
 *   renamed                              NOTE_RENAME
 *   directory: entry created or removed  NOTE_WRITE
 *              subdirectory made or removed  NOTE_WRITE | NOTE_LINK
 *              entry renamed in place    NOTE_WRITE, | NOTE_LINK if a
 *                                        subdirectory replaced one
 *              entry moved in or out     NOTE_WRITE | NOTE_EXTEND, |
 *                                        NOTE_LINK if its link count
 *                                        changed (a subdirectory)
 *              rmdir(2) of it            NOTE_DELETE, seen on its parent
 *   open; close, not opened for writing; close, opened for writing; read
 *                                        NOTE_OPEN; NOTE_CLOSE;
 *                                        NOTE_CLOSE_WRITE; NOTE_READ
 *   the file system went away            NOTE_REVOKE with EV_EOF (EV_EOF
 *                                        even when not asked for, as on
 *                                        FreeBSD): FS_UNMOUNT, or a lazy
 *                                        unmount (umount2 MNT_DETACH) left
 *                                        the file out of the caller's tree
 *
 * Kernel facilities: one fsnotify group for the module (allocated by init,
 * put by exit once every mark of ours has been freed), and one inode mark
 * per (inode, kqueue) pair (struct kn_vmark), however many knotes of that
 * kqueue watch the inode: an open or a read of a widely used file costs
 * fsnotify one mark per kqueue watching it, not one per knote.  The marks
 * are found by (kqueue, inode) in one rhashtable (kn_vmarks).  A mark's
 * mask only grows while it lives (the union of what its knotes asked for;
 * fsnotify_recalc_mask() is not exported, so a grown mask reaches the
 * inode through a temporary mark added and removed at once).
 *
 * Fan-out without walking every knote: handle_event decodes the event once
 * per mark (a write carries a path, a setattr a dentry, a link-count change
 * the inode, a rename the moved dentry; the size and link count are
 * compared with the mark's last to tell NOTE_EXTEND and NOTE_TRUNCATE and
 * to find subdirectories coming and going) into its hint, stamps each bit
 * with the mark's event count (vm->stamp[]) and each pair of bits that can
 * share a hint (vm->pair[][]), and activates only the knotes that are armed
 * for one of its bits (vm->idle[bit]).  An activated knote is disarmed
 * until its event() has run; event() reports, from the stamps newer than
 * its last report (vn->seen), the bits it asked for and those that came in
 * one hint with one of them, and arms it again.  So each event costs
 * O(bits^2) plus one kn_activate() per knote that will be reported, and the
 * owner of the kqueue pays as much to collect those reports.
 *
 * A directory asked for NOTE_DELETE also needs a mark on its parent, which
 * sees FS_DELETE with the removed inode (Linux tells the removed directory
 * nothing while it is open): the directory's mark holds a count (nchild)
 * on the parent's mark of the same kqueue, and the parent's handle_event
 * finds the child's mark in kn_vmarks (under RCU).  When the directory is
 * renamed, the parent link follows it at the next report.
 *
 * NOTE_REVOKE also hangs a wait-queue entry on the poll queue of the
 * caller's mount namespace: a mount change makes the next check test
 * whether the file is still under the caller's root.  The poll queue is
 * reached through the caller's /proc/<tgid>/task/<tid>/mountinfo opened in
 * a proc instance the module mounted privately at load, never through a
 * path of the caller's mount namespace, which the caller may control (a
 * FIFO bind-mounted over /proc/self/mountinfo would block the open forever
 * under kq->mtx).
 *
 * Lifetime.  A knote's state (struct kn_vnode) is on its mark's idle lists
 * only under vm->lock; detach takes it off before it frees it (after an
 * RCU grace period, for the mount wake function), so no handle_event can
 * reach a detached knote.  A mark lives while it has knotes (nwatch) or
 * child directories' marks (nchild); the last one gone takes it out of
 * kn_vmarks, uncharges it and destroys it; fsnotify frees it through
 * free_mark after its SRCU grace period, and free_mark frees the memory
 * after an RCU grace period (the parent's lookup).  fsnotify may destroy a
 * mark on its own (the inode's last link removed, unmount): it stays
 * allocated and hashed until its last knote goes, but a new knote on the
 * inode gets a new mark (the dead one is unhashed).  Every path that ends
 * a knote (EV_DELETE, EV_ONESHOT, close of the fd, close of the kqueue)
 * goes through detach.  Module unload waits for every mark to be freed
 * (and for the fsnotify reaper that freed it to finish) before it puts the
 * group.
 *
 * Locking: attach/detach/touch/event and every count and link of a mark
 * (nwatch, nchild, ndelete, pmark, hashed) run under kq->mtx.
 * handle_event runs in the file system operation (process context,
 * possibly under inode locks, under fsnotify's SRCU): it takes vm->lock,
 * then kq->lock in kn_activate(); for a removed child directory it takes
 * the child mark's lock, never two marks' locks at once (a rename between
 * directories: one mark, then the other).  vm->lock guards the stamps and
 * pairs, the idle lists and each knote's armed/seen/pend.  The
 * mount-namespace wake function runs under the namespace's wait-queue lock
 * and takes vn->lock (then kq->lock).  Both vm->lock and vn->lock are
 * leaves but for kq->lock.
 */
#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/fsnotify_backend.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "kq.h"
#include "kq_compat.h"

/* Every NOTE_* of EVFILT_VNODE (kqueue_event.h). */
#define KN_VN_NOTES		(NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | \
				 NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME | \
				 NOTE_REVOKE | NOTE_OPEN | NOTE_CLOSE | \
				 NOTE_CLOSE_WRITE | NOTE_READ | NOTE_TRUNCATE)

/*
 * Internal bits, never reported.  The first two are slots of a mark's
 * event log like the NOTE_* bits below them; KN_VN_MOUNTS is a knote's own.
 */
#define KN_VN_REVOKED		0x1000	/* gone: EV_EOF from now on */
#define KN_VN_REHOME		0x2000	/* directory moved: move parent link */
#define KN_VN_NSLOTS		14
#define KN_VN_SLOTS		((1U << KN_VN_NSLOTS) - 1)
#define KN_VN_MOUNTS		0x4000	/* mount table changed: recheck */
static_assert(KN_VN_NOTES == (KN_VN_REVOKED - 1));	/* NOTE_*: low slots */

/*
 * Events on a directory's entries.  A rename is seen once, as FS_RENAME on
 * the old directory's marks and on the new one's (FS_MOVED_FROM/TO would
 * not tell a move between directories from a rename in place).
 */
#define KN_VN_DIRENT		(FS_CREATE | FS_DELETE | FS_RENAME)

/*
 * The bits that can come together in one event's hint (a write that
 * extends, a subdirectory made or moved, a truncation); every other bit
 * comes alone.  For each pair of them a mark keeps the event count of the
 * last event that had both (kn_vmark.pair), so that a knote is told the
 * whole hint of each event that had a bit it asked for, as FreeBSD does.
 */
#define KN_VN_NGROUPED		5
static const u32 kn_vn_grouped[KN_VN_NGROUPED] = {
	NOTE_WRITE, NOTE_EXTEND, NOTE_ATTRIB, NOTE_LINK, NOTE_TRUNCATE,
};

struct kn_vkey {
	struct kqueue		*kq;
	struct inode		*inode;
};

/* The mark of one (inode, kqueue) pair. */
struct kn_vmark {
	struct fsnotify_mark	fsn;
	struct kn_vkey		key;		/* compared, never followed */
	struct rhash_head	hnode;		/* in kn_vmarks while hashed */
	struct rcu_head		rcu;
	bool			temp;		/* see kn_vmark_grow() */

	/* under kq->mtx */
	bool			hashed;
	unsigned int		nwatch;		/* knotes watching the inode */
	unsigned int		ndelete;	/* of them: dirs asking NOTE_DELETE */
	unsigned int		nchild;		/* child dirs' marks linked here */
	struct kn_vmark		*pmark;		/* on the parent dir (WRITE_ONCE) */

	/* under lock */
	spinlock_t		lock;
	u64			seq;		/* events so far */
	u64			stamp[KN_VN_NSLOTS];	/* seq of each slot's last */
	/* seq of the last event with both kn_vn_grouped[i] and [j] */
	u64			pair[KN_VN_NGROUPED][KN_VN_NGROUPED];
	struct list_head	idle[KN_VN_NSLOTS];	/* knotes armed for each */
	loff_t			size;		/* i_size at the last FS_MODIFY */
	unsigned int		nlink;		/* directory: at the last change */
};

/* A knote's state; kn->fpriv. */
struct kn_vnode {
	struct knote		*kn;
	struct kn_vmark		*vm;		/* the (inode, kqueue) mark */
	u32			want;		/* NOTE_*; kq->mtx and vm->lock */
	bool			revoked;	/* EV_EOF (under kq->mtx) */

	/* under vm->lock */
	bool			armed;		/* on vm->idle[] */
	u32			pend;		/* seen before want changed */
	u64			seen;		/* vm->seq at the last report */
	struct list_head	idle[KN_VN_NSLOTS];

	/* NOTE_REVOKE by a lazy unmount: the mount namespace's poll queue */
	spinlock_t		lock;		/* mnt_live */
	bool			mnt_live;	/* the wake function may activate */
	atomic_t		local;		/* KN_VN_MOUNTS, NOTE_REVOKE... */
	struct file		*mnt_file;	/* the caller's mountinfo */
	wait_queue_head_t	*mnt_whead;	/* NULL once POLLFREE'd */
	wait_queue_entry_t	mnt_wait;
	struct path		root;		/* the file must stay under it */
	struct rcu_head		rcu;
};

struct kn_vnode_ptable {
	poll_table		pt;
	struct kn_vnode		*vn;
};

static const struct rhashtable_params kn_vmark_params = {
	.key_len		= sizeof(struct kn_vkey),
	.key_offset		= offsetof(struct kn_vmark, key),
	.head_offset		= offsetof(struct kn_vmark, hnode),
	.automatic_shrinking	= true,
};

static struct fsnotify_group *kn_vnode_group;
static struct rhashtable kn_vmarks;
static atomic_t kn_vnode_nmarks = ATOMIC_INIT(0);
/* A private proc instance: the callers' mountinfo files (or an error). */
static struct vfsmount *kn_vnode_proc;

/* The FS_* events the mark on the inode needs for want. */
static u32 kn_vnode_fsmask(u32 want, bool isdir)
{
	u32 mask = FS_UNMOUNT;

	if (want & NOTE_DELETE)
		mask |= FS_ATTRIB | FS_DELETE_SELF | (isdir ? FS_MOVE_SELF : 0);
	if (want & NOTE_WRITE)
		mask |= isdir ? KN_VN_DIRENT : FS_MODIFY;
	if (want & NOTE_LINK)
		mask |= isdir ? KN_VN_DIRENT : FS_ATTRIB;
	/* a directory's NOTE_EXTEND: an entry moved in or out (a rename) */
	if (want & NOTE_EXTEND)
		mask |= isdir ? KN_VN_DIRENT : FS_MODIFY;
	if (want & NOTE_TRUNCATE)
		mask |= FS_MODIFY;
	/* setattr of the size or of one time comes as FS_MODIFY/FS_ACCESS */
	if (want & NOTE_ATTRIB)
		mask |= FS_ATTRIB | FS_MODIFY | FS_ACCESS;
	if (want & NOTE_RENAME)
		mask |= FS_MOVE_SELF;
	if (want & NOTE_OPEN)
		mask |= FS_OPEN;
	if (want & NOTE_CLOSE)
		mask |= FS_CLOSE_NOWRITE;
	if (want & NOTE_CLOSE_WRITE)
		mask |= FS_CLOSE_WRITE;
	if (want & NOTE_READ)
		mask |= FS_ACCESS;
	return mask;
}

/* Does a knote asking for want need a mark on the parent directory? */
static bool kn_vnode_wants_parent(bool isdir, u32 want)
{
	return isdir && (want & NOTE_DELETE);
}

/* ---- arming: under vm->lock -------------------------------------------- */

/* The knote whose idle[s] is l. */
static struct kn_vnode *kn_vnode_of(struct list_head *l, unsigned int s)
{
	return container_of(l - s, struct kn_vnode, idle[0]);
}

/* Wait for the bits asked for, and for the mark's internal ones. */
static void kn_vnode_arm(struct kn_vnode *vn)
{
	unsigned long slots = vn->want | KN_VN_REVOKED;
	unsigned int s;

	if (vn->want & NOTE_DELETE)
		slots |= KN_VN_REHOME;
	for_each_set_bit(s, &slots, KN_VN_NSLOTS)
		list_add_tail(&vn->idle[s], &vn->vm->idle[s]);
	vn->armed = true;
}

static void kn_vnode_disarm(struct kn_vnode *vn)
{
	unsigned int s;

	for (s = 0; s < KN_VN_NSLOTS; s++)
		list_del_init(&vn->idle[s]);
	vn->armed = false;
}

/* The slots stamped since seen. */
static u32 kn_vmark_since(const struct kn_vmark *vm, u64 seen)
{
	u32 bits = 0;
	unsigned int s;

	for (s = 0; s < KN_VN_NSLOTS; s++)
		if (vm->stamp[s] > seen)
			bits |= BIT(s);
	return bits;
}

/*
 * What a knote asking for want reports of the events since seen: the whole
 * hint of every event that had a bit of want (FreeBSD's filt_vfsvnode ORs
 * the hint in when it shares a bit with the knote's fflags), with the
 * internal slots.  NOTE_TRUNCATE is not FreeBSD's: only when asked for.
 */
static u32 kn_vmark_report(const struct kn_vmark *vm, u64 seen, u32 want)
{
	u32 ff = kn_vmark_since(vm, seen) &
		 (want | KN_VN_REVOKED | KN_VN_REHOME);
	unsigned int i, j;

	for (i = 0; i < KN_VN_NGROUPED; i++) {
		if (!(want & kn_vn_grouped[i]))
			continue;
		for (j = 0; j < KN_VN_NGROUPED; j++)
			if (vm->pair[i][j] > seen)
				ff |= kn_vn_grouped[j];
	}
	if (!(want & NOTE_TRUNCATE))
		ff &= ~NOTE_TRUNCATE;
	return ff;
}

/*
 * An event with the hint hits happened: stamp its bits (and its pairs of
 * grouped bits) and wake the knotes armed for one of them.
 */
static void kn_vmark_fire(struct kn_vmark *vm, u32 hits)
{
	unsigned long slots = hits & KN_VN_SLOTS;
	struct kn_vnode *vn;
	unsigned int s, i, j;

	vm->seq++;
	for (i = 0; i < KN_VN_NGROUPED; i++) {
		if (!(hits & kn_vn_grouped[i]))
			continue;
		for (j = 0; j < KN_VN_NGROUPED; j++)
			if (j != i && (hits & kn_vn_grouped[j]))
				vm->pair[i][j] = vm->seq;
	}
	for_each_set_bit(s, &slots, KN_VN_NSLOTS) {
		vm->stamp[s] = vm->seq;
		while (!list_empty(&vm->idle[s])) {
			vn = kn_vnode_of(vm->idle[s].next, s);
			kn_vnode_disarm(vn);
			kn_activate(vn->kn);
		}
	}
}

/* ---- events ------------------------------------------------------------ */

/*
 * The hint of the events in mask for the mark's inode, as FreeBSD's
 * vop_*_post hooks post it; under vm->lock.  cross: an FS_RENAME between
 * two directories.
 */
static u32 kn_vmark_decode(struct kn_vmark *vm, u32 mask, int data_type,
			   bool cross)
{
	struct inode *inode = vm->key.inode;
	bool setattr = data_type == FSNOTIFY_EVENT_DENTRY;
	u32 hits = 0;

	if (mask & FS_MODIFY) {
		loff_t size = i_size_read(inode);
		loff_t old = vm->size;

		vm->size = size;
		/*
		 * A write carries a path: NOTE_WRITE, with NOTE_EXTEND if it
		 * went past the end.  notify_change() a dentry: truncate(2) or
		 * a time, which FreeBSD posts as NOTE_ATTRIB alone, whatever the
		 * size does (NOTE_TRUNCATE, ours, when it shrank).
		 */
		if (setattr)
			hits |= NOTE_ATTRIB | (size < old ? NOTE_TRUNCATE : 0);
		else
			hits |= NOTE_WRITE | (size > old ? NOTE_EXTEND : 0);
	}
	if (mask & FS_ACCESS)
		hits |= setattr ? NOTE_ATTRIB : NOTE_READ;
	if (mask & FS_ATTRIB) {
		/* fsnotify_link_count() passes the inode itself. */
		if (data_type == FSNOTIFY_EVENT_INODE)
			hits |= READ_ONCE(inode->i_nlink) ?
				NOTE_LINK : NOTE_DELETE;
		else
			hits |= NOTE_ATTRIB;
	}
	if (mask & KN_VN_DIRENT) {
		unsigned int nlink = READ_ONCE(inode->i_nlink);

		/* A rename between directories also extends both. */
		hits |= NOTE_WRITE | (cross ? NOTE_EXTEND : 0);
		if (vm->nlink != nlink ||
		    ((mask & FS_ISDIR) && (mask & (FS_CREATE | FS_DELETE))))
			hits |= NOTE_LINK;
		vm->nlink = nlink;
	}
	if (mask & FS_DELETE_SELF)
		hits |= NOTE_DELETE;
	if (mask & FS_MOVE_SELF) {
		hits |= NOTE_RENAME;
		if (READ_ONCE(vm->pmark))
			hits |= KN_VN_REHOME;
	}
	if (mask & FS_OPEN)
		hits |= NOTE_OPEN;
	if (mask & FS_CLOSE_NOWRITE)
		hits |= NOTE_CLOSE;
	if (mask & FS_CLOSE_WRITE)
		hits |= NOTE_CLOSE_WRITE;
	if (mask & FS_UNMOUNT)
		hits |= NOTE_REVOKE | KN_VN_REVOKED;
	return hits;
}

/*
 * rmdir(2) of child, seen by its parent's mark pm: NOTE_DELETE for the
 * child's mark of the same kqueue, if there is one.
 */
static void kn_vnode_child_deleted(struct kn_vmark *pm,
				   const struct inode *child)
{
	struct kn_vkey key = { .kq = pm->key.kq,
			       .inode = (struct inode *)child };
	struct kn_vmark *vm;

	if (READ_ONCE(child->i_nlink))
		return;
	rcu_read_lock();
	vm = rhashtable_lookup(&kn_vmarks, &key, kn_vmark_params);
	if (vm) {
		spin_lock(&vm->lock);
		kn_vmark_fire(vm, NOTE_DELETE);
		spin_unlock(&vm->lock);
	}
	rcu_read_unlock();
}

/* The event for one of our marks. */
static void kn_vmark_event(struct fsnotify_mark *fsn, u32 mask,
			   const void *data, int data_type, bool cross)
{
	struct kn_vmark *vm = container_of(fsn, struct kn_vmark, fsn);
	u32 hits;

	if (vm->temp)
		return;
	if ((mask & FS_DELETE) && (mask & FS_ISDIR) &&
	    data_type == FSNOTIFY_EVENT_INODE)
		kn_vnode_child_deleted(vm, data);
	spin_lock(&vm->lock);
	hits = kn_vmark_decode(vm, mask, data_type, cross);
	if (hits)
		kn_vmark_fire(vm, hits);
	spin_unlock(&vm->lock);
}

static int kn_vnode_handle_event(struct fsnotify_group *group, u32 mask,
				 const void *data, int data_type,
				 struct inode *dir, const struct qstr *name,
				 u32 cookie, struct fsnotify_iter_info *iter)
{
	struct fsnotify_mark *fsn = fsnotify_iter_inode_mark(iter);
	struct fsnotify_mark *fsn2;
	struct dentry *moved;
	bool cross;

	if (!(mask & FS_RENAME)) {
		if (fsn)
			kn_vmark_event(fsn, mask, data, data_type, false);
		return 0;
	}
	/*
	 * FS_RENAME comes after the move, with the moved dentry: to the old
	 * directory's marks, and to the new one's as INODE2 (the same mark
	 * for a rename in place).  Either may be here only for the other's
	 * mask.
	 */
	moved = fsnotify_data_dentry(data, data_type);
	cross = moved && d_inode(moved->d_parent) != dir;
	fsn2 = fsnotify_iter_mark(iter, FSNOTIFY_ITER_TYPE_INODE2);
	if (fsn && (READ_ONCE(fsn->mask) & FS_RENAME))
		kn_vmark_event(fsn, mask, data, data_type, cross);
	if (fsn2 && fsn2 != fsn && (READ_ONCE(fsn2->mask) & FS_RENAME))
		kn_vmark_event(fsn2, mask, data, data_type, cross);
	return 0;
}

/* fsnotify's last reference is gone and no handler can run: free. */
static void kn_vnode_free_mark(struct fsnotify_mark *fsn)
{
	struct kn_vmark *vm = container_of(fsn, struct kn_vmark, fsn);

	/* kn_vnode_child_deleted() may still be looking at it (RCU). */
	kfree_rcu(vm, rcu);
	if (atomic_dec_and_test(&kn_vnode_nmarks))
		wake_up_var(&kn_vnode_nmarks);
}

static const struct fsnotify_ops kn_vnode_fsnotify_ops = {
	.handle_event	= kn_vnode_handle_event,
	.free_mark	= kn_vnode_free_mark,
};

/* ---- marks: under kq->mtx ---------------------------------------------- */

static struct kn_vmark *kn_vmark_alloc(u32 mask)
{
	struct kn_vmark *vm;
	unsigned int s;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;
	fsnotify_init_mark(&vm->fsn, kn_vnode_group);
	vm->fsn.mask = mask;
	spin_lock_init(&vm->lock);
	for (s = 0; s < KN_VN_NSLOTS; s++)
		INIT_LIST_HEAD(&vm->idle[s]);
	atomic_inc(&kn_vnode_nmarks);
	return vm;
}

/*
 * Take the mark off (if fsnotify has not already) and drop our reference;
 * fsnotify frees it after the SRCU grace period.
 */
static void kn_vmark_kill(struct kn_vmark *vm)
{
	fsnotify_destroy_mark(&vm->fsn, kn_vnode_group);
	fsnotify_put_mark(&vm->fsn);
}

/*
 * Make vm's mask cover mask too.  fsnotify keeps the union of the masks of
 * an inode's marks in the inode and recomputes it when a mark is added or
 * removed, but the function that does it is not exported: the new mask is
 * set, then a temporary mark with it is added and removed.  The mask never
 * shrinks: an unwanted event costs handle_event a stamp, no knote.
 */
static int kn_vmark_grow(struct kn_vmark *vm, struct inode *inode, u32 mask)
{
	struct kn_vmark *tmp;
	u32 new;
	int err;

	new = mask & ~READ_ONCE(vm->fsn.mask);
	if (!new)
		return 0;
	tmp = kn_vmark_alloc(mask);
	if (!tmp)
		return -ENOMEM;
	tmp->temp = true;
	if (new & (FS_MODIFY | KN_VN_DIRENT)) {
		/* What the comparisons start from. */
		spin_lock(&vm->lock);
		vm->size = i_size_read(inode);
		vm->nlink = READ_ONCE(inode->i_nlink);
		spin_unlock(&vm->lock);
	}
	fsnotify_group_lock(kn_vnode_group);
	spin_lock(&vm->fsn.lock);
	WRITE_ONCE(vm->fsn.mask, vm->fsn.mask | mask);
	spin_unlock(&vm->fsn.lock);
	fsnotify_group_unlock(kn_vnode_group);
	err = fsnotify_add_inode_mark(&tmp->fsn, inode, 0);
	if (!err)
		fsnotify_destroy_mark(&tmp->fsn, kn_vnode_group);
	fsnotify_put_mark(&tmp->fsn);
	return err;
}

/*
 * kq's mark on inode, made (and charged to the user) if there is none,
 * its mask grown to cover mask.  A new mark has no user yet: the caller
 * counts itself in or calls kn_vmark_unuse().
 */
static struct kn_vmark *kn_vmark_get(struct kqueue *kq, struct inode *inode,
				     u32 mask)
{
	struct kn_vkey key = { .kq = kq, .inode = inode };
	struct kn_vmark *vm;
	int err;

	vm = rhashtable_lookup_fast(&kn_vmarks, &key, kn_vmark_params);
	if (vm && (READ_ONCE(vm->fsn.flags) & FSNOTIFY_MARK_FLAG_ATTACHED)) {
		err = kn_vmark_grow(vm, inode, mask);
		return err ? ERR_PTR(err) : vm;
	}
	if (vm) {
		/* fsnotify dropped it: its knotes keep it, new ones don't. */
		rhashtable_remove_fast(&kn_vmarks, &vm->hnode,
				       kn_vmark_params);
		vm->hashed = false;
	}
	if (!kq_user_charge_res(kq->user, KQ_RES_MARKS))
		return ERR_PTR(-ENOSPC);
	vm = kn_vmark_alloc(mask | FS_UNMOUNT);
	if (!vm) {
		err = -ENOMEM;
		goto uncharge;
	}
	vm->key = key;
	vm->size = i_size_read(inode);
	vm->nlink = READ_ONCE(inode->i_nlink);
	err = fsnotify_add_inode_mark(&vm->fsn, inode, 0);
	if (err) {
		/* Never attached: this frees it (kn_vnode_free_mark). */
		fsnotify_put_mark(&vm->fsn);
		goto uncharge;
	}
	err = rhashtable_insert_fast(&kn_vmarks, &vm->hnode, kn_vmark_params);
	if (err) {
		/* -EBUSY/-E2BIG from a table that cannot grow: as FreeBSD. */
		err = -ENOMEM;
		kn_vmark_kill(vm);
		goto uncharge;
	}
	vm->hashed = true;
	return vm;

uncharge:
	kq_user_uncharge_res(kq->user, KQ_RES_MARKS);
	return ERR_PTR(err);
}

static void kn_vmark_unlink_parent(struct kn_vmark *vm);

/* Destroy vm if nothing uses it any more. */
static void kn_vmark_unuse(struct kn_vmark *vm)
{
	if (vm->nwatch || vm->nchild)
		return;
	if (vm->pmark)
		kn_vmark_unlink_parent(vm);
	if (vm->hashed) {
		rhashtable_remove_fast(&kn_vmarks, &vm->hnode,
				       kn_vmark_params);
		vm->hashed = false;
	}
	kq_user_uncharge_res(vm->key.kq->user, KQ_RES_MARKS);
	kn_vmark_kill(vm);
}

static void kn_vmark_unlink_parent(struct kn_vmark *vm)
{
	struct kn_vmark *pm = vm->pmark;

	WRITE_ONCE(vm->pmark, NULL);
	pm->nchild--;
	kn_vmark_unuse(pm);
}

/* The parent directory's dentry, or NULL for a root. */
static struct dentry *kn_vnode_parent(struct file *file)
{
	struct dentry *dentry = file->f_path.dentry;
	struct dentry *parent;

	if (IS_ROOT(dentry))
		return NULL;
	parent = dget_parent(dentry);
	if (parent == dentry || d_really_is_negative(parent)) {
		dput(parent);
		return NULL;
	}
	return parent;
}

/*
 * Link the directory's mark vm to the mark of the parent directory of
 * file, unless it is linked to that one already.  Best effort when the
 * directory has no parent (a root).
 */
static int kn_vmark_link_parent(struct kn_vmark *vm, struct file *file)
{
	struct dentry *parent = kn_vnode_parent(file);
	struct kn_vmark *pm;

	if (!parent)
		return 0;
	pm = vm->pmark;
	if (!pm || pm->key.inode != d_inode(parent)) {
		pm = kn_vmark_get(vm->key.kq, d_inode(parent), FS_DELETE);
		if (!IS_ERR(pm)) {
			pm->nchild++;
			if (vm->pmark)
				kn_vmark_unlink_parent(vm);
			WRITE_ONCE(vm->pmark, pm);
		}
	}
	dput(parent);
	return PTR_ERR_OR_ZERO(pm);
}

/* ---- NOTE_REVOKE: the caller's mount namespace ------------------------- */

static int kn_vnode_mnt_wake(struct wait_queue_entry *wait, unsigned int mode,
			     int sync, void *key)
{
	struct kn_vnode *vn = container_of(wait, struct kn_vnode, mnt_wait);

	if (unlikely(key_to_poll(key) & POLLFREE)) {
		list_del_init(&wait->entry);
		/* Pairs with the acquire in kn_vnode_unwatch_mounts(). */
		smp_store_release(&vn->mnt_whead, NULL);
	}
	atomic_or(KN_VN_MOUNTS, &vn->local);
	spin_lock(&vn->lock);
	if (vn->mnt_live)
		kn_activate(vn->kn);
	spin_unlock(&vn->lock);
	return 0;
}

static void kn_vnode_mnt_queue(struct file *file, wait_queue_head_t *whead,
			       poll_table *pt)
{
	struct kn_vnode_ptable *vpt = container_of(pt, struct kn_vnode_ptable,
						   pt);
	struct kn_vnode *vn = vpt->vn;

	if (vn->mnt_whead)
		return;
	init_waitqueue_func_entry(&vn->mnt_wait, kn_vnode_mnt_wake);
	vn->mnt_whead = whead;
	add_wait_queue(whead, &vn->mnt_wait);
}

static void kn_vnode_unwatch_mounts(struct kn_vnode *vn)
{
	wait_queue_head_t *whead;

	if (!vn->mnt_file)
		return;
	rcu_read_lock();
	/* Pairs with the release in kn_vnode_mnt_wake() on POLLFREE. */
	whead = smp_load_acquire(&vn->mnt_whead);
	if (whead)
		remove_wait_queue(whead, &vn->mnt_wait);
	rcu_read_unlock();
	spin_lock(&vn->lock);
	vn->mnt_live = false;
	spin_unlock(&vn->lock);
	vn->mnt_whead = NULL;
	fput(vn->mnt_file);
	vn->mnt_file = NULL;
	path_put(&vn->root);
}

/*
 * Be told of changes to the caller's mount table, so that a lazy unmount of
 * the file's file system is seen.  Best effort: without the private proc
 * instance, or for a file already outside the caller's tree (an internal
 * mount), NOTE_REVOKE comes only from FS_UNMOUNT.  Nothing here resolves a
 * path in the caller's mount namespace (see the top of the file).
 */
static void kn_vnode_watch_mounts(struct kn_vnode *vn, struct file *file)
{
	struct kn_vnode_ptable vpt = { .vn = vn };
	struct path proot;
	char name[48];
	struct file *mf;

	if (IS_ERR_OR_NULL(kn_vnode_proc))
		return;
	get_fs_root(current->fs, &vn->root);
	if (!path_is_under(&file->f_path, &vn->root))
		goto out_root;
	proot.mnt = kn_vnode_proc;
	proot.dentry = kn_vnode_proc->mnt_root;
	snprintf(name, sizeof(name), "%d/task/%d/mountinfo",
		 task_tgid_nr(current), task_pid_nr(current));
	mf = file_open_root(&proot, name, O_RDONLY, 0);
	if (IS_ERR(mf))
		goto out_root;
	spin_lock(&vn->lock);
	vn->mnt_live = true;
	spin_unlock(&vn->lock);
	init_poll_funcptr(&vpt.pt, kn_vnode_mnt_queue);
	vfs_poll(mf, &vpt.pt);
	vn->mnt_file = mf;
	if (!vn->mnt_whead) {
		kn_vnode_unwatch_mounts(vn);
		return;
	}
	return;

out_root:
	path_put(&vn->root);
}

/* ---- the filter -------------------------------------------------------- */

static int kn_vnode_attach(struct knote *kn)
{
	struct inode *inode = file_inode(kn->file);
	umode_t mode = inode->i_mode;
	bool isdir = S_ISDIR(mode);
	struct kn_vnode *vn;
	struct kn_vmark *vm;
	unsigned int s;
	int err;

	/* Files of a file system; not of internal ones (anon inodes, memfd). */
	if ((!S_ISREG(mode) && !isdir && !S_ISLNK(mode)) ||
	    (inode->i_sb->s_flags & SB_NOUSER))
		return -EINVAL;
	/* What inotify_add_watch(2) asks: events tell of reads and opens. */
	err = path_permission(&kn->file->f_path, MAY_READ);
	if (err)
		return err;

	vn = kzalloc(sizeof(*vn), GFP_KERNEL_ACCOUNT);
	if (!vn)
		return -ENOMEM;
	vn->kn = kn;
	vn->want = kn->sfflags & KN_VN_NOTES;
	spin_lock_init(&vn->lock);
	for (s = 0; s < KN_VN_NSLOTS; s++)
		INIT_LIST_HEAD(&vn->idle[s]);

	vm = kn_vmark_get(kn->kq, inode, kn_vnode_fsmask(vn->want, isdir));
	if (IS_ERR(vm)) {
		kfree(vn);
		return PTR_ERR(vm);
	}
	if (kn_vnode_wants_parent(isdir, vn->want) && !vm->pmark) {
		err = kn_vmark_link_parent(vm, kn->file);
		if (err) {
			kn_vmark_unuse(vm);
			kfree(vn);
			return err;
		}
	}
	vm->nwatch++;
	if (kn_vnode_wants_parent(isdir, vn->want))
		vm->ndelete++;
	vn->vm = vm;
	spin_lock(&vm->lock);
	vn->seen = vm->seq;
	kn_vnode_arm(vn);
	spin_unlock(&vm->lock);

	if (vn->want & NOTE_REVOKE)
		kn_vnode_watch_mounts(vn, kn->file);
	kn->fpriv = vn;
	return 0;
}

static void kn_vnode_detach(struct knote *kn)
{
	struct kn_vnode *vn = kn->fpriv;
	struct kn_vmark *vm = vn->vm;

	kn_vnode_unwatch_mounts(vn);
	spin_lock(&vm->lock);
	kn_vnode_disarm(vn);
	spin_unlock(&vm->lock);
	vm->nwatch--;
	if (kn_vnode_wants_parent(S_ISDIR(file_inode(kn->file)->i_mode),
				  vn->want))
		vm->ndelete--;
	if (!vm->ndelete && vm->pmark)
		kn_vmark_unlink_parent(vm);
	kn_vmark_unuse(vm);
	kn->fpriv = NULL;
	/* The mount wake function may be on its way out (POLLFREE). */
	kfree_rcu(vn, rcu);
}

/* EV_ADD on an existing knote: new fflags may need more of the mark. */
static int kn_vnode_touch(struct knote *kn, const struct kq_uevent *kev)
{
	struct kn_vnode *vn = kn->fpriv;
	struct kn_vmark *vm = vn->vm;
	struct inode *inode = file_inode(kn->file);
	bool isdir = S_ISDIR(inode->i_mode);
	u32 want = kev->fflags & KN_VN_NOTES;
	u32 old = vn->want;
	int err;

	if (!(kev->flags & EV_ADD))
		return 0;
	if (want != old) {
		err = kn_vmark_grow(vm, inode, kn_vnode_fsmask(want, isdir));
		if (!err && kn_vnode_wants_parent(isdir, want) && !vm->pmark)
			err = kn_vmark_link_parent(vm, kn->file);
		if (err)
			return err;
		spin_lock(&vm->lock);
		/* What happened and was asked for stays until reported. */
		vn->pend = (vn->pend | kn_vmark_report(vm, vn->seen, old)) &
			   (KN_VN_NOTES | KN_VN_REVOKED);
		vn->seen = vm->seq;
		if (vn->armed) {
			kn_vnode_disarm(vn);
			vn->want = want;
			kn_vnode_arm(vn);
		} else {
			vn->want = want;
		}
		spin_unlock(&vm->lock);
		vm->ndelete += kn_vnode_wants_parent(isdir, want);
		vm->ndelete -= kn_vnode_wants_parent(isdir, old);
		if (!vm->ndelete && vm->pmark)
			kn_vmark_unlink_parent(vm);
		if ((want & NOTE_REVOKE) && !vn->mnt_file)
			kn_vnode_watch_mounts(vn, kn->file);
		else if (!(want & NOTE_REVOKE))
			kn_vnode_unwatch_mounts(vn);
	}
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	return 0;
}

static bool kn_vnode_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_vnode *vn = kn->fpriv;
	struct kn_vmark *vm = vn->vm;
	u32 ff, local;

	spin_lock(&vm->lock);
	ff = vn->pend | kn_vmark_report(vm, vn->seen, vn->want);
	if (!peek) {
		/* Without EV_CLEAR what was reported stays (FreeBSD). */
		vn->pend = kn->flags & EV_CLEAR ? 0 : ff & KN_VN_NOTES;
		vn->seen = vm->seq;
		if (!vn->armed)
			kn_vnode_arm(vn);
	}
	spin_unlock(&vm->lock);
	/* The directory moved: move the link to its parent along. */
	if ((ff & KN_VN_REHOME) && vm->pmark)
		kn_vmark_link_parent(vm, kn->file);

	/* Has a lazy unmount left the file outside the caller's tree? */
	local = atomic_fetch_andnot(KN_VN_MOUNTS, &vn->local);
	if ((local & KN_VN_MOUNTS) && vn->mnt_file && !vn->revoked &&
	    !path_is_under(&kn->file->f_path, &vn->root))
		atomic_or(NOTE_REVOKE | KN_VN_REVOKED, &vn->local);
	if (peek)
		local = atomic_read(&vn->local);
	else
		local = atomic_fetch_andnot(NOTE_REVOKE | KN_VN_REVOKED,
					    &vn->local);
	/* NOTE_REVOKE's hint is itself: reported if asked for, EV_EOF always */
	ff |= local & (vn->want | KN_VN_REVOKED) & (NOTE_REVOKE | KN_VN_REVOKED);

	if ((ff & KN_VN_REVOKED) && !peek)
		vn->revoked = true;
	if (vn->revoked || (ff & KN_VN_REVOKED))
		ev->flags |= EV_EOF;
	ev->fflags = ff & KN_VN_NOTES;
	/* A revoked file stays EOF; without EV_CLEAR, reported again. */
	return ev->fflags || (ff & KN_VN_REVOKED) ||
	       (vn->revoked && !(kn->flags & EV_CLEAR));
}

static int kn_vnode_init(void)
{
	struct file_system_type *proc;
	int err;

	err = rhashtable_init(&kn_vmarks, &kn_vmark_params);
	if (err)
		return err;
	kn_vnode_group = fsnotify_alloc_group(&kn_vnode_fsnotify_ops,
					      FSNOTIFY_GROUP_DUPS);
	if (IS_ERR(kn_vnode_group)) {
		rhashtable_destroy(&kn_vmarks);
		return PTR_ERR(kn_vnode_group);
	}
	/*
	 * proc is built in: get_fs_type() takes no module reference.  Without
	 * it NOTE_REVOKE still comes at FS_UNMOUNT, not at a lazy unmount.
	 */
	proc = get_fs_type("proc");
	kn_vnode_proc = proc ? vfs_kern_mount(proc, SB_KERNMOUNT, "proc", NULL) :
			       ERR_PTR(-ENODEV);
	if (IS_ERR(kn_vnode_proc))
		pr_warn("kqueue: no private proc (%ld): NOTE_REVOKE misses lazy unmounts\n",
			PTR_ERR(kn_vnode_proc));
	return 0;
}

static void kn_vnode_exit(void)
{
	/*
	 * Every knote is gone, but a mark's last reference may be held by
	 * fsnotify for a moment (an unmount destroying it).  Wait until each
	 * has been through kn_vnode_free_mark(), then for the reaper that
	 * called it to return, so that ours is the group's last reference and
	 * no code of this module runs after unload.
	 */
	wait_var_event(&kn_vnode_nmarks, !atomic_read(&kn_vnode_nmarks));
	fsnotify_wait_marks_destroyed();
	fsnotify_put_group(kn_vnode_group);
	rhashtable_destroy(&kn_vmarks);
	if (!IS_ERR(kn_vnode_proc))
		kern_unmount(kn_vnode_proc);
}

const struct kq_filterops kq_vnode_filtops = {
	.is_fd	= true,
	.attach	= kn_vnode_attach,
	.detach	= kn_vnode_detach,
	.event	= kn_vnode_event,
	.touch	= kn_vnode_touch,
	.init	= kn_vnode_init,
	.exit	= kn_vnode_exit,
};
