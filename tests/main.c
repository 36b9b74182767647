/*
 * main.c - the kqtest runner.
 *
 *   kqtest [substring]            run every test whose name contains substring
 *   kqtest -l [substring]         list the tests that would run
 *   kqtest --no-module [substr]   run only the tests meant for a system where
 *                                 kqueue.ko is NOT loaded (normal runs skip
 *                                 them)
 *   kqtest --backend kmod|user    set KQUEUE_BACKEND for every test
 *
 * On the user-space backend, the tests listed in xfail_user.c are expected
 * to fail: they still run, a failure prints "XFAIL name: reason (failed:
 * why)" and a pass prints "FAIL name: unexpected pass ..." (so the list
 * stays true).
 *
 * Each test runs in a forked child that leads its own process group.  The
 * runner waits for it with a timeout (KQTEST_TIMEOUT seconds, default 30);
 * a test that hangs is killed with its whole process group and fails, and so
 * does one that crashes.  A failing assertion leaves its message in a page
 * shared with the runner.
 *
 * Output: one line per test, "PASS name" or "FAIL name: reason" (or
 * "SKIP name: reason" for a test that called kqt_skip(): what it needs is
 * missing from this kernel), then "kqtest: N passed, N failed" (with ",
 * N skipped" if any were).  A test that left out a check its ABI cannot
 * express (kqt_abi_note(), 32-bit builds) passes as "PASS name [32-bit:
 * what was left out]".  Exit status 0 iff no test failed (2 for a
 * usage error or when the substring matches no test).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kqtest.h"

struct kqt_test {
	const char *name;
	kqtest_fn fn;
	int nomodule;
};

static struct kqt_test *tests;
static int ntests, cap_tests;

#define FAILBUF_SIZE 2048
#define NOTEBUF_SIZE 1024
static char *failbuf;		/* shared with the children */
static char *notebuf;		/* kqt_abi_note(), after failbuf */
static int fail_claimed;	/* per child: first failing thread wins */

