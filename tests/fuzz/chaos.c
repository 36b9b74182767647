/*
 * chaos.c - kqfuzz's descriptor pool and its chaos thread.
 *
 * The pool is POOL_SLOTS descriptors of many kinds (pipes, UNIX and TCP
 * sockets, UDP, eventfd, files and a directory in a scratch directory,
 * /dev/null, kqueues, epoll).  Fuzz threads take their idents and their
 * kqueues from it.  The chaos thread, alone, changes it while they run:
 * it closes slots and reopens them (each slot keeps its number: a closed
 * slot's number holds /dev/null, see pool_fill_low()), dup2()s one
 * slot over another, writes and reads to make events, renames, truncates,
 * links and unlinks the files, puts kqueues into epoll sets, forks
 * children that use (or fail to use) inherited kqueues, exit, exec or get
 * killed, and sends signals to the process and to fuzz threads.
 *
 * Children run only async-signal-safe code (system calls and arithmetic).
 * Their exit status says whether what they checked held; a crash or a
 * wrong status is reported through fuzz_fail().
 *
 * Locking: see fuzz.h.  Everything here except the atomics of pool[] and
 * child_pids[] belongs to the chaos thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

struct slot pool[POOL_SLOTS];
atomic_int child_pids[CHILD_PIDS];
char scratch_dir[256];

/* Exit statuses of children (anything else: see reap_one()). */
#define CHILD_OK		0
#define CHILD_KQ_USABLE		97	/* an inherited kqueue worked */
#define CHILD_EXEC_KQ_BAD	98	/* after exec its own kqueue failed */
#define CHILD_STATUS_MAX	40	/* random statuses are below this */

/* What the chaos thread did, for the summary. */
static unsigned long n_close, n_reopen, n_dup2, n_kqclose, n_fork, n_kill,
	n_signal, n_vnode;

static int placeholder = -1;		/* /dev/null, for freed numbers */
static int slot_num[POOL_SLOTS];	/* each slot's number, -1 before */
static pid_t live[CHILD_PIDS];	/* children not yet reaped */
static int nlive;
static unsigned int pid_next;
static struct rng crng;

static void file_path(char *buf, size_t len, int i)
{
	snprintf(buf, len, "%s/f%d", scratch_dir, i);
}

static int tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		goto fail;
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[0] < 0)
		goto fail;
	if (connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(sv[0]);
		goto fail;
	}
	sv[1] = accept(l, NULL, NULL);
	close(l);
	if (sv[1] < 0) {
		close(sv[0]);
		return -1;
	}
	return 0;
fail:
	close(l);
	return -1;
}

/* A new object of kind k: returns its fd and sets *peer (or -1). */
static int open_kind(int k, int *peer)
{
	char path[300];
	int p[2], fd = -1;
	int nb = chance(&crng, 80) ? O_NONBLOCK : 0;
	int cx = chance(&crng, 20) ? O_CLOEXEC : 0;

	*peer = -1;
	switch (k) {
	case FK_PIPE_R:
	case FK_PIPE_W:
		if (pipe2(p, O_NONBLOCK | cx) < 0)
			return -1;
		fd = p[k == FK_PIPE_R ? 0 : 1];
		*peer = p[k == FK_PIPE_R ? 1 : 0];
		break;
	case FK_UNIX_STREAM:
	case FK_UNIX_DGRAM:
		if (socketpair(AF_UNIX, (k == FK_UNIX_STREAM ? SOCK_STREAM :
					 SOCK_DGRAM) | SOCK_NONBLOCK |
			       (cx ? SOCK_CLOEXEC : 0), 0, p) < 0)
			return -1;
		fd = p[0];
		*peer = p[1];
		break;
	case FK_TCP:
		if (tcp_pair(p) < 0)
			return -1;
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		fd = p[0];
		*peer = p[1];
		break;
	case FK_UDP:
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		break;
	case FK_EVENTFD:
		fd = eventfd(below(&crng, 3), EFD_NONBLOCK |
			     (cx ? EFD_CLOEXEC : 0));
		break;
	case FK_FILE:
		file_path(path, sizeof(path), (int)below(&crng, POOL_FILES));
		fd = open(path, O_RDWR | O_CREAT | nb | cx, 0644);
		break;
	case FK_DIR:
		fd = open(scratch_dir, O_RDONLY | O_DIRECTORY | cx);
		break;
	case FK_DEVNULL:
		fd = open("/dev/null", O_RDWR | cx);
		break;
	case FK_KQUEUE:
		fd = cx ? kqueuex(KQUEUE_CLOEXEC) : kqueue();
		break;
	case FK_EPOLL:
		fd = epoll_create1(cx ? EPOLL_CLOEXEC : 0);
		break;
	default:
		break;
	}
	return fd;
}

