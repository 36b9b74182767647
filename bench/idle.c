/*
 * idle.c - few active among many idle: N pipes watched, k of them readable;
 * the cost of one wait call as N grows.
 *
 * For each N, N pipes are made and, for epoll and kqueue, registered once
 * (EPOLLIN, level-triggered; EVFILT_READ).  For each k, the read ends of k
 * pipes spread evenly over the N hold one byte, the others are empty.  Each
 * call must return exactly k.  Timed: the wait call only (zero timeout).
 * In each repetition a mechanism's `calls` calls run in 5 equal batches,
 * the batches of all mechanisms alternating (so that drift in the speed of
 * a shared, emulated CPU hits all alike); its figure is the mean per call
 * of its fastest batch (which leaves out the moments the host took the
 * CPU away):
 *
 *   select   fd_set of all N passed on every call (N within FD_SETSIZE)
 *   poll     pollfd array of all N passed on every call
 *   epoll    epoll_wait() with room for N events
 *   kqueue   kevent() with room for N events
 *
 * poll and select look at all N descriptors on every call; epoll and a
 * kqueue look only at the ready ones, so their cost should not grow with N.
 * The epoll and kqueue instances coexist on the same pipes; nothing writes
 * to a pipe while a call is timed, so neither sees the other's wake-ups.
 *
 * Calls per trial: min(1000, budget / N), at least 20, for select and poll
 * (whose cost is proportional to N); 1000 for epoll and kqueue.
 *
 * Reference: next to the N pipes, a set of 100 pipes with k of them ready
 * (all if k > 100) has an epoll and a kqueue instance of its own; within
 * each repetition they are timed too, as "epoll@100" and "kqueue@100", so
 * that the growth of a mechanism from N = 100 to N is a ratio measured
 * back to back, not across minutes of a shared, emulated CPU.
 *
 * Usage: idle [-n N,...] [-k k,...] [-r reps] [-b budget] [-m mech,...]
 *   defaults: -n 100,300,1000,3000,10000,30000,100000 -k 1,10,100 -r 5
 *             -b 500000
 *
 * Output: BENCH,idle,MECH,N,k,REP,USEC,us/call (see bench.h).
 */
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/select.h>
#include <poll.h>

#include "bench.h"

enum mech { M_SELECT, M_POLL, M_EPOLL, M_KQUEUE, M_EPOLL_REF, M_KQUEUE_REF,
	    M_NR };

static const char *const mech_name[M_NR] = {
	"select", "poll", "epoll", "kqueue", "epoll@100", "kqueue@100",
};

#define REF_N	100
#define BATCHES	5	/* a trial's figure: its fastest batch of calls */

static const struct timespec zero;

/* N pipes, the mechanisms' state for them, and which k are ready. */
struct set {
	int n, k, *rfd, *wfd, *act, ep, kq, maxfd;
	bool sel_ok;
	fd_set master;
	struct pollfd *pfd;
	struct epoll_event *eev;
	struct kevent *kev;
};

static void set_init(struct set *s, int n, bool want_kq)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->rfd = xcalloc(n, sizeof(int));
	s->wfd = xcalloc(n, sizeof(int));
	s->act = xcalloc(n, sizeof(int));
	s->pfd = xcalloc(n, sizeof(*s->pfd));
	s->eev = xcalloc(n, sizeof(*s->eev));
	s->kev = xcalloc(n, sizeof(*s->kev));
	make_pipes(n, s->rfd, s->wfd, n + 64);
	FD_ZERO(&s->master);
	s->maxfd = -1;
	s->sel_ok = true;
	for (i = 0; i < n; i++) {
		s->pfd[i].fd = s->rfd[i];
		s->pfd[i].events = POLLIN;
		if (s->rfd[i] >= FD_SETSIZE) {
			s->sel_ok = false;
		} else {
			FD_SET(s->rfd[i], &s->master);
			if (s->rfd[i] > s->maxfd)
				s->maxfd = s->rfd[i];
		}
	}
	s->ep = epoll_create1(0);
	if (s->ep < 0)
		die("epoll_create1");
	/* (without kqueue in -m, runs where the module is not loaded) */
	s->kq = -1;
	if (want_kq) {
		s->kq = kqueue();
		if (s->kq < 0)
			die("kqueue");
	}
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->rfd[i] };

		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->rfd[i], &ev))
			die("epoll_ctl ADD");
		EV_SET(&s->kev[i], s->rfd[i], EVFILT_READ, EV_ADD, 0, 0, NULL);
	}
	if (s->kq >= 0 && kevent(s->kq, s->kev, n, NULL, 0, NULL))
		die("kevent register");
}

/* Make k pipes, spread evenly, the readable ones. */
static void set_active(struct set *s, int k)
{
	int i;

	if (k > s->n)
		k = s->n;
	for (i = 0; i < s->k; i++)
		drain(s->rfd[s->act[i]]);
	for (i = 0; i < k; i++) {
		s->act[i] = (int)((long)i * s->n / k);
		put_byte(s->wfd[s->act[i]]);
	}
	s->k = k;
}

