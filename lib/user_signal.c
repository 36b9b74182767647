/*
 * user_signal.c - EVFILT_SIGNAL of the user-space backend: one signalfd per
 * kqueue whose mask is the union of the signals its knotes watch; each
 * signal read from it adds one to its knote's count (data), EV_CLEAR is
 * implied.
 *
 * The difference from BSD (and from the module, which watches the kernel's
 * signal_generate tracepoint): a signalfd only sees a signal that is
 * blocked in the thread that would receive it, and reading it consumes it.
 * So the program must block the signals it watches (sigprocmask /
 * pthread_sigmask, in every thread) and their handlers do not run; a
 * signal that is not blocked is delivered (or ignored) as usual and not
 * counted.  Two kqueues watching one signal compete for it.
 *
 * kq->mtx held.
 */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kq_internal.h"

void ukq_signal_update(struct ukq *kq)
{
	sigset_t set;

	sigemptyset(&set);
	for (int s = 1; s < 128 && s <= SIGRTMAX; s++)
		if (kq->sigmask[s / 64] & (1ull << (s % 64)))
			sigaddset(&set, s);
	if (kq->sigfd >= 0)
		signalfd(kq->sigfd, &set, 0);
}

static int signal_attach(struct uknote *kn)
{
	struct ukq *kq = kn->kq;
	int s = (int)kn->ident;

	if (kn->ident == 0 || kn->ident > 64 || s > SIGRTMAX)
		return EINVAL;
	if (kq->sigfd < 0) {
		sigset_t set;
		int fd, err;

		sigemptyset(&set);
		fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (fd < 0)
			return errno;
		kq->sigsrc = usrc_new(kq, SRC_SIGNAL, fd);
		if (!kq->sigsrc) {
			close(fd);
			return ENOMEM;
		}
		err = usrc_epoll_add(kq, kq->sigsrc, EPOLLIN);
		if (err) {
			usrc_free(kq, kq->sigsrc);
			kq->sigsrc = NULL;
			return -err;
		}
		kq->sigfd = fd;
	}
	kq->sigmask[s / 64] |= 1ull << (s % 64);
	ukq_signal_update(kq);
	kn->flags |= EV_CLEAR;
	return 0;
}

static void signal_detach(struct uknote *kn)
{
	int s = (int)kn->ident;

	kn->kq->sigmask[s / 64] &= ~(1ull << (s % 64));
	ukq_signal_update(kn->kq);
}

static int signal_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	if (!kn->count)
		return 0;
	ev->data = (int64_t)kn->count;
	if (!peek)
		kn->count = 0;
	return 1;
}

static void signal_event(struct usrc *src, uint32_t events)
{
	struct signalfd_siginfo si[16];
	ssize_t r;

	(void)events;
	while ((r = read(src->fd, si, sizeof(si))) > 0) {
		for (size_t i = 0; i < (size_t)r / sizeof(si[0]); i++) {
			struct uknote *kn = kn_find(src->kq, si[i].ssi_signo,
						    EVFILT_SIGNAL);

			if (kn) {
				kn->count++;
				kn_activate(kn);
			}
		}
	}
}

const struct ufilter ufilt_signal = {
	.is_fd = false,
	.attach = signal_attach,
	.detach = signal_detach,
	.check = signal_check,
	.source_event = signal_event,
};
