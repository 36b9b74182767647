/*
 * t_limits.c - what one user can take and see, and many threads on one
 * kqueue.
 *
 *   - max_user_knotes caps the knotes of one user (ENOMEM, also as an
 *     EV_ERROR entry; a change to an existing knote still works; a slot
 *     freed by EV_DELETE, close() or closing the kqueue can be used again);
 *     the cap is per user: another uid has its own;
 *   - knotes are charged to the memory cgroup of the process that registers
 *     them (memory.current grows by more than 64 bytes per knote);
 *   - no information leaks: the counters are root-only; an EV_ERROR entry
 *     echoes exactly what was given (data = errno, flags = EV_ERROR) and a
 *     returned event has exactly the expected fields, nothing is written
 *     past the last entry; a process cannot register a descriptor number
 *     that is open only in another process, nor use a kqueue passed to it;
 *   - one event wakes one of four waiting threads, not all of them
 *     (counted with getrusage(RUSAGE_THREAD) voluntary context switches);
 *     changes from two threads while two others wait, and EV_ADD racing
 *     dup2()/close() of the same descriptor, leave consistent counters.
 *
 * Tests that change a module parameter or mount/make a cgroup do the work
 * in a child and restore the state in the test process whatever happened
 * (run_child_then()).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KQ	"nr_kqueues"
#define NR_KN	"nr_knotes"
#define MAX_UK	"max_user_knotes"

/* ---- the per-user knote cap -------------------------------------------- */

enum { CAP = 50 };

