/*
 * bench.h - helpers shared by the benchmark drivers in bench/: timing,
 * errors, descriptor limits, pipes and the CSV line format.
 *
 * Every driver prints one CSV line per measurement on stdout:
 *
 *   BENCH,scenario,mechanism,N,k,rep,value,unit
 *
 * value is microseconds per call (or per event, per descriptor) or bytes;
 * unit says which.  Lines are prefixed with "BENCH," so that tools/bench.sh
 * can pick them out of a VM console log.  table2 and idle also print
 *
 *   BENCHCALLS,scenario,N,calls,calls2
 *
 * (the calls timed per trial at that N, which shrink as N grows).  Anything
 * else a driver prints goes to stderr.
 *
 * Times from an emulated CPU (QEMU TCG) mean nothing alone: only ratios
 * between mechanisms measured in the same boot carry over.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fprintf(stderr, "bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	exit(1);
}

static inline void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die("calloc %zu x %zu", n, size);
	return p;
}

/* Make room for at least want descriptors (the guest runs as root). */
static inline void raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	if ((long)rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if ((long)rl.rlim_max < want)
		rl.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit(RLIMIT_NOFILE, %ld)", want);
}

/*
 * Make n non-blocking pipes.  The read ends get the lowest free descriptors (so that up
 * to about FD_SETSIZE - 10 of them fit select()); the write ends are moved
 * above wbase.
 */
static inline void make_pipes(int n, int *rfd, int *wfd, int wbase)
{
	int i, p[2];

	for (i = 0; i < n; i++) {
		if (pipe2(p, O_NONBLOCK))
			die("pipe #%d", i);
		wfd[i] = fcntl(p[1], F_DUPFD, wbase);
		if (wfd[i] < 0)
			die("F_DUPFD");
		close(p[1]);
		rfd[i] = p[0];
	}
}

static inline void close_pipes(int n, const int *rfd, const int *wfd)
{
	int i;

	for (i = 0; i < n; i++) {
		close(rfd[i]);
		close(wfd[i]);
	}
}

static inline void put_byte(int fd)
{
	if (write(fd, "x", 1) != 1)
		die("write");
}

static inline void drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
}

static inline void emit(const char *scenario, const char *mech, long n,
			long k, int rep, double value, const char *unit)
{
	printf("BENCH,%s,%s,%ld,%ld,%d,%.3f,%s\n", scenario, mech, n, k, rep,
	       value, unit);
	fflush(stdout);
}

/* Parse "100,500,800" into an array; returns the count. */
static inline int parse_list(const char *s, long *out, int max)
{
	int n = 0;
	char *end;

	while (*s && n < max) {
		out[n++] = strtol(s, &end, 10);
		if (end == s)
			break;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

#endif /* BENCH_H */
