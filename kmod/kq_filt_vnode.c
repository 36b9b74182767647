// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_vnode.c - EVFILT_VNODE: changes to a file or a directory, seen
 * through fsnotify.
 *
 * ident is an open descriptor of a regular file or a directory of a
 * mountable file system (a symbolic link too, but the core refuses O_PATH
 * descriptors with EBADF); anything else (pipes, sockets, devices,
 * anonymous inodes such as eventfd, memfd and other files of internal
 * mounts) is EINVAL.  The knote is always EV_CLEAR; its fflags on return
 * are the NOTE_* bits that happened since the last report and were asked
 * for:
 *
 *   NOTE_DELETE       the last name went away (link count 0).  A directory
 *                     removed with rmdir(2): seen on its parent (below).
 *   NOTE_WRITE        file: written (write, fallocate, copy...);
 *                     directory: an entry was added, removed or renamed.
 *   NOTE_EXTEND       the size grew (by a write, or with NOTE_ATTRIB by
 *                     truncate).
 *   NOTE_TRUNCATE     the size shrank (truncate, O_TRUNC); comes with
 *                     NOTE_ATTRIB, which FreeBSD reports alone.
 *   NOTE_ATTRIB       mode, owner, times, xattrs, size set by truncate.
 *   NOTE_LINK         file: link count changed, not to 0; directory: a
 *                     subdirectory was added or removed (or moved in/out).
 *   NOTE_RENAME       the file itself was renamed.
 *   NOTE_REVOKE       the file system went away: FS_UNMOUNT, or a lazy
 *                     unmount (umount2 MNT_DETACH) left the file out of the
 *                     caller's tree; reported with EV_EOF, as on FreeBSD
 *                     even when not asked for.
 *   NOTE_OPEN, NOTE_CLOSE, NOTE_CLOSE_WRITE, NOTE_READ: opened; closed,
 *                     not opened for writing; closed, opened for writing;
 *                     read.
 *
 * Kernel facilities: one fsnotify group for the module (allocated by init,
 * put by exit once every mark of ours has been freed), and one inode mark
 * per knote (FSNOTIFY_GROUP_DUPS), whose mask covers what the knote asked
 * for.  handle_event tells a write (the event carries a path) from a
 * setattr (a dentry) and a link-count change (an inode); the size and the
 * link count are compared with what the knote saw last to tell NOTE_EXTEND
 * from NOTE_TRUNCATE and to find subdirectories coming and going.  A
 * directory asked for NOTE_DELETE also has a mark on its parent, which sees
 * FS_DELETE with the removed inode (Linux tells the removed directory
 * nothing while it is open); when the directory is renamed the parent mark
 * follows it at the next check.  NOTE_REVOKE also hangs a wait-queue entry
 * on the poll queue of the caller's mount namespace (through a private open
 * of /proc/self/mountinfo): a mount change makes the next check test
 * whether the file is still under the caller's root.
 *
 * Lifetime.  The per-knote state (struct kn_vnode) is reference counted:
 * one reference for the knote, one for each mark, dropped by the mark's
 * free_mark, which fsnotify calls only after an SRCU grace period in which
 * no handle_event of that mark can still run.  handle_event reaches the
 * knote only through vn->kn, read under vn->lock; detach clears it under
 * that lock before it destroys the marks, so once detach returns no
 * callback can reach the knote, even one that is running on another CPU.
 * fsnotify may destroy a mark on its own (the inode's last link removed
 * through another name, unmount): the mark stays allocated until we put our
 * own reference, and destroying it again is a no-op, so detach needs no
 * special case.  Module unload waits for every mark to be freed (and for
 * the fsnotify reaper that freed it to finish) before it puts the group.
 *
 * Locking: attach/detach/touch/event run under kq->mtx.  handle_event runs
 * in the file system operation (process context, possibly under inode
 * locks and SRCU); the mount-namespace wake function runs under the
 * namespace's wait-queue lock.  Both only set bits atomically and take
 * vn->lock (a leaf but for kq->lock, taken by kn_activate()).
 */
#include <linux/atomic.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/fsnotify_backend.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "kq.h"
#include "kq_compat.h"

