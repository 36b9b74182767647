/*
 * table2.c - the original kqueue paper's Table 2, reproduced and extended:
 * the time of one wait call over N pipes that are all readable.
 *
 * The paper (Lemon, "Kqueue: A generic and scalable event notification
 * facility", 2001) timed one wait call over N descriptors, all ready, with
 * the descriptors registered once (the connection living 1,000 requests)
 * for kqueue and passed on every call for poll.  Here, for each N:
 *
 *   select        fd_set copied from a saved one and passed on every call
 *                 (only where the read ends fit FD_SETSIZE)
 *   poll          the pollfd array passed on every call
 *   epoll         registered once, level-triggered (EPOLLIN)
 *   epoll-et      registered once, EPOLLIN | EPOLLET
 *   kqueue        registered once, EVFILT_READ (level-triggered)
 *   kqueue-clear  registered once, EVFILT_READ | EV_CLEAR
 *
 * Every pipe holds one byte, so every call returns N events; each call is
 * checked to return exactly N.  All calls use a zero timeout.
 *
 * What is timed: the wait call only (select/poll/epoll_wait/kevent).  A
 * mechanism's `calls` calls in one repetition run in 5 equal batches; its
 * figure is the mean per call of its fastest batch, which leaves out the
 * moments the host took the (emulated) CPU away for something else.
 *
 * Level-triggered mechanisms (select, poll, epoll, kqueue) are measured
 * together: in each repetition a fresh epoll and a fresh kqueue instance
 * are registered (not timed), every mechanism makes three warm-up calls,
 * then the batches alternate between mechanisms (batch 1 of each, batch 2
 * of each, ..., the order rotating), so that drift in the speed of a shared,
 * emulated CPU hits all of them alike.  Nothing writes to the pipes
 * meanwhile, so the instances do not disturb each other.
 *
 * The edge-triggered modes need a new edge before each call: one byte is
 * written to every pipe before each call, outside the timed region (a pipe
 * that is polled by epoll or a kqueue wakes its waiters on every write, not
 * only when it was empty).  Each gets a repetition of its own (a fresh
 * instance, nothing else registered, three warm-up calls), epoll-et and
 * kqueue-clear one after the other.  For them a second line, scenario
 * "table2-rearm", gives the time of (N writes + the wait call), so the cost
 * of the wake-ups themselves is visible too.
 *
 * Usage: table2 [-n N,N,...] [-r reps] [-c calls] [-b budget] [-e budget]
 *               [-m mech,...]
 *   -n  the values of N (default 100,500,800,1000,2000,5000,10000)
 *   -r  repetitions (default 5)
 *   -c  calls per trial (default: min(1000, budget / N), at least 20)
 *   -b  descriptor-polls per trial for the default above (default 1000000)
 *   -e  the same for the edge-triggered modes, whose N writes per call cost
 *       far more than the call (default 100000)
 *   -m  mechanisms (default all six)
 *
 * Output: BENCH,table2,MECH,N,0,REP,USEC,us/call (see bench.h).
 */
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/select.h>
#include <poll.h>

#include "bench.h"

enum mech { M_SELECT, M_POLL, M_EPOLL, M_EPOLL_ET, M_KQUEUE, M_KQUEUE_CLEAR,
	    M_NR };

static const char *const mech_name[M_NR] = {
	"select", "poll", "epoll", "epoll-et", "kqueue", "kqueue-clear",
};

#define BATCHES	5	/* a trial's figure: its fastest batch of calls */

static bool mech_edge(enum mech m)
{
	return m == M_EPOLL_ET || m == M_KQUEUE_CLEAR;
}

static void retrigger(int n, const int *wfd)
{
	int i;

	for (i = 0; i < n; i++)
		put_byte(wfd[i]);
}

/* Back to one byte in every pipe. */
static void reset_pipes(int n, const int *rfd, const int *wfd)
{
	int i;

	for (i = 0; i < n; i++) {
		drain(rfd[i]);
		put_byte(wfd[i]);
	}
}

struct ctx {
	enum mech m;
	int n;
	const int *rfd;
	/* select */
	fd_set master, set;
	int maxfd;
	/* poll */
	struct pollfd *pfd;
	/* epoll and kqueue */
	int fd;
	struct epoll_event *eev;
	struct kevent *kev;
};

