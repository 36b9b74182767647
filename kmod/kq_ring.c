// SPDX-License-Identifier: GPL-2.0
/*
 * kq_ring.c - the completion ring: memory shared between a kqueue and the
 * process that owns it, into which event sources post complete reports of
 * edge-triggered and one-shot knotes, so that a busy kevent() finds them
 * without a system call.  The layout is in kqueue_ioctl.h (struct kq_ring_hdr: the
 * header page; then KQ_RING_ENTRIES struct kq_uevent).
 *
 * Who writes what.  The kernel is the only producer: it writes an entry's
 * event, its state FREE -> POSTED, POSTED -> BUSY -> POSTED (an update in
 * place) and POSTED -> CANCELLED (a retraction), and hdr->prod and
 * hdr->kflags, always under kq->lock.  Consumers are the process's
 * threads (the library) and the kernel itself (kevent() through the
 * ioctl, under kq->lock): each claims the next index by a compare-and-swap
 * of hdr->cons from c to c + 1, which makes index c its own, then takes
 * the entry by a compare-and-swap of its state POSTED -> TAKEN, copies the
 * event and stores FREE; an entry found CANCELLED it sets FREE unread.
 *
 * Memory ordering (each pair: a release store or fully ordered RMW on one
 * side, an acquire load or fully ordered RMW on the other, same word):
 *
 *   post:    event stores; state = POSTED (release); hdr->prod (release).
 *            A consumer reads prod (acquire), so it sees the state
 *            POSTED; its acquire CAS on the state then makes the event
 *            stores visible to its copy.  No entry is read half-written.
 *   update:  CAS state POSTED -> BUSY (fully ordered: the event stores
 *            that follow cannot be seen before it); event stores; state =
 *            POSTED (release).  A consumer's CAS fails on BUSY and it
 *            waits (a few stores under a spinlock with interrupts off);
 *            once it succeeds it sees the new event whole.  If the
 *            kernel's CAS fails the entry was taken (or retracted): the
 *            wake posts a new entry instead, so no edge is lost.
 *   consume: the consumer's copy; state = FREE (release).  The kernel
 *            posts into a slot only after reading FREE there (acquire),
 *            so the copy of the old event is complete before the slot is
 *            written again.
 *   retract: CAS state POSTED -> CANCELLED.  Either it wins (no consumer
 *            will return the event) or the consumer's CAS won first (the
 *            event was taken before the retraction, as a kevent() that
 *            collected it before the EV_DELETE was made).
 *
 * One pending report per knote: a knote with an entry not yet taken
 * (KN_RINGED, kn->ring_slot, kn->ring_gen = r->gen[slot] at the post)
 * updates it in place; only when the CAS says it was taken does a wake
 * post a new one.  A knote on the kernel's own ready list never has an
 * entry too: queueing it retracts the entry (kn_queue_locked()).  A
 * one-shot knote is done once its entry is taken; the kernel drops it
 * later, under kq->mtx (kq_reap_oneshots(), kq_kqueue.c).
 *
 * The header is also writable by the process, so the kernel trusts
 * nothing it reads there: indexes are masked, a cons that is not within
 * the posted range makes the ring look full (the kernel list takes the
 * reports) or empty, and no loop of the kernel's waits on a value the
 * process controls.  Corrupting the ring loses or duplicates only that
 * process's own events.
 *
 * The ring's memory is a shmem file's pages: the mapping is an ordinary
 * shared mapping of that file, and the kqueue holds the pages (a
 * reference each, and a vmap() for its own view) while it lives.  So the
 * mapping pins neither the kqueue (close() of the kqueue fd still
 * releases it; KQ_RING_DEAD then tells the library) nor the module (a
 * process may keep the mapping of a closed kqueue for as long as it
 * likes, and rmmod still works once every kqueue is closed).  The vma is
 * not copied into a fork child (VM_DONTCOPY, and VM_IO keeps MADV_DOFORK
 * from undoing that): the child can neither read nor change the parent's
 * ring.
 *
 * Locking: kq->lock for everything the producer does, for the kernel's
 * consumption and to install the ring at the first mmap() (which holds
 * mmap_lock, so it must not take kq->mtx: kevent() faults on user memory
 * under kq->mtx).
 */
#include <linux/file.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kq.h"
#include "kq_compat.h"

#define KQ_RING_MASK	(KQ_RING_ENTRIES - 1)

