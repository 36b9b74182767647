// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_file.c - EVFILT_READ and EVFILT_WRITE on any file descriptor.
 *
 * attach polls the file once with a poll_table whose queue procedure hangs
 * one wait-queue entry per wait-queue head the file offers (a pipe end or
 * a socket has one, a tty two); the entry's wake function activates the
 * knote, so an event costs O(1) and idle files cost nothing.  event polls
 * the file again without queueing and works out data, EV_EOF and the
 * socket error for the kind of file:
 *
 *   pipe, FIFO       READ: bytes in the pipe; WRITE: capacity - bytes;
 *                    EV_EOF when the other side has no opener left;
 *                    WRITE on a pipe(2) whose reader is gone: EPIPE.
 *   TCP              READ: bytes not yet read; listening: connections
 *                    waiting in accept(); WRITE: free send space.
 *   UDP, UNIX dgram  READ: payload bytes of all queued datagrams.
 *   UNIX stream      READ: bytes not yet read; listening: pending connects.
 *   regular file     (cannot poll) always true; READ data = bytes from the
 *                    offset to EOF, WRITE data = 0.
 *   kqueue           READ: the number of events it would return.
 *   anything else    readiness from poll; data 0.
 *
 * A head that goes away before the file (POLLFREE, e.g. signalfd) unhooks
 * the entry itself; detach then finds whead NULL (the head is freed only
 * after an RCU grace period, so reading whead under rcu_read_lock() is
 * safe, as in fs/eventpoll.c).
 *
 * attach sorts the file into one of the kinds above once (kn->fkind), so
 * that event, which runs for every report, goes straight to its case.  For
 * a pipe end opened for the direction asked, event reads the ring under the
 * pipe's reader wait-queue lock (the lock pipe_resize_ring() holds while it
 * swaps the buffer array) and works out readiness itself as pipe_poll()
 * does; only when the other side is gone does it ask ->poll, which knows
 * the FIFO open/close subtleties.  That lock does not stop head and tail
 * from moving: read/write and splice/vmsplice/tee move them under
 * pipe->mutex only.  event does not take pipe->mutex (a splice from a
 * faulting user page holds it for as long as its owner likes, and event
 * runs under kq->mtx, also from ->poll): it reads them lock-free and clamps
 * what it sees (kn_pipe_snapshot()), as pipe_poll() reads them racily.
 *
 * Locking: attach/detach/event run under kq->mtx (see kq.h); the wake
 * function runs under the source's wait-queue lock in any context and only
 * calls kn_activate().  event takes a pipe's rd_wait.lock or a socket queue
 * lock briefly, never kq->lock.
 */
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <uapi/linux/magic.h>
#include <net/af_unix.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/udp.h>

#include "kq.h"

#define KN_READ_EVENTS	(EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLHUP | \
			 EPOLLERR)
#define KN_WRITE_EVENTS	(EPOLLOUT | EPOLLWRNORM | EPOLLHUP | EPOLLERR)

/*
 * The wait-queue entry on a file's first head is kn->fwait; a file with
 * more heads (a tty has two) gets one of these for each further head, in a
 * list at kn->fpriv.
 */
struct kn_pollent {
	struct kn_waitent	w;
	struct kn_pollent	*next;
};

struct kn_ptable {
	poll_table		pt;
	struct knote		*kn;
	bool			first_used;
	int			err;
};

/* What event() learns about the file. */
struct kn_fstate {
	__poll_t	mask;
	s64		data;
	bool		counted;	/* data is a real count */
	bool		bytes;		/* ...of a byte stream to read */
	bool		eof;
	int		err;
};

/* kn->fkind: what the file is, decided at attach. */
enum kn_file_kind {
	KN_FILE_OTHER,		/* poll readiness only, data 0 */
	KN_FILE_NOPOLL,		/* no ->poll (regular file): always true */
	KN_FILE_PIPE,		/* pipe or FIFO */
	KN_FILE_SOCKET,
	KN_FILE_KQUEUE,
	KN_FILE_EPOLL,
};

static struct kmem_cache *pollent_cache;

