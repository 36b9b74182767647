/*
 * xfail_user.c - the tests the user-space backend is expected to fail,
 * each with the reason (the README's list of differences says the same).
 * They still run: main.c prints "XFAIL name: reason (failed: why)" for a
 * failure and FAIL for an unexpected pass, so this list stays true.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kqtest.h"

static const char *const R_COUNTERS =
	"about the module's counters or parameters in /sys/module/kqueue (module only: require_module_counters())";
static const char *const R_CLOSE =
	"user space does not see a descriptor's close(): the library keeps its knote (EV_DELETE finds it once the number is reused, an EV_ADD racing dup2() can get EEXIST), and epoll or inotify still report the file while it is open elsewhere";
static const char *const R_CLONE =
	"the registrations live in the process's memory: a clone(CLONE_FILES) child without CLONE_VM shares the kqueue descriptor but not them";
static const char *const R_KQDUP =
	"a dup() of a kqueue descriptor is not a kqueue to the library: kevent() on it is EBADF, and a fork child keeps it";
static const char *const R_DEPTH =
	"nested kqueues are nested epoll instances: epoll's depth limit allows a fifth level (no ELOOP)";
static const char *const R_VUNLINKED =
	"a file whose last name is gone (link count 0) cannot be registered: EINVAL";
static const char *const R_CYCLE =
	"a user-space kqueue is an epoll instance: epoll refuses a kqueue/epoll cycle with ELOOP";
static const char *const R_EFAULT =
	"bad pointers: user space cannot answer EFAULT, the access faults (SIGSEGV)";
static const char *const R_MEMCG =
	"kernel memory accounting of knotes (module only; needs a memory cgroup)";
static const char *const R_NEST =
	"poll() on the kqueue reports readable until a kevent() call finds that a level-triggered event went away";
static const char *const R_PROCSTATUS =
	"the exit status of a process that is not a child, or was already reaped, cannot be read from user space (data 0)";
static const char *const R_PROCNOTE =
	"NOTE_FORK, NOTE_EXEC and NOTE_TRACK need kernel process events: EOPNOTSUPP";
static const char *const R_SIGNAL =
	"a watched signal is blocked and read from a signalfd: a standard signal sent again before the kqueue read it is pending once and counted once, and two kqueues compete for it";
static const char *const R_SIGLATE =
	"a watched signal is blocked: its handler runs when kevent() reads it, not when it is sent";
static const char *const R_SIGOWNBLOCK =
	"a signal the program blocked itself is consumed by the kqueue's signalfd: it does not stay pending";
static const char *const R_SIGTHREAD =
	"a signalfd sees what is pending on the process and on the reading thread: a signal sent to another thread (pthread_kill) is not counted, and while it is watched the library keeps it blocked in every thread, so its handler does not run in that thread even if the program unblocked it there";
static const char *const R_SIGNOBLOCK =
	"EVFILT_SIGNAL fails with EOPNOTSUPP for a signal that cannot be blocked (SIGSTOP, the C library's 32 and 33) and for a fault signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) the program did not block";
static const char *const R_DGRAM =
	"FIONREAD gives the size of the first datagram only, not the total queued";
static const char *const R_UNIXLISTEN =
	"pending connections on a UNIX listening socket cannot be counted from user space (data 0)";
static const char *const R_EMPTYPOLL =
	"EVFILT_EMPTY on a pipe is re-checked every 10 ms inside kevent() only: poll() on the kqueue does not see the drain";
static const char *const R_VTRUNC =
	"inotify reports a truncation that grows or keeps the size like a write (NOTE_WRITE, with NOTE_EXTEND if it grew; FreeBSD posts NOTE_ATTRIB alone)";
static const char *const R_VDIRSELF =
	"inotify reports nothing when an open directory is removed (IN_DELETE_SELF comes at the last close)";
static const char *const R_VREVOKE =
	"inotify reports nothing for a lazy unmount while the file is open";

static const char *const R_FORKSPAWN =
	"a child made by vfork() or posix_spawn() runs no pthread_atfork() handler: it keeps its copies of the kqueue descriptors (kevent() on them still fails: EBADF)";
static const char *const R_EPOLLPATHS =
	"nested kqueues are nested epoll instances: epoll refuses (EINVAL) an EPOLL_CTL_ADD that makes more wake-up paths through nested instances than its path limits allow (a few hundred dups per level)";
/* EVFILT_VNODE hardening (issue 14, t_hard_vnode.c) */
static const char *const R_VINSTANCES =
	"one inotify instance per EVFILT_VNODE knote: fs.inotify.max_user_instances (128 by default) bounds the knotes (EMFILE)";
