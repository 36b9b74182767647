/*
 * t_nomodule.c - the library when kqueue.ko is NOT loaded (run only by
 * `kqtest --no-module`): /dev/kqueue is absent; with KQUEUE_BACKEND=kmod
 * kqueue(), kqueuex() and kqueue1() fail with ENOSYS, bad flags are still
 * EINVAL, and kevent() on anything fails with EBADF; without it kqueue()
 * falls back to the user-space backend.
 */
#include <stdlib.h>
#include <unistd.h>

#include "kqtest.h"

TEST_NOMODULE(nomodule_device_absent)
{
	CHECK_ERR(access("/dev/kqueue", F_OK), ENOENT);
}

TEST_NOMODULE(nomodule_kqueue_enosys)
{
	setenv("KQUEUE_BACKEND", "kmod", 1);
	CHECK_ERR(kqueue(), ENOSYS);
	CHECK_ERR(kqueuex(0), ENOSYS);
	CHECK_ERR(kqueuex(KQUEUE_CLOEXEC), ENOSYS);
	CHECK_ERR(kqueue1(0), ENOSYS);
	CHECK_ERR(kqueue1(O_CLOEXEC), ENOSYS);
}

TEST_NOMODULE(nomodule_bad_flags_einval)
{
	setenv("KQUEUE_BACKEND", "kmod", 1);
	CHECK_ERR(kqueuex(2), EINVAL);
	CHECK_ERR(kqueue1(O_NONBLOCK), EINVAL);
}

TEST_NOMODULE(nomodule_kevent_ebadf)
{
	int p[2];
	struct kevent ev;
	struct timespec ts = { 0, 0 };

	setenv("KQUEUE_BACKEND", "kmod", 1);
	make_pipe(p);
	CHECK_ERR(kevent(-1, NULL, 0, &ev, 1, &ts), EBADF);
	CHECK_ERR(kevent(p[0], NULL, 0, &ev, 1, &ts), EBADF);
	EV_SET(&ev, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(p[0], &ev, 1, NULL, 0, NULL), EBADF);
}

/* Without KQUEUE_BACKEND, a machine without the module gets user space. */
TEST_NOMODULE(nomodule_default_falls_back_to_user)
{
	int kq, p[2];
	struct kevent ev;

	unsetenv("KQUEUE_BACKEND");
	kq = kq_new();
	CHECK_EQ(kqueue_backend(kq), KQUEUE_BACKEND_USER);
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 3);
	kev_expect_data(kq, p[0], EVFILT_READ, 3, 1000, &ev);
	CHECK_OK(close(kq));
	setenv("KQUEUE_BACKEND", "", 1);
	kq = kq_new();
	CHECK_EQ(kqueue_backend(kq), KQUEUE_BACKEND_USER);
}

/* The forced module, when it is absent: ENOSYS, also from kqueuex(). */
TEST_NOMODULE(nomodule_forced_kmod_enosys)
{
	setenv("KQUEUE_BACKEND", "kmod", 1);
	CHECK_ERR(kqueuex(KQUEUE_CLOEXEC), ENOSYS);
	setenv("KQUEUE_BACKEND", "user", 1);
	int kq = kq_new();
	CHECK_EQ(kqueue_backend(kq), KQUEUE_BACKEND_USER);
}
