/*
 * kmod_ring.c - the library's side of kqueue.ko's completion ring: each
 * kqueue the module backend creates is mmap()ed once, and kevent() with
 * no changes takes the events the kernel posted there without a system
 * call when the kernel's own list is empty (kmod/kq_ring.c has the
 * protocol and its memory ordering; include/uapi/kqueue_ioctl.h the
 * layout).  KQUEUE_RING=0 in the environment as a kqueue is created
 * leaves it unmapped (every kevent() is then an ioctl), as does the
 * module's parameter ring=0 (the mmap() fails).
 *
 * The rings are found by descriptor in a table that only grows: lookups
 * (in kevent(), maybe in a signal handler) load one pointer and take no
 * lock; kqueue() creation adds entries under ring_lock.  A table that is
 * replaced by a bigger one is never freed, so a lookup racing with the
 * growth still reads valid memory.  A descriptor whose kqueue was closed
 * keeps its mapping until a new kqueue gets that number, or until the
 * kernel's KQ_RING_DEAD sends the call to the ioctl (which then answers
 * for whatever the number is now).
 *
 * A fork child has no mapping (the kernel does not copy it) and no
 * kqueue (the module closes it there).  The tables are anonymous memory
 * with MADV_WIPEONFORK, so a child -- of fork(), or of a clone() without
 * CLONE_VM that runs no atfork handler -- finds them zeroed: no ring, and
 * its kevent() calls go to the ioctl and get EBADF.
 *
 * The ring's entries are struct kq_uevent (32 bytes) for every process; a
 * 32-bit program's library converts each entry into its 24-byte struct
 * kevent as it copies it out (ring_copy()), so 32-bit programs use the
 * ring as 64-bit ones do.
 *
 * Locking: ring_lock (a mutex) serialises table changes; consumers use
 * only atomics on the shared header.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kq_internal.h"
#include "kqueue_ioctl.h"

struct ring_map {
	struct kq_ring_hdr *hdr;
	const struct kq_uevent *ev;	/* the entries, 64-bit layout */
};

struct ring_table {
	size_t bytes;		/* of the mapping; 0 in a fork child */
	int len;
	struct ring_map *map[];
};

static struct ring_table *ring_tab;	/* atomic pointer */

/*
 * What the kernel has accepted from this thread: the eventlists it wrote
 * to, with the most entries it wrote to each, and the timeouts it read.
 * The fast path writes only into such an eventlist, and reads only such
 * a timeout: a bad pointer still goes to the ioctl and gets EFAULT there,
 * as on FreeBSD, instead of faulting in the library, and a timeout the
 * library has not seen accepted is checked by the kernel first.  (Memory
 * unmapped or made read-only after the kernel accepted it can still fault
 * here: README.)
 */
#define RING_OK_SLOTS	4
struct ring_ok {
	const void *p;
	int n;
};
static __thread struct ring_ok ring_ok_ev[RING_OK_SLOTS]
	__attribute__((tls_model("initial-exec")));
static __thread struct ring_ok ring_ok_ts[RING_OK_SLOTS]
	__attribute__((tls_model("initial-exec")));
static __thread unsigned int ring_ok_next
	__attribute__((tls_model("initial-exec")));

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

_Static_assert(sizeof(struct kq_uevent) == 32, "ring entry size");

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void ring_atfork_child(void)
{
	/* The tables read as zeros here (MADV_WIPEONFORK): start afresh. */
	__atomic_store_n(&ring_tab, NULL, __ATOMIC_RELEASE);
	pthread_mutex_init(&ring_lock, NULL);
}

/*
 * Spinning before sleeping: a kevent() that would wait (no timeout, or
 * one of a millisecond or more) watches its ring for up to ring_spin
 * rounds before it asks the kernel, so that an event another CPU posts
 * within that time is taken without the sleep and the wake-up.  Only
 * with more than one CPU online (on one, the poster cannot run while we
 * spin).  KQUEUE_RING_SPIN sets the rounds (0: never spin).  A round is one look at the ring and
 * one pause instruction: the default is a few microseconds on current
 * CPUs, about what a sleep and a wake-up cost.
 */
