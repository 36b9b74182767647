/*
 * t_backend.c - choosing a backend (both backends run these): the
 * KQUEUE_BACKEND variable (kmod / user / unset / empty / anything else ->
 * EINVAL, also for kqueuex() and kqueue1()), kqueue_backend() on each kind
 * of kqueue and EBADF on everything else (-1, a closed fd, a pipe, an
 * epoll fd, a kqueue inherited across fork), and that the two backends
 * coexist in one process when the module is loaded.
 */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

static int module_loaded(void)
{
	return access("/dev/kqueue", F_OK) == 0;
}

TEST(backend_default_matches_module)
{
	unsetenv("KQUEUE_BACKEND");
	int kq = kq_new();

	CHECK_EQ(kqueue_backend(kq), module_loaded() ? KQUEUE_BACKEND_KMOD :
		 KQUEUE_BACKEND_USER);
	CHECK_OK(close(kq));
}

TEST(backend_forced_user)
{
	int kq, kq2, p[2];
	struct kevent ev;

	setenv("KQUEUE_BACKEND", "user", 1);
	kq = kq_new();
	CHECK_EQ(kqueue_backend(kq), KQUEUE_BACKEND_USER);
	kq2 = CHECK_OK(kqueuex(KQUEUE_CLOEXEC));
	CHECK_EQ(kqueue_backend(kq2), KQUEUE_BACKEND_USER);
	CHECK(fcntl(kq2, F_GETFD) & FD_CLOEXEC);
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x77);
	write_n(p[1], 5);
	kev_expect_data(kq, p[0], EVFILT_READ, 5, 1000, &ev);
	CHECK(ev.udata == (void *)0x77);
}

TEST(backend_forced_kmod)
{
	setenv("KQUEUE_BACKEND", "kmod", 1);
	if (!module_loaded()) {
		CHECK_ERR(kqueue(), ENOSYS);
		CHECK_ERR(kqueue1(O_CLOEXEC), ENOSYS);
		return;
	}
	int kq = kq_new();

	CHECK_EQ(kqueue_backend(kq), KQUEUE_BACKEND_KMOD);
}

TEST(backend_unknown_value_einval)
{
	const char *bad[] = { "KMOD", "usr", "kmod ", "0", "epoll" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("KQUEUE_BACKEND", bad[i], 1);
		CHECK_ERR(kqueue(), EINVAL);
		CHECK_ERR(kqueuex(0), EINVAL);
		CHECK_ERR(kqueue1(0), EINVAL);
	}
	setenv("KQUEUE_BACKEND", "", 1);	/* empty: automatic */
	int kq = kq_new();
	CHECK_GE(kqueue_backend(kq), KQUEUE_BACKEND_KMOD);
}

TEST(backend_ebadf_for_non_kqueues)
{
	int p[2], ep, kq, closed;

	make_pipe(p);
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	CHECK_ERR(kqueue_backend(-1), EBADF);
	CHECK_ERR(kqueue_backend(p[0]), EBADF);
	CHECK_ERR(kqueue_backend(ep), EBADF);
	CHECK_ERR(kqueue_backend(100000), EBADF);
	/* A user-space kqueue that was closed is forgotten. */
	setenv("KQUEUE_BACKEND", "user", 1);
	kq = kq_new();
	closed = kq;
	CHECK_OK(close(kq));
	CHECK_ERR(kqueue_backend(closed), EBADF);
	/* ... also when its number now holds an epoll fd. */
	kq = kq_new();
	CHECK_OK(close(kq));
	int ep2 = CHECK_OK(epoll_create1(0));
	CHECK_EQ(ep2, kq);
	CHECK_ERR(kqueue_backend(ep2), EBADF);
	struct kevent ev;
	struct timespec ts = { 0, 0 };
	CHECK_ERR(kevent(ep2, NULL, 0, &ev, 1, &ts), EBADF);
}

TEST(backend_inherited_kqueue_ebadf_in_child)
{
	const char *names[] = { "user", "kmod" };

	for (int i = 0; i < 2; i++) {
		if (i == 1 && !module_loaded())
			break;
		setenv("KQUEUE_BACKEND", names[i], 1);
		int kq = kq_new();
		pid_t pid = fork();

		CHECK_OK(pid);
		if (pid == 0) {
			struct kevent ev;
			struct timespec ts = { 0, 0 };

			CHECK_ERR(kqueue_backend(kq), EBADF);
			CHECK_ERR(kevent(kq, NULL, 0, &ev, 1, &ts), EBADF);
			/* Its own kqueue works. */
			int kq2 = kq_new();
			CHECK_EQ(kqueue_backend(kq2), i ? KQUEUE_BACKEND_KMOD :
				 KQUEUE_BACKEND_USER);
			_exit(0);
		}
		wait_child_ok(pid);
		CHECK_EQ(kqueue_backend(kq), i ? KQUEUE_BACKEND_KMOD :
			 KQUEUE_BACKEND_USER);
	}
}

/* With the module loaded, both kinds live side by side and nest. */
TEST(backend_both_in_one_process)
{
	int uk, mk, p[2];
	struct kevent ev;

	setenv("KQUEUE_BACKEND", "user", 1);
	uk = kq_new();
	if (!module_loaded()) {
		CHECK_EQ(kqueue_backend(uk), KQUEUE_BACKEND_USER);
		return;
	}
	setenv("KQUEUE_BACKEND", "kmod", 1);
	mk = kq_new();
	CHECK_EQ(kqueue_backend(uk), KQUEUE_BACKEND_USER);
	CHECK_EQ(kqueue_backend(mk), KQUEUE_BACKEND_KMOD);
	make_pipe(p);
	kev_add(uk, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(mk, uk, EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	kev_expect(mk, uk, EVFILT_READ, 2000, &ev);
	kev_expect_data(uk, p[0], EVFILT_READ, 1, 1000, &ev);
}
