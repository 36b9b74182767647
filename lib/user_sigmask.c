/*
 * user_sigmask.c - the program's view of its signal mask while the
 * user-space backend watches signals: sigprocmask() and pthread_sigmask()
 * of the library, which interpose the C library's.
 *
 * Why.  EVFILT_SIGNAL of the user-space backend (user_signal.c) reads
 * signals from a signalfd, which sees only blocked signals, so EV_ADD
 * blocks the signal.  BSD records a signal whatever the mask: a program
 * may register a signal and then unblock it (PostgreSQL with its kqueue
 * wait backend sets SIGURG to SIG_IGN and then installs a mask without
 * SIGURG; Linux drops an ignored, unblocked signal when it is sent, so no
 * signalfd would ever see it, and the program waits forever).  So while a
 * signal S is watched (some knote of any kqueue of the process holds it),
 * the program's own calls never unblock S in reality:
 *
 *  - sigprocmask()/pthread_sigmask() compute the mask the program asks
 *    for (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK from the mask it believes it
 *    has), and set that mask with the watched signals added;
 *  - what the thread believes is kept per thread (thread-local) as the set
 *    of watched signals it believes unblocked although they are blocked
 *    (ukq_sig_lie); *oldset reports the believed mask (the real one with
 *    those signals removed), so a program that saves and restores its mask
 *    gets back what it set; so does EV_ADD itself (a signal the library
 *    blocks at EV_ADD is believed unblocked by the thread);
 *  - when the last knote of S goes (ukq_signal_deliver() at the end of the
 *    kevent() call, no lock held) and at the next call of these functions
 *    in any thread that believes S unblocked, S is unblocked in reality in
 *    that thread; a thread that believes it blocked keeps it blocked (the
 *    library no longer undoes a block the program asked for meanwhile);
 *  - per signal, how many threads believe it unblocked (ukq_sig_nlie):
 *    a signal read from the signalfd is given its disposition (handler,
 *    default action) only when some thread believes it unblocked, since
 *    only then would the kernel have delivered it (a thread that exits
 *    with such a belief stays counted: the disposition is applied,
 *    as before this file existed).
 *
 * The real call is the rt_sigprocmask system call, made as the C library
 * does (glibc 2.36: its internal signals 32 and 33, thread cancellation
 * and setxid, are never blocked; 8 bytes of mask; errors returned as an
 * error number, errno untouched by pthread_sigmask()).  Not
 * dlsym(RTLD_NEXT): sigprocmask() is async-signal-safe and dlsym() is not,
 * and the system call works the same from libkqueue.so and from
 * libkqueue.a, even in a static program, whatever the order of
 * constructors.
 *
 * Cost.  When no signal is watched (the module backend, or no
 * EVFILT_SIGNAL knote) and the thread believes nothing false, a call is
 * the system call as the C library makes it, after one relaxed atomic load
 * and one thread-local load.  Otherwise: one more system call (the
 * current mask is read first).
 *
 * Linking.  libkqueue.so exports both names, so a program linked with
 * -lkqueue (before the C library, as compilers do) gets these for its own
 * calls and for those of its other shared libraries (a program linked
 * against an older libkqueue.so too: the C library's symbol versions do
 * not stop an unversioned definition found first).  Linked from
 * libkqueue.a they end up in the program, which the linker then exports
 * (the C library defines them too), so the same holds.  They are weak: a
 * program that defines its own sigprocmask() still links with
 * libkqueue.a (and its own is used).  Calls the C library makes
 * internally (posix_spawn(), system(), siglongjmp(), pthread_create())
 * are not seen.
 *
 * What is not covered, and why:
 *  - sigsuspend(), ppoll(), pselect(), epoll_pwait(), signalfd and
 *    sigwait*() with a mask: left as they are.  Their mask is temporary
 *    and the program passes it to be woken by a signal it leaves
 *    unblocked: keeping a watched signal blocked there would stop it from
 *    interrupting the call and could make the program wait forever,
 *    worse than a signal the kqueue misses (delivered as Linux does while
 *    the call waits: its handler runs, or it is dropped if ignored).  The
 *    real mask comes back when the call returns.
 *  - A thread created while S is watched starts with S blocked (the real
 *    mask is inherited) and believes it blocked (BSD: it inherits what its
 *    creator believed).
 *  - A signal sent to one thread (pthread_kill, tgkill) that believes S
 *    unblocked stays pending on that thread: only a kevent() in that
 *    thread reads it (BSD would run its handler there).
 *  - A signal handler that changes a watched signal's belief and returns:
 *    the kernel restores the real mask, the belief stays as the handler
 *    left it.  siglongjmp() likewise restores the real mask it saved.
 *  - fork(): the child has no kqueue; user_signal.c's child handler
 *    unblocks, in the child, the signals the forking thread believes
 *    unblocked, so the child's mask is the one its parent believed.
 *    vfork()/posix_spawn() children, and exec() in the process itself,
 *    keep the real mask: a watched signal stays blocked in the new
 *    program, as it did before this file existed.
 *  - A raw rt_sigprocmask system call bypasses all this.
 *
 * Locking: none.  ukq_sig_watched and ukq_sig_nlie are atomics written by
 * user_signal.c under its sig_lock and read here with no lock (these
 * functions are async-signal-safe); ukq_sig_lie is the calling thread's
 * own.  A first EV_ADD of S racing another thread's call that unblocks S
 * may leave S unblocked in that thread (the program's own race).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kq_internal.h"

uint64_t ukq_sig_watched;
unsigned int ukq_sig_nlie[65];
__thread uint64_t ukq_sig_lie __attribute__((tls_model("initial-exec")));

#define SIG_BIT(s)	(1ull << ((s) - 1))

/* The C library's own signals (glibc: SIGCANCEL, SIGSETXID). */
#define LIBC_SIG1	32
#define LIBC_SIG2	33

