/*
 * t_hard_pipe.c - issue 14 item 4: EVFILT_READ/WRITE on pipes whose ring
 * is moved by splice(), vmsplice() and tee() (which move a pipe's head and
 * tail under the pipe's mutex only) while other threads scan kqueues that
 * watch both ends.  Every kevent() scan must return quickly, and every
 * pipe event's data must stay within [0, the largest capacity the pipe
 * had]; nothing may hang.
 *
 * Mover threads shuffle bytes around a ring of pipes, a UNIX socket pair
 * and a file, and resize the pipes with F_SETPIPE_SZ; scanner threads
 * poll a level-triggered kqueue of both ends of every pipe; a watchdog
 * (the main thread) fails the test if a scanner makes no progress.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kqtest.h"

#define NPIPES		4
#define NMOVERS		3
#define NSCANNERS	2
#define MAX_CAP		(64 * 1024)	/* pipes are sized at most this */
#define SCAN_MAX_MS	2000		/* one zero-timeout scan, at most */

struct hp_state {
	int p[NPIPES][2];
	int sv[2];		/* UNIX stream pair */
	int file;		/* scratch regular file */
	atomic_int stop;
	atomic_llong progress[NSCANNERS];
	atomic_llong worst_ms;
	atomic_llong scans;
	atomic_llong moved;
	char msg[256];
	atomic_int failed;
};

static struct hp_state hp;

