/*
 * t_vnode.c - EVFILT_VNODE on files and directories in tmp_dir().
 *
 * Each NOTE_* on a file: NOTE_WRITE, NOTE_EXTEND, NOTE_TRUNCATE (with
 * NOTE_ATTRIB), NOTE_ATTRIB (chmod, chown, times), NOTE_LINK (link/unlink
 * of another name), NOTE_DELETE (last name gone, also by a rename over
 * it), NOTE_RENAME, NOTE_OPEN, NOTE_CLOSE, NOTE_CLOSE_WRITE, NOTE_READ; on
 * a directory: NOTE_WRITE for entries added, removed, renamed, NOTE_LINK
 * for subdirectories coming and going, NOTE_RENAME and NOTE_DELETE of the
 * directory itself (also after it moved to another parent); NOTE_REVOKE
 * with EV_EOF when a tmpfs mounted in tmp_dir() is lazily unmounted (and
 * not for unrelated mount changes).  fflags accumulate until reported and
 * hold, as on FreeBSD, the whole hint of each change that had a bit asked
 * for (a write past the end is NOTE_WRITE|NOTE_EXTEND, mkdir NOTE_WRITE|
 * NOTE_LINK on the parent, a rename to another directory NOTE_WRITE|
 * NOTE_EXTEND on both: the bsd_vnode_* cases) and nothing of the others;
 * without EV_CLEAR a knote stays reported with them (level-triggered, as
 * on FreeBSD; the other tests register with EV_CLEAR);
 * EV_ADD on an existing knote changes the selection and keeps what is
 * pending; EV_DISABLE/EV_ENABLE, EV_DISPATCH,
 * EV_ONESHOT, EV_DELETE; close of the fd drops the knote; several
 * watchers of one file; a file whose marks fsnotify drops itself (its last
 * link removed through another name); EINVAL on pipes, sockets, eventfd,
 * memfd, character devices; a stress run of registration, deregistration and
 * close against a thread changing the file.
 *
 * Everything a test creates is removed at its end (vn_cleanup()).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KN	"nr_knotes"

/* ---- paths, cleaned up at the end of each test ----------------------- */

#define VN_MAX_PATHS	32

static char vn_paths[VN_MAX_PATHS][PATH_MAX];
static int vn_npaths;

/* A fresh path in tmp_dir(), remembered for vn_cleanup(). */
static const char *vn_path(const char *tag)
{
	static int seq;
	char *p;

	CHECK(vn_npaths < VN_MAX_PATHS);
	p = vn_paths[vn_npaths++];
	snprintf(p, PATH_MAX, "%s/vn-%d-%s-%d", tmp_dir(), (int)getpid(), tag,
		 seq++);
	return p;
}

/* Removes whatever is left at the paths handed out, newest first. */
static void vn_cleanup(void)
{
	while (vn_npaths > 0) {
		const char *p = vn_paths[--vn_npaths];

		if (unlink(p) < 0 && errno != ENOENT)
			rmdir(p);
	}
}

/* Creates a file of size bytes at path; returns an O_RDWR descriptor. */
static int vn_file_at(const char *file, int line, const char *path,
		      size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		kqt_fail(file, line, "open %s: %s", path, kqt_errname(errno));
	if (size)
		write_n_at(file, line, fd, size);
	return fd;
}
#define vn_file(path, size)	vn_file_at(__FILE__, __LINE__, path, size)

/* Creates a directory at path; returns an O_RDONLY descriptor of it. */
static int vn_dir_at(const char *file, int line, const char *path)
{
	if (mkdir(path, 0700) < 0)
		kqt_fail(file, line, "mkdir %s: %s", path, kqt_errname(errno));
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		kqt_fail(file, line, "open %s: %s", path, kqt_errname(errno));
	return fd;
}
#define vn_dir(path)		vn_dir_at(__FILE__, __LINE__, path)

/* Creates an empty file at path and closes it. */
static void vn_touch_at(const char *file, int line, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		kqt_fail(file, line, "create %s: %s", path,
			 kqt_errname(errno));
	close(fd);
}
#define vn_touch(path)		vn_touch_at(__FILE__, __LINE__, path)

/* ---- expectations ------------------------------------------------------ */

/*
 * The next event of (fd, EVFILT_VNODE) has fflags == want; after it,
 * nothing more is pending for it (the knotes of vn_add() are EV_CLEAR).
 */
