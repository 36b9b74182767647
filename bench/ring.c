/*
 * ring.c - what the completion ring is for: taking edge-triggered events
 * without a system call.  Run it twice in one boot, with the ring (the
 * default: mechanism "kqueue-ring") and with KQUEUE_RING=0 ("kqueue");
 * epoll runs in both, so every ratio compares mechanisms measured side
 * by side.
 *
 * (a) "ring-harvest": N pipes, registered EV_CLEAR / EPOLLIN | EPOLLET,
 *     none drained.  Each cycle a byte is written to every pipe (not
 *     timed), then the N events are harvested with calls returning up to
 *     B events each (zero timeout) until all N came; timed: the harvest,
 *     reported per event.  Pipes are written in a shuffled order each
 *     cycle.  The figure of a trial is its fastest batch of cycles.
 *
 * (b) "ring-busy": N pipes kept busy by a writer thread that writes one
 *     byte to a random pipe in a loop; the main thread harvests with
 *     calls of up to B events (zero timeout) for a fixed time.  Each
 *     mechanism has pipes of its own, registered with it alone, and the
 *     writer writes only to the pipes of the mechanism being measured, so
 *     that no write also pays for the other mechanism's wake-up.
 *     Reported: microseconds per event harvested (the inverse of the
 *     harvest rate), and as "ring-busy-write" microseconds per write the
 *     writer made meanwhile: when the two are equal every write was
 *     harvested as an event of its own, and the rate is the writer's.
 *
 * (c) "ring-pingpong": two threads pass a token back and forth R times.
 *       kqueue   a kqueue per thread with an EVFILT_USER EV_CLEAR knote:
 *                NOTE_TRIGGER on the other's kqueue, then kevent() on
 *                one's own: two calls a hop
 *       eventfd  eventfd + epoll per thread: write() the other's eventfd,
 *                epoll_wait() on one's own, read() it: three calls a hop
 *     Reported per round trip.
 *
 * Usage: ring [-n N] [-B B] [-r reps] [-s harvest|busy|pingpong|all]
 *   defaults: -n 1000 -B 64 -r 5 -s all
 *
 * Output: BENCH,ring-harvest|ring-busy,MECH,N,B,REP,USEC,us/event,
 *         BENCH,ring-busy-write,MECH,N,B,REP,USEC,us/write and
 *         BENCH,ring-pingpong,MECH,2,1,REP,USEC,us/roundtrip.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>

#include "bench.h"

#define BATCHES		5
#define CYCLES		20	/* harvest cycles per batch */
#define BUSY_MS		300	/* harvesting time per busy trial */
#define ROUNDTRIPS	2000

static const struct timespec zero;
static const char *kq_name;

/* "kqueue-ring" when this process maps the ring, else "kqueue". */
static const char *kqueue_mech(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	bool ring = false;

	if (!f)
		die("/proc/self/maps");
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[kqueue-ring]"))
			ring = true;
	fclose(f);
	return ring ? "kqueue-ring" : "kqueue";
}

struct harvest {
	int n, b;
	int *rfd, *wfd, *order;
	int kq, ep;
	struct kevent *kev;
	struct epoll_event *eev;
};

/* N pipes watched by a kqueue (mechs & 1) and an epoll (mechs & 2). */
static void harvest_setup(struct harvest *h, int n, int b, int mechs)
{
	struct kevent ch;
	struct epoll_event ee;
	int i;

	h->n = n;
	h->b = b;
	h->rfd = xcalloc(n, sizeof(int));
	h->wfd = xcalloc(n, sizeof(int));
	h->order = xcalloc(n, sizeof(int));
	h->kev = xcalloc(b, sizeof(*h->kev));
	h->eev = xcalloc(b, sizeof(*h->eev));
	raise_nofile(6L * n + 2048);
	make_pipes(n, h->rfd, h->wfd, 3 * n + 64);
	h->kq = kqueue();
	h->ep = epoll_create1(0);
	if (h->kq < 0 || h->ep < 0)
		die("kqueue/epoll_create1");
	kq_name = kqueue_mech();
	for (i = 0; i < n; i++) {
		EV_SET(&ch, h->rfd[i], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0,
		       NULL);
		if ((mechs & 1) && kevent(h->kq, &ch, 1, NULL, 0, NULL))
			die("EV_ADD");
		ee.events = EPOLLIN | EPOLLET;
		ee.data.u32 = i;
		if ((mechs & 2) &&
		    epoll_ctl(h->ep, EPOLL_CTL_ADD, h->rfd[i], &ee))
			die("EPOLL_CTL_ADD");
		h->order[i] = i;
	}
}