__attribute__((format(printf, 1, 2)))
static void hp_fail(const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(&hp.failed, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(hp.msg, sizeof(hp.msg), fmt, ap);
	va_end(ap);
	atomic_store(&hp.stop, 1);
}

static unsigned int hp_rand(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void *hp_mover(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 7919u + 1;
	static char page[NMOVERS][16384] __attribute__((aligned(4096)));
	char *buf = page[(uintptr_t)arg % NMOVERS];
	char sink[8192];

	memset(buf, 'x', sizeof(page[0]));
	while (!atomic_load(&hp.stop)) {
		unsigned int r = hp_rand(&seed);
		int a = (int)(r % NPIPES), b = (int)((r / 8) % NPIPES);
		size_t len = 1 + (r / 64) % 16384;
		ssize_t n = 0;
		struct iovec iov = { buf, len };
		loff_t off = (loff_t)((r / 16) % 65536);

		if (b == a)
			b = (a + 1) % NPIPES;
		switch ((r >> 20) % 12) {
		case 0:
		case 1:
			n = vmsplice(hp.p[a][1], &iov, 1, SPLICE_F_NONBLOCK);
			break;
		case 2:
		case 3:
			n = splice(hp.p[a][0], NULL, hp.p[b][1], NULL, len,
				   SPLICE_F_NONBLOCK);
			break;
		case 4:
			n = tee(hp.p[a][0], hp.p[b][1], len,
				SPLICE_F_NONBLOCK);
			break;
		case 5:
			n = splice(hp.p[a][0], NULL, hp.sv[0], NULL, len,
				   SPLICE_F_NONBLOCK);
			break;
		case 6:
			n = splice(hp.sv[1], NULL, hp.p[a][1], NULL, len,
				   SPLICE_F_NONBLOCK);
			break;
		case 7:
			n = splice(hp.p[a][0], NULL, hp.file, &off, len,
				   SPLICE_F_NONBLOCK);
			break;
		case 8:
			n = splice(hp.file, &off, hp.p[a][1], NULL, len,
				   SPLICE_F_NONBLOCK);
			break;
		case 9:
			n = read(hp.p[a][0], sink, len < sizeof(sink) ?
				 len : sizeof(sink));
			break;
		case 10:
			n = write(hp.p[a][1], buf, len);
			break;
		default:
			/* 1 to 16 pages: shrinking fails while it is full. */
			(void)fcntl(hp.p[a][1], F_SETPIPE_SZ,
				    4096 << ((r >> 4) % 5));
			break;
		}
		if (n > 0)
			atomic_fetch_add(&hp.moved, n);
	}
	return NULL;
}

static void *hp_scanner(void *arg)
{
	int idx = (int)(uintptr_t)arg;
	int kq = kqueue();
	struct kevent ch[2 * NPIPES], ev[2 * NPIPES];

	if (kq < 0) {
		hp_fail("kqueue(): %s", kqt_errname(errno));
		return NULL;
	}
	for (int i = 0; i < NPIPES; i++) {
		EV_SET(&ch[2 * i], hp.p[i][0], EVFILT_READ, EV_ADD, 0, 0,
		       NULL);
		EV_SET(&ch[2 * i + 1], hp.p[i][1], EVFILT_WRITE, EV_ADD, 0, 0,
		       NULL);
	}
	if (kevent(kq, ch, 2 * NPIPES, NULL, 0, NULL) != 0) {
		hp_fail("EV_ADD: %s", kqt_errname(errno));
		return NULL;
	}
	while (!atomic_load(&hp.stop)) {
		struct timespec zero = { 0, 0 };
		long long t0 = now_ms();
		int n = kevent(kq, NULL, 0, ev, 2 * NPIPES, &zero);
		long long took = now_ms() - t0;

		if (n < 0) {
			hp_fail("scan: %s", kqt_errname(errno));
			break;
		}
		if (took > atomic_load(&hp.worst_ms))
			atomic_store(&hp.worst_ms, took);
		if (took > SCAN_MAX_MS)
			hp_fail("one scan took %lld ms (limit %d)", took,
				SCAN_MAX_MS);
		for (int i = 0; i < n; i++) {
			if (ev[i].flags & EV_ERROR)
				hp_fail("EV_ERROR %lld on fd %lld",
					(long long)ev[i].data,
					(long long)ev[i].ident);
			else if (ev[i].data < 0 || ev[i].data > MAX_CAP)
				hp_fail("pipe event %s: data out of [0, %d]",
					kev_str(&ev[i]), MAX_CAP);
			else if (ev[i].flags & EV_EOF)
				hp_fail("EV_EOF on a live pipe: %s",
					kev_str(&ev[i]));
		}
		atomic_fetch_add(&hp.progress[idx], 1);
		atomic_fetch_add(&hp.scans, 1);
	}
	close(kq);
	return NULL;
}

TEST(hard_pipe_splice_races_scans)
{
	pthread_t movers[NMOVERS], scanners[NSCANNERS];
	char path[512];
	long long t0, last[NSCANNERS] = { 0 }, seen[NSCANNERS];
	long long run_ms = 3000;

	memset(&hp, 0, sizeof(hp));
	for (int i = 0; i < NPIPES; i++)
		make_pipe_nb(hp.p[i]);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, hp.sv));
	snprintf(path, sizeof(path), "%s/spliced", tmp_dir());
	hp.file = CHECK_OK(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
	write_n(hp.file, 65536);

	for (int i = 0; i < NSCANNERS; i++)
		CHECK_EQ(pthread_create(&scanners[i], NULL, hp_scanner,
					(void *)(uintptr_t)i), 0);
	for (int i = 0; i < NMOVERS; i++)
		CHECK_EQ(pthread_create(&movers[i], NULL, hp_mover,
					(void *)(uintptr_t)i), 0);

	/* Watchdog: every scanner keeps making progress. */
	t0 = now_ms();
	for (int i = 0; i < NSCANNERS; i++)
		seen[i] = t0;
	while (!atomic_load(&hp.stop) && now_ms() - t0 < run_ms) {
		sleep_ms(100);
		for (int i = 0; i < NSCANNERS; i++) {
			long long p = atomic_load(&hp.progress[i]);

			if (p != last[i]) {
				last[i] = p;
				seen[i] = now_ms();
			} else if (now_ms() - seen[i] > 5000) {
				/* Do not join a thread stuck in the kernel. */
				FAIL("scanner %d made no progress for %lld ms",
				     i, now_ms() - seen[i]);
			}
		}
	}
	atomic_store(&hp.stop, 1);
	for (int i = 0; i < NMOVERS; i++)
		pthread_join(movers[i], NULL);
	for (int i = 0; i < NSCANNERS; i++)
		pthread_join(scanners[i], NULL);
	CHECKF(!atomic_load(&hp.failed), "%s", hp.msg);
	fprintf(stderr, "hard_pipe: %lld scans, worst %lld ms, %lld bytes "
		"moved\n", atomic_load(&hp.scans), atomic_load(&hp.worst_ms),
		atomic_load(&hp.moved));
	CHECK_GT(atomic_load(&hp.scans), 10);
	CHECK_GT(atomic_load(&hp.moved), 0);

	/* The pipes still report exactly. */
	int kq = kq_new();
	struct kevent ev;

	for (int i = 0; i < NPIPES; i++) {
		drain_fd(hp.p[i][0]);
		write_n(hp.p[i][1], 100);
		kev_add(kq, hp.p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		kev_expect(kq, hp.p[i][0], EVFILT_READ, 0, &ev);
		CHECK_EQ(ev.data, 100);
	}
	for (int i = 0; i < NPIPES; i++) {
		CHECK_OK(close(hp.p[i][0]));
		CHECK_OK(close(hp.p[i][1]));
	}
	close(hp.sv[0]);
	close(hp.sv[1]);
	close(hp.file);
	unlink(path);
}

/*
 * A pipe resized while full and being drained by splice: WRITE data never
 * exceeds the capacity F_GETPIPE_SZ reports afterwards, READ data never
 * exceeds the largest capacity, and a full pipe is not writable.
 */
TEST(hard_pipe_resize_and_splice_bounds)
{
	int p[2], q[2], kq = kq_new();
	struct kevent ev[2];

	make_pipe_nb(p);
	make_pipe_nb(q);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	for (int round = 0; round < 200; round++) {
		int pages = 1 << (round % 5);

		(void)fcntl(p[1], F_SETPIPE_SZ, pages * 4096);
		int cap = fcntl(p[1], F_GETPIPE_SZ);

		CHECK_GT(cap, 0);
		size_t in = fill_fd(p[1]);

		CHECK_LE(in, (size_t)cap);
		int n = kev_poll(kq, ev, 2);

		for (int i = 0; i < n; i++) {
			CHECK_GE(ev[i].data, 0);
			CHECK_LE(ev[i].data, cap);
			if (ev[i].filter == EVFILT_READ)
				CHECK_EQ(ev[i].data, (long long)in);
			else
				FAIL("full pipe reported writable: %s",
				     kev_str(&ev[i]));
		}
		while (splice(p[0], NULL, q[1], NULL, 1 + round * 37 % 5000,
			      SPLICE_F_NONBLOCK) > 0)
			drain_fd(q[0]);
		n = kev_poll(kq, ev, 2);
		for (int i = 0; i < n; i++) {
			CHECK_GE(ev[i].data, 0);
			CHECK_LE(ev[i].data, cap);
		}
	}
}
