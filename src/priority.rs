//! Scheduling priority of background threads. Work no request waits for
//! (adding up download counts) runs at the lowest priority, so on a busy
//! machine it takes only cores that would otherwise idle and never
//! preempts a worker that has requests to answer.

/// Puts the calling thread at background priority (Linux `SCHED_IDLE`).
/// Returns whether it took; elsewhere, or where the system refuses, the
/// thread keeps its priority.
pub fn background() -> bool {
    #[cfg(target_os = "linux")]
    {
        // The kernel's `struct sched_param`: the priority alone (0 for
        // SCHED_IDLE). The raw system call, as musl's `sched_setscheduler`
        // is a stub that always fails; pid 0 is the calling thread.
        let param: libc::c_int = 0;
        // SAFETY: `param` has the kernel's layout and outlives the call.
        let done = unsafe {
            libc::syscall(
                libc::SYS_sched_setscheduler,
                0,
                libc::SCHED_IDLE,
                &param as *const libc::c_int,
            )
        };
        done == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    /// The calling thread's scheduling policy (field 41 of its `stat`).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("a stat file");
        // The command name may hold spaces: count fields after its ')'.
        let after = &stat[stat.rfind(')').expect("a command name") + 2..];
        after
            .split(' ')
            .nth(41 - 3)
            .expect("41 fields")
            .parse()
            .expect("a number")
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_background_thread_runs_at_idle_priority_and_others_keep_theirs() {
        let policy_after = std::thread::spawn(|| (super::background(), policy()))
            .join()
            .expect("the thread ran");
        assert_eq!(policy_after, (true, libc::SCHED_IDLE as u32));
        assert_eq!(
            policy(),
            libc::SCHED_OTHER as u32,
            "only that thread changed"
        );
    }
}