static bool setup(struct ctx *c)
{
	int i;

	switch (c->m) {
	case M_SELECT:
		FD_ZERO(&c->master);
		c->maxfd = -1;
		for (i = 0; i < c->n; i++) {
			if (c->rfd[i] >= FD_SETSIZE)
				return false;
			FD_SET(c->rfd[i], &c->master);
			if (c->rfd[i] > c->maxfd)
				c->maxfd = c->rfd[i];
		}
		break;
	case M_POLL:
		c->pfd = xcalloc(c->n, sizeof(*c->pfd));
		for (i = 0; i < c->n; i++) {
			c->pfd[i].fd = c->rfd[i];
			c->pfd[i].events = POLLIN;
		}
		break;
	case M_EPOLL:
	case M_EPOLL_ET:
		c->fd = epoll_create1(0);
		if (c->fd < 0)
			die("epoll_create1");
		c->eev = xcalloc(c->n, sizeof(*c->eev));
		for (i = 0; i < c->n; i++) {
			struct epoll_event ev = {
				.events = EPOLLIN |
					  (c->m == M_EPOLL_ET ? EPOLLET : 0),
				.data.fd = c->rfd[i],
			};

			if (epoll_ctl(c->fd, EPOLL_CTL_ADD, c->rfd[i], &ev))
				die("epoll_ctl ADD");
		}
		break;
	case M_KQUEUE:
	case M_KQUEUE_CLEAR:
		c->fd = kqueue();
		if (c->fd < 0)
			die("kqueue");
		c->kev = xcalloc(c->n, sizeof(*c->kev));
		for (i = 0; i < c->n; i++)
			EV_SET(&c->kev[i], c->rfd[i], EVFILT_READ,
			       EV_ADD | (c->m == M_KQUEUE_CLEAR ? EV_CLEAR : 0),
			       0, 0, NULL);
		if (kevent(c->fd, c->kev, c->n, NULL, 0, NULL))
			die("kevent register");
		break;
	default:
		abort();
	}
	return true;
}

static void teardown(struct ctx *c)
{
	if (c->m >= M_EPOLL)
		close(c->fd);
	free(c->pfd);
	free(c->eev);
	free(c->kev);
	c->pfd = NULL;
	c->eev = NULL;
	c->kev = NULL;
}

/* One wait call; returns the number of ready descriptors. */
static inline int wait_once(struct ctx *c)
{
	static const struct timespec zero;
	struct timeval tv = { 0, 0 };

	switch (c->m) {
	case M_SELECT:
		c->set = c->master;
		return select(c->maxfd + 1, &c->set, NULL, NULL, &tv);
	case M_POLL:
		return poll(c->pfd, c->n, 0);
	case M_EPOLL:
	case M_EPOLL_ET:
		return epoll_wait(c->fd, c->eev, c->n, 0);
	default:
		return kevent(c->fd, NULL, 0, c->kev, c->n, &zero);
	}
}

static void check(struct ctx *c, int got)
{
	if (got != c->n) {
		fprintf(stderr, "table2: %s N=%d: %d ready, expected %d (%s)\n",
			mech_name[c->m], c->n, got, c->n,
			got < 0 ? strerror(errno) : "-");
		exit(1);
	}
}

/*
 * One trial: microseconds per wait call, the fastest of BATCHES equal
 * batches of calls (mean per call within a batch); *cycle gets the same
 * for (re-trigger + wait) in the edge-triggered modes.  Returns -1 if the
 * mechanism cannot take this N (select beyond FD_SETSIZE).
 */
static double trial(enum mech m, int n, int calls, const int *rfd,
		    const int *wfd, double *cycle)
{
	struct ctx c = { .m = m, .n = n, .rfd = rfd, .fd = -1 };
	double best = -1, t0, t1, t2;
	bool edge = mech_edge(m);
	int i, b, per = calls / BATCHES > 0 ? calls / BATCHES : 1;

	*cycle = -1;
	if (!setup(&c))
		return -1;
	for (i = 0; i < 3; i++) {
		if (edge)
			retrigger(n, wfd);
		check(&c, wait_once(&c));
	}
	for (b = 0; b < BATCHES; b++) {
		double waited = 0, cyc = 0;

		if (!edge) {
			t0 = now_us();
			for (i = 0; i < per; i++)
				check(&c, wait_once(&c));
			waited = now_us() - t0;
		} else {
			for (i = 0; i < per; i++) {
				t0 = now_us();
				retrigger(n, wfd);
				t1 = now_us();
				check(&c, wait_once(&c));
				t2 = now_us();
				waited += t2 - t1;
				cyc += t2 - t0;
			}
			if (*cycle < 0 || cyc / per < *cycle)
				*cycle = cyc / per;
		}
		if (best < 0 || waited / per < best)
			best = waited / per;
	}
	teardown(&c);
	if (edge)
		reset_pipes(n, rfd, wfd);
	return best;
}

/*
 * One repetition of the level-triggered mechanisms in use[], batches
 * interleaved; emits one line per mechanism.
 */
