/*
 * kqfuzz.c - a seeded, reproducible random driver of kevent(), through the
 * public API only (<sys/event.h>, -lkqueue).
 *
 *   kqfuzz [--seed S] [--seconds T] [--threads N] [--chaos 0|1]
 *          [--cases 0|1] [--ops N] [--hang-ms MS] [--trace]
 *
 * It prints its seed first.  Each fuzz thread draws its calls from its own
 * random stream (seed + thread number), so the same seed replays the same
 * calls; with several threads and the chaos thread (chaos.c) the
 * interleaving is the scheduler's, and `--threads 1 --chaos 0` repeats a
 * run's calls exactly (pids aside).  --ops N stops each thread after N
 * calls (to cut a failing run down); --trace writes every call to stderr
 * before it is made (the last line before a crash is the culprit).
 *
 * A call is: a kqueue (a shared one from the pool, the thread's private
 * one, another thread's, any pool descriptor, a closed or impossible
 * number); a changelist of random changes over every filter (implemented,
 * unimplemented and invalid numbers) with random flags, fflags, data and
 * idents (valid, closed, huge, negative, the kqueue itself, another
 * kqueue, pids, signals); an eventlist of random size; a timeout; and
 * sometimes bad pointers (NULL, a PROT_NONE page, a kernel address, a
 * non-canonical address, a read-only page, an array straddling the end of
 * a mapped page).
 *
 * What is checked for every call:
 *   - a failure is -1 with an errno kevent() may return; where the answer
 *     is determined (the thread's own kqueue, an impossible descriptor, a
 *     negative count, a bad pointer, a bad timeout) it is exactly that;
 *   - a result is never more than nevents, never more than what fits in
 *     a straddling array, and never positive for an unwritable eventlist;
 *   - nothing is written outside the eventlist's first `result` entries,
 *     and a read-only eventlist is left untouched;
 *   - EV_ERROR entries come first and only, in the order of the changes
 *     they copy, with an errno from FreeBSD's set (0 only with
 *     EV_RECEIPT);
 *   - every event carries a registered (ident, filter) (udata encodes
 *     them), a valid filter, only the flags a knote may report, sane data
 *     and fflags for its filter, and appears once per call;
 *   - no call outlives its timeout by more than --hang-ms (watchdog);
 *   - children forked with kqueues behave (chaos.c), and after the run a
 *     fresh kqueue still works.
 * With --cases 1 (the default) two scenario threads (cases.c) run beside
 * the fuzz threads for the same time: nested kqueue chains with many dups
 * per level, and splice/vmsplice/tee on pipes registered in kqueues.
 *
 * Any failure prints `FAIL kqfuzz: ...` with the seed; otherwise the run
 * ends with `PASS kqfuzz`.  Exit status 0 iff it passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

atomic_int stop;
uint64_t run_seed;
int nthreads = 4;
pthread_t *fuzz_tids;

static int run_seconds = 30;
static int use_chaos = 1;
static int use_cases = 1;
static int trace;
static unsigned long long max_ops;
static atomic_int threads_done;
static long long hang_ms = 30000;
static atomic_int nfailures;

#define MAXCH		320	/* changes per call, at most */
#define MAXEV		320	/* eventlist entries, at most */
#define GUARD		2	/* guard entries either side */
#define PATTERN		0xa5
#define GUARD_TIMER	1000	/* private kqueue's always-firing timer */

/*
 * A tag in udata: a magic number, the filter and the ident's low bits.
 * A 32-bit program's udata has room for 8, 8 and 16 bits of them.
 */
#if UINTPTR_MAX > UINT32_MAX
#define TAG_MAGIC	0x5eedULL
#define TAG_MAGIC_SHIFT	48
#define TAG_FILTER_SHIFT 40
#define TAG_IDENT_MASK	0xffffffffffULL
#else
#define TAG_MAGIC	0x5eULL
#define TAG_MAGIC_SHIFT	24
#define TAG_FILTER_SHIFT 16
#define TAG_IDENT_MASK	0xffffULL
#endif
#define UPTR_TOP_BIT	((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1))

/*
 * Unmapped from user space's point of view: kernel and non-canonical; for
 * a 32-bit program, the top of its 4 GiB (above a compat task's
 * TASK_SIZE) and its last page.
 */
#if UINTPTR_MAX > UINT32_MAX
#define KERNEL_PTR	((void *)0xffff888000000000ULL)
#define NONCANON_PTR	((void *)0x0000800000000000ULL)
#else
#define KERNEL_PTR	((void *)0xffffe000UL)
#define NONCANON_PTR	((void *)0xfffff000UL)
#endif

enum { CL_GOOD, CL_NULL, CL_NONE, CL_KERNEL, CL_NONCANON, CL_RO,
	CL_STRADDLE };
enum { EL_GOOD, EL_NULL, EL_NONE, EL_KERNEL, EL_NONCANON, EL_RO,
	EL_STRADDLE };
enum { TO_ZERO, TO_SHORT, TO_MED, TO_NULL, TO_HUGE, TO_BAD_NEG,
	TO_BAD_NSEC, TO_PTR_NONE, TO_PTR_KERNEL };
static const char *const cl_names[] = { "good", "null", "none", "kernel",
	"noncanon", "ro", "straddle" };