static void vn_expect_at(const char *file, int line, int kq, int fd,
			 unsigned int want, struct kevent *out)
{
	struct kevent ev;

	kev_expect_at(file, line, kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
	if (ev.fflags != want || (ev.flags & EV_ERROR))
		kqt_fail(file, line, "got %s, want fflags 0x%x",
			 kev_str(&ev), want);
	kev_expect_none_at(file, line, kq, fd, EVFILT_VNODE);
	if (out)
		*out = ev;
}
#define vn_expect(kq, fd, want, out) \
	vn_expect_at(__FILE__, __LINE__, kq, fd, want, out)

#define vn_none(kq, fd)		kev_expect_none(kq, fd, EVFILT_VNODE)

static void vn_add_at(const char *file, int line, int kq, int fd,
		      unsigned short flags, unsigned int fflags)
{
	kev_add_at(file, line, kq, fd, EVFILT_VNODE, flags, fflags, 0,
		   (void *)(uintptr_t)(0x7000 + fd));
}
/* EV_CLEAR, as programs watching files register them (see below). */
#define vn_add(kq, fd, fflags) \
	vn_add_at(__FILE__, __LINE__, kq, fd, EV_ADD | EV_CLEAR, fflags)

/* ---- files ------------------------------------------------------------- */

TEST(vnode_write_extend)
{
	int kq = kq_new();
	const char *path = vn_path("w");
	int fd = vn_file(path, 100);
	struct kevent ev;

	vn_add(kq, fd, NOTE_WRITE | NOTE_EXTEND);
	kev_expect_empty(kq);
	/* Inside the file: written, not extended. */
	CHECK_EQ(pwrite(fd, "abc", 3, 10), 3);
	vn_expect(kq, fd, NOTE_WRITE, &ev);
	CHECK_EQ(ev.ident, fd);
	CHECK_EQ(ev.filter, EVFILT_VNODE);
	CHECK(ev.udata == (void *)(uintptr_t)(0x7000 + fd));
	CHECK_EQ(ev.flags & EV_EOF, 0);
	/* Past the end. */
	CHECK_EQ(pwrite(fd, "abc", 3, 100), 3);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	/* Through another descriptor, appending. */
	int w = CHECK_OK(open(path, O_WRONLY | O_APPEND | O_CLOEXEC));
	write_n(w, 5);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	CHECK_OK(close(w));
	/* The close (NOTE_CLOSE_WRITE) was not asked for. */
	kev_expect_empty(kq);
	/* fallocate past the end extends too. */
	CHECK_OK(posix_fallocate(fd, 0, 4096));
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_cleanup();
}

TEST(vnode_extend_only)
{
	int kq = kq_new();
	int fd = vn_file(vn_path("x"), 10);

	vn_add(kq, fd, NOTE_EXTEND);
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	vn_none(kq, fd);
	CHECK_EQ(pwrite(fd, "abc", 3, 9), 3);
	/* The write's whole hint (FreeBSD's rule). */
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_cleanup();
}

TEST(vnode_truncate)
{
	int kq = kq_new(), kq2 = kq_new(), kq3 = kq_new();
	const char *path = vn_path("t");
	int fd = vn_file(path, 100);

	vn_add(kq, fd, NOTE_TRUNCATE | NOTE_ATTRIB | NOTE_WRITE | NOTE_EXTEND);
	vn_add(kq2, fd, NOTE_TRUNCATE);
	vn_add(kq3, fd, NOTE_ATTRIB);
	CHECK_OK(ftruncate(fd, 10));
	vn_expect(kq, fd, NOTE_TRUNCATE | NOTE_ATTRIB, NULL);
	/* The whole hint; NOTE_TRUNCATE only when asked for. */
	vn_expect(kq2, fd, NOTE_TRUNCATE | NOTE_ATTRIB, NULL);
	vn_expect(kq3, fd, NOTE_ATTRIB, NULL);
	/* O_TRUNC through another descriptor. */
	int t = CHECK_OK(open(path, O_WRONLY | O_TRUNC | O_CLOEXEC));
	CHECK_OK(close(t));
	vn_expect(kq, fd, NOTE_TRUNCATE | NOTE_ATTRIB, NULL);
	vn_expect(kq2, fd, NOTE_TRUNCATE | NOTE_ATTRIB, NULL);
	vn_expect(kq3, fd, NOTE_ATTRIB, NULL);
	/* Growing by truncate: an attribute change (FreeBSD's setattr). */
	CHECK_OK(ftruncate(fd, 50));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	vn_none(kq2, fd);
	vn_expect(kq3, fd, NOTE_ATTRIB, NULL);
	/* Truncating to the same size changes no size. */
	CHECK_OK(ftruncate(fd, 50));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	vn_none(kq2, fd);
	vn_cleanup();
}

TEST(vnode_attrib)
{
	int kq = kq_new();
	const char *path = vn_path("a");
	int fd = vn_file(path, 10);
	struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };

	vn_add(kq, fd, NOTE_ATTRIB);
	CHECK_OK(chmod(path, 0640));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	CHECK_OK(fchmod(fd, 0600));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	CHECK_OK(fchown(fd, 1, 1));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	CHECK_OK(futimens(fd, ts));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	/* One time only (comes as a modify/access event from setattr). */
	ts[0].tv_nsec = UTIME_OMIT;
	CHECK_OK(futimens(fd, ts));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	ts[0].tv_nsec = 0;
	ts[1].tv_nsec = UTIME_OMIT;
	CHECK_OK(utimensat(AT_FDCWD, path, ts, 0));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	/* Writing and reading are not attribute changes. */
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	char buf[4];
	CHECK_EQ(pread(fd, buf, 3, 0), 3);
	vn_none(kq, fd);
	vn_cleanup();
}

TEST(vnode_link_unlink)
{
	int kq = kq_new(), kq2 = kq_new();
	const char *path = vn_path("l");
	const char *path2 = vn_path("l2");
	int fd = vn_file(path, 1);

	vn_add(kq, fd, NOTE_LINK | NOTE_DELETE);
	vn_add(kq2, fd, NOTE_LINK);
	CHECK_OK(link(path, path2));
	vn_expect(kq, fd, NOTE_LINK, NULL);
	vn_expect(kq2, fd, NOTE_LINK, NULL);
	CHECK_OK(unlink(path2));
	vn_expect(kq, fd, NOTE_LINK, NULL);
	vn_expect(kq2, fd, NOTE_LINK, NULL);
	/* The last name: deleted, not a link change. */
	CHECK_OK(unlink(path));
	vn_expect(kq, fd, NOTE_DELETE, NULL);
	vn_none(kq2, fd);
	vn_cleanup();
}