static __poll_t kn_interest(const struct knote *kn)
{
	return kn->filter == EVFILT_READ ? KN_READ_EVENTS : KN_WRITE_EVENTS;
}

static int kn_ring_report(struct knote *kn, struct kn_waitent *w,
			  __poll_t mask, struct kq_uevent *rep);

static int kn_poll_wake(struct wait_queue_entry *wait, unsigned int mode,
			int sync, void *key)
{
	struct kn_waitent *w = container_of(wait, struct kn_waitent, wait);
	struct knote *kn = wait->private;
	__poll_t mask = key_to_poll(key);
	struct kq_uevent rep;
	int ready;

	if (!mask || (mask & kn_interest(kn))) {
		/* Under whead's lock: see kq_wake(). */
		kq_foreign_wake_enter();
		ready = kn_ring_report(kn, w, mask, &rep);
		if (ready >= 0)
			kn_activate_report(kn, &rep, ready, sync);
		else
			kn_activate_sync(kn, sync);
		kq_foreign_wake_exit();
	}
	if (unlikely(mask & POLLFREE)) {
		/* The head is being freed: unhook now. */
		list_del_init(&wait->entry);
		/* Pairs with the acquire in kn_waitent_unhook(): it skips w. */
		smp_store_release(&w->whead, NULL);
	}
	return 0;
}

static void kn_queue_proc(struct file *file, wait_queue_head_t *whead,
			  poll_table *pt)
{
	struct kn_ptable *kpt = container_of(pt, struct kn_ptable, pt);
	struct knote *kn = kpt->kn;
	struct kn_pollent *pe;
	struct kn_waitent *w;

	if (kpt->err)
		return;
	if (!kpt->first_used) {
		kpt->first_used = true;
		w = &kn->fwait;
	} else {
		pe = kmem_cache_alloc(pollent_cache, GFP_KERNEL_ACCOUNT);
		if (!pe) {
			kpt->err = -ENOMEM;
			return;
		}
		pe->next = kn->fpriv;
		kn->fpriv = pe;
		w = &pe->w;
	}
	init_waitqueue_func_entry(&w->wait, kn_poll_wake);
	w->wait.private = kn;
	w->whead = whead;
	add_wait_queue(whead, &w->wait);
}

static void kn_waitent_unhook(struct kn_waitent *w)
{
	wait_queue_head_t *whead;

	rcu_read_lock();
	/* Pairs with the release in kn_poll_wake() on POLLFREE. */
	whead = smp_load_acquire(&w->whead);
	if (whead)
		remove_wait_queue(whead, &w->wait);
	rcu_read_unlock();
	w->whead = NULL;
}

static void kn_file_detach(struct knote *kn)
{
	struct kn_pollent *pe = kn->fpriv, *next;

	kn_waitent_unhook(&kn->fwait);
	for (; pe; pe = next) {
		next = pe->next;
		kn_waitent_unhook(&pe->w);
		kmem_cache_free(pollent_cache, pe);
	}
	kn->fpriv = NULL;
}

/* epoll keeps eventpoll_fops to itself; its files are anon inodes. */
static bool kn_file_is_epoll(const struct file *file)
{
	return !strcmp(file->f_path.dentry->d_name.name, "[eventpoll]");
}

static enum kn_file_kind kn_file_kind(struct knote *kn)
{
	struct file *file = kn->file;
	struct socket *sock;

	if (!file_can_poll(file))
		return KN_FILE_NOPOLL;
	if (kn_is_nested(kn))
		return KN_FILE_KQUEUE;
	sock = sock_from_file(file);
	if (sock && sock->sk)
		return KN_FILE_SOCKET;
	if (S_ISFIFO(file_inode(file)->i_mode) && file->private_data)
		return KN_FILE_PIPE;
	if (kn_file_is_epoll(file))
		return KN_FILE_EPOLL;
	return KN_FILE_OTHER;
}

/*
 * EVFILT_WRITE on a pipe(2) whose read end is gone can never be true:
 * FreeBSD refuses it with EPIPE.  A FIFO is different there as here: its
 * readers may come back, and FreeBSD's fifo code reports EV_EOF instead.
 */
