// SPDX-License-Identifier: GPL-2.0
/*
 * kq_main.c - kqueue.ko: the misc device /dev/kqueue (each open is one
 * kqueue), its file operations, and the module's counters and parameters.
 *
 *   open     allocates a kqueue
 *   ioctl    KQ_IOC_KEVENT: one kevent() call (compat_ioctl: the same
 *            for a 32-bit task, with its struct kevent and timespec)
 *   poll     readable while events are queued (a kqueue nests in poll,
 *            select and epoll)
 *   mmap     the completion ring (kq_ring.c)
 *   release  frees the kqueue and every knote in it
 *
 * /sys/module/kqueue/parameters/nr_kqueues and nr_knotes count the live
 * objects (root only), so tests can prove that closing a kqueue frees
 * everything; max_user_knotes (kq_user.c) caps the knotes of one user.
 *
 * As on BSD a kqueue belongs to the process that created it: a fork child
 * loses its copies of the descriptors (kq_fork.c), and a process that got
 * one some other way gets EBADF from kevent().
 * The device belongs to this module (fops.owner), so the module cannot be
 * unloaded while a kqueue is open.
 *
 * Locking: none here beyond what kq.h describes; the counters are atomic.
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>

#include "kq.h"

atomic_long_t kq_nr_kqueues = ATOMIC_LONG_INIT(0);
atomic_long_t kq_nr_knotes = ATOMIC_LONG_INIT(0);

static int kq_counter_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

static int kq_counter_set(const char *val, const struct kernel_param *kp)
{
	return -EPERM;
}

static const struct kernel_param_ops kq_counter_ops = {
	.get = kq_counter_get,
	.set = kq_counter_set,
};

module_param_cb(nr_kqueues, &kq_counter_ops, &kq_nr_kqueues, 0400);
MODULE_PARM_DESC(nr_kqueues, "Live kqueues (read-only)");
module_param_cb(nr_knotes, &kq_counter_ops, &kq_nr_knotes, 0400);
MODULE_PARM_DESC(nr_knotes, "Live knotes in all kqueues (read-only)");

static int kq_file_open(struct inode *inode, struct file *file)
{
	struct kqueue *kq = kq_alloc();

	if (!kq)
		return -ENOMEM;
	file->private_data = kq;
	return stream_open(inode, file);
}

static int kq_file_release(struct inode *inode, struct file *file)
{
	kq_release(file->private_data);
	return 0;
}

/*
 * The one ioctl.  struct kq_kevent_args has the same layout for 32-bit and
 * 64-bit callers (fixed-width fields, u64 pointers), and so the same
 * KQ_IOC_KEVENT number; what differs is the layout of the events and the
 * timeout it points at, which abi describes.
 */
static_assert(sizeof(struct kq_kevent_args) == 40);

static long kq_do_ioctl(struct file *file, unsigned int cmd,
			void __user *argp, const struct kq_uabi *abi)
{
	struct kqueue *kq = file->private_data;
	struct kq_kevent_args args;

	if (cmd != KQ_IOC_KEVENT)
		return -ENOTTY;
	/* Not inherited across fork(): only the creator's files may use it. */
	if (current->files != kq->owner_files)
		return -EBADF;
	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	/*
	 * A 32-bit task's pointers are 32 bits (compat_ptr(), the identity
	 * on x86, then makes them user pointers as u64_to_user_ptr() does).
	 */
	if (abi != &kq_uabi_native &&
	    upper_32_bits(args.changelist | args.eventlist | args.timeout))
		return -EFAULT;
	return kq_kevent(kq, &args, abi);
}

static long kq_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return kq_do_ioctl(file, cmd, (void __user *)arg, &kq_uabi_native);
}

#ifdef CONFIG_COMPAT
/*
 * A 32-bit (ia32) task: its struct kevent is 24 bytes and its timeout an
 * old 32-bit struct timespec (kq_uabi_compat, kq_kevent.c).  x32 tasks,
 * whose struct kevent has yet another layout, are not supported.
 */
static long kq_compat_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
#ifdef CONFIG_X86_X32_ABI
	if (in_x32_syscall())
		return -ENOTTY;
#endif
	return kq_do_ioctl(file, cmd, compat_ptr(arg), &kq_uabi_compat);
}
#endif

static int kq_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kqueue *kq = file->private_data;

	if (current->files != kq->owner_files)
		return -EBADF;
	return kq_ring_mmap(kq, vma);
}

static __poll_t kq_poll(struct file *file, poll_table *wait)
{
	struct kqueue *kq = file->private_data;

	int n;

	poll_wait(file, &kq->poll_wq, wait);
	/* Readable exactly when kevent() would return an event now. */
	if (!kq_maybe_ready(kq))
		return 0;
	n = kq_pending(kq, true, false);
	if (n == -EBUSY)
		n = kq_maybe_ready(kq);	/* busy: the queue is the answer */
	return n > 0 ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations kq_fops = {
	.owner		= THIS_MODULE,
	.open		= kq_file_open,
	.release	= kq_file_release,
	.unlocked_ioctl	= kq_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= kq_compat_ioctl,
#endif
	.poll		= kq_poll,
	.mmap		= kq_mmap,
};

bool kq_is_kqueue_file(const struct file *file)
{
	return file->f_op == &kq_fops;
}

struct kq_tp_lookup {
	const char		*name;
	struct tracepoint	*tp;
};

static void kq_tp_match(struct tracepoint *tp, void *priv)
{
	struct kq_tp_lookup *l = priv;

	if (!strcmp(tp->name, l->name))
		l->tp = tp;
}

/* The kernel's tracepoint called name (not exported by name), or NULL. */
struct tracepoint *kq_tracepoint(const char *name)
{
	struct kq_tp_lookup l = { .name = name };

	for_each_kernel_tracepoint(kq_tp_match, &l);
	return l.tp;
}

static struct miscdevice kq_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kqueue",
	.fops	= &kq_fops,
	.mode	= 0666,
};

static int __init kq_init(void)
{
	int err;

	err = kq_user_init();
	if (err)
		return err;
	err = kq_knote_cache_init();
	if (err)
		return err;
	err = kq_nest_init();
	if (err)
		goto out_knote;
	err = kq_filt_file_init();
	if (err)
		goto out_nest;
	err = kq_fdclose_init();
	if (err)
		goto out_file;
	err = kq_filters_init();
	if (err)
		goto out_fdclose;
	err = kq_fork_init();
	if (err)
		goto out_filters;
	err = misc_register(&kq_miscdev);
	if (err)
		goto out_fork;
	return 0;

out_fork:
	kq_fork_exit();
out_filters:
	kq_filters_exit();
out_fdclose:
	kq_fdclose_exit();
out_file:
	kq_filt_file_exit();
out_nest:
	kq_nest_exit();
out_knote:
	kq_knote_cache_exit();
	return err;
}

static void __exit kq_exit(void)
{
	misc_deregister(&kq_miscdev);
	kq_fork_exit();
	kq_filters_exit();
	kq_fdclose_exit();
	kq_filt_file_exit();
	kq_nest_exit();
	kq_knote_cache_exit();
}

module_init(kq_init);
module_exit(kq_exit);

MODULE_DESCRIPTION("BSD kqueue/kevent event notification");
MODULE_LICENSE("GPL");
