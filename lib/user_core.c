/*
 * user_core.c - the user-space backend's core: the kqueue object, the
 * process-wide table that finds it from its descriptor, the knote table,
 * applying changes (the same error rules as kqueue.ko, which follows
 * FreeBSD), and the scan.
 *
 * Design.  The descriptor kqueue() returns is an epoll instance, so it can
 * be polled and nested like any other.  Every event source is a descriptor
 * in that epoll set, always edge-triggered: the user's own descriptor for
 * READ/WRITE/EMPTY (one registration per fd shared by its knotes), and a
 * private timerfd, signalfd, pidfd or inotify descriptor for the other
 * filters.  An epoll event only marks knotes active and puts them on the
 * kqueue's ready list, as the module's wake-up callbacks do; kevent() then
 * walks the ready list and asks each knote's filter whether it is true now
 * (FIONREAD and the like), which also gives `data`.  Level-triggered knotes
 * that are still true go back to the tail of the list, so a short
 * eventlist sees every ready source in turn.  A private eventfd in the
 * epoll set is kept readable while the ready list is not empty: that is
 * what makes the kqueue descriptor readable for knotes that epoll has no
 * new edge for, and what wakes threads sleeping in kevent() when another
 * thread triggers an EVFILT_USER knote.
 *
 * Epoll events carry a source id (slot and generation), never a pointer,
 * so an event fetched by a thread that slept without the lock can never
 * reach a freed source.
 *
 * Knotes and sources come from two pools per kqueue (user_pool.c), so a
 * registration costs no malloc().
 *
 * System calls, kept to what exact results need: a new fd costs one
 * EPOLL_CTL_ADD (its answer is the EBADF check; the file type is looked
 * up only when a filter needs it); adding a knote to an fd already in the
 * set costs one ADD answered EEXIST, the proof that the fd still names
 * that file; an EV_ENABLE of a READ knote one FIONREAD, which the scan of
 * the same call reuses; an EV_DELETE of an fd's last knote one
 * EPOLL_CTL_DEL.  Each reported READ event costs one FIONREAD for `data`.
 *
 * The table: ukq_tab[fd] -> struct ukq, under ukq_tab_lock.  close(2) of a
 * kqueue descriptor cannot be seen from user space; each kevent() checks
 * that the descriptor is still the same epoll instance (all epoll fds share
 * one inode, so fstat() cannot tell: an EPOLL_CTL_MOD of the kqueue's
 * private eventfd succeeds only in its own epoll set), and drops the stale
 * state (closing its private descriptors) when it is not.  A dup() of a
 * kqueue descriptor is not in the table: kevent() on it fails with EBADF.  The state of a kqueue closed and never used again stays
 * until its slot is reused by a new kqueue.
 *
 * fork(): kqueues are not inherited (BSD).  A pthread_atfork() child
 * handler closes the child's copies of the kqueue descriptors the table
 * knows and of their private descriptors, touching nothing the child
 * shares with its parent.  A child that runs no such handler (vfork(),
 * posix_spawn(), a raw clone()) keeps them, and so does a dup() of a
 * kqueue descriptor (which is not a kqueue to the library: EBADF).
 *
 * Locking: ukq_tab_lock (a mutex) protects the table and every ukq's refs
 * and dead fields; it is held only for lookups.  Each ukq has a mutex that
 * covers all its other state; it is held while changes are applied and
 * while the ready list is scanned (filters make system calls under it),
 * never while sleeping in epoll_wait().  Lock order: a kqueue nested in
 * another (EVFILT_READ on a kqueue) is locked inside the outer one's lock;
 * epoll refuses cycles (ELOOP), so the order is a DAG.  The pools' chunk
 * cache lock (user_pool.c) is innermost: taken under a kqueue's mutex,
 * and after ukq_tab_lock only by the fork handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/time_types.h>

#include "kq_internal.h"
#include "kqueue_ioctl.h"	/* KQ_EV_INPUT_FLAGS, KQ_EV_KNOTE_FLAGS */

#define EVFD_ID		0	/* epoll data of the private eventfd */
#define HARVEST_LEN	256
#define RECHECK_MS	10

int kq_user_in_use;

static pthread_mutex_t ukq_tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ukq **ukq_tab;
static int ukq_tab_cap;
static int ukq_tab_count;	/* entries; written under the lock */
static pthread_once_t ukq_atfork_once = PTHREAD_ONCE_INIT;

static void ukq_free(struct ukq *kq);

/* ---- fork ------------------------------------------------------------- */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&ukq_tab_lock);
	upool_atfork_prepare();
	ukq_signal_atfork_prepare();
}

static void atfork_parent(void)
{
	ukq_signal_atfork_parent();
	upool_atfork_parent();
	pthread_mutex_unlock(&ukq_tab_lock);
}