/* NOTE_* of EVFILT_VNODE, as in <sys/event.h>. */
#define NOTE_DELETE		0x0001
#define NOTE_WRITE		0x0002
#define NOTE_EXTEND		0x0004
#define NOTE_ATTRIB		0x0008
#define NOTE_LINK		0x0010
#define NOTE_RENAME		0x0020
#define NOTE_REVOKE		0x0040
#define NOTE_OPEN		0x0080
#define NOTE_CLOSE		0x0100
#define NOTE_CLOSE_WRITE	0x0200
#define NOTE_READ		0x0400
#define NOTE_TRUNCATE		0x0800
#define KN_VN_NOTES		0x0fff

/* Internal bits of vn->fflags, never reported. */
#define KN_VN_REVOKED		0x10000000	/* gone: EV_EOF from now on */
#define KN_VN_REHOME		0x20000000	/* renamed: move the parent mark */
#define KN_VN_MOUNTS		0x40000000	/* mount table changed: recheck */
#define KN_VN_INTERNAL		(KN_VN_REVOKED | KN_VN_REHOME | KN_VN_MOUNTS)

/* Events on a directory's entries. */
#define KN_VN_DIRENT		(FS_CREATE | FS_DELETE | FS_MOVED_FROM | \
				 FS_MOVED_TO)

struct kn_vnode;

/* One fsnotify mark of a knote. */
struct kn_vmark {
	struct fsnotify_mark	fsn;
	struct kn_vnode		*vn;		/* holds a reference */
	struct inode		*inode;		/* marked; compared only */
	bool			parent;		/* on the parent directory */
};

/* A knote's state; kn->fpriv. */
struct kn_vnode {
	refcount_t		refs;		/* the knote's, one per mark */
	spinlock_t		lock;		/* kn against the callbacks */
	struct knote		*kn;		/* NULL once detached */
	struct inode		*inode;		/* watched; pinned by kn->file */
	u32			want;		/* NOTE_* asked for */
	u32			built;		/* the want the watches are for */
	bool			revoked;	/* EV_EOF (under kq->mtx) */
	atomic_t		fflags;		/* NOTE_*, KN_VN_*: not reported */
	atomic64_t		size;		/* i_size at the last FS_MODIFY */
	atomic_t		nlink;		/* directory: at the last change */
	struct kn_vmark		*mark;		/* on the inode */
	struct kn_vmark		*pmark;		/* on the parent directory */

	/* NOTE_REVOKE by a lazy unmount: the mount namespace's poll queue */
	struct file		*mnt_file;	/* /proc/self/mountinfo */
	wait_queue_head_t	*mnt_whead;	/* NULL once POLLFREE'd */
	wait_queue_entry_t	mnt_wait;
	struct path		root;		/* the file must stay under it */
};

struct kn_vnode_ptable {
	poll_table		pt;
	struct kn_vnode		*vn;
};

static struct fsnotify_group *kn_vnode_group;
static struct kmem_cache *kn_vmark_cache;
static atomic_t kn_vnode_nmarks = ATOMIC_INIT(0);

static void kn_vnode_put(struct kn_vnode *vn)
{
	if (refcount_dec_and_test(&vn->refs))
		kfree(vn);
}

/* A source says bits happened: record them and wake the knote. */
static void kn_vnode_signal(struct kn_vnode *vn, u32 bits)
{
	atomic_or(bits, &vn->fflags);
	spin_lock(&vn->lock);
	if (vn->kn)
		kn_activate(vn->kn);
	spin_unlock(&vn->lock);
}

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
	if (want & (NOTE_EXTEND | NOTE_TRUNCATE))
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

static bool kn_vnode_wants_parent(const struct kn_vnode *vn, u32 want)
{
	return S_ISDIR(vn->inode->i_mode) && (want & NOTE_DELETE);
}

