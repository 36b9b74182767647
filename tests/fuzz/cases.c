/*
 * cases.c - kqfuzz's scenario threads: shapes that random single calls
 * rarely build, run next to the fuzz threads and the chaos thread.
 *
 *   nest    chains of 2 to 5 kqueues A -> B -> C -> D (-> E), each level
 *           watching the next through 1 to 64 dups of its descriptor
 *           (EVFILT_READ; at most NEST_MAX_PATHS paths top to bottom),
 *           linked top-down, bottom-up or in a random order, sometimes
 *           closed into a cycle.  Every EV_ADD must return within CASE_ADD_MS
 *           and give 0, or ELOOP exactly when the link would make a chain
 *           of more than 4 kqueues or a cycle (ENOMEM is taken as a limit
 *           hit where 0 is due).  An event at the bottom must reach the
 *           top of a complete chain; every scan of the top must return
 *           within CASE_SCAN_MS.
 *   splice  pipes, a UNIX stream pair and a file, with splice(),
 *           vmsplice(), tee(), read/write and F_SETPIPE_SZ moving bytes
 *           between them, while both ends of every pipe are registered
 *           (EVFILT_READ / EVFILT_WRITE) in this thread's kqueue and in
 *           the shared pool kqueues that the fuzz threads scan.  Every
 *           scan of its own kqueue must return within CASE_SCAN_MS with
 *           data in [0, the largest pipe capacity] and no EV_EOF.
 *
 * Their descriptors are moved to CASE_FD_BASE and up, out of the range
 * fuzz threads pick numbers from (the pool, below 64 and 128, and odd
 * values), so that no random EV_ADD lengthens their chains, and are
 * close-on-exec.
 *
 * Each case thread marks the system calls it is in (case_busy_since[]), so
 * kqfuzz's watchdog fails the run if one is stuck for --hang-ms.
 *
 * Locking: each case thread owns everything it opens; it reads pool[]
 * with relaxed atomics like the fuzz threads (fuzz.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define CASE_FD_BASE	512
#define CASE_ADD_MS	5000	/* one EV_ADD, at most */
#define CASE_SCAN_MS	5000	/* one zero-timeout scan, at most */
#define NEST_LEVELS	5
#define NEST_MAX_NEST	4	/* the module's longest chain of kqueues */
#define NEST_DUPS	64
#define NEST_MAX_PATHS	(64 * 64 * 64)	/* dups of all levels multiplied */
#define SP_PIPES	3
#define SP_MAX_CAP	(64 * 1024)

atomic_llong case_busy_since[NR_CASES];
const char *const case_names[NR_CASES] = { "nest", "splice" };

#define BUSY(c)		atomic_store(&case_busy_since[c], mono_ms())
#define IDLE(c)		atomic_store(&case_busy_since[c], 0)

static unsigned long case_nest_adds, case_nest_eloop, case_nest_enomem,
	case_nest_chains, case_splice_ops, case_splice_scans;

