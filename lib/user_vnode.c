/*
 * user_vnode.c - EVFILT_VNODE of the user-space backend: one inotify
 * instance per knote, watching the file the descriptor names (through
 * /proc/self/fd/N), in the kqueue's epoll set.  inotify events become NOTE_*
 * bits, kept until reported (EV_CLEAR is implied):
 *
 *   IN_MODIFY        NOTE_WRITE, and NOTE_EXTEND if the size grew, or
 *                    NOTE_TRUNCATE | NOTE_ATTRIB if it shrank
 *   IN_ATTRIB        NOTE_ATTRIB; NOTE_LINK if the link count changed,
 *                    NOTE_DELETE when it reached 0
 *   IN_DELETE_SELF   NOTE_DELETE        IN_MOVE_SELF     NOTE_RENAME
 *   IN_OPEN          NOTE_OPEN          IN_ACCESS        NOTE_READ
 *   IN_CLOSE_WRITE   NOTE_CLOSE_WRITE   IN_CLOSE_NOWRITE NOTE_CLOSE
 *   IN_UNMOUNT       NOTE_REVOKE (EV_EOF)
 *   directories: an entry created, deleted or moved  NOTE_WRITE (and
 *                    NOTE_LINK for a subdirectory)
 *
 * Each knote costs a descriptor.  kq->mtx held.
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
	kn->flags |= EV_CLEAR;
	return 0;
}

static void vnode_detach(struct uknote *kn)
{
	usrc_free(kn->kq, kn->src);
}

/*
 * NOTE_* bits for what inotify said (own = events of the file itself,
 * entries = a directory's entries changed).  A write and an explicit
 * mtime change are both IN_MODIFY: a write leaves mtime == ctime.
 * Truncation is IN_MODIFY with IN_ATTRIB (setattr of size and times).
 */
static unsigned int vnode_bits(struct uknote *kn, uint32_t own,
			       bool entries)
{
	unsigned int b = 0;
	struct stat st;
	bool have = false, grew = false, shrank = false;

	if ((own & (IN_MODIFY | IN_ATTRIB | IN_ACCESS)) || entries)
		have = fstat((int)kn->ident, &st) == 0;
	if (have) {
		grew = (uint64_t)st.st_size > kn->aux;
		shrank = (uint64_t)st.st_size < kn->aux;
		if ((int64_t)st.st_nlink != kn->aux2)
			b |= st.st_nlink == 0 ? NOTE_DELETE : NOTE_LINK;
		kn->aux = (uint64_t)st.st_size;
		kn->aux2 = (int64_t)st.st_nlink;
	}
	if (own & IN_ATTRIB)
		b |= NOTE_ATTRIB;
	if (own & IN_MODIFY) {
		if (shrank)
			b |= NOTE_TRUNCATE | NOTE_ATTRIB;
		else if (have && !grew && !(own & IN_ATTRIB) &&
		    (st.st_mtim.tv_sec != st.st_ctim.tv_sec ||
		     st.st_mtim.tv_nsec != st.st_ctim.tv_nsec))
			b |= NOTE_ATTRIB;	/* utimensat() of mtime */
		else
			b |= NOTE_WRITE | (grew ? NOTE_EXTEND : 0);
	}
	if ((own & IN_ACCESS) && !(own & IN_MODIFY) && have &&
	    (st.st_ctim.tv_sec != kn->aux3 / 1000000000 ||
	     st.st_ctim.tv_nsec != kn->aux3 % 1000000000))
		b |= NOTE_ATTRIB;	/* utimensat() of atime */
	if (have)
		kn->aux3 = (int64_t)st.st_ctim.tv_sec * 1000000000 +
			   st.st_ctim.tv_nsec;
	if (entries)
		b |= NOTE_WRITE;
	if (own & IN_DELETE_SELF)
		b |= NOTE_DELETE;
	if (own & IN_MOVE_SELF)
		b |= NOTE_RENAME;
	if (own & IN_OPEN)
		b |= NOTE_OPEN;
	if (own & IN_ACCESS)
		b |= NOTE_READ;
	if (own & IN_CLOSE_WRITE)
		b |= NOTE_CLOSE_WRITE;
	if (own & IN_CLOSE_NOWRITE)
		b |= NOTE_CLOSE;
	if (own & IN_UNMOUNT)
		b |= NOTE_REVOKE;
	return b;
}

static void vnode_event(struct usrc *src, uint32_t events)
{
	char buf[4096] __attribute__((aligned(8)));
	struct uknote *kn = src->kn[0];
	uint32_t own = 0;
	bool entries = false;
	ssize_t r;

	(void)events;
	while ((r = read(src->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + r;) {
			struct inotify_event *ie = (struct inotify_event *)p;

			if (ie->len == 0)
				own |= ie->mask;	/* the file itself */
			else if (ie->mask & (IN_CREATE | IN_DELETE |
					     IN_MOVED_FROM | IN_MOVED_TO))
				entries = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	kn->count |= vnode_bits(kn, own, entries) & kn->sfflags;
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
	if (!peek)
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