/* The private eventfd and the memory of kq, once its knotes are gone. */
static void ukq_free_memory(struct ukq *kq)
{
	if (kq->evfd >= 0)
		close(kq->evfd);
	upool_destroy(&kq->knpool);
	upool_destroy(&kq->srcpool);
	free(kq->table);
	free(kq->srcs);
	free(kq->srcgen);
	free(kq->freeidx);
	free(kq->fdsrc);
	free(kq);
}

/*
 * In a fork child: close the descriptors of kq in this process (its
 * number, the private eventfd, the descriptors its sources own) and free
 * its memory, with no other system call: the epoll set, the inotify and
 * signalfd instances are shared with the parent through those descriptors
 * and must stay as they are.
 */
static void ukq_forget_in_child(struct ukq *kq)
{
	for (unsigned int i = 0; i < kq->nsrcs; i++) {
		struct usrc *src = kq->srcs[i];

		if (src && src->kind != SRC_FD && src->fd >= 0)
			close(src->fd);
	}
	close(kq->epfd);
	ukq_free_memory(kq);
}

/* As on FreeBSD the child has no kqueue descriptors. */
static void atfork_child(void)
{
	ukq_signal_atfork_child();
	upool_atfork_child();
	pthread_mutex_init(&ukq_tab_lock, NULL);
	for (int i = 0; i < ukq_tab_cap; i++) {
		if (ukq_tab[i])
			ukq_forget_in_child(ukq_tab[i]);
		ukq_tab[i] = NULL;
	}
	ukq_tab_count = 0;
}

static void atfork_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- the table -------------------------------------------------------- */

static int tab_insert(struct ukq *kq)
{
	struct ukq *old = NULL;
	int fd = kq->epfd;

	pthread_mutex_lock(&ukq_tab_lock);
	if (fd >= ukq_tab_cap) {
		int cap = ukq_tab_cap ? ukq_tab_cap : 64;
		struct ukq **t;

		while (cap <= fd)
			cap *= 2;
		t = realloc(ukq_tab, cap * sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&ukq_tab_lock);
			return -ENOMEM;
		}
		memset(t + ukq_tab_cap, 0,
		       (cap - ukq_tab_cap) * sizeof(*t));
		ukq_tab = t;
		ukq_tab_cap = cap;
	}
	old = ukq_tab[fd];
	ukq_tab[fd] = kq;
	if (!old)
		__atomic_store_n(&ukq_tab_count, ukq_tab_count + 1,
				 __ATOMIC_RELAXED);
	if (old) {
		old->dead = true;
		if (--old->refs > 0)
			old = NULL;
	}
	__atomic_store_n(&kq_user_in_use, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ukq_tab_lock);
	if (old)
		ukq_free(old);
	return 0;
}

void ukq_put(struct ukq *kq)
{
	bool last;

	pthread_mutex_lock(&ukq_tab_lock);
	last = --kq->refs == 0;
	pthread_mutex_unlock(&ukq_tab_lock);
	if (last)
		ukq_free(kq);
}

/* Forget the table's entry for fd if it is still kq. */
static void tab_remove(int fd, struct ukq *kq)
{
	bool last = false;

	pthread_mutex_lock(&ukq_tab_lock);
	if (fd < ukq_tab_cap && ukq_tab[fd] == kq) {
		ukq_tab[fd] = NULL;
		__atomic_store_n(&ukq_tab_count, ukq_tab_count - 1,
				 __ATOMIC_RELAXED);
		kq->dead = true;
		last = --kq->refs == 0;
	}
	pthread_mutex_unlock(&ukq_tab_lock);
	if (last)
		ukq_free(kq);
}

/*
 * The kqueue behind fd, referenced: 1 (*out set), or 0: not a user-space
 * kqueue of ours.
 */
static int ukq_lookup(int fd, struct ukq **out)
{
	struct ukq *kq = NULL;
	struct epoll_event ee;

	if (fd < 0)
		return 0;
	pthread_mutex_lock(&ukq_tab_lock);
	if (fd < ukq_tab_cap && ukq_tab[fd]) {
		kq = ukq_tab[fd];
		kq->refs++;
	}
	pthread_mutex_unlock(&ukq_tab_lock);
	if (!kq)
		return 0;
	/*
	 * Still our epoll instance?  Every epoll fd has the same inode, so
	 * ask it instead: only ours holds our private eventfd.
	 */
	ee.events = EPOLLIN;
	ee.data.u64 = EVFD_ID;
	if (epoll_ctl(fd, EPOLL_CTL_MOD, kq->evfd, &ee) < 0) {
		/* Closed (and maybe reused) behind our back. */
		tab_remove(fd, kq);
		ukq_put(kq);
		return 0;
	}
	*out = kq;
	return 1;
}

/*
 * Is there a user-space kqueue besides the caller's own?  A read without
 * the table lock, so that registering an fd of a process with one kqueue
 * does not take it: a kqueue descriptor the program has seen was in the
 * table before kqueue() returned it.  (The caller's own descriptor never
 * gets this far: epoll refuses to watch itself.)
 */
bool ukq_others_exist(void)
{
	return __atomic_load_n(&ukq_tab_count, __ATOMIC_RELAXED) > 1;
}

