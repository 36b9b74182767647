/*
 * kqstress.c - concurrency stress for kqueue.ko through the public API
 * (<sys/event.h>, -lkqueue), with exact accounting of events.
 *
 *   kqstress [--seconds T] [--seed S]
 *
 * Three phases share the time budget T (default 30 s):
 *
 *   flow   4 kqueues x (16 channels (pipes, UNIX and TCP sockets) + 4
 *          EVFILT_USER + 3 periodic timers + EVFILT_SIGNAL); 2 consumer
 *          threads per kqueue, 3 writer threads hammering the channels and
 *          triggering the user events, 1 thread sending SIGUSR1.  Channels
 *          are watched level-triggered, EV_CLEAR, EV_DISPATCH (re-enabled
 *          after each drain) or EV_ONESHOT (re-added); one channel per
 *          kqueue is read slowly.  Writers that find a channel full wait
 *          for EVFILT_WRITE in a kqueue of their own.
 *          Nothing a live, enabled knote should say may be lost:
 *            - bytes read (only on READ events) == bytes written, per
 *              channel, once the writers stop;
 *            - a user event triggered since its last report is reported;
 *            - the sum of EVFILT_SIGNAL data == signals sent, per kqueue;
 *            - the sum of each timer's data == the periods elapsed between
 *              its EV_ADD and its last report (bounds from both sides);
 *            - a writer's EVFILT_WRITE wait never times out while poll()
 *              says the channel is writable;
 *            - READ events of open channels carry data > 0.
 *   churn  threads that build a kqueue with pipes, timers and user events,
 *          let writer threads hammer the pipes and a second thread wait in
 *          kevent(), then close the watched descriptors, the write ends or
 *          the kqueue itself under it.  Every call must return in time
 *          with well-formed results.
 *   procs  children that open kqueues (nested, with timers, signals, pipes
 *          the parent writes to, a thread blocked in kevent()) and exit,
 *          are killed or exec; the parent's EVFILT_PROC NOTE_EXIT must
 *          report every exit once, with the status waitpid() returns.
 *
 * After each phase, when /sys/module/kqueue/parameters is readable (root),
 * the live kqueue and knote counters must be back where they started.
 * Prints `PASS name` / `FAIL name: why` lines; exit status 0 iff all passed.
 *
 * On the user-space backend (KQUEUE_BACKEND=user, tools/host-stress.sh)
 * the module's counters do not apply, and EVFILT_SIGNAL is expected to
 * miscount: a watched signal is blocked and read from a signalfd, so one
 * sent again before a kqueue read it counts once, and the kqueues compete
 * for it (README, differences).  That check then prints `XFAIL name:
 * why`, or FAIL if it unexpectedly passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>

static int nfail;
static unsigned long long seed;
static int user_backend;	/* the kqueues are the user-space backend's */

static void pass(const char *name)
{
	printf("PASS %s\n", name);
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (seed %llu)\n", seed);
	fflush(stdout);
	nfail++;
}