static const char *const to_names[] = { "zero", "short", "med", "null",
	"huge", "bad-neg", "bad-nsec", "ptr-none", "ptr-kernel" };

struct fthread {
	int idx;
	struct rng r;
	int privkq;
	unsigned char *pages;	/* RW | NONE | RO | RW | NONE */
	unsigned char *ro_copy;	/* what the RO page holds */
	long psz;
	struct kevent ch[MAXCH];
	struct kevent evbuf[MAXEV + 2 * GUARD];
	atomic_llong call_start;	/* ms; 0 outside kevent() */
	atomic_llong call_limit;	/* ms the call may take */
	unsigned long long ops, events, everrors, errs[140];
	char desc[1024];
};

static struct fthread *threads;

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void fuzz_fail(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = atomic_fetch_add(&nfailures, 1);
	if (n < 10)
		fprintf(stdout, "kqfuzz: check failed (seed %llu): %s\n",
			(unsigned long long)run_seed, buf);
	fflush(stdout);
	atomic_store(&stop, 1);
}

static void *tag(short filter, uintptr_t ident)
{
	return (void *)(uintptr_t)(TAG_MAGIC << TAG_MAGIC_SHIFT |
				   (uint64_t)(uint8_t)(-filter) <<
				   TAG_FILTER_SHIFT |
				   ((uint64_t)ident & TAG_IDENT_MASK));
}

void *fuzz_tag(short filter, uintptr_t ident)
{
	return tag(filter, ident);
}

static int errno_allowed_call(int e)
{
	switch (e) {
	case EBADF: case EINVAL: case EFAULT: case EINTR: case ENOENT:
	case ENOMEM: case ESRCH: case EPERM: case EOPNOTSUPP: case EACCES:
	case ELOOP: case EPIPE:
		return 1;
	default:
		return 0;
	}
}

/*
 * FreeBSD's errnos for a change (EV_ERROR data; EPIPE: EVFILT_WRITE on a
 * pipe without reader), plus ELOOP (README).
 */
static int errno_allowed_change(int64_t e)
{
	switch (e) {
	case EBADF: case EINVAL: case ENOENT: case ENOMEM: case ESRCH:
	case EPERM: case EOPNOTSUPP: case EACCES: case ELOOP: case EPIPE:
		return 1;
	default:
		return 0;
	}
}

/* ---- building a call ----------------------------------------------------- */

static int pool_fd(struct rng *r)
{
	return atomic_load_explicit(&pool[below(r, POOL_SLOTS)].fd,
				    memory_order_relaxed);
}

static int pool_kq(struct rng *r)
{
	return atomic_load_explicit(&pool[below(r, POOL_KQ_SLOTS)].fd,
				    memory_order_relaxed);
}

static uintptr_t fd_ident(struct fthread *t, int kq)
{
	static const uintptr_t odd[] = { (uintptr_t)INT_MAX,
		(uintptr_t)INT_MAX + 1,
		UINTPTR_MAX > UINT32_MAX ? (uintptr_t)(1ULL << 40) :
		UPTR_TOP_BIT, UINTPTR_MAX,
		(uintptr_t)-2, 1 << 20 };
	unsigned int p = (unsigned int)below(&t->r, 100);

	if (p < 55)
		return (uintptr_t)pool_fd(&t->r);	/* -1 if empty */
	if (p < 63)
		return (uintptr_t)kq;
	if (p < 71)
		return (uintptr_t)pool_kq(&t->r);
	if (p < 76)
		return (uintptr_t)threads[below(&t->r,
					       (uint64_t)nthreads)].privkq;
	if (p < 84)
		return below(&t->r, 64);	/* < FUZZ_LOW_FDS */
	if (p < 92)
		return odd[below(&t->r, sizeof(odd) / sizeof(odd[0]))];
	return below(&t->r, 3);
}

static uintptr_t proc_ident(struct fthread *t)
{
	switch (below(&t->r, 8)) {
	case 0: return (uintptr_t)getpid();
	case 1: return 1;
	case 2: return 0;
	case 3: return 1U << 22;	/* beyond pid_max */
	case 4: return UINTPTR_MAX;
	default:
		return (uintptr_t)atomic_load(&child_pids[below(&t->r,
							       CHILD_PIDS)]);
	}
}