TEST(vnode_delete_then_write)
{
	int kq = kq_new();
	const char *path = vn_path("d");
	int fd = vn_file(path, 1);

	vn_add(kq, fd, NOTE_DELETE | NOTE_WRITE);
	CHECK_OK(unlink(path));
	vn_expect(kq, fd, NOTE_DELETE, NULL);
	/* Still open, still watched. */
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_cleanup();
}

/*
 * The file's last name goes away through a name the knote's descriptor was
 * not opened by: fsnotify tears down every mark of the inode itself.  The
 * knote reports the deletion and can still be deleted, closed and
 * registered again.
 */
TEST(vnode_marks_dropped_by_fsnotify)
{
	int kq = kq_new();
	const char *path = vn_path("m");
	const char *path2 = vn_path("m2");
	long long kn0 = counter_base(NR_KN);
	int fd = vn_file(path, 1);

	CHECK_OK(link(path, path2));
	vn_add(kq, fd, NOTE_DELETE | NOTE_LINK | NOTE_WRITE);
	CHECK_OK(unlink(path));
	vn_expect(kq, fd, NOTE_LINK, NULL);
	CHECK_OK(unlink(path2));
	vn_expect(kq, fd, NOTE_DELETE, NULL);
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	kev_poll(kq, (struct kevent[4]){ 0 }, 4);
	kev_add(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	EXPECT_COUNTER(NR_KN, kn0);
	/* A new registration on the unlinked file works. */
	vn_add(kq, fd, NOTE_WRITE);
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	vn_expect(kq, fd, NOTE_WRITE, NULL);
	/* And closing with marks gone on a second knote. */
	int kq2 = kq_new();
	int fd2 = CHECK_OK(dup(fd));
	vn_add(kq2, fd2, NOTE_WRITE);
	CHECK_OK(close(fd2));
	CHECK_OK(close(fd));
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	kev_expect_empty(kq2);
	vn_cleanup();
}

TEST(vnode_rename)
{
	int kq = kq_new(), vkq = kq_new();
	const char *path = vn_path("r");
	const char *path2 = vn_path("r2");
	const char *victim = vn_path("rv");
	int fd = vn_file(path, 1);
	int vfd = vn_file(victim, 1);

	vn_add(kq, fd, NOTE_RENAME | NOTE_DELETE | NOTE_LINK);
	vn_add(vkq, vfd, NOTE_RENAME | NOTE_DELETE | NOTE_LINK);
	CHECK_OK(rename(path, path2));
	vn_expect(kq, fd, NOTE_RENAME, NULL);
	CHECK_OK(rename(path2, path));
	vn_expect(kq, fd, NOTE_RENAME, NULL);
	/* Renamed over: the victim is deleted, the mover renamed. */
	CHECK_OK(rename(path, victim));
	vn_expect(kq, fd, NOTE_RENAME, NULL);
	vn_expect(vkq, vfd, NOTE_DELETE, NULL);
	vn_cleanup();
}

TEST(vnode_open_close_read)
{
	int kq = kq_new();
	const char *path = vn_path("o");
	int fd = vn_file(path, 10);
	char buf[16];

	vn_add(kq, fd, NOTE_OPEN | NOTE_CLOSE | NOTE_CLOSE_WRITE | NOTE_READ);
	int r = CHECK_OK(open(path, O_RDONLY | O_CLOEXEC));
	vn_expect(kq, fd, NOTE_OPEN, NULL);
	CHECK_EQ(read(r, buf, sizeof(buf)), 10);
	vn_expect(kq, fd, NOTE_READ, NULL);
	CHECK_OK(close(r));
	vn_expect(kq, fd, NOTE_CLOSE, NULL);
	int w = CHECK_OK(open(path, O_WRONLY | O_CLOEXEC));
	vn_expect(kq, fd, NOTE_OPEN, NULL);
	CHECK_OK(close(w));
	vn_expect(kq, fd, NOTE_CLOSE_WRITE, NULL);
	/* Written, then closed: NOTE_WRITE was not asked for. */
	w = CHECK_OK(open(path, O_RDWR | O_CLOEXEC));
	write_n(w, 3);
	CHECK_OK(close(w));
	vn_expect(kq, fd, NOTE_OPEN | NOTE_CLOSE_WRITE, NULL);
	/* Reading through the watched descriptor itself. */
	CHECK_EQ(pread(fd, buf, 4, 0), 4);
	vn_expect(kq, fd, NOTE_READ, NULL);
	vn_cleanup();
}

TEST(vnode_accumulate)
{
	int kq = kq_new();
	int fd = vn_file(vn_path("acc"), 10);
	struct kevent ev[4];

	vn_add(kq, fd, NOTE_WRITE | NOTE_ATTRIB);
	CHECK_EQ(pwrite(fd, "a", 1, 0), 1);
	CHECK_EQ(pwrite(fd, "b", 1, 1), 1);
	CHECK_OK(fchmod(fd, 0640));
	/* One event for all three. */
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].ident, fd);
	CHECK_EQ_HEX(ev[0].fflags, NOTE_WRITE | NOTE_ATTRIB);
	kev_expect_empty(kq);
	CHECK_EQ(pwrite(fd, "c", 1, 2), 1);
	vn_expect(kq, fd, NOTE_WRITE, NULL);
	vn_cleanup();
}