static bool kn_pipe_reader_gone(struct knote *kn)
{
	struct pipe_inode_info *pipe = kn->file->private_data;

	return kn->filter == EVFILT_WRITE &&
	       file_inode(kn->file)->i_sb->s_magic == PIPEFS_MAGIC &&
	       !READ_ONCE(pipe->readers);
}

static int kn_file_attach(struct knote *kn)
{
	struct kn_ptable kpt = { .kn = kn };
	__poll_t mask;

	kn->fkind = kn_file_kind(kn);
	if (kn->fkind == KN_FILE_PIPE && kn_pipe_reader_gone(kn))
		return -EPIPE;
	if (kn->fkind == KN_FILE_NOPOLL) {
		kn_activate(kn);
		return 0;
	}
	init_poll_funcptr(&kpt.pt, kn_queue_proc);
	kpt.pt._key = kn_interest(kn);
	mask = vfs_poll(kn->file, &kpt.pt);
	if (kpt.err) {
		kn_file_detach(kn);
		return kpt.err;
	}
	if (mask & kn_interest(kn))
		kn_activate(kn);
	return 0;
}

static __poll_t kn_poll_now(struct knote *kn)
{
	poll_table pt;

	init_poll_funcptr(&pt, NULL);
	pt._key = kn_interest(kn);
	return vfs_poll(kn->file, &pt);
}

/*
 * A pipe's ring, read without pipe->mutex (see the top of the file): the
 * buffer array cannot be swapped (rd_wait.lock is held), but head and tail
 * move under us.  tail is read first: a reader only advances tail up to a
 * head it has seen, and head only grows, so the head read after it is not
 * behind it.  Both may move on between the two reads, and splice moves
 * them without any lock we can take here, so the occupancy is clamped to
 * [0, ring_size] and the byte count to [0, capacity]: a racing view costs
 * at most ring_size steps and gives a value in range; the wake-up of
 * whatever moved them makes the knote checked again.
 */
struct kn_pipe_snap {
	s64		bytes;
	s64		capacity;
	bool		full;
};

static void kn_pipe_snapshot(struct pipe_inode_info *pipe,
			     struct kn_pipe_snap *ps)
{
	unsigned int ring = pipe->ring_size, mask = ring - 1;
	unsigned int max_usage = READ_ONCE(pipe->max_usage);
	unsigned int head, tail, n, occ;
	s64 bytes = 0;

	lockdep_assert_held(&pipe->rd_wait.lock);
	tail = READ_ONCE(pipe->tail);
	smp_rmb();		/* tail before head */
	head = READ_ONCE(pipe->head);
	occ = head - tail;
	if ((int)occ < 0)	/* a tail past the head we read */
		occ = 0;
	else if (occ > ring)	/* both moved on between the two reads */
		occ = ring;
	for (n = 0; n < occ; n++)
		bytes += READ_ONCE(pipe->bufs[(tail + n) & mask].len);
	ps->capacity = (s64)max_usage << PAGE_SHIFT;
	ps->bytes = clamp_t(s64, bytes, 0, ps->capacity);
	ps->full = occ >= max_usage;
}

/* A pipe or FIFO end: bytes queued (READ) or free space (WRITE). */
static void kn_pipe_counts(struct knote *kn, struct kn_fstate *st, bool rd)
{
	struct pipe_inode_info *pipe = kn->file->private_data;
	struct kn_pipe_snap ps;

	spin_lock_irq(&pipe->rd_wait.lock);
	kn_pipe_snapshot(pipe, &ps);
	spin_unlock_irq(&pipe->rd_wait.lock);
	st->counted = true;
	st->bytes = rd;
	st->data = rd ? ps.bytes : ps.capacity - ps.bytes;
}

/*
 * The common case of a pipe end: no low-water mark, open for the direction
 * asked, the other side there.  The ring alone answers, as pipe_poll()
 * would.  Returns 1 (true; ev->data set), 0 (not true) or -1 (not that
 * case: the general path decides).
 */