/*
 * Give up fd, a number the chaos thread owns.  A number below
 * FUZZ_LOW_FDS is never freed: it gets the placeholder instead, so that
 * it cannot become the number a case thread's new descriptor gets while
 * a fuzz thread picks it at random (see pool_fill_low()).
 */
static void release_fd(int fd)
{
	if (fd < 0)
		return;
	if (fd < FUZZ_LOW_FDS && placeholder >= 0)
		dup2(placeholder, fd);
	else
		close(fd);
}

/*
 * Empty slot i.  Its number keeps the placeholder: a fuzz thread that
 * read the number a moment ago reaches /dev/null, never a descriptor
 * another thread has just created there.
 */
static void slot_close(int i)
{
	atomic_store(&pool[i].kind, FK_NONE);
	atomic_store(&pool[i].fd, -1);
	if (slot_num[i] >= 0)
		dup2(placeholder, slot_num[i]);
	release_fd(pool[i].peer);
	pool[i].peer = -1;
}

/*
 * Fill slot i (replacing what it held) with a new object of kind k, always
 * at the slot's own number: dup2() over it, so that the number is never
 * free in between (a fuzz thread's number must never become a case
 * thread's new descriptor; the knotes on the old file still go, as for a
 * close).  The first fill of a slot fixes its number.
 */
static void slot_open(int i, int k)
{
	int oldpeer = pool[i].peer, peer, fd;

	fd = open_kind(k, &peer);
	if (fd < 0) {
		slot_close(i);
		return;
	}
	atomic_store(&pool[i].kind, FK_NONE);
	if (slot_num[i] < 0) {
		slot_num[i] = fd;
	} else if (dup2(fd, slot_num[i]) == slot_num[i]) {
		release_fd(fd);
	} else {
		release_fd(fd);
		release_fd(peer);
		slot_close(i);
		return;
	}
	release_fd(oldpeer);
	pool[i].peer = peer;
	atomic_store(&pool[i].fd, slot_num[i]);
	atomic_store(&pool[i].kind, k);
}

/*
 * Every free number below FUZZ_LOW_FDS gets the placeholder, once the pool
 * and the fuzz threads' kqueues exist.  From then on the chaos thread
 * frees no number a fuzz thread can name (its random numbers are below
 * FUZZ_LOW_FDS; the slots keep their numbers), and the descriptors the
 * case threads and the chaos thread create land above, at numbers nobody
 * else uses until they are published.
 */
void pool_fill_low(void)
{
	for (int fd = 0; fd < FUZZ_LOW_FDS; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			dup2(placeholder, fd);
}

static int random_kind(void)
{
	return 1 + (int)below(&crng, FK_COUNT - 1);
}

void pool_init(struct rng *r)
{
	char path[300];

	crng.s = rnd(r);
	snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/kqfuzz.%d",
		 (int)getpid());
	mkdir(scratch_dir, 0755);
	for (int i = 0; i < POOL_FILES; i++) {
		file_path(path, sizeof(path), i);
		int fd = open(path, O_RDWR | O_CREAT, 0644);

		if (fd >= 0) {
			if (write(fd, "0123456789", 10) < 0)
				perror("kqfuzz: write");
			close(fd);
		}
	}
	placeholder = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < POOL_SLOTS; i++) {
		slot_num[i] = -1;
		atomic_store(&pool[i].fd, -1);
		atomic_store(&pool[i].kind, FK_NONE);
		pool[i].peer = -1;
	}
	for (int i = 0; i < POOL_SLOTS; i++)
		slot_open(i, i < POOL_KQ_SLOTS ? FK_KQUEUE :
			     1 + (i % (FK_COUNT - 1)));
}

