/*
 * event_loop.c - a small event loop that handles signals and timers
 * through kqueue only: no signal handlers, no signalfd, no timerfd.
 *
 *   - a periodic 100 ms timer (EVFILT_TIMER) prints a tick now and then;
 *   - a one-shot timer (EV_ONESHOT) ends the loop after the given time;
 *   - SIGUSR1 (ignored, so that it cannot kill us, but still observed by
 *     EVFILT_SIGNAL) prints how many arrived since the last report;
 *   - SIGTERM and SIGINT (likewise) end the loop at once;
 *   - a line on stdin (EVFILT_READ) is echoed back.
 *
 * Usage: event_loop [seconds]   (default 5)
 * Prints one line per event; exit status 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/event.h>

enum { TICK = 1, DEADLINE = 2 };

static void die(const char *what)
{
	fprintf(stderr, "event_loop: %s: %s\n", what, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	long seconds = argc > 1 ? strtol(argv[1], NULL, 10) : 5;
	struct kevent changes[6], ev[8];
	long ticks = 0;
	int kq, n, i, running = 1, stdin_open = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Ignored signals are still seen by EVFILT_SIGNAL. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);

	kq = kqueue();
	if (kq < 0)
		die("kqueue");
	EV_SET(&changes[0], TICK, EVFILT_TIMER, EV_ADD, 0, 100, NULL);
	EV_SET(&changes[1], DEADLINE, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
	       NOTE_SECONDS, seconds, NULL);
	EV_SET(&changes[2], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	EV_SET(&changes[3], SIGTERM, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	EV_SET(&changes[4], SIGINT, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	EV_SET(&changes[5], STDIN_FILENO, EVFILT_READ, EV_ADD, 0, 0, NULL);
	if (kevent(kq, changes, 6, NULL, 0, NULL) < 0)
		die("kevent (register)");
	printf("event loop: pid %d, %ld s\n", (int)getpid(), seconds);

	while (running) {
		n = kevent(kq, NULL, 0, ev, 8, NULL);
		if (n < 0)
			die("kevent (wait)");
		for (i = 0; i < n; i++) {
			if (ev[i].filter == EVFILT_TIMER && ev[i].ident == TICK) {
				ticks += ev[i].data;
				if (ticks % 10 == 0 || ev[i].data > 1)
					printf("tick: %ld so far\n", ticks);
			} else if (ev[i].filter == EVFILT_TIMER) {
				printf("deadline: done after %ld ticks\n",
				       ticks);
				running = 0;
			} else if (ev[i].filter == EVFILT_SIGNAL &&
				   ev[i].ident == SIGUSR1) {
				printf("signal: SIGUSR1 x%lld\n",
				       (long long)ev[i].data);
			} else if (ev[i].filter == EVFILT_SIGNAL) {
				printf("signal: %s, stopping\n",
				       strsignal((int)ev[i].ident));
				running = 0;
			} else if (ev[i].filter == EVFILT_READ && stdin_open) {
				char line[256];
				ssize_t len = read(STDIN_FILENO, line,
						   sizeof(line) - 1);

				if (len <= 0) {
					struct kevent del;

					EV_SET(&del, STDIN_FILENO, EVFILT_READ,
					       EV_DELETE, 0, 0, NULL);
					kevent(kq, &del, 1, NULL, 0, NULL);
					stdin_open = 0;
					continue;
				}
				line[len] = '\0';
				printf("input: %s%s", line,
				       line[len - 1] == '\n' ? "" : "\n");
			}
		}
	}
	close(kq);
	return 0;
}