static const char *const R_VPROC =
	"the library finds the file through /proc/self/fd/N, which a private mount namespace can hide (here a tmpfs over /proc), and inotify reports nothing for a lazy unmount";
/* Issue 14, item 6: the close hook (tests/t_hard_close.c). */
static const char *const R_RMMOD =
	"unloads and loads kqueue.ko (module only, in the VM)";

/* Issue 17: the completion ring (tests/t_ring.c) */
static const char *const R_DISABLEPOLL =
	"poll() on the kqueue stays readable after EV_DISABLE of a knote whose event was pending, until a kevent() call";

static const struct {
	const char *name;
	const char *const *reason;
} xfail[] = {
	{ "close_removes_knotes_in_every_kqueue", &R_CLOSE },
	{ "close_range_removes_knotes", &R_CLOSE },
	{ "close_dup2_over_watched_fd", &R_CLOSE },
	{ "close_dup3_over_watched_fd", &R_CLOSE },
	{ "close_dup2_same_file_removes_knote", &R_CLOSE },
	{ "counters_readable", &R_COUNTERS },
	{ "counters_kqueue_open_close", &R_COUNTERS },
	{ "counters_knotes_add_delete_close", &R_COUNTERS },
	{ "counters_oneshot_fired", &R_COUNTERS },
	{ "counters_oneshot_taken_from_ring", &R_COUNTERS },
	{ "counters_child_exit", &R_COUNTERS },
	{ "counters_child_killed_while_waiting", &R_COUNTERS },
	{ "cycle_epoll_wait_first", &R_CYCLE },
	{ "cycle_kevent_first", &R_CYCLE },
	{ "cycle_two_threads", &R_CYCLE },
	{ "cycle_write_filter_on_epoll_in_chain", &R_CYCLE },
	{ "reliability_epoll_kqueue_cycle_woken_from_epoll_side", &R_CYCLE },
	{ "empty_drain_wakes_blocked_waiter", &R_EMPTYPOLL },
	{ "errors_efault_changelist", &R_EFAULT },
	{ "errors_efault_eventlist", &R_EFAULT },
	{ "errors_efault_timeout", &R_EFAULT },
	{ "fork_clone_files_shares_kqueue", &R_CLONE },
	{ "fork_exec_closes_cloexec_kqueues", &R_COUNTERS },
	{ "limits_max_user_knotes_per_user", &R_COUNTERS },
	{ "limits_knotes_charged_to_memcg", &R_MEMCG },
	{ "limits_emptied_kqueue_table_uncharged", &R_MEMCG },
	{ "leak_counters_root_only", &R_COUNTERS },
	/* issue 14, EVFILT_PROC and EVFILT_SIGNAL (t_hard_proc.c) */
	{ "hard_proc_track_not_delayed_by_held_mutex", &R_PROCNOTE },
	{ "hard_proc_track_flood_capped", &R_COUNTERS },
	{ "hard_proc_track_child_turned_root_trackerr", &R_PROCNOTE },
	{ "hard_proc_setuid_exec_stops_tracking", &R_PROCNOTE },
	{ "hard_sig_setuid_exec_stops_counting", &R_CLONE },
	{ "hard_sig_many_knotes_other_process_not_slowed", &R_SIGNOBLOCK },
	{ "mt_ev_add_races_dup2_and_close", &R_CLOSE },
	{ "nest_kqfd_readable_exactly_when_events", &R_NEST },
	{ "nest_kqfd_sleepers_woken_by_later_event", &R_NEST },
	{ "nest_self_einval", &R_KQDUP },
	{ "nest_chain_of_four_max", &R_DEPTH },
	{ "hard_nest_dup_edges_counted", &R_EPOLLPATHS },
	{ "hard_nest_fanout_chain_is_cheap", &R_EPOLLPATHS },
	{ "nest_close_inner_or_outer_unlinks", &R_CLOSE },
	{ "proc_exit_nonchild_status", &R_PROCSTATUS },
	{ "proc_exit_nonchild_sigkill", &R_PROCSTATUS },
	{ "proc_exit_status_sigterm", &R_PROCSTATUS },
	{ "proc_zombie_reported_at_once", &R_PROCNOTE },
	{ "proc_eperm_other_user", &R_PROCNOTE },
	{ "proc_fork", &R_PROCNOTE },
	{ "proc_fork_self_not_threads", &R_PROCNOTE },
	{ "proc_exec", &R_PROCNOTE },
	{ "proc_exec_alone", &R_PROCNOTE },
	{ "proc_track_child", &R_PROCNOTE },
	{ "proc_track_without_fork", &R_PROCNOTE },
	{ "proc_track_fast_exit_and_grandchild", &R_PROCNOTE },
	{ "proc_track_close_kqueue", &R_PROCNOTE },
	{ "proc_exit_unasked_dropped", &R_PROCNOTE },
	{ "proc_exit_while_disabled", &R_PROCSTATUS },
	{ "proc_close_frees", &R_PROCNOTE },
	{ "proc_track_error", &R_COUNTERS },
	{ "reliability_unwritable_eventlist_efault", &R_EFAULT },
	{ "ring_poll_kqueue_fd", &R_DISABLEPOLL },
	{ "ring_max_user_rings", &R_COUNTERS },
	{ "ring_bad_eventlist_efault", &R_EFAULT },
	{ "ring_bad_timeout_efault", &R_EFAULT },
	{ "ring_fd_number_reused_by_dup2", &R_KQDUP },
	{ "ring_signal_counts_added_in_place", &R_SIGNAL },
	{ "ring_signal_dispatch_once_until_enable", &R_SIGNAL },
	{ "signal_ignored_counted", &R_SIGNAL },
	{ "signal_default_ignored_counted", &R_SIGNAL },
	{ "signal_handled_counted_handler_runs", &R_SIGLATE },
	{ "signal_blocked_counted_stays_pending", &R_SIGOWNBLOCK },
	{ "signal_rt_queued_counted", &R_SIGOWNBLOCK },
	{ "signal_thread_directed_counted", &R_SIGTHREAD },
	{ "signal_thread_handler_counted", &R_SIGTHREAD },
	{ "signal_sent_by_child_counted", &R_SIGNAL },
	{ "signal_clear_semantics", &R_SIGNAL },
	{ "signal_disabled_keeps_counting", &R_SIGNAL },
	{ "signal_two_kqueues", &R_SIGNAL },
	{ "unix_dgram_read_data", &R_DGRAM },
	{ "unix_listen_backlog", &R_UNIXLISTEN },
	{ "udp4_read_data_total", &R_DGRAM },
	{ "udp6_read_data_total", &R_DGRAM },
	{ "timer_counters_close_and_exit", &R_COUNTERS },
	{ "user_counters_back_to_baseline", &R_COUNTERS },
	{ "vnode_truncate", &R_VTRUNC },
	{ "bsd_vnode_truncate_grow_attrib_only", &R_VTRUNC },
	{ "vnode_marks_dropped_by_fsnotify", &R_VUNLINKED },
	{ "vnode_dir_self", &R_VDIRSELF },
	{ "vnode_revoke_lazy_unmount", &R_VREVOKE },
	{ "vnode_close_drops_knote", &R_CLOSE },
	/* issue 14 hardening: pipes and timers (t_hard_pipe.c, t_hard_timer.c) */
	{ "hard_timer_max_user_timers_enomem", &R_COUNTERS },
	/* EVFILT_VNODE hardening (issue 14, t_hard_vnode.c) */
	{ "hard_vnode_many_knotes_one_file", &R_VINSTANCES },
	{ "hard_vnode_mark_limit", &R_COUNTERS },
	{ "hard_vnode_dirs_share_parent", &R_VDIRSELF },
	{ "hard_vnode_revoke_mountinfo_fifo", &R_VPROC },
	/* Issue 14, item 6: the close hook (tests/t_hard_close.c). */
	{ "hard_close_rmmod_while_reaping", &R_RMMOD },
	/* Issue 15: FreeBSD conformance (fork). */
	{ "bsd_fork_spawn_child_has_no_kqueue_descriptor", &R_FORKSPAWN },
	{ "bsd_fork_child_has_no_dup_of_kqueue", &R_KQDUP },
	{ NULL, NULL }
};

int kqt_backend_is_user(void)
{
	int kq = kqueue();
	int user;

	if (kq < 0)
		return 0;
	user = kqueue_backend(kq) == KQUEUE_BACKEND_USER;
	close(kq);
	return user;
}

const char *kqt_xfail_user(const char *name)
{
	for (size_t i = 0; xfail[i].name; i++)
		if (strcmp(xfail[i].name, name) == 0)
			return *xfail[i].reason;
	return NULL;
}