static_assert(sizeof(struct kq_ring_hdr) <= KQ_RING_EVENTS_OFF);
static_assert(KQ_RING_EVENTS_OFF == PAGE_SIZE);
static_assert((KQ_RING_ENTRIES & KQ_RING_MASK) == 0);
static_assert(sizeof(struct kq_uevent) == 32);
static_assert(KQ_RING_MAP_SIZE % PAGE_SIZE == 0);

#define KQ_RING_PAGES	(KQ_RING_MAP_SIZE / PAGE_SIZE)

static bool ring_enabled = true;
module_param_named(ring, ring_enabled, bool, 0644);
MODULE_PARM_DESC(ring, "mmap() of a kqueue gives a completion ring (default 1)");

struct kq_ring {
	struct file		*file;		/* shmem: the ring's memory */
	struct page		*pages[KQ_RING_PAGES]; /* held while we live */
	struct kq_ring_hdr	*hdr;		/* shared: the header page */
	struct kq_uevent	*ev;		/* shared: the entries */
	u32			prod;		/* the real hdr->prod, under lock */
	u32			kflags;		/* the real hdr->kflags, under lock */
	struct kq_user		*user;		/* charged KQ_RES_RINGS */
	u32			gen[KQ_RING_ENTRIES]; /* posts per slot, under lock */
};

/* The kqueue lets go of its ring; mappings keep the pages they map. */
static void kq_ring_free(struct kq_ring *r)
{
	int i;

	if (r->hdr)
		vunmap(r->hdr);
	for (i = 0; i < KQ_RING_PAGES; i++)
		if (r->pages[i])
			put_page(r->pages[i]);
	fput(r->file);
	kq_user_uncharge_res(r->user, KQ_RES_RINGS);
	kq_user_put(r->user);
	kfree(r);
}

/* The kqueue is released: no knote posts any more. */
void kq_ring_release(struct kqueue *kq)
{
	struct kq_ring *r = kq->ring;

	if (!r)
		return;
	spin_lock_irq(&kq->lock);
	WRITE_ONCE(r->hdr->kflags, KQ_RING_DEAD);
	kq->ring = NULL;
	spin_unlock_irq(&kq->lock);
	kq_ring_free(r);
}

/*
 * A descriptor of kq was closed or replaced (the close hook, kq_fdclose.c;
 * any context).  The library finds a ring by the descriptor number it
 * mapped it through, and cannot see the close: that number may now name
 * another file, or another kqueue (a dup of which the library never
 * mapped).  KQ_RING_DEAD sends its calls to the ioctl from now on, which
 * answers for whatever the number holds (and still takes this ring's
 * events for this kqueue's other descriptors).
 */
void kq_ring_fd_closed(struct kqueue *kq)
{
	unsigned long flags;
	struct kq_ring *r;

	spin_lock_irqsave(&kq->lock, flags);
	r = kq->ring;
	if (r && !(r->kflags & KQ_RING_DEAD)) {
		r->kflags |= KQ_RING_DEAD;
		WRITE_ONCE(r->hdr->kflags, r->kflags);
	}
	spin_unlock_irqrestore(&kq->lock, flags);
}

/*
 * A ring charged to the kqueue's user (max_user_rings, kq_user.c): a
 * shmem file of KQ_RING_MAP_SIZE (its pages charged to the caller's
 * memory cgroup as they are read in), its pages held and mapped for the
 * kernel.  Returns an ERR_PTR on failure.
 */
static struct kq_ring *kq_ring_alloc(struct kqueue *kq)
{
	struct kq_ring *r;
	struct page *page;
	int i, err = -ENOMEM;

	if (!kq_user_charge_res(kq->user, KQ_RES_RINGS))
		return ERR_PTR(-ENOMEM);
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r) {
		kq_user_uncharge_res(kq->user, KQ_RES_RINGS);
		return ERR_PTR(-ENOMEM);
	}
	r->user = kq_user_hold(kq->user);
	r->file = shmem_file_setup("[kqueue-ring]", KQ_RING_MAP_SIZE, 0);
	if (IS_ERR(r->file)) {
		err = PTR_ERR(r->file);
		r->file = NULL;
		goto out;
	}
	for (i = 0; i < KQ_RING_PAGES; i++) {
		page = shmem_read_mapping_page(r->file->f_mapping, i);
		if (IS_ERR(page)) {
			err = PTR_ERR(page);
			goto out;
		}
		r->pages[i] = page;
	}
	r->hdr = vmap(r->pages, KQ_RING_PAGES, VM_MAP, PAGE_KERNEL);
	if (!r->hdr)
		goto out;
	/* Fresh shmem pages read as zeros: every entry is FREE. */
	r->ev = (struct kq_uevent *)((char *)r->hdr + KQ_RING_EVENTS_OFF);
	r->hdr->version = KQ_RING_VERSION;
	r->hdr->nentries = KQ_RING_ENTRIES;
	return r;

