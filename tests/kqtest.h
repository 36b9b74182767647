/*
 * kqtest.h - the conformance suite's tiny framework and shared helpers.
 *
 * A test is declared with TEST(name) { ... } (run when the module is loaded)
 * or TEST_NOMODULE(name) { ... } (run only by `kqtest --no-module`, when the
 * module is not loaded).  Tests register themselves from constructors; the
 * runner in main.c runs each one in its own forked child (own process group)
 * with a timeout, so a crash or a hang fails only that test.
 *
 * A failed assertion records "file:line: what failed" in memory shared with
 * the runner and ends the child at once (_exit), from any thread.  A test
 * passes when its function returns.  Helpers that assert (kev_add(), ...) are
 * macros that pass the caller's file and line, so a failure points at the
 * test, not at util.c.
 *
 * The helpers themselves live in util.c.
 */
#ifndef KQTEST_H
#define KQTEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <time.h>

#include <sys/event.h>

/* ---- registration ------------------------------------------------------ */

typedef void (*kqtest_fn)(void);

void kqtest_register(const char *name, kqtest_fn fn, int nomodule);

#define KQT_DEFINE(name, nomod)						\
	static void name(void);						\
	__attribute__((constructor)) static void kqt_reg_##name(void)	\
	{								\
		kqtest_register(#name, name, nomod);			\
	}								\
	static void name(void)

#define TEST(name)		KQT_DEFINE(name, 0)
#define TEST_NOMODULE(name)	KQT_DEFINE(name, 1)

/*
 * The user-space backend: kqt_backend_is_user() is 1 when a new kqueue
 * gets it; kqt_xfail_user(name) is the reason the test is expected to
 * fail there, or NULL (the table is in xfail_user.c).
 */
int kqt_backend_is_user(void);
const char *kqt_xfail_user(const char *name);

/* ---- assertions --------------------------------------------------------- */

__attribute__((noreturn, format(printf, 3, 4)))
void kqt_fail(const char *file, int line, const char *fmt, ...);

#define FAIL(...)	kqt_fail(__FILE__, __LINE__, __VA_ARGS__)

/*
 * The test cannot run here: what it needs (a kernel feature) is missing.
 * Reported as SKIP with the reason and counted as skipped, never as a
 * pass.  Only for facts of the machine, never for a result of kqueue.
 */
#define KQT_SKIP_MARK	"\001skip\001"
#define KQT_SKIP_STATUS	77
__attribute__((noreturn, format(printf, 1, 2)))
void kqt_skip(const char *fmt, ...);

/*
 * A check that this program's ABI cannot express is left out, and said
 * so: kqt_abi_note() records why (a 32-bit program's uintptr_t cannot
 * hold an ident of 2^32 or more, say), and the runner appends the notes
 * to the test's result line ("PASS name [32-bit: ...]").  Only for values
 * the ABI cannot hold, never for a result of kqueue; the rest of the test
 * still runs.  KQT_ABI_BITS is the width of uintptr_t (64 or 32).
 */
#define KQT_ABI_BITS	(UINTPTR_MAX > UINT32_MAX ? 64 : 32)
__attribute__((format(printf, 1, 2)))
void kqt_abi_note(const char *fmt, ...);

/* CHECK(cond): cond must be true. */
#define CHECK(cond) do {						\
	if (!(cond))							\
		FAIL("CHECK(%s) failed", #cond);			\
} while (0)

/* CHECK(cond) with an explanation (printf format) appended. */
#define CHECKF(cond, ...) do {						\
	if (!(cond)) {							\
		char kqt_m_[512];					\
		snprintf(kqt_m_, sizeof(kqt_m_), __VA_ARGS__);		\
		FAIL("CHECK(%s) failed: %s", #cond, kqt_m_);		\
	}								\
} while (0)

/* Integer comparisons; both sides are shown on failure. */
#define KQT_CMP(a, op, b) do {						\
	long long kqt_a_ = (long long)(a);				\
	long long kqt_b_ = (long long)(b);				\
	if (!(kqt_a_ op kqt_b_))					\
		FAIL("%s %s %s failed: %lld vs %lld",			\
		     #a, #op, #b, kqt_a_, kqt_b_);			\
} while (0)
#define CHECK_EQ(a, b)	KQT_CMP(a, ==, b)
#define CHECK_NE(a, b)	KQT_CMP(a, !=, b)
#define CHECK_GE(a, b)	KQT_CMP(a, >=, b)
#define CHECK_GT(a, b)	KQT_CMP(a, >, b)
#define CHECK_LE(a, b)	KQT_CMP(a, <=, b)
#define CHECK_LT(a, b)	KQT_CMP(a, <, b)

/* Hexadecimal comparison, for flags. */
#define CHECK_EQ_HEX(a, b) do {						\
	unsigned long long kqt_a_ = (unsigned long long)(a);		\
	unsigned long long kqt_b_ = (unsigned long long)(b);		\
	if (kqt_a_ != kqt_b_)						\
		FAIL("%s == %s failed: 0x%llx vs 0x%llx",		\
		     #a, #b, kqt_a_, kqt_b_);				\
} while (0)

/* A system call that must succeed (return >= 0); its value is returned. */
#define CHECK_OK(call) ({						\
	long long kqt_r_ = (long long)(call);				\
	if (kqt_r_ < 0)							\
		FAIL("%s failed: returned %lld, errno %s",		\
		     #call, kqt_r_, kqt_errname(errno));		\
	kqt_r_;								\
})

