/*
 * memory.c - kernel memory per registered descriptor: a kqueue's knotes
 * against epoll's items.
 *
 * N pipes (default 10,000) are made first; they are not part of what is
 * measured.  Then, in each repetition, for kqueue and epoll in turn: read
 * the kernel's memory counters, register the N read ends (EVFILT_READ /
 * EPOLLIN) in a fresh instance, read the counters again, close the
 * instance.  Before each reading the program sleeps 0.3 s (epoll and
 * closed files free through RCU) and every slab cache is shrunk
 * (/sys/kernel/slab/NAME/shrink) so that empty slabs kept from earlier
 * rounds do not hide new allocations.  Reported per descriptor:
 *
 *   memory-slab        delta of Slab in /proc/meminfo (includes large
 *                      kmalloc()s such as a kqueue's hash table)
 *   memory-sunreclaim  delta of SUnreclaim
 *   memory-objects     delta of the bytes of allocated objects in
 *                      /proc/slabinfo (active_objs x objsize, summed)
 *   memory-cache       one line per slab cache whose allocated bytes grew
 *                      by at least 2 bytes per descriptor; the mechanism
 *                      column is MECH:CACHE/OBJSIZE (the name may be that
 *                      of another cache this one was merged with, e.g.
 *                      epoll's 128-byte items show up as "pid")
 *
 * (MemFree is not used: freed and allocated pages pass through per-CPU
 * lists that hide a few MB from it.)
 *
 * For context, "pipe" is the cost of one more pipe (both ends), measured
 * the same way by making and closing N other pipes.
 *
 * Needs root (shrink, slabinfo); without them the counters are just read.
 *
 * Usage: memory [-n N] [-r reps]      (defaults: 10000, 5)
 * Output: BENCH,memory-*,MECH,N,0,REP,BYTES,B/fd (see bench.h).
 */
#include <dirent.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/event.h>

#include "bench.h"

#define MAX_CACHES	1024

struct cache {
	char name[64];
	long bytes;		/* active_objs * objsize */
	long objsize;
};

struct snap {
	long slab, sunreclaim;	/* bytes */
	long objects;
	int ncaches;
	struct cache caches[MAX_CACHES];
};

static void shrink_all(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 de->d_name);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) != 1) {
			/* not every cache can be shrunk: fine */
		}
		close(fd);
	}
	closedir(d);
}

static long meminfo_kb(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static void take(struct snap *s)
{
	char buf[8192];
	char line[512];
	FILE *f;
	size_t len;

	/* let RCU-deferred frees of the previous round (epoll items, files)
	 * finish first */
	usleep(300000);
	shrink_all();
	f = fopen("/proc/meminfo", "r");
	if (!f)
		die("/proc/meminfo");
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = '\0';
	fclose(f);
	s->slab = meminfo_kb(buf, "\nSlab:") * 1024;
	s->sunreclaim = meminfo_kb(buf, "\nSUnreclaim:") * 1024;

	s->objects = 0;
	s->ncaches = 0;
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		long active, num, objsize;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num,
			   &objsize) != 4)
			continue;
		s->objects += active * objsize;
		if (s->ncaches < MAX_CACHES) {
			struct cache *c = &s->caches[s->ncaches++];

			snprintf(c->name, sizeof(c->name), "%s", name);
			c->bytes = active * objsize;
			c->objsize = objsize;
		}
	}
	fclose(f);
}

static void report(const char *mech, int n, int rep, const struct snap *a,
		   const struct snap *b)
{
	char label[128];
	int i, j;

	emit("memory-slab", mech, n, 0, rep, (double)(b->slab - a->slab) / n,
	     "B/fd");
	emit("memory-sunreclaim", mech, n, 0, rep,
	     (double)(b->sunreclaim - a->sunreclaim) / n, "B/fd");
	if (!b->ncaches)
		return;
	emit("memory-objects", mech, n, 0, rep,
	     (double)(b->objects - a->objects) / n, "B/fd");
	for (i = 0; i < b->ncaches; i++) {
		long before = 0, d;

		for (j = 0; j < a->ncaches; j++)
			if (!strcmp(a->caches[j].name, b->caches[i].name)) {
				before = a->caches[j].bytes;
				break;
			}
		d = b->caches[i].bytes - before;
		if (d < 2L * n)
			continue;
		snprintf(label, sizeof(label), "%s:%s/%ld", mech,
			 b->caches[i].name, b->caches[i].objsize);
		emit("memory-cache", label, n, 0, rep, (double)d / n, "B/fd");
	}
}

static int instance(bool kq)
{
	int fd = kq ? kqueue() : epoll_create1(0);

	if (fd < 0)
		die(kq ? "kqueue" : "epoll_create1");
	return fd;
}

static void add_all(int fd, bool kq, int n, const int *rfd,
		    struct kevent *chg)
{
	int i;

	if (kq) {
		if (kevent(fd, chg, n, NULL, 0, NULL))
			die("kevent register");
		return;
	}
	for (i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = rfd[i] };

		if (epoll_ctl(fd, EPOLL_CTL_ADD, rfd[i], &e))
			die("epoll_ctl ADD");
	}
}

int main(int argc, char **argv)
{
	static struct snap before, after;
	int n = 10000, reps = 5, opt, r, j, i, *rfd, *wfd, *prfd, *pwfd;
	struct kevent *chg;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: memory [-n N] [-r reps]\n");
			return 2;
		}
	}
	raise_nofile(4L * n + 256);
	rfd = xcalloc(n, sizeof(*rfd));
	wfd = xcalloc(n, sizeof(*wfd));
	prfd = xcalloc(n, sizeof(*prfd));
	pwfd = xcalloc(n, sizeof(*pwfd));
	chg = xcalloc(n, sizeof(*chg));
	make_pipes(n, rfd, wfd, n + 64);
	for (i = 0; i < n; i++)
		EV_SET(&chg[i], rfd[i], EVFILT_READ, EV_ADD, 0, 0, NULL);

	/* one untimed round of each, so lazily made caches exist */
	for (j = 0; j < 2; j++) {
		int fd = instance(j == 0);

		add_all(fd, j == 0, n, rfd, chg);
		close(fd);
	}

	for (r = 1; r <= reps; r++) {
		for (j = 0; j < 3; j++) {
			int m = (j + r) % 3, fd;

			if (m == 2) {
				/* the pipes' own cost */
				take(&before);
				make_pipes(n, prfd, pwfd, 2 * n + 128);
				take(&after);
				close_pipes(n, prfd, pwfd);
				report("pipe", n, r, &before, &after);
				continue;
			}
			fd = instance(m == 0);
			take(&before);
			add_all(fd, m == 0, n, rfd, chg);
			take(&after);
			close(fd);
			report(m == 0 ? "kqueue" : "epoll", n, r, &before,
			       &after);
		}
	}
	close_pipes(n, rfd, wfd);
	return 0;
}
