/*
 * user_pool.c - fixed-size object pools for the user-space backend: each
 * kqueue takes its knotes and sources from two pools, so that registering
 * a descriptor costs no malloc() (two calloc() calls were half the
 * library's own work per registration).
 *
 * A pool hands out objects carved from chunks of POOL_CHUNK bytes (plain
 * malloc() blocks, which malloc reuses for the next kqueue without new
 * page faults); each slot starts with a pointer to its chunk, the object
 * follows.  A chunk keeps its own free list; the pool keeps the chunks
 * that have a free object on its `avail` list and every chunk on `all`.
 * A chunk whose objects are all free again is given back unless it is
 * the only one with room, so a kqueue's memory follows its number of
 * registrations down as well as up.  Given-back chunks go to a small
 * process-wide cache first (CACHE_MAX chunks, 512 KiB): when a kqueue is
 * closed, malloc would otherwise hand its memory back to the kernel at
 * once, and the next kqueue would pay a page fault per 4 KiB again.
 *
 * Locking: a pool has no lock of its own; each belongs to one kqueue and
 * is used under that kqueue's mutex (user_core.c).  cache_lock protects
 * the chunk cache and is taken once per chunk, never per object.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kq_internal.h"

#define POOL_CHUNK	16384
#define CACHE_MAX	32

struct pool_chunk {
	struct plink all;	/* on pool->all */
	struct plink avail;	/* on pool->avail while it has a free object */
	void *free;		/* free objects, linked */
	unsigned int nfree, nobj;
};

#define chunk_of(link, member) ((struct pool_chunk *)((char *)(link) - \
				offsetof(struct pool_chunk, member)))

static void link_init(struct plink *l)
{
	l->next = l->prev = l;
}

static bool link_empty(const struct plink *l)
{
	return l->next == l;
}

static void link_add(struct plink *head, struct plink *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}

static void link_del(struct plink *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

/*
 * Slots start after the chunk's header; a slot is SLOT_HDR bytes (the
 * owner chunk, padded to keep the object 16-byte aligned) and the object.
 */
#define CHUNK_HDR	((sizeof(struct pool_chunk) + 15) & ~(size_t)15)
#define SLOT_HDR	16

void upool_init(struct upool *p, size_t objsize)
{
	p->objsize = (objsize + 15) & ~(size_t)15;
	link_init(&p->all);
	link_init(&p->avail);
}

static struct pool_chunk **slot_owner(void *obj)
{
	return (struct pool_chunk **)((char *)obj - SLOT_HDR);
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cache[CACHE_MAX];
static int cache_len;

static void *chunk_get(void)
{
	void *mem = NULL;

	pthread_mutex_lock(&cache_lock);
	if (cache_len)
		mem = cache[--cache_len];
	pthread_mutex_unlock(&cache_lock);
	return mem ? mem : malloc(POOL_CHUNK);
}

/* fork(): the cache must be consistent in the child (user_core.c). */
void upool_atfork_prepare(void)
{
	pthread_mutex_lock(&cache_lock);
}

void upool_atfork_parent(void)
{
	pthread_mutex_unlock(&cache_lock);
}

void upool_atfork_child(void)
{
	pthread_mutex_init(&cache_lock, NULL);
}

static void chunk_put(void *mem)
{
	pthread_mutex_lock(&cache_lock);
	if (cache_len < CACHE_MAX) {
		cache[cache_len++] = mem;
		mem = NULL;
	}
	pthread_mutex_unlock(&cache_lock);
	free(mem);
}

static struct pool_chunk *chunk_new(struct upool *p)
{
	struct pool_chunk *c = chunk_get();
	size_t slot = SLOT_HDR + p->objsize;
	char *obj;

	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->nobj = (POOL_CHUNK - CHUNK_HDR) / slot;
	/* Link the objects last to first, so they are handed out in order. */
	obj = (char *)c + CHUNK_HDR + (size_t)c->nobj * slot + SLOT_HDR;
	for (unsigned int i = 0; i < c->nobj; i++) {
		obj -= slot;
		*slot_owner(obj) = c;
		*(void **)obj = c->free;
		c->free = obj;
	}
	c->nfree = c->nobj;
	link_add(&p->all, &c->all);
	link_add(&p->avail, &c->avail);
	return c;
}

static void chunk_release(struct pool_chunk *c)
{
	link_del(&c->avail);
	link_del(&c->all);
	chunk_put(c);
}

/* A zeroed object, or NULL (ENOMEM). */
void *upool_alloc(struct upool *p)
{
	struct pool_chunk *c;
	void *obj;

	if (link_empty(&p->avail)) {
		c = chunk_new(p);
		if (!c)
			return NULL;
	} else {
		c = chunk_of(p->avail.next, avail);
	}
	obj = c->free;
	c->free = *(void **)obj;
	if (--c->nfree == 0)
		link_del(&c->avail);
	memset(obj, 0, p->objsize);
	return obj;
}

void upool_free(struct upool *p, void *obj)
{
	struct pool_chunk *c = *slot_owner(obj);

	*(void **)obj = c->free;
	c->free = obj;
	if (c->nfree++ == 0)
		link_add(&p->avail, &c->avail);
	/* All free: give it back unless it is the only room left. */
	if (c->nfree == c->nobj && p->avail.next != p->avail.prev)
		chunk_release(c);
}

/* Frees every chunk; the objects must no longer be used. */
void upool_destroy(struct upool *p)
{
	while (!link_empty(&p->all))
		chunk_release(chunk_of(p->all.next, all));
}
