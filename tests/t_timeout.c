/*
 * t_timeout.c - waiting in kevent(): a NULL timeout waits until an event
 * arrives, {0, 0} polls, a finite timeout expires after at least its
 * length and returns early when an event arrives, and a signal interrupts
 * a blocking kevent() with -1/EINTR even when the handler was installed
 * with SA_RESTART (pthread_kill from another thread, and setitimer).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include "kqtest.h"

struct delayed {
	int ms;
	int fd;			/* write one byte here after ms, if >= 0 */
	pthread_t target;	/* else pthread_kill(target, sig) */
	int sig;
};

static void *delayed_thread(void *arg)
{
	struct delayed *d = arg;

	sleep_ms(d->ms);
	if (d->fd >= 0)
		write_n(d->fd, 1);
	else
		pthread_kill(d->target, d->sig);
	return NULL;
}

static pthread_t start_delayed(struct delayed *d)
{
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, delayed_thread, d), 0);
	return t;
}

TEST(timeout_null_waits_for_event)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct delayed d = { .ms = 200 };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	d.fd = p[1];
	long long t0 = now_ms();
	pthread_t t = start_delayed(&d);
	int n = kevent(kq, NULL, 0, ev, 2, NULL);
	long long dt = now_ms() - t0;

	CHECKF(n == 1, "got %d (%s)", n, n < 0 ? kqt_errname(errno) : "");
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].data, 1);
	CHECKF(dt >= 150, "returned after %lld ms, before the write", dt);
	pthread_join(t, NULL);
}

TEST(timeout_zero_polls)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	long long t0 = now_ms();
	for (int i = 0; i < 20; i++)
		CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
	long long dt = now_ms() - t0;
	CHECKF(dt < 2000, "20 zero-timeout polls took %lld ms", dt);
	write_n(p[1], 1);
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 1);
}

TEST(timeout_expires)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct timespec ts = { 0, 100 * 1000000 };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	long long t0 = now_ms();
	int n = kevent(kq, NULL, 0, ev, 2, &ts);
	long long dt = now_ms() - t0;

	CHECKF(n == 0, "got %d (%s)", n, n < 0 ? kqt_errname(errno) : "");
	CHECKF(dt >= 95, "100 ms timeout returned after %lld ms", dt);
	CHECKF(dt < 10000, "100 ms timeout returned after %lld ms", dt);

	/* An empty kqueue waits too. */
	int kq2 = kq_new();
	t0 = now_ms();
	n = kevent(kq2, NULL, 0, ev, 2, &ts);
	dt = now_ms() - t0;
	CHECK_EQ(n, 0);
	CHECKF(dt >= 95, "100 ms timeout (empty kqueue) after %lld ms", dt);

	/* Seconds and nanoseconds both count: {1, 0} is 1 s. */
	struct timespec one = { 1, 0 };
	t0 = now_ms();
	CHECK_EQ(kevent(kq2, NULL, 0, ev, 2, &one), 0);
	dt = now_ms() - t0;
	CHECKF(dt >= 990 && dt < 15000, "1 s timeout after %lld ms", dt);
}

TEST(timeout_event_ends_wait_early)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct timespec ts = { 20, 0 };
	struct delayed d = { .ms = 200 };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	d.fd = p[1];
	long long t0 = now_ms();
	pthread_t t = start_delayed(&d);
	int n = kevent(kq, NULL, 0, ev, 2, &ts);
	long long dt = now_ms() - t0;

	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECKF(dt < 10000, "woke after %lld ms", dt);
	pthread_join(t, NULL);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void install(int sig, int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(sig, &sa, NULL));
}

/*
 * Blocks in kevent() (timeout ts) while another thread sends SIGUSR1 after
 * 200 ms; a third writes to a registered pipe after 4 s, so a kevent()
 * that is wrongly restarted ends with an event instead of hanging.
 */
static void eintr_case(int sa_flags, const struct timespec *ts)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct delayed sig = { .ms = 200, .fd = -1, .sig = SIGUSR1 };
	struct delayed rescue = { .ms = 4000 };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	install(SIGUSR1, sa_flags);
	got_signal = 0;
	sig.target = pthread_self();
	rescue.fd = p[1];
	pthread_t t1 = start_delayed(&sig);
	pthread_t t2 = start_delayed(&rescue);
	pthread_detach(t2);

	errno = 0;
	int n = kevent(kq, NULL, 0, ev, 2, ts);
	int e = errno;

	CHECK(got_signal);
	CHECKF(n == -1 && e == EINTR, "kevent() interrupted by a signal "
	       "(sa_flags 0x%x): got %d/%s, want -1/EINTR", sa_flags, n,
	       n < 0 ? kqt_errname(e) : "-");
	pthread_join(t1, NULL);
}

TEST(timeout_signal_eintr_sa_restart)
{
	eintr_case(SA_RESTART, NULL);
}

TEST(timeout_signal_eintr_no_restart)
{
	eintr_case(0, NULL);
}

TEST(timeout_signal_eintr_finite_timeout)
{
	struct timespec ts = { 8, 0 };

	eintr_case(SA_RESTART, &ts);
}

TEST(timeout_signal_eintr_itimer)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	struct itimerval it = { { 0, 0 }, { 0, 200000 } };
	struct delayed rescue = { .ms = 4000 };

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	rescue.fd = p[1];
	/* SIGALRM goes to the process; only this thread may take it. */
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &alrm, NULL), 0);
	pthread_t t = start_delayed(&rescue);
	pthread_detach(t);
	CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &alrm, NULL), 0);
	install(SIGALRM, SA_RESTART);
	got_signal = 0;
	CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));

	errno = 0;
	int n = kevent(kq, NULL, 0, ev, 2, NULL);
	int e = errno;

	CHECK(got_signal);
	CHECKF(n == -1 && e == EINTR, "got %d/%s, want -1/EINTR", n,
	       n < 0 ? kqt_errname(e) : "-");
	/* The kqueue still works after the interruption. */
	write_n(p[1], 1);
	CHECK_EQ(kev_wait(kq, ev, 2, 10000), 1);
}