struct ukq *ukq_get(int fd)
{
	struct ukq *kq;

	return ukq_lookup(fd, &kq) == 1 ? kq : NULL;
}

int kq_user_owns(int kq)
{
	struct ukq *k;
	int r = ukq_lookup(kq, &k);

	if (r == 1)
		ukq_put(k);
	ukq_signal_deliver();
	return r;
}

/* ---- sources ---------------------------------------------------------- */

struct usrc *usrc_new(struct ukq *kq, enum usrc_kind kind, int fd)
{
	struct usrc *src = upool_alloc(&kq->srcpool);
	unsigned int idx;

	if (!src)
		return NULL;
	if (kq->nfree) {
		idx = kq->freeidx[--kq->nfree];
		goto got;
	}
	idx = kq->nsrcs;
	if (idx == kq->capsrcs) {
		unsigned int cap = kq->capsrcs ? 2 * kq->capsrcs : 64;
		struct usrc **s = realloc(kq->srcs, cap * sizeof(*s));
		uint32_t *g;
		unsigned int *f;

		if (s)
			kq->srcs = s;
		g = s ? realloc(kq->srcgen, cap * sizeof(*g)) : NULL;
		if (g)
			kq->srcgen = g;
		f = g ? realloc(kq->freeidx, cap * sizeof(*f)) : NULL;
		if (!f) {
			upool_free(&kq->srcpool, src);
			return NULL;
		}
		kq->freeidx = f;
		memset(kq->srcs + kq->capsrcs, 0,
		       (cap - kq->capsrcs) * sizeof(*s));
		memset(kq->srcgen + kq->capsrcs, 0,
		       (cap - kq->capsrcs) * sizeof(*g));
		kq->capsrcs = cap;
	}
	kq->nsrcs++;
got:
	kq->srcs[idx] = src;
	kq->srcgen[idx]++;
	src->id = ((uint64_t)kq->srcgen[idx] << 32) | (idx + 1);
	src->kind = kind;
	src->fd = fd;
	src->kq = kq;
	return src;
}

static void usrc_release_id(struct ukq *kq, struct usrc *src)
{
	unsigned int idx = (uint32_t)src->id - 1;

	kq->srcs[idx] = NULL;
	kq->freeidx[kq->nfree++] = idx;
}

void usrc_free(struct ukq *kq, struct usrc *src)
{
	usrc_release_id(kq, src);
	if (src->kind == SRC_FD) {
		if (src->fd < (int)kq->capfd && kq->fdsrc[src->fd] == src)
			kq->fdsrc[src->fd] = NULL;
	} else if (src->fd >= 0) {
		close(src->fd);	/* leaves the epoll set with it */
	}
	upool_free(&kq->srcpool, src);
}

static struct usrc *usrc_by_id(struct ukq *kq, uint64_t id)
{
	unsigned int idx = (uint32_t)id;

	if (idx == 0 || idx > kq->nsrcs)
		return NULL;
	if (kq->srcgen[idx - 1] != (uint32_t)(id >> 32))
		return NULL;
	return kq->srcs[idx - 1];
}

int usrc_epoll_add(struct ukq *kq, struct usrc *src, uint32_t events)
{
	struct epoll_event ee = { .events = events | EPOLLET,
				  .data.u64 = src->id };

	if (epoll_ctl(kq->epfd, EPOLL_CTL_ADD, src->fd, &ee) < 0)
		return -errno;
	src->events = events;
	src->registered = true;
	return 0;
}

/* ---- knotes ----------------------------------------------------------- */

static unsigned int kn_hash(uintptr_t ident, short filter, unsigned int mask)
{
	uint64_t h = (uint64_t)ident * 0x9e3779b97f4a7c15ull;

	return (unsigned int)((h >> 32) ^ (uint16_t)filter) & mask;
}

struct uknote *kn_find(struct ukq *kq, uintptr_t ident, short filter)
{
	struct uknote *kn;

	for (kn = kq->table[kn_hash(ident, filter, kq->table_mask)]; kn;
	     kn = kn->hnext)
		if (kn->ident == ident && kn->filter == filter)
			return kn;
	return NULL;
}

static void table_grow(struct ukq *kq)
{
	unsigned int size = (kq->table_mask + 1) * 2;
	struct uknote **t, *kn, *next;

	if (kq->nknotes <= kq->table_mask + 1)
		return;
	t = calloc(size, sizeof(*t));
	if (!t)
		return;		/* longer chains, still correct */
	for (unsigned int i = 0; i <= kq->table_mask; i++) {
		for (kn = kq->table[i]; kn; kn = next) {
			unsigned int h = kn_hash(kn->ident, kn->filter,
						 size - 1);

			next = kn->hnext;
			kn->hnext = t[h];
			t[h] = kn;
		}
	}
	free(kq->table);
	kq->table = t;
	kq->table_mask = size - 1;
}

/* The knote's SRC_FD source (READ/WRITE/EMPTY), else NULL. */
static struct usrc *kn_fdsrc(struct uknote *kn)
{
	return kn->src && kn->src->kind == SRC_FD ? kn->src : NULL;
}