out:
	if (r->file) {
		kq_ring_free(r);
	} else {
		kq_user_uncharge_res(r->user, KQ_RES_RINGS);
		kq_user_put(r->user);
		kfree(r);
	}
	return ERR_PTR(err);
}

/*
 * The shmem file of the kqueue's ring, created at the first mmap(), with
 * a reference for the caller.  Only kq->lock is taken: mmap() holds
 * mmap_lock, which a fault in kevent()'s copy to user memory takes under
 * kq->mtx.  The file reference mmap() holds keeps the kqueue from being
 * released meanwhile.
 */
static struct file *kq_ring_file(struct kqueue *kq)
{
	struct kq_ring *r, *fresh;
	struct file *file = NULL;

	spin_lock_irq(&kq->lock);
	if (kq->ring)
		file = get_file(kq->ring->file);
	spin_unlock_irq(&kq->lock);
	if (file)
		return file;

	fresh = kq_ring_alloc(kq);
	if (IS_ERR(fresh))
		return ERR_CAST(fresh);
	spin_lock_irq(&kq->lock);
	r = kq->ring;
	if (!r) {
		/* kn_activate() and the scan read kq->ring under kq->lock. */
		r = fresh;
		fresh = NULL;
		kq->ring = r;
		if (!list_empty(&kq->ready) || kq->scanning) {
			r->kflags = KQ_RING_KLIST;
			r->hdr->kflags = r->kflags;
		}
	}
	file = get_file(r->file);
	spin_unlock_irq(&kq->lock);
	if (fresh)
		kq_ring_free(fresh);
	return file;
}

int kq_ring_mmap(struct kqueue *kq, struct vm_area_struct *vma)
{
	struct file *file;
	int err;

	if (!READ_ONCE(ring_enabled))
		return -ENODEV;
	if (vma->vm_pgoff || vma->vm_end - vma->vm_start != KQ_RING_MAP_SIZE)
		return -EINVAL;
	/* A private copy would not see the kernel's posts. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;

	file = kq_ring_file(kq);
	if (IS_ERR(file))
		return PTR_ERR(file);
	/* The vma maps the shmem file from here on, not the kqueue. */
	vma_set_file(vma, file);
	fput(file);
	kq_vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP |
			VM_IO);
	kq_vm_flags_clear(vma, VM_MAYEXEC);
	err = file->f_op->mmap(file, vma);
	return err;
}

/* The kernel list may hold events: the library must ask (kq->lock held). */
void kq_ring_set_klist(struct kqueue *kq)
{
	struct kq_ring *r = kq->ring;

	if (r && !(r->kflags & KQ_RING_KLIST)) {
		r->kflags |= KQ_RING_KLIST;
		WRITE_ONCE(r->hdr->kflags, r->kflags);
	}
}

/* After a scan: the kernel list is empty (kq->lock held). */
void kq_ring_clear_klist(struct kqueue *kq)
{
	struct kq_ring *r = kq->ring;

	if (r && (r->kflags & KQ_RING_KLIST)) {
		r->kflags &= ~KQ_RING_KLIST;
		WRITE_ONCE(r->hdr->kflags, r->kflags);
	}
}

/*
 * Retract kn's entry if nobody took it yet (kq->lock held).  The event
 * then is never returned: its knote is being deleted, disabled, closed or
 * put on the kernel list.  Returns true if it was retracted, with the
 * event in *out if out is not NULL (the slot is not posted to again while
 * kq->lock is held).
 */
bool kq_ring_retract(struct knote *kn, struct kq_uevent *out)
{
	struct kq_ring *r = kn->kq->ring;
	u32 slot = kn->ring_slot;

	lockdep_assert_held(&kn->kq->lock);
	if (!(kn->status & KN_RINGED))
		return false;
	kn->status &= ~KN_RINGED;
	if (!r || r->gen[slot] != kn->ring_gen ||
	    cmpxchg(&r->hdr->state[slot], KQ_RING_POSTED,
		    KQ_RING_CANCELLED) != KQ_RING_POSTED)
		return false;
	if (out)
		*out = r->ev[slot];
	return true;
}

/*
 * kn's entry, if it still holds kn's report that nobody took (kq->lock
 * held), set BUSY: the caller writes the report's new values and stores
 * POSTED.  NULL when it was taken: then it is not kn's any more.
 */
