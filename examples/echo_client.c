/*
 * echo_client.c - load generator and checker for echo_server (or any TCP
 * echo service), itself a kqueue program.
 *
 * It opens `concurrent` connections and holds them until every one is
 * established, so that that many are open at once; then each sends a
 * payload of pseudo-random length and content, half-closes
 * (shutdown(SHUT_WR)), checks that every byte comes back unchanged and in
 * order, and that the server then closes the connection (end of file, not
 * a reset, nothing extra).  Each finished connection is replaced by a new
 * one until `total` have run.  Payload bytes are computed from the seed,
 * the connection number and the offset, so nothing is stored to check
 * them.  Every 50th payload is `big` bytes, so that the server's writes
 * block and its EVFILT_WRITE path is used; every 97th is empty.
 *
 * Usage: echo_client [-a address] [-p port] [-n total] [-c concurrent]
 *                    [-s max_bytes] [-b big_bytes] [-r seed] [-t idle]
 *                    [-T seconds]
 *   defaults: 127.0.0.1 7007, 4000 total, 2000 concurrent, payloads of
 *   1..16384 bytes, big = 1 MiB, seed 1.  The run fails if no byte moves
 *   and no connection ends for `idle` seconds (default 60: a lost wake-up
 *   leaves connections stuck), or if it lasts more than `seconds` (300).
 * Prints one line
 *   "echo_client: total N ok N failed N peak N sent N verified N"
 * (and one line per failed connection, the first 20); exit status 0 only
 * if every connection succeeded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/event.h>

#define NEVENTS		256
#define CHUNK		16384
#define DEADLINE_ID	1	/* EVFILT_TIMER: the whole run's limit */
#define TICK_ID		2	/* EVFILT_TIMER: once a second, progress check */

struct cconn {
	int fd;
	unsigned long id;
	uint64_t seed;		/* of this connection's byte stream */
	size_t len;		/* payload length */
	size_t sent, rcvd;
	int connected, shut, closed;
	struct cconn *prev, *next;	/* active list, then graveyard */
};

static struct sockaddr_in server;
static unsigned long total = 4000, concurrent = 2000;
static size_t max_bytes = 16384, big_bytes = 1 << 20;
static uint64_t seed = 1;

static unsigned long started, active, connected, ok, failed, peak;
static unsigned long long bytes_sent, bytes_verified;
static unsigned long long progress;	/* bytes moved + connections ended */
static unsigned long wave;	/* first-wave connections not yet settled */
static int go;			/* the first wave is established: send */
static struct cconn *active_list;
static struct cconn *graveyard;
static int kq;

/* A 64-bit mixing function (splitmix64's finaliser). */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Byte `off` of the stream `s`. */
static unsigned char stream_byte(uint64_t s, size_t off)
{
	return (unsigned char)(mix(s + (off >> 3)) >> ((off & 7) * 8));
}

static void start_one(void);
static void pump_send(struct cconn *c);
static void finish(struct cconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A first-wave connection is established or has failed. */
static void wave_settled(struct cconn *c)
{
	struct cconn *p, *next;

	if (go || c->id >= concurrent || --wave > 0)
		return;
	go = 1;
	for (p = active_list; p; p = next) {
		next = p->next;
		if (p->connected && p != c)
			pump_send(p);
	}
}

/*
 * The connection is over: count it, close it (which removes its knotes),
 * free it after the current batch of events, and start the next one.
 */
static void finish(struct cconn *c, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		if (failed++ < 20) {
			fprintf(stderr, "echo_client: connection %lu "
				"(%zu bytes, %zu sent, %zu back): ", c->id,
				c->len, c->sent, c->rcvd);
			va_start(ap, fmt);
			vfprintf(stderr, fmt, ap);
			va_end(ap);
			fputc('\n', stderr);
		}
	} else {
		ok++;
	}
	progress++;
	if (c->fd >= 0)
		close(c->fd);
	c->closed = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		active_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = graveyard;
	graveyard = c;
	if (c->connected)
		connected--;
	else
		wave_settled(c);
	active--;
	if (started < total)
		start_one();
}

static void pump_send(struct cconn *c)
{
	unsigned char buf[CHUNK];
	size_t n, i;
	ssize_t w;

	while (c->sent < c->len) {
		n = c->len - c->sent;
		if (n > sizeof(buf))
			n = sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = stream_byte(c->seed, c->sent + i);
		w = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (w > 0) {
			c->sent += (size_t)w;
			bytes_sent += (unsigned long long)w;
			progress += (unsigned long long)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			return;		/* EVFILT_WRITE brings us back */
		} else {
			finish(c, "send: %s", strerror(errno));
			return;
		}
	}
	if (!c->shut) {
		c->shut = 1;
		if (shutdown(c->fd, SHUT_WR) < 0)
			finish(c, "shutdown: %s", strerror(errno));
	}
}

static void pump_recv(struct cconn *c)
{
	unsigned char buf[CHUNK];
	ssize_t r, i;

	for (;;) {
		r = read(c->fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r < 0) {
			finish(c, "read: %s", strerror(errno));
			return;
		}
		if (r == 0) {
			if (c->rcvd == c->len && c->shut)
				finish(c, NULL);
			else
				finish(c, "end of file too early");
			return;
		}
		if (c->rcvd + (size_t)r > c->len) {
			finish(c, "%zd bytes more than were sent",
			       (ssize_t)(c->rcvd + (size_t)r - c->len));
			return;
		}
		for (i = 0; i < r; i++) {
			if (buf[i] != stream_byte(c->seed, c->rcvd + i)) {
				finish(c, "byte %zu differs",
				       c->rcvd + (size_t)i);
				return;
			}
		}
		c->rcvd += (size_t)r;
		bytes_verified += (unsigned long long)r;
		progress += (unsigned long long)r;
	}
}

