//! What a task leaves behind when there is no pid namespace to end with it (Landlock, direct):
//! the supervisor is a child subreaper, so every orphan of the task (double-forked, `setsid`, a
//! daemon) is re-parented to it, and when the command ends it kills everything still below it,
//! as the end of bubblewrap's pid namespace does.

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::exit::Failure;

/// Makes this process the one orphans of its descendants are re-parented to.
pub fn become_subreaper() -> Result<(), Failure> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Failure::refused(format!("cannot become a child subreaper: {e}")))
}

/// Rounds of "list, kill, reap" before giving up; each round kills every process that existed
/// when it listed them, so only processes forked during a round survive into the next.
const MAX_ROUNDS: usize = 10_000;

/// SIGKILLs every descendant of this (subreaper) process and reaps them, until none is left.
pub fn kill_descendants() {
    let me = nix::unistd::getpid();
    for _ in 0..MAX_ROUNDS {
        if !reap_exited() {
            return;
        }
        for pid in descendants(&process_table(), me) {
            let _ = signal::kill(pid, Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    tracing::warn!("processes the task left behind could not all be killed");
}

/// Reaps every child that has ended; returns whether any child (running) is left.
fn reap_exited() -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false, // ECHILD: nobody left
        }
    }
}

/// (pid, parent pid) of every living (not zombie) process this `/proc` shows.
pub fn process_table() -> Vec<(Pid, Pid)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command name may contain spaces and parentheses: state and ppid follow the
            // last ')'.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?;
            let ppid: i32 = fields.next()?.parse().ok()?;
            (state != "Z").then(|| (Pid::from_raw(pid), Pid::from_raw(ppid)))
        })
        .collect()
}

/// Every process below `root` in `table`.
pub fn descendants(table: &[(Pid, Pid)], root: Pid) -> Vec<Pid> {
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid) in table {
            if *ppid == parent && !out.contains(pid) {
                out.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    out
}

/// Our direct children as the kernel lists them (adopted orphans included).
pub fn adopted_children() -> Vec<Pid> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw),
            );
        }
    }
    out
}
