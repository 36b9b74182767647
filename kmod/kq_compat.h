/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kq_compat.h - the differences between the kernels kqueue.ko supports
 * (Debian 12's 6.1 and the 6.12 from bookworm-backports), in one place.
 * Each section names the interface it papers over.
 */
#ifndef KQ_COMPAT_H
#define KQ_COMPAT_H

/* sections: one per interface, added below */

/*
 * vm_flags_set()/vm_flags_clear(): 6.3; before, vm_flags was written.
 * KQ_HAVE_VM_FLAGS_SET comes from the probe in Kbuild.
 */
#include <linux/mm.h>
#ifdef KQ_HAVE_VM_FLAGS_SET
static inline void kq_vm_flags_set(struct vm_area_struct *vma,
				   vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

static inline void kq_vm_flags_clear(struct vm_area_struct *vma,
				     vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}
#else
static inline void kq_vm_flags_set(struct vm_area_struct *vma,
				   vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void kq_vm_flags_clear(struct vm_area_struct *vma,
				     vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* KQ_COMPAT_H */