static int kn_pipe_event(struct knote *kn, struct kq_uevent *ev, bool rd)
{
	struct pipe_inode_info *pipe = kn->file->private_data;
	struct kn_pipe_snap ps;
	unsigned int peer;
	int ready;

	if (kn->fkind != KN_FILE_PIPE || (kn->sfflags & NOTE_LOWAT) ||
	    !(kn->file->f_mode & (rd ? FMODE_READ : FMODE_WRITE)))
		return -1;
	spin_lock_irq(&pipe->rd_wait.lock);
	peer = rd ? READ_ONCE(pipe->writers) : READ_ONCE(pipe->readers);
	kn_pipe_snapshot(pipe, &ps);
	spin_unlock_irq(&pipe->rd_wait.lock);
	if (rd) {
		/* Not !pipe_empty(): a writer fills a slot after taking it. */
		ev->data = ps.bytes;
		ready = ps.bytes > 0;
	} else {
		ev->data = ps.capacity - ps.bytes;
		ready = !ps.full;
	}
	return peer ? ready : -1;
}

static s64 kn_queue_bytes(struct sk_buff_head *q, bool udp)
{
	struct sk_buff *skb;
	s64 n = 0;

	spin_lock_bh(&q->lock);
	skb_queue_walk(q, skb)
		n += udp ? udp_skb_len(skb) : skb->len;
	spin_unlock_bh(&q->lock);
	return n;
}

static bool kn_sk_is_inet(const struct sock *sk)
{
	return sk->sk_family == AF_INET || sk->sk_family == AF_INET6;
}

static bool kn_sk_is_tcp(const struct sock *sk)
{
	return kn_sk_is_inet(sk) && sk->sk_protocol == IPPROTO_TCP &&
	       sk->sk_type == SOCK_STREAM;
}

/*
 * The report of an edge-triggered or one-shot knote (reported once, as
 * it stood when posted) for the completion ring, worked
 * out in its wake function (under w->whead's lock, any context; mask is
 * the wake-up's key): 1 ready (rep filled), 0 not ready, -1 cannot tell
 * here (no ring, a low-water mark, EOF or an error, a kind of file whose
 * count needs a lock that may not be taken here): the scan decides, as
 * without a ring.
 *
 *   pipe or FIFO, EVFILT_READ on the read end, woken on its reader queue:
 *     the ring as kn_pipe_event() reads it (rd_wait.lock is that queue's
 *     lock), while a writer is there;
 *   TCP, EVFILT_READ: bytes not yet read (or connections waiting to be
 *     accepted), read lock-free as ->poll does, unless shut down for
 *     reading or in error;
 *   TCP, EVFILT_WRITE, connected and not shut down for writing, woken
 *     with EPOLLOUT (sk_stream_write_space() wakes so only once
 *     tcp_poll() would say writable): the free send space.
 */
static int kn_ring_report(struct knote *kn, struct kn_waitent *w,
			  __poll_t mask, struct kq_uevent *rep)
{
	struct kn_pipe_snap ps;
	struct sock *sk;
	int state;

	if (!(kn->flags & (EV_CLEAR | EV_DISPATCH | EV_ONESHOT)) ||
	    !READ_ONCE(kn->kq->ring) || (kn->sfflags & NOTE_LOWAT))
		return -1;
	rep->flags = 0;
	rep->fflags = 0;
	switch (kn->fkind) {
	case KN_FILE_PIPE: {
		struct pipe_inode_info *pipe = kn->file->private_data;

		if (kn->filter != EVFILT_READ ||
		    !(kn->file->f_mode & FMODE_READ) ||
		    w->whead != &pipe->rd_wait || !READ_ONCE(pipe->writers))
			return -1;
		kn_pipe_snapshot(pipe, &ps);
		rep->data = ps.bytes;
		return ps.bytes > 0;
	}
	case KN_FILE_SOCKET:
		sk = ((struct socket *)kn->file->private_data)->sk;
		if (!kn_sk_is_tcp(sk) || READ_ONCE(sk->sk_err))
			return -1;
		state = READ_ONCE(sk->sk_state);
		if (kn->filter == EVFILT_WRITE) {
			if (!(mask & EPOLLOUT) || (mask & (EPOLLERR | EPOLLHUP)) ||
			    (state != TCP_ESTABLISHED && state != TCP_CLOSE_WAIT) ||
			    (READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN))
				return -1;
			rep->data = max_t(s64, sk_stream_wspace(sk), 0);
			return rep->data > 0 ? 1 : -1;
		}
		if (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN)
			return -1;
		if (state == TCP_LISTEN)
			rep->data = READ_ONCE(sk->sk_ack_backlog);
		else
			rep->data = max(tcp_inq(sk), 0);
		return rep->data > 0;
	default:
		return -1;
	}
}