static void set_free(struct set *s)
{
	close(s->ep);
	if (s->kq >= 0)
		close(s->kq);
	close_pipes(s->n, s->rfd, s->wfd);
	free(s->rfd);
	free(s->wfd);
	free(s->act);
	free(s->pfd);
	free(s->eev);
	free(s->kev);
}

/* Mean microseconds per call of `calls` calls; every call is checked. */
static double time_calls(enum mech m, struct set *s, int calls)
{
	double t0 = now_us();
	int c, got = 0;

	for (c = 0; c < calls; c++) {
		switch (m) {
		case M_SELECT: {
			struct timeval tv = { 0, 0 };
			fd_set set = s->master;

			got = select(s->maxfd + 1, &set, NULL, NULL, &tv);
			break;
		}
		case M_POLL:
			got = poll(s->pfd, s->n, 0);
			break;
		case M_EPOLL:
		case M_EPOLL_REF:
			got = epoll_wait(s->ep, s->eev, s->n, 0);
			break;
		default:
			got = kevent(s->kq, NULL, 0, s->kev, s->n, &zero);
			break;
		}
		if (got != s->k) {
			fprintf(stderr, "idle: %s N=%d k=%d: got %d\n",
				mech_name[m], s->n, s->k, got);
			exit(1);
		}
	}
	return (now_us() - t0) / calls;
}

static bool name_in(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	if (!list)
		return true;
	while (p && *p) {
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

int main(int argc, char **argv)
{
	long ns[32], ks[16], budget = 500000;
	int nn = 0, nk = 0, reps = 5, opt, ni, ki, r, j, i;
	const char *mechs = NULL;

	while ((opt = getopt(argc, argv, "n:k:r:b:m:")) != -1) {
		switch (opt) {
		case 'n': nn = parse_list(optarg, ns, 32); break;
		case 'k': nk = parse_list(optarg, ks, 16); break;
		case 'r': reps = atoi(optarg); break;
		case 'b': budget = atol(optarg); break;
		case 'm': mechs = optarg; break;
		default:
			fprintf(stderr, "usage: idle [-n N,...] [-k k,...] "
				"[-r reps] [-b budget] [-m mech,...]\n");
			return 2;
		}
	}
	if (!nn) {
		static const long def[] = { 100, 300, 1000, 3000, 10000,
					    30000, 100000 };

		nn = sizeof(def) / sizeof(def[0]);
		memcpy(ns, def, sizeof(def));
	}
	if (!nk) {
		ks[0] = 1;
		ks[1] = 10;
		ks[2] = 100;
		nk = 3;
	}

	for (ni = 0; ni < nn; ni++) {
		int n = ns[ni], scalls;
		struct set big, ref;

		scalls = budget / n > 1000 ? 1000 : budget / n;
		if (scalls < 20)
			scalls = 20;
		raise_nofile(2L * (n + REF_N) + 256);
		/* the N pipes first: their read ends get the low fds */
		set_init(&big, n, name_in(mechs, "kqueue"));
		set_init(&ref, REF_N, name_in(mechs, "kqueue"));
		/* the number of calls, for the report */
		printf("BENCHCALLS,idle,%d,%d,1000\n", n, scalls);
		fflush(stdout);

		for (ki = 0; ki < nk; ki++) {
			int k = ks[ki];

			if (k > n)
				continue;
			set_active(&big, k);
			set_active(&ref, k);
			for (r = 1; r <= reps; r++) {
				double best[M_NR];
				bool on[M_NR];
				int b;

				for (j = 0; j < M_NR; j++) {
					bool isref = j >= M_EPOLL_REF;

					on[j] = name_in(mechs, mech_name[isref ?
							j - 2 : j]) &&
						(j != M_SELECT || big.sel_ok);
					best[j] = -1;
					/* warm-up */
					if (on[j])
						time_calls((enum mech)j,
							   isref ? &ref : &big, 3);
				}
				/* batches interleaved between mechanisms */
				for (b = 0; b < BATCHES; b++) {
					for (i = 0; i < M_NR; i++) {
						enum mech m = (enum mech)
							((i + b + r) % M_NR);
						int calls = m <= M_POLL ? scalls
									: 1000;
						int per = calls / BATCHES;
						double t;

						if (!on[m])
							continue;
						t = time_calls(m, m >= M_EPOLL_REF ?
							       &ref : &big, per);
						if (best[m] < 0 || t < best[m])
							best[m] = t;
					}
				}
				for (j = 0; j < M_NR; j++)
					if (on[j])
						emit("idle", mech_name[j], n, k,
						     r, best[j], "us/call");
			}
		}
		set_free(&ref);
		set_free(&big);
	}
	return 0;
}