static void ready_del(struct uknote *kn)
{
	if (!kn->queued)
		return;
	kn->rprev->rnext = kn->rnext;
	kn->rnext->rprev = kn->rprev;
	kn->queued = false;
}

static void ready_add_tail(struct ukq *kq, struct uknote *kn)
{
	kn->rprev = kq->ready.rprev;
	kn->rnext = &kq->ready;
	kq->ready.rprev->rnext = kn;
	kq->ready.rprev = kn;
	kn->queued = true;
}

void kn_activate(struct uknote *kn)
{
	kn->active = true;
	if (!kn->disabled && !kn->queued)
		ready_add_tail(kn->kq, kn);
}

static void kn_enable(struct uknote *kn, bool recheck)
{
	kn->disabled = false;
	if (recheck)
		kn->active = true;
	if (kn->active && !kn->queued)
		ready_add_tail(kn->kq, kn);
}

static void kn_disable(struct uknote *kn)
{
	kn->disabled = true;
	ready_del(kn);
}

static void kn_drop(struct uknote *kn)
{
	struct ukq *kq = kn->kq;
	struct uknote **pp;

	ready_del(kn);
	kn->fop->detach(kn);	/* also ends a recheck (user_fd.c) */
	pp = &kq->table[kn_hash(kn->ident, kn->filter, kq->table_mask)];
	while (*pp != kn)
		pp = &(*pp)->hnext;
	*pp = kn->hnext;
	kq->nknotes--;
	upool_free(&kq->knpool, kn);
}

/* ---- fd sources ------------------------------------------------------- */

/* Drop every knote of an fd source whose file was closed or replaced. */
static void fdsrc_drop_all(struct ukq *kq, struct usrc *src)
{
	(void)kq;
	for (int i = 0; i < 3; i++)
		if (src->kn[i])
			kn_drop(src->kn[i]);
}

mode_t fdsrc_mode(struct usrc *src)
{
	struct stat st;

	if (!src->typed && fstat(src->fd, &st) == 0) {
		src->mode = st.st_mode & S_IFMT;
		src->typed = true;
	}
	return src->mode;
}

/*
 * A new descriptor costs one EPOLL_CTL_ADD and nothing else: its answer
 * says whether the fd is open (EBADF) and pollable (EPERM: a regular file
 * or directory, the only case that needs fstat() here, for its identity);
 * the file type is looked up later if a filter needs it (fdsrc_mode()).
 */
int fdsrc_get(struct ukq *kq, int fd, uint32_t want, struct usrc **out)
{
	struct usrc *src = fd < (int)kq->capfd ? kq->fdsrc[fd] : NULL;
	struct stat st;
	int err;

	if (src && src->registered && (want & ~src->events) == 0) {
		/*
		 * Same file still?  epoll keys its items by (file, fd): an
		 * ADD answers EEXIST exactly while fd names the registered
		 * file, and is cheaper than a MOD (no poll of the file).  The
		 * edge-triggered item stays armed, so nothing needs re-arming;
		 * as no event is queued for the present state, a new knote is
		 * checked at once (src->quiet, fd_attach()).
		 */
		struct epoll_event ee = {
			.events = src->events | EPOLLET,
			.data.u64 = src->id };

		if (epoll_ctl(kq->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			if (errno == EEXIST) {
				src->quiet = true;
				*out = src;
				return 0;
			}
			if (errno == EBADF)
				return -EBADF;
		} else {
			/* A new file on that number: start afresh below. */
			epoll_ctl(kq->epfd, EPOLL_CTL_DEL, fd, NULL);
		}
	} else if (src && src->registered) {
		/* More events; MOD answers ENOENT for a new file. */
		struct epoll_event ee = {
			.events = src->events | want | EPOLLET,
			.data.u64 = src->id };

		if (epoll_ctl(kq->epfd, EPOLL_CTL_MOD, fd, &ee) == 0) {
			src->events |= want;
			src->quiet = false;
			*out = src;
			return 0;
		}
		if (errno == EBADF)
			return -EBADF;
	}
	if (src && src->nopoll) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_dev == src->dev && st.st_ino == src->ino) {
			*out = src;
			return 0;
		}
	}
	if (src) {
		/* The fd now names another file: its knotes are stale. */
		fdsrc_drop_all(kq, src);
		usrc_free(kq, src);
	}
	src = usrc_new(kq, SRC_FD, fd);
	if (!src)
		return -ENOMEM;
	err = usrc_epoll_add(kq, src, want);
	if (err == -EPERM) {
		/* regular files, directories: identity by device and inode */
		if (fstat(fd, &st) < 0) {
			err = -errno;
			usrc_free(kq, src);
			return err;
		}
		src->nopoll = true;
		src->typed = true;
		src->mode = st.st_mode & S_IFMT;
		src->dev = st.st_dev;
		src->ino = st.st_ino;
	} else if (err) {
		usrc_free(kq, src);
		return err;
	}
	/* fd is open now, so below the descriptor limit: the table fits */
	if (fd >= (int)kq->capfd) {
		unsigned int cap = kq->capfd ? kq->capfd : 64;
		struct usrc **t;

		while (cap <= (unsigned int)fd)
			cap *= 2;
		t = realloc(kq->fdsrc, cap * sizeof(*t));
		if (!t) {
			if (src->registered)
				epoll_ctl(kq->epfd, EPOLL_CTL_DEL, fd, NULL);
			usrc_free(kq, src);
			return -ENOMEM;
		}
		memset(t + kq->capfd, 0, (cap - kq->capfd) * sizeof(*t));
		kq->fdsrc = t;
		kq->capfd = cap;
	}
	kq->fdsrc[fd] = src;
	*out = src;
	return 0;
}