/* A failure the user-space backend is known to have (see the top). */
__attribute__((format(printf, 3, 4)))
static void xfail(const char *name, const char *reason, const char *fmt, ...)
{
	va_list ap;

	printf("XFAIL %s: %s (failed: ", name, reason);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
	fflush(stdout);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void on_signal(int sig)
{
	(void)sig;
}

/* ---- counters ----------------------------------------------------------- */

static int read_counter(const char *name, long long *v)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/module/kqueue/parameters/%s",
		 name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lld", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static long long base_kq, base_kn;
static int have_counters;

static void counters_base(void)
{
	have_counters = read_counter("nr_kqueues", &base_kq) == 0 &&
			read_counter("nr_knotes", &base_kn) == 0;
}

/* Back to the baseline within a few seconds (reaping may be deferred). */
static void counters_check(const char *name)
{
	long long kq = -1, kn = -1, t0 = now_us();

	if (user_backend)
		return;		/* they count the module's objects only */
	if (!have_counters) {
		printf("kqstress: %s: counters not readable, not checked\n",
		       name);
		return;
	}
	do {
		if (read_counter("nr_kqueues", &kq) == 0 &&
		    read_counter("nr_knotes", &kn) == 0 &&
		    kq == base_kq && kn == base_kn) {
			pass(name);
			return;
		}
		sleep_us(50000);
	} while (now_us() - t0 < 5000000);
	fail(name, "nr_kqueues %lld (was %lld), nr_knotes %lld (was %lld)",
	     kq, base_kq, kn, base_kn);
}

/* ---- phase 1: flow ------------------------------------------------------- */

#define F_KQ		4
#define F_CH		16	/* channels per kqueue */
#define F_USER		4
#define F_TIMERS	3
#define F_CONSUMERS	2	/* per kqueue */
#define F_WRITERS	3
#define USER_BASE	1000
#define TIMER_BASE	2000

enum { M_LEVEL, M_CLEAR, M_DISPATCH, M_ONESHOT };
static const char *const mode_name[] = { "level", "EV_CLEAR", "EV_DISPATCH",
	"EV_ONESHOT" };
static const char *const kind_name[] = { "pipe", "unix", "tcp" };

struct channel {
	int rd, wr, kind, mode, kq;
	int slow;		/* read slowly: writers find it full */
	pthread_mutex_t mtx;	/* serializes draining and re-arming */
	atomic_llong written, nread;
	atomic_int bad_events;
};

struct utimer {
	int period_ms;
	long long add_before, add_after;	/* us */
	long long last_call_before, last_call_after;
	atomic_llong sum;
	atomic_int reported;	/* since the final phase started */
};

struct fkq {
	int fd;
	struct channel ch[F_CH];
	atomic_int user_pending[F_USER];
	atomic_llong user_reports;
	struct utimer tm[F_TIMERS];
	atomic_llong sig_sum;
};

static struct fkq fkqs[F_KQ];
static atomic_int flow_stop_writers, flow_stop_consumers, flow_final;
static atomic_llong sig_sent, lost_write_waits, write_waits;

static unsigned short mode_flags(int mode)
{
	return mode == M_CLEAR ? EV_CLEAR : mode == M_DISPATCH ? EV_DISPATCH :
	       mode == M_ONESHOT ? EV_ONESHOT : 0;
}

static int make_tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		goto out;
	sv[1] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[1] < 0)
		goto out;
	if (connect(sv[1], (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(sv[1]);
		goto out;
	}
	sv[0] = accept(l, NULL, NULL);
	close(l);
	if (sv[0] < 0) {
		close(sv[1]);
		return -1;
	}
	setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
out:
	close(l);
	return -1;
}

static int channel_open(struct channel *c, int kind)
{
	int p[2];

	c->kind = kind;
	if (kind == 0) {
		if (pipe2(p, O_NONBLOCK) < 0)
			return -1;
		c->rd = p[0];
		c->wr = p[1];
		return 0;
	}
	if (kind == 1) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) < 0)
			return -1;
	} else if (make_tcp_pair(p) < 0) {
		/* No loopback: a UNIX pair instead. */
		c->kind = 1;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) < 0)
			return -1;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	c->rd = p[0];
	c->wr = p[1];
	return 0;
}

static int kev1(int kq, uintptr_t ident, short filter, unsigned short flags,
		unsigned int fflags, int64_t data, void *udata)
{
	struct kevent kev;

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	return kevent(kq, &kev, 1, NULL, 0, NULL);
}

/* A READ event for channel c: drain it, then re-arm as its mode says. */
static void channel_event(struct channel *c, const struct kevent *e)
{
	char buf[8192];
	long long got = 0;
	ssize_t n;

	if (e->data <= 0 && !(e->flags & EV_EOF) &&
	    atomic_fetch_add(&c->bad_events, 1) < 3)
		printf("kqstress: READ event on a %s channel (%s): data %jd, "
		       "flags 0x%x\n", kind_name[c->kind], mode_name[c->mode],
		       (intmax_t)e->data, e->flags);
	pthread_mutex_lock(&c->mtx);
	/*
	 * Level-triggered channels are read a little at a time (the event
	 * comes back while data is left), so writers find them full and
	 * wait for EVFILT_WRITE; the others must be drained.
	 */
	while ((n = read(c->rd, buf, c->mode == M_LEVEL ? 512 :
			 sizeof(buf))) > 0) {
		got += n;
		if (c->mode == M_LEVEL)
			break;
	}
	if (c->slow)
		sleep_us(2000);
	atomic_fetch_add(&c->nread, got);
	if (c->mode == M_DISPATCH)
		kev1(c->kq, (uintptr_t)c->rd, EVFILT_READ, EV_ENABLE, 0, 0, c);
	else if (c->mode == M_ONESHOT)
		kev1(c->kq, (uintptr_t)c->rd, EVFILT_READ,
		     EV_ADD | EV_ONESHOT, 0, 0, c);
	pthread_mutex_unlock(&c->mtx);
}