/* A call that must fail with -1 and errno == err. */
#define CHECK_ERR(call, err) do {					\
	errno = 0;							\
	long long kqt_r_ = (long long)(call);				\
	int kqt_e_ = errno;						\
	if (kqt_r_ != -1 || kqt_e_ != (err))				\
		FAIL("%s: expected -1/%s, got %lld/%s",			\
		     #call, kqt_errname(err), kqt_r_,			\
		     kqt_r_ == -1 ? kqt_errname(kqt_e_) : "-");		\
} while (0)

/*
 * Waits for a child the test forked; fails the test unless the child
 * exited with status 0.  A child that failed an assertion passes its own
 * message up ("child: file:line: ...").
 */
void wait_child_ok_at(const char *file, int line, pid_t pid);
#define wait_child_ok(pid)	wait_child_ok_at(__FILE__, __LINE__, pid)

/* The name of an errno value ("EBADF"), or its number. */
const char *kqt_errname(int err);

/* ---- kevent helpers (util.c) ------------------------------------------- */

/* How long a test waits for something that should happen "at once". */
#define WAIT_MS_DEFAULT	5000

/* kqueue() that must succeed. */
int kq_new_at(const char *file, int line);
#define kq_new()	kq_new_at(__FILE__, __LINE__)

/* One change, applied with nevents == 0; must return 0. */
void kev_add_at(const char *file, int line, int kq, uintptr_t ident,
		short filter, unsigned short flags, unsigned int fflags,
		int64_t data, void *udata);
#define kev_add(...)	kev_add_at(__FILE__, __LINE__, __VA_ARGS__)

/* One change with nevents == 0; returns kevent()'s result, errno as set. */
int kev_change(int kq, uintptr_t ident, short filter, unsigned short flags,
	       unsigned int fflags, int64_t data, void *udata);

/* kevent() with no changes and a zero timeout; must not fail. */
int kev_poll_at(const char *file, int line, int kq, struct kevent *ev, int n);
#define kev_poll(...)	kev_poll_at(__FILE__, __LINE__, __VA_ARGS__)

/* kevent() with no changes and a timeout of ms milliseconds. */
int kev_wait_at(const char *file, int line, int kq, struct kevent *ev, int n,
		int ms);
#define kev_wait(...)	kev_wait_at(__FILE__, __LINE__, __VA_ARGS__)

/*
 * Waits (up to ms) until an event for (ident, filter) is reported and
 * returns it in *out; fails the test if none comes.  Other events are
 * ignored.
 */