static unsigned short gen_flags(struct rng *r)
{
	static const unsigned short extra[] = { EV_ONESHOT, EV_CLEAR,
		EV_DISPATCH, EV_RECEIPT, EV_KEEPUDATA, EV_FORCEONESHOT,
		EV_ENABLE, EV_DISABLE, EV_DELETE, EV_SYSFLAGS, 0x0400, 0x0800 };
	unsigned int p = (unsigned int)below(r, 100);
	unsigned short f;

	if (p < 8)
		return (unsigned short)rnd(r);
	if (p < 65)
		f = EV_ADD;
	else if (p < 77)
		f = EV_DELETE;
	else if (p < 85)
		f = EV_ENABLE;
	else if (p < 93)
		f = EV_DISABLE;
	else
		f = 0;
	for (unsigned int i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (chance(r, i < 5 ? 12 : 3))
			f |= extra[i];
	return f;
}

static unsigned int rand_bits(struct rng *r, unsigned int mask)
{
	return (unsigned int)rnd(r) & mask;
}

static void gen_change(struct fthread *t, int kq, struct kevent *kev)
{
	static const short unimpl[] = { EVFILT_AIO, EVFILT_PROCDESC,
		EVFILT_FS, EVFILT_LIO, EVFILT_SENDFILE, 0, 1, -14, -100,
		SHRT_MIN, SHRT_MAX };
	struct rng *r = &t->r;
	unsigned int p = (unsigned int)below(r, 100);
	short filter;
	uintptr_t ident;
	unsigned int fflags = 0;
	int64_t data = 0;

	if (p < 20)
		filter = EVFILT_READ;
	else if (p < 32)
		filter = EVFILT_WRITE;
	else if (p < 40)
		filter = EVFILT_VNODE;
	else if (p < 48)
		filter = EVFILT_PROC;
	else if (p < 56)
		filter = EVFILT_SIGNAL;
	else if (p < 70)
		filter = EVFILT_TIMER;
	else if (p < 84)
		filter = EVFILT_USER;
	else if (p < 91)
		filter = EVFILT_EMPTY;
	else
		filter = unimpl[below(r, sizeof(unimpl) / sizeof(unimpl[0]))];

	switch (filter) {
	case EVFILT_PROC:
		ident = proc_ident(t);
		fflags = rand_bits(r, NOTE_EXIT | NOTE_FORK | NOTE_EXEC |
				   NOTE_TRACK | NOTE_TRACKERR | NOTE_CHILD);
		if (chance(r, 5))
			fflags = (unsigned int)rnd(r);
		break;
	case EVFILT_SIGNAL:
		ident = chance(r, 40) ? SIG_SELF : chance(r, 10) ?
			(uintptr_t)rnd(r) : below(r, 70);
		break;
	case EVFILT_TIMER:
	case EVFILT_USER:
		ident = chance(r, 95) ? below(r, 16) :
			(uintptr_t)rnd(r) | UPTR_TOP_BIT;
		if (filter == EVFILT_TIMER) {
			static const unsigned int units[] = { 0,
				NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS,
				NOTE_NSECONDS };
			unsigned int u = units[below(r, 5)];

			fflags = u;
			/* Periods from 1 us to ~50 ms mostly. */
			data = u == NOTE_SECONDS ? (int64_t)below(r, 2) :
			       u == NOTE_USECONDS ? 1 +
						    (int64_t)below(r, 50000) :
			       u == NOTE_NSECONDS ? 1000 +
						    (int64_t)below(r, 5000000) :
			       (int64_t)below(r, 50);
			if (chance(r, 5))
				fflags |= NOTE_ABSTIME;
			if (chance(r, 5))
				data = (int64_t)rnd(r);
			if (chance(r, 3))
				fflags = (unsigned int)rnd(r);
		} else {
			fflags = rand_bits(r, NOTE_FFCTRLMASK | 0xff) |
				 (chance(r, 50) ? NOTE_TRIGGER : 0);
			if (chance(r, 5))
				fflags = (unsigned int)rnd(r);
		}
		break;
	default:
		ident = fd_ident(t, kq);
		if (filter == EVFILT_VNODE) {
			fflags = rand_bits(r, 0xfff);
		} else if (filter == EVFILT_READ || filter == EVFILT_WRITE) {
			if (chance(r, 15)) {
				fflags = chance(r, 50) ? NOTE_LOWAT :
					 NOTE_FILE_POLL;
				data = chance(r, 80) ? (int64_t)below(r, 8192) :
				       (int64_t)rnd(r);
			}
		}
		if (chance(r, 3))
			fflags = (unsigned int)rnd(r);
		break;
	}
	if (chance(r, 3))
		data = (int64_t)rnd(r);
	EV_SET(kev, ident, filter, gen_flags(r), fflags, data,
	       tag(filter, ident));
	if (chance(r, 1)) {
		/* Untagged: a random value that cannot pass for a tag. */
		uintptr_t u = (uintptr_t)rnd(r);

		if (u >> TAG_MAGIC_SHIFT == TAG_MAGIC)
			u ^= UPTR_TOP_BIT;
		kev->udata = (void *)u;
	}
}

/* ---- checking the result ------------------------------------------------- */

struct call {
	int kq, own, bad_kq;
	int nch, nev, cl, el, to;
	int fit;		/* EL_STRADDLE: entries that fit */
	const struct kevent *chp;
	struct kevent *evp;
	struct timespec ts;
	const struct timespec *tsp;
};

#define CHECK_FAIL(t, c, ...) do {					\
	char m_[512];							\
	(void)(c);							\
	snprintf(m_, sizeof(m_), __VA_ARGS__);				\
	fuzz_fail("thread %d op %llu: %s [%s]", (t)->idx, (t)->ops,	\
		  m_, (t)->desc);					\
} while (0)

static int ev_filter_ok(short f)
{
	return f == EVFILT_READ || f == EVFILT_WRITE || f == EVFILT_VNODE ||
	       f == EVFILT_PROC || f == EVFILT_SIGNAL ||
	       f == EVFILT_TIMER || f == EVFILT_USER || f == EVFILT_EMPTY;
}