static void flow_handle(struct fkq *q, const struct kevent *e, long long tb,
			long long ta)
{
	switch (e->filter) {
	case EVFILT_READ:
		channel_event(e->udata, e);
		break;
	case EVFILT_USER:
		atomic_store(&q->user_pending[e->ident - USER_BASE], 0);
		atomic_fetch_add(&q->user_reports, 1);
		break;
	case EVFILT_TIMER: {
		struct utimer *t = &q->tm[e->ident - TIMER_BASE];

		atomic_fetch_add(&t->sum, e->data);
		if (atomic_load(&flow_final)) {
			t->last_call_before = tb;
			t->last_call_after = ta;
			atomic_store(&t->reported, 1);
		}
		break;
	}
	case EVFILT_SIGNAL:
		atomic_fetch_add(&q->sig_sum, e->data);
		break;
	default:
		break;
	}
}

static void *flow_consumer(void *arg)
{
	struct fkq *q = arg;
	struct kevent ev[8];
	struct timespec ts = { 0, 50000000L };

	while (!atomic_load(&flow_stop_consumers)) {
		int n = kevent(q->fd, NULL, 0, ev, 8, &ts);

		for (int i = 0; i < n; i++)
			flow_handle(q, &ev[i], 0, 0);
	}
	return NULL;
}

static void *flow_writer(void *arg)
{
	static const char buf[4096];
	uint64_t r = seed + (uint64_t)(uintptr_t)arg * 977;
	int wkq = kqueue();

	while (wkq >= 0 && !atomic_load(&flow_stop_writers)) {
		struct fkq *q = &fkqs[rnd_next(&r) % F_KQ];

		if (rnd_next(&r) % 8 == 0) {
			int u = (int)(rnd_next(&r) % F_USER);

			/* Set before the trigger: see flow_check(). */
			atomic_store(&q->user_pending[u], 1);
			kev1(q->fd, USER_BASE + u, EVFILT_USER, 0,
			     NOTE_TRIGGER, 0, NULL);
			continue;
		}
		struct channel *c = &q->ch[rnd_next(&r) % F_CH];
		size_t len = 1 + rnd_next(&r) % sizeof(buf);
		/* Several writers may share a channel: the counts add up. */
		ssize_t n = send(c->wr, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(c->wr, buf, len);
		if (n > 0) {
			atomic_fetch_add(&c->written, n);
			continue;
		}
		if (errno != EAGAIN)
			continue;
		/* Full: wait until it is writable again (a WRITE event). */
		struct kevent kev, out;
		struct timespec ts = { 3, 0 };

		EV_SET(&kev, c->wr, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0,
		       c);
		atomic_fetch_add(&write_waits, 1);
		int got = kevent(wkq, &kev, 1, &out, 1, &ts);
		if (got == 0) {
			struct pollfd pfd = { .fd = c->wr, .events = POLLOUT };

			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT))
				atomic_fetch_add(&lost_write_waits, 1);
			kev1(wkq, (uintptr_t)c->wr, EVFILT_WRITE, EV_DELETE, 0,
			     0, NULL);
		}
	}
	if (wkq >= 0)
		close(wkq);
	return NULL;
}

static void *flow_signaller(void *arg)
{
	(void)arg;
	while (!atomic_load(&flow_stop_writers)) {
		kill(getpid(), SIGUSR1);
		atomic_fetch_add(&sig_sent, 1);
		sleep_us(3000);
	}
	return NULL;
}

