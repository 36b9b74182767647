/*
 * profile.c - one benchmark case, bracketed by marks for the tbprof QEMU
 * plugin (bench/prof/tbprof.c), which then counts the guest instructions
 * executed per code block over exactly the timed calls.  Run by
 * tools/bench-profile.sh; outside that plugin the marks are plain no-ops.
 *
 * Usage: profile CASE N CALLS
 *   CASE   t2-poll, t2-epoll, t2-kqueue      N pipes, all ready (level)
 *          t2-epoll-et, t2-kqueue-clear      the same, edge-triggered; one
 *                                            byte per pipe before each
 *                                            call, outside the marks
 *          idle-epoll, idle-kqueue           N registered, 10 ready
 *          rearm-epoll, rearm-kqueue-dispatch, rearm-kqueue-oneshot
 *                                            re-arm loop over N ready pipes
 *                                            (churn.c (a)); CALLS cycles
 *          reg-epoll, reg-kqueue             register N idle pipes (one
 *                                            kevent() / N epoll_ctl());
 *                                            CALLS rounds
 *          wr-epoll-et, wr-kqueue-clear      the writer's side: a byte
 *                                            written to each of N pipes
 *                                            whose edges were all taken
 *                                            (a new report each)
 *          wru-epoll-et, wru-kqueue-clear    the same, each pipe's edge
 *                                            still pending (a report
 *                                            updated, or nothing to do)
 *          any kqueue case + "-noring"       the same with KQUEUE_RING=0:
 *                                            no completion ring
 * The plugin writes the profile of the i-th run (from 0) of the boot to
 * OUT.i.  Prints "PROFILE,CASE,N,CALLS,events per call".
 */
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <poll.h>

#include "bench.h"

/* nopl 0x4b51MMNN(%rax): a no-op that tbprof recognises. */
#define MARK(op, arg) \
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, %c0, %c1, 0x51, 0x4b" \
			 :: "i"(arg), "i"(op) : "memory")

static const struct timespec zero;

