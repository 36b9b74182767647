/*
 * t_files.c - EVFILT_READ/EVFILT_WRITE on descriptors other than pipes and
 * sockets: regular files (always readable, data = bytes from the file
 * offset to EOF, also at EOF with data 0; always writable), eventfd
 * (readable only after a write; writable), and pseudo-terminals (the slave
 * is readable after a write to the master in raw mode; the master is
 * writable).  Data is not asserted for eventfd and ptys.
 */
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <termios.h>
#include <unistd.h>

#include "kqtest.h"

static int make_file(size_t size)
{
	char path[300];
	static int seq;

	snprintf(path, sizeof(path), "%s/file%d", tmp_dir(), seq++);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECKF(fd >= 0, "open %s: %s", path, kqt_errname(errno));
	write_n(fd, size);
	CHECK_OK(lseek(fd, 0, SEEK_SET));
	return fd;
}

TEST(file_read_data_offset)
{
	int kq = kq_new();
	int fd = make_file(100);
	struct kevent ev;

	kev_add(kq, fd, EVFILT_READ, EV_ADD, 0, 0, (void *)0xf11e);
	kev_expect(kq, fd, EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 100);
	CHECK(ev.udata == (void *)0xf11e);
	CHECK_EQ(ev.flags & EV_ERROR, 0);
	CHECK_OK(lseek(fd, 30, SEEK_SET));
	kev_expect(kq, fd, EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 70);
	read_n(fd, 20);
	kev_expect(kq, fd, EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 50);
	/* The file grows: data follows. */
	CHECK_OK(pwrite(fd, "abcdefghij", 10, 100));
	kev_expect(kq, fd, EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 60);
}

TEST(file_readable_at_eof)
{
	int kq = kq_new();
	int fd = make_file(100);
	struct kevent ev;

	CHECK_OK(lseek(fd, 0, SEEK_END));
	kev_add(kq, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	/* Always readable: level-triggered, every call. */
	for (int i = 0; i < 3; i++) {
		kev_expect(kq, fd, EVFILT_READ, 0, &ev);
		CHECK_EQ(ev.data, 0);
	}
	/* An empty file too. */
	int e = make_file(0);
	kev_add(kq, e, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect(kq, e, EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 0);
	/* Past EOF: no negative count. */
	CHECK_OK(lseek(fd, 1000, SEEK_SET));
	kev_expect(kq, fd, EVFILT_READ, 0, &ev);
	CHECK_EQ(ev.data, 0);
}

TEST(file_always_writable)
{
	int kq = kq_new();
	int fd = make_file(10);
	struct kevent ev[4];

	kev_add(kq, fd, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	for (int i = 0; i < 3; i++) {
		int n = kev_poll(kq, ev, 4);

		CHECK_EQ(n, 1);
		CHECK_EQ(ev[0].ident, fd);
		CHECK_EQ(ev[0].filter, EVFILT_WRITE);
		CHECK_EQ(ev[0].flags & EV_ERROR, 0);
	}
	/* READ on the same file is an independent knote. */
	kev_add(kq, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq, ev, 4), 2);
	/* EV_CLEAR on an always-ready file: once. */
	int g = make_file(1);
	int kq2 = kq_new();
	kev_add(kq2, g, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	CHECK_EQ(kev_poll(kq2, ev, 4), 1);
	kev_expect_empty(kq2);
}

TEST(eventfd_read_write)
{
	int kq = kq_new();
	int efd = eventfd(0, EFD_NONBLOCK);
	struct kevent ev;
	uint64_t v = 1;

	CHECK_OK(efd);
	kev_add(kq, efd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_add(kq, efd, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_expect_none(kq, efd, EVFILT_READ);
	kev_expect(kq, efd, EVFILT_WRITE, 0, &ev);
	CHECK_EQ(write(efd, &v, sizeof(v)), sizeof(v));
	kev_expect(kq, efd, EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ(ev.flags & EV_ERROR, 0);
	/* Reading resets the counter: no longer readable. */
	CHECK_EQ(read(efd, &v, sizeof(v)), sizeof(v));
	kev_expect_none(kq, efd, EVFILT_READ);
}

TEST(eventfd_wakes_waiter)
{
	int kq = kq_new();
	int efd = eventfd(0, 0);
	struct kevent ev[2];

	CHECK_OK(efd);
	kev_add(kq, efd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	pid_t pid = fork();
	CHECK_OK(pid);
	if (pid == 0) {
		uint64_t v = 3;

		sleep_ms(200);
		CHECK_EQ(write(efd, &v, sizeof(v)), sizeof(v));
		_exit(0);
	}
	CHECK_EQ(kev_wait(kq, ev, 2, 10000), 1);
	CHECK_EQ(ev[0].ident, efd);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	wait_child_ok(pid);
}

/*
 * Opens a pty pair.  The slave's path comes from ptsname(); if devpts is
 * not mounted on /dev/pts (a minimal VM), it is mounted there first.
 */
static void open_pty(int *master, int *slave)
{
	struct statfs sfs;

	if (statfs("/dev/pts", &sfs) < 0 || sfs.f_type != 0x1cd1 /* devpts */) {
		mkdir("/dev/pts", 0755);
		mount("devpts", "/dev/pts", "devpts", 0,
		      "gid=5,mode=620,ptmxmode=666");
	}
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	CHECKF(m >= 0, "posix_openpt: %s", kqt_errname(errno));
	CHECKF(grantpt(m) == 0, "grantpt: %s", kqt_errname(errno));
	CHECKF(unlockpt(m) == 0, "unlockpt: %s", kqt_errname(errno));
	const char *name = ptsname(m);
	CHECKF(name != NULL, "ptsname: %s", kqt_errname(errno));
	int s = open(name, O_RDWR | O_NOCTTY);
	CHECKF(s >= 0, "open %s: %s", name, kqt_errname(errno));

	struct termios tio;
	CHECK_OK(tcgetattr(s, &tio));
	cfmakeraw(&tio);
	CHECK_OK(tcsetattr(s, TCSANOW, &tio));
	*master = m;
	*slave = s;
}

TEST(pty_slave_readable)
{
	int kq = kq_new();
	int m, s;
	struct kevent ev;

	open_pty(&m, &s);
	kev_add(kq, s, EVFILT_READ, EV_ADD, 0, 0, (void *)0x77);
	kev_expect_none(kq, s, EVFILT_READ);
	write_n(m, 4);
	kev_expect(kq, s, EVFILT_READ, WAIT_MS_DEFAULT, &ev);
	CHECK(ev.udata == (void *)0x77);
	CHECK_EQ(ev.flags & EV_ERROR, 0);
	/* After reading everything it is quiet again. */
	read_n(s, 4);
	kev_expect_none(kq, s, EVFILT_READ);
}

TEST(pty_master_writable_and_readable)
{
	int kq = kq_new();
	int m, s;
	struct kevent ev;

	open_pty(&m, &s);
	kev_add(kq, m, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	kev_add(kq, m, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kev_expect(kq, m, EVFILT_WRITE, WAIT_MS_DEFAULT, &ev);
	CHECK_EQ(ev.flags & EV_ERROR, 0);
	kev_expect_none(kq, m, EVFILT_READ);
	/* Output on the slave is input on the master. */
	write_n(s, 3);
	kev_expect(kq, m, EVFILT_READ, WAIT_MS_DEFAULT, &ev);
}
