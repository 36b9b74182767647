/*
 * user_vnode.c - EVFILT_VNODE of the user-space backend: one inotify
 * instance per knote, watching the file the descriptor names (through
 * /proc/self/fd/N), in the kqueue's epoll set.  Each read of the instance
 * becomes the hints FreeBSD posts for the same changes, and, as FreeBSD's
 * filter does, a knote keeps the whole hint of each one that shares a bit
 * with what it asked for (NOTE_TRUNCATE, not FreeBSD's, only when asked);
 * a report clears them only with EV_CLEAR, without it the knote stays
 * reported (level-triggered, as on FreeBSD):
 *
 *   IN_MODIFY        NOTE_WRITE, | NOTE_EXTEND if the size grew; if it
 *                    shrank, a truncation: NOTE_ATTRIB | NOTE_TRUNCATE;
 *                    an mtime set alone: NOTE_ATTRIB
 *   IN_ATTRIB        NOTE_ATTRIB; NOTE_LINK instead if the link count
 *                    changed, NOTE_DELETE when it reached 0
 *   IN_DELETE_SELF   NOTE_DELETE        IN_MOVE_SELF     NOTE_RENAME
 *   IN_OPEN          NOTE_OPEN          IN_ACCESS        NOTE_READ
 *   IN_CLOSE_WRITE   NOTE_CLOSE_WRITE   IN_CLOSE_NOWRITE NOTE_CLOSE
 *   IN_UNMOUNT       NOTE_REVOKE (EV_EOF)
 *   directories: an entry created or deleted  NOTE_WRITE, a subdirectory
 *                    NOTE_WRITE | NOTE_LINK; an entry renamed in place
 *                    (IN_MOVED_FROM and IN_MOVED_TO with one cookie)
 *                    NOTE_WRITE, moved in or out (one of them) NOTE_WRITE
 *                    | NOTE_EXTEND; | NOTE_LINK for a subdirectory when the
 *                    directory's link count changed
 *
 * The sizes and link counts are those of one fstat() per read, so changes
 * that inotify merges or that one read holds together are told apart only
 * as far as those allow (see the README).  Each knote costs a descriptor.
 * kq->mtx held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq_internal.h"

#define WATCH	(IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | \
		 IN_OPEN | IN_ACCESS | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | \
		 IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)

static int vnode_attach(struct uknote *kn)
{
	char path[64];
	struct stat st;
	int fd = (int)kn->ident, ifd, fl, err;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_PATH) || fstat(fd, &st) < 0)
		return EBADF;
	/* Files with a name in a file system only (not memfd, pipes...). */
	if (!(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ||
	      S_ISLNK(st.st_mode)) || st.st_nlink == 0)
		return EINVAL;
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0)
		return errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (inotify_add_watch(ifd, path, WATCH) < 0) {
		err = errno;
		close(ifd);
		return err == ENOENT ? EBADF : err;
	}
	kn->src = usrc_new(kn->kq, SRC_VNODE, ifd);
	if (!kn->src) {
		close(ifd);
		return ENOMEM;
	}
	kn->src->kn[0] = kn;
	err = usrc_epoll_add(kn->kq, kn->src, EPOLLIN);
	if (err) {
		usrc_free(kn->kq, kn->src);
		return -err;
	}
	kn->aux = (uint64_t)st.st_size;
	kn->aux2 = (int64_t)st.st_nlink;
	kn->aux3 = (int64_t)st.st_ctim.tv_sec * 1000000000 +
		   st.st_ctim.tv_nsec;
	return 0;
}

static void vnode_detach(struct uknote *kn)
{
	usrc_free(kn->kq, kn->src);
}

/* What one read of the inotify instance held. */
struct vnode_batch {
	uint32_t own;			/* events of the file itself */
	bool entry, subdir;		/* entries created/removed (subdirs) */
	unsigned int nmove;		/* renames of entries: */
	struct {
		uint32_t mask;		/* IN_MOVED_FROM/TO, IN_ISDIR */
		uint32_t cookie;
	} move[32];
	bool move_lost;			/* more than move[] holds */
};

/*
 * One event with FreeBSD's hint: the knote is told the whole hint if it
 * shares a bit with what it asked for (filt_vfsvnode's rule).
 * NOTE_TRUNCATE is not FreeBSD's: only when asked for.
 */
static void vnode_hint(struct uknote *kn, unsigned int hint)
{
	if (!(hint & kn->sfflags))
		return;
	if (!(kn->sfflags & NOTE_TRUNCATE))
		hint &= ~(unsigned int)NOTE_TRUNCATE;
	kn->count |= hint;
}

/*
 * The hints of what inotify said, as FreeBSD's vop_*_post hooks post
 * them.  A write and an explicit mtime change are both IN_MODIFY: a write
 * leaves mtime == ctime.  truncate(2) is IN_MODIFY too: only a size that
 * shrank tells it from a write.  A rename of an entry is seen twice
 * (IN_MOVED_FROM and IN_MOVED_TO with one cookie) when it stays in the
 * directory, once when it moves to or from another one (NOTE_EXTEND).
 */