static int flow_setup(void)
{
	static const int periods[F_TIMERS] = { 7, 13, 29 };

	for (int k = 0; k < F_KQ; k++) {
		struct fkq *q = &fkqs[k];

		q->fd = kqueue();
		if (q->fd < 0)
			return -1;
		for (int i = 0; i < F_CH; i++) {
			struct channel *c = &q->ch[i];

			/* 3 TCP channels per kqueue, the rest pipes/UNIX. */
			if (channel_open(c, i < 3 ? 2 : i % 2) < 0)
				return -1;
			pthread_mutex_init(&c->mtx, NULL);
			c->mode = (i + k) % 4;
			/* The last (UNIX), level-triggered, is read slowly. */
			if (i == F_CH - 1) {
				c->slow = 1;
				c->mode = M_LEVEL;
			}
			c->kq = q->fd;
			if (kev1(q->fd, (uintptr_t)c->rd, EVFILT_READ,
				 EV_ADD | mode_flags(c->mode), 0, 0, c) < 0)
				return -1;
		}
		for (int u = 0; u < F_USER; u++)
			if (kev1(q->fd, USER_BASE + u, EVFILT_USER,
				 EV_ADD | EV_CLEAR, 0, 0, NULL) < 0)
				return -1;
		if (kev1(q->fd, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL) < 0)
			return -1;
		for (int t = 0; t < F_TIMERS; t++) {
			struct utimer *tm = &q->tm[t];

			tm->period_ms = periods[t];
			tm->add_before = now_us();
			if (kev1(q->fd, TIMER_BASE + t, EVFILT_TIMER, EV_ADD, 0,
				 tm->period_ms, NULL) < 0)
				return -1;
			tm->add_after = now_us();
		}
	}
	return 0;
}

static void flow_check(void)
{
	int lost = 0, bad = 0, user_lost = 0, sig_bad = 0, tm_bad = 0;
	long long bytes = 0, treports = 0;

	for (int k = 0; k < F_KQ; k++) {
		struct fkq *q = &fkqs[k];

		for (int i = 0; i < F_CH; i++) {
			struct channel *c = &q->ch[i];
			long long w = atomic_load(&c->written);
			long long r = atomic_load(&c->nread);

			bytes += w;
			if (w != r && lost++ < 5)
				printf("kqstress: kq %d channel %d (%s, %s): "
				       "written %lld, read %lld\n", k, i,
				       kind_name[c->kind], mode_name[c->mode],
				       w, r);
			bad += atomic_load(&c->bad_events);
		}
		for (int u = 0; u < F_USER; u++)
			user_lost += atomic_load(&q->user_pending[u]);
		treports += atomic_load(&q->user_reports);
		if (atomic_load(&q->sig_sum) != atomic_load(&sig_sent)) {
			sig_bad++;
			printf("kqstress: kq %d: EVFILT_SIGNAL counted %lld, "
			       "%lld sent\n", k, atomic_load(&q->sig_sum),
			       atomic_load(&sig_sent));
		}
		for (int t = 0; t < F_TIMERS; t++) {
			struct utimer *tm = &q->tm[t];
			long long p = tm->period_ms * 1000LL;
			long long lo = (tm->last_call_before - tm->add_after) /
				       p - 1;
			long long hi = (tm->last_call_after - tm->add_before) /
				       p + 1;
			long long s = atomic_load(&tm->sum);

			if (!atomic_load(&tm->reported) || s < lo || s > hi) {
				tm_bad++;
				printf("kqstress: kq %d timer %d ms: %lld "
				       "expirations, want %lld..%lld%s\n", k,
				       tm->period_ms, s, lo, hi,
				       atomic_load(&tm->reported) ? "" :
				       " (no final report)");
			}
		}
	}
	printf("kqstress: flow: %lld bytes, %lld user reports, %lld signals, "
	       "%lld writer waits\n", bytes, treports,
	       atomic_load(&sig_sent), atomic_load(&write_waits));
	if (lost)
		fail("stress-flow-bytes", "%d of %d channels with unread "
		     "data and no event", lost, F_KQ * F_CH);
	else
		pass("stress-flow-bytes");
	if (bad)
		fail("stress-flow-read-data", "%d READ events with data <= 0",
		     bad);
	else
		pass("stress-flow-read-data");
	if (user_lost)
		fail("stress-flow-user", "%d triggered user events never "
		     "reported", user_lost);
	else
		pass("stress-flow-user");
	if (user_backend && sig_bad)
		xfail("stress-flow-signal", "user-space backend: a watched "
		      "signal is blocked and read from a signalfd: sent "
		      "again before a kqueue read it, it counts once, and "
		      "kqueues compete for it",
		      "%d kqueues miscounted signals", sig_bad);
	else if (user_backend)
		fail("stress-flow-signal", "an expected failure of the "
		     "user-space backend passed");
	else if (sig_bad)
		fail("stress-flow-signal", "%d kqueues miscounted signals",
		     sig_bad);
	else
		pass("stress-flow-signal");
	if (tm_bad)
		fail("stress-flow-timers", "%d timers miscounted", tm_bad);
	else
		pass("stress-flow-timers");
	if (atomic_load(&lost_write_waits))
		fail("stress-flow-write", "%lld EVFILT_WRITE waits timed out "
		     "on a writable channel",
		     atomic_load(&lost_write_waits));
	else
		pass("stress-flow-write");
}