#define RING_SPIN_DEFAULT	256
#define RING_SPIN_MAX		1000000
static int ring_spin;

static void ring_init(void)
{
	const char *env = getenv("KQUEUE_RING_SPIN");
	long n = RING_SPIN_DEFAULT;
	char *end;

	pthread_atfork(NULL, NULL, ring_atfork_child);
	if (env && *env) {
		n = strtol(env, &end, 10);
		if (*end || n < 0)
			n = RING_SPIN_DEFAULT;
		if (n > RING_SPIN_MAX)
			n = RING_SPIN_MAX;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		n = 0;
	ring_spin = (int)n;
}

/* A table of len entries (old's copied), wiped in fork children. */
static struct ring_table *ring_table_new(const struct ring_table *old,
					 int len)
{
	size_t bytes = sizeof(struct ring_table) +
		       (size_t)len * sizeof(struct ring_map *);
	struct ring_table *t;

	t = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	if (madvise(t, bytes, MADV_WIPEONFORK) != 0) {
		munmap(t, bytes);
		return NULL;
	}
	t->bytes = bytes;
	t->len = len;
	if (old)
		memcpy(t->map, old->map, (size_t)old->len * sizeof(t->map[0]));
	return t;
}

/* Is the ring mapped at p one this library understands? */
static bool ring_usable(const void *p)
{
	const struct kq_ring_hdr *h = p;

	return h->version == KQ_RING_VERSION && h->nentries == KQ_RING_ENTRIES;
}

/*
 * Turn the mapping at p into a tombstone: anonymous, read-only, its header
 * saying KQ_RING_DEAD, so that a thread still reading it through a lookup
 * made before goes to the kernel instead of faulting or reading zeros (an
 * empty ring with no flags would answer a poll by itself).
 */
static void ring_tombstone(void *p)
{
	struct kq_ring_hdr *h;

	h = mmap(p, KQ_RING_MAP_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (h == MAP_FAILED)
		return;
	h->kflags = KQ_RING_DEAD;
	mprotect(h, KQ_RING_MAP_SIZE, PROT_READ);
}

/*
 * Map kq's ring, if the module offers one; failure leaves kq unmapped.
 * A number that had a ring (a closed kqueue's: a new kqueue got it) keeps
 * its address: the new ring is mapped over the old one with MAP_FIXED,
 * or a tombstone if it cannot be, and the entry stays.  A thread that
 * looked the number up before then reads the ring of the kqueue the
 * number names now, as a system call would act on it, or the tombstone's
 * KQ_RING_DEAD: memory that was mapped for a lookup stays mapped.
 */
void kq_ring_attach(int kq)
{
	struct ring_table *t, *n;
	struct ring_map *m, *old;
	void *p;
	int len, err = errno;
	const char *env = getenv("KQUEUE_RING");

	if ((env && strcmp(env, "0") == 0) || kq < 0)
		return;
	pthread_once(&ring_once, ring_init);
	pthread_mutex_lock(&ring_lock);
	t = __atomic_load_n(&ring_tab, __ATOMIC_ACQUIRE);
	if (t && !t->bytes)
		t = NULL;	/* wiped: a fork child's */
	old = t && kq < t->len ? t->map[kq] : NULL;
	if (old) {
		p = mmap(old->hdr, KQ_RING_MAP_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, kq, 0);
		if (p == MAP_FAILED || !ring_usable(p))
			ring_tombstone(old->hdr);
		goto unlock;
	}
	p = mmap(NULL, KQ_RING_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 kq, 0);
	if (p == MAP_FAILED)
		goto unlock;
	m = malloc(sizeof(*m));
	if (!m || !ring_usable(p))
		goto unmap;
	m->hdr = p;
	m->ev = (const struct kq_uevent *)((char *)p + KQ_RING_EVENTS_OFF);
	if (!t || kq >= t->len) {
		len = t ? t->len : 64;
		while (len <= kq)
			len *= 2;
		n = ring_table_new(t, len);
		if (!n)
			goto unmap;
		/* The old table stays mapped: lookups may still read it. */
		__atomic_store_n(&ring_tab, n, __ATOMIC_RELEASE);
		t = n;
	}
	__atomic_store_n(&t->map[kq], m, __ATOMIC_RELEASE);
	goto unlock;
unmap:
	free(m);
	munmap(p, KQ_RING_MAP_SIZE);
unlock:
	pthread_mutex_unlock(&ring_lock);
	errno = err;
}

static struct ring_map *ring_lookup(int kq)
{
	struct ring_table *t = __atomic_load_n(&ring_tab, __ATOMIC_ACQUIRE);

	/* A fork child's tables read as zeros: len 0, no entry. */
	if (!t || kq < 0 || kq >= t->len)
		return NULL;
	return __atomic_load_n(&t->map[kq], __ATOMIC_ACQUIRE);
}

/*
 * One ring entry into the caller's struct kevent.  Entries have the 64-bit
 * layout for every process; a 32-bit program's struct kevent is 24 bytes,
 * and its ident and udata, which it registered as 32-bit values, come
 * back the same when truncated.
 */
static inline void ring_copy(struct kevent *out, const struct kq_uevent *e)
{
#if KQ_KEVENT_IS_UEVENT
	memcpy(out, e, sizeof(*out));
#else
	out->ident = (uintptr_t)e->ident;
	out->filter = e->filter;
	out->flags = e->flags;
	out->fflags = e->fflags;
	out->data = e->data;
	out->udata = (void *)(uintptr_t)e->udata;
#endif
}

/*
 * Take up to max events from m's ring into out.  Each index is claimed by
 * a CAS on cons, its entry by a CAS of its state POSTED -> TAKEN; the
 * copy is given back with a release store of FREE.  An entry the kernel
 * is updating (BUSY) is waited for: the kernel holds it for a few stores
 * with interrupts off.
 */
static int ring_take(struct ring_map *m, struct kevent *out, int max)
{
	struct kq_ring_hdr *h = m->hdr;
	uint32_t c, p;
	uint16_t s, *st;
	int n = 0;

	while (n < max) {
		c = __atomic_load_n(&h->cons, __ATOMIC_ACQUIRE);
		p = __atomic_load_n(&h->prod, __ATOMIC_ACQUIRE);
		if (c == p || p - c > KQ_RING_ENTRIES)
			break;
		if (!__atomic_compare_exchange_n(&h->cons, &c, c + 1, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		st = &h->state[c & (KQ_RING_ENTRIES - 1)];
		for (;;) {
			s = KQ_RING_POSTED;
			if (__atomic_compare_exchange_n(st, &s, KQ_RING_TAKEN,
							false,
							__ATOMIC_ACQUIRE,
							__ATOMIC_ACQUIRE)) {
				ring_copy(&out[n++],
					  &m->ev[c & (KQ_RING_ENTRIES - 1)]);
				__atomic_store_n(st, KQ_RING_FREE,
						 __ATOMIC_RELEASE);
				break;
			}
			if (s == KQ_RING_BUSY) {
				cpu_pause();
				continue;
			}
			if (s == KQ_RING_CANCELLED)
				__atomic_store_n(st, KQ_RING_FREE,
						 __ATOMIC_RELEASE);
			break;
		}
	}
	return n;
}

/* The entry for p in tab, or NULL. */
static struct ring_ok *ring_ok_find(struct ring_ok *tab, const void *p)
{
	for (int i = 0; i < RING_OK_SLOTS; i++)
		if (tab[i].p == p)
			return &tab[i];
	return NULL;
}

/*
 * Remember p (n entries).  A signal handler of this thread may call
 * kevent() in the middle: the entry reads as unused (p NULL) until it is
 * whole, so a lookup never pairs p with another array's count.
 */
static void ring_ok_add(struct ring_ok *tab, const void *p, int n)
{
	struct ring_ok *o = ring_ok_find(tab, p);

	if (o && o->n >= n)
		return;
	if (!o)
		o = &tab[ring_ok_next++ % RING_OK_SLOTS];
	o->p = NULL;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	o->n = n;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	o->p = p;
}

/* The ioctl returned n >= 0 for this eventlist and timeout (kmod.c). */
void kq_ring_accepted(const struct kevent *list, int n,
		      const struct timespec *timeout)
{
	if (!__atomic_load_n(&ring_tab, __ATOMIC_RELAXED))
		return;		/* no ring in this process */
	if (list && n > 0)
		ring_ok_add(ring_ok_ev, list, n);
	if (timeout)
		ring_ok_add(ring_ok_ts, timeout, 1);
}

/*
 * May the fast path go on with this timeout, and spin?  *spin: the
 * rounds to spin (0 for a zero or short timeout).  False: let the kernel
 * read it (never seen accepted, or now invalid: EINVAL comes from there).
 */
static bool ring_timeout_ok(const struct timespec *ts, int *spin)
{
	*spin = ring_spin;
	if (!ts)
		return true;
	if (!ring_ok_find(ring_ok_ts, ts))
		return false;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return false;
	if (!ts->tv_sec && ts->tv_nsec < 1000000L)
		*spin = 0;	/* under a millisecond: no spinning */
	return true;
}

/*
 * kevent() without changes, from the ring: returns the number of events
 * taken, or -1 when the call must go to the kernel (no ring, the kernel's
 * list may hold events, the kqueue was closed, the eventlist or timeout
 * is not known to be good, or the ring stayed empty and the call may
 * wait).  0 only for a zero timeout with nothing anywhere: KQ_RING_KLIST
 * clear means the kernel's list is empty and no scan holds its knotes, so
 * the kernel would have returned 0 too.
 */
int kq_ring_kevent(int kq, struct kevent *eventlist, int nevents,
		   const struct timespec *timeout)
{
	struct ring_map *m = ring_lookup(kq);
	struct ring_ok *ok;
	struct kq_ring_hdr *h;
	bool poll_only;
	int n, spin;

	if (!m || !eventlist || nevents <= 0)
		return -1;
	h = m->hdr;
	/* The kernel's list, or a dead ring: the ioctl, checked there. */
	if (__atomic_load_n(&h->kflags, __ATOMIC_RELAXED))
		return -1;
	ok = ring_ok_find(ring_ok_ev, eventlist);
	if (!ok || !ring_timeout_ok(timeout, &spin))
		return -1;
	poll_only = timeout && !timeout->tv_sec && !timeout->tv_nsec;
	if (nevents > ok->n) {
		/*
		 * The kernel has written only ok->n entries here.  If the ring
		 * holds more, let it write them all (and vouch for them).
		 */
		if (__atomic_load_n(&h->prod, __ATOMIC_RELAXED) -
		    __atomic_load_n(&h->cons, __ATOMIC_RELAXED) >
		    (uint32_t)ok->n)
			return -1;
		nevents = ok->n;
	}
	for (;;) {
		if (__atomic_load_n(&h->kflags, __ATOMIC_ACQUIRE))
			return -1;
		n = ring_take(m, eventlist, nevents);
		if (n > 0)
			return n;
		if (poll_only) {
			/* The ring was empty after kflags read 0. */
			return 0;
		}
		if (spin-- <= 0)
			return -1;
		while (__atomic_load_n(&h->prod, __ATOMIC_RELAXED) ==
		       __atomic_load_n(&h->cons, __ATOMIC_RELAXED) &&
		       !__atomic_load_n(&h->kflags, __ATOMIC_RELAXED) &&
		       spin-- > 0)
			cpu_pause();
	}
}
