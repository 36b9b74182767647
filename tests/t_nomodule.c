/*
 * t_nomodule.c - the library when kqueue.ko is NOT loaded (run only by
 * `kqtest --no-module`): /dev/kqueue is absent, kqueue(), kqueuex() and
 * kqueue1() fail with ENOSYS, bad flags are still EINVAL, and kevent() on
 * anything fails with EBADF.
 */
#include <unistd.h>

#include "kqtest.h"

TEST_NOMODULE(nomodule_device_absent)
{
	CHECK_ERR(access("/dev/kqueue", F_OK), ENOENT);
}

TEST_NOMODULE(nomodule_kqueue_enosys)
{
	CHECK_ERR(kqueue(), ENOSYS);
	CHECK_ERR(kqueuex(0), ENOSYS);
	CHECK_ERR(kqueuex(KQUEUE_CLOEXEC), ENOSYS);
	CHECK_ERR(kqueue1(0), ENOSYS);
	CHECK_ERR(kqueue1(O_CLOEXEC), ENOSYS);
}

TEST_NOMODULE(nomodule_bad_flags_einval)
{
	CHECK_ERR(kqueuex(2), EINVAL);
	CHECK_ERR(kqueue1(O_NONBLOCK), EINVAL);
}

TEST_NOMODULE(nomodule_kevent_ebadf)
{
	int p[2];
	struct kevent ev;
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	CHECK_ERR(kevent(-1, NULL, 0, &ev, 1, &ts), EBADF);
	CHECK_ERR(kevent(p[0], NULL, 0, &ev, 1, &ts), EBADF);
	EV_SET(&ev, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(p[0], &ev, 1, NULL, 0, NULL), EBADF);
}
