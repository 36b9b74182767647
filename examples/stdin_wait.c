/*
 * stdin_wait.c - the test program of the original kqueue paper: wait for
 * input on standard input with kevent() and a two-minute timeout, then say
 * what happened.
 *
 * Usage: stdin_wait [seconds]   (default 120)
 * Exit status: 0 when input (or EOF) was seen, 1 on timeout, 2 on error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/event.h>

int main(int argc, char **argv)
{
	struct timespec timeout = { .tv_sec = 120, .tv_nsec = 0 };
	struct kevent change, event;
	int kq, n;

	if (argc > 1)
		timeout.tv_sec = strtol(argv[1], NULL, 10);

	kq = kqueue();
	if (kq < 0) {
		fprintf(stderr, "kqueue: %s\n", strerror(errno));
		return 2;
	}
	EV_SET(&change, STDIN_FILENO, EVFILT_READ, EV_ADD, 0, 0, NULL);

	n = kevent(kq, &change, 1, &event, 1, &timeout);
	if (n < 0) {
		fprintf(stderr, "kevent: %s\n", strerror(errno));
		return 2;
	}
	if (n == 0) {
		printf("no input within %ld seconds\n", (long)timeout.tv_sec);
		return 1;
	}
	if (event.flags & EV_ERROR) {
		fprintf(stderr, "kevent: change failed: %s\n",
			strerror((int)event.data));
		return 2;
	}
	printf("stdin is readable: %lld bytes waiting%s\n",
	       (long long)event.data,
	       (event.flags & EV_EOF) ? " (end of file)" : "");
	close(kq);
	return 0;
}