/* Bytes (or, listening, connections) a read/accept would get. */
static s64 kn_sock_readable(struct sock *sk)
{
	if (sk->sk_state == TCP_LISTEN) {
		if (sk->sk_family == AF_UNIX)
			return skb_queue_len(&sk->sk_receive_queue);
		return READ_ONCE(sk->sk_ack_backlog);
	}
	if (kn_sk_is_tcp(sk))
		return max(tcp_inq(sk), 0);
	if (sk->sk_family == AF_UNIX && sk->sk_type != SOCK_DGRAM)
		return max_t(long, unix_inq_len(sk), 0);
	if (kn_sk_is_inet(sk) && sk->sk_type == SOCK_DGRAM &&
	    (sk->sk_protocol == IPPROTO_UDP ||
	     sk->sk_protocol == IPPROTO_UDPLITE))
		return kn_queue_bytes(&udp_sk(sk)->reader_queue, true) +
		       kn_queue_bytes(&sk->sk_receive_queue, true);
	return kn_queue_bytes(&sk->sk_receive_queue, false);
}

static s64 kn_sock_writable(struct sock *sk)
{
	s64 n;

	if (kn_sk_is_tcp(sk))
		n = sk_stream_wspace(sk);
	else
		n = (s64)READ_ONCE(sk->sk_sndbuf) - sk_wmem_alloc_get(sk);
	return max_t(s64, n, 0);
}

static void kn_sock_state(struct knote *kn, struct kn_fstate *st, bool rd)
{
	struct socket *sock = kn->file->private_data;
	struct sock *sk = sock->sk;
	u8 shut = READ_ONCE(sk->sk_shutdown);

	st->mask = kn_poll_now(kn);
	st->counted = true;
	st->bytes = rd && sk->sk_type == SOCK_STREAM &&
		    sk->sk_state != TCP_LISTEN;
	st->data = rd ? kn_sock_readable(sk) : kn_sock_writable(sk);
	st->err = READ_ONCE(sk->sk_err);
	st->eof = (shut & (rd ? RCV_SHUTDOWN : SEND_SHUTDOWN)) ||
		  (st->mask & EPOLLHUP);
}

static void kn_file_state(struct knote *kn, struct kn_fstate *st, bool peek)
{
	bool rd = kn->filter == EVFILT_READ;
	int n;

	memset(st, 0, sizeof(*st));
	switch (kn->fkind) {
	case KN_FILE_SOCKET:
		kn_sock_state(kn, st, rd);
		break;
	case KN_FILE_PIPE:
		kn_pipe_counts(kn, st, rd);
		st->mask = kn_poll_now(kn);
		/*
		 * No writer: POLLHUP; no reader: POLLERR on the write end,
		 * for EVFILT_READ too (FreeBSD's filt_piperead: the peer is
		 * gone; asyncio watches a write end so).
		 */
		st->eof = st->mask & (EPOLLERR | EPOLLHUP);
		break;
	case KN_FILE_KQUEUE:
		/*
		 * data is the number of events it would return.  Asked for
		 * a kqueue that watches this one (kq_pending()), or from
		 * ->poll while the inner kqueue is busy, the inner kqueue's
		 * ready queue answers roughly: the cost of one check stays
		 * bounded by two levels of knotes.  Its ->poll is not asked:
		 * it would count the inner kqueue's events once more.
		 */
		st->counted = true;
		n = -EBUSY;
		if (rd && !kn->kq->peek_nested)
			n = kq_pending(kn->file->private_data, peek, true);
		if (n == -EBUSY)
			n = kq_maybe_ready(kn->file->private_data);
		st->data = max(n, 0);
		st->mask = st->data ? EPOLLIN | EPOLLRDNORM : 0;
		break;
	default:
		st->mask = kn_poll_now(kn);
		st->eof = st->mask & (EPOLLHUP | (rd ? EPOLLRDHUP : 0));
		break;
	}
}

