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

const struct kq_filterops *const kq_filters[EVFILT_SYSCOUNT] = {
	[~EVFILT_READ]	= &kq_read_filtops,
	[~EVFILT_WRITE]	= &kq_write_filtops,
	/* more filters: one line each, below */
	[~EVFILT_VNODE]	= &kq_vnode_filtops,
	[~EVFILT_PROC]	= &kq_proc_filtops,
	[~EVFILT_SIGNAL]	= &kq_signal_filtops,
	[~EVFILT_TIMER]	= &kq_timer_filtops,
	[~EVFILT_USER]	= &kq_user_filtops,
	[~EVFILT_EMPTY]	= &kq_empty_filtops,
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

int kq_filters_init(void)
{
	int i, err;

	for (i = 0; i < EVFILT_SYSCOUNT; i++) {
		if (!kq_filters[i] || !kq_filters[i]->init)
			continue;
		err = kq_filters[i]->init();
		if (err) {
			while (--i >= 0)
				if (kq_filters[i] && kq_filters[i]->exit)
					kq_filters[i]->exit();
			return err;
		}
	}
	return 0;
}

void kq_filters_exit(void)
{
	int i;

	for (i = EVFILT_SYSCOUNT - 1; i >= 0; i--)
		if (kq_filters[i] && kq_filters[i]->exit)
			kq_filters[i]->exit();
}
