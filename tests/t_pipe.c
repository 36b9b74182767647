/*
 * t_pipe.c - EVFILT_READ and EVFILT_WRITE on pipes and FIFOs: data is the
 * byte count in the pipe (READ) and the free space, F_GETPIPE_SZ minus the
 * bytes in the pipe (WRITE); a full pipe is not writable; EV_EOF when the
 * last writer (READ, data = bytes left) or the reader (WRITE) is gone;
 * NOTE_LOWAT for READ and WRITE; a FIFO's EOF ends when a new writer opens
 * it.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "kqtest.h"

static int pipe_cap(int fd)
{
	int cap = fcntl(fd, F_GETPIPE_SZ);

	CHECKF(cap > 0, "F_GETPIPE_SZ: %s", kqt_errname(errno));
	return cap;
}

TEST(pipe_read_data)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, p[0], EVFILT_READ);
	write_n(p[1], 10);
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.data, 10);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
	write_n(p[1], 5);
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.data, 15);
	read_n(p[0], 12);
	kev_expect(kq, p[0], EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 3);
	/* Larger than a page. */
	write_n(p[1], 10000);
	kev_expect(kq, p[0], EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 10003);
}

TEST(pipe_write_data)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	int cap = pipe_cap(p[1]);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, p[1], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, cap);
	CHECK_EQ(ev.flags & (EV_EOF | EV_ERROR), 0);
	write_n(p[1], 100);
	kev_expect(kq, p[1], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, cap - 100);
	read_n(p[0], 40);
	kev_expect(kq, p[1], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, cap - 60);

	/* After F_SETPIPE_SZ the capacity follows. */
	int p2[2];
	make_pipe(p2);
	CHECK_OK(fcntl(p2[1], F_SETPIPE_SZ, 2 * 4096));
	int cap2 = pipe_cap(p2[1]);
	kev_add(kq, p2[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, p2[1], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, cap2);
}

TEST(pipe_full_not_writable)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	int cap = pipe_cap(p[1]);
	size_t filled = fill_fd(p[1]);
	CHECK_GT(filled, 0);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, p[1], EVFILT_WRITE);
	kev_expect(kq, p[0], EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, (long long)filled);
	/* Draining makes it writable again, with the full capacity. */
	CHECK_EQ(drain_fd(p[0]), filled);
	kev_expect(kq, p[1], EVFILT_WRITE, 5000, &ev);
	CHECK_EQ(ev.data, cap);
	kev_expect_none(kq, p[0], EVFILT_READ);
}

TEST(pipe_full_then_writable_wakes_waiter)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];

	make_pipe(p);
	fill_fd(p[1]);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_expect_empty(kq);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(200);
		drain_fd(p[0]);
		_exit(0);
	}
	int n = kev_wait(kq, ev, 2, 10000);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].ident, p[1]);
	CHECK_EQ(ev[0].filter, EVFILT_WRITE);
	CHECK_GT(ev[0].data, 0);
	wait_child_ok(pid);
}

TEST(pipe_read_eof_with_data)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 3);
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	CHECK_OK(close(p[1]));
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
	CHECK_EQ(ev.data, 3);
	CHECK_EQ(ev.flags & EV_ERROR, 0);
	read_n(p[0], 3);
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
	CHECK_EQ(ev.data, 0);
}

TEST(pipe_read_eof_empty)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)8);
	kev_expect_empty(kq);
	CHECK_OK(close(p[1]));
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
	CHECK_EQ(ev.data, 0);
	CHECK(ev.udata == (void *)8);
	/* Registered after the writer is gone: EOF right away. */
	int q[2];
	make_pipe(q);
	CHECK_OK(close(q[1]));
	kev_add(kq, q[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect(kq, q[0], EVFILT_READ, 0, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
}

TEST(pipe_read_eof_wakes_waiter)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		sleep_ms(200);
		_exit(0);	/* closes the last writer */
	}
	CHECK_OK(close(p[1]));
	int n = kev_wait(kq, ev, 2, 10000);
	CHECK_EQ(n, 1);
	CHECKF(ev[0].flags & EV_EOF, "%s", kev_str(&ev[0]));
	wait_child_ok(pid);
}

TEST(pipe_write_eof_reader_closed)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, p[1], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	CHECK_OK(close(p[0]));
	kev_expect(kq, p[1], EVFILT_WRITE, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));

	/* A full pipe whose reader goes away reports EOF as well. */
	int q[2];
	make_pipe(q);
	fill_fd(q[1]);
	kev_add(kq, q[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, q[1], EVFILT_WRITE);
	CHECK_OK(close(q[0]));
	kev_expect(kq, q[1], EVFILT_WRITE, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
}

TEST(pipe_lowat_read)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 10, NULL);
	write_n(p[1], 5);
	kev_expect_empty(kq);
	write_n(p[1], 4);
	kev_expect_empty(kq);
	write_n(p[1], 1);
	kev_expect(kq, p[0], EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.data, 10);
	/* Below the mark again after a read. */
	read_n(p[0], 1);
	kev_expect_empty(kq);
}