/* All written bytes read, all triggers and signals reported? */
static int flow_settled(void)
{
	for (int k = 0; k < F_KQ; k++) {
		struct fkq *q = &fkqs[k];

		for (int i = 0; i < F_CH; i++)
			if (atomic_load(&q->ch[i].written) !=
			    atomic_load(&q->ch[i].nread))
				return 0;
		for (int u = 0; u < F_USER; u++)
			if (atomic_load(&q->user_pending[u]))
				return 0;
		if (atomic_load(&q->sig_sum) != atomic_load(&sig_sent))
			return 0;
	}
	return 1;
}

static void phase_flow(int seconds)
{
	pthread_t cons[F_KQ * F_CONSUMERS], wr[F_WRITERS], sig;
	long long t0;

	if (flow_setup() < 0) {
		fail("stress-flow-setup", "%s", strerror(errno));
		return;
	}
	for (int i = 0; i < F_KQ * F_CONSUMERS; i++)
		pthread_create(&cons[i], NULL, flow_consumer,
			       &fkqs[i % F_KQ]);
	for (int i = 0; i < F_WRITERS; i++)
		pthread_create(&wr[i], NULL, flow_writer,
			       (void *)(uintptr_t)(i + 1));
	pthread_create(&sig, NULL, flow_signaller, NULL);
	sleep_us(seconds * 1000000L);
	atomic_store(&flow_stop_writers, 1);
	for (int i = 0; i < F_WRITERS; i++)
		pthread_join(wr[i], NULL);
	pthread_join(sig, NULL);
	/* Consumers keep going until every count settles (or 15 s). */
	t0 = now_us();
	while (!flow_settled() && now_us() - t0 < 15000000)
		sleep_us(20000);
	atomic_store(&flow_stop_consumers, 1);
	for (int i = 0; i < F_KQ * F_CONSUMERS; i++)
		pthread_join(cons[i], NULL);

	/* Last reports of the timers (and anything else), here alone. */
	atomic_store(&flow_final, 1);
	for (int k = 0; k < F_KQ; k++) {
		struct fkq *q = &fkqs[k];
		long long end = now_us() + 3000000;

		for (;;) {
			int all = 1;

			for (int t = 0; t < F_TIMERS; t++)
				all &= atomic_load(&q->tm[t].reported);
			if (all || now_us() > end)
				break;
			struct kevent ev[16];
			struct timespec ts = { 0, 100000000L };
			long long tb = now_us();
			int n = kevent(q->fd, NULL, 0, ev, 16, &ts);
			long long ta = now_us();

			for (int i = 0; i < n; i++)
				flow_handle(q, &ev[i], tb, ta);
		}
	}
	flow_check();
	for (int k = 0; k < F_KQ; k++) {
		close(fkqs[k].fd);
		for (int i = 0; i < F_CH; i++) {
			close(fkqs[k].ch[i].rd);
			close(fkqs[k].ch[i].wr);
		}
	}
	counters_check("stress-flow-counters");
}

/* ---- phase 2: churn ------------------------------------------------------ */

#define C_THREADS	3
#define C_PIPES		8
#define C_SLOTS		(C_THREADS * C_PIPES)

struct cslot {
	pthread_mutex_t mtx;
	int wr;			/* -1 when none */
};

