/*
 * churn.c - the cost of changing registrations.
 *
 * (a) "churn-rearm": a one-shot re-arm loop.  B pipes, always readable, are
 *     registered one-shot; every cycle collects the B events and re-arms
 *     all B.  Timed: the whole cycle (all system calls it needs); reported
 *     per event (cycle time / B), from the fastest of 5 equal batches of
 *     cycles.  The three loops run side by side on the same pipes (nothing
 *     writes to them, so they do not disturb each other), their batches
 *     alternating, so that drift in the speed of a shared, emulated CPU
 *     hits all alike.
 *
 *       kqueue-oneshot   EV_ADD | EV_ONESHOT; one kevent() per cycle whose
 *                        changelist re-adds the B knotes the previous call
 *                        returned (each report deletes the knote, so every
 *                        re-arm creates and attaches a new one)
 *       kqueue-dispatch  EV_ADD | EV_DISPATCH; one kevent() per cycle whose
 *                        changelist is EV_ENABLE for the B previous events
 *                        (the knote stays, it is only disabled)
 *       epoll-oneshot    EPOLLIN | EPOLLONESHOT; epoll_wait() then one
 *                        epoll_ctl(EPOLL_CTL_MOD) per event: 1 + B calls
 *
 * (b) "churn-register": registering N idle pipes (empty, so nothing fires)
 *     in a fresh instance.  Timed: the registration only; reported per
 *     descriptor.  "churn-delete" times removing them again the same way
 *     (EV_DELETE / EPOLL_CTL_DEL); closing the instance is not timed.
 *
 *       kqueue           one kevent() call with N changes
 *       kqueue-1each     N kevent() calls with one change each
 *       epoll            N epoll_ctl() calls
 *
 * Mechanisms are interleaved within each repetition.
 *
 * Usage: churn [-B B,...] [-n N,...] [-r reps] [-s rearm|register|all]
 *   defaults: -B 1,10,100 -n 1000,10000 -r 5 -s all
 *
 * Output: BENCH,churn-rearm,MECH,B,B,REP,USEC,us/event and
 *         BENCH,churn-register|churn-delete,MECH,N,0,REP,USEC,us/fd.
 */
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/event.h>

#include "bench.h"

#define BATCHES	5	/* a trial's figure: its fastest batch of cycles */

static const struct timespec zero;

enum rmech { R_KQ_ONESHOT, R_KQ_DISPATCH, R_EPOLL_ONESHOT, R_NR };
static const char *const rmech_name[R_NR] = {
	"kqueue-oneshot", "kqueue-dispatch", "epoll-oneshot",
};

static void bad(const char *what, int b, int got)
{
	fprintf(stderr, "churn: %s B=%d: got %d (%s)\n", what, b, got,
		got < 0 ? strerror(errno) : "-");
	exit(1);
}

/* One mechanism's re-arm loop over b ready pipes. */
struct rloop {
	enum rmech m;
	int b, fd, nchg;
	struct kevent *chg, *ev;
	struct epoll_event *eev;
};

static void rloop_init(struct rloop *l, enum rmech m, int b, const int *rfd)
{
	int i;

	l->m = m;
	l->b = b;
	l->nchg = 0;
	l->chg = xcalloc(b, sizeof(*l->chg));
	l->ev = xcalloc(b, sizeof(*l->ev));
	l->eev = xcalloc(b, sizeof(*l->eev));
	if (m == R_EPOLL_ONESHOT) {
		l->fd = epoll_create1(0);
		if (l->fd < 0)
			die("epoll_create1");
		for (i = 0; i < b; i++) {
			struct epoll_event e = {
				.events = EPOLLIN | EPOLLONESHOT,
				.data.fd = rfd[i],
			};

			if (epoll_ctl(l->fd, EPOLL_CTL_ADD, rfd[i], &e))
				die("epoll_ctl ADD");
		}
	} else {
		unsigned short fl = m == R_KQ_ONESHOT ? EV_ONESHOT
						      : EV_DISPATCH;

		l->fd = kqueue();
		if (l->fd < 0)
			die("kqueue");
		for (i = 0; i < b; i++)
			EV_SET(&l->chg[i], rfd[i], EVFILT_READ, EV_ADD | fl, 0,
			       0, NULL);
		if (kevent(l->fd, l->chg, b, NULL, 0, NULL))
			die("kevent register");
	}
}