void kqtest_register(const char *name, kqtest_fn fn, int nomodule)
{
	for (int i = 0; i < ntests; i++) {
		if (strcmp(tests[i].name, name) == 0) {
			fprintf(stderr, "kqtest: duplicate test %s\n", name);
			abort();
		}
	}
	if (ntests == cap_tests) {
		cap_tests = cap_tests ? 2 * cap_tests : 64;
		tests = realloc(tests, cap_tests * sizeof(*tests));
		if (!tests)
			abort();
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	tests[ntests].nomodule = nomodule;
	ntests++;
}

/*
 * Record "prefix: message" for the runner and end the test with status.
 * Only the first thread that ends the test reports; the others wait to die.
 */
__attribute__((noreturn))
static void kqt_end(int status, const char *prefix, const char *fmt,
		    va_list ap)
{
	char msg[FAILBUF_SIZE - 128];

	if (__atomic_exchange_n(&fail_claimed, 1, __ATOMIC_SEQ_CST)) {
		for (;;)
			pause();
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (failbuf)
		snprintf(failbuf, FAILBUF_SIZE, "%s%s", prefix, msg);
	else
		fprintf(stderr, "%s%s\n", prefix, msg);
	_exit(status);
}

void kqt_fail(const char *file, int line, const char *fmt, ...)
{
	char where[128];
	va_list ap;

	snprintf(where, sizeof(where), "%s:%d: ", file, line);
	va_start(ap, fmt);
	kqt_end(1, where, fmt, ap);
}

void kqt_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kqt_end(KQT_SKIP_STATUS, KQT_SKIP_MARK, fmt, ap);
}

void kqt_abi_note(const char *fmt, ...)
{
	char note[NOTEBUF_SIZE];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	if (!notebuf) {
		fprintf(stderr, "%d-bit: %s\n", KQT_ABI_BITS, note);
		return;
	}
	len = strlen(notebuf);
	snprintf(notebuf + len, NOTEBUF_SIZE - len, "%s%s",
		 len ? "; " : "", note);
}

void wait_child_ok_at(const char *file, int line, pid_t pid)
{
	int st;
	pid_t r;

	do {
		r = waitpid(pid, &st, 0);
	} while (r < 0 && errno == EINTR);
	if (r != pid)
		kqt_fail(file, line, "waitpid(%d): %s", (int)pid,
			 kqt_errname(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (failbuf && failbuf[0]) {
		char msg[FAILBUF_SIZE];

		snprintf(msg, sizeof(msg), "%s", failbuf);
		kqt_fail(file, line, "child: %s", msg);
	}
	if (WIFSIGNALED(st))
		kqt_fail(file, line, "child killed by signal %d (%s)",
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	kqt_fail(file, line, "child exited with status %d",
		 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Runs one test; returns 1 if it passed, 2 if it said it cannot run here
 * (kqt_skip(), reason filled in), else 0 with reason filled in.
 */
static int run_one(const struct kqt_test *t, int timeout_s,
		   char *reason, size_t rlen)
{
	sigset_t chld;
	long long deadline;
	int status = 0, timed_out = 0;
	pid_t pid;

	memset(failbuf, 0, FAILBUF_SIZE + NOTEBUF_SIZE);
	fflush(stdout);
	fflush(stderr);

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);

	pid = fork();
	if (pid < 0) {
		snprintf(reason, rlen, "fork: %s", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		sigset_t none;

		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_IGN);
		t->fn();
		_exit(0);
	}
	setpgid(pid, pid);

	deadline = mono_ms() + (long long)timeout_s * 1000;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		long long left;
		struct timespec ts;

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(reason, rlen, "waitpid: %s", strerror(errno));
			kill(-pid, SIGKILL);
			return 0;
		}
		left = deadline - mono_ms();
		if (left <= 0) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		if (left > 100)
			left = 100;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		sigtimedwait(&chld, NULL, &ts);
	}
	/* Whatever the test left behind in its process group goes too. */
	kill(-pid, SIGKILL);

	if (timed_out) {
		snprintf(reason, rlen, "timed out after %d s%s%s", timeout_s,
			 failbuf[0] ? "; " : "", failbuf);
		return 0;
	}
	if (WIFSIGNALED(status)) {
		snprintf(reason, rlen, "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !failbuf[0])
		return 1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == KQT_SKIP_STATUS &&
	    strncmp(failbuf, KQT_SKIP_MARK, strlen(KQT_SKIP_MARK)) == 0) {
		snprintf(reason, rlen, "%s", failbuf + strlen(KQT_SKIP_MARK));
		return 2;
	}
	if (failbuf[0])
		snprintf(reason, rlen, "%s", failbuf);
	else
		snprintf(reason, rlen, "exited with status %d",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kqtest [-l] [--no-module] [--backend kmod|user] "
		"[substring]\n"
		"  -l           list the selected tests\n"
		"  --no-module  run the tests for a system without kqueue.ko\n"
		"  --backend B  KQUEUE_BACKEND=B (user: expected failures "
		"apply)\n"
		"  substring    run only tests whose name contains it\n"
		"  KQTEST_TIMEOUT=seconds per test (default 30)\n");
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	int list = 0, nomodule = 0, timeout_s = 30;
	int passed = 0, failed = 0, selected = 0, xfailed = 0, user = 0;
	int skipped = 0;
	const char *env;
	sigset_t chld;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-l") == 0 ||
		    strcmp(argv[i], "--list") == 0) {
			list = 1;
		} else if (strcmp(argv[i], "--no-module") == 0) {
			nomodule = 1;
		} else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
			setenv("KQUEUE_BACKEND", argv[++i], 1);
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else if (argv[i][0] == '-' || filter) {
			usage();
			return 2;
		} else {
			filter = argv[i];
		}
	}
	/* Also probes, once, whether the module's counters apply. */
	if (!nomodule)
		user = !kqt_module_counters();
	env = getenv("KQTEST_TIMEOUT");
	if (env && atoi(env) > 0)
		timeout_s = atoi(env);

	failbuf = mmap(NULL, FAILBUF_SIZE + NOTEBUF_SIZE,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (failbuf == MAP_FAILED) {
		perror("kqtest: mmap");
		return 2;
	}
	notebuf = failbuf + FAILBUF_SIZE;

	/* SIGCHLD stays blocked in the runner: sigtimedwait() takes it. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (int i = 0; i < ntests; i++) {
		const struct kqt_test *t = &tests[i];
		char reason[FAILBUF_SIZE + 128];

		if (t->nomodule != nomodule)
			continue;
		if (filter && !strstr(t->name, filter))
			continue;
		selected++;
		if (list) {
			printf("%s\n", t->name);
			continue;
		}
		reason[0] = '\0';
		const char *xf = user ? kqt_xfail_user(t->name) : NULL;
		int ok = run_one(t, timeout_s, reason, sizeof(reason));

		for (char *p = reason; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		if (ok == 2) {
			printf("SKIP %s: %s\n", t->name, reason);
			skipped++;
		} else if (xf && ok) {
			printf("FAIL %s: unexpected pass (listed as an expected "
			       "failure on the user backend: %s)\n", t->name, xf);
			failed++;
		} else if (xf) {
			printf("XFAIL %s: %s (failed: %s)\n", t->name, xf,
			       reason);
			xfailed++;
		} else if (ok && notebuf[0]) {
			/* What this ABI could not express (kqt_abi_note()). */
			printf("PASS %s [%d-bit: %s]\n", t->name,
			       KQT_ABI_BITS, notebuf);
			passed++;
		} else if (ok) {
			printf("PASS %s\n", t->name);
			passed++;
		} else {
			printf("FAIL %s: %s\n", t->name, reason);
			failed++;
		}
	}
	if (!selected) {
		fprintf(stderr, "kqtest: no test matches \"%s\"\n",
			filter ? filter : "");
		return 2;
	}
	if (list)
		return 0;
	if (xfailed)
		printf("kqtest: %d expected failures (user backend)\n",
		       xfailed);
	if (skipped)
		printf("kqtest: %d passed, %d failed, %d skipped\n", passed,
		       failed, skipped);
	else
		printf("kqtest: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