TEST(vnode_only_asked_for)
{
	int kq = kq_new();
	const char *path = vn_path("only");
	int fd = vn_file(path, 10);
	char buf[4];

	vn_add(kq, fd, NOTE_ATTRIB);
	CHECK_EQ(pwrite(fd, "a", 1, 0), 1);
	CHECK_EQ(pwrite(fd, "a", 1, 20), 1);
	CHECK_EQ(pread(fd, buf, 1, 0), 1);
	int r = CHECK_OK(open(path, O_RDONLY | O_CLOEXEC));
	CHECK_OK(close(r));
	vn_none(kq, fd);
	CHECK_OK(fchmod(fd, 0640));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	/* Nothing asked for: nothing reported. */
	int kq2 = kq_new();
	vn_add(kq2, fd, 0);
	CHECK_OK(fchmod(fd, 0600));
	CHECK_EQ(pwrite(fd, "a", 1, 0), 1);
	kev_expect_empty(kq2);
	vn_cleanup();
}

/* ---- directories ------------------------------------------------------- */

TEST(vnode_dir_entries)
{
	int kq = kq_new(), kq2 = kq_new();
	const char *dir = vn_path("dir");
	int dfd = vn_dir(dir);
	const char *other = vn_path("other");
	char f[PATH_MAX], f2[PATH_MAX], sub[PATH_MAX], sub2[PATH_MAX];
	char moved[PATH_MAX];

	CHECK_OK(mkdir(other, 0700));
	snprintf(f, sizeof(f), "%s/f", dir);
	snprintf(f2, sizeof(f2), "%s/f2", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(sub2, sizeof(sub2), "%s/sub2", dir);
	snprintf(moved, sizeof(moved), "%s/moved", other);

	vn_add(kq, dfd, NOTE_WRITE | NOTE_LINK);
	vn_add(kq2, dfd, NOTE_LINK);
	vn_touch(f);
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	vn_none(kq2, dfd);
	/* mkdir's hint is NOTE_WRITE|NOTE_LINK, reported whole. */
	CHECK_OK(mkdir(sub, 0700));
	vn_expect(kq, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_expect(kq2, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	CHECK_OK(rename(f, f2));
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	/* A subdirectory renamed in place: no link count change. */
	CHECK_OK(rename(sub, sub2));
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	vn_none(kq2, dfd);
	CHECK_OK(unlink(f2));
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	CHECK_OK(rmdir(sub2));
	vn_expect(kq, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_expect(kq2, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	/* A subdirectory moved out (to another directory: NOTE_EXTEND). */
	CHECK_OK(mkdir(sub, 0700));
	vn_expect(kq, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_expect(kq2, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	CHECK_OK(rename(sub, moved));
	vn_expect(kq, dfd, NOTE_WRITE | NOTE_EXTEND | NOTE_LINK, NULL);
	vn_expect(kq2, dfd, NOTE_WRITE | NOTE_EXTEND | NOTE_LINK, NULL);
	CHECK_OK(rmdir(moved));
	vn_none(kq, dfd);
	/* Changes inside a file of the directory are not its own. */
	int fd = vn_file(f, 1);
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	write_n(fd, 10);
	CHECK_OK(fchmod(fd, 0640));
	vn_none(kq, dfd);
	CHECK_OK(close(fd));
	CHECK_OK(unlink(f));
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	CHECK_OK(close(dfd));
	vn_cleanup();
}

TEST(vnode_dir_self)
{
	int kq = kq_new();
	const char *d = vn_path("self");
	const char *d2 = vn_path("self2");
	const char *other = vn_path("away");
	const char *e = vn_path("gone");
	char d3[PATH_MAX];
	int dfd = vn_dir(d);
	int efd = vn_dir(e);

	CHECK_OK(mkdir(other, 0700));
	snprintf(d3, sizeof(d3), "%s/moved", other);
	vn_add(kq, dfd, NOTE_DELETE | NOTE_RENAME | NOTE_ATTRIB);
	vn_add(kq, efd, NOTE_DELETE);
	CHECK_OK(rmdir(e));
	vn_expect(kq, efd, NOTE_DELETE, NULL);
	CHECK_OK(chmod(d, 0750));
	vn_expect(kq, dfd, NOTE_ATTRIB, NULL);
	CHECK_OK(rename(d, d2));
	vn_expect(kq, dfd, NOTE_RENAME, NULL);
	/* To another parent; removed there. */
	CHECK_OK(rename(d2, d3));
	vn_expect(kq, dfd, NOTE_RENAME, NULL);
	CHECK_OK(rmdir(d3));
	vn_expect(kq, dfd, NOTE_DELETE, NULL);
	/* Entries removed from the old parent are nothing to it. */
	CHECK_OK(rmdir(other));
	vn_none(kq, dfd);
	CHECK_OK(close(dfd));
	CHECK_OK(close(efd));
	vn_cleanup();
}

/* ---- FreeBSD's rule: the whole hint of an event that was asked for ---- */

/*
 * FreeBSD's filter ORs an event's whole hint into the knote's fflags once
 * the hint shares a bit with what was asked for, and nothing of a hint that
 * shares none.  The hints are those of sys/kern/vfs_subr.c's vop_*_post
 * hooks: a write posts NOTE_WRITE, with NOTE_EXTEND past the end.
 */
TEST(bsd_vnode_write_extend_full_hint)
{
	int kq = kq_new(), kq2 = kq_new(), kq3 = kq_new();
	int fd = vn_file(vn_path("wfh"), 10);

	vn_add(kq, fd, NOTE_WRITE);
	vn_add(kq2, fd, NOTE_EXTEND);
	vn_add(kq3, fd, NOTE_ATTRIB | NOTE_LINK);
	/* Inside the file: NOTE_WRITE alone, nothing to NOTE_EXTEND. */
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	vn_expect(kq, fd, NOTE_WRITE, NULL);
	vn_none(kq2, fd);
	/* Past the end: NOTE_WRITE|NOTE_EXTEND to both. */
	CHECK_EQ(pwrite(fd, "abc", 3, 9), 3);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect(kq2, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	/* Appending through another descriptor. */
	int w = CHECK_OK(open(vn_paths[vn_npaths - 1],
			      O_WRONLY | O_APPEND | O_CLOEXEC));
	write_n(w, 4);
	CHECK_OK(close(w));
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect(kq2, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	/* A hint without a bit asked for is not reported at all. */
	vn_none(kq3, fd);
	vn_cleanup();
}

/*
 * truncate(2) is VOP_SETATTR: NOTE_ATTRIB alone on FreeBSD; NOTE_TRUNCATE
 * (not FreeBSD's) comes with it when the size shrank, only when asked for.
 */
TEST(bsd_vnode_truncate_full_hint)
{
	int kq = kq_new(), kq2 = kq_new();
	const char *path = vn_path("tfh");
	int fd = vn_file(path, 100);

	vn_add(kq, fd, NOTE_TRUNCATE);
	vn_add(kq2, fd, NOTE_ATTRIB | NOTE_WRITE);
	CHECK_OK(ftruncate(fd, 10));
	vn_expect(kq, fd, NOTE_TRUNCATE | NOTE_ATTRIB, NULL);
	vn_expect(kq2, fd, NOTE_ATTRIB, NULL);
	int t = CHECK_OK(open(path, O_WRONLY | O_TRUNC | O_CLOEXEC));
	CHECK_OK(close(t));
	vn_expect(kq, fd, NOTE_TRUNCATE | NOTE_ATTRIB, NULL);
	vn_expect(kq2, fd, NOTE_ATTRIB, NULL);
	vn_cleanup();
}

/* A truncation that grows the file is no write: NOTE_ATTRIB only. */
TEST(bsd_vnode_truncate_grow_attrib_only)
{
	int kq = kq_new(), kq2 = kq_new();
	int fd = vn_file(vn_path("tg"), 10);

	vn_add(kq, fd, NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB);
	vn_add(kq2, fd, NOTE_WRITE | NOTE_EXTEND);
	CHECK_OK(ftruncate(fd, 50));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	vn_none(kq2, fd);
	vn_cleanup();
}

/* mkdir(2) and rmdir(2) post NOTE_WRITE|NOTE_LINK on the parent. */
TEST(bsd_vnode_mkdir_rmdir_full_hint)
{
	int kq = kq_new(), kq2 = kq_new();
	const char *dir = vn_path("mfh");
	int dfd = vn_dir(dir);
	char sub[PATH_MAX], f[PATH_MAX];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(f, sizeof(f), "%s/f", dir);
	vn_add(kq, dfd, NOTE_WRITE);
	vn_add(kq2, dfd, NOTE_LINK);
	CHECK_OK(mkdir(sub, 0700));
	vn_expect(kq, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_expect(kq2, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	CHECK_OK(rmdir(sub));
	vn_expect(kq, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_expect(kq2, dfd, NOTE_WRITE | NOTE_LINK, NULL);
	/* A file: NOTE_WRITE alone, nothing to a NOTE_LINK knote. */
	vn_touch(f);
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	vn_none(kq2, dfd);
	CHECK_OK(unlink(f));
	vn_expect(kq, dfd, NOTE_WRITE, NULL);
	vn_none(kq2, dfd);
	CHECK_OK(close(dfd));
	vn_cleanup();
}

/*
 * rename(2): NOTE_WRITE on the directory when the name stays in it;
 * NOTE_WRITE|NOTE_EXTEND on both directories when it moves to another one,
 * with NOTE_LINK when a subdirectory moves (and on a directory whose link
 * count a subdirectory replaced changes).
 */
TEST(bsd_vnode_rename_dirs_full_hint)
{
	int kq = kq_new(), kq2 = kq_new(), kq3 = kq_new();
	const char *a = vn_path("ra");
	const char *b = vn_path("rb");
	int afd = vn_dir(a);
	int bfd = vn_dir(b);
	char f[PATH_MAX], f2[PATH_MAX], fb[PATH_MAX];
	char s[PATH_MAX], s2[PATH_MAX], sb[PATH_MAX];

	snprintf(f, sizeof(f), "%s/f", a);
	snprintf(f2, sizeof(f2), "%s/f2", a);
	snprintf(fb, sizeof(fb), "%s/f", b);
	snprintf(s, sizeof(s), "%s/s", a);
	snprintf(s2, sizeof(s2), "%s/s2", a);
	snprintf(sb, sizeof(sb), "%s/s", b);
	vn_touch(f);
	CHECK_OK(mkdir(s, 0700));
	CHECK_OK(mkdir(s2, 0700));
	vn_add(kq, afd, NOTE_WRITE);
	vn_add(kq2, afd, NOTE_EXTEND);
	vn_add(kq3, bfd, NOTE_WRITE | NOTE_LINK);
	/* In place: NOTE_WRITE only. */
	CHECK_OK(rename(f, f2));
	vn_expect(kq, afd, NOTE_WRITE, NULL);
	vn_none(kq2, afd);
	/* To the other directory: extends both. */
	CHECK_OK(rename(f2, fb));
	vn_expect(kq, afd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect(kq2, afd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect(kq3, bfd, NOTE_WRITE | NOTE_EXTEND, NULL);
	/* And back. */
	CHECK_OK(rename(fb, f));
	vn_expect(kq, afd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect(kq2, afd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect(kq3, bfd, NOTE_WRITE | NOTE_EXTEND, NULL);
	/* A subdirectory moved out: a link of each goes or comes. */
	CHECK_OK(rename(s, sb));
	vn_expect(kq, afd, NOTE_WRITE | NOTE_EXTEND | NOTE_LINK, NULL);
	vn_expect(kq2, afd, NOTE_WRITE | NOTE_EXTEND | NOTE_LINK, NULL);
	vn_expect(kq3, bfd, NOTE_WRITE | NOTE_EXTEND | NOTE_LINK, NULL);
	/* A subdirectory renamed over another in place: one link less. */
	CHECK_OK(mkdir(s, 0700));
	vn_expect(kq, afd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_none(kq2, afd);
	CHECK_OK(rename(s, s2));
	vn_expect(kq, afd, NOTE_WRITE | NOTE_LINK, NULL);
	vn_none(kq2, afd);
	vn_none(kq3, bfd);
	CHECK_OK(close(afd));
	CHECK_OK(close(bfd));
	CHECK_OK(rmdir(sb));
	CHECK_OK(rmdir(s2));
	vn_cleanup();
}

/*
 * link(2) and unlink(2) of another name post NOTE_LINK alone on the file
 * (NOTE_DELETE on FreeBSD for the unlink; see the README), NOTE_WRITE on
 * the directory: no NOTE_ATTRIB, although Linux tells them as an attribute
 * change.
 */
TEST(bsd_vnode_link_hint_alone)
{
	int kq = kq_new(), kq2 = kq_new();
	const char *path = vn_path("lh");
	const char *path2 = vn_path("lh2");
	int fd = vn_file(path, 1);

	vn_add(kq, fd, NOTE_ATTRIB | NOTE_WRITE);
	vn_add(kq2, fd, NOTE_LINK);
	CHECK_OK(link(path, path2));
	vn_none(kq, fd);
	vn_expect(kq2, fd, NOTE_LINK, NULL);
	CHECK_OK(unlink(path2));
	vn_none(kq, fd);
	vn_expect(kq2, fd, NOTE_LINK, NULL);
	vn_cleanup();
}

/* ---- NOTE_REVOKE ------------------------------------------------------- */

TEST(vnode_revoke_lazy_unmount)
{
	int kq = kq_new();
	const char *mnt = vn_path("mnt");
	const char *mnt2 = vn_path("mnt2");
	char path[PATH_MAX];
	struct kevent ev;

	CHECK_OK(mkdir(mnt, 0700));
	CHECK_OK(mkdir(mnt2, 0700));
	CHECKF(mount("kqtest", mnt, "tmpfs", 0, "size=1m") == 0,
	       "mount tmpfs on %s: %s (the suite runs as root)", mnt,
	       kqt_errname(errno));
	snprintf(path, sizeof(path), "%s/file", mnt);
	int fd = vn_file(path, 1);
	vn_add(kq, fd, NOTE_REVOKE | NOTE_WRITE);
	/* Another file system coming and going is nothing to it. */
	CHECK_OK(mount("kqtest2", mnt2, "tmpfs", 0, "size=1m"));
	CHECK_OK(umount(mnt2));
	vn_none(kq, fd);
	/* Busy: a plain unmount fails and revokes nothing. */
	CHECK_ERR(umount(mnt), EBUSY);
	vn_none(kq, fd);
	CHECK_OK(umount2(mnt, MNT_DETACH));
	vn_expect(kq, fd, NOTE_REVOKE, &ev);
	CHECK(ev.flags & EV_EOF);
	/* The file still works; EV_EOF stays. */
	CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, &ev);
	CHECK(ev.flags & EV_EOF);
	CHECK_OK(close(fd));
	vn_cleanup();
}

/* ---- registration ------------------------------------------------------ */

TEST(vnode_ev_delete)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int fd = vn_file(vn_path("del"), 1);

	vn_add(kq, fd, NOTE_WRITE);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	write_n(fd, 1);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	write_n(fd, 1);
	kev_add(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	write_n(fd, 1);
	kev_expect_empty(kq);
	CHECK_ERR(kev_change(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL),
		  ENOENT);
	vn_cleanup();
}

TEST(vnode_close_drops_knote)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	const char *path = vn_path("cl");
	int fd = vn_file(path, 1);
	int keep = CHECK_OK(open(path, O_RDWR | O_CLOEXEC));

	vn_add(kq, fd, NOTE_WRITE | NOTE_CLOSE_WRITE);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	write_n(fd, 1);
	/* Pending, then closed: never reported. */
	CHECK_OK(close(fd));
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	write_n(keep, 1);
	kev_expect_empty(kq);
	CHECK_OK(close(keep));
	vn_cleanup();
}

TEST(vnode_einval_other_files)
{
	int kq = kq_new();
	int p[2], sv[2];
	struct kevent ch, ev;

	make_pipe(p);
	make_unix_pair(SOCK_STREAM, sv);
	int efd = CHECK_OK(eventfd(0, EFD_CLOEXEC));
	int null = CHECK_OK(open("/dev/null", O_RDWR | O_CLOEXEC));
	int mfd = CHECK_OK(memfd_create("kqtest", MFD_CLOEXEC));
	const int bad[] = { p[0], p[1], sv[0], efd, null, mfd, kq };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_ERR(kev_change(kq, bad[i], EVFILT_VNODE, EV_ADD,
				     NOTE_WRITE, 0, NULL), EINVAL);
		EV_SET(&ch, bad[i], EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, NULL);
		CHECK_EQ(kevent(kq, &ch, 1, &ev, 1, NULL), 1);
		CHECK_EQ(ev.flags, EV_ERROR);
		CHECK_EQ(ev.data, EINVAL);
	}
	CHECK_ERR(kev_change(kq, 9999, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0,
			     NULL), EBADF);
	kev_expect_empty(kq);
}

TEST(vnode_touch_changes_selection)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int fd = vn_file(vn_path("touch"), 10);
	char buf[4];

	vn_add(kq, fd, NOTE_WRITE);
	vn_add(kq, fd, NOTE_ATTRIB);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	write_n(fd, 1);
	vn_none(kq, fd);
	CHECK_OK(fchmod(fd, 0640));
	vn_expect(kq, fd, NOTE_ATTRIB, NULL);
	vn_add(kq, fd, NOTE_ATTRIB | NOTE_WRITE);
	write_n(fd, 1);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	/* To an event of another kind. */
	vn_add(kq, fd, NOTE_READ);
	CHECK_EQ(pread(fd, buf, 1, 0), 1);
	vn_expect(kq, fd, NOTE_READ, NULL);
	/* What is pending survives a change of the selection. */
	vn_add(kq, fd, NOTE_WRITE);
	write_n(fd, 1);
	vn_add(kq, fd, NOTE_WRITE | NOTE_OPEN);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	vn_cleanup();
}

TEST(vnode_disable_enable_dispatch_oneshot)
{
	int kq = kq_new();
	long long kn0 = counter_base(NR_KN);
	int fd = vn_file(vn_path("dis"), 1);

	vn_add(kq, fd, NOTE_WRITE);
	kev_add(kq, fd, EVFILT_VNODE, EV_DISABLE, 0, 0, NULL);
	write_n(fd, 1);
	vn_none(kq, fd);
	kev_add(kq, fd, EVFILT_VNODE, EV_ENABLE, 0, 0, NULL);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);

	/* EV_DISPATCH: one report, then disabled until EV_ENABLE. */
	kev_add(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	vn_add_at(__FILE__, __LINE__, kq, fd, EV_ADD | EV_CLEAR | EV_DISPATCH,
		  NOTE_WRITE);
	write_n(fd, 1);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	write_n(fd, 1);
	vn_none(kq, fd);
	kev_add(kq, fd, EVFILT_VNODE, EV_ENABLE, 0, 0, NULL);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);

	/* EV_ONESHOT: one report, then gone. */
	kev_add(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	vn_add_at(__FILE__, __LINE__, kq, fd, EV_ADD | EV_ONESHOT,
		  NOTE_WRITE);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	write_n(fd, 1);
	vn_expect(kq, fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	EXPECT_COUNTER(NR_KN, kn0);
	write_n(fd, 1);
	kev_expect_empty(kq);
	vn_cleanup();
}

/* Both knotes of a kqueue, in one call: fflags of each. */
static void vn_expect_two_at(const char *file, int line, int kq, int fd1,
			     unsigned int want1, int fd2, unsigned int want2)
{
	struct kevent ev[4];
	int n = kev_poll_at(file, line, kq, ev, 4);
	const struct kevent *a = kev_find(ev, n, fd1, EVFILT_VNODE);
	const struct kevent *b = kev_find(ev, n, fd2, EVFILT_VNODE);

	if (n != 2 || !a || !b || a->fflags != want1 || b->fflags != want2)
		kqt_fail(file, line, "got %d events (%s, ...), want fd %d "
			 "0x%x and fd %d 0x%x", n, n ? kev_str(&ev[0]) : "-",
			 fd1, want1, fd2, want2);
}
#define vn_expect_two(kq, a, wa, b, wb) \
	vn_expect_two_at(__FILE__, __LINE__, kq, a, wa, b, wb)

TEST(vnode_many_watchers)
{
	int kq[3] = { kq_new(), kq_new(), kq_new() };
	const char *path = vn_path("many");
	int fd = vn_file(path, 1);
	int fd2 = CHECK_OK(open(path, O_RDONLY | O_CLOEXEC));

	for (int i = 0; i < 3; i++) {
		vn_add(kq[i], fd, NOTE_WRITE);
		vn_add(kq[i], fd2, NOTE_WRITE | NOTE_ATTRIB);
	}
	write_n(fd, 1);
	CHECK_OK(fchmod(fd, 0640));
	for (int i = 0; i < 3; i++)
		vn_expect_two(kq[i], fd, NOTE_WRITE | NOTE_EXTEND, fd2,
			      NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB);
	/* One watcher leaves; the others still see. */
	CHECK_OK(close(kq[1]));
	kev_add(kq[0], fd2, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	write_n(fd, 1);
	vn_expect(kq[0], fd, NOTE_WRITE | NOTE_EXTEND, NULL);
	vn_expect_two(kq[2], fd, NOTE_WRITE | NOTE_EXTEND, fd2,
		      NOTE_WRITE | NOTE_EXTEND);
	vn_cleanup();
}

/* ---- races ------------------------------------------------------------- */

struct vn_stress {
	const char *path;
	const char *dir;
	volatile int stop;
};

static void *vn_stress_changer(void *arg)
{
	struct vn_stress *s = arg;
	char sub[PATH_MAX], name[PATH_MAX];
	int i = 0;

	snprintf(sub, sizeof(sub), "%s/s", s->dir);
	snprintf(name, sizeof(name), "%s/n", s->dir);
	while (!s->stop) {
		int fd = open(s->path, O_RDWR | O_CLOEXEC);

		if (fd >= 0) {
			(void)!pwrite(fd, "x", 1, i % 64);
			(void)!ftruncate(fd, i % 32);
			close(fd);
		}
		chmod(s->path, (i & 1) ? 0600 : 0640);
		mkdir(sub, 0700);
		rmdir(sub);
		link(s->path, name);
		unlink(name);
		i++;
	}
	return NULL;
}

/*
 * File system events race with EV_ADD, touch, EV_DELETE, close of the fd
 * and close of the kqueue.  Passes if nothing crashes or leaks (the VM
 * fails the run on any kernel warning).
 */
TEST(vnode_race_stress)
{
	struct vn_stress s = { .path = vn_path("race"),
			       .dir = vn_path("racedir") };
	long long kn0 = counter_base(NR_KN);
	long long end = now_ms() + 3000;
	struct kevent ev[8];
	pthread_t th[2];

	CHECK_OK(close(vn_file(s.path, 1)));
	CHECK_OK(mkdir(s.dir, 0700));
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, vn_stress_changer, &s),
			 0);
	for (int round = 0; now_ms() < end; round++) {
		int kq = kq_new();
		int fd = CHECK_OK(open(s.path, O_RDONLY | O_CLOEXEC));
		int dfd = CHECK_OK(open(s.dir, O_RDONLY | O_CLOEXEC));

		vn_add(kq, fd, NOTE_WRITE | NOTE_ATTRIB | NOTE_TRUNCATE);
		vn_add(kq, dfd, NOTE_WRITE | NOTE_LINK | NOTE_DELETE);
		kev_poll(kq, ev, 8);
		vn_add(kq, fd, NOTE_READ | NOTE_LINK | NOTE_CLOSE_WRITE);
		kev_poll(kq, ev, 8);
		if (round & 1)
			kev_add(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
		if (round & 2)
			CHECK_OK(close(kq));
		CHECK_OK(close(fd));
		if (!(round & 2))
			kev_poll(kq, ev, 8);
		CHECK_OK(close(dfd));
		if (!(round & 2))
			CHECK_OK(close(kq));
	}
	s.stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	EXPECT_COUNTER(NR_KN, kn0);
	vn_cleanup();
}

/*
 * Without EV_CLEAR a vnode knote is level-triggered, as on FreeBSD (whose
 * filter keeps kn_fflags until a report of an EV_CLEAR knote): once
 * something happened it is reported by every kevent(), with every bit
 * seen since it was added, and EV_ENABLE after EV_DISPATCH reports it
 * again.  Only EV_DELETE ends it.  No EV_CLEAR comes back in its flags.
 */
TEST(bsd_vnode_without_clear_stays_reported)
{
	int kq = kq_new();
	int fd = vn_file(vn_path("level"), 1);
	struct kevent ev;

	vn_add_at(__FILE__, __LINE__, kq, fd, EV_ADD, NOTE_WRITE | NOTE_ATTRIB);
	vn_none(kq, fd);
	write_n(fd, 1);
	for (int i = 0; i < 3; i++) {
		kev_expect(kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
		CHECKF(ev.fflags == (NOTE_WRITE | NOTE_EXTEND) &&
		       ev.flags == 0, "report %d: %s", i, kev_str(&ev));
	}
	CHECK_OK(fchmod(fd, 0640));
	kev_expect(kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
	CHECKF(ev.fflags == (NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB), "%s",
	       kev_str(&ev));
	kev_add(kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	vn_none(kq, fd);

	/* EV_DISPATCH alone: disabled after the report, the bits kept. */
	vn_add_at(__FILE__, __LINE__, kq, fd, EV_ADD | EV_DISPATCH, NOTE_WRITE);
	write_n(fd, 1);
	kev_expect(kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
	CHECKF(ev.fflags == (NOTE_WRITE | NOTE_EXTEND) &&
	       ev.flags == EV_DISPATCH, "%s", kev_str(&ev));
	vn_none(kq, fd);
	kev_add(kq, fd, EVFILT_VNODE, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, fd, EVFILT_VNODE, WAIT_MS_DEFAULT, &ev);
	CHECKF(ev.fflags == (NOTE_WRITE | NOTE_EXTEND), "%s", kev_str(&ev));
	vn_cleanup();
}