/* fd moved to CASE_FD_BASE or above, close-on-exec; -1 on failure. */
static int high_fd(int fd)
{
	int h;

	if (fd < 0)
		return -1;
	h = fcntl(fd, F_DUPFD_CLOEXEC, CASE_FD_BASE);
	close(fd);
	return h;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- nest --------------------------------------------------------------- */

struct nest {
	int kq[NEST_LEVELS];
	int dups[NEST_LEVELS][NEST_DUPS];	/* [l]: dups of kq[l + 1] */
	int ndup[NEST_LEVELS];
	int linked[NEST_LEVELS];	/* kq[l] watches kq[l + 1] */
	int levels;
};

/* The chain the link l -> l + 1 would be part of: its kqueue count. */
static int nest_chain_len(const struct nest *n, int l)
{
	int top = l, bottom = l + 1;

	while (top > 0 && n->linked[top - 1])
		top--;
	while (bottom < n->levels - 1 && n->linked[bottom])
		bottom++;
	return bottom - top + 1;
}

/* EV_ADD of (ident, EVFILT_READ) in kq, timed; returns 0 or errno. */
static int nest_add(int kq, int ident, long long *ms)
{
	struct kevent kev;
	long long t0 = mono_ms();
	int r;

	EV_SET(&kev, ident, EVFILT_READ, EV_ADD, 0, 0, NULL);
	BUSY(0);
	do	/* the chaos thread's signals interrupt calls */
		r = kevent(kq, &kev, 1, NULL, 0, NULL);
	while (r < 0 && errno == EINTR);
	IDLE(0);
	*ms = mono_ms() - t0;
	return r == 0 ? 0 : errno;
}

static void nest_link(struct nest *n, struct rng *r, int l)
{
	int want_loop = nest_chain_len(n, l) > NEST_MAX_NEST;
	int added = 0;

	for (int d = 0; d < n->ndup[l] && !atomic_load(&stop); d++) {
		long long ms;
		int e = nest_add(n->kq[l], n->dups[l][d], &ms);

		case_nest_adds++;
		if (ms > CASE_ADD_MS)
			fuzz_fail("nest: EV_ADD of dup %d of level %d (%d "
				  "levels, %d dups) took %lld ms", d, l + 1,
				  n->levels, n->ndup[l], ms);
		if (e == ELOOP)
			case_nest_eloop++;
		if (e == ENOMEM)
			case_nest_enomem++;
		if (want_loop ? e != ELOOP : (e != 0 && e != ENOMEM))
			fuzz_fail("nest: link %d -> %d of a %d-level chain: "
				  "%s, want %s", l, l + 1, n->levels,
				  e ? strerror(e) : "0",
				  want_loop ? "ELOOP" : "0");
		if (e == 0)
			added = 1;
		if (chance(r, 2))
			sleep_us(100);
	}
	n->linked[l] = added;
}

/*
 * Paths from top to bottom are the product of the dups per level; keep it
 * moderate (halve the widest level) so a chain costs little even where
 * linking walks every path.
 */
static void nest_trim(struct nest *n)
{
	for (;;) {
		long long paths = 1;
		int widest = 0;

		for (int l = 0; l + 1 < n->levels; l++) {
			paths *= n->ndup[l];
			if (n->ndup[l] > n->ndup[widest])
				widest = l;
		}
		if (paths <= NEST_MAX_PATHS)
			return;
		n->ndup[widest] = (n->ndup[widest] + 1) / 2;
	}
}

static void nest_once(struct rng *r)
{
	struct nest n;
	struct kevent kev, ev[NEST_DUPS];
	int complete = 1, inner_first, order, seq[NEST_LEVELS];

	memset(&n, 0xff, sizeof(n));
	memset(n.linked, 0, sizeof(n.linked));
	n.levels = 2 + (int)below(r, NEST_LEVELS - 1);
	for (int l = 0; l < n.levels; l++) {
		n.kq[l] = high_fd(kqueue());
		if (n.kq[l] < 0)
			goto out;
	}
	for (int l = 0; l + 1 < n.levels; l++)
		n.ndup[l] = 1 + (int)below(r, NEST_DUPS);
	nest_trim(&n);
	for (int l = 0; l + 1 < n.levels; l++) {
		for (int d = 0; d < n.ndup[l]; d++) {
			n.dups[l][d] = fcntl(n.kq[l + 1], F_DUPFD_CLOEXEC,
					     CASE_FD_BASE);
			if (n.dups[l][d] < 0) {
				n.ndup[l] = d;
				break;
			}
		}
	}
	/* Link top-down, bottom-up or in a random order. */
	order = (int)below(r, 3);
	for (int i = 0; i + 1 < n.levels; i++)
		seq[i] = order == 1 ? n.levels - 2 - i : i;
	if (order == 2)
		for (int i = n.levels - 2; i > 0; i--) {
			int j = (int)below(r, (uint64_t)i + 1), t = seq[i];

			seq[i] = seq[j];
			seq[j] = t;
		}
	for (int i = 0; i + 1 < n.levels && !atomic_load(&stop); i++)
		nest_link(&n, r, seq[i]);
	for (int l = 0; l + 1 < n.levels; l++)
		complete &= n.linked[l];
	case_nest_chains++;

	/* A cycle is refused whatever its length. */
	if (complete && chance(r, 50)) {
		long long ms;
		int e = nest_add(n.kq[n.levels - 1], n.kq[0], &ms);

		if (e != ELOOP)
			fuzz_fail("nest: cycle over %d levels: %s, want ELOOP",
				  n.levels, e ? strerror(e) : "0");
		if (ms > CASE_ADD_MS)
			fuzz_fail("nest: cycle EV_ADD took %lld ms", ms);
	}

	/* An event at the bottom reaches the top of a complete chain. */
	EV_SET(&kev, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0,
	       NULL);
	if (kevent(n.kq[n.levels - 1], &kev, 1, NULL, 0, NULL) != 0)
		goto out;
	for (int tries = 0; tries < 5 && !atomic_load(&stop); tries++) {
		struct timespec ts = { 0, 100000000L };
		long long t0 = mono_ms();
		BUSY(0);
		int got = kevent(n.kq[0], NULL, 0, ev, NEST_DUPS, &ts);
		long long ms = mono_ms() - t0;

		IDLE(0);

		if (ms > CASE_SCAN_MS + 100)
			fuzz_fail("nest: scan of a %d-level chain took %lld "
				  "ms", n.levels, ms);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fuzz_fail("nest: scan: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < got; i++)
			if (ev[i].filter != EVFILT_READ || ev[i].data < 0 ||
			    (ev[i].flags & EV_ERROR))
				fuzz_fail("nest: top reported ident %d filter "
					  "%d flags 0x%x data %lld",
					  (int)ev[i].ident, ev[i].filter,
					  ev[i].flags, (long long)ev[i].data);
		if (got > 0 || !complete)
			break;
		if (tries == 4 && n.levels <= NEST_MAX_NEST)
			fuzz_fail("nest: an event at the bottom of a complete "
				  "%d-level chain never reached the top",
				  n.levels);
	}
out:
	/* Close in a random direction: inner first or outer first. */
	inner_first = chance(r, 50);
	for (int i = 0; i < n.levels; i++) {
		int l = inner_first ? n.levels - 1 - i : i;

		if (l + 1 < n.levels)
			for (int d = 0; d < n.ndup[l]; d++)
				close(n.dups[l][d]);
		if (n.kq[l] >= 0)
			close(n.kq[l]);
	}
}

void *case_nest_main(void *arg)
{
	struct rng r = { run_seed * 31 + 0x6e657374 };

	(void)arg;
	while (!atomic_load(&stop))
		nest_once(&r);
	return NULL;
}

/* ---- splice ------------------------------------------------------------- */

struct sp {
	int p[SP_PIPES][2];
	int sv[2];
	int file;
	int kq;
	char path[300];
};

static void sp_register(int kq, struct sp *s, int tagged)
{
	struct kevent ch[2 * SP_PIPES];

	for (int i = 0; i < SP_PIPES; i++) {
		EV_SET(&ch[2 * i], s->p[i][0], EVFILT_READ, EV_ADD, 0, 0,
		       tagged ? fuzz_tag(EVFILT_READ, s->p[i][0]) : NULL);
		EV_SET(&ch[2 * i + 1], s->p[i][1], EVFILT_WRITE,
		       EV_ADD | EV_CLEAR, 0, 0,
		       tagged ? fuzz_tag(EVFILT_WRITE, s->p[i][1]) : NULL);
	}
	/* A pool kqueue may be closed or replaced under us: no check. */
	(void)kevent(kq, ch, 2 * SP_PIPES, NULL, 0, NULL);
}

static void sp_scan(struct sp *s)
{
	struct kevent ev[2 * SP_PIPES];
	struct timespec zero = { 0, 0 };
	long long t0 = mono_ms();
	int n;
	long long ms;

	BUSY(1);
	n = kevent(s->kq, NULL, 0, ev, 2 * SP_PIPES, &zero);
	ms = mono_ms() - t0;
	IDLE(1);

	case_splice_scans++;
	if (n < 0 && errno == EINTR)
		return;
	if (n < 0) {
		fuzz_fail("splice: scan: %s", strerror(errno));
		return;
	}
	if (ms > CASE_SCAN_MS)
		fuzz_fail("splice: one scan took %lld ms", ms);
	for (int i = 0; i < n; i++)
		if (ev[i].data < 0 || ev[i].data > SP_MAX_CAP ||
		    (ev[i].flags & (EV_EOF | EV_ERROR)))
			fuzz_fail("splice: pipe event ident %d filter %d flags "
				  "0x%x data %lld", (int)ev[i].ident,
				  ev[i].filter, ev[i].flags,
				  (long long)ev[i].data);
}

static void sp_op(struct sp *s, struct rng *r, char *buf, size_t bufsz)
{
	int a = (int)below(r, SP_PIPES), b = (a + 1 + (int)below(r,
					SP_PIPES - 1)) % SP_PIPES;
	size_t len = 1 + below(r, bufsz);
	struct iovec iov = { buf, len };
	loff_t off = (loff_t)below(r, 65536);
	char sink[4096];

	switch (below(r, 12)) {
	case 0:
	case 1:
		(void)vmsplice(s->p[a][1], &iov, 1, SPLICE_F_NONBLOCK);
		break;
	case 2:
	case 3:
		(void)splice(s->p[a][0], NULL, s->p[b][1], NULL, len,
			     SPLICE_F_NONBLOCK);
		break;
	case 4:
		(void)tee(s->p[a][0], s->p[b][1], len, SPLICE_F_NONBLOCK);
		break;
	case 5:
		(void)splice(s->p[a][0], NULL, s->sv[0], NULL, len,
			     SPLICE_F_NONBLOCK);
		break;
	case 6:
		(void)splice(s->sv[1], NULL, s->p[a][1], NULL, len,
			     SPLICE_F_NONBLOCK);
		break;
	case 7:
		(void)splice(s->p[a][0], NULL, s->file, &off, len,
			     SPLICE_F_NONBLOCK);
		break;
	case 8:
		(void)splice(s->file, &off, s->p[a][1], NULL, len,
			     SPLICE_F_NONBLOCK);
		break;
	case 9:
		(void)!read(s->p[a][0], sink, len < sizeof(sink) ? len :
			    sizeof(sink));
		break;
	case 10:
		(void)!write(s->p[a][1], buf, len);
		break;
	default:
		(void)fcntl(s->p[a][1], F_SETPIPE_SZ,
			    4096 << below(r, 5));
		break;
	}
	case_splice_ops++;
}

void *case_splice_main(void *arg)
{
	static char buf[16384] __attribute__((aligned(4096)));
	struct rng r = { run_seed * 37 + 0x73706c69 };
	struct sp s;
	int ok = 1;

	(void)arg;
	memset(&s, 0xff, sizeof(s));
	memset(buf, 's', sizeof(buf));
	for (int i = 0; i < SP_PIPES; i++) {
		int p[2];

		if (pipe2(p, O_NONBLOCK) < 0) {
			ok = 0;
			break;
		}
		s.p[i][0] = high_fd(p[0]);
		s.p[i][1] = high_fd(p[1]);
	}
	int sv[2];

	if (ok && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0) {
		s.sv[0] = high_fd(sv[0]);
		s.sv[1] = high_fd(sv[1]);
	}
	snprintf(s.path, sizeof(s.path), "%s/splice.dat", scratch_dir);
	s.file = high_fd(open(s.path, O_RDWR | O_CREAT | O_TRUNC, 0600));
	if (s.file >= 0 && ftruncate(s.file, 65536) < 0)
		ok = 0;
	s.kq = high_fd(kqueue());
	if (!ok || s.sv[1] < 0 || s.file < 0 || s.kq < 0) {
		fuzz_fail("splice: setup: %s", strerror(errno));
		goto out;
	}
	sp_register(s.kq, &s, 0);
	while (!atomic_load(&stop)) {
		if (chance(&r, 3))
			sp_register(atomic_load_explicit(
				&pool[below(&r, POOL_KQ_SLOTS)].fd,
				memory_order_relaxed), &s, 1);
		BUSY(1);
		for (int i = 0; i < 8; i++)
			sp_op(&s, &r, buf, sizeof(buf));
		IDLE(1);
		sp_scan(&s);
	}
out:
	for (int i = 0; i < SP_PIPES; i++) {
		close(s.p[i][0]);
		close(s.p[i][1]);
	}
	close(s.sv[0]);
	close(s.sv[1]);
	close(s.file);
	close(s.kq);
	unlink(s.path);
	return NULL;
}

void case_report(void)
{
	printf("kqfuzz: cases: nest %lu chains, %lu EV_ADDs (%lu ELOOP, %lu "
	       "ENOMEM); splice %lu ops, %lu scans\n", case_nest_chains,
	       case_nest_adds, case_nest_eloop, case_nest_enomem,
	       case_splice_ops, case_splice_scans);
}