void kev_expect_at(const char *file, int line, int kq, uintptr_t ident,
		   short filter, int ms, struct kevent *out);
#define kev_expect(...)	kev_expect_at(__FILE__, __LINE__, __VA_ARGS__)

/*
 * Waits (up to ms) until the event for (ident, filter) has data == want
 * (sockets: data arrives asynchronously); fails the test otherwise.
 */
void kev_expect_data_at(const char *file, int line, int kq, uintptr_t ident,
			short filter, int64_t want, int ms,
			struct kevent *out);
#define kev_expect_data(...) kev_expect_data_at(__FILE__, __LINE__, __VA_ARGS__)

/*
 * Waits (up to ms) until the event for (ident, filter) has EV_EOF set and
 * returns it in *out; fails the test (showing the last event) otherwise.
 */
void kev_expect_eof_at(const char *file, int line, int kq, uintptr_t ident,
		       short filter, int ms, struct kevent *out);
#define kev_expect_eof(...) kev_expect_eof_at(__FILE__, __LINE__, __VA_ARGS__)

/* A zero-timeout poll must return nothing for (ident, filter). */
void kev_expect_none_at(const char *file, int line, int kq, uintptr_t ident,
			short filter);
#define kev_expect_none(...) kev_expect_none_at(__FILE__, __LINE__, __VA_ARGS__)

/* A zero-timeout poll must return nothing at all. */
void kev_expect_empty_at(const char *file, int line, int kq);
#define kev_expect_empty(kq)	kev_expect_empty_at(__FILE__, __LINE__, kq)

/* The entry for (ident, filter) in ev[0..n), or NULL. */
const struct kevent *kev_find(const struct kevent *ev, int n,
			      uintptr_t ident, short filter);

/* "ident=5 filter=-1 flags=0x8000 fflags=0 data=3 udata=0x..." */
const char *kev_str(const struct kevent *ev);

/* ---- descriptors (util.c) ---------------------------------------------- */

/* pipe2(fds, flags) that must succeed. */
void make_pipe_at(const char *file, int line, int fds[2], int flags);
#define make_pipe(fds)		make_pipe_at(__FILE__, __LINE__, fds, 0)
#define make_pipe_nb(fds)	make_pipe_at(__FILE__, __LINE__, fds, O_NONBLOCK)

/* socketpair(AF_UNIX, type) that must succeed. */
void make_unix_pair_at(const char *file, int line, int type, int sv[2]);
#define make_unix_pair(type, sv) make_unix_pair_at(__FILE__, __LINE__, type, sv)

/* sigaction(sig) with handler fn (or SIG_IGN, SIG_DFL), empty sa_mask. */
void set_handler_at(const char *file, int line, int sig, void (*fn)(int));
#define set_handler(sig, fn)	set_handler_at(__FILE__, __LINE__, sig, fn)

/*
 * A second thread that runs and then waits, parked, until released: for
 * tests about what another thread's signal mask does.  parked_start()
 * returns once the thread runs, after it unblocked unblock_sig (0: none)
 * in its own mask; parked_stop() releases and joins it.
 */
struct parked_thread {
	pthread_t	t;
	int		gate[2];	/* the thread waits to read from it */
	int		up[2];		/* the thread writes once running */
	int		unblock_sig;
};
void parked_start_at(const char *file, int line, struct parked_thread *p,
		     int unblock_sig);
void parked_stop_at(const char *file, int line, struct parked_thread *p);
#define parked_start(p, sig)	parked_start_at(__FILE__, __LINE__, p, sig)
#define parked_stop(p)		parked_stop_at(__FILE__, __LINE__, p)

/* Passes fd over the UNIX socket sock (SCM_RIGHTS); must succeed. */
void send_fd_at(const char *file, int line, int sock, int fd);
#define send_fd(sock, fd)	send_fd_at(__FILE__, __LINE__, sock, fd)

/* Receives one descriptor sent by send_fd() (close-on-exec). */
int recv_fd_at(const char *file, int line, int sock);
#define recv_fd(sock)		recv_fd_at(__FILE__, __LINE__, sock)