static void check_event(struct fthread *t, const struct call *c,
			const struct kevent *e)
{
	uint64_t u = (uint64_t)(uintptr_t)e->udata;
	/* What a knote keeps from its EV_ADD, and EV_EOF. */
	unsigned short allowed = EV_EOF | EV_ONESHOT | EV_CLEAR | EV_DISPATCH |
				 EV_RECEIPT | EV_KEEPUDATA;

	if (!ev_filter_ok(e->filter))
		CHECK_FAIL(t, c, "event with filter %d", e->filter);
	if (e->flags & ~allowed)
		CHECK_FAIL(t, c, "event (ident %ju filter %d) flags 0x%x",
			   (uintmax_t)e->ident, e->filter, e->flags);
	/* Untagged udata: registered through the 1% untagged changes. */
	if (u >> TAG_MAGIC_SHIFT == TAG_MAGIC) {
		if (((u >> TAG_FILTER_SHIFT) & 0xff) != (uint8_t)(-e->filter))
			CHECK_FAIL(t, c, "event filter %d, registered as %d",
				   e->filter,
				   -(int)((u >> TAG_FILTER_SHIFT) & 0xff));
		if (e->filter != EVFILT_PROC &&
		    (u & TAG_IDENT_MASK) != (e->ident & TAG_IDENT_MASK))
			CHECK_FAIL(t, c, "event ident %ju, registered for "
				   "%ju (filter %d)", (uintmax_t)e->ident,
				   (uintmax_t)(u & TAG_IDENT_MASK),
				   e->filter);
	}
	switch (e->filter) {
	case EVFILT_READ:
	case EVFILT_WRITE:
	case EVFILT_EMPTY:
	case EVFILT_VNODE:
		if (e->ident > INT_MAX)
			CHECK_FAIL(t, c, "fd event for ident %ju",
				   (uintmax_t)e->ident);
		if (e->filter == EVFILT_VNODE &&
		    ((e->fflags == 0 && !(e->flags & EV_ONESHOT)) ||
		     (e->fflags & ~0xfffU)))
			CHECK_FAIL(t, c, "VNODE event flags 0x%x fflags 0x%x",
				   e->flags, e->fflags);
		if (e->filter != EVFILT_VNODE && e->data < 0)
			CHECK_FAIL(t, c, "filter %d data %jd", e->filter,
				   (intmax_t)e->data);
		break;
	case EVFILT_TIMER:
	case EVFILT_SIGNAL:
		/* EV_FORCEONESHOT reports it even with nothing counted. */
		if (e->data < 1 && !(e->data == 0 && (e->flags & EV_ONESHOT)))
			CHECK_FAIL(t, c, "filter %d ident %ju flags 0x%x data "
				   "%jd", e->filter, (uintmax_t)e->ident,
				   e->flags, (intmax_t)e->data);
		if (e->filter == EVFILT_SIGNAL &&
		    (e->ident < 1 || e->ident > 64))
			CHECK_FAIL(t, c, "signal event ident %ju",
				   (uintmax_t)e->ident);
		break;
	case EVFILT_USER:
		if (e->fflags & NOTE_FFCTRLMASK)
			CHECK_FAIL(t, c, "USER event fflags 0x%x", e->fflags);
		break;
	case EVFILT_PROC:
		/* Nothing asked for: only the exit (EV_EOF) or a force. */
		if ((e->fflags == 0 &&
		     !(e->flags & (EV_EOF | EV_ONESHOT))) ||
		    (e->fflags & ~(NOTE_PCTRLMASK | NOTE_TRACK |
				   NOTE_TRACKERR | NOTE_CHILD)))
			CHECK_FAIL(t, c, "PROC event flags 0x%x fflags 0x%x",
				   e->flags, e->fflags);
		break;
	default:
		break;
	}
}

