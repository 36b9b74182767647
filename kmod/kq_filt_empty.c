// SPDX-License-Identifier: GPL-2.0
/*
 * kq_filt_empty.c - EVFILT_EMPTY: the send side of a socket or pipe has
 * drained.  ident is a file descriptor.
 *
 *   TCP          nothing in the send queue is left unacknowledged (the
 *                count SIOCOUTQ gives: write_seq - snd_una; a listening,
 *                closed or still connecting socket has nothing queued);
 *   other        nothing we sent is still charged to our socket
 *   sockets      (sk_wmem_alloc): for UNIX stream and datagram sockets,
 *                the peer has read everything; for UDP, it has left;
 *   pipe, FIFO   the pipe is empty; only a descriptor open for writing.
 *                With no reader left it fires with EV_EOF (data = the
 *                bytes stranded in it), since it can never drain.
 *
 * Anything else is refused with EINVAL, as FreeBSD does for files without
 * EVFILT_EMPTY support.  data is the number of bytes still queued, so 0
 * whenever the event fires (FreeBSD: sbused(so_snd)).  FreeBSD has
 * EVFILT_EMPTY on sockets only; pipes are an extension.
 *
 * Wake-ups: one wait-queue entry on each queue where the file signals a
 * change: a socket's wait queue (the one its ->poll waits on: incoming
 * data, write space, state changes), a pipe's rd_wait (the pipe became
 * non-empty, the last writer left) and wr_wait (a full pipe got room, the
 * last reader left).  Any wake-up activates the knote; the scan then
 * checks.  The drain itself is mostly not signalled (a pipe wakes writers
 * only when it was full, TCP only when the writer ran out of space), so
 * while the check finds data queued it asks for another check by time
 * (kn_recheck_later(), every 10 ms).  A consequence for EV_CLEAR on TCP:
 * a write made after the knote was last reported is only noticed at the
 * socket's next wake-up; the level-triggered default, EV_DISPATCH or
 * EV_ONESHOT (re-enabled or re-added after writing) do not depend on it.
 *
 * Locking and lifetime: attach/detach/event run under kq->mtx.  The wake
 * function runs under the wait-queue head's lock in any context and only
 * calls kn_activate().  The heads belong to the pipe or socket, which live
 * as long as the file the knote holds a reference to (neither uses
 * POLLFREE); detach's remove_wait_queue() takes each head's lock, so once
 * it returns no wake function is running or can run for this knote, and
 * the core stops the recheck timer itself.
 */
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/slab.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "kq.h"

#define KN_EMPTY_MAXWAIT	2

struct kn_empty {
	wait_queue_entry_t	wait[KN_EMPTY_MAXWAIT];	/* private: the knote */
	wait_queue_head_t	*whead[KN_EMPTY_MAXWAIT];
	unsigned int		nwait;
};

static int kn_empty_wake(struct wait_queue_entry *wait, unsigned int mode,
			 int sync, void *key)
{
	kn_activate_sync(wait->private, sync);
	return 0;
}

/* The pipe of a pipe or FIFO descriptor open for writing, or NULL. */
static struct pipe_inode_info *kn_empty_pipe(struct file *file)
{
	if (!S_ISFIFO(file_inode(file)->i_mode) ||
	    !(file->f_mode & FMODE_WRITE))
		return NULL;
	return file->private_data;
}

static bool kn_sk_is_tcp(const struct sock *sk)
{
	return (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) &&
	       sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM;
}

/* Bytes sent on sk that are not gone yet (see the top of the file). */
static s64 kn_sock_queued(struct sock *sk)
{
	if (kn_sk_is_tcp(sk)) {
		const struct tcp_sock *tp = tcp_sk(sk);
		int state = inet_sk_state_load(sk);

		if ((1 << state) & (TCPF_LISTEN | TCPF_CLOSE | TCPF_SYN_SENT |
				    TCPF_SYN_RECV))
			return 0;
		return max_t(s32, READ_ONCE(tp->write_seq) -
				  READ_ONCE(tp->snd_una), 0);
	}
	return sk_wmem_alloc_get(sk);
}

/* Bytes in the pipe; *readers tells whether anyone can still read them. */
static s64 kn_pipe_queued(struct pipe_inode_info *pipe, bool *readers)
{
	unsigned int head, tail, mask;
	s64 n = 0;

	pipe_lock(pipe);
	head = pipe->head;
	mask = pipe->ring_size - 1;
	for (tail = pipe->tail; tail != head; tail++)
		n += pipe->bufs[tail & mask].len;
	*readers = pipe->readers;
	pipe_unlock(pipe);
	return n;
}

static void kn_empty_hook(struct knote *kn, struct kn_empty *ke,
			  wait_queue_head_t *whead)
{
	wait_queue_entry_t *wait = &ke->wait[ke->nwait];

	init_waitqueue_func_entry(wait, kn_empty_wake);
	wait->private = kn;
	ke->whead[ke->nwait++] = whead;
	add_wait_queue(whead, wait);
}

static int kn_empty_attach(struct knote *kn)
{
	struct socket *sock = sock_from_file(kn->file);
	struct pipe_inode_info *pipe = NULL;
	struct kn_empty *ke;

	if (!sock || !sock->sk) {
		sock = NULL;
		pipe = kn_empty_pipe(kn->file);
		if (!pipe)
			return -EINVAL;
	}
	ke = kzalloc(sizeof(*ke), GFP_KERNEL_ACCOUNT);
	if (!ke)
		return -ENOMEM;
	if (sock) {
		kn_empty_hook(kn, ke, &sock->wq.wait);
	} else {
		kn_empty_hook(kn, ke, &pipe->rd_wait);
		kn_empty_hook(kn, ke, &pipe->wr_wait);
	}
	kn->fpriv = ke;
	/* The first scan checks it, and keeps checking while not empty. */
	kn_activate(kn);
	return 0;
}

static void kn_empty_detach(struct knote *kn)
{
	struct kn_empty *ke = kn->fpriv;
	unsigned int i;

	for (i = 0; i < ke->nwait; i++)
		remove_wait_queue(ke->whead[i], &ke->wait[i]);
	kfree(ke);
	kn->fpriv = NULL;
}

static bool kn_empty_event(struct knote *kn, struct kq_uevent *ev, bool peek)
{
	struct socket *sock = sock_from_file(kn->file);
	s64 queued;

	if (sock) {
		queued = kn_sock_queued(sock->sk);
	} else {
		bool readers;

		queued = kn_pipe_queued(kn->file->private_data, &readers);
		if (queued && !readers) {
			/* Nobody will ever read it. */
			ev->flags |= EV_EOF;
			ev->data = queued;
			return true;
		}
	}
	ev->data = queued;
	if (!queued)
		return true;
	/* The drain is mostly not signalled: look again in a while. */
	kn_recheck_later(kn);
	return false;
}

const struct kq_filterops kq_empty_filtops = {
	.is_fd	= true,
	.attach	= kn_empty_attach,
	.detach	= kn_empty_detach,
	.event	= kn_empty_event,
};