int main(int argc, char **argv)
{
	const char *cs;
	char base[64];
	size_t len;
	int n, calls, i, c, fd = -1, got = 0, *rfd, *wfd, k;
	bool kq, edge, idle, rearm, reg, wr, wru, oneshot = false;
	struct pollfd *pfd;
	struct epoll_event *eev;
	struct kevent *kev, *chg;
	int nchg = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: profile CASE N CALLS\n");
		return 2;
	}
	/* CASE-noring: CASE without the completion ring. */
	len = strlen(argv[1]);
	if (len >= sizeof(base)) {
		fprintf(stderr, "profile: bad case\n");
		return 2;
	}
	memcpy(base, argv[1], len + 1);
	if (len > 7 && !strcmp(base + len - 7, "-noring")) {
		base[len - 7] = 0;
		setenv("KQUEUE_RING", "0", 1);
	}
	cs = base;
	n = atoi(argv[2]);
	calls = atoi(argv[3]);
	if (n < 1 || calls < 1) {
		fprintf(stderr, "profile: bad arguments\n");
		return 2;
	}
	kq = strstr(cs, "kqueue") != NULL;
	wru = !strncmp(cs, "wru-", 4);
	wr = wru || !strncmp(cs, "wr-", 3);
	edge = !strcmp(cs, "t2-epoll-et") || !strcmp(cs, "t2-kqueue-clear") ||
	       wr;
	idle = !strncmp(cs, "idle-", 5);
	rearm = !strncmp(cs, "rearm-", 6);
	reg = !strncmp(cs, "reg-", 4);
	oneshot = !strcmp(cs, "rearm-kqueue-oneshot");
	k = idle ? (n < 10 ? n : 10) : n;
	if (wr && strcmp(cs + (wru ? 4 : 3), "epoll-et") &&
	    strcmp(cs + (wru ? 4 : 3), "kqueue-clear")) {
		fprintf(stderr, "profile: bad case\n");
		return 2;
	}

	raise_nofile(2L * n + 256);
	rfd = xcalloc(n, sizeof(*rfd));
	wfd = xcalloc(n, sizeof(*wfd));
	pfd = xcalloc(n, sizeof(*pfd));
	eev = xcalloc(n, sizeof(*eev));
	kev = xcalloc(n, sizeof(*kev));
	chg = xcalloc(n, sizeof(*chg));
	make_pipes(n, rfd, wfd, n + 64);
	if (!reg && !wr)
		for (i = 0; i < k; i++)
			put_byte(wfd[idle ? (int)((long)i * n / k) : i]);

	if (!strcmp(cs, "t2-poll")) {
		for (i = 0; i < n; i++) {
			pfd[i].fd = rfd[i];
			pfd[i].events = POLLIN;
		}
	} else if (!reg) {
		fd = kq ? kqueue() : epoll_create1(0);
		if (fd < 0)
			die("kqueue/epoll_create1");
		for (i = 0; i < n; i++) {
			unsigned short fl = EV_ADD;
			struct epoll_event e = { .events = EPOLLIN,
						 .data.fd = rfd[i] };

			if (edge) {
				fl |= EV_CLEAR;
				e.events |= EPOLLET;
			}
			if (rearm) {
				fl |= oneshot ? EV_ONESHOT : EV_DISPATCH;
				e.events |= EPOLLONESHOT;
			}
			EV_SET(&chg[i], rfd[i], EVFILT_READ, fl, 0, 0, NULL);
			if (!kq && epoll_ctl(fd, EPOLL_CTL_ADD, rfd[i], &e))
				die("epoll_ctl ADD");
		}
		if (kq && kevent(fd, chg, n, NULL, 0, NULL))
			die("kevent register");
	}

	for (c = -3; c < calls; c++) {
		if (wr) {
			/* Take every pending edge, untimed. */
			while ((got = kq ? kevent(fd, NULL, 0, kev, n, &zero) :
				      epoll_wait(fd, eev, n, 0)) > 0)
				;
			if (got < 0)
				die("harvest");
		}
		if (edge && (!wr || wru))
			for (i = 0; i < n; i++)
				put_byte(wfd[i]);
		if (reg) {
			fd = kq ? kqueue() : epoll_create1(0);
			if (fd < 0)
				die("kqueue/epoll_create1");
			for (i = 0; i < n; i++)
				EV_SET(&chg[i], rfd[i], EVFILT_READ, EV_ADD, 0,
				       0, NULL);
		}
		if (c >= 0)
			MARK(1, 0);
		if (wr) {
			for (i = 0; i < n; i++)
				put_byte(wfd[i]);
			got = n;
		} else if (reg) {
			if (kq) {
				got = kevent(fd, chg, n, NULL, 0, NULL) ? -1 : n;
			} else {
				for (i = 0; i < n; i++) {
					struct epoll_event e = {
						.events = EPOLLIN,
						.data.fd = rfd[i],
					};

					if (epoll_ctl(fd, EPOLL_CTL_ADD, rfd[i],
						      &e))
						die("epoll_ctl ADD");
				}
				got = n;
			}
		} else if (!strcmp(cs, "t2-poll")) {
			got = poll(pfd, n, 0);
		} else if (kq) {
			got = kevent(fd, chg, nchg, kev, n, &zero);
			if (rearm) {
				for (i = 0; i < got; i++)
					EV_SET(&chg[i], kev[i].ident,
					       EVFILT_READ, oneshot ?
					       EV_ADD | EV_ONESHOT :
					       EV_ENABLE | EV_DISPATCH, 0, 0,
					       NULL);
				nchg = got;
			}
		} else {
			got = epoll_wait(fd, eev, n, 0);
			if (rearm)
				for (i = 0; i < got; i++) {
					struct epoll_event e = {
						.events = EPOLLIN | EPOLLONESHOT,
						.data.fd = eev[i].data.fd,
					};

					if (epoll_ctl(fd, EPOLL_CTL_MOD,
						      e.data.fd, &e))
						die("epoll_ctl MOD");
				}
		}
		if (c >= 0)
			MARK(2, 0);
		if (got != k) {
			fprintf(stderr, "profile: %s: got %d, expected %d\n",
				cs, got, k);
			return 1;
		}
		if (reg)
			close(fd);
	}
	MARK(3, 0);
	printf("PROFILE,%s,%d,%d,%d\n", argv[1], n, calls, k);
	return 0;
}
