/*
 * proc_watch.c - follow a process tree with EVFILT_PROC: every fork, exec
 * and exit (with its status) of a process and of all its descendants, until
 * the whole tree is gone.
 *
 * Usage: proc_watch PID              watch a running process (one you may
 *                                    signal) and its future children
 *        proc_watch -- CMD [ARG...]  run CMD and watch it from its exec on
 *
 * One knote with NOTE_TRACK | NOTE_FORK | NOTE_EXEC | NOTE_EXIT on the first
 * process is all it takes: the kernel gives every new child its own knote
 * (reported first as NOTE_CHILD, data = the parent's pid) with the same
 * flags, so grandchildren are followed too.  Output, one event per line:
 *
 *   watching PID
 *   PID fork
 *   PID child of PPID
 *   PID exec
 *   PID exit STATUS            (exited normally)
 *   PID killed by signal N     (N and "(core dumped)" if so)
 *   PID tracking error         (a child could not be followed)
 *   done
 *
 * With a command, proc_watch becomes a child subreaper, so the orphans of
 * the tree are its children and it reaps them; its exit status is the
 * command's (128 + N if a signal killed it).  Without: 0.  2 on errors.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/event.h>

#define WATCH	(NOTE_TRACK | NOTE_FORK | NOTE_EXEC | NOTE_EXIT)

/* The processes of the tree not yet seen to exit. */
static pid_t *live;
static size_t nlive, cap;

static void live_add(pid_t pid)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i] == pid)
			return;
	if (nlive == cap) {
		cap = cap ? 2 * cap : 16;
		live = realloc(live, cap * sizeof(*live));
		if (!live) {
			perror("proc_watch: realloc");
			exit(2);
		}
	}
	live[nlive++] = pid;
}

static void live_del(pid_t pid)
{
	for (size_t i = 0; i < nlive; i++) {
		if (live[i] == pid) {
			live[i] = live[--nlive];
			return;
		}
	}
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 2;
}

static void print_exit(pid_t pid, int status)
{
	if (WIFEXITED(status))
		printf("%d exit %d\n", (int)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("%d killed by signal %d%s\n", (int)pid,
		       WTERMSIG(status),
		       WCOREDUMP(status) ? " (core dumped)" : "");
	else
		printf("%d exit status 0x%x\n", (int)pid, status);
}

/* Reaps whatever children (and adopted orphans) have exited. */
static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Forks CMD, held until its knote exists, so its exec is seen too. */
static pid_t start_command(char **argv, int *go)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p) < 0) {
		perror("proc_watch: pipe");
		exit(2);
	}
	pid = fork();
	if (pid < 0) {
		perror("proc_watch: fork");
		exit(2);
	}
	if (pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(127);
		close(p[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "proc_watch: %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static void usage(void)
{
	fprintf(stderr, "usage: proc_watch PID\n"
			"       proc_watch -- COMMAND [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct kevent ch, ev[32];
	int kq, go = -1, code = 0, cmd = 0;
	pid_t root;

	if (argc >= 3 && strcmp(argv[1], "--") == 0) {
		/* Orphans of the tree come to us, to be reaped. */
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		root = start_command(argv + 2, &go);
		cmd = 1;
	} else if (argc == 2) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end || v <= 0)
			usage();
		root = (pid_t)v;
	} else {
		usage();
	}

	kq = kqueue();
	if (kq < 0) {
		perror("proc_watch: kqueue");
		return 2;
	}
	EV_SET(&ch, root, EVFILT_PROC, EV_ADD, WATCH, 0, NULL);
	if (kevent(kq, &ch, 1, NULL, 0, NULL) < 0) {
		fprintf(stderr, "proc_watch: pid %d: %s\n", (int)root,
			strerror(errno));
		return 2;
	}
	live_add(root);
	printf("watching %d\n", (int)root);
	fflush(stdout);
	if (go >= 0) {
		if (write(go, "g", 1) != 1) {
			perror("proc_watch: write");
			return 2;
		}
		close(go);
	}

	for (;;) {
		struct timespec now = { 0, 0 };
		int n;

		/*
		 * When the tree looks empty, look once more without
		 * waiting: a child's NOTE_CHILD is queued by the time its
		 * parent's exit is reported, but may come in the next batch.
		 */
		n = kevent(kq, NULL, 0, ev, 32, nlive ? NULL : &now);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("proc_watch: kevent");
			return 2;
		}
		if (n == 0 && !nlive)
			break;
		for (int i = 0; i < n; i++) {
			pid_t pid = (pid_t)ev[i].ident;
			unsigned int ff = ev[i].fflags;

			if (ev[i].flags & EV_ERROR) {
				fprintf(stderr, "proc_watch: pid %d: %s\n",
					(int)pid, strerror((int)ev[i].data));
				continue;
			}
			if (ff & NOTE_CHILD) {
				live_add(pid);
				printf("%d child of %lld\n", (int)pid,
				       (long long)ev[i].data);
			}
			if (ff & NOTE_FORK)
				printf("%d fork\n", (int)pid);
			if (ff & NOTE_EXEC)
				printf("%d exec\n", (int)pid);
			if (ff & NOTE_TRACKERR)
				printf("%d tracking error\n", (int)pid);
			if (ff & NOTE_EXIT) {
				print_exit(pid, (int)ev[i].data);
				if (pid == root)
					code = status_code((int)ev[i].data);
			}
			if (ev[i].flags & EV_EOF)
				live_del(pid);
		}
		fflush(stdout);
		reap();
	}
	printf("done\n");
	reap();
	return cmd ? code : 0;
}