static void check_result(struct fthread *t, const struct call *c, int ret,
			 int err)
{
	const struct kevent *ev = c->evp;
	int readable = c->el == EL_GOOD || c->el == EL_STRADDLE;
	int n_err = 0;

	if (ret < -1)
		CHECK_FAIL(t, c, "returned %d", ret);
	if (ret == -1) {
		t->errs[err < 140 && err >= 0 ? err : 0]++;
		if (!errno_allowed_call(err))
			CHECK_FAIL(t, c, "errno %d (%s)", err, strerror(err));
		if (c->bad_kq && err != EBADF)
			CHECK_FAIL(t, c, "kq %d impossible: errno %s, want "
				   "EBADF", c->kq, strerror(err));
		if (!c->own)
			return;
		if ((c->nch < 0 || c->nev < 0) && err != EINVAL)
			CHECK_FAIL(t, c, "negative count: errno %s, want "
				   "EINVAL", strerror(err));
		if (c->nch > 0 && c->nev >= 0 && c->cl != CL_GOOD &&
		    c->cl != CL_RO && c->cl != CL_STRADDLE && err != EFAULT)
			CHECK_FAIL(t, c, "bad changelist: errno %s, want "
				   "EFAULT", strerror(err));
		return;
	}
	if (c->bad_kq)
		CHECK_FAIL(t, c, "kq %d impossible: returned %d", c->kq, ret);
	if (c->nch < 0 || c->nev < 0)
		CHECK_FAIL(t, c, "negative count: returned %d", ret);
	if (ret > c->nev)
		CHECK_FAIL(t, c, "returned %d > nevents %d", ret, c->nev);
	if (c->own && c->nch > 0 && c->cl != CL_GOOD && c->cl != CL_RO &&
	    c->cl != CL_STRADDLE)
		CHECK_FAIL(t, c, "bad changelist: returned %d", ret);
	if (ret > 0 && !readable)
		CHECK_FAIL(t, c, "unwritable eventlist: returned %d", ret);
	if (ret > 0 && c->el == EL_STRADDLE && ret > c->fit)
		CHECK_FAIL(t, c, "straddling eventlist: returned %d, only "
			   "%d fit", ret, c->fit);
	if (c->own && c->nev > 0 && ret == 0 &&
	    (c->to == TO_BAD_NEG || c->to == TO_BAD_NSEC ||
	     c->to == TO_PTR_NONE || c->to == TO_PTR_KERNEL))
		CHECK_FAIL(t, c, "bad timeout (%s): returned 0",
			   to_names[c->to]);
	if (ret <= 0 || !readable || ret > c->nev ||
	    (c->el == EL_STRADDLE && ret > c->fit))
		return;

	/* EV_ERROR entries: first and only, in change order. */
	if (ev[0].flags & EV_ERROR) {
		int next = 0;

		for (int i = 0; i < ret; i++) {
			const struct kevent *e = &ev[i];
			int j;

			if (!(e->flags & EV_ERROR)) {
				CHECK_FAIL(t, c, "entry %d is an event after "
					   "EV_ERROR entries", i);
				return;
			}
			if (c->cl != CL_GOOD && c->cl != CL_RO &&
			    c->cl != CL_STRADDLE)
				continue;
			/*
			 * t->ch: what the changelist holds, readable.  The
			 * earliest change that can have made the entry (data
			 * 0 needs EV_RECEIPT) leaves the most for the rest.
			 */
			for (j = next; j < c->nch; j++)
				if (t->ch[j].ident == e->ident &&
				    t->ch[j].filter == e->filter &&
				    t->ch[j].udata == e->udata &&
				    (e->data || (t->ch[j].flags & EV_RECEIPT)))
					break;
			if (j == c->nch) {
				CHECK_FAIL(t, c, "EV_ERROR entry %d (ident %ju"
					   " filter %d data %jd) matches no "
					   "change (data 0 needs EV_RECEIPT)",
					   i, (uintmax_t)e->ident, e->filter,
					   (intmax_t)e->data);
				return;
			}
			next = j + 1;
			if (e->data != 0 && !errno_allowed_change(e->data))
				CHECK_FAIL(t, c, "EV_ERROR entry %d: errno "
					   "%jd", i, (intmax_t)e->data);
			n_err++;
		}
		t->everrors += (unsigned long long)n_err;
		return;
	}
	for (int i = 0; i < ret; i++) {
		if (ev[i].flags & EV_ERROR) {
			CHECK_FAIL(t, c, "EV_ERROR entry %d after events", i);
			return;
		}
		check_event(t, c, &ev[i]);
		for (int j = 0; j < i; j++)
			if (ev[j].ident == ev[i].ident &&
			    ev[j].filter == ev[i].filter)
				CHECK_FAIL(t, c, "(ident %ju, filter %d) "
					   "reported twice in one call",
					   (uintmax_t)ev[i].ident,
					   ev[i].filter);
	}
	t->events += (unsigned long long)ret;
}

static void check_guards(struct fthread *t, const struct call *c, int ret)
{
	const unsigned char *b = (const unsigned char *)t->evbuf;
	size_t esz = sizeof(struct kevent);
	size_t from, to = (GUARD + MAXEV + GUARD) * esz;

	if (c->el == EL_RO && memcmp(t->pages + 2 * t->psz, t->ro_copy,
				     (size_t)t->psz))
		CHECK_FAIL(t, c, "read-only eventlist was changed");
	if (c->el != EL_GOOD)
		return;
	for (size_t i = 0; i < GUARD * esz; i++)
		if (b[i] != PATTERN) {
			CHECK_FAIL(t, c, "written before the eventlist");
			return;
		}
	/* Beyond the result (or beyond nevents if it failed). */
	from = (GUARD + (size_t)(ret >= 0 ? ret : (c->nev > 0 ? c->nev : 0)))
	       * esz;
	for (size_t i = from; i < to; i++)
		if (b[i] != PATTERN) {
			CHECK_FAIL(t, c, "byte %zu past entry %d written "
				   "(nevents %d)", i - from, ret, c->nev);
			return;
		}
}

/* ---- one call ----------------------------------------------------------- */

static void describe(struct fthread *t, const struct call *c)
{
	int n = snprintf(t->desc, sizeof(t->desc),
			 "kq=%d%s nch=%d cl=%s nev=%d el=%s to=%s",
			 c->kq, c->own ? "(own)" : "", c->nch,
			 cl_names[c->cl], c->nev, cl_names[c->el],
			 to_names[c->to]);

	for (int i = 0; i < c->nch && i < 6 &&
	     n < (int)sizeof(t->desc) - 80; i++)
		n += snprintf(t->desc + n, sizeof(t->desc) - (size_t)n,
			      " {%jd,%d,0x%x,0x%x,%jd}",
			      (intmax_t)t->ch[i].ident, t->ch[i].filter,
			      t->ch[i].flags, t->ch[i].fflags,
			      (intmax_t)t->ch[i].data);
}