/* A source with no knotes left stays registered for a quick re-add. */
void fdsrc_put(struct ukq *kq, struct usrc *src)
{
	if (src->kn[0] || src->kn[1] || src->kn[2])
		return;
	if (src->nopoll || !src->registered)
		usrc_free(kq, src);
}

/* Remove an fd source from the epoll set at once (EV_DELETE). */
static void fdsrc_unregister(struct ukq *kq, struct usrc *src)
{
	if (src->kn[0] || src->kn[1] || src->kn[2] || !src->registered)
		return;
	epoll_ctl(kq->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	usrc_free(kq, src);
}

/* ---- the kqueue ------------------------------------------------------- */

int kq_user_create(int cloexec)
{
	struct ukq *kq;
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = EVFD_ID };
	int err;

	pthread_once(&ukq_atfork_once, atfork_init);
	kq = calloc(1, sizeof(*kq));
	if (!kq) {
		errno = ENOMEM;
		return -1;
	}
	upool_init(&kq->knpool, sizeof(struct uknote));
	upool_init(&kq->srcpool, sizeof(struct usrc));
	kq->table = calloc(64, sizeof(*kq->table));
	kq->table_mask = 63;
	kq->ready.rnext = kq->ready.rprev = &kq->ready;
	kq->sigfd = -1;
	kq->evfd = -1;
	kq->refs = 1;
	pthread_mutex_init(&kq->mtx, NULL);
	kq->epfd = epoll_create1(cloexec ? EPOLL_CLOEXEC : 0);
	if (!kq->table || kq->epfd < 0)
		goto fail;
	kq->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kq->evfd < 0 ||
	    epoll_ctl(kq->epfd, EPOLL_CTL_ADD, kq->evfd, &ee) < 0)
		goto fail;
	err = tab_insert(kq);
	if (err) {
		errno = -err;
		goto fail;
	}
	ukq_signal_deliver();	/* a replaced kqueue's knotes are gone */
	return kq->epfd;
fail:
	err = errno;
	if (kq->epfd >= 0)
		close(kq->epfd);
	kq->epfd = -1;
	ukq_free(kq);
	errno = err;
	return -1;
}

/* Frees the state (not the user's descriptor, which is theirs). */
static void ukq_free(struct ukq *kq)
{
	if (kq->table) {
		for (unsigned int i = 0; i <= kq->table_mask; i++) {
			while (kq->table[i])
				kn_drop(kq->table[i]);
		}
	}
	for (unsigned int i = 0; i < kq->nsrcs; i++)
		if (kq->srcs[i])
			usrc_free(kq, kq->srcs[i]);
	ukq_free_memory(kq);
}

/* The private eventfd is readable exactly while the ready list is not empty. */
static void sync_evfd(struct ukq *kq)
{
	bool want = kq->ready.rnext != &kq->ready;
	uint64_t v = 1;

	if (want == kq->evfd_set)
		return;
	if (want) {
		if (write(kq->evfd, &v, sizeof(v)) != sizeof(v))
			return;
	} else {
		if (read(kq->evfd, &v, sizeof(v)) != sizeof(v))
			return;
	}
	kq->evfd_set = want;
}

/* ---- filters ---------------------------------------------------------- */

static const struct ufilter *filter_find(short filter, int *err)
{
	switch (filter) {
	case EVFILT_READ: return &ufilt_read;
	case EVFILT_WRITE: return &ufilt_write;
	case EVFILT_EMPTY: return &ufilt_empty;
	case EVFILT_TIMER: return &ufilt_timer;
	case EVFILT_USER: return &ufilt_user;
	case EVFILT_SIGNAL: return &ufilt_signal;
	case EVFILT_PROC: return &ufilt_proc;
	case EVFILT_VNODE: return &ufilt_vnode;
	}
	*err = (filter >= 0 || ~(int)filter >= EVFILT_SYSCOUNT) ?
		EINVAL : EOPNOTSUPP;
	return NULL;
}