static void level_round(int n, int calls, const int *rfd, int rep,
			const bool *use)
{
	static const enum mech lv[] = { M_SELECT, M_POLL, M_EPOLL, M_KQUEUE };
	enum { NL = sizeof(lv) / sizeof(lv[0]) };
	struct ctx c[NL];
	bool on[NL];
	double best[NL];
	int per = calls / BATCHES > 0 ? calls / BATCHES : 1, i, j, b;

	for (j = 0; j < NL; j++) {
		memset(&c[j], 0, sizeof(c[j]));
		c[j].m = lv[j];
		c[j].n = n;
		c[j].rfd = rfd;
		c[j].fd = -1;
		on[j] = use[lv[j]] && setup(&c[j]);
		best[j] = -1;
		for (i = 0; on[j] && i < 3; i++)
			check(&c[j], wait_once(&c[j]));
	}
	for (b = 0; b < BATCHES; b++) {
		for (i = 0; i < NL; i++) {
			double t0, t;

			j = (i + b + rep) % NL;
			if (!on[j])
				continue;
			t0 = now_us();
			for (int k = 0; k < per; k++)
				check(&c[j], wait_once(&c[j]));
			t = (now_us() - t0) / per;
			if (best[j] < 0 || t < best[j])
				best[j] = t;
		}
	}
	for (j = 0; j < NL; j++) {
		if (!on[j])
			continue;
		teardown(&c[j]);
		emit("table2", mech_name[lv[j]], n, 0, rep, best[j], "us/call");
	}
}

int main(int argc, char **argv)
{
	long ns[64], budget = 1000000, ebudget = 100000;
	int nn = 0, reps = 5, fixed_calls = 0, opt, r, j, ni;
	bool use[M_NR];
	const char *mechs = NULL;

	while ((opt = getopt(argc, argv, "n:r:c:b:e:m:")) != -1) {
		switch (opt) {
		case 'n': nn = parse_list(optarg, ns, 64); break;
		case 'r': reps = atoi(optarg); break;
		case 'c': fixed_calls = atoi(optarg); break;
		case 'b': budget = atol(optarg); break;
		case 'e': ebudget = atol(optarg); break;
		case 'm': mechs = optarg; break;
		default:
			fprintf(stderr, "usage: table2 [-n N,...] [-r reps] "
				"[-c calls] [-b budget] [-e budget] "
				"[-m mech,...]\n");
			return 2;
		}
	}
	if (!nn) {
		static const long def[] = { 100, 500, 800, 1000, 2000, 5000,
					    10000 };

		nn = sizeof(def) / sizeof(def[0]);
		memcpy(ns, def, sizeof(def));
	}
	for (j = 0; j < M_NR; j++) {
		if (!mechs) {
			use[j] = true;
			continue;
		}
		/* match whole names in the comma-separated list */
		const char *p = mechs;
		size_t len = strlen(mech_name[j]);

		use[j] = false;
		while (p && *p) {
			if (!strncmp(p, mech_name[j], len) &&
			    (p[len] == ',' || p[len] == '\0'))
				use[j] = true;
			p = strchr(p, ',');
			if (p)
				p++;
		}
	}

	for (ni = 0; ni < nn; ni++) {
		int n = ns[ni], calls, ecalls, *rfd, *wfd;

		calls = fixed_calls ? fixed_calls :
			(int)(budget / n > 1000 ? 1000 : budget / n);
		if (calls < 20)
			calls = 20;
		ecalls = fixed_calls ? fixed_calls :
			 (int)(ebudget / n > calls ? calls : ebudget / n);
		if (ecalls < 20)
			ecalls = 20;
		raise_nofile(2L * n + 256);
		rfd = xcalloc(n, sizeof(*rfd));
		wfd = xcalloc(n, sizeof(*wfd));
		make_pipes(n, rfd, wfd, n + 64);
		for (j = 0; j < n; j++)
			put_byte(wfd[j]);
		/* the number of calls, for the report */
		printf("BENCHCALLS,table2,%d,%d,%d\n", n, calls, ecalls);
		fflush(stdout);

		for (r = 1; r <= reps; r++) {
			level_round(n, calls, rfd, r, use);
			for (j = 0; j < 2; j++) {
				/* the edge modes, alternating which is first */
				enum mech m = (j + r) % 2 ? M_EPOLL_ET
							  : M_KQUEUE_CLEAR;
				double us, cycle;

				if (!use[m])
					continue;
				us = trial(m, n, ecalls, rfd, wfd, &cycle);
				if (us < 0)
					continue;
				emit("table2", mech_name[m], n, 0, r, us,
				     "us/call");
				if (mech_edge(m))
					emit("table2-rearm", mech_name[m], n, 0,
					     r, cycle, "us/call");
			}
		}
		close_pipes(n, rfd, wfd);
		free(rfd);
		free(wfd);
	}
	return 0;
}
