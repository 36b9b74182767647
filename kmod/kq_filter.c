// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filter.c - the table of filters, indexed by ~filter (EVFILT_READ = -1
 * is slot 0).  Adding a filter means one new file and one line here.
 * A FreeBSD filter without an entry is refused with EOPNOTSUPP; a value
 * outside FreeBSD's range with EINVAL.
 *
 * Locking: the table is constant.
 */
#include <linux/errno.h>

#include "kq.h"

static const struct kq_filterops *const kq_filters[EVFILT_SYSCOUNT] = {
	[~EVFILT_READ]	= &kq_read_filtops,
	[~EVFILT_WRITE]	= &kq_write_filtops,
};

const struct kq_filterops *kq_filter_find(s16 filter, int *err)
{
	int slot = ~(int)filter;

	if (filter >= 0 || slot >= EVFILT_SYSCOUNT) {
		*err = -EINVAL;
		return NULL;
	}
	if (!kq_filters[slot]) {
		*err = -EOPNOTSUPP;
		return NULL;
	}
	return kq_filters[slot];
}
