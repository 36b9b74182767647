/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kq_compat.h - the differences between the kernels kqueue.ko supports
 * (Debian 12's 6.1 and the 6.12 from bookworm-backports), in one place.
 * Each section names the interface it papers over.
 */
#ifndef KQ_COMPAT_H
#define KQ_COMPAT_H

#include <linux/version.h>

/* sections: one per interface, added below */

#endif /* KQ_COMPAT_H */
