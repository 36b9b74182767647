/*
 * echo_server.c - a TCP echo server written the way BSD servers are:
 *
 *   - one kqueue, and every socket non-blocking;
 *   - each connection registers EVFILT_READ and EVFILT_WRITE once, both
 *     edge-triggered (EV_CLEAR), with a pointer to its state as udata;
 *     the changes ride along with the next kevent() wait;
 *   - a connection is dropped with close(2) alone: the kernel removes its
 *     knotes, no EV_DELETE is needed;
 *   - SIGTERM and SIGINT end the server, SIGUSR1 prints statistics; all
 *     three arrive through EVFILT_SIGNAL (they are blocked, so they neither
 *     kill the server nor need a handler).
 *
 * Usage: echo_server [-a address] [-p port] [-q]
 *   Listens on address (default 127.0.0.1) and port (default 7007; 0 picks
 *   a free one).  Prints "listening on ADDRESS port PORT" once it accepts
 *   connections and, when it stops (and on SIGUSR1), one line
 *   "stats: accepted N closed N open N peak N bytes N errors N".
 *   -q: no message per failed connection.  Exit status 0 after a signal,
 *   1 on a setup error.
 *
 * Raise the descriptor limit (ulimit -n) for many connections: the server
 * raises its soft limit to the hard one itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/event.h>

#define BUF_SIZE	16384	/* per connection: what was read, not yet sent */
#define NEVENTS		256	/* events per kevent() call */
#define NCHANGES	NEVENTS	/* changes per kevent() call (see accept_all) */

struct conn {
	int fd;
	int closed;		/* closed during this batch: skip its events */
	int eof;		/* the peer will send nothing more */
	size_t off, len;	/* buf[off..len) is still to be sent */
	struct conn *prev, *next;	/* open connections, or the graveyard */
	char buf[BUF_SIZE];
};

static struct {
	unsigned long long accepted, closed, open, peak, bytes, errors;
} st;

static struct conn *open_list;	/* every open connection */
static struct conn *graveyard;	/* closed in this batch, freed after it */
static struct kevent changes[NCHANGES];
static int nchanges;
static int quiet;

static void print_stats(void)
{
	printf("stats: accepted %llu closed %llu open %llu peak %llu "
	       "bytes %llu errors %llu\n", st.accepted, st.closed, st.open,
	       st.peak, st.bytes, st.errors);
}

static void unlink_conn(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		open_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/*
 * Drop a connection.  close(2) removes both of its knotes from the kqueue;
 * events for it that this batch already returned still point at c, so c
 * is only freed once the batch is done.
 */
static void drop(struct conn *c, const char *why, int err)
{
	if (why) {
		st.errors++;
		if (!quiet)
			fprintf(stderr, "echo_server: fd %d: %s: %s\n", c->fd,
				why, strerror(err));
	}
	close(c->fd);
	c->closed = 1;
	unlink_conn(c);
	c->next = graveyard;
	graveyard = c;
	st.closed++;
	st.open--;
}

/*
 * Move data: send what is pending, then read more, until the socket has
 * nothing to read or no room to write.  With EV_CLEAR a knote fires again
 * only on new activity, so stopping anywhere else could stall the
 * connection.  Both events lead here.
 */
static void service(struct conn *c)
{
	ssize_t n;

	for (;;) {
		while (c->off < c->len) {
			n = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_NOSIGNAL);
			if (n > 0) {
				c->off += (size_t)n;
				st.bytes += (unsigned long long)n;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else if (n < 0 && errno == EAGAIN) {
				return;		/* EVFILT_WRITE calls again */
			} else {
				drop(c, "send", errno);
				return;
			}
		}
		c->off = c->len = 0;
		if (c->eof) {
			drop(c, NULL, 0);	/* all echoed: done */
			return;
		}
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n > 0) {
			c->len = (size_t)n;
		} else if (n == 0) {
			c->eof = 1;
		} else if (errno == EAGAIN) {
			return;			/* EVFILT_READ calls again */
		} else if (errno != EINTR) {
			drop(c, "read", errno);
			return;
		}
	}
}

/* Accept what is pending, at most enough to fill the changelist. */
static void accept_all(int lfd)
{
	struct conn *c;
	int fd;

	while (nchanges + 2 <= NCHANGES) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED) {
				st.errors++;
				if (!quiet)
					perror("echo_server: accept");
			}
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			st.errors++;
			continue;
		}
		c->fd = fd;
		c->next = open_list;
		if (open_list)
			open_list->prev = c;
		open_list = c;
		st.accepted++;
		if (++st.open > st.peak)
			st.peak = st.open;
		EV_SET(&changes[nchanges++], fd, EVFILT_READ,
		       EV_ADD | EV_CLEAR, 0, 0, c);
		EV_SET(&changes[nchanges++], fd, EVFILT_WRITE,
		       EV_ADD | EV_CLEAR, 0, 0, c);
	}
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "echo_server: bad address %s\n", addr);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("echo_server: listen");
		return -1;
	}
	printf("listening on %s port %d\n", addr, ntohs(sin.sin_port));
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	struct kevent ev[NEVENTS];
	struct rlimit rl;
	sigset_t sigs;
	int port = 7007, kq, lfd, n, i, opt, running = 1;

	while ((opt = getopt(argc, argv, "a:p:q")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'q': quiet = 1; break;
		default:
			fprintf(stderr, "usage: echo_server [-a address] "
				"[-p port] [-q]\n");
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/*
	 * Blocked signals stay pending instead of being delivered, and
	 * EVFILT_SIGNAL still reports them (with either backend).
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	kq = kqueue();
	if (kq < 0) {
		perror("echo_server: kqueue");
		return 1;
	}
	lfd = listen_on(addr, port);
	if (lfd < 0)
		return 1;
	EV_SET(&changes[0], lfd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&changes[1], SIGTERM, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	EV_SET(&changes[2], SIGINT, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	EV_SET(&changes[3], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	nchanges = 4;

	while (running) {
		/*
		 * nchanges <= NEVENTS: a change that fails comes back as an
		 * EV_ERROR event instead of failing the call.
		 */
		n = kevent(kq, changes, nchanges, ev, NEVENTS, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_server: kevent");
			return 1;
		}
		nchanges = 0;
		for (i = 0; i < n; i++) {
			struct conn *c = ev[i].udata;

			if (ev[i].flags & EV_ERROR) {
				if (c && !c->closed)
					drop(c, "EV_ADD", (int)ev[i].data);
				else if (!c)
					fprintf(stderr, "echo_server: "
						"register %d: %s\n",
						(int)ev[i].ident,
						strerror((int)ev[i].data));
			} else if (ev[i].filter == EVFILT_SIGNAL) {
				print_stats();
				if (ev[i].ident != SIGUSR1)
					running = 0;
			} else if (!c) {
				accept_all(lfd);
			} else if (!c->closed) {
				service(c);
			}
		}
		while (graveyard) {
			struct conn *c = graveyard;

			graveyard = c->next;
			free(c);
		}
	}
	while (open_list)
		drop(open_list, NULL, 0);
	while (graveyard) {
		struct conn *c = graveyard;

		graveyard = c->next;
		free(c);
	}
	close(lfd);
	close(kq);
	return 0;
}