/* What the events in mask mean for the knote's inode. */
static u32 kn_vnode_decode(struct kn_vnode *vn, u32 mask, int data_type)
{
	struct inode *inode = vn->inode;
	bool setattr = data_type == FSNOTIFY_EVENT_DENTRY;
	u32 hits = 0;

	if (mask & FS_MODIFY) {
		loff_t size = i_size_read(inode);
		loff_t old = atomic64_xchg(&vn->size, size);

		/* A write carries a path; notify_change() a dentry. */
		hits |= setattr ? NOTE_ATTRIB : NOTE_WRITE;
		if (size > old)
			hits |= NOTE_EXTEND;
		else if (size < old)
			hits |= NOTE_TRUNCATE | NOTE_ATTRIB;
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

		hits |= NOTE_WRITE;
		if (atomic_xchg(&vn->nlink, nlink) != nlink ||
		    ((mask & FS_ISDIR) && (mask & (FS_CREATE | FS_DELETE))))
			hits |= NOTE_LINK;
	}
	if (mask & FS_DELETE_SELF)
		hits |= NOTE_DELETE;
	if (mask & FS_MOVE_SELF) {
		hits |= NOTE_RENAME;
		if (kn_vnode_wants_parent(vn, vn->built))
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

static int kn_vnode_handle_event(struct fsnotify_group *group, u32 mask,
				 const void *data, int data_type,
				 struct inode *dir, const struct qstr *name,
				 u32 cookie, struct fsnotify_iter_info *iter)
{
	struct fsnotify_mark *fsn = fsnotify_iter_inode_mark(iter);
	struct kn_vmark *vm;
	struct kn_vnode *vn;
	u32 hits;

	if (!fsn)
		return 0;
	vm = container_of(fsn, struct kn_vmark, fsn);
	vn = vm->vn;
	if (vm->parent) {
		/* rmdir(2) of the directory: its parent is told. */
		if (!(mask & FS_DELETE) || data_type != FSNOTIFY_EVENT_INODE ||
		    data != vn->inode || READ_ONCE(vn->inode->i_nlink))
			return 0;
		hits = NOTE_DELETE;
	} else {
		hits = kn_vnode_decode(vn, mask, data_type);
	}
	hits &= READ_ONCE(vn->want) | KN_VN_INTERNAL;
	if (hits)
		kn_vnode_signal(vn, hits);
	return 0;
}

/* The last reference is gone and no handler can run: free. */
static void kn_vnode_free_mark(struct fsnotify_mark *fsn)
{
	struct kn_vmark *vm = container_of(fsn, struct kn_vmark, fsn);

	kn_vnode_put(vm->vn);
	kmem_cache_free(kn_vmark_cache, vm);
	if (atomic_dec_and_test(&kn_vnode_nmarks))
		wake_up_var(&kn_vnode_nmarks);
}

static const struct fsnotify_ops kn_vnode_fsnotify_ops = {
	.handle_event	= kn_vnode_handle_event,
	.free_mark	= kn_vnode_free_mark,
};

/* Put a mark on inode for vn; it delivers events as soon as it is added. */
static struct kn_vmark *kn_vmark_add(struct kn_vnode *vn, struct inode *inode,
				     u32 mask, bool parent)
{
	struct kn_vmark *vm;
	int err;

	vm = kmem_cache_zalloc(kn_vmark_cache, GFP_KERNEL_ACCOUNT);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	fsnotify_init_mark(&vm->fsn, kn_vnode_group);
	atomic_inc(&kn_vnode_nmarks);
	refcount_inc(&vn->refs);
	vm->vn = vn;
	vm->inode = inode;
	vm->parent = parent;
	vm->fsn.mask = mask;
	err = fsnotify_add_inode_mark(&vm->fsn, inode, 0);
	if (err) {
		/* Never attached: this frees it (kn_vnode_free_mark). */
		fsnotify_put_mark(&vm->fsn);
		return ERR_PTR(err);
	}
	return vm;
}

/*
 * Take the mark off (if fsnotify has not already) and drop our reference;
 * fsnotify frees it after the SRCU grace period.
 */
static void kn_vmark_del(struct kn_vmark *vm)
{
	fsnotify_destroy_mark(&vm->fsn, kn_vnode_group);
	fsnotify_put_mark(&vm->fsn);
}

static int kn_vnode_mnt_wake(struct wait_queue_entry *wait, unsigned int mode,
			     int sync, void *key)
{
	struct kn_vnode *vn = container_of(wait, struct kn_vnode, mnt_wait);

	if (unlikely(key_to_poll(key) & POLLFREE)) {
		list_del_init(&wait->entry);
		/* Pairs with the acquire in kn_vnode_unwatch_mounts(). */
		smp_store_release(&vn->mnt_whead, NULL);
	}
	kn_vnode_signal(vn, KN_VN_MOUNTS);
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
	fput(vn->mnt_file);
	vn->mnt_file = NULL;
	path_put(&vn->root);
}

/*
 * Be told of changes to the caller's mount table, so that a lazy unmount of
 * the file's file system is seen.  Best effort: without /proc, or for a
 * file already outside the caller's tree (an internal mount), NOTE_REVOKE
 * comes only from FS_UNMOUNT.
 */
static void kn_vnode_watch_mounts(struct kn_vnode *vn, struct file *file)
{
	struct kn_vnode_ptable vpt = { .vn = vn };
	struct file *mf;

	get_fs_root(current->fs, &vn->root);
	if (!path_is_under(&file->f_path, &vn->root))
		goto out_root;
	mf = filp_open("/proc/self/mountinfo", O_RDONLY, 0);
	if (IS_ERR(mf))
		goto out_root;
	init_poll_funcptr(&vpt.pt, kn_vnode_mnt_queue);
	vfs_poll(mf, &vpt.pt);
	if (!vn->mnt_whead) {
		fput(mf);
		goto out_root;
	}
	vn->mnt_file = mf;
	return;

out_root:
	path_put(&vn->root);
}

/* The parent directory's inode, or NULL for a root. */
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

/* Tear down every watch of vn and cut it from its knote. */
static void kn_vnode_unwatch(struct kn_vnode *vn)
{
	kn_vnode_unwatch_mounts(vn);
	spin_lock(&vn->lock);
	vn->kn = NULL;
	spin_unlock(&vn->lock);
	if (vn->pmark)
		kn_vmark_del(vn->pmark);
	if (vn->mark)
		kn_vmark_del(vn->mark);
	vn->pmark = NULL;
	vn->mark = NULL;
}

/* New state for kn, watching what want needs. */
static struct kn_vnode *kn_vnode_new(struct knote *kn, u32 want)
{
	struct inode *inode = file_inode(kn->file);
	struct kn_vnode *vn;
	struct kn_vmark *vm;

	vn = kzalloc(sizeof(*vn), GFP_KERNEL_ACCOUNT);
	if (!vn)
		return ERR_PTR(-ENOMEM);
	refcount_set(&vn->refs, 1);
	spin_lock_init(&vn->lock);
	vn->kn = kn;
	vn->inode = inode;
	vn->want = want;
	vn->built = want;
	atomic64_set(&vn->size, i_size_read(inode));
	atomic_set(&vn->nlink, READ_ONCE(inode->i_nlink));

	if (want & NOTE_REVOKE)
		kn_vnode_watch_mounts(vn, kn->file);
	if (kn_vnode_wants_parent(vn, want)) {
		struct dentry *parent = kn_vnode_parent(kn->file);

		if (parent) {
			vm = kn_vmark_add(vn, d_inode(parent), FS_DELETE, true);
			dput(parent);
			if (IS_ERR(vm))
				goto fail;
			vn->pmark = vm;
		}
	}
	vm = kn_vmark_add(vn, inode,
			  kn_vnode_fsmask(want, S_ISDIR(inode->i_mode)), false);
	if (IS_ERR(vm))
		goto fail;
	vn->mark = vm;
	return vn;

fail:
	kn_vnode_unwatch(vn);
	kn_vnode_put(vn);
	return ERR_CAST(vm);
}

static int kn_vnode_attach(struct knote *kn)
{
	struct inode *inode = file_inode(kn->file);
	umode_t mode = inode->i_mode;
	struct kn_vnode *vn;

	/* Files of a file system; not of internal ones (anon inodes, memfd). */
	if ((!S_ISREG(mode) && !S_ISDIR(mode) && !S_ISLNK(mode)) ||
	    (inode->i_sb->s_flags & SB_NOUSER))
		return -EINVAL;
	vn = kn_vnode_new(kn, kn->sfflags & KN_VN_NOTES);
	if (IS_ERR(vn))
		return PTR_ERR(vn);
	kn->fpriv = vn;
	kn->flags |= EV_CLEAR;
	return 0;
}

static void kn_vnode_detach(struct knote *kn)
{
	struct kn_vnode *vn = kn->fpriv;

	kn_vnode_unwatch(vn);
	kn_vnode_put(vn);
	kn->fpriv = NULL;
}

/* Do the watches built for vn->built serve want as well? */
static bool kn_vnode_same_watches(const struct kn_vnode *vn, u32 want)
{
	bool isdir = S_ISDIR(vn->inode->i_mode);

	return kn_vnode_fsmask(vn->built, isdir) ==
	       kn_vnode_fsmask(want, isdir) &&
	       !((vn->built ^ want) & NOTE_REVOKE) &&
	       kn_vnode_wants_parent(vn, vn->built) ==
	       kn_vnode_wants_parent(vn, want);
}

/* EV_ADD on an existing knote: new fflags may need other watches. */
static int kn_vnode_touch(struct knote *kn, const struct kq_uevent *kev)
{
	struct kn_vnode *vn = kn->fpriv, *nvn;
	u32 want = kev->fflags & KN_VN_NOTES;

	if (!(kev->flags & EV_ADD))
		return 0;
	if (!kn_vnode_same_watches(vn, want)) {
		nvn = kn_vnode_new(kn, want);
		if (IS_ERR(nvn))
			return PTR_ERR(nvn);
		/* Both watch for a moment; then what the old one saw moves. */
		kn_vnode_unwatch(vn);
		atomic_or(atomic_xchg(&vn->fflags, 0), &nvn->fflags);
		nvn->revoked = vn->revoked;
		kn_vnode_put(vn);
		kn->fpriv = nvn;
		vn = nvn;
	}
	WRITE_ONCE(vn->want, want);
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	return 0;
}

/* The directory moved: move the mark on its parent along (best effort). */
static void kn_vnode_rehome(struct knote *kn, struct kn_vnode *vn)
{
	struct dentry *parent;
	struct kn_vmark *vm;

	if (!vn->pmark)
		return;
	parent = kn_vnode_parent(kn->file);
	if (!parent)
		return;
	if (d_inode(parent) != vn->pmark->inode) {
		vm = kn_vmark_add(vn, d_inode(parent), FS_DELETE, true);
		if (!IS_ERR(vm)) {
			kn_vmark_del(vn->pmark);
			vn->pmark = vm;
		}
	}
	dput(parent);
}

static bool kn_vnode_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_vnode *vn = kn->fpriv;
	u32 ff, internal;

	internal = atomic_fetch_andnot(KN_VN_REHOME | KN_VN_MOUNTS,
				       &vn->fflags);
	if (internal & KN_VN_REHOME)
		kn_vnode_rehome(kn, vn);
	/* Has a lazy unmount left the file outside the caller's tree? */
	if ((internal & KN_VN_MOUNTS) && vn->mnt_file && !vn->revoked &&
	    !path_is_under(&kn->file->f_path, &vn->root))
		atomic_or(NOTE_REVOKE | KN_VN_REVOKED, &vn->fflags);

	if (peek)
		ff = atomic_read(&vn->fflags);
	else
		ff = atomic_xchg(&vn->fflags, 0);
	ff &= ~(KN_VN_REHOME | KN_VN_MOUNTS);
	if ((ff & KN_VN_REVOKED) && !peek)
		vn->revoked = true;
	if (vn->revoked || (ff & KN_VN_REVOKED))
		ev->flags |= EV_EOF;
	ev->fflags = ff & vn->want;
	return ev->fflags || (ff & KN_VN_REVOKED);
}

static int kn_vnode_init(void)
{
	kn_vmark_cache = kmem_cache_create("kq_vnode_mark",
					   sizeof(struct kn_vmark), 0,
					   SLAB_ACCOUNT, NULL);
	if (!kn_vmark_cache)
		return -ENOMEM;
	kn_vnode_group = fsnotify_alloc_group(&kn_vnode_fsnotify_ops,
					      FSNOTIFY_GROUP_DUPS);
	if (IS_ERR(kn_vnode_group)) {
		kmem_cache_destroy(kn_vmark_cache);
		return PTR_ERR(kn_vnode_group);
	}
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
	kmem_cache_destroy(kn_vmark_cache);
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
