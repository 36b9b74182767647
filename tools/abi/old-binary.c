/*
 * old-binary.c - what a program compiled against libkqueue 2.x's
 * <sys/event.h> would ask of this library, were it loaded in libkqueue's
 * place: tools/test-abi.sh (make abi-check) compiles it with libkqueue's
 * values of the names that differ (-DTHEIR_NOTE_USECONDS=... and so on,
 * taken from the .facts files beside it or a real libkqueue header), links it with
 * this project's libkqueue.so and runs it on the user-space backend.  It
 * shows why the library has its own SONAME: some requests are silently
 * read another way.  struct kevent needs no such care: its layout is the
 * same in both headers (tools/abi-compare.sh checks it).
 *
 * Prints one line per check, "NAME: what happened"; exits 0 unless a
 * system call it needs fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "old-binary: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Waits up to ms for one event of kq; its fflags in *fflags. */
static int wait_one(int kq, int ms, unsigned int *fflags, double *took)
{
	struct kevent ev;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	double t0 = now_ms();
	int n = kevent(kq, NULL, 0, &ev, 1, &ts);

	*took = now_ms() - t0;
	if (n < 0)
		die("kevent (wait)");
	if (n == 1 && fflags)
		*fflags = ev.fflags;
	return n;
}

/* A timer of 100 ms as each header spells it (fflags unit, data). */
static void timer_check(const char *name, unsigned int unit, long data)
{
	struct kevent kv;
	double took;
	int kq = kqueue();

	if (kq < 0)
		die("kqueue");
	EV_SET(&kv, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, unit, data, NULL);
	if (kevent(kq, &kv, 1, NULL, 0, NULL) < 0)
		die("kevent (timer EV_ADD)");
	if (wait_one(kq, 1500, NULL, &took) == 1)
		printf("%s: fired after %.0f ms\n", name, took);
	else
		printf("%s: did not fire within %.0f ms\n", name, took);
	close(kq);
}

#ifdef THEIR_NOTE_TRUNCATE
/* Registers libkqueue's NOTE_TRUNCATE on a file, then only opens it. */
static void truncate_check(void)
{
	char path[] = "/tmp/old-binary.XXXXXX";
	struct kevent kv;
	unsigned int ff = 0;
	double took;
	int kq, fd, fd2, n;

	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	if (write(fd, "0123456789", 10) != 10)
		die("write");
	kq = kqueue();
	if (kq < 0)
		die("kqueue");
	EV_SET(&kv, fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, THEIR_NOTE_TRUNCATE,
	       0, NULL);
	if (kevent(kq, &kv, 1, NULL, 0, NULL) < 0)
		die("kevent (vnode EV_ADD)");
	fd2 = open(path, O_RDONLY);
	if (fd2 < 0)
		die("open");
	close(fd2);
	n = wait_one(kq, 1000, &ff, &took);
	if (n == 1)
		printf("note_truncate: reported, fflags 0x%x, after an open "
		       "(nothing truncated)\n", ff);
	else
		printf("note_truncate: not reported after an open\n");
	close(kq);
	close(fd);
	unlink(path);
}
#endif

/* A filter number only libkqueue's header has: EV_ADD's error. */
static void filter_check(const char *name, int filter, unsigned int fflags)
{
	struct kevent kv, out;
	struct timespec zero = { 0, 0 };
	int kq = kqueue(), n;

	if (kq < 0)
		die("kqueue");
	EV_SET(&kv, 0, filter, EV_ADD, fflags, 0, NULL);
	n = kevent(kq, &kv, 1, &out, 1, &zero);
	if (n < 0)
		printf("%s: kevent() failed: %s\n", name, strerror(errno));
	else if (n == 1 && (out.flags & EV_ERROR) && out.data != 0)
		printf("%s: EV_ERROR: %s\n", name, strerror((int)out.data));
	else
		printf("%s: accepted (%d events)\n", name, n);
	close(kq);
}

int main(void)
{
	/* Values both headers share: a pipe becomes readable. */
	int p[2], kq = kqueue();
	struct kevent kv;
	double took;

	if (kq < 0 || pipe(p) < 0)
		die("kqueue/pipe");
	EV_SET(&kv, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	if (kevent(kq, &kv, 1, NULL, 0, NULL) < 0 || write(p[1], "x", 1) != 1)
		die("kevent/write");
	printf("pipe: %s\n", wait_one(kq, 1000, NULL, &took) == 1 ?
	       "readable" : "not readable");
	close(kq);

	/* 100 ms with the default unit (milliseconds in both). */
	timer_check("timer_ms", 0, 100);
#ifdef THEIR_NOTE_USECONDS
	/* 100 ms as libkqueue spells it in microseconds. */
	timer_check("timer_usec", THEIR_NOTE_USECONDS, 100000);
#endif
#ifdef THEIR_NOTE_TRUNCATE
	truncate_check();
#endif
#ifdef THEIR_EVFILT_LIBKQUEUE
#ifndef THEIR_NOTE_VERSION
#define THEIR_NOTE_VERSION 1
#endif
	filter_check("evfilt_libkqueue", THEIR_EVFILT_LIBKQUEUE,
		     THEIR_NOTE_VERSION);
#endif
#ifdef THEIR_EVFILT_NETDEV
	filter_check("evfilt_netdev", THEIR_EVFILT_NETDEV, 0);
#endif
	return 0;
}
