/*
 * user_signal.c - EVFILT_SIGNAL of the user-space backend: one signalfd per
 * kqueue whose mask is the union of the signals its knotes watch; each
 * signal read from it adds one to its knote's count (data), EV_CLEAR is
 * implied.
 *
 * A signalfd only sees a signal that is blocked (else the kernel delivers
 * it: runs the handler, ignores it, or drops it at once when it is
 * SIG_IGN), and reading it consumes it.  BSD records a signal whatever the
 * disposition, and programs rely on that: libevent registers the signal
 * and then sets it to SIG_IGN (SIGCHLD: SIG_DFL), never blocking it.  So:
 *
 * Registration (EV_ADD) blocks the signal in the calling thread if it is
 * not blocked there, and then (for the first knote of that signal in the
 * process) requires it to be blocked in every thread of the process (each
 * thread's SigBlk in /proc/self/task/N/status): a thread
 * that does not block it would take a process-directed signal where no
 * signalfd sees it.  If some thread does not, the block is undone and the
 * registration fails with EOPNOTSUPP, as it does for a signal that cannot
 * be blocked (SIGSTOP; the C library's internal 32 and 33) and for a fault
 * signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) the program did
 * not block itself: blocked, a real fault would kill the process instead of
 * running its handler.  SIGKILL is accepted and never reported (the process
 * is gone; as on BSD).  Without /proc the other threads cannot be checked;
 * the registration is accepted.  Threads created afterwards inherit the
 * block.  Process-wide, a count per signal says how many knotes (of all
 * kqueues) watch it, and ukq_sig_watched has the signals whose count is
 * not 0: while a signal is in it, the program's sigprocmask() and
 * pthread_sigmask() keep it blocked, in every thread, whatever the program
 * asks, and report the mask the program believes it has (user_sigmask.c:
 * the per-thread belief, and what it does not cover).  A block EV_ADD made
 * is part of that belief (the thread believes the signal unblocked).
 * When the last knote goes, each thread that believes the signal unblocked
 * unblocks it at the end of its next kevent() call or at its next
 * sigprocmask(); the thread that removed the knote does it at the end of
 * that kevent() call (in a single-threaded program: the mask is then the
 * one the program set).  A signal the program blocked (before or after
 * EV_ADD) stays blocked.  In a child of fork() the mask becomes what the
 * forking thread believed (its kqueues are not inherited); an exec'd
 * program, or the child of vfork() or posix_spawn(), gets the real mask,
 * with the watched signals blocked.
 *
 * The disposition.  A signal read while some thread believes it
 * unblocked (ukq_sig_nlie: the kernel would have delivered it there) is
 * then given its disposition, as BSD does at delivery: at the end of the
 * kevent() call that read it, after every lock is released, in that
 * thread:
 * SIG_IGN and a default of ignoring (SIGCHLD, SIGCONT, SIGURG, SIGWINCH):
 * nothing; another default (terminate, core, stop): unblocked here and
 * raised again, so the kernel takes that action; a handler: called as the
 * kernel would (sa_mask and the signal blocked unless SA_NODEFER,
 * SA_RESETHAND honoured, SA_SIGINFO with the siginfo the signalfd gave:
 * sender, code, value or child status).  The handler runs late (when
 * kevent() reads the signal, not when it is sent) and interrupts no system
 * call.  A signal every thread believes blocked stays as before: consumed
 * by the kqueue, the handler does not run.  Two kqueues watching one signal
 * compete for it.
 *
 * Locking: kq->mtx held for attach/detach/check/source_event; sig_lock
 * (innermost) covers the process-wide counts, the writes of
 * ukq_sig_watched (an atomic, read with no lock by user_sigmask.c) and the
 * queue of signals waiting for their disposition.  ukq_signal_deliver()
 * runs with no lock held, at the end of each kevent() and kqueue() call:
 * it applies the dispositions and undoes this thread's blocks whose last
 * knote went (not under kq->mtx: unblocking runs a pending signal's
 * handler at once).  The library's own changes of the mask use
 * ukq_real_sigmask(), never the interposed functions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <ucontext.h>
#include <unistd.h>

#include "kq_internal.h"

#define NSIG_WATCH	64

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	unsigned int refs;	/* knotes watching it, all kqueues */
	unsigned int redeliver;	/* read, disposition not yet applied */
	struct signalfd_siginfo info;	/* the last one read */
} sigs[NSIG_WATCH + 1];
static int sig_redeliver_pending;	/* any redeliver != 0 (atomic) */

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

static bool is_fault_signal(int s)
{
	return s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE ||
	       s == SIGTRAP || s == SIGSYS;
}

static bool blocked_here(int s)
{
	sigset_t cur;

	sigemptyset(&cur);
	return ukq_real_sigmask(SIG_BLOCK, NULL, &cur) == 0 &&
	       sigismember(&cur, s);
}

static void set_blocked_here(int s, bool on)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, s);
	ukq_real_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* One thread's SigBlk has signal s: 1 yes, 0 no, -1 unknown (gone). */