static void shuffle(int *a, int n, unsigned int *seed)
{
	for (int i = n - 1; i > 0; i--) {
		int j = rand_r(seed) % (i + 1), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* Harvest up to want events with mechanism m (0 kqueue, 1 epoll). */
static long harvest_calls(struct harvest *h, int m, long want)
{
	long got = 0;

	while (got < want) {
		int r = m == 0 ? kevent(h->kq, NULL, 0, h->kev, h->b, &zero) :
				 epoll_wait(h->ep, h->eev, h->b, 0);

		if (r < 0)
			die("harvest");
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

static void run_harvest(struct harvest *h, int reps)
{
	unsigned int seed = 1;
	const char *mech[2] = { kq_name, "epoll" };

	for (int rep = 0; rep < reps; rep++) {
		double best[2] = { 1e30, 1e30 };

		for (int batch = 0; batch < BATCHES; batch++) {
			for (int m = 0; m < 2; m++) {
				double t = 0;

				for (int c = 0; c < CYCLES; c++) {
					double t0;
					long got;

					shuffle(h->order, h->n, &seed);
					for (int i = 0; i < h->n; i++)
						put_byte(h->wfd[h->order[i]]);
					t0 = now_us();
					got = harvest_calls(h, m, h->n);
					t += now_us() - t0;
					if (got != h->n) {
						errno = 0;
						die("%s harvested %ld of %d",
						    mech[m], got, h->n);
					}
					/* The other mechanism's edges. */
					harvest_calls(h, !m, h->n);
				}
				if (t / ((double)CYCLES * h->n) < best[m])
					best[m] = t / ((double)CYCLES * h->n);
			}
		}
		for (int m = 0; m < 2; m++)
			emit("ring-harvest", mech[m], h->n, h->b, rep, best[m],
			     "us/event");
	}
}

struct busy_writer {
	struct harvest *set;	/* the pipes being written, or NULL: stop */
	long writes;		/* written by the writer only */
};

static void *busy_write(void *arg)
{
	struct busy_writer *w = arg;
	unsigned int seed = 7;
	struct harvest *h;
	char buf[4096];

	while ((h = __atomic_load_n(&w->set, __ATOMIC_ACQUIRE))) {
		int i = rand_r(&seed) % h->n;

		if (write(h->wfd[i], "x", 1) != 1) {
			/* Full: empty it and go on. */
			while (read(h->rfd[i], buf, sizeof(buf)) > 0)
				;
		}
		__atomic_store_n(&w->writes, w->writes + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void run_busy(int n, int b, int reps)
{
	const char *mech[2];
	struct harvest set[2];
	struct busy_writer w = { .set = &set[0] };
	pthread_t t;

	/* set[0] is watched by its kqueue only, set[1] by its epoll only. */
	harvest_setup(&set[0], n, b, 1);
	harvest_setup(&set[1], n, b, 2);
	mech[0] = kq_name;
	mech[1] = "epoll";
	if (pthread_create(&t, NULL, busy_write, &w))
		die("pthread_create");
	for (int rep = 0; rep < reps; rep++) {
		for (int m = 0; m < 2; m++) {
			struct harvest *h = &set[m];
			double t0, t1;
			long got = 0, w0;

			__atomic_store_n(&w.set, h, __ATOMIC_RELEASE);
			/* Start from what is pending now. */
			harvest_calls(h, m, 1L << 30);
			w0 = __atomic_load_n(&w.writes, __ATOMIC_RELAXED);
			t0 = now_us();
			do {
				got += harvest_calls(h, m, h->b);
				t1 = now_us();
			} while (t1 - t0 < BUSY_MS * 1000.0);
			w0 = __atomic_load_n(&w.writes, __ATOMIC_RELAXED) - w0;
			if (got == 0 || w0 == 0) {
				errno = 0;
				die("%s harvested %ld events of %ld writes",
				    mech[m], got, w0);
			}
			emit("ring-busy", mech[m], h->n, h->b, rep,
			     (t1 - t0) / got, "us/event");
			emit("ring-busy-write", mech[m], h->n, h->b, rep,
			     (t1 - t0) / w0, "us/write");
		}
	}
	__atomic_store_n(&w.set, NULL, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
}

/* ---- ping-pong ---------------------------------------------------------- */

struct pp {
	int kq[2];		/* kqueue: one per side, EVFILT_USER ident 0 */
	int ep[2], efd[2];	/* eventfd: an epoll + eventfd per side */
	int mech;		/* 0 kqueue, 1 eventfd */
	long rounds;
};

static void pp_signal(struct pp *p, int to)
{
	struct kevent ch;
	uint64_t v = 1;

	if (p->mech == 0) {
		EV_SET(&ch, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
		if (kevent(p->kq[to], &ch, 1, NULL, 0, NULL))
			die("NOTE_TRIGGER");
	} else if (write(p->efd[to], &v, sizeof(v)) != sizeof(v)) {
		die("eventfd write");
	}
}

static void pp_wait(struct pp *p, int self)
{
	struct epoll_event ee;
	struct kevent ev;
	uint64_t v;

	if (p->mech == 0) {
		if (kevent(p->kq[self], NULL, 0, &ev, 1, NULL) != 1)
			die("kevent wait");
		return;
	}
	while (epoll_wait(p->ep[self], &ee, 1, -1) != 1)
		if (errno != EINTR)
			die("epoll_wait");
	if (read(p->efd[self], &v, sizeof(v)) != sizeof(v))
		die("eventfd read");
}

static void *pp_peer(void *arg)
{
	struct pp *p = arg;

	for (long i = 0; i < p->rounds; i++) {
		pp_wait(p, 1);
		pp_signal(p, 0);
	}
	return NULL;
}

static void run_pingpong(int reps)
{
	const char *mech[2] = { kq_name, "eventfd" };
	struct pp p = { .rounds = ROUNDTRIPS };
	struct epoll_event ee = { .events = EPOLLIN };
	struct kevent ch;

	for (int s = 0; s < 2; s++) {
		p.kq[s] = kqueue();
		EV_SET(&ch, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
		if (p.kq[s] < 0 || kevent(p.kq[s], &ch, 1, NULL, 0, NULL))
			die("kqueue/EV_ADD");
		p.ep[s] = epoll_create1(0);
		p.efd[s] = eventfd(0, 0);
		if (p.ep[s] < 0 || p.efd[s] < 0 ||
		    epoll_ctl(p.ep[s], EPOLL_CTL_ADD, p.efd[s], &ee))
			die("eventfd/epoll");
	}
	for (int rep = 0; rep < reps; rep++) {
		for (int m = 0; m < 2; m++) {
			pthread_t t;
			double t0;

			p.mech = m;
			if (pthread_create(&t, NULL, pp_peer, &p))
				die("pthread_create");
			t0 = now_us();
			for (long i = 0; i < p.rounds; i++) {
				pp_signal(&p, 1);
				pp_wait(&p, 0);
			}
			emit("ring-pingpong", mech[m], 2, 1, rep,
			     (now_us() - t0) / p.rounds, "us/roundtrip");
			pthread_join(t, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	const char *which = "all";
	long n = 1000, b = 64;
	int reps = 5, opt;
	struct harvest h;

	while ((opt = getopt(argc, argv, "n:B:r:s:")) != -1) {
		switch (opt) {
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 'B':
			b = strtol(optarg, NULL, 10);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 's':
			which = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: ring [-n N] [-B B] [-r reps] [-s harvest|busy|pingpong|all]\n");
			return 2;
		}
	}
	if (n < 1 || b < 1 || reps < 1)
		return 2;
	if (!strcmp(which, "harvest") || !strcmp(which, "all")) {
		harvest_setup(&h, (int)n, (int)b, 3);
		run_harvest(&h, reps);
	}
	if (!strcmp(which, "busy") || !strcmp(which, "all"))
		run_busy((int)n, (int)b, reps);
	if (!strcmp(which, "pingpong") || !strcmp(which, "all"))
		run_pingpong(reps);
	return 0;
}