static int kn_create(struct ukq *kq, const struct ufilter *fop,
		     const struct kevent *kev, struct uknote **knp)
{
	struct uknote *kn = upool_alloc(&kq->knpool);
	int err;

	if (!kn)
		return ENOMEM;
	kn->kq = kq;
	kn->fop = fop;
	kn->ident = kev->ident;
	kn->filter = kev->filter;
	kn->flags = kev->flags & KQ_EV_KNOTE_FLAGS;
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	kn->udata = kev->udata;
	kn->disabled = true;	/* until it is in the table */
	err = fop->attach(kn);
	if (err) {
		ready_del(kn);
		upool_free(&kq->knpool, kn);
		return err;
	}
	unsigned int h = kn_hash(kn->ident, kn->filter, kq->table_mask);

	kn->hnext = kq->table[h];
	kq->table[h] = kn;
	kq->nknotes++;
	*knp = kn;
	return 0;
}

static int kn_touch(struct uknote *kn, const struct kevent *kev)
{
	if ((kev->flags & EV_ADD) && !(kev->flags & EV_KEEPUDATA))
		kn->udata = kev->udata;
	if (kn->fop->touch)
		return kn->fop->touch(kn, kev);
	if (kev->flags & EV_ADD) {
		kn->sfflags = kev->fflags;
		kn->sdata = kev->data;
	}
	return 0;
}

static bool fd_is_open(uintptr_t ident)
{
	return ident <= INT_MAX && fcntl((int)ident, F_GETFD) >= 0;
}

/*
 * A change without EV_ADD to an existing READ/WRITE/EMPTY knote: is the
 * descriptor still open (else EBADF)?  Where the change needs a system
 * call on the fd anyway, its answer says so: EPOLL_CTL_DEL for an
 * EV_DELETE of the fd's last knote (then src->registered is false), the
 * filter's probe for an EV_ENABLE (which also reads what the scan of this
 * call will report).  Otherwise fcntl(F_GETFD).
 */
static int kn_fd_validate(struct ukq *kq, struct uknote *kn,
			  unsigned short flags)
{
	struct usrc *src = kn_fdsrc(kn);

	if ((flags & EV_DELETE) && src && src->registered) {
		bool last = true;

		for (int i = 0; i < 3; i++)
			if (src->kn[i] && src->kn[i] != kn)
				last = false;
		if (last) {
			if (epoll_ctl(kq->epfd, EPOLL_CTL_DEL, src->fd,
				      NULL) < 0 && errno == EBADF)
				return EBADF;
			src->registered = false;
			return 0;
		}
	}
	if ((flags & (EV_ENABLE | EV_DISABLE | EV_DELETE)) == EV_ENABLE &&
	    kn->fop->probe)
		return kn->fop->probe(kn);
	return fd_is_open(kn->ident) ? 0 : EBADF;
}

/* One change (kq->mtx held); 0 or a positive errno. */
static int kq_register(struct ukq *kq, struct kevent *kev)
{
	const struct ufilter *fop;
	struct uknote *kn;
	bool created = false;
	int err = 0;

	if (kev->flags & ~KQ_EV_INPUT_FLAGS)
		return EINVAL;
	fop = filter_find(kev->filter, &err);
	if (!fop)
		return err;
	kn = kn_find(kq, kev->ident, kev->filter);
	if (fop->is_fd) {
		if (kev->ident > INT_MAX)
			return EBADF;
		if (kn && (kev->flags & EV_ADD) && kn_fdsrc(kn)) {
			/* A reused fd number starts with no registration. */
			struct usrc *src;

			err = fdsrc_get(kq, (int)kev->ident, 0, &src);
			if (err)
				return -err;
			kn = kn_find(kq, kev->ident, kev->filter);
		} else if (kn) {
			err = kn_fd_validate(kq, kn, kev->flags);
			if (err)
				return err;
		} else if (!(kev->flags & EV_ADD)) {
			if (!fd_is_open(kev->ident))
				return EBADF;
		}
	}
	if (!kn) {
		if (!(kev->flags & EV_ADD))
			return ENOENT;
		err = kn_create(kq, fop, kev, &kn);
		if (err)
			return err;
		created = true;
		table_grow(kq);
	} else {
		err = kn_touch(kn, kev);
		if (err)
			return err;
	}

	if (kev->flags & EV_DELETE) {
		struct usrc *src = kn_fdsrc(kn);

		kn_drop(kn);
		if (src && !src->registered)
			fdsrc_put(kq, src);	/* already out of epoll */
		else if (src)
			fdsrc_unregister(kq, src);
		return 0;
	}
	if (!created && (kev->flags & EV_FORCEONESHOT)) {
		kn->flags |= EV_ONESHOT;
		kn->force = true;
		kn->active = true;
		ready_del(kn);
		ready_add_tail(kq, kn);
	}
	if (!created && (kev->flags & EV_ADD))
		kn->active = true;
	if (kev->flags & EV_DISABLE)
		kn_disable(kn);
	if (kev->flags & EV_ENABLE)
		kn_enable(kn, true);
	else if ((kev->flags & EV_ADD) && !(kev->flags & EV_DISABLE))
		kn_enable(kn, false);
	return 0;
}

/* ---- harvesting epoll events ------------------------------------------ */