/* Brings the loopback interface up if it is down (needs CAP_NET_ADMIN). */
void loopback_up(void);

/*
 * A connected TCP pair over loopback (family AF_INET or AF_INET6):
 * sv[0] the client, sv[1] the accepted server side.
 */
void make_tcp_pair_at(const char *file, int line, int family, int sv[2]);
#define make_tcp_pair(fam, sv)	make_tcp_pair_at(__FILE__, __LINE__, fam, sv)

/* A listening TCP socket on loopback; its address in *addr / *len. */
int make_tcp_listener_at(const char *file, int line, int family,
			 struct sockaddr_storage *addr, socklen_t *len);
#define make_tcp_listener(fam, a, l) \
	make_tcp_listener_at(__FILE__, __LINE__, fam, a, l)

/* Two UDP sockets on loopback, connected to each other. */
void make_udp_pair_at(const char *file, int line, int family, int sv[2]);
#define make_udp_pair(fam, sv)	make_udp_pair_at(__FILE__, __LINE__, fam, sv)

/* write() of exactly len bytes of filler; must succeed completely. */
void write_n_at(const char *file, int line, int fd, size_t len);
#define write_n(fd, len)	write_n_at(__FILE__, __LINE__, fd, len)

/* read() of exactly len bytes; must succeed completely. */
void read_n_at(const char *file, int line, int fd, size_t len);
#define read_n(fd, len)		read_n_at(__FILE__, __LINE__, fd, len)

/* Sets O_NONBLOCK and writes until EAGAIN; returns the bytes written. */
size_t fill_fd(int fd);

/* Sets O_NONBLOCK and reads until EAGAIN or EOF; returns the bytes read. */
size_t drain_fd(int fd);

/*
 * Reads a non-blocking fd until want bytes came, EOF, an error, or 10 s
 * without data; returns the bytes read.
 */
size_t read_total(int fd, size_t want);

/* Raises RLIMIT_NOFILE (soft and, if needed, hard) to at least n. */
void raise_nofile_at(const char *file, int line, rlim_t n);
#define raise_nofile(n)		raise_nofile_at(__FILE__, __LINE__, n)

/* A fresh private directory for files and FIFOs (removed by nobody). */
const char *tmp_dir(void);

/* ---- misc (util.c) ------------------------------------------------------ */

/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);

/*
 * s seconds, stretched in proportion when the runner's per-test limit
 * KQTEST_TIMEOUT is raised above its default of 30 (a slow kernel, e.g.
 * the debug-kernel tier): for alarms and deadlines inside a test, which
 * must stay below that limit.
 */
unsigned int kqt_scaled_s(unsigned int s);

/* Sleeps ms milliseconds. */
void sleep_ms(int ms);

/* Reads /sys/module/kqueue/parameters/<name>; fails the test if it can't. */
long long read_counter_at(const char *file, int line, const char *name);
#define read_counter(name)	read_counter_at(__FILE__, __LINE__, name)

/*
 * Waits (up to ms) until the counter equals want; fails the test (showing
 * the last value) if it does not.  Frees may be deferred (RCU), so counters
 * are compared with a little patience.
 */
void expect_counter_at(const char *file, int line, const char *name,
		       long long want, int ms);
#define expect_counter(name, want) \
	expect_counter_at(__FILE__, __LINE__, name, want, 3000)

/*
 * Module-only counter checks inside a behaviour test.  The counters (and
 * the other files in /sys/module/kqueue/parameters) describe the module's
 * kqueues only, so these checks apply when kqt_module_counters() is 1 (the
 * kqueues this process makes use the module backend, probed once by the
 * runner) and are skipped on the user-space backend, where the rest of the
 * test still runs and is checked:
 *
 *   counter_base(name)          read_counter(name) on the module, else 0
 *                               (a baseline for the checks below only)
 *   EXPECT_COUNTER(name, want)  expect_counter() on the module (patient)
 *   CHECK_COUNTER(name, op, v)  read_counter(name) op v, at once
 *
 * A test that is about the counters themselves calls
 * require_module_counters() first instead: it fails on the user backend
 * (so it stays listed in xfail_user.c and is never reported as passed).
 */