static int pick_count(struct rng *r, int max_small)
{
	unsigned int p = (unsigned int)below(r, 100);

	if (p < 18)
		return 0;
	if (p < 63)
		return 1 + (int)below(r, 4);
	if (p < 88)
		return 5 + (int)below(r, (uint64_t)max_small);
	if (p < 96)
		return 21 + (int)below(r, 44);
	if (p < 98)
		return 250 + (int)below(r, 60);
	return -1 - (int)below(r, 3);
}

static void one_call(struct fthread *t)
{
	struct rng *r = &t->r;
	struct call c = { 0 };
	unsigned int p = (unsigned int)below(r, 100);
	unsigned char *pg = t->pages;
	long psz = t->psz;
	size_t esz = sizeof(struct kevent);
	int ret, err, nbuild;

	/* The kqueue. */
	if (p < 58) {
		c.kq = pool_kq(r);
	} else if (p < 78) {
		c.kq = t->privkq;
		c.own = 1;
	} else if (p < 83) {
		c.kq = threads[below(r, (uint64_t)nthreads)].privkq;
		c.own = c.kq == t->privkq;
	} else if (p < 91) {
		c.kq = pool_fd(r);
	} else if (p < 95) {
		static const int bad[] = { -1, -100, INT_MAX, 1 << 20 };

		c.kq = bad[below(r, 4)];
		c.bad_kq = 1;
	} else {
		c.kq = (int)below(r, FUZZ_LOW_FDS);
	}

	/* The changes. */
	c.nch = pick_count(r, 16);
	nbuild = c.nch > 0 ? c.nch : 0;
	for (int i = 0; i < nbuild; i++)
		gen_change(t, c.kq, &t->ch[i]);
	p = (unsigned int)below(r, 100);
	c.cl = p < 84 ? CL_GOOD : p < 87 ? CL_NULL : p < 90 ? CL_NONE :
	       p < 92 ? CL_KERNEL : p < 93 ? CL_NONCANON : p < 96 ? CL_RO :
	       CL_STRADDLE;
	if (c.cl == CL_RO && (size_t)nbuild * esz > (size_t)psz)
		c.cl = CL_GOOD;
	switch (c.cl) {
	case CL_GOOD: c.chp = t->ch; break;
	case CL_NULL: c.chp = NULL; break;
	case CL_NONE: c.chp = (struct kevent *)(pg + psz); break;
	case CL_KERNEL: c.chp = KERNEL_PTR; break;
	case CL_NONCANON: c.chp = NONCANON_PTR; break;
	case CL_RO:
		mprotect(pg + 2 * psz, (size_t)psz, PROT_READ | PROT_WRITE);
		memcpy(pg + 2 * psz, t->ch, (size_t)nbuild * esz);
		memcpy(t->ro_copy, pg + 2 * psz, (size_t)psz);
		mprotect(pg + 2 * psz, (size_t)psz, PROT_READ);
		c.chp = (struct kevent *)(pg + 2 * psz);
		break;
	default: {
		/* k whole changes (maybe misaligned) before a PROT_NONE page */
		int k = nbuild ? (int)below(r, (uint64_t)nbuild) : 0;

		if ((size_t)k * esz + esz > (size_t)psz)
			k = (int)((size_t)psz / esz) - 1;
		size_t off = (size_t)k * esz + (chance(r, 50) ? 0 : 12);
		unsigned char *at = pg + 4 * psz - off;

		memcpy(at, t->ch, off);
		c.chp = (struct kevent *)at;
		break;
	}
	}

	/* The eventlist. */
	c.nev = pick_count(r, 60);
	p = (unsigned int)below(r, 100);
	c.el = p < 80 ? EL_GOOD : p < 84 ? EL_NULL : p < 87 ? EL_NONE :
	       p < 89 ? EL_KERNEL : p < 90 ? EL_NONCANON : p < 94 ? EL_RO :
	       EL_STRADDLE;
	if (c.el == EL_GOOD && c.nev > MAXEV)
		c.nev = MAXEV;
	switch (c.el) {
	case EL_GOOD:
		memset(t->evbuf, PATTERN, sizeof(t->evbuf));
		c.evp = t->evbuf + GUARD;
		break;
	case EL_NULL: c.evp = NULL; break;
	case EL_NONE: c.evp = (struct kevent *)(pg + psz); break;
	case EL_KERNEL: c.evp = KERNEL_PTR; break;
	case EL_NONCANON: c.evp = NONCANON_PTR; break;
	case EL_RO:
		c.evp = (struct kevent *)(pg + 2 * psz);
		memcpy(t->ro_copy, pg + 2 * psz, (size_t)psz);
		break;
	default: {
		size_t mis = chance(r, 50) ? 0 : 8;

		c.fit = (int)below(r, 5);
		c.evp = (struct kevent *)(pg + psz - (size_t)c.fit * esz -
					  mis);
		if (c.nev >= 0)
			c.nev = c.fit + 1 + (int)below(r, 8);
		break;
	}
	}

	/* The timeout.  Waiting for ever only where the guard timer fires. */
	p = (unsigned int)below(r, 100);
	c.to = p < 30 ? TO_ZERO : p < 67 ? TO_SHORT : p < 71 ? TO_MED :
	       p < 77 ? TO_NULL : p < 80 ? TO_HUGE : p < 85 ? TO_BAD_NEG :
	       p < 90 ? TO_BAD_NSEC : p < 95 ? TO_PTR_NONE : TO_PTR_KERNEL;
	if ((c.to == TO_NULL || c.to == TO_HUGE) && !c.own)
		c.to = TO_SHORT;
	c.tsp = &c.ts;
	long long limit = 0;
	switch (c.to) {
	case TO_ZERO: break;
	case TO_SHORT:
		c.ts.tv_nsec = (long)below(r, 20) * 1000000L;
		limit = 20;
		break;
	case TO_MED:
		c.ts.tv_nsec = 50000000L + (long)below(r, 150) * 1000000L;
		limit = 200;
		break;
	case TO_NULL: c.tsp = NULL; break;
	case TO_HUGE: c.ts.tv_sec = LONG_MAX; break;
	case TO_BAD_NEG:
		c.ts.tv_sec = chance(r, 50) ? -1 : 0;
		c.ts.tv_nsec = c.ts.tv_sec ? 0 : -1;
		break;
	case TO_BAD_NSEC:
		c.ts.tv_nsec = chance(r, 50) ? 1000000000L : LONG_MAX;
		break;
	case TO_PTR_NONE: c.tsp = (struct timespec *)(pg + psz); break;
	default: c.tsp = KERNEL_PTR; break;
	}

	t->ops++;
	describe(t, &c);
	if (trace) {
		char line[1200];
		int n = snprintf(line, sizeof(line), "T%d #%llu %s\n", t->idx,
				 t->ops, t->desc);

		if (write(2, line, (size_t)n) < 0)
			trace = 0;
	}
	atomic_store(&t->call_limit, limit);
	atomic_store(&t->call_start, mono_ms());
	errno = 0;
	ret = kevent(c.kq, c.chp, c.nch, c.evp, c.nev, c.tsp);
	err = errno;
	atomic_store(&t->call_start, 0);

	check_guards(t, &c, ret);
	check_result(t, &c, ret, err);
}

