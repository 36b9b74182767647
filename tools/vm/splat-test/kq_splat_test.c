// SPDX-License-Identifier: GPL-2.0
/*
 * kq_splat_test - test-only module for tools/vm/selftest.sh.
 *
 * Loading it logs one WARNING (with a call trace) and succeeds, so the
 * selftest can check that run-vm.sh reports a kernel splat even when the
 * guest command itself exits 0.  Never load it anywhere else.
 */
#include <linux/bug.h>
#include <linux/init.h>
#include <linux/module.h>

static int __init kq_splat_test_init(void)
{
	WARN(1, "kq_splat_test: deliberate warning for the run-vm selftest\n");
	return 0;
}

static void __exit kq_splat_test_exit(void)
{
}

module_init(kq_splat_test_init);
module_exit(kq_splat_test_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Emits one WARNING on load to test run-vm.sh splat detection");