static int task_blocks(const char *tid, int s)
{
	char path[64], buf[2048];
	unsigned long long mask;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nSigBlk:");
	if (!p || sscanf(p + 8, "%llx", &mask) != 1)
		return -1;
	return (mask >> (s - 1)) & 1;
}

/* Does every thread of the process block s?  (No /proc: assumed.) */
static bool all_threads_block(int s)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool ok = true;

	if (!d)
		return true;
	while (ok && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (task_blocks(e->d_name, s) == 0)
			ok = false;
	}
	closedir(d);
	return ok;
}

/*
 * A knote starts watching s: block it (see the top of the file).
 * 0 (*ref: the knote holds a count) or EOPNOTSUPP.
 */
static int sig_watch(int s, bool *ref)
{
	uint64_t bit = 1ull << (s - 1);
	bool newly = false;
	int err = EOPNOTSUPP;

	*ref = false;
	if (s == SIGKILL)
		return 0;
	pthread_mutex_lock(&sig_lock);
	/*
	 * Published first: from now on no sigprocmask() of the program
	 * unblocks s (user_sigmask.c), then the threads are checked.  A
	 * block of this thread the last knote left (its belief says
	 * unblocked, not yet undone) is still in place: kept.
	 */
	if (sigs[s].refs == 0)
		__atomic_or_fetch(&ukq_sig_watched, bit, __ATOMIC_SEQ_CST);
	if (!blocked_here(s)) {
		if (is_fault_signal(s))
			goto fail;
		set_blocked_here(s, true);
		if (!blocked_here(s))	/* SIGSTOP, 32, 33 */
			goto fail;
		newly = true;
	}
	/*
	 * Only for the first knote of s: threads created since inherit a
	 * mask from one that was checked, and their sigprocmask() keeps s
	 * blocked.
	 */
	if (sigs[s].refs == 0 && !all_threads_block(s)) {
		if (newly)
			set_blocked_here(s, false);
		goto fail;
	}
	/* The program did not ask for this block: it believes s unblocked. */
	if (newly)
		ukq_sig_set_lie(ukq_sig_lie | bit);
	sigs[s].refs++;
	*ref = true;
	pthread_mutex_unlock(&sig_lock);
	return 0;
fail:
	if (sigs[s].refs == 0)
		__atomic_and_fetch(&ukq_sig_watched, ~bit, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&sig_lock);
	return err;
}

/*
 * The last knote of s going makes s unwatched; each thread that believes
 * it unblocked unblocks it at its next kevent() or sigprocmask() (this
 * one at the end of this kevent() call, in ukq_signal_deliver()).
 */
static void sig_unwatch(int s)
{
	pthread_mutex_lock(&sig_lock);
	if (sigs[s].refs > 0 && --sigs[s].refs == 0)
		__atomic_and_fetch(&ukq_sig_watched, ~(1ull << (s - 1)),
				   __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&sig_lock);
}

static int signal_attach(struct uknote *kn)
{
	struct ukq *kq = kn->kq;
	int s = (int)kn->ident;
	bool ref;
	int err;

	if (kn->ident == 0 || kn->ident > NSIG_WATCH || s > SIGRTMAX)
		return EINVAL;
	err = sig_watch(s, &ref);
	if (err)
		return err;
	if (kq->sigfd < 0) {
		sigset_t set;
		int fd;

		sigemptyset(&set);
		fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (fd < 0) {
			err = errno;
			goto fail;
		}
		kq->sigsrc = usrc_new(kq, SRC_SIGNAL, fd);
		if (!kq->sigsrc) {
			close(fd);
			err = ENOMEM;
			goto fail;
		}
		err = usrc_epoll_add(kq, kq->sigsrc, EPOLLIN);
		if (err) {
			usrc_free(kq, kq->sigsrc);
			kq->sigsrc = NULL;
			err = -err;
			goto fail;
		}
		kq->sigfd = fd;
	}
	kq->sigmask[s / 64] |= 1ull << (s % 64);
	ukq_signal_update(kq);
	kn->flags |= EV_CLEAR;
	kn->aux = ref;
	return 0;
fail:
	if (ref)
		sig_unwatch(s);
	return err;
}

static void signal_detach(struct uknote *kn)
{
	int s = (int)kn->ident;

	kn->kq->sigmask[s / 64] &= ~(1ull << (s % 64));
	ukq_signal_update(kn->kq);
	if (kn->aux)
		sig_unwatch(s);
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
		size_t n = (size_t)r / sizeof(si[0]);
		bool queued = false;

		for (size_t i = 0; i < n; i++) {
			struct uknote *kn = kn_find(src->kq, si[i].ssi_signo,
						    EVFILT_SIGNAL);

			if (kn) {
				kn->count++;
				kn_activate(kn);
			}
		}
		pthread_mutex_lock(&sig_lock);
		for (size_t i = 0; i < n; i++) {
			unsigned int s = si[i].ssi_signo;

			/* Delivered only if some thread believes it unblocked. */
			if (s == 0 || s > NSIG_WATCH ||
			    !__atomic_load_n(&ukq_sig_nlie[s], __ATOMIC_RELAXED))
				continue;
			sigs[s].redeliver++;
			sigs[s].info = si[i];
			queued = true;
		}
		if (queued)
			__atomic_store_n(&sig_redeliver_pending, 1,
					 __ATOMIC_RELEASE);
		pthread_mutex_unlock(&sig_lock);
	}
}

