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
 *                    EV_EOF when the other side has no opener left.
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
 * Locking: attach/detach/event run under kq->mtx (see kq.h); the wake
 * function runs under the source's wait-queue lock in any context and only
 * calls kn_activate().  event takes the pipe mutex or a socket queue lock
 * briefly, never kq->lock.
 */
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <net/af_unix.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/udp.h>

#include "kq.h"

#define KN_READ_EVENTS	(EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLHUP | \
			 EPOLLERR)
#define KN_WRITE_EVENTS	(EPOLLOUT | EPOLLWRNORM | EPOLLHUP | EPOLLERR)

/* One wait-queue entry of a knote; kn->fpriv holds the list. */
struct kn_pollent {
	wait_queue_entry_t	wait;
	wait_queue_head_t	*whead;		/* NULL once POLLFREE'd */
	struct knote		*kn;
	struct kn_pollent	*next;
};

struct kn_ptable {
	poll_table		pt;
	struct knote		*kn;
	int			err;
};

/* What event() learns about the file. */
struct kn_fstate {
	__poll_t	mask;
	s64		data;
	bool		counted;	/* data is a real count */
	bool		eof;
	int		err;
};

static struct kmem_cache *pollent_cache;

static __poll_t kn_interest(const struct knote *kn)
{
	return kn->filter == EVFILT_READ ? KN_READ_EVENTS : KN_WRITE_EVENTS;
}

static int kn_poll_wake(struct wait_queue_entry *wait, unsigned int mode,
			int sync, void *key)
{
	struct kn_pollent *pe = container_of(wait, struct kn_pollent, wait);
	__poll_t mask = key_to_poll(key);

	if (!mask || (mask & kn_interest(pe->kn)))
		kn_activate(pe->kn);
	if (unlikely(mask & POLLFREE)) {
		/* The head is being freed: unhook now. */
		list_del_init(&wait->entry);
		/* Pairs with the acquire in kn_file_detach(): it skips pe. */
		smp_store_release(&pe->whead, NULL);
	}
	return 0;
}

static void kn_queue_proc(struct file *file, wait_queue_head_t *whead,
			  poll_table *pt)
{
	struct kn_ptable *kpt = container_of(pt, struct kn_ptable, pt);
	struct knote *kn = kpt->kn;
	struct kn_pollent *pe;

	if (kpt->err)
		return;
	pe = kmem_cache_alloc(pollent_cache, GFP_KERNEL_ACCOUNT);
	if (!pe) {
		kpt->err = -ENOMEM;
		return;
	}
	init_waitqueue_func_entry(&pe->wait, kn_poll_wake);
	pe->whead = whead;
	pe->kn = kn;
	pe->next = kn->fpriv;
	kn->fpriv = pe;
	add_wait_queue(whead, &pe->wait);
}

static void kn_file_detach(struct knote *kn)
{
	struct kn_pollent *pe = kn->fpriv, *next;

	for (; pe; pe = next) {
		wait_queue_head_t *whead;

		next = pe->next;
		rcu_read_lock();
		/* Pairs with the release in kn_poll_wake() on POLLFREE. */
		whead = smp_load_acquire(&pe->whead);
		if (whead)
			remove_wait_queue(whead, &pe->wait);
		rcu_read_unlock();
		kmem_cache_free(pollent_cache, pe);
	}
	kn->fpriv = NULL;
}