static struct cslot cslots[C_SLOTS];
static atomic_int churn_stop;
static atomic_llong churn_iters, churn_events, churn_bad;

struct cwait {
	int kq;
	atomic_int entered;
	long long dt;
	int n, err;
	struct kevent ev[16];
};

static void *churn_waiter(void *arg)
{
	struct cwait *w = arg;
	struct timespec ts = { 0, 300000000L };
	long long t0 = now_us();

	atomic_store(&w->entered, 1);
	w->n = kevent(w->kq, NULL, 0, w->ev, 16, &ts);
	w->err = errno;
	w->dt = now_us() - t0;
	return NULL;
}

static void *churn_hammer(void *arg)
{
	uint64_t r = seed ^ (uint64_t)(uintptr_t)arg;
	char buf[256] = { 0 };

	while (!atomic_load(&churn_stop)) {
		struct cslot *s = &cslots[rnd_next(&r) % C_SLOTS];

		pthread_mutex_lock(&s->mtx);
		if (s->wr >= 0 && write(s->wr, buf, 1 + rnd_next(&r) % 256) < 0)
			(void)0;
		pthread_mutex_unlock(&s->mtx);
		if (rnd_next(&r) % 16 == 0)
			sleep_us(100);
	}
	return NULL;
}

static void churn_bad_one(const char *fmt, long long a, long long b)
{
	if (atomic_fetch_add(&churn_bad, 1) < 5) {
		printf("kqstress: churn: ");
		printf(fmt, a, b);
		printf("\n");
	}
}

static void churn_check(const struct cwait *w, void *tagbase, int how)
{
	/* how 3: the kqueue may be gone before the call starts. */
	if (w->n < 0 && w->err != EINTR && !(how == 3 && w->err == EBADF))
		churn_bad_one("kevent() failed: errno %lld%.0lld", w->err, 0);
	/* 300 ms asked; a closed kqueue still lets it time out. */
	if (w->dt > 300000 + 20000000LL)
		churn_bad_one("kevent() returned after %lld us%.0lld", w->dt,
			      0);
	for (int i = 0; i < w->n; i++) {
		const struct kevent *e = &w->ev[i];
		uintptr_t u = (uintptr_t)e->udata - (uintptr_t)tagbase;

		if ((e->flags & EV_ERROR) || u > 64)
			churn_bad_one("event flags 0x%llx udata offset %lld",
				      e->flags, (long long)u);
	}
	if (w->n > 0)
		atomic_fetch_add(&churn_events, w->n);
}

static void *churn_thread(void *arg)
{
	int idx = (int)(uintptr_t)arg;
	uint64_t r = seed * 31 + (uint64_t)idx;
	char tagbase[65];
	int nullfd = open("/dev/null", O_RDWR);

	while (!atomic_load(&churn_stop)) {
		int kq = kqueue(), p[C_PIPES][2], how = (int)(rnd_next(&r) % 4);
		struct cwait w = { .kq = kq };
		pthread_t t;

		if (kq < 0)
			break;
		for (int i = 0; i < C_PIPES; i++) {
			struct cslot *s = &cslots[idx * C_PIPES + i];

			if (pipe2(p[i], O_NONBLOCK) < 0) {
				p[i][0] = p[i][1] = -1;
				continue;
			}
			kev1(kq, (uintptr_t)p[i][0], EVFILT_READ, EV_ADD |
			     mode_flags((int)(rnd_next(&r) % 4)), 0, 0,
			     tagbase + i);
			kev1(kq, (uintptr_t)p[i][1], EVFILT_WRITE,
			     EV_ADD | EV_CLEAR, 0, 0, tagbase + 8 + i);
			pthread_mutex_lock(&s->mtx);
			s->wr = p[i][1];
			pthread_mutex_unlock(&s->mtx);
		}
		for (int i = 0; i < 3; i++)
			kev1(kq, 100 + i, EVFILT_TIMER, EV_ADD, NOTE_USECONDS,
			     500 + 500 * i, tagbase + 20 + i);
		kev1(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0,
		     tagbase + 30);
		kev1(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, tagbase + 31);
		pthread_create(&t, NULL, churn_waiter, &w);
		while (!atomic_load(&w.entered))
			sleep_us(100);
		sleep_us((long)(rnd_next(&r) % 5000));
		kill(getpid(), SIGUSR2);

		/* Pull the rug. */
		for (int i = 0; i < C_PIPES; i++) {
			struct cslot *s = &cslots[idx * C_PIPES + i];

			pthread_mutex_lock(&s->mtx);
			s->wr = -1;
			if (how == 0 || (how == 2 && i % 2))
				close(p[i][0]);	/* watched read ends */
			if (how == 1 || how == 2)
				close(p[i][1]);	/* EOF for the readers */
			pthread_mutex_unlock(&s->mtx);
		}
		/*
		 * Under the waiter.  dup2() closes the kqueue without freeing
		 * its number, which another thread's kqueue() could take
		 * before the waiter's call looks it up.
		 */
		if (how == 3)
			dup2(nullfd, kq);
		pthread_join(t, NULL);
		churn_check(&w, tagbase, how);
		close(kq);
		for (int i = 0; i < C_PIPES; i++) {
			if (!(how == 0 || (how == 2 && i % 2)))
				close(p[i][0]);
			if (!(how == 1 || how == 2))
				close(p[i][1]);
		}
		atomic_fetch_add(&churn_iters, 1);
	}
	close(nullfd);
	return NULL;
}