static void rloop_free(struct rloop *l)
{
	close(l->fd);
	free(l->chg);
	free(l->ev);
	free(l->eev);
}

/* Microseconds per event over `cycles` cycles. */
static double rloop_run(struct rloop *l, int cycles)
{
	double t0 = now_us();
	int c, i, got, b = l->b;

	for (c = 0; c < cycles; c++) {
		if (l->m == R_EPOLL_ONESHOT) {
			got = epoll_wait(l->fd, l->eev, b, 0);
			if (got != b)
				bad(rmech_name[l->m], b, got);
			for (i = 0; i < got; i++) {
				struct epoll_event e = {
					.events = EPOLLIN | EPOLLONESHOT,
					.data.fd = l->eev[i].data.fd,
				};

				if (epoll_ctl(l->fd, EPOLL_CTL_MOD, e.data.fd,
					      &e))
					die("epoll_ctl MOD");
			}
		} else {
			got = kevent(l->fd, l->chg, l->nchg, l->ev, b, &zero);
			if (got != b)
				bad(rmech_name[l->m], b, got);
			for (i = 0; i < got; i++)
				EV_SET(&l->chg[i], l->ev[i].ident, EVFILT_READ,
				       l->m == R_KQ_ONESHOT ?
				       EV_ADD | EV_ONESHOT :
				       EV_ENABLE | EV_DISPATCH, 0, 0, NULL);
			l->nchg = got;
		}
	}
	return (now_us() - t0) / cycles / b;
}

/*
 * One repetition over b ready pipes: the three loops side by side (on the
 * same pipes: nothing writes to them, so they do not disturb each other),
 * their batches alternating; emits the fastest batch of each.
 */
static void rearm_round(int b, int cycles, const int *rfd, int rep)
{
	struct rloop l[R_NR];
	double best[R_NR];
	int per = cycles / BATCHES > 0 ? cycles / BATCHES : 1, i, j, k;

	for (j = 0; j < R_NR; j++) {
		rloop_init(&l[j], (enum rmech)j, b, rfd);
		rloop_run(&l[j], 3);	/* warm-up */
		best[j] = -1;
	}
	for (k = 0; k < BATCHES; k++)
		for (i = 0; i < R_NR; i++) {
			double t;

			j = (i + k + rep) % R_NR;
			t = rloop_run(&l[j], per);
			if (best[j] < 0 || t < best[j])
				best[j] = t;
		}
	for (j = 0; j < R_NR; j++) {
		rloop_free(&l[j]);
		emit("churn-rearm", rmech_name[j], b, b, rep, best[j],
		     "us/event");
	}
}

enum gmech { G_KQ, G_KQ_1EACH, G_EPOLL, G_NR };
static const char *const gmech_name[G_NR] = {
	"kqueue", "kqueue-1each", "epoll",
};