/* ---- threads ------------------------------------------------------------- */

static void *fuzz_main(void *arg)
{
	struct fthread *t = arg;

	while (!atomic_load(&stop) && (!max_ops || t->ops < max_ops))
		one_call(t);
	atomic_fetch_add(&threads_done, 1);
	return NULL;
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		long long now = mono_ms();

		for (int i = 0; i < nthreads; i++) {
			struct fthread *t = &threads[i];
			long long s = atomic_load(&t->call_start);
			long long l = atomic_load(&t->call_limit);

			if (s && now - s > l + hang_ms) {
				printf("FAIL kqfuzz: seed %llu: thread %d op "
				       "%llu in kevent() for %lld ms "
				       "(timeout %lld ms): %s\n",
				       (unsigned long long)run_seed, i,
				       t->ops, now - s, l, t->desc);
				fflush(stdout);
				_exit(1);
			}
		}
		for (int c = 0; c < NR_CASES; c++) {
			long long s = atomic_load(&case_busy_since[c]);

			if (s && now - s > hang_ms) {
				printf("FAIL kqfuzz: seed %llu: case %s stuck "
				       "in a system call for %lld ms\n",
				       (unsigned long long)run_seed,
				       case_names[c], now - s);
				fflush(stdout);
				_exit(1);
			}
		}
		struct timespec ts = { 0, 200000000L };

		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
}