static bool default_ignores(int s)
{
	return s == SIGCHLD || s == SIGCONT || s == SIGURG || s == SIGWINCH;
}

/* Give one signal read from a signalfd its disposition (no lock held). */
static void apply_disposition(int s, const struct signalfd_siginfo *in)
{
	struct sigaction sa;
	sigset_t mask, old;

	if (sigaction(s, NULL, &sa) < 0 || sa.sa_handler == SIG_IGN)
		return;
	if (sa.sa_handler == SIG_DFL) {
		if (default_ignores(s))
			return;
		/* Terminate, dump core or stop: the kernel does it. */
		sigemptyset(&mask);
		sigaddset(&mask, s);
		ukq_real_sigmask(SIG_UNBLOCK, &mask, &old);
		raise(s);
		ukq_real_sigmask(SIG_SETMASK, &old, NULL);
		return;
	}
	mask = sa.sa_mask;
	if (!(sa.sa_flags & SA_NODEFER))
		sigaddset(&mask, s);
	ukq_real_sigmask(SIG_BLOCK, &mask, &old);
	if (sa.sa_flags & SA_RESETHAND) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(s, &dfl, NULL);
	}
	if (sa.sa_flags & SA_SIGINFO) {
		siginfo_t si;
		ucontext_t uc;

		memset(&si, 0, sizeof(si));
		si.si_signo = s;
		si.si_errno = in->ssi_errno;
		si.si_code = in->ssi_code;
		si.si_pid = (pid_t)in->ssi_pid;
		si.si_uid = (uid_t)in->ssi_uid;
		if (s == SIGCHLD) {
			si.si_status = in->ssi_status;
			si.si_utime = (clock_t)in->ssi_utime;
			si.si_stime = (clock_t)in->ssi_stime;
		} else {
			si.si_value.sival_ptr =
				(void *)(uintptr_t)in->ssi_ptr;
		}
		memset(&uc, 0, sizeof(uc));
		getcontext(&uc);
		sa.sa_sigaction(s, &si, &uc);
	} else {
		sa.sa_handler(s);
	}
	ukq_real_sigmask(SIG_SETMASK, &old, NULL);
}

void ukq_signal_deliver(void)
{
	int saved = errno;
	uint64_t stale = ukq_sig_lie &
		~__atomic_load_n(&ukq_sig_watched, __ATOMIC_RELAXED);

	if (stale) {
		/* No longer watched, believed unblocked: unblocked for real. */
		sigset_t set;

		sigemptyset(&set);
		for (int s = 1; s <= NSIG_WATCH; s++)
			if (stale & (1ull << (s - 1)))
				sigaddset(&set, s);
		ukq_sig_set_lie(ukq_sig_lie & ~stale);
		/* One that came meanwhile gets its disposition now. */
		ukq_real_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (!__atomic_load_n(&sig_redeliver_pending, __ATOMIC_ACQUIRE)) {
		errno = saved;
		return;
	}
	for (;;) {
		struct signalfd_siginfo info;
		int s = 0;

		pthread_mutex_lock(&sig_lock);
		for (int i = 1; i <= NSIG_WATCH && !s; i++) {
			if (sigs[i].redeliver) {
				sigs[i].redeliver--;
				info = sigs[i].info;
				s = i;
			}
		}
		if (!s)
			__atomic_store_n(&sig_redeliver_pending, 0,
					 __ATOMIC_RELAXED);
		pthread_mutex_unlock(&sig_lock);
		if (!s)
			break;
		apply_disposition(s, &info);
	}
	errno = saved;
}

void ukq_signal_atfork_prepare(void)
{
	pthread_mutex_lock(&sig_lock);
}

void ukq_signal_atfork_parent(void)
{
	pthread_mutex_unlock(&sig_lock);
}

/*
 * The child has no kqueue of its own yet: its mask becomes what the
 * forking thread believed (the library's blocks go, the program's stay).
 */
void ukq_signal_atfork_child(void)
{
	pthread_mutex_init(&sig_lock, NULL);
	for (int s = 1; s <= NSIG_WATCH; s++) {
		if (ukq_sig_lie & (1ull << (s - 1)))
			set_blocked_here(s, false);
		memset(&sigs[s], 0, sizeof(sigs[s]));
		ukq_sig_nlie[s] = 0;
	}
	ukq_sig_lie = 0;
	ukq_sig_watched = 0;
	sig_redeliver_pending = 0;
}

const struct ufilter ufilt_signal = {
	.is_fd = false,
	.attach = signal_attach,
	.detach = signal_detach,
	.check = signal_check,
	.source_event = signal_event,
};