int kqt_module_counters(void);
long long counter_base_at(const char *file, int line, const char *name);
#define counter_base(name)	counter_base_at(__FILE__, __LINE__, name)
#define EXPECT_COUNTER(name, want) do {					\
	if (kqt_module_counters())					\
		expect_counter(name, want);				\
} while (0)
#define CHECK_COUNTER(name, op, v) do {					\
	if (kqt_module_counters()) {					\
		long long kqt_c_ = read_counter(name);			\
		long long kqt_v_ = (long long)(v);			\
		if (!(kqt_c_ op kqt_v_))				\
			FAIL("counter %s %s %s failed: %lld vs %lld",	\
			     name, #op, #v, kqt_c_, kqt_v_);		\
	}								\
} while (0)
void require_module_counters_at(const char *file, int line);
#define require_module_counters() \
	require_module_counters_at(__FILE__, __LINE__)

/* ---- parameters and children (util.c; t_close, t_fork, t_limits) ------- */

/*
 * Writes val to /sys/module/kqueue/parameters/<name>; 0, or -1 with errno
 * set.
 */
int write_param(const char *name, long long val);

/*
 * A module parameter to put back after a test (a run_child_then() cleanup):
 * kqt_param_save() reads it; kqt_param_restore(&saved) writes the value
 * back and fails the test if that did not work.
 */
struct kqt_param {
	const char *name;
	long long old;
};
#define kqt_param_save(name) \
	((struct kqt_param){ (name), read_counter(name) })
void kqt_param_restore(void *saved);

/* setgroups(0), setgid(uid), setuid(uid) that must succeed (needs root). */
void drop_privileges_at(const char *file, int line, uid_t uid);
#define drop_privileges(uid)	drop_privileges_at(__FILE__, __LINE__, uid)

/*
 * A child that keeps what setup() made across an exec of "/bin/sleep 30",
 * so the parent can look at the module's counters before and after the
 * exec.  exec_child_start() forks, runs setup(arg) in the child and returns
 * once the child is ready (a failed assertion in setup fails the test with
 * the child's message); exec_child_exec() lets the child exec and returns
 * once it has (its close-on-exec descriptors are closed by then, though
 * what the close triggers may still be on its way); exec_child_end() kills
 * and reaps it.
 */
struct exec_child {
	pid_t pid;
	int rd;		/* "ready" byte, then EOF at the exec */
	int go;		/* lets the child exec */
};
void exec_child_start_at(const char *file, int line, struct exec_child *ec,
			 void (*setup)(void *arg), void *arg);
void exec_child_exec_at(const char *file, int line, struct exec_child *ec);
void exec_child_end_at(const char *file, int line, struct exec_child *ec);
#define exec_child_start(ec, fn, arg) \
	exec_child_start_at(__FILE__, __LINE__, ec, fn, arg)
#define exec_child_exec(ec)	exec_child_exec_at(__FILE__, __LINE__, ec)
#define exec_child_end(ec)	exec_child_end_at(__FILE__, __LINE__, ec)

/*
 * Runs fn(arg) in a forked child, waits for it, then runs cleanup(carg) in
 * this process whatever happened (e.g. restores a module parameter), and
 * only then fails the test if the child failed (with the child's message).
 */
void run_child_then_at(const char *file, int line, void (*fn)(void *),
		       void *arg, void (*cleanup)(void *), void *carg);
#define run_child_then(fn, arg, cleanup, carg) \
	run_child_then_at(__FILE__, __LINE__, fn, arg, cleanup, carg)

/*
 * Reads the one byte a child sends when it is ready; if the child dies
 * first (the caller must have closed its own copy of the write end), fails
 * with the child's message instead of hanging.
 */
void await_child_byte_at(const char *file, int line, int fd, pid_t pid);
#define await_child_byte(fd, pid) \
	await_child_byte_at(__FILE__, __LINE__, fd, pid)

#endif /* KQTEST_H */