static int setup_thread(struct fthread *t, int idx)
{
	struct kevent kev;

	t->idx = idx;
	t->r.s = run_seed * 0x100000001b3ULL + (uint64_t)idx * 7919 + 1;
	t->psz = sysconf(_SC_PAGESIZE);
	t->pages = mmap(NULL, 5 * (size_t)t->psz, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->ro_copy = malloc((size_t)t->psz);
	if (t->pages == MAP_FAILED || !t->ro_copy)
		return -1;
	memset(t->pages + 2 * t->psz, PATTERN, (size_t)t->psz);
	mprotect(t->pages + t->psz, (size_t)t->psz, PROT_NONE);
	mprotect(t->pages + 2 * t->psz, (size_t)t->psz, PROT_READ);
	mprotect(t->pages + 4 * t->psz, (size_t)t->psz, PROT_NONE);
	t->privkq = kqueue();
	if (t->privkq < 0)
		return -1;
	EV_SET(&kev, GUARD_TIMER, EVFILT_TIMER, EV_ADD, NOTE_MSECONDS, 1,
	       tag(EVFILT_TIMER, GUARD_TIMER));
	return kevent(t->privkq, &kev, 1, NULL, 0, NULL);
}

/* After the run: a fresh kqueue must still work. */
static int health_check(void)
{
	struct kevent ch[2], ev[4];
	struct timespec ts = { 5, 0 };
	int kq = kqueue(), n, got = 0;

	if (kq < 0)
		return -1;
	EV_SET(&ch[0], 7, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0,
	       (void *)0x77);
	EV_SET(&ch[1], 8, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 1,
	       (void *)0x88);
	if (kevent(kq, ch, 2, NULL, 0, NULL) != 0)
		return -1;
	while (got != 3) {
		n = kevent(kq, NULL, 0, ev, 4, &ts);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			got |= ev[i].udata == (void *)0x77 ? 1 :
			       ev[i].udata == (void *)0x88 ? 2 : 4;
	}
	close(kq);
	return got == 3 ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: kqfuzz [--seed S] [--seconds T] "
		"[--threads N] [--chaos 0|1] [--cases 0|1] [--ops N] "
		"[--hang-ms MS] "
		"[--trace]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	pthread_t chaos, dog, nest_th, splice_th;
	struct sigaction sa = { .sa_handler = on_signal };
	int have_seed = 0;
	long long t0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--exec-child") && i + 1 < argc)
			return exec_child_main(atoi(argv[i + 1]));
		if (!strcmp(a, "--trace")) {
			trace = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--seed")) {
			run_seed = strtoull(argv[++i], NULL, 0);
			have_seed = 1;
		} else if (!strcmp(a, "--seconds")) {
			run_seconds = atoi(argv[++i]);
		} else if (!strcmp(a, "--threads")) {
			nthreads = atoi(argv[++i]);
		} else if (!strcmp(a, "--chaos")) {
			use_chaos = atoi(argv[++i]);
		} else if (!strcmp(a, "--cases")) {
			use_cases = atoi(argv[++i]);
		} else if (!strcmp(a, "--ops")) {
			max_ops = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(a, "--hang-ms")) {
			hang_ms = atoll(argv[++i]);
		} else {
			usage();
		}
	}
	if (nthreads < 1 || nthreads > 64 || run_seconds < 0)
		usage();
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		run_seed = ((uint64_t)ts.tv_sec * 1000003ULL) ^
			   (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
		run_seed %= 1000000000000ULL;
	}
	printf("kqfuzz: seed %llu threads %d seconds %d chaos %d\n",
	       (unsigned long long)run_seed, nthreads, run_seconds, use_chaos);
	printf("kqfuzz: reproduce with: kqfuzz --seed %llu --seconds %d "
	       "--threads %d%s\n", (unsigned long long)run_seed, run_seconds,
	       nthreads, use_chaos ? "" : " --chaos 0");
	fflush(stdout);

	sigaction(SIG_POKE, &sa, NULL);
	sigaction(SIG_SELF, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct rng master = { run_seed };
	pool_init(&master);
	threads = calloc((size_t)nthreads, sizeof(*threads));
	fuzz_tids = calloc((size_t)nthreads, sizeof(*fuzz_tids));
	if (!threads || !fuzz_tids)
		return 2;
	for (int i = 0; i < nthreads; i++) {
		if (setup_thread(&threads[i], i) < 0) {
			printf("FAIL kqfuzz: setup: %s\n", strerror(errno));
			return 1;
		}
	}

	pool_fill_low();
	t0 = mono_ms();
	for (int i = 0; i < nthreads; i++)
		pthread_create(&fuzz_tids[i], NULL, fuzz_main, &threads[i]);
	pthread_create(&dog, NULL, watchdog_main, NULL);
	if (use_chaos)
		pthread_create(&chaos, NULL, chaos_main, NULL);
	if (use_cases) {
		pthread_create(&nest_th, NULL, case_nest_main, NULL);
		pthread_create(&splice_th, NULL, case_splice_main, NULL);
	}
	while (!atomic_load(&stop) && mono_ms() - t0 < run_seconds * 1000LL &&
	       atomic_load(&threads_done) < nthreads) {
		struct timespec ts = { 0, 100000000L };

		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, 1);
	if (use_chaos)
		pthread_join(chaos, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(fuzz_tids[i], NULL);
	if (use_cases) {
		pthread_join(nest_th, NULL);
		pthread_join(splice_th, NULL);
	}
	pthread_join(dog, NULL);
	reap_all_children();
	pool_close_all();

	unsigned long long ops = 0, events = 0, everr = 0, errs[140] = { 0 };
	for (int i = 0; i < nthreads; i++) {
		ops += threads[i].ops;
		events += threads[i].events;
		everr += threads[i].everrors;
		for (int e = 0; e < 140; e++)
			errs[e] += threads[i].errs[e];
		close(threads[i].privkq);
	}
	printf("kqfuzz: %llu calls in %lld ms: %llu events, %llu EV_ERROR "
	       "entries; failed calls:", ops, mono_ms() - t0, events, everr);
	for (int e = 0; e < 140; e++)
		if (errs[e])
			printf(" %s %llu", e ? strerror(e) : "other", errs[e]);
	printf("\n");
	if (use_chaos)
		chaos_report();
	if (use_cases)
		case_report();
	if (health_check() < 0)
		fuzz_fail("a fresh kqueue does not work after the run");
	if (atomic_load(&nfailures)) {
		printf("FAIL kqfuzz: %d failed checks (seed %llu)\n",
		       atomic_load(&nfailures), (unsigned long long)run_seed);
		return 1;
	}
	printf("PASS kqfuzz\n");
	return 0;
}