static void vnode_hints(struct uknote *kn, const struct vnode_batch *b)
{
	uint32_t own = b->own;
	struct stat st;
	bool have = false, grew = false, shrank = false, nl = false;

	if ((own & (IN_MODIFY | IN_ATTRIB | IN_ACCESS)) || b->entry ||
	    b->subdir || b->nmove)
		have = fstat((int)kn->ident, &st) == 0;
	if (have) {
		grew = (uint64_t)st.st_size > kn->aux;
		shrank = (uint64_t)st.st_size < kn->aux;
		nl = (int64_t)st.st_nlink != kn->aux2;
		kn->aux = (uint64_t)st.st_size;
		kn->aux2 = (int64_t)st.st_nlink;
	}
	if (nl && st.st_nlink == 0)
		vnode_hint(kn, NOTE_DELETE);
	else if (nl && !S_ISDIR(st.st_mode))
		vnode_hint(kn, NOTE_LINK);	/* link(2), unlink(2) */
	else if ((own & IN_ATTRIB) && !nl)
		vnode_hint(kn, NOTE_ATTRIB);
	if (own & IN_MODIFY) {
		if (shrank)
			vnode_hint(kn, NOTE_ATTRIB | NOTE_TRUNCATE);
		else if (have && !grew &&
			 (st.st_mtim.tv_sec != st.st_ctim.tv_sec ||
			  st.st_mtim.tv_nsec != st.st_ctim.tv_nsec))
			vnode_hint(kn, NOTE_ATTRIB);	/* utimensat() of mtime */
		else
			vnode_hint(kn, NOTE_WRITE | (grew ? NOTE_EXTEND : 0));
	}
	if ((own & IN_ACCESS) && !(own & IN_MODIFY) && have &&
	    (st.st_ctim.tv_sec != kn->aux3 / 1000000000 ||
	     st.st_ctim.tv_nsec != kn->aux3 % 1000000000))
		vnode_hint(kn, NOTE_ATTRIB);	/* utimensat() of atime */
	if (have)
		kn->aux3 = (int64_t)st.st_ctim.tv_sec * 1000000000 +
			   st.st_ctim.tv_nsec;

	/* Entries: mkdir(2) and rmdir(2) change the link count too. */
	if (b->entry)
		vnode_hint(kn, NOTE_WRITE);
	if (b->subdir)
		vnode_hint(kn, NOTE_WRITE | NOTE_LINK);
	for (unsigned int i = 0; i < b->nmove; i++) {
		unsigned int hint = NOTE_WRITE;
		bool paired = b->move_lost;

		for (unsigned int j = 0; j < b->nmove && !paired; j++)
			paired = j != i && b->move[j].cookie == b->move[i].cookie;
		if (!paired)
			hint |= NOTE_EXTEND;
		/* A subdirectory moved out, in, or over another one. */
		if ((b->move[i].mask & IN_ISDIR) && nl)
			hint |= NOTE_LINK;
		vnode_hint(kn, hint);
	}
	if (nl && S_ISDIR(st.st_mode) && st.st_nlink && !b->subdir &&
	    !b->nmove)
		vnode_hint(kn, NOTE_WRITE | NOTE_LINK);

	if (own & IN_DELETE_SELF)
		vnode_hint(kn, NOTE_DELETE);
	if (own & IN_MOVE_SELF)
		vnode_hint(kn, NOTE_RENAME);
	if (own & IN_OPEN)
		vnode_hint(kn, NOTE_OPEN);
	if (own & IN_ACCESS)
		vnode_hint(kn, NOTE_READ);
	if (own & IN_CLOSE_WRITE)
		vnode_hint(kn, NOTE_CLOSE_WRITE);
	if (own & IN_CLOSE_NOWRITE)
		vnode_hint(kn, NOTE_CLOSE);
	if (own & IN_UNMOUNT)
		vnode_hint(kn, NOTE_REVOKE);
}

static void vnode_event(struct usrc *src, uint32_t events)
{
	char buf[4096] __attribute__((aligned(8)));
	struct uknote *kn = src->kn[0];
	struct vnode_batch b = { 0 };
	ssize_t r;

	(void)events;
	while ((r = read(src->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + r;) {
			struct inotify_event *ie = (struct inotify_event *)p;

			if (ie->len == 0) {
				b.own |= ie->mask;	/* the file itself */
			} else if (ie->mask & (IN_MOVED_FROM | IN_MOVED_TO)) {
				if (b.nmove < sizeof(b.move) / sizeof(b.move[0])) {
					b.move[b.nmove].mask = ie->mask;
					b.move[b.nmove++].cookie = ie->cookie;
				} else {
					b.move_lost = true;
				}
			} else if (ie->mask & (IN_CREATE | IN_DELETE)) {
				if (ie->mask & IN_ISDIR)
					b.subdir = true;
				else
					b.entry = true;
			}
			p += sizeof(*ie) + ie->len;
		}
	}
	vnode_hints(kn, &b);
	if (kn->count)
		kn_activate(kn);
}

static int vnode_check(struct uknote *kn, struct kevent *ev, bool peek)
{
	if (!kn->count)
		return 0;
	ev->fflags = (unsigned int)kn->count;
	if (kn->count & NOTE_REVOKE)
		ev->flags |= EV_EOF;
	if (!peek && (kn->flags & EV_CLEAR))
		kn->count = 0;
	return 1;
}

const struct ufilter ufilt_vnode = {
	.is_fd = true,
	.attach = vnode_attach,
	.detach = vnode_detach,
	.check = vnode_check,
	.source_event = vnode_event,
};