static void harvest(struct ukq *kq, const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		struct usrc *src;

		if (ev[i].data.u64 == EVFD_ID)
			continue;
		src = usrc_by_id(kq, ev[i].data.u64);
		if (!src)
			continue;
		if (src->kind == SRC_FD) {
			uint32_t e = ev[i].events;

			src->revents = e;
			if (src->kn[0])
				src->kn[0]->pre_gen = 0;	/* news: ask again */
			if (src->kn[0] && (e & (EPOLLIN | EPOLLRDHUP |
						EPOLLHUP | EPOLLERR)))
				kn_activate(src->kn[0]);
			if (src->kn[1] && (e & (EPOLLOUT | EPOLLHUP |
						EPOLLERR)))
				kn_activate(src->kn[1]);
			if (src->kn[2] && (e & (EPOLLOUT | EPOLLHUP |
						EPOLLERR)))
				kn_activate(src->kn[2]);
		} else if (src->kn[0]) {
			src->kn[0]->fop->source_event(src, ev[i].events);
		} else if (src->kind == SRC_SIGNAL) {
			ufilt_signal.source_event(src, ev[i].events);
		}
	}
}

/* Take what epoll has without waiting. */
static void harvest_now(struct ukq *kq)
{
	struct epoll_event ev[HARVEST_LEN];
	int n;

	do {
		n = epoll_wait(kq->epfd, ev, HARVEST_LEN, 0);
		if (n > 0)
			harvest(kq, ev, n);
	} while (n == HARVEST_LEN);
}

/* Knotes whose source may not wake us: look at them again. */
static void recheck_all(struct ukq *kq)
{
	if (!kq->nrecheck)
		return;
	for (unsigned int i = 0; i <= kq->table_mask; i++)
		for (struct uknote *kn = kq->table[i]; kn; kn = kn->hnext)
			if (kn->recheck && !kn->disabled) {
				kn->active = true;
				if (!kn->queued)
					ready_add_tail(kq, kn);
			}
}

/* ---- the scan ---------------------------------------------------------- */

/*
 * Report up to max events into out (NULL with peek: only count).
 * kq->mtx held.
 */
static int collect(struct ukq *kq, struct kevent *out, int max, bool peek)
{
	struct uknote tx, requeue, *kn;
	int count = 0;

	if (kq->ready.rnext == &kq->ready)
		return 0;
	/* Move the ready list to tx. */
	tx.rnext = kq->ready.rnext;
	tx.rprev = kq->ready.rprev;
	tx.rnext->rprev = &tx;
	tx.rprev->rnext = &tx;
	kq->ready.rnext = kq->ready.rprev = &kq->ready;
	requeue.rnext = requeue.rprev = &requeue;

	while ((kn = tx.rnext) != &tx && count < max) {
		struct kevent ev = { 0 };
		bool active, force;
		int r;

		/* unlink from tx */
		kn->rprev->rnext = kn->rnext;
		kn->rnext->rprev = kn->rprev;
		kn->queued = false;

		active = kn->active;
		kn->active = false;
		force = kn->force;
		if ((kn->flags & EV_CLEAR) && !active && !force)
			continue;
		r = kn->fop->check(kn, &ev, peek);
		if (r <= 0 && !force) {
			if (r < 0 && !peek)
				kn_drop(kn);
			if (peek)
				kn->active = active;
			continue;
		}
		count++;
		if (peek) {
			kn->active = active;
			kn->rprev = requeue.rprev;
			kn->rnext = &requeue;
			requeue.rprev->rnext = kn;
			requeue.rprev = kn;
			kn->queued = true;
			continue;
		}
		kn->force = false;
		ev.ident = kn->ident;
		ev.filter = kn->filter;
		ev.flags |= kn->flags;
		ev.udata = kn->udata;
		out[count - 1] = ev;
		if ((kn->flags & EV_ONESHOT) || r == 2) {
			struct usrc *src = kn_fdsrc(kn);

			kn_drop(kn);
			if (src)
				fdsrc_put(kq, src);
		} else if (kn->flags & EV_DISPATCH) {
			kn->disabled = true;
		} else if (kn->flags & EV_CLEAR) {
			/* until the next edge */
		} else {
			kn->rprev = requeue.rprev;
			kn->rnext = &requeue;
			requeue.rprev->rnext = kn;
			requeue.rprev = kn;
			kn->queued = true;
		}
	}
	/* What was not looked at, then what stays ready, at the tail. */
	while ((kn = tx.rnext) != &tx) {
		kn->rprev->rnext = kn->rnext;
		kn->rnext->rprev = kn->rprev;
		kn->queued = false;
		ready_add_tail(kq, kn);
	}
	while ((kn = requeue.rnext) != &requeue) {
		kn->rprev->rnext = kn->rnext;
		kn->rnext->rprev = kn->rprev;
		kn->queued = false;
		ready_add_tail(kq, kn);
	}
	return count;
}