static int kn_file_attach(struct knote *kn)
{
	struct kn_ptable kpt = { .kn = kn };
	__poll_t mask;

	if (!file_can_poll(kn->file)) {
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

/* Pipes and FIFOs: bytes queued and capacity. */
static void kn_pipe_counts(struct file *file, s64 *bytes, s64 *capacity)
{
	struct pipe_inode_info *pipe = file->private_data;
	unsigned int head, tail, mask;
	s64 n = 0;

	*bytes = 0;
	*capacity = 0;
	if (!pipe)
		return;
	pipe_lock(pipe);
	head = pipe->head;
	mask = pipe->ring_size - 1;
	for (tail = pipe->tail; tail != head; tail++)
		n += pipe->bufs[tail & mask].len;
	*bytes = n;
	*capacity = (s64)pipe->max_usage << PAGE_SHIFT;
	pipe_unlock(pipe);
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

/* Bytes (or, listening, connections) a read/accept would get. */
static s64 kn_sock_readable(struct sock *sk)
{
	if (sk->sk_state == TCP_LISTEN) {
		if (sk->sk_family == AF_UNIX)
			return skb_queue_len(&sk->sk_receive_queue);
		return READ_ONCE(sk->sk_ack_backlog);
	}
	if (kn_sk_is_inet(sk) && sk->sk_protocol == IPPROTO_TCP &&
	    sk->sk_type == SOCK_STREAM)
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

	if (kn_sk_is_inet(sk) && sk->sk_protocol == IPPROTO_TCP &&
	    sk->sk_type == SOCK_STREAM)
		n = sk_stream_wspace(sk);
	else
		n = (s64)READ_ONCE(sk->sk_sndbuf) - sk_wmem_alloc_get(sk);
	return max_t(s64, n, 0);
}

static void kn_file_state(struct knote *kn, struct kn_fstate *st, bool peek)
{
	struct file *file = kn->file;
	bool rd = kn->filter == EVFILT_READ;
	struct socket *sock;

	memset(st, 0, sizeof(*st));
	st->mask = kn_poll_now(kn);

	sock = sock_from_file(file);
	if (sock && sock->sk) {
		struct sock *sk = sock->sk;
		u8 shut = READ_ONCE(sk->sk_shutdown);

		st->counted = true;
		st->data = rd ? kn_sock_readable(sk) : kn_sock_writable(sk);
		st->err = READ_ONCE(sk->sk_err);
		if (rd)
			st->eof = (shut & RCV_SHUTDOWN) ||
				  (st->mask & EPOLLHUP);
		else
			st->eof = (shut & SEND_SHUTDOWN) ||
				  (st->mask & EPOLLHUP);
	} else if (S_ISFIFO(file_inode(file)->i_mode)) {
		s64 bytes, capacity;

		kn_pipe_counts(file, &bytes, &capacity);
		st->counted = true;
		st->data = rd ? bytes : max_t(s64, capacity - bytes, 0);
		/* No writer: POLLHUP; no reader: POLLERR on the write end. */
		st->eof = st->mask & (rd ? EPOLLHUP : (EPOLLERR | EPOLLHUP));
	} else if (kn->nest) {
		/* A kqueue: data is the number of events it would return. */
		st->counted = true;
		int n = rd ? kq_pending(file->private_data, peek) : 0;

		/* Asked from ->poll, a busy inner kqueue answers roughly. */
		if (n == -EBUSY)
			n = kq_maybe_ready(file->private_data);
		st->data = max(n, 0);
	} else {
		st->eof = st->mask & (EPOLLHUP | (rd ? EPOLLRDHUP : 0));
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

/* epoll keeps eventpoll_fops to itself; its files are anon inodes. */
static bool kn_file_is_epoll(const struct file *file)
{
	return !strcmp(file->f_path.dentry->d_name.name, "[eventpoll]");
}

static bool kn_read_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct kn_fstate st;

	if (!file_can_poll(kn->file)) {
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
	if (peek && kn_file_is_epoll(kn->file))
		return true;
	kn_file_state(kn, &st, peek);
	return kn_file_ready(kn, &st, EPOLLIN | EPOLLRDNORM, ev);
}

static bool kn_write_event(struct knote *kn, struct kq_uevent *ev,
			   bool peek)
{
	struct kn_fstate st;

	if (!file_can_poll(kn->file))
		return true;
	kn_file_state(kn, &st, peek);
	return kn_file_ready(kn, &st, EPOLLOUT | EPOLLWRNORM, ev);
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