static inline struct kq_uevent *kq_ring_claim(struct kq_ring *r,
					      struct knote *kn)
{
	u32 slot = kn->ring_slot;

	if (r->gen[slot] == kn->ring_gen &&
	    cmpxchg(&r->hdr->state[slot], KQ_RING_POSTED, KQ_RING_BUSY) ==
	    KQ_RING_POSTED)
		return &r->ev[slot];
	kn->status &= ~KN_RINGED;
	return NULL;
}

/*
 * The new values of a report in place: ident, filter and udata stay as
 * posted (a change of udata, EV_ADD, retracts the entry first).  mode:
 * KQ_RING_SET, the report replaces the entry's; KQ_RING_ADD, rep->data
 * is a count of occurrences added to the entry's; KQ_RING_OR, rep's
 * flags and fflags are bits added to the entry's, and its data replaces
 * the entry's.  (A new entry starts from zeros: __kq_ring_report().)
 */
static __always_inline void kq_ring_rewrite(struct kq_ring *r,
					    struct knote *kn,
					    struct kq_uevent *e,
					    const struct kq_uevent *rep,
					    const enum kq_ring_mode mode)
{
	if (mode == KQ_RING_OR) {
		e->flags = READ_ONCE(e->flags) | rep->flags | kn->flags;
		e->fflags = READ_ONCE(e->fflags) | rep->fflags;
	} else {
		e->flags = rep->flags | kn->flags;
		e->fflags = rep->fflags;
	}
	e->data = mode == KQ_RING_ADD ? READ_ONCE(e->data) + rep->data :
					rep->data;
	/* The event before the state: pairs with the taker's CAS. */
	smp_store_release(&r->hdr->state[kn->ring_slot], KQ_RING_POSTED);
}

/*
 * Update kn's entry in place if nobody took it yet (kq->lock held).
 * Returns false when it was taken (or kn has none).
 */
bool kq_ring_update(struct knote *kn, const struct kq_uevent *rep)
{
	struct kq_ring *r = kn->kq->ring;
	struct kq_uevent *e;

	lockdep_assert_held(&kn->kq->lock);
	if (!r || !(kn->status & KN_RINGED))
		return false;
	e = kq_ring_claim(r, kn);
	if (!e)
		return false;
	kq_ring_rewrite(r, kn, e, rep, KQ_RING_SET);
	return true;
}

/* Does kn have an entry that nobody took yet (kq->lock held)? */
bool kq_ring_waiting(struct knote *kn)
{
	struct kq_ring *r = kn->kq->ring;
	u32 slot = kn->ring_slot;

	return r && (kn->status & KN_RINGED) && r->gen[slot] == kn->ring_gen &&
	       READ_ONCE(r->hdr->state[slot]) == KQ_RING_POSTED;
}

/*
 * Would a new entry fit (kq->lock held)?  If so it still does when
 * kq_ring_report() posts under the same hold: consumers only free slots.
 */
bool kq_ring_has_room(struct kqueue *kq)
{
	struct kq_ring *r = kq->ring;
	u32 prod;

	if (!r)
		return false;
	prod = r->prod;
	if (prod - READ_ONCE(r->hdr->cons) >= KQ_RING_ENTRIES)
		return false;
	/* The slot's last consumer has copied its event out. */
	return smp_load_acquire(&r->hdr->state[prod & KQ_RING_MASK]) ==
	       KQ_RING_FREE;
}

/*
 * kn's report from its source's wake-up (kq->lock held, kq->ring set):
 * into kn's entry if nobody took it yet (KQ_RING_UPDATED), else, unless
 * kn is disabled, into a new entry (KQ_RING_NEW).  KQ_RING_NONE: the
 * ring is full or kn disabled; the caller queues kn on the kernel list
 * instead.  One function for both, as the writer of a busy source calls
 * it for every write.  mode: see kq_ring_rewrite(); a constant, so that
 * each of the entry points below is compiled for its own case.
 */