/* Microseconds per descriptor to register, then to delete, n pipes. */
static void register_trial(enum gmech m, int n, const int *rfd,
			   double *reg, double *del)
{
	struct kevent *chg = xcalloc(n, sizeof(*chg));
	int fd, i;
	double t0, t1, t2;

	fd = m == G_EPOLL ? epoll_create1(0) : kqueue();
	if (fd < 0)
		die("epoll_create1/kqueue");
	for (i = 0; i < n; i++)
		EV_SET(&chg[i], rfd[i], EVFILT_READ, EV_ADD, 0, 0, NULL);

	t0 = now_us();
	switch (m) {
	case G_KQ:
		if (kevent(fd, chg, n, NULL, 0, NULL))
			die("kevent register");
		break;
	case G_KQ_1EACH:
		for (i = 0; i < n; i++)
			if (kevent(fd, &chg[i], 1, NULL, 0, NULL))
				die("kevent register");
		break;
	default:
		for (i = 0; i < n; i++) {
			struct epoll_event e = {
				.events = EPOLLIN, .data.fd = rfd[i],
			};

			if (epoll_ctl(fd, EPOLL_CTL_ADD, rfd[i], &e))
				die("epoll_ctl ADD");
		}
	}
	t1 = now_us();

	for (i = 0; i < n; i++)
		chg[i].flags = EV_DELETE;
	switch (m) {
	case G_KQ:
		if (kevent(fd, chg, n, NULL, 0, NULL))
			die("kevent delete");
		break;
	case G_KQ_1EACH:
		for (i = 0; i < n; i++)
			if (kevent(fd, &chg[i], 1, NULL, 0, NULL))
				die("kevent delete");
		break;
	default:
		for (i = 0; i < n; i++)
			if (epoll_ctl(fd, EPOLL_CTL_DEL, rfd[i], NULL))
				die("epoll_ctl DEL");
	}
	t2 = now_us();
	close(fd);
	free(chg);
	*reg = (t1 - t0) / n;
	*del = (t2 - t1) / n;
}

int main(int argc, char **argv)
{
	long bs[16], ns[16];
	int nb = 0, nn = 0, reps = 5, opt, i, j, r;
	const char *which = "all";

	while ((opt = getopt(argc, argv, "B:n:r:s:")) != -1) {
		switch (opt) {
		case 'B': nb = parse_list(optarg, bs, 16); break;
		case 'n': nn = parse_list(optarg, ns, 16); break;
		case 'r': reps = atoi(optarg); break;
		case 's': which = optarg; break;
		default:
			fprintf(stderr, "usage: churn [-B B,...] [-n N,...] "
				"[-r reps] [-s rearm|register|all]\n");
			return 2;
		}
	}
	if (!nb) {
		bs[0] = 1;
		bs[1] = 10;
		bs[2] = 100;
		nb = 3;
	}
	if (!nn) {
		ns[0] = 1000;
		ns[1] = 10000;
		nn = 2;
	}

	if (!strcmp(which, "all") || !strcmp(which, "rearm")) {
		for (i = 0; i < nb; i++) {
			int b = bs[i], cycles = 2000 / b, *rfd, *wfd, p;

			if (cycles < 100)
				cycles = 100;
			raise_nofile(2L * b + 256);
			rfd = xcalloc(b, sizeof(*rfd));
			wfd = xcalloc(b, sizeof(*wfd));
			make_pipes(b, rfd, wfd, b + 64);
			for (p = 0; p < b; p++)
				put_byte(wfd[p]);
			fprintf(stderr, "churn-rearm: B=%d, %d cycles\n", b,
				cycles);
			for (r = 1; r <= reps; r++)
				rearm_round(b, cycles, rfd, r);
			close_pipes(b, rfd, wfd);
			free(rfd);
			free(wfd);
		}
	}

	if (!strcmp(which, "all") || !strcmp(which, "register")) {
		for (i = 0; i < nn; i++) {
			int n = ns[i], *rfd, *wfd;

			raise_nofile(2L * n + 256);
			rfd = xcalloc(n, sizeof(*rfd));
			wfd = xcalloc(n, sizeof(*wfd));
			make_pipes(n, rfd, wfd, n + 64);
			fprintf(stderr, "churn-register: N=%d\n", n);
			for (r = 1; r <= reps; r++)
				for (j = 0; j < G_NR; j++) {
					enum gmech m = (enum gmech)((j + r) %
								    G_NR);
					double reg, del;

					register_trial(m, n, rfd, &reg, &del);
					emit("churn-register", gmech_name[m], n,
					     0, r, reg, "us/fd");
					emit("churn-delete", gmech_name[m], n,
					     0, r, del, "us/fd");
				}
			close_pipes(n, rfd, wfd);
			free(rfd);
			free(wfd);
		}
	}
	return 0;
}