static void phase_churn(int seconds)
{
	pthread_t th[C_THREADS], hm[2];

	for (int i = 0; i < C_SLOTS; i++) {
		pthread_mutex_init(&cslots[i].mtx, NULL);
		cslots[i].wr = -1;
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&hm[i], NULL, churn_hammer,
			       (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < C_THREADS; i++)
		pthread_create(&th[i], NULL, churn_thread,
			       (void *)(uintptr_t)i);
	sleep_us(seconds * 1000000L);
	atomic_store(&churn_stop, 1);
	for (int i = 0; i < C_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(hm[i], NULL);
	printf("kqstress: churn: %lld kqueues built and torn down, %lld "
	       "events\n", atomic_load(&churn_iters),
	       atomic_load(&churn_events));
	if (atomic_load(&churn_bad))
		fail("stress-churn", "%lld bad results or late returns",
		     atomic_load(&churn_bad));
	else if (atomic_load(&churn_iters) == 0)
		fail("stress-churn", "no iteration completed");
	else
		pass("stress-churn");
	counters_check("stress-churn-counters");
}

/* ---- phase 3: processes exiting with kqueues open ------------------------ */

static void *child_blocker(void *arg)
{
	struct kevent ev;

	for (;;)
		kevent(*(int *)arg, NULL, 0, &ev, 1, NULL);
	return NULL;
}

/* A child's life: kqueues full of knotes, then an end chosen by how. */
static void child_life(int how, int pipe_rd, int go_rd)
{
	static int inner;
	int outer = kqueue();
	pthread_t t;
	char c;

	inner = kqueue();
	if (outer < 0 || inner < 0)
		_exit(90);
	kev1(inner, (uintptr_t)pipe_rd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev1(inner, 1, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 700, NULL);
	kev1(outer, (uintptr_t)inner, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev1(outer, (uintptr_t)pipe_rd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0,
	     NULL);
	kev1(outer, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	kev1(outer, (uintptr_t)getppid(), EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
	     NULL);
	kev1(outer, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
	if (pthread_create(&t, NULL, child_blocker, &inner) != 0)
		_exit(91);
	/* Wait for the parent's go (it may kill us meanwhile). */
	if (read(go_rd, &c, 1) < 0)
		_exit(92);
	switch (how) {
	case 0:
		_exit(3);		/* main thread, others blocked */
	case 1:
		exit(4);			/* atexit path, same thing */
	case 2: {
		char *argv[] = { "true", NULL };

		execv("/bin/true", argv);	/* multi-threaded exec */
		_exit(5);
	}
	default:
		for (;;)
			pause();		/* killed by the parent */
	}
}

static void phase_procs(int seconds)
{
	int kq = kqueue(), spawned = 0, reported = 0, bad = 0;
	long long end = now_us() + seconds * 1000000LL;
	uint64_t r = seed * 7 + 3;
	int data[2];

	if (kq < 0 || pipe2(data, O_NONBLOCK) < 0) {
		fail("stress-procs", "setup: %s", strerror(errno));
		return;
	}
	while (now_us() < end) {
		enum { W = 6 };
		pid_t pids[W];
		int go[W][2], status[W], seen[W], hows[W];
		struct kevent ev[W];

		for (int i = 0; i < W; i++) {
			int how = (int)(rnd_next(&r) % 4);

			hows[i] = how;
			seen[i] = 0;
			if (pipe(go[i]) < 0)
				return;
			pids[i] = fork();
			if (pids[i] == 0)
				child_life(how, data[0], go[i][0]);
			close(go[i][0]);
			if (pids[i] < 0)
				return;
			spawned++;
			if (kev1(kq, (uintptr_t)pids[i], EVFILT_PROC, EV_ADD,
				 NOTE_EXIT, 0, (void *)(intptr_t)i) < 0) {
				bad++;
				printf("kqstress: EVFILT_PROC on child %d: "
				       "%s\n", (int)pids[i], strerror(errno));
			}
		}
		/* Events in flight into their kqueues, then the end. */
		for (int i = 0; i < 50; i++)
			if (write(data[1], "x", 1) < 0)
				break;
		for (int i = 0; i < W; i++)
			kill(pids[i], SIGUSR1);
		sleep_us((long)(rnd_next(&r) % 20000));
		for (int i = 0; i < W; i++) {
			if (write(go[i][1], "g", 1) < 0)
				(void)0;
			close(go[i][1]);
			if (hows[i] == 3 || rnd_next(&r) % 3 == 0)
				kill(pids[i], SIGKILL);
		}
		/* Every exit reported, once, with the status. */
		long long t0 = now_us();
		int left = W;

		while (left > 0 && now_us() - t0 < 20000000) {
			struct timespec ts = { 1, 0 };
			int n = kevent(kq, NULL, 0, ev, W, &ts);

			for (int i = 0; i < n; i++) {
				int j = (int)(intptr_t)ev[i].udata;

				if (ev[i].filter != EVFILT_PROC || j < 0 ||
				    j >= W ||
				    ev[i].ident != (uintptr_t)pids[j] ||
				    !(ev[i].fflags & NOTE_EXIT) || seen[j]) {
					bad++;
					continue;
				}
				seen[j] = 1;
				status[j] = (int)ev[i].data;
				left--;
				reported++;
			}
		}
		for (int i = 0; i < W; i++) {
			int st;

			if (waitpid(pids[i], &st, 0) != pids[i])
				bad++;
			else if (seen[i] && st != status[i]) {
				bad++;
				printf("kqstress: child %d: NOTE_EXIT data "
				       "0x%x, waitpid 0x%x\n", (int)pids[i],
				       status[i], st);
			} else if (!seen[i]) {
				printf("kqstress: child %d: exit (0x%x) not "
				       "reported\n", (int)pids[i], st);
			}
		}
		char buf[256];
		while (read(data[0], buf, sizeof(buf)) > 0)
			;
	}
	close(kq);
	close(data[0]);
	close(data[1]);
	printf("kqstress: procs: %d children, %d exits reported\n", spawned,
	       reported);
	if (bad || reported != spawned)
		fail("stress-procs", "%d of %d exits reported, %d bad",
		     reported, spawned, bad);
	else
		pass("stress-procs");
	counters_check("stress-procs-counters");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int seconds = 30;

	seed = (unsigned long long)time(NULL) % 1000000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 0);
		else
			argc = 0;
	}
	if (argc % 2 == 0 || seconds < 3) {
		fprintf(stderr, "usage: kqstress [--seconds T (>= 3)] "
			"[--seed S]\n");
		return 2;
	}
	printf("kqstress: seed %llu seconds %d\n", seed, seconds);
	fflush(stdout);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	counters_base();
	{
		int kq = kqueue();

		if (kq >= 0) {
			user_backend = kqueue_backend(kq) ==
				       KQUEUE_BACKEND_USER;
			close(kq);
		}
	}
	if (user_backend)
		printf("kqstress: user-space backend: the module's counters "
		       "are not checked\n");

	phase_flow(seconds * 5 / 10);
	phase_churn(seconds * 3 / 10);
	phase_procs(seconds * 2 / 10);
	return nfail ? 1 : 0;
}
