/*
 * kmod_ring.c - the library's side of kqueue.ko's completion ring: each
 * kqueue the module backend creates is mmap()ed once, and kevent() with
 * no changes takes the events the kernel posted there without a system
 * call when the kernel's own list is empty (kmod/kq_ring.c has the
 * protocol and its memory ordering; include/uapi/kqueue_ioctl.h the
 * layout).  For now the ring is opt-in: a kqueue is mapped only when
 * KQUEUE_RING=1 is in the environment as it is created (issue 17: the
 * fuzzer's nesting check fails with it on, not yet explained).
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
 * Locking: ring_lock (a mutex) serialises table changes; consumers use
 * only atomics on the shared header.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kq_internal.h"
#include "kqueue_ioctl.h"

struct ring_map {
	struct kq_ring_hdr *hdr;
	struct kevent *ev;
};

struct ring_table {
	size_t bytes;		/* of the mapping; 0 in a fork child */
	int len;
	struct ring_map *map[];
};

static struct ring_table *ring_tab;	/* atomic pointer */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

_Static_assert(sizeof(struct kevent) == 32, "ring entry size");

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

static void ring_init(void)
{
	pthread_atfork(NULL, NULL, ring_atfork_child);
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

/* Map kq's ring, if the module offers one; failure leaves kq unmapped. */
void kq_ring_attach(int kq)
{
	struct ring_table *t, *n;
	struct ring_map *m, *old = NULL;
	void *p;
	int len, err = errno;

	const char *env = getenv("KQUEUE_RING");

	pthread_once(&ring_once, ring_init);
	if (!env || strcmp(env, "1") != 0 || kq < 0)
		return;
	p = mmap(NULL, KQ_RING_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 kq, 0);
	if (p == MAP_FAILED)
		goto out;
	m = malloc(sizeof(*m));
	if (!m) {
		munmap(p, KQ_RING_MAP_SIZE);
		goto out;
	}
	m->hdr = p;
	m->ev = (struct kevent *)((char *)p + KQ_RING_EVENTS_OFF);
	if (m->hdr->version != KQ_RING_VERSION ||
	    m->hdr->nentries != KQ_RING_ENTRIES) {
		munmap(p, KQ_RING_MAP_SIZE);
		free(m);
		goto out;
	}

	pthread_mutex_lock(&ring_lock);
	t = __atomic_load_n(&ring_tab, __ATOMIC_ACQUIRE);
	if (t && !t->bytes)
		t = NULL;	/* wiped: a fork child's */
	if (!t || kq >= t->len) {
		len = t ? t->len : 64;
		while (len <= kq)
			len *= 2;
		n = ring_table_new(t, len);
		if (!n) {
			pthread_mutex_unlock(&ring_lock);
			munmap(p, KQ_RING_MAP_SIZE);
			free(m);
			goto out;
		}
		/* The old table stays mapped: lookups may still read it. */
		__atomic_store_n(&ring_tab, n, __ATOMIC_RELEASE);
		t = n;
	}
	old = __atomic_exchange_n(&t->map[kq], m, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&ring_lock);
	/* The number was a closed kqueue's: nobody may use that one now. */
	if (old) {
		munmap(old->hdr, KQ_RING_MAP_SIZE);
		free(old);
	}
out:
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
				memcpy(&out[n++],
				       &m->ev[c & (KQ_RING_ENTRIES - 1)],
				       sizeof(*out));
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

/*
 * kevent() without changes, from the ring: returns the number of events
 * taken (> 0), or 0 when the call must go to the kernel (no ring, the
 * kernel's list may hold events, the kqueue was closed, or the ring is
 * empty and the call may have to wait).
 */
int kq_ring_kevent(int kq, struct kevent *eventlist, int nevents)
{
	struct ring_map *m = ring_lookup(kq);

	if (!m || !eventlist || nevents <= 0)
		return 0;
	if (__atomic_load_n(&m->hdr->kflags, __ATOMIC_ACQUIRE))
		return 0;
	return ring_take(m, eventlist, nevents);
}
