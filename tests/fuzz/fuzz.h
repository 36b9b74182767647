/*
 * fuzz.h - shared declarations of kqfuzz, the seeded random driver of
 * kevent() (kqfuzz.c: options, fuzz threads, result checks, watchdog;
 * chaos.c: the descriptor pool and the chaos thread that closes, dup2()s
 * and reopens its descriptors, forks, execs and signals).
 *
 * kqfuzz uses only the public API (<sys/event.h>, -lkqueue) and none of
 * the conformance suite's framework.
 *
 * Locking: the pool's slots are written only by the chaos thread and read
 * by everyone with relaxed atomics (a fuzz thread may well use a number
 * whose file the chaos thread has just closed or replaced: that is the
 * point).  Numbers, though, are never freed while the threads run: every
 * number below FUZZ_LOW_FDS stays open and each slot keeps its own, so a
 * descriptor a case thread creates cannot be named by a fuzz thread before
 * the case thread has moved it out of reach (chaos.c, pool_fill_low()).
 * The child pid list is a small array of atomics with the same rule.
 * Everything else is per thread.
 */
#ifndef KQFUZZ_H
#define KQFUZZ_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/event.h>

/* ---- random numbers: splitmix64, one stream per thread ---------------- */

struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; the bias is irrelevant here). */
static inline uint64_t below(struct rng *r, uint64_t n)
{
	return rnd(r) % n;
}

/* True with probability pct percent. */
static inline int chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

/* ---- the descriptor pool (chaos.c) ------------------------------------ */

enum fd_kind {
	FK_NONE,	/* slot empty (fd -1; its number holds /dev/null) */
	FK_PIPE_R,
	FK_PIPE_W,
	FK_UNIX_STREAM,
	FK_UNIX_DGRAM,
	FK_TCP,
	FK_UDP,
	FK_EVENTFD,
	FK_FILE,
	FK_DIR,
	FK_DEVNULL,
	FK_KQUEUE,
	FK_EPOLL,
	FK_COUNT
};

#define POOL_SLOTS	40
#define POOL_KQ_SLOTS	6	/* slots [0, POOL_KQ_SLOTS) start as kqueues */
#define POOL_FILES	4	/* files f0..f3 in the scratch directory */
#define CHILD_PIDS	16
#define FUZZ_LOW_FDS	128	/* fuzz threads' random numbers are below */

struct slot {
	atomic_int fd;		/* -1 when empty */
	atomic_int kind;	/* enum fd_kind */
	int peer;		/* chaos thread only: the other end, or -1 */
};

extern struct slot pool[POOL_SLOTS];
extern atomic_int child_pids[CHILD_PIDS];	/* 0: none */
extern char scratch_dir[256];

void pool_init(struct rng *r);
void pool_close_all(void);
/* Puts /dev/null at every free number below FUZZ_LOW_FDS. */
void pool_fill_low(void);
/* The chaos thread: runs until *stop. */
void *chaos_main(void *arg);
/* One summary line of what the chaos thread did. */
void chaos_report(void);
/* Waits for every child still running (after the chaos thread stopped). */
void reap_all_children(void);
/* kqfuzz --exec-child FD: what a child runs after exec. */
int exec_child_main(int kqfd);

/* ---- shared state (kqfuzz.c) ------------------------------------------ */

extern atomic_int stop;
extern uint64_t run_seed;
extern int nthreads;
extern pthread_t *fuzz_tids;

/* Record a failed check (printf format); stops the run. */
__attribute__((format(printf, 1, 2)))
void fuzz_fail(const char *fmt, ...);

/* Monotonic milliseconds. */
long long mono_ms(void);

/* The udata that registers (filter, ident) for check_event(). */
void *fuzz_tag(short filter, uintptr_t ident);

/* ---- scenario threads (cases.c): run until stop ----------------------- */

/*
 * When each case thread (0 nest, 1 splice) entered its current system
 * call (mono_ms()), 0 outside one: kqfuzz's watchdog reads them.
 */
#define NR_CASES	2
extern atomic_llong case_busy_since[NR_CASES];
extern const char *const case_names[NR_CASES];

void *case_nest_main(void *arg);
void *case_splice_main(void *arg);
/* One summary line of what they did. */
void case_report(void);

/* Signal numbers the fuzzer sends to itself (handlers do nothing). */
#define SIG_POKE	SIGUSR1		/* interrupts a fuzz thread: EINTR */
#define SIG_SELF	SIGUSR2		/* process-directed: EVFILT_SIGNAL */

#endif /* KQFUZZ_H */