static void start_one(void)
{
	struct kevent ch[2];
	struct cconn *c;
	int fd;

	c = calloc(1, sizeof(*c));
	if (!c) {
		perror("echo_client: calloc");
		exit(2);
	}
	c->id = started++;
	c->seed = mix(seed * 0x100000001b3ULL + c->id) << 24;
	if (c->id % 97 == 0)
		c->len = 0;
	else if (c->id % 50 == 49)
		c->len = big_bytes;
	else
		c->len = 1 + (size_t)(mix(c->seed) % max_bytes);
	active++;
	c->next = active_list;
	if (active_list)
		active_list->prev = c;
	active_list = c;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->fd = -1;
		finish(c, "socket: %s", strerror(errno));
		return;
	}
	c->fd = fd;
	if (connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0 &&
	    errno != EINPROGRESS) {
		finish(c, "connect: %s", strerror(errno));
		return;
	}
	/* Writable = the connection is established (or failed). */
	EV_SET(&ch[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, c);
	EV_SET(&ch[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, c);
	if (kevent(kq, ch, 2, NULL, 0, NULL) < 0) {
		finish(c, "kevent EV_ADD: %s", strerror(errno));
		return;
	}
	if (active > peak)
		peak = active;
}

static void on_writable(struct cconn *c)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (!c->connected) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			finish(c, "connect: %s", strerror(err));
			return;
		}
		c->connected = 1;
		connected++;
		wave_settled(c);
	}
	if (go)
		pump_send(c);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	unsigned long seconds = 300, idle_limit = 60, idle = 0, i;
	unsigned long long last_progress = 0;
	struct kevent ev[NEVENTS], timers[2];
	struct rlimit rl;
	int port = 7007, opt, n, k;

	while ((opt = getopt(argc, argv, "a:p:n:c:s:b:r:t:T:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': total = strtoul(optarg, NULL, 0); break;
		case 'c': concurrent = strtoul(optarg, NULL, 0); break;
		case 's': max_bytes = strtoul(optarg, NULL, 0); break;
		case 'b': big_bytes = strtoul(optarg, NULL, 0); break;
		case 'r': seed = strtoull(optarg, NULL, 0); break;
		case 't': idle_limit = strtoul(optarg, NULL, 0); break;
		case 'T': seconds = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: echo_client [-a address] "
				"[-p port] [-n total] [-c concurrent] "
				"[-s max_bytes] [-b big_bytes] [-r seed] "
				"[-t idle] [-T seconds]\n");
			return 2;
		}
	}
	if (!total || !concurrent || !max_bytes) {
		fprintf(stderr, "echo_client: -n, -c and -s must be > 0\n");
		return 2;
	}
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &server.sin_addr) != 1) {
		fprintf(stderr, "echo_client: bad address %s\n", addr);
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < concurrent + 16) {
			fprintf(stderr, "echo_client: %lu connections need "
				"a descriptor limit above %lu (ulimit -n)\n",
				concurrent, (unsigned long)rl.rlim_cur);
			return 2;
		}
	}
	wave = total < concurrent ? total : concurrent;
	kq = kqueue();
	if (kq < 0) {
		perror("echo_client: kqueue");
		return 2;
	}
	EV_SET(&timers[0], DEADLINE_ID, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
	       NOTE_SECONDS, (int64_t)seconds, NULL);
	EV_SET(&timers[1], TICK_ID, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 1,
	       NULL);
	if (kevent(kq, timers, 2, NULL, 0, NULL) < 0) {
		perror("echo_client: kevent (timer)");
		return 2;
	}
	for (i = 0; i < concurrent && i < total; i++)
		start_one();

	while (active > 0) {
		n = kevent(kq, NULL, 0, ev, NEVENTS, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_client: kevent");
			return 2;
		}
		for (k = 0; k < n; k++) {
			struct cconn *c = ev[k].udata;

			if (ev[k].filter == EVFILT_TIMER &&
			    ev[k].ident == TICK_ID) {
				if (progress != last_progress)
					idle = 0;
				else
					idle++;	/* ticks seen, not expired:
						 * a starved VM is not idle */
				last_progress = progress;
				if (idle < idle_limit)
					continue;
			}
			if (ev[k].filter == EVFILT_TIMER) {
				fprintf(stderr, "echo_client: %s: %lu "
					"connections still open (%lu "
					"established), %lu not started\n",
					ev[k].ident == TICK_ID ?
					"nothing moved for the idle limit" :
					"time limit", active, connected,
					total - started);
				failed += active + (total - started);
				active = 0;
				break;
			}
			if (c->closed)
				continue;	/* finished in this batch */
			if (ev[k].flags & EV_ERROR)
				finish(c, "kevent: %s",
				       strerror((int)ev[k].data));
			else if (ev[k].filter == EVFILT_WRITE)
				on_writable(c);
			else
				pump_recv(c);
		}
		while (graveyard) {
			struct cconn *c = graveyard;

			graveyard = c->next;
			free(c);
		}
	}
	printf("echo_client: total %lu ok %lu failed %lu peak %lu sent %llu "
	       "verified %llu\n", total, ok, failed, peak, bytes_sent,
	       bytes_verified);
	return ok == total && failed == 0 ? 0 : 1;
}