int ukq_real_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	int saved = errno, err = 0;

	if (set && how != SIG_UNBLOCK &&
	    (sigismember(set, LIBC_SIG1) == 1 ||
	     sigismember(set, LIBC_SIG2) == 1)) {
		copy = *set;
		sigdelset(&copy, LIBC_SIG1);
		sigdelset(&copy, LIBC_SIG2);
		set = &copy;
	}
	if (syscall(SYS_rt_sigprocmask, how, set, old, (size_t)(_NSIG / 8)))
		err = errno;
	errno = saved;
	return err;
}

/* This thread now believes exactly lie (watched signals, blocked). */
void ukq_sig_set_lie(uint64_t lie)
{
	uint64_t diff = ukq_sig_lie ^ lie;

	for (int s = 1; diff; s++, diff >>= 1) {
		if (!(diff & 1))
			continue;
		if (lie & SIG_BIT(s))
			__atomic_add_fetch(&ukq_sig_nlie[s], 1,
					   __ATOMIC_RELAXED);
		else
			__atomic_sub_fetch(&ukq_sig_nlie[s], 1,
					   __ATOMIC_RELAXED);
	}
	ukq_sig_lie = lie;
}

static int sigmask_slow(int how, const sigset_t *set, sigset_t *old,
			uint64_t watched)
{
	sigset_t cur, want, real;
	uint64_t lie = ukq_sig_lie, newlie = 0;
	int err;

	if (set) {
		if (how != SIG_BLOCK && how != SIG_UNBLOCK &&
		    how != SIG_SETMASK)
			return EINVAL;
		want = *set;	/* before *old is written: they may alias */
	}
	sigemptyset(&cur);
	err = ukq_real_sigmask(SIG_BLOCK, NULL, &cur);
	if (err)
		return err;
	/* What the thread believes: real, less what it believes unblocked. */
	for (int s = 1; s <= 64; s++)
		if (lie & SIG_BIT(s))
			sigdelset(&cur, s);
	if (set) {
		if (how == SIG_BLOCK) {
			real = cur;
			sigorset(&real, &real, &want);
		} else if (how == SIG_UNBLOCK) {
			real = cur;
			for (int s = 1; s < _NSIG; s++)
				if (sigismember(&want, s) == 1)
					sigdelset(&real, s);
		} else {
			real = want;
		}
		/* real is now what the program asks for. */
		for (int s = 1; s <= 64; s++) {
			if (!(watched & SIG_BIT(s)) ||
			    sigismember(&real, s) == 1)
				continue;
			newlie |= SIG_BIT(s);
			sigaddset(&real, s);
		}
		err = ukq_real_sigmask(SIG_SETMASK, &real, NULL);
		if (err)
			return err;
		ukq_sig_set_lie(newlie);
	}
	if (old)
		memcpy(old, &cur, sizeof(cur));
	return 0;
}

static int sigmask_call(int how, const sigset_t *set, sigset_t *old)
{
	uint64_t watched = __atomic_load_n(&ukq_sig_watched, __ATOMIC_RELAXED);

	if (!watched && !ukq_sig_lie)
		return ukq_real_sigmask(how, set, old);
	return sigmask_slow(how, set, old, watched);
}

__attribute__((weak))
int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return sigmask_call(how, set, old);
}

__attribute__((weak))
int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int err = sigmask_call(how, set, old);

	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