TEST(pipe_lowat_write)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	int cap = pipe_cap(p[1]);
	write_n(p[1], 1);
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap, NULL);
	kev_expect_empty(kq);
	read_n(p[0], 1);
	kev_expect(kq, p[1], EVFILT_WRITE, 5000, &ev);
	CHECK_EQ(ev.data, cap);
	/* A smaller mark: reported with free space >= mark only. */
	kev_add(kq, p[1], EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap - 100, NULL);
	write_n(p[1], 100);
	kev_expect(kq, p[1], EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, cap - 100);
	write_n(p[1], 1);
	kev_expect_empty(kq);
}

static void make_fifo(int *rd, int *wr)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/fifo", tmp_dir());
	unlink(path);
	CHECKF(mkfifo(path, 0600) == 0, "mkfifo %s: %s", path,
	       kqt_errname(errno));
	*rd = open(path, O_RDONLY | O_NONBLOCK);
	CHECK_OK(*rd);
	*wr = open(path, O_WRONLY | O_NONBLOCK);
	CHECK_OK(*wr);
}

TEST(fifo_read_data)
{
	int kq = kq_new();
	int rd, wr;
	struct kevent ev;

	make_fifo(&rd, &wr);
	kev_add(kq, rd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, wr, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, rd, EVFILT_READ);
	kev_expect(kq, wr, EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, pipe_cap(wr));
	write_n(wr, 10);
	kev_expect(kq, rd, EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.data, 10);
	CHECK_EQ(ev.flags & EV_EOF, 0);
	kev_expect(kq, wr, EVFILT_WRITE, 0, &ev);
	CHECK_EQ(ev.data, pipe_cap(wr) - 10);
}

TEST(fifo_eof)
{
	int kq = kq_new();
	int rd, wr;
	struct kevent ev;

	make_fifo(&rd, &wr);
	kev_add(kq, rd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(wr, 4);
	CHECK_OK(close(wr));
	kev_expect(kq, rd, EVFILT_READ, 5000, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
	CHECK_EQ(ev.data, 4);
}

/*
 * EVFILT_WRITE on a pipe whose read end is gone could never be true:
 * FreeBSD refuses it with EPIPE (pipe_kqfilter), as an EV_ERROR entry
 * under EV_RECEIPT.  A knote added before the reader left reports EV_EOF
 * instead (pipe_eof_*), and so does READ on the same end.
 */
TEST(bsd_pipe_write_reader_gone_epipe)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch, ev[2];
	struct timespec ts0 = { 0, 0 };

	make_pipe(p);
	CHECK_OK(close(p[0]));
	CHECK_ERR(kev_change(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL),
		  EPIPE);
	EV_SET(&ch, p[1], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	CHECK_EQ(kevent(kq, &ch, 1, ev, 2, &ts0), 1);
	CHECKF((ev[0].flags & EV_ERROR) && ev[0].data == EPIPE, "%s",
	       kev_str(&ev[0]));
	kev_expect_empty(kq);
	/* Nothing was left behind: deleting finds no knote. */
	CHECK_ERR(kev_change(kq, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
		  ENOENT);
}

/*
 * A FIFO is not refused: its readers may come back, and FreeBSD's fifo
 * code only marks the pipe EOF when the last one leaves.
 */
TEST(bsd_fifo_write_reader_gone_eof_not_epipe)
{
	int kq = kq_new();
	int rd, wr;
	struct kevent ev;

	make_fifo(&rd, &wr);
	CHECK_OK(close(rd));
	kev_add(kq, wr, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect(kq, wr, EVFILT_WRITE, WAIT_MS_DEFAULT, &ev);
	CHECKF(ev.flags & EV_EOF, "%s", kev_str(&ev));
}

/*
 * FreeBSD (and the module): a FIFO's EOF lasts while it has no writer; a
 * new writer clears it, and READ reports again only for data (without
 * EV_EOF), then EOF again when that writer goes.
 */
TEST(bsd_fifo_eof_cleared_by_new_writer)
{
	int kq = kq_new();
	int rd, wr;
	char path[300];
	struct kevent ev;

	make_fifo(&rd, &wr);
	snprintf(path, sizeof(path), "%s/fifo", tmp_dir());
	kev_add(kq, rd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_OK(close(wr));
	kev_expect_eof(kq, rd, EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.data, 0);
	kev_expect_eof(kq, rd, EVFILT_READ, 0, &ev);

	wr = open(path, O_WRONLY | O_NONBLOCK);
	CHECK_OK(wr);
	kev_expect_none(kq, rd, EVFILT_READ);
	write_n(wr, 3);
	kev_expect(kq, rd, EVFILT_READ, 5000, &ev);
	CHECKF(ev.data == 3 && !(ev.flags & EV_EOF), "%s", kev_str(&ev));
	read_n(rd, 3);
	kev_expect_none(kq, rd, EVFILT_READ);

	CHECK_OK(close(wr));
	kev_expect_eof(kq, rd, EVFILT_READ, 5000, &ev);
	CHECK_EQ(ev.data, 0);
}

/*
 * EVFILT_READ on a pipe's write end: EV_EOF once the read end is gone, as
 * FreeBSD's filt_piperead reports a gone peer.  asyncio's write-pipe
 * transport watches its write end this way to learn the reader closed.
 */
TEST(bsd_pipe_read_filter_on_write_end_eof)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev;

	make_pipe(p);
	kev_add(kq, p[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, p[1], EVFILT_READ);
	CHECK_OK(close(p[0]));
	kev_expect_eof(kq, p[1], EVFILT_READ, WAIT_MS_DEFAULT, &ev);
}