int ukq_pending(struct ukq *kq)
{
	int n;

	pthread_mutex_lock(&kq->mtx);
	harvest_now(kq);
	n = collect(kq, NULL, INT_MAX, true);
	sync_evfd(kq);
	pthread_mutex_unlock(&kq->mtx);
	return n;
}

/* A valid timespec in ns, saturating (a timeout of INT64_MAX s waits). */
static int64_t ts_ns(const struct timespec *ts)
{
	int64_t sec = ts->tv_sec;	/* time_t is 32 bits in i386 builds */

	if (sec >= INT64_MAX / 1000000000)
		return INT64_MAX;
	return sec * 1000000000 + ts->tv_nsec;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

/* epoll_wait() with a nanosecond timeout (-1: forever). */
static int epoll_wait_ns(int epfd, struct epoll_event *ev, int n,
			 int64_t ns)
{
#ifdef SYS_epoll_pwait2
	static int no_pwait2;

	if (!no_pwait2) {
		/*
		 * The system call takes the 64-bit timespec, also from a
		 * 32-bit program (whose struct timespec is 8 bytes).
		 */
		struct __kernel_timespec ts = {
			ns / 1000000000, ns % 1000000000
		};
		long r = syscall(SYS_epoll_pwait2, epfd, ev, n,
				 ns < 0 ? NULL : &ts, NULL, 0);

		if (r >= 0 || errno != ENOSYS)
			return (int)r;
		no_pwait2 = 1;
	}
#endif
	return epoll_wait(epfd, ev, n, ns < 0 ? -1 :
			  ns > INT_MAX * 1000000ll ? INT_MAX :
			  (int)((ns + 999999) / 1000000));
}

static int scan(struct ukq *kq, struct kevent *out, int max,
		const struct timespec *timeout)
{
	struct epoll_event ev[HARVEST_LEN];
	int64_t deadline = -1;
	bool first = true;

	if (timeout) {
		int64_t t = ts_ns(timeout);

		deadline = t == 0 ? 0 : mono_ns() + t;
		if (t > INT64_MAX / 2)
			deadline = -1;
	}
	for (;;) {
		int64_t left = -1;
		int n, count, err;

		if (first) {
			harvest_now(kq);
			recheck_all(kq);
		}
		first = false;
		count = collect(kq, out, max, false);
		if (count > 0 || deadline == 0)
			return count;
		if (deadline > 0) {
			left = deadline - mono_ns();
			if (left <= 0)
				return 0;
		}
		if (kq->nrecheck && (left < 0 || left > RECHECK_MS * 1000000))
			left = RECHECK_MS * 1000000;
		sync_evfd(kq);
		kq->callgen++;	/* probes of the changes are old after this */
		pthread_mutex_unlock(&kq->mtx);
		n = epoll_wait_ns(kq->epfd, ev, HARVEST_LEN, left);
		err = errno;
		pthread_mutex_lock(&kq->mtx);
		if (n < 0) {
			errno = err == EINVAL ? EBADF : err;
			return -1;
		}
		harvest(kq, ev, n);
		if (n == HARVEST_LEN)
			harvest_now(kq);
		recheck_all(kq);
	}
}

static int kevent_locked(struct ukq *kq, const struct kevent *changelist,
			 int nchanges, struct kevent *eventlist, int nevents,
			 const struct timespec *timeout)
{
	int nerrors = 0, room = nevents;

	kq->callgen++;
	for (int i = 0; i < nchanges; i++) {
		struct kevent kev = changelist[i];
		int err;

		kev.flags &= ~EV_SYSFLAGS;
		err = kq_register(kq, &kev);
		if (!err && !(kev.flags & EV_RECEIPT))
			continue;
		if (room == 0) {
			if (err) {
				errno = err;
				return -1;
			}
			return nerrors;
		}
		kev.flags = EV_ERROR;
		kev.data = err;
		eventlist[nerrors++] = kev;
		room--;
	}
	if (nerrors)
		return nerrors;
	if (nevents == 0)
		return 0;
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	return scan(kq, eventlist, nevents, timeout);
}

int kq_user_kevent(int kqfd, const struct kevent *changelist, int nchanges,
		   struct kevent *eventlist, int nevents,
		   const struct timespec *timeout, int *ret)
{
	struct ukq *kq;
	int r = ukq_lookup(kqfd, &kq);

	if (r <= 0)
		ukq_signal_deliver();	/* a closed kqueue may have gone */
	if (r == 0)
		return 0;
	if (nchanges < 0 || nevents < 0) {
		ukq_put(kq);
		errno = EINVAL;
		*ret = -1;
		return 1;
	}
	pthread_mutex_lock(&kq->mtx);
	r = kevent_locked(kq, changelist, nchanges, eventlist, nevents,
			  timeout);
	int err = errno;

	kq->callgen++;	/* no probe outlives its call */
	sync_evfd(kq);
	pthread_mutex_unlock(&kq->mtx);
	ukq_put(kq);
	ukq_signal_deliver();	/* no lock held: handlers may run */
	errno = err;
	*ret = r;
	return 1;
}