static bool kn_file_ready(struct knote *kn, struct kn_fstate *st,
			  __poll_t ready_mask, struct kq_uevent *ev)
{
	ev->data = st->data;
	if (st->eof) {
		ev->flags |= EV_EOF;
		ev->fflags = st->err;
	}
	if (st->eof || st->err)
		return true;
	if ((kn->sfflags & NOTE_LOWAT) && st->counted) {
		if (st->data >= kn->sdata)
			return true;
		/* Writers are not woken for every byte drained. */
		if (kn->filter == EVFILT_WRITE && (st->mask & ready_mask))
			kn_recheck_later(kn);
		return false;
	}
	return st->mask & ready_mask;
}

/* Everything but a regular file and kn_pipe_event()'s case. */
static noinline bool kn_poll_event(struct knote *kn, struct kq_uevent *ev,
				   bool peek, __poll_t ready_mask)
{
	struct kn_fstate st;

	kn_file_state(kn, &st, peek);
	/*
	 * The mask and the count are read one after the other: a reader in
	 * between may have emptied the stream.  The count is the later word:
	 * a pipe or stream socket is readable only with data > 0 or at EOF.
	 */
	if (st.bytes && !st.data && !st.eof && !st.err &&
	    !(kn->sfflags & NOTE_LOWAT))
		return false;
	return kn_file_ready(kn, &st, ready_mask, ev);
}

static bool kn_read_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	int ready;

	if (kn->fkind == KN_FILE_NOPOLL) {
		struct inode *inode = file_inode(kn->file);

		if (S_ISREG(inode->i_mode))
			ev->data = max_t(s64, i_size_read(inode) -
					 READ_ONCE(kn->file->f_pos), 0);
		return true;
	}
	/*
	 * ->poll of this kqueue may come from the epoll instance watched
	 * here, with its mutex held: polling it back would deadlock.  Peek
	 * takes the queued knote as true; kevent() checks it for real.
	 */
	if (peek && kn->fkind == KN_FILE_EPOLL)
		return true;
	ready = kn_pipe_event(kn, ev, true);
	if (ready >= 0)
		return ready;
	return kn_poll_event(kn, ev, peek, EPOLLIN | EPOLLRDNORM);
}

static bool kn_write_event(struct knote *kn, struct kq_uevent *ev,
			   bool peek)
{
	int ready;

	if (kn->fkind == KN_FILE_NOPOLL)
		return true;
	/*
	 * An epoll instance is never writable, and polling it from here can
	 * deadlock on its mutex (see kn_read_event()).
	 */
	if (kn->fkind == KN_FILE_EPOLL)
		return false;
	ready = kn_pipe_event(kn, ev, false);
	if (ready >= 0)
		return ready;
	return kn_poll_event(kn, ev, peek, EPOLLOUT | EPOLLWRNORM);
}

const struct kq_filterops kq_read_filtops = {
	.is_fd	= true,
	.attach	= kn_file_attach,
	.detach	= kn_file_detach,
	.event	= kn_read_event,
};

const struct kq_filterops kq_write_filtops = {
	.is_fd	= true,
	.attach	= kn_file_attach,
	.detach	= kn_file_detach,
	.event	= kn_write_event,
};

int kq_filt_file_init(void)
{
	pollent_cache = kmem_cache_create("kq_pollent",
					  sizeof(struct kn_pollent), 0,
					  SLAB_ACCOUNT, NULL);
	return pollent_cache ? 0 : -ENOMEM;
}

void kq_filt_file_exit(void)
{
	kmem_cache_destroy(pollent_cache);
}