/* Registers CAP knotes (READ and WRITE of CAP / 2 pipes) in kq. */
static void fill_cap(int kq, int p[][2])
{
	for (int i = 0; i < CAP / 2; i++) {
		make_pipe(p[i]);
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		kev_add(kq, p[i][1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	}
}

/* As uid 65533: its own CAP knotes, then ENOMEM. */
static void cap_other_user(void)
{
	int p[CAP / 2][2], x[2];

	drop_privileges(65533);
	int kq = kq_new();
	fill_cap(kq, p);
	make_pipe(x);
	CHECK_ERR(kev_change(kq, x[0], EVFILT_READ, EV_ADD, 0, 0, NULL),
		  ENOMEM);
}

static void cap_worker(void *arg)
{
	int ready[2], ready_b[2], go[2];
	long long kn0 = read_counter(NR_KN);

	(void)arg;
	alarm(kqt_scaled_s(25));	/* dies before the runner's timeout: state restored */
	make_pipe(ready);
	make_pipe(ready_b);
	make_pipe(go);
	pid_t a = fork();
	CHECK_OK(a);
	if (a == 0) {
		int p[CAP / 2][2], x[2], y[2];
		struct kevent ch[3], ev[4];

		alarm(kqt_scaled_s(20));
		drop_privileges(65534);
		int kq = kq_new();
		fill_cap(kq, p);
		make_pipe(x);
		make_pipe(y);
		/* The 51st. */
		CHECK_ERR(kev_change(kq, x[0], EVFILT_READ, EV_ADD, 0, 0,
				     NULL), ENOMEM);
		/* With room: an EV_ERROR entry, the others still applied. */
		EV_SET(&ch[0], x[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x51);
		EV_SET(&ch[1], p[0][0], EVFILT_READ, EV_ADD, 0, 0,
		       (void *)0x52);	/* exists: no new knote */
		EV_SET(&ch[2], y[1], EVFILT_WRITE, EV_ADD | EV_CLEAR,
		       NOTE_LOWAT, 9, (void *)0x53);
		CHECK_EQ(kevent(kq, ch, 3, ev, 4, NULL), 2);
		CHECK_EQ(ev[0].ident, x[0]);
		CHECK_EQ(ev[0].filter, EVFILT_READ);
		CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
		CHECK_EQ(ev[0].data, ENOMEM);
		CHECK(ev[0].udata == (void *)0x51);
		CHECK_EQ(ev[1].ident, y[1]);
		CHECK_EQ(ev[1].filter, EVFILT_WRITE);
		CHECK_EQ_HEX(ev[1].flags, EV_ERROR);
		CHECK_EQ(ev[1].fflags, NOTE_LOWAT);
		CHECK_EQ(ev[1].data, ENOMEM);
		CHECK(ev[1].udata == (void *)0x53);
		write_n(p[0][1], 1);
		struct kevent e;
		kev_expect(kq, p[0][0], EVFILT_READ, WAIT_MS_DEFAULT, &e);
		CHECK(e.udata == (void *)0x52);
		/* Disable/enable are no new knotes either. */
		kev_add(kq, p[1][0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
		kev_add(kq, p[1][0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
		/* The cap is the user's, not the kqueue's. */
		int kq2 = kq_new();
		CHECK_ERR(kev_change(kq2, x[0], EVFILT_READ, EV_ADD, 0, 0,
				     NULL), ENOMEM);
		CHECK_EQ(write(ready[1], "r", 1), 1);
		/* Hold all 50 while uid 65533 registers its own. */
		read_n(go[0], 1);

		/* EV_DELETE frees a slot, for any kqueue of the user. */
		kev_add(kq, p[2][1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
		kev_add(kq2, x[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		CHECK_ERR(kev_change(kq, y[0], EVFILT_READ, EV_ADD, 0, 0,
				     NULL), ENOMEM);
		/* So does closing a watched descriptor. */
		CHECK_OK(close(p[3][1]));
		kev_add(kq, y[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		CHECK_ERR(kev_change(kq, y[1], EVFILT_WRITE, EV_ADD, 0, 0,
				     NULL), ENOMEM);
		/* And closing a kqueue frees all of its knotes. */
		CHECK_OK(close(kq));
		int q[CAP / 2][2];
		int kq3 = kq_new();
		for (int i = 0; i < CAP / 2 - 1; i++) {
			make_pipe(q[i]);
			kev_add(kq3, q[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
			kev_add(kq3, q[i][1], EVFILT_WRITE, EV_ADD, 0, 0,
				NULL);
		}
		kev_add(kq3, y[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
		CHECK_ERR(kev_change(kq3, y[0], EVFILT_READ, EV_ADD, 0, 0,
				     NULL), ENOMEM);
		_exit(0);
	}
	CHECK_OK(close(ready[1]));
	await_child_byte(ready[0], a);
	expect_counter(NR_KN, kn0 + CAP);
	pid_t b = fork();
	CHECK_OK(b);
	if (b == 0) {
		alarm(kqt_scaled_s(20));
		cap_other_user();
		CHECK_EQ(write(ready_b[1], "r", 1), 1);
		read_n(go[0], 1);
		_exit(0);
	}
	CHECK_OK(close(ready_b[1]));
	await_child_byte(ready_b[0], b);
	expect_counter(NR_KN, kn0 + 2 * CAP);
	write_n(go[1], 2);
	wait_child_ok(b);
	wait_child_ok(a);
	expect_counter(NR_KN, kn0);
}

/* A module parameter: module only. */
TEST(limits_max_user_knotes_per_user)
{
	require_module_counters();
	int gate = kq_new();
	struct kqt_param old = kqt_param_save(MAX_UK);

	CHECK_GT(old.old, CAP);
	CHECK_OK(write_param(MAX_UK, CAP));
	CHECK_EQ(read_counter(MAX_UK), CAP);
	run_child_then(cap_worker, NULL, kqt_param_restore, &old);
	CHECK_EQ(read_counter(MAX_UK), old.old);
	CHECK_OK(close(gate));
}

/* ---- memory cgroup ------------------------------------------------------ */

#define CG_ROOT "/sys/fs/cgroup"
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct cg_state {
	int mounted;		/* we mounted cgroup2 */
	int enabled;		/* we enabled +memory in the root */
	char dir[128];		/* our cgroup, "" if not made */
};

static int file_has_word(const char *path, const char *word)
{
	char buf[512];
	FILE *f = fopen(path, "r");
	int found = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%511s", buf) == 1)
		if (strcmp(buf, word) == 0)
			found = 1;
	fclose(f);
	return found;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, s, strlen(s));
	close(fd);
	return w == (ssize_t)strlen(s) ? 0 : -1;
}

static long long cg_read_ll(const char *dir, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	CHECKF(f != NULL, "open %s: %s", path, kqt_errname(errno));
	CHECKF(fscanf(f, "%lld", &v) == 1, "parse %s", path);
	fclose(f);
	return v;
}

static void cg_cleanup(void *arg)
{
	struct cg_state *cg = arg;

	if (cg->dir[0]) {
		/* Emptied once its only process is reaped; allow a moment. */
		for (int i = 0; i < 100 && rmdir(cg->dir) < 0 &&
		     errno == EBUSY; i++)
			sleep_ms(20);
		cg->dir[0] = '\0';
	}
	if (cg->enabled)
		write_str(CG_ROOT "/cgroup.subtree_control", "-memory");
	if (cg->mounted)
		umount2(CG_ROOT, MNT_DETACH);
}

static void memcg_worker(const char *dir)
{
	enum { NPIPE = 5000, NKN = 2 * NPIPE, BATCH = 500 };
	int (*p)[2] = calloc(NPIPE, sizeof(*p));
	struct kevent *ch = calloc(BATCH, sizeof(*ch));

	CHECK(p && ch);
	raise_nofile(NKN + 200);
	int kq = kq_new();
	long long m0 = cg_read_ll(dir, "memory.current");
	for (int i = 0; i < NPIPE; i++)
		make_pipe(p[i]);
	long long m1 = cg_read_ll(dir, "memory.current");
	for (int b = 0; b < NPIPE; b += BATCH / 2) {
		for (int i = 0; i < BATCH / 2; i++) {
			EV_SET(&ch[2 * i], p[b + i][0], EVFILT_READ, EV_ADD,
			       0, 0, NULL);
			EV_SET(&ch[2 * i + 1], p[b + i][1], EVFILT_WRITE,
			       EV_ADD, 0, 0, NULL);
		}
		CHECK_EQ(kevent(kq, ch, BATCH, NULL, 0, NULL), 0);
	}
	long long m2 = cg_read_ll(dir, "memory.current");
	CHECKF(m1 > m0, "creating %d pipes charged nothing (%lld -> %lld): "
	       "is kernel memory accounted at all?", NPIPE, m0, m1);
	CHECKF(m2 - m1 >= (long long)NKN * 64, "registering %d knotes grew "
	       "memory.current by %lld bytes (want >= %d; the %d pipes took "
	       "%lld)", NKN, m2 - m1, NKN * 64, NPIPE, m1 - m0);
}

/* Run fn(dir) in a child inside a fresh memory cgroup dir; judge it. */
static void in_memcg(void (*fn)(const char *dir))
{
	struct cg_state cg = { 0 };
	struct statfs sfs;

	if (statfs(CG_ROOT, &sfs) < 0 ||
	    (unsigned long)sfs.f_type != CGROUP2_SUPER_MAGIC) {
		CHECKF(mount("none", CG_ROOT, "cgroup2", 0, NULL) == 0,
		       "mount cgroup2 on " CG_ROOT ": %s",
		       kqt_errname(errno));
		cg.mounted = 1;
	}
	int has = file_has_word(CG_ROOT "/cgroup.controllers", "memory");
	if (has != 1) {
		cg_cleanup(&cg);
		FAIL("no memory controller in " CG_ROOT "/cgroup.controllers");
	}
	if (file_has_word(CG_ROOT "/cgroup.subtree_control", "memory") != 1) {
		if (write_str(CG_ROOT "/cgroup.subtree_control",
			      "+memory") < 0) {
			int e = errno;

			cg_cleanup(&cg);
			FAIL("enabling +memory: %s", kqt_errname(e));
		}
		cg.enabled = 1;
	}
	snprintf(cg.dir, sizeof(cg.dir), CG_ROOT "/kqtest-%d", (int)getpid());
	if (mkdir(cg.dir, 0755) < 0) {
		int e = errno;

		cg.dir[0] = '\0';
		cg_cleanup(&cg);
		FAIL("mkdir cgroup: %s", kqt_errname(e));
	}

	/* A child moves itself in ("0" is the writer), then registers. */
	char procs[200];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg.dir);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		cg_cleanup(&cg);
		FAIL("fork: %s", kqt_errname(errno));
	}
	if (pid == 0) {
		alarm(kqt_scaled_s(25));
		CHECKF(write_str(procs, "0\n") == 0, "moving into %s: %s",
		       cg.dir, kqt_errname(errno));
		fn(cg.dir);
		_exit(0);
	}
	/* Reaped, cleaned up, then judged (as run_child_then() does). */
	int st;
	pid_t r;
	do {
		r = waitpid(pid, &st, 0);
	} while (r < 0 && errno == EINTR);
	cg_cleanup(&cg);
	CHECK_EQ(r, pid);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		if (WIFSIGNALED(st))
			FAIL("child killed by signal %d", WTERMSIG(st));
		_exit(1);	/* the child's message is already recorded */
	}
}

TEST(limits_knotes_charged_to_memcg)
{
	in_memcg(memcg_worker);
}

/* A line "name N" of dir's memory.stat, once the stats were flushed. */
static long long cg_stat(const char *dir, const char *name)
{
	char path[256], key[64];
	long long v, found = -1;
	FILE *f;

	/* memory.stat is refreshed every 2 s (and on big changes). */
	sleep_ms(2500);
	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	f = fopen(path, "r");
	CHECKF(f != NULL, "open %s: %s", path, kqt_errname(errno));
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (strcmp(key, name) == 0)
			found = v;
	fclose(f);
	CHECKF(found >= 0, "no %s in %s", name, path);
	return found;
}

/*
 * A kqueue filled and emptied again gives its knote table back: a user
 * cannot pin a big table in each of many kqueues while holding no knote.
 * Two kqueues in turn get 33,000 EVFILT_USER knotes (a table of 2^15
 * buckets, 256 KiB each), which are then deleted; the kernel memory
 * charged to the cgroup must come back close to where it was.  It is
 * read from memory.stat ("kernel": pages charged for kernel objects),
 * not memory.current, which also holds up to 64 pre-charged pages per CPU.
 */
static void table_worker(const char *dir)
{
	enum { NKQ = 2, NKN = 33000, BATCH = 1000 };
	struct kevent *ch = calloc(BATCH, sizeof(*ch));
	int kq[NKQ];

	CHECK(ch);
	for (int q = 0; q < NKQ; q++)
		kq[q] = kq_new();
	long long m0 = cg_stat(dir, "kernel"), peak = m0;
	for (int q = 0; q < NKQ; q++) {
		for (int flags = EV_ADD; flags; flags = flags == EV_ADD ?
		     EV_DELETE : 0) {
			for (int b = 0; b < NKN; b += BATCH) {
				int n = NKN - b < BATCH ? NKN - b : BATCH;

				for (int i = 0; i < n; i++)
					EV_SET(&ch[i], b + i, EVFILT_USER,
					       flags, 0, 0, NULL);
				CHECK_EQ(kevent(kq[q], ch, n, NULL, 0, NULL),
					 0);
			}
			if (q == 0 && flags == EV_ADD)
				peak = cg_stat(dir, "kernel");
		}
	}
	long long m1 = cg_stat(dir, "kernel");
	CHECKF(peak - m0 >= (long long)NKN * 64, "registering %d knotes "
	       "grew the cgroup's kernel memory by %lld bytes only", NKN,
	       peak - m0);
	CHECKF(m1 - m0 < 128 * 1024, "%d kqueues, each filled with %d "
	       "knotes and emptied, still hold %lld bytes (full: +%lld)",
	       NKQ, NKN, m1 - m0, peak - m0);
	for (int q = 0; q < NKQ; q++)
		close(kq[q]);
	free(ch);
}

TEST(limits_emptied_kqueue_table_uncharged)
{
	in_memcg(table_worker);
}

/* ---- information leaks -------------------------------------------------- */

static void counters_as_nobody(void *arg)
{
	(void)arg;
	drop_privileges(65534);
	CHECK_ERR(open("/sys/module/kqueue/parameters/" NR_KQ, O_RDONLY),
		  EACCES);
	CHECK_ERR(open("/sys/module/kqueue/parameters/" NR_KN, O_RDONLY),
		  EACCES);
	/* The cap can be read but not changed. */
	int fd = open("/sys/module/kqueue/parameters/" MAX_UK, O_RDONLY);
	CHECKF(fd >= 0, "open " MAX_UK " as nobody: %s", kqt_errname(errno));
	close(fd);
	CHECK_ERR(open("/sys/module/kqueue/parameters/" MAX_UK, O_WRONLY),
		  EACCES);
}

static void nothing(void *arg)
{
	(void)arg;
}

/* The module's sysfs files: module only. */
TEST(leak_counters_root_only)
{
	require_module_counters();
	int gate = kq_new();
	long long kn = read_counter(NR_KN), kq = read_counter(NR_KQ);

	run_child_then(counters_as_nobody, NULL, nothing, NULL);
	/* Not even root can set them. */
	CHECK(write_param(NR_KN, 0) < 0);
	CHECK(write_param(NR_KQ, 0) < 0);
	CHECK_EQ(read_counter(NR_KN), kn);
	CHECK_EQ(read_counter(NR_KQ), kq);
	CHECK_OK(close(gate));
}

static void fill_a5(void *buf, size_t len)
{
	memset(buf, 0xa5, len);
}

static void expect_untouched_at(const char *file, int line,
				const struct kevent *ev, int from, int to)
{
	for (int i = from; i < to; i++) {
		const unsigned char *b = (const unsigned char *)&ev[i];

		for (size_t j = 0; j < sizeof(ev[i]); j++)
			if (b[j] != 0xa5)
				kqt_fail(file, line, "eventlist entry %d byte "
					 "%zu was written (0x%02x)", i, j,
					 b[j]);
	}
}
#define expect_untouched(ev, from, to) \
	expect_untouched_at(__FILE__, __LINE__, ev, from, to)

static void expect_kev_at(const char *file, int line, const struct kevent *got,
			  const struct kevent *want, int i)
{
	if (memcmp(got, want, sizeof(*got)) != 0) {
		char g[160];

		snprintf(g, sizeof(g), "%s", kev_str(got));
		kqt_fail(file, line, "entry %d: got %s, want %s", i, g,
			 kev_str(want));
	}
}
#define expect_kev(got, want, i) expect_kev_at(__FILE__, __LINE__, got, want, i)

TEST(leak_ev_error_entries_exact)
{
	enum { NCH = 7, NEV = 10 };
	int kq = kq_new();
	int p[2];
	struct kevent ch[NCH], saved[NCH], ev[NEV], want[NCH];
	struct timespec ts0 = { 0, 0 };

	make_pipe(p);
	int closed = dup(p[0]);
	CHECK_OK(closed);
	CHECK_OK(close(closed));

	EV_SET(&ch[0], closed, EVFILT_READ, EV_ADD | EV_CLEAR | EV_ONESHOT,
	       NOTE_LOWAT, 7, (void *)0x1111);
	EV_SET(&ch[1], p[1], EVFILT_WRITE, EV_DELETE, 0x12345, -5,
	       (void *)0x2222);
	EV_SET(&ch[2], kq, EVFILT_READ, EV_ADD, 0xffffffff, 99,
	       (void *)0x3333);
	EV_SET(&ch[3], p[0], EVFILT_AIO, EV_ADD, 0x40, 0, (void *)-1);
	EV_SET(&ch[4], p[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0,
	       (void *)0x5555);		/* a receipt: data 0 */
	EV_SET(&ch[5], p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL); /* silent */
	EV_SET(&ch[6], p[0], -100, EV_ADD | EV_DISPATCH, 3, 4, (void *)0x7777);
	memcpy(saved, ch, sizeof(ch));
	fill_a5(ev, sizeof(ev));
	/* An event is ready: it must not be mixed in. */
	write_n(p[1], 1);

	int n = kevent(kq, ch, NCH, ev, NEV, &ts0);
	CHECKF(n == 6, "kevent returned %d (%s), want 6 entries", n,
	       n < 0 ? kqt_errname(errno) : "-");
	const int errs[] = { EBADF, ENOENT, EINVAL, EOPNOTSUPP, 0, EINVAL };
	const int src[] = { 0, 1, 2, 3, 4, 6 };
	for (int i = 0; i < 6; i++) {
		want[i] = ch[src[i]];
		want[i].flags = EV_ERROR;
		want[i].data = errs[i];
		expect_kev(&ev[i], &want[i], i);
	}
	expect_untouched(ev, 6, NEV);
	CHECK(memcmp(saved, ch, sizeof(ch)) == 0);	/* input untouched */
	/* The successful changes were applied. */
	n = kev_poll(kq, ev, NEV);
	CHECK_EQ(n, 2);
}

TEST(leak_returned_event_exact)
{
	enum { NEV = 8 };
	int kq = kq_new();
	int a[2], b[2], c[2], d[2], e[2];
	struct kevent ev[NEV], want;

	make_pipe(a);
	make_pipe(b);
	make_pipe(c);
	make_pipe(d);
	make_pipe(e);
	/* Registration fflags/data (a low-water mark) are not echoed. */
	kev_add(kq, a[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 1, (void *)0xa);
	kev_add(kq, b[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)0xb);
	kev_add(kq, c[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, (void *)0xc);
	kev_add(kq, d[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0,
		(void *)0xd);
	kev_add(kq, e[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)0xe);
	write_n(a[1], 5);
	write_n(b[1], 6);
	write_n(c[1], 7);
	write_n(d[1], 8);
	write_n(e[1], 2);
	CHECK_OK(close(e[1]));

	fill_a5(ev, sizeof(ev));
	int n = kev_poll(kq, ev, NEV);
	CHECK_EQ(n, 5);
	expect_untouched(ev, 5, NEV);
	for (int i = 0; i < n; i++) {
		uintptr_t u = (uintptr_t)ev[i].udata;

		switch (u) {
		case 0xa:
			EV_SET(&want, a[0], EVFILT_READ, 0, 0, 5, (void *)u);
			break;
		case 0xb:
			EV_SET(&want, b[0], EVFILT_READ, EV_CLEAR, 0, 6,
			       (void *)u);
			break;
		case 0xc:
			EV_SET(&want, c[0], EVFILT_READ, EV_ONESHOT, 0, 7,
			       (void *)u);
			break;
		case 0xd:
			EV_SET(&want, d[0], EVFILT_READ, EV_DISPATCH, 0, 8,
			       (void *)u);
			break;
		case 0xe:
			EV_SET(&want, e[0], EVFILT_READ, EV_CLEAR | EV_EOF, 0,
			       2, (void *)u);
			break;
		default:
			FAIL("unexpected event %s", kev_str(&ev[i]));
		}
		expect_kev(&ev[i], &want, i);
	}
	/* Fewer slots than events: exactly that many written. */
	write_n(b[1], 1);
	write_n(a[1], 1);
	fill_a5(ev, sizeof(ev));
	n = kev_poll(kq, ev, 1);
	CHECK_EQ(n, 1);
	expect_untouched(ev, 1, NEV);
}

TEST(leak_foreign_descriptors_ebadf)
{
	enum { FOREIGN = 777 };
	int kq = kq_new();
	int sp[2], ready[2], go[2];

	raise_nofile(1024);
	make_unix_pair(SOCK_STREAM, sp);
	make_pipe(ready);
	make_pipe(go);
	long long kn0 = counter_base(NR_KN);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		int own_p[2];

		alarm(kqt_scaled_s(20));
		/* Not inherited (gone at fork): it must come by SCM_RIGHTS. */
		CHECK_ERR(fcntl(kq, F_GETFD), EBADF);
		drop_privileges(65534);
		int own = kq_new();
		make_pipe(own_p);
		write_n(ready[1], 1);
		read_n(go[0], 1);
		/* The number is open in the parent, not here. */
		CHECK_ERR(fcntl(FOREIGN, F_GETFD), EBADF);
		CHECK_ERR(kev_change(own, FOREIGN, EVFILT_READ, EV_ADD, 0, 0,
				     NULL), EBADF);
		CHECK_ERR(kev_change(own, FOREIGN, EVFILT_WRITE, EV_ADD, 0, 0,
				     NULL), EBADF);
		/* The parent's kqueue, passed over a socket: not usable. */
		int got = recv_fd(sp[1]);
		struct kevent ch, ev[2];
		struct timespec ts0 = { 0, 0 };
		EV_SET(&ch, own_p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		CHECK_ERR(kevent(got, &ch, 1, NULL, 0, NULL), EBADF);
		CHECK_ERR(kevent(got, NULL, 0, ev, 2, &ts0), EBADF);
		write_n(ready[1], 1);
		_exit(0);
	}
	CHECK_OK(close(ready[1]));
	await_child_byte(ready[0], pid);
	/* Open FOREIGN here only now, after the fork. */
	int f[2];
	make_pipe(f);
	CHECK_ERR(fcntl(FOREIGN, F_GETFD), EBADF);
	CHECK_EQ(dup2(f[0], FOREIGN), FOREIGN);
	kev_add(kq, FOREIGN, EVFILT_READ, EV_ADD, 0, 0, (void *)0xf);
	write_n(f[1], 1);
	/* Send our kqueue. */
	write_n(go[1], 1);
	send_fd(sp[0], kq);
	await_child_byte(ready[0], pid);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	wait_child_ok(pid);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	struct kevent ev;
	kev_expect(kq, FOREIGN, EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0xf);
}

/* ---- threads ------------------------------------------------------------ */

struct herd {
	pthread_t tid;
	int kq;
	int ms;
	pid_t tid_os;
	int n;
	int err;
	long long dt;
	long nvcsw;
	struct kevent ev;
};

static void *herd_main(void *arg)
{
	struct herd *h = arg;
	struct timespec ts = { h->ms / 1000, (long)(h->ms % 1000) * 1000000 };
	struct rusage r0, r1;

	__atomic_store_n(&h->tid_os, (pid_t)syscall(SYS_gettid),
			 __ATOMIC_SEQ_CST);
	getrusage(RUSAGE_THREAD, &r0);
	long long t0 = now_ms();
	h->n = kevent(h->kq, NULL, 0, &h->ev, 1, &ts);
	h->err = errno;
	h->dt = now_ms() - t0;
	getrusage(RUSAGE_THREAD, &r1);
	h->nvcsw = r1.ru_nvcsw - r0.ru_nvcsw;
	return NULL;
}

/* The state letter of thread tid ('S' sleeping, 'R' running, ...). */
static char thread_state(pid_t tid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return '?';
	}
	fclose(f);
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* Waits until the thread sleeps (in kevent(): it does nothing else). */
static void wait_asleep(struct herd *h)
{
	long long deadline = now_ms() + 5000;
	pid_t tid;

	while (!(tid = __atomic_load_n(&h->tid_os, __ATOMIC_SEQ_CST)))
		CHECKF(now_ms() < deadline, "thread did not start");
	while (thread_state(tid) != 'S') {
		CHECKF(now_ms() < deadline, "thread %d never slept (state %c)",
		       (int)tid, thread_state(tid));
		sleep_ms(5);
	}
	sleep_ms(20);
}

TEST(mt_one_event_wakes_one_waiter)
{
	enum { NW = 4, MS = 2500 };
	int kq = kq_new();
	int p[2];
	struct herd h[NW];

	memset(h, 0, sizeof(h));
	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)0x4e);
	/*
	 * One at a time, so that none of them sleeps on the kqueue's mutex
	 * on its way in: each one's only sleep is the wait for events.
	 */
	for (int i = 0; i < NW; i++) {
		h[i].kq = kq;
		h[i].ms = MS;
		CHECK_EQ(pthread_create(&h[i].tid, NULL, herd_main, &h[i]), 0);
		wait_asleep(&h[i]);
	}
	write_n(p[1], 1);
	int winner = -1;
	for (int i = 0; i < NW; i++) {
		CHECK_EQ(pthread_join(h[i].tid, NULL), 0);
		CHECKF(h[i].n == 0 || h[i].n == 1, "thread %d: %d (%s)", i,
		       h[i].n, h[i].n < 0 ? kqt_errname(h[i].err) : "-");
		if (h[i].n == 1) {
			CHECKF(winner < 0, "threads %d and %d both got the "
			       "event", winner, i);
			winner = i;
			CHECK_EQ(h[i].ev.ident, p[0]);
			CHECK(h[i].ev.udata == (void *)0x4e);
		}
	}
	CHECKF(winner >= 0, "no thread got the event");
	/*
	 * Each thread slept at least once.  A loser that was woken by the
	 * write, found nothing and slept again shows a second voluntary
	 * switch; with one wakeup per event there is none (one spare for
	 * noise).
	 */
	int extra = 0;
	char who[128] = "";
	for (int i = 0; i < NW; i++) {
		char one[32];

		snprintf(one, sizeof(one), " t%d:%ld/%lldms", i, h[i].nvcsw,
			 h[i].dt);
		strncat(who, one, sizeof(who) - strlen(who) - 1);
		CHECKF(h[i].nvcsw >= 1, "thread %d: %ld voluntary switches "
		       "while it slept in kevent()", i, h[i].nvcsw);
		if (i == winner)
			continue;
		CHECKF(h[i].dt >= MS - 100, "thread %d returned 0 after %lld "
		       "ms, before its %d ms timeout", i, h[i].dt, MS);
		extra += (int)(h[i].nvcsw - 1);
	}
	CHECKF(extra <= 1, "the %d losers were woken %d extra times by one "
	       "event (switches/time:%s)", NW - 1, extra, who);
	kev_expect_empty(kq);
}

struct changer {
	pthread_t tid;
	int kq;
	int (*p)[2];
	int np;
	int iters;
	int failures;
	char msg[200];
};

/* EV_ADD then EV_DELETE of every fd, with receipts; races allowed. */
static void *changer_main(void *arg)
{
	struct changer *c = arg;
	int nc = 2 * c->np;
	struct kevent *ch = calloc(nc, sizeof(*ch));
	struct kevent *rc = calloc(nc, sizeof(*rc));

	if (!ch || !rc) {
		c->failures++;
		return NULL;
	}
	for (int it = 0; it < c->iters && !c->failures; it++) {
		for (int pass = 0; pass < 2; pass++) {
			unsigned short op = pass ? EV_DELETE : EV_ADD;

			for (int i = 0; i < c->np; i++) {
				EV_SET(&ch[2 * i], c->p[i][0], EVFILT_READ,
				       op | EV_RECEIPT, 0, 0,
				       (void *)(intptr_t)(2 * i + 1));
				EV_SET(&ch[2 * i + 1], c->p[i][1],
				       EVFILT_WRITE, op | EV_RECEIPT, 0, 0,
				       (void *)(intptr_t)(2 * i + 2));
			}
			int r = kevent(c->kq, ch, nc, rc, nc, NULL);
			if (r != nc) {
				snprintf(c->msg, sizeof(c->msg),
					 "kevent: %d (%s)", r,
					 kqt_errname(errno));
				c->failures++;
				break;
			}
			for (int k = 0; k < nc; k++) {
				int ok = (rc[k].flags & EV_ERROR) &&
					 rc[k].ident == ch[k].ident &&
					 rc[k].filter == ch[k].filter &&
					 (rc[k].data == 0 ||
					  (pass && rc[k].data == ENOENT));
				if (!ok) {
					snprintf(c->msg, sizeof(c->msg),
						 "receipt %d: %s", k,
						 kev_str(&rc[k]));
					c->failures++;
					break;
				}
			}
			/*
			 * Now and then leave the knotes in place for a moment:
			 * back-to-back calls can keep the waiters off the
			 * kqueue's lock for a whole run on a fast machine.
			 */
			if (!pass && it % 8 == 0)
				usleep(2000);
		}
	}
	free(ch);
	free(rc);
	return NULL;
}

struct collector {
	pthread_t tid;
	int kq;
	int (*p)[2];
	int np;
	int stop;
	int events;
	int failures;
	char msg[200];
};

static void *collector_main(void *arg)
{
	struct collector *c = arg;
	struct kevent ev[16];
	struct timespec ts = { 0, 50 * 1000000 };

	while (!__atomic_load_n(&c->stop, __ATOMIC_SEQ_CST)) {
		int n = kevent(c->kq, NULL, 0, ev, 16, &ts);

		if (n < 0) {
			snprintf(c->msg, sizeof(c->msg), "kevent: %s",
				 kqt_errname(errno));
			c->failures++;
			return NULL;
		}
		for (int k = 0; k < n; k++) {
			intptr_t u = (intptr_t)ev[k].udata;
			int i = (int)((u - 1) / 2), w = !((u - 1) % 2);
			int ok = u >= 1 && u <= 2 * c->np &&
				 !(ev[k].flags & EV_ERROR) &&
				 ev[k].ident == (uintptr_t)c->p[i][w ? 0 : 1] &&
				 ev[k].filter == (w ? EVFILT_READ :
						  EVFILT_WRITE);
			if (!ok) {
				snprintf(c->msg, sizeof(c->msg),
					 "stray event %s", kev_str(&ev[k]));
				c->failures++;
				return NULL;
			}
			c->events++;
		}
	}
	return NULL;
}

TEST(mt_changes_while_others_wait)
{
	enum { NP = 50, ITERS = 40 };
	int kq = kq_new();
	int p[NP][2];
	struct changer ch[2];
	struct collector co[2];

	memset(ch, 0, sizeof(ch));
	memset(co, 0, sizeof(co));
	long long kn0 = counter_base(NR_KN);
	for (int i = 0; i < NP; i++) {
		make_pipe(p[i]);
		if (i % 2)
			write_n(p[i][1], 1);
	}
	for (int t = 0; t < 2; t++) {
		co[t] = (struct collector){ .kq = kq, .p = p, .np = NP };
		CHECK_EQ(pthread_create(&co[t].tid, NULL, collector_main,
					&co[t]), 0);
	}
	for (int t = 0; t < 2; t++) {
		ch[t] = (struct changer){ .kq = kq, .p = p, .np = NP,
					  .iters = ITERS };
		CHECK_EQ(pthread_create(&ch[t].tid, NULL, changer_main,
					&ch[t]), 0);
	}
	for (int t = 0; t < 2; t++)
		CHECK_EQ(pthread_join(ch[t].tid, NULL), 0);
	for (int t = 0; t < 2; t++)
		__atomic_store_n(&co[t].stop, 1, __ATOMIC_SEQ_CST);
	for (int t = 0; t < 2; t++)
		CHECK_EQ(pthread_join(co[t].tid, NULL), 0);
	for (int t = 0; t < 2; t++) {
		CHECKF(!ch[t].failures, "changer %d: %s", t, ch[t].msg);
		CHECKF(!co[t].failures, "collector %d: %s", t, co[t].msg);
	}
	CHECKF(co[0].events + co[1].events > 0, "the waiters saw no events");
	/* Every thread's last word on every knote was EV_DELETE. */
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	for (int i = 0; i < NP; i++) {
		kev_add(kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		kev_add(kq, p[i][1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	}
	EXPECT_COUNTER(NR_KN, kn0 + 2 * NP);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}

struct racer {
	int kq;
	int x;
	int stop;
	int adds_ok;
	int adds_ebadf;
	int failures;
	char msg[200];
};

/* EV_ADD then EV_DELETE of x, over and over: every EV_ADD creates. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		errno = 0;
		int v = kev_change(r->kq, r->x, EVFILT_READ, EV_ADD, 0, 0,
				   NULL);
		if (v == 0) {
			__atomic_add_fetch(&r->adds_ok, 1, __ATOMIC_RELAXED);
		} else if (errno == EBADF) {
			__atomic_add_fetch(&r->adds_ebadf, 1,
					   __ATOMIC_RELAXED);
		} else {
			snprintf(r->msg, sizeof(r->msg), "EV_ADD: %d (%s)", v,
				 kqt_errname(errno));
			r->failures++;
			return NULL;
		}
		errno = 0;
		v = kev_change(r->kq, r->x, EVFILT_READ, EV_DELETE, 0, 0,
			       NULL);
		if (v != 0 && errno != ENOENT && errno != EBADF) {
			snprintf(r->msg, sizeof(r->msg), "EV_DELETE: %d (%s)",
				 v, kqt_errname(errno));
			r->failures++;
			return NULL;
		}
	}
	return NULL;
}

/*
 * EV_ADD of fd x on one thread while another keeps replacing (dup2) and
 * closing x: each EV_ADD either registers the file x refers to then, or
 * fails with EBADF; no knote of a file that has left x may survive (or be
 * freed twice).
 */
TEST(mt_ev_add_races_dup2_and_close)
{
	enum { RUN_MS = 2500 };
	int kq = kq_new();
	int a[2], b[2];
	struct racer r;
	pthread_t t;

	memset(&r, 0, sizeof(r));
	make_pipe(a);
	make_pipe(b);
	int src[2] = { a[0], b[0] };
	long long kn0 = counter_base(NR_KN);
	r.kq = kq;
	r.x = dup(a[0]);
	CHECK_OK(r.x);
	CHECK_EQ(pthread_create(&t, NULL, racer_main, &r), 0);
	long long deadline = now_ms() + 5000;
	while (!__atomic_load_n(&r.adds_ok, __ATOMIC_RELAXED))
		CHECKF(now_ms() < deadline, "the EV_ADD thread did not start");
	long long end = now_ms() + RUN_MS;
	int rounds;
	for (rounds = 0; now_ms() < end; rounds++) {
		if (rounds % 3 == 2)
			CHECK_OK(close(r.x));
		CHECK_EQ(dup2(src[rounds & 1], r.x), r.x);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECKF(!r.failures, "%s", r.msg);
	CHECKF(r.adds_ok > 1 && rounds > 1, "%d rounds, %d EV_ADDs (%d EBADF)",
	       rounds, r.adds_ok, r.adds_ebadf);
	/*
	 * At most the registration of what x is now survived; removing it
	 * must leave no knote of any earlier file behind.
	 */
	errno = 0;
	int v = kev_change(kq, r.x, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHECKF(v == 0 || errno == ENOENT, "EV_DELETE: %d (%s)", v,
	       kqt_errname(errno));
	EXPECT_COUNTER(NR_KN, kn0);
	/* Nothing reports either pipe now. */
	write_n(a[1], 1);
	write_n(b[1], 1);
	kev_expect_empty(kq);
	/* And x can be registered cleanly. */
	kev_add(kq, r.x, EVFILT_READ, EV_ADD, 0, 0, (void *)0x99);
	struct kevent ev;
	kev_expect(kq, r.x, EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0x99);
	CHECK_OK(close(kq));
	EXPECT_COUNTER(NR_KN, kn0);
}
