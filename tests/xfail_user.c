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
	"reads the module's counters or parameters in /sys/module/kqueue (module only)";
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
	"signalfd sees a signal only while it is blocked, and reading it consumes it (ignored, handled or unblocked signals are not counted)";
static const char *const R_DGRAM =
	"FIONREAD gives the size of the first datagram only, not the total queued";
static const char *const R_UNIXLISTEN =
	"pending connections on a UNIX listening socket cannot be counted from user space (data 0)";
static const char *const R_EMPTYPOLL =
	"EVFILT_EMPTY on a pipe is re-checked every 10 ms inside kevent() only: poll() on the kqueue does not see the drain";
static const char *const R_VTRUNC =
	"inotify reports a truncation that grows or keeps the size like a write (NOTE_WRITE, not NOTE_ATTRIB)";
static const char *const R_VDIRSELF =
	"inotify reports nothing when an open directory is removed (IN_DELETE_SELF comes at the last close)";
static const char *const R_VREVOKE =
	"inotify reports nothing for a lazy unmount while the file is open";

static const struct {
	const char *name;
	const char *const *reason;
} xfail[] = {
	{ "close_removes_knotes_in_every_kqueue", &R_COUNTERS },
	{ "close_range_removes_knotes", &R_COUNTERS },
	{ "close_dup2_over_watched_fd", &R_COUNTERS },
	{ "close_dup3_over_watched_fd", &R_COUNTERS },
	{ "close_dup2_same_file_removes_knote", &R_COUNTERS },
	{ "close_on_exec_removes_knotes", &R_COUNTERS },
	{ "close_process_exit_removes_everything", &R_COUNTERS },
	{ "close_registered_socket_peer_sees_eof_at_once", &R_COUNTERS },
	{ "close_fd_number_reuse_starts_fresh", &R_COUNTERS },
	{ "close_delete_of_closed_fd_ebadf", &R_COUNTERS },
	{ "close_dup_keeps_its_own_knotes", &R_COUNTERS },
	{ "close_pending_events_never_reported", &R_COUNTERS },
	{ "close_while_another_thread_waits", &R_COUNTERS },
	{ "counters_readable", &R_COUNTERS },
	{ "counters_kqueue_open_close", &R_COUNTERS },
	{ "counters_knotes_add_delete_close", &R_COUNTERS },
	{ "counters_oneshot_fired", &R_COUNTERS },
	{ "counters_child_exit", &R_COUNTERS },
	{ "counters_child_killed_while_waiting", &R_COUNTERS },
	{ "cycle_epoll_wait_first", &R_CYCLE },
	{ "cycle_kevent_first", &R_CYCLE },
	{ "cycle_two_threads", &R_CYCLE },
	{ "reliability_epoll_kqueue_cycle_woken_from_epoll_side", &R_CYCLE },
	{ "empty_drain_wakes_blocked_waiter", &R_EMPTYPOLL },
	{ "empty_other_files_einval", &R_COUNTERS },
	{ "empty_close_drops_knote", &R_COUNTERS },
	{ "errors_efault_changelist", &R_EFAULT },
	{ "errors_efault_eventlist", &R_EFAULT },
	{ "errors_efault_timeout", &R_EFAULT },
	{ "fork_child_kevent_ebadf_every_form", &R_COUNTERS },
	{ "fork_child_closes_leave_parent_knotes", &R_COUNTERS },
	{ "fork_child_cannot_consume_parent_events", &R_COUNTERS },
	{ "fork_child_own_kqueue_independent", &R_COUNTERS },
	{ "fork_clone_files_shares_kqueue", &R_COUNTERS },
	{ "fork_exec_closes_cloexec_kqueues", &R_COUNTERS },
	{ "limits_max_user_knotes_per_user", &R_COUNTERS },
	{ "limits_knotes_charged_to_memcg", &R_MEMCG },
	{ "leak_counters_root_only", &R_COUNTERS },
	{ "leak_foreign_descriptors_ebadf", &R_COUNTERS },
	{ "mt_changes_while_others_wait", &R_COUNTERS },
	{ "mt_ev_add_races_dup2_and_close", &R_COUNTERS },
	{ "nest_kqfd_readable_exactly_when_events", &R_NEST },
	{ "nest_kqfd_sleepers_woken_by_later_event", &R_NEST },
	{ "nest_self_einval", &R_COUNTERS },
	{ "nest_write_filter_on_kqueue_einval", &R_COUNTERS },
	{ "nest_cycles_eloop", &R_COUNTERS },
	{ "nest_chain_of_four_max", &R_COUNTERS },
	{ "nest_close_inner_or_outer_unlinks", &R_COUNTERS },
	{ "proc_exit_status_exit3", &R_COUNTERS },
	{ "proc_exit_nonchild_status", &R_PROCSTATUS },
	{ "proc_exit_nonchild_sigkill", &R_PROCSTATUS },
	{ "proc_exit_status_sigterm", &R_PROCSTATUS },
	{ "proc_zombie_reported_at_once", &R_COUNTERS },
	{ "proc_esrch", &R_COUNTERS },
	{ "proc_eperm_other_user", &R_PROCNOTE },
	{ "proc_fork", &R_PROCNOTE },
	{ "proc_fork_self_not_threads", &R_PROCNOTE },
	{ "proc_exec", &R_PROCNOTE },
	{ "proc_exec_alone", &R_PROCNOTE },
	{ "proc_track_child", &R_COUNTERS },
	{ "proc_track_without_fork", &R_PROCNOTE },
	{ "proc_track_fast_exit_and_grandchild", &R_COUNTERS },
	{ "proc_track_close_kqueue", &R_COUNTERS },
	{ "proc_exit_unasked_dropped", &R_COUNTERS },
	{ "proc_delete", &R_COUNTERS },
	{ "proc_exit_while_disabled", &R_PROCSTATUS },
	{ "proc_many_processes", &R_COUNTERS },
	{ "proc_close_frees", &R_COUNTERS },
	{ "proc_track_error", &R_COUNTERS },
	{ "reliability_unwritable_eventlist_efault", &R_EFAULT },
	{ "signal_ignored_counted", &R_SIGNAL },
	{ "signal_default_ignored_counted", &R_EFAULT },
	{ "signal_handled_counted_handler_runs", &R_SIGNAL },
	{ "signal_blocked_counted_stays_pending", &R_SIGNAL },
	{ "signal_rt_queued_counted", &R_SIGNAL },
	{ "signal_thread_directed_counted", &R_SIGNAL },
	{ "signal_thread_handler_counted", &R_SIGNAL },
	{ "signal_sent_by_child_counted", &R_SIGNAL },
	{ "signal_other_process_not_counted", &R_SIGNAL },
	{ "signal_sigchld_ignored_not_counted", &R_SIGNAL },
	{ "signal_clear_semantics", &R_SIGNAL },
	{ "signal_disabled_keeps_counting", &R_SIGNAL },
	{ "signal_delete", &R_COUNTERS },
	{ "signal_two_kqueues", &R_SIGNAL },
	{ "signal_wakes_sleeper", &R_SIGNAL },
	{ "unix_dgram_read_data", &R_DGRAM },
	{ "unix_listen_backlog", &R_UNIXLISTEN },
	{ "udp4_read_data_total", &R_DGRAM },
	{ "udp6_read_data_total", &R_DGRAM },
	{ "timer_oneshot_fires_once_and_is_gone", &R_COUNTERS },
	{ "timer_readd_rearms", &R_COUNTERS },
	{ "timer_delete_stops_it", &R_COUNTERS },
	{ "timer_invalid_arguments", &R_COUNTERS },
	{ "timer_many_in_one_kqueue", &R_COUNTERS },
	{ "timer_counters_close_and_exit", &R_COUNTERS },
	{ "user_oneshot", &R_COUNTERS },
	{ "user_counters_back_to_baseline", &R_COUNTERS },
	{ "vnode_truncate", &R_VTRUNC },
	{ "vnode_marks_dropped_by_fsnotify", &R_COUNTERS },
	{ "vnode_dir_self", &R_VDIRSELF },
	{ "vnode_revoke_lazy_unmount", &R_VREVOKE },
	{ "vnode_ev_delete", &R_COUNTERS },
	{ "vnode_close_drops_knote", &R_COUNTERS },
	{ "vnode_touch_changes_selection", &R_COUNTERS },
	{ "vnode_disable_enable_dispatch_oneshot", &R_COUNTERS },
	{ "vnode_race_stress", &R_COUNTERS },
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
