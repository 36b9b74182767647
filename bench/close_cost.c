/*
 * close_cost.c - what kqueue.ko's close hook adds to close(2).
 *
 * The module hooks the system-wide close path to give BSD's "close removes
 * the knotes" semantics.  This measures the mean cost of one close() of a
 * pipe's read end (1,000 pipes per batch; the write ends stay open), in
 * three cases:
 *
 *   plain     no kqueue exists (run it before and after loading the module)
 *   others    the read ends of 1,000 other pipes are watched by a kqueue
 *   watched   the descriptor being closed is itself watched (the knote is
 *             removed before close() returns)
 *
 * Usage: close_cost [plain|others|watched] [rounds]
 * Prints "case min median" (ns per close over the rounds).  Times from an emulated
 * CPU mean nothing alone: compare the cases of one run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>

#define BATCH	1000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void die(const char *what)
{
	fprintf(stderr, "close_cost: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "plain";
	int rounds = argc > 2 ? atoi(argv[2]) : 30;
	struct rlimit rl = { 8192, 8192 };
	int fds[BATCH], wfds[BATCH], p[2], kq = -1, r, i;
	double *samples;

	if (rounds < 1 || (strcmp(mode, "plain") && strcmp(mode, "others") &&
			   strcmp(mode, "watched"))) {
		fprintf(stderr, "usage: close_cost [plain|others|watched] [rounds]\n");
		return 2;
	}
	samples = calloc(rounds, sizeof(*samples));
	if (!samples || setrlimit(RLIMIT_NOFILE, &rl))
		die("setup");
	if (strcmp(mode, "plain")) {
		kq = kqueue();
		if (kq < 0)
			die("kqueue");
	}
	if (!strcmp(mode, "others")) {
		for (i = 0; i < BATCH; i++) {
			struct kevent kev;

			if (pipe(p))
				die("pipe");
			EV_SET(&kev, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
			if (kevent(kq, &kev, 1, NULL, 0, NULL))
				die("kevent");
		}
	}

	for (r = 0; r < rounds; r++) {
		double t0;

		for (i = 0; i < BATCH; i++) {
			if (pipe(p))
				die("pipe");
			fds[i] = p[0];
			wfds[i] = p[1];
			if (!strcmp(mode, "watched")) {
				struct kevent kev;

				EV_SET(&kev, fds[i], EVFILT_READ, EV_ADD, 0, 0,
				       NULL);
				if (kevent(kq, &kev, 1, NULL, 0, NULL))
					die("kevent");
			}
		}
		t0 = now_ns();
		for (i = 0; i < BATCH; i++)
			close(fds[i]);
		samples[r] = (now_ns() - t0) / BATCH;
		for (i = 0; i < BATCH; i++)
			close(wfds[i]);
	}
	qsort(samples, rounds, sizeof(*samples), cmp_double);
	printf("%s %.0f %.0f\n", mode, samples[0], samples[rounds / 2]);
	return 0;
}