void pool_close_all(void)
{
	char path[300];

	/* The threads have stopped: numbers may be freed now. */
	for (int i = 0; i < POOL_SLOTS; i++) {
		slot_close(i);
		if (slot_num[i] >= 0)
			close(slot_num[i]);
		slot_num[i] = -1;
	}
	for (int i = 0; i < POOL_FILES; i++) {
		file_path(path, sizeof(path), i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/f%d.moved", scratch_dir, i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/l%d", scratch_dir, i);
		unlink(path);
	}
	rmdir(scratch_dir);
}

/* ---- events on the pool's objects -------------------------------------- */

static void poke_data(int i)
{
	static const char buf[512];
	int k = atomic_load(&pool[i].kind);
	int fd = atomic_load(&pool[i].fd);
	int peer = pool[i].peer;
	size_t n = 1 + below(&crng, sizeof(buf));
	uint64_t one = 1;
	ssize_t r;

	switch (k) {
	case FK_PIPE_R:
	case FK_UNIX_STREAM:
	case FK_UNIX_DGRAM:
	case FK_TCP:
		if (peer >= 0)
			r = write(peer, buf, n);
		break;
	case FK_PIPE_W:
	case FK_FILE:
		r = write(fd, buf, n);
		break;
	case FK_EVENTFD:
		r = write(fd, &one, sizeof(one));
		break;
	default:
		break;
	}
	(void)r;
}

static void drain(int i)
{
	char buf[4096];
	int k = atomic_load(&pool[i].kind);
	int fd = atomic_load(&pool[i].fd);
	int peer = pool[i].peer;
	ssize_t r;

	if (k == FK_PIPE_W || k == FK_UNIX_STREAM || k == FK_UNIX_DGRAM ||
	    k == FK_TCP) {
		/* Make room for the slot's own writes too. */
		if (peer >= 0)
			r = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
		if (peer >= 0 && k == FK_PIPE_W)
			r = read(peer, buf, sizeof(buf));
	}
	if (k == FK_PIPE_R || k == FK_UNIX_STREAM || k == FK_UNIX_DGRAM ||
	    k == FK_TCP || k == FK_EVENTFD) {
		/* Non-blocking descriptors only: never wait here. */
		if (fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK))
			r = read(fd, buf, sizeof(buf));
	}
	(void)r;
}

