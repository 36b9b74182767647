/*
 * tail_follow.c - `tail -f` with kqueue: print what is appended to a file
 * as it is appended.
 *
 * Usage: tail_follow [-n SECONDS] FILE
 *
 * Starts at the current end of FILE.  EVFILT_VNODE says what happened to
 * the file (NOTE_WRITE, NOTE_EXTEND, NOTE_TRUNCATE, NOTE_DELETE,
 * NOTE_RENAME); EVFILT_READ on the file says how many bytes lie between
 * the offset and the end (a regular file is always readable, so it is
 * registered with EV_DISPATCH and enabled again after each write).  A
 * truncated file is followed from its new end; when the file is deleted or
 * renamed, what is left is printed and the program says so and exits.
 * Messages go to standard error, the file's data to standard output.
 *
 * Exit status: 0 when the file was deleted or renamed, 1 when SECONDS
 * passed first, 2 on error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>

#define VNODE_NOTES	(NOTE_WRITE | NOTE_EXTEND | NOTE_DELETE | \
			 NOTE_RENAME | NOTE_TRUNCATE)

static const char *name;

static void usage(void)
{
	fprintf(stderr, "usage: tail_follow [-n SECONDS] FILE\n");
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "tail_follow: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Copies up to len bytes (or, with len < 0, everything) to stdout. */
static void copy_out(int fd, long long len)
{
	char buf[65536];

	while (len != 0) {
		size_t want = sizeof(buf);
		ssize_t n, off = 0;

		if (len > 0 && (long long)want > len)
			want = (size_t)len;
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			return;
		while (off < n) {
			ssize_t w = write(STDOUT_FILENO, buf + off,
					  (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				die("write");
			off += w;
		}
		if (len > 0)
			len -= n;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct kevent changes[2], events[4];
	double deadline = 0;
	int opt, kq, fd, nchanges;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		switch (opt) {
		case 'n':
			deadline = now() + strtod(optarg, NULL);
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	name = argv[optind];

	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(name);
	if (lseek(fd, 0, SEEK_END) < 0)
		die("lseek");
	kq = kqueue();
	if (kq < 0)
		die("kqueue");

	EV_SET(&changes[0], fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, VNODE_NOTES,
	       0, NULL);
	EV_SET(&changes[1], fd, EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0,
	       NULL);
	if (kevent(kq, changes, 2, NULL, 0, NULL) < 0)
		die("kevent (register)");
	fprintf(stderr, "tail_follow: following %s\n", name);
	nchanges = 0;

	for (;;) {
		struct timespec ts, *tsp = NULL;
		int n, i;

		if (deadline > 0) {
			double left = deadline - now();

			if (left < 0)
				left = 0;
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			tsp = &ts;
		}
		n = kevent(kq, changes, nchanges, events, 4, tsp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("kevent");
		nchanges = 0;
		if (n == 0) {
			fprintf(stderr, "tail_follow: %s: timed out\n", name);
			return 1;
		}
		for (i = 0; i < n; i++) {
			const struct kevent *ev = &events[i];

			if (ev->flags & EV_ERROR) {
				errno = (int)ev->data;
				die("kevent (event)");
			}
			if (ev->filter == EVFILT_READ) {
				/* data: bytes from the offset to the end */
				if (ev->data > 0)
					copy_out(fd, ev->data);
				continue;
			}
			if (ev->fflags & NOTE_TRUNCATE) {
				if (lseek(fd, 0, SEEK_END) < 0)
					die("lseek");
				fprintf(stderr, "tail_follow: %s: file truncated\n",
					name);
			}
			if (ev->fflags & (NOTE_DELETE | NOTE_RENAME)) {
				copy_out(fd, -1);
				fprintf(stderr, "tail_follow: %s: file %s\n", name,
					(ev->fflags & NOTE_DELETE) ?
					"deleted" : "renamed");
				return 0;
			}
			if (ev->fflags & (NOTE_WRITE | NOTE_EXTEND)) {
				/* Count the new bytes at the next call. */
				EV_SET(&changes[0], fd, EVFILT_READ, EV_ENABLE,
				       0, 0, NULL);
				nchanges = 1;
			}
		}
	}
}