static __always_inline enum kq_ring_result
__kq_ring_report(struct knote *kn, const struct kq_uevent *rep,
		 const enum kq_ring_mode mode)
{
	struct kq_ring *r = kn->kq->ring;
	struct kq_uevent *e;
	u32 prod, slot;

	lockdep_assert_held(&kn->kq->lock);
	if (kn->status & KN_RINGED) {
		e = kq_ring_claim(r, kn);
		if (e) {
			kq_ring_rewrite(r, kn, e, rep, mode);
			return KQ_RING_UPDATED;
		}
	}
	if (kn->status & KN_DISABLED)
		return KQ_RING_NONE;
	prod = r->prod;
	if (prod - READ_ONCE(r->hdr->cons) >= KQ_RING_ENTRIES)
		return KQ_RING_NONE;
	slot = prod & KQ_RING_MASK;
	/* The last consumer of the slot has copied its event out. */
	if (smp_load_acquire(&r->hdr->state[slot]) != KQ_RING_FREE)
		return KQ_RING_NONE;
	e = &r->ev[slot];
	e->ident = kn->ident;
	e->filter = kn->filter;
	e->udata = kn->udata;
	if (mode == KQ_RING_ADD)
		e->data = 0;
	if (mode == KQ_RING_OR) {
		e->flags = 0;
		e->fflags = 0;
	}
	kn->ring_slot = slot;
	kn->ring_gen = ++r->gen[slot];
	kn->status |= KN_RINGED;
	kq_ring_rewrite(r, kn, e, rep, mode);
	r->prod = prod + 1;
	/* The state before prod: pairs with the taker's load of prod. */
	smp_store_release(&r->hdr->prod, prod + 1);
	return KQ_RING_NEW;
}

/* kn's report replaces what its entry holds. */
enum kq_ring_result kq_ring_report(struct knote *kn,
				   const struct kq_uevent *rep)
{
	return __kq_ring_report(kn, rep, KQ_RING_SET);
}

/* rep->data is added to what kn's entry holds (a count). */
enum kq_ring_result kq_ring_report_add(struct knote *kn,
				       const struct kq_uevent *rep)
{
	return __kq_ring_report(kn, rep, KQ_RING_ADD);
}

/* rep's flags and fflags are added to what kn's entry holds (bits). */
enum kq_ring_result kq_ring_report_or(struct knote *kn,
				      const struct kq_uevent *rep)
{
	return __kq_ring_report(kn, rep, KQ_RING_OR);
}

/* Entries posted and not claimed, as far as the kernel can tell. */
static u32 kq_ring_backlog(struct kq_ring *r, u32 *consp)
{
	u32 cons = READ_ONCE(r->hdr->cons), n = READ_ONCE(r->prod) - cons;

	*consp = cons;
	/* A cons beyond prod (or a corrupted one) counts as empty. */
	return n > KQ_RING_ENTRIES ? 0 : n;
}

/* Maybe an entry to take (no lock: a hint for the wait loop). */
bool kq_ring_maybe_ready(struct kqueue *kq)
{
	struct kq_ring *r = READ_ONCE(kq->ring);
	u32 cons;

	return r && kq_ring_backlog(r, &cons);
}

/* Entries not taken yet, skipping retracted ones (kq->lock held). */
int kq_ring_count(struct kqueue *kq)
{
	struct kq_ring *r = kq->ring;
	u32 cons, n, i;
	int count = 0;

	if (!r)
		return 0;
	n = kq_ring_backlog(r, &cons);
	for (i = 0; i < n; i++)
		if (READ_ONCE(r->hdr->state[(cons + i) & KQ_RING_MASK]) ==
		    KQ_RING_POSTED)
			count++;
	return count;
}

/*
 * Take up to max entries into out, as any consumer does (kq->lock held).
 * Returns how many.  Bounded: at most 2 * KQ_RING_ENTRIES claims are
 * tried, whatever the process does to cons meanwhile.
 */
int kq_ring_take(struct kqueue *kq, struct kq_uevent *out, int max)
{
	struct kq_ring *r = kq->ring;
	int n = 0, tries = 2 * KQ_RING_ENTRIES;
	u32 cons, slot;
	u16 state;

	if (!r)
		return 0;
	while (n < max && tries--) {
		if (!kq_ring_backlog(r, &cons))
			break;
		if (cmpxchg(&r->hdr->cons, cons, cons + 1) != cons)
			continue;
		slot = cons & KQ_RING_MASK;
		state = cmpxchg(&r->hdr->state[slot], KQ_RING_POSTED,
				KQ_RING_TAKEN);
		if (state == KQ_RING_POSTED) {
			out[n++] = r->ev[slot];
			/* The copy before FREE: pairs with kq_ring_report(). */
			smp_store_release(&r->hdr->state[slot], KQ_RING_FREE);
		} else if (state == KQ_RING_CANCELLED) {
			/* As above, for whoever posts here next. */
			smp_store_release(&r->hdr->state[slot], KQ_RING_FREE);
		}
		/* Anything else was written by the process: skip it. */
	}
	return n;
}