static void vnode_op(void)
{
	char a[300], b[320];
	int i = (int)below(&crng, POOL_FILES), fd;

	file_path(a, sizeof(a), i);
	switch (below(&crng, 8)) {
	case 0:
		fd = open(a, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fd >= 0) {
			if (write(fd, "x", 1) < 0)
				break;
			close(fd);
		}
		break;
	case 1:
		if (truncate(a, (off_t)below(&crng, 64)) < 0)
			break;
		break;
	case 2:
		chmod(a, chance(&crng, 50) ? 0600 : 0644);
		break;
	case 3:
		snprintf(b, sizeof(b), "%s.moved", a);
		if (rename(a, b) == 0)
			rename(b, a);
		break;
	case 4:
		snprintf(b, sizeof(b), "%s/l%d", scratch_dir, i);
		if (link(a, b) == 0)
			unlink(b);
		break;
	case 5:
		/* The last name goes (NOTE_DELETE); a new file follows. */
		unlink(a);
		fd = open(a, O_RDWR | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
		break;
	case 6:
		fd = open(a, O_RDONLY);
		if (fd >= 0) {
			char c;

			if (read(fd, &c, 1) < 0)
				c = 0;
			close(fd);
		}
		break;
	default:
		fd = open(scratch_dir, O_RDONLY | O_DIRECTORY);
		if (fd >= 0)
			close(fd);
		break;
	}
}

/* ---- children ------------------------------------------------------------ */

static void child_exit(int st)
{
	_exit(st);
}

static char *utoa(char *end, unsigned int v)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

/*
 * The child's life (async-signal-safe only).  kq_fd held a kqueue of the
 * parent at fork time, or is -1.
 */
static void child_main(int kq_fd, struct rng *r)
{
	struct kevent ch[8], ev[8];
	struct timespec ts = { 0, (long)below(r, 50) * 1000000L };
	int n = 0, kq;

	if (kq_fd >= 0) {
		/* Not inherited across fork: EBADF, whatever is asked. */
		if (kevent(kq_fd, NULL, 0, NULL, 0, NULL) != -1 ||
		    errno != EBADF)
			child_exit(CHILD_KQ_USABLE);
		EV_SET(&ch[0], 0, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
		if (kevent(kq_fd, ch, 1, ev, 8, &ts) != -1 || errno != EBADF)
			child_exit(CHILD_KQ_USABLE);
	}
	switch (below(r, 5)) {
	case 0:
		child_exit((int)below(r, CHILD_STATUS_MAX));
		break;
	default:
		break;
	}
	kq = kqueue();
	if (kq < 0)
		child_exit(CHILD_OK);
	/* Knotes on inherited descriptors, a timer, a signal, the parent. */
	for (int i = 0; i < POOL_SLOTS && n < 6; i++) {
		int fd = atomic_load(&pool[i].fd);

		if (fd >= 0 && chance(r, 30))
			EV_SET(&ch[n++], fd, chance(r, 50) ? EVFILT_READ :
			       EVFILT_WRITE, EV_ADD | (chance(r, 30) ?
						       EV_CLEAR : 0), 0, 0,
			       NULL);
	}
	EV_SET(&ch[n++], 1, EVFILT_TIMER, EV_ADD, 0, 1 + below(r, 5), NULL);
	EV_SET(&ch[n++], getppid(), EVFILT_PROC, EV_ADD,
	       NOTE_EXIT | NOTE_FORK | NOTE_EXEC, 0, NULL);
	if (kevent(kq, ch, n, NULL, 0, NULL) < 0 && errno != EBADF &&
	    errno != ESRCH)
		child_exit(CHILD_OK);	/* nothing to check here */
	EV_SET(&ch[0], SIGTERM, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	kevent(kq, ch, 1, NULL, 0, NULL);

	switch (below(r, 4)) {
	case 0: {
		/* exec, keeping the kqueue (not close-on-exec) */
		char buf[16];
		char *argv[] = { "kqfuzz", "--exec-child", utoa(buf + 16,
			(unsigned int)kq), NULL };
		char *envp[] = { NULL };

		execve("/proc/self/exe", argv, envp);
		child_exit(CHILD_OK);	/* no /proc: nothing to check */
		break;
	}
	case 1:
		/* Waits (the parent may kill it meanwhile) */
		kevent(kq, NULL, 0, ev, 8, &ts);
		child_exit((int)below(r, CHILD_STATUS_MAX));
		break;
	default:
		/* Exits with its kqueue open and events pending. */
		child_exit((int)below(r, CHILD_STATUS_MAX));
	}
}

int exec_child_main(int kqfd)
{
	struct kevent ch[2], ev[4];
	struct timespec ts = { 0, 5000000 };
	int p[2];

	/* A single-threaded exec keeps its files table: the kqueue works. */
	if (kevent(kqfd, NULL, 0, ev, 4, &ts) < 0)
		return CHILD_EXEC_KQ_BAD;
	if (pipe(p) == 0) {
		EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		EV_SET(&ch[1], p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
		if (kevent(kqfd, ch, 2, ev, 4, &ts) < 1)
			return CHILD_EXEC_KQ_BAD;
	}
	return CHILD_OK;	/* everything left open */
}

static void reap_one(pid_t pid, int status)
{
	for (int i = 0; i < nlive; i++) {
		if (live[i] == pid) {
			live[i] = live[--nlive];
			break;
		}
	}
	if (WIFEXITED(status)) {
		int st = WEXITSTATUS(status);

		if (st == CHILD_KQ_USABLE)
			fuzz_fail("child %d could use its parent's kqueue "
				  "(no EBADF)", (int)pid);
		else if (st == CHILD_EXEC_KQ_BAD)
			fuzz_fail("child %d: its own kqueue failed after a "
				  "single-threaded exec", (int)pid);
		else if (st >= CHILD_STATUS_MAX)
			fuzz_fail("child %d exited with %d", (int)pid, st);
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (sig != SIGKILL && sig != SIGTERM)
			fuzz_fail("child %d killed by signal %d", (int)pid,
				  sig);
	}
}

static void reap_some(int options)
{
	int status;
	pid_t pid;

	while (nlive > 0 && (pid = waitpid(-1, &status, options)) > 0)
		reap_one(pid, status);
}

void reap_all_children(void)
{
	reap_some(0);
}

static void spawn_child(void)
{
	struct rng r = { rnd(&crng) };
	int kq_fd = -1;
	pid_t pid;

	if (nlive >= 6)
		return;
	/* A descriptor that is a kqueue now (only this thread changes it). */
	for (int i = 0; i < POOL_SLOTS; i++) {
		if (atomic_load(&pool[i].kind) == FK_KQUEUE &&
		    chance(&crng, 50)) {
			kq_fd = atomic_load(&pool[i].fd);
			break;
		}
	}
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0)
		child_main(kq_fd, &r);
	live[nlive++] = pid;
	n_fork++;
	atomic_store(&child_pids[pid_next++ % CHILD_PIDS], (int)pid);
}

/* ---- the chaos thread ---------------------------------------------------- */

static int any_slot(void)
{
	return (int)below(&crng, POOL_SLOTS);
}

static void chaos_step(void)
{
	unsigned int op = (unsigned int)below(&crng, 100);
	int i = any_slot(), j;

	if (op < 25) {
		poke_data(i);
	} else if (op < 35) {
		drain(i);
	} else if (op < 42) {
		slot_close(i);
		n_close++;
	} else if (op < 52) {
		if (atomic_load(&pool[i].kind) == FK_NONE) {
			slot_open(i, i < POOL_KQ_SLOTS && chance(&crng, 80) ?
				  FK_KQUEUE : random_kind());
			n_reopen++;
		}
	} else if (op < 57) {
		/* dup2 one slot over another: the target's file is closed */
		int a = atomic_load(&pool[i].fd);

		j = any_slot();
		int b = atomic_load(&pool[j].fd);
		if (a >= 0 && b >= 0 && i != j && dup2(a, b) == b) {
			release_fd(pool[j].peer);
			pool[j].peer = -1;
			atomic_store(&pool[j].kind,
				     atomic_load(&pool[i].kind));
			n_dup2++;
		}
	} else if (op < 60) {
		/* close a kqueue (threads may be in kevent() on it), reopen */
		j = (int)below(&crng, POOL_KQ_SLOTS);
		slot_open(j, FK_KQUEUE);
		n_kqclose++;
	} else if (op < 67) {
		vnode_op();
		n_vnode++;
	} else if (op < 70) {
		spawn_child();
	} else if (op < 74) {
		if (nlive > 0) {
			kill(live[below(&crng, (uint64_t)nlive)],
			     chance(&crng, 70) ? SIGKILL : SIGTERM);
			n_kill++;
		}
	} else if (op < 80) {
		kill(getpid(), chance(&crng, 70) ? SIG_SELF : SIGURG);
		n_signal++;
	} else if (op < 88) {
		pthread_kill(fuzz_tids[below(&crng, (uint64_t)nthreads)],
			     SIG_POKE);
		n_signal++;
	} else if (op < 91) {
		/* an epoll set watching a kqueue (or anything) */
		int e = atomic_load(&pool[i].fd);

		j = any_slot();
		if (atomic_load(&pool[i].kind) == FK_EPOLL) {
			struct epoll_event ee = {
				.events = EPOLLIN | EPOLLOUT
			};

			epoll_ctl(e, EPOLL_CTL_ADD, atomic_load(&pool[j].fd),
				  &ee);
		}
	} else if (op < 93) {
		int k = atomic_load(&pool[i].kind);

		if (k == FK_UNIX_STREAM || k == FK_TCP)
			shutdown(atomic_load(&pool[i].fd),
				 (int)below(&crng, 3));
	} else {
		struct timespec ts = { 0, (long)below(&crng, 2000) * 1000 };

		nanosleep(&ts, NULL);
	}
	reap_some(WNOHANG);
}

void chaos_report(void)
{
	printf("kqfuzz: chaos: %lu closes, %lu reopens, %lu dup2s, %lu "
	       "kqueues closed, %lu file changes, %lu children (%lu killed), "
	       "%lu signals\n", n_close, n_reopen, n_dup2, n_kqclose, n_vnode,
	       n_fork, n_kill, n_signal);
}

void *chaos_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		chaos_step();
	return NULL;
}
