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
    let mut left = Vec::new();
    for _ in 0..MAX_ROUNDS {
        if !reap_exited() {
            return;
        }
        left = descendants_of(me);
        for pid in &left {
            let _ = signal::kill(*pid, Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    tracing::warn!(
        ?left,
        "processes the task left behind could not all be killed"
    );
}

/// Every process below `root`, from the kernel's per-thread child lists. Unlike a parent-pid
/// table these name a thread-group leader that exited while its other threads run (its state
/// reads as zombie), the children of every thread, and need no parsing of a name the task chose.
/// On a kernel without those lists, the parent-pid table, read once for the whole walk.
pub fn descendants_of(root: Pid) -> Vec<Pid> {
    if !child_lists_exist() {
        return descendants(&process_table(), root);
    }
    let mut out: Vec<Pid> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for child in children_of(parent) {
            if !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// The children of every thread of `pid` (`/proc/<pid>/task/*/children`; from the parent-pid
/// table on a kernel built without those lists, so a missing file never means "no children").
fn children_of(pid: Pid) -> Vec<Pid> {
    if !child_lists_exist() {
        return children_in(&process_table(), pid);
    }
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read(task.path().join("children")) {
            out.extend(
                text.split(u8::is_ascii_whitespace)
                    .filter_map(|p| std::str::from_utf8(p).ok()?.parse().ok())
                    .map(Pid::from_raw),
            );
        }
    }
    out
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

/// Whether this kernel keeps per-thread child lists (CONFIG_PROC_CHILDREN), checked once.
fn child_lists_exist() -> bool {
    static EXIST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *EXIST.get_or_init(|| {
        let tid = nix::unistd::gettid();
        std::path::Path::new(&format!("/proc/self/task/{tid}/children")).exists()
    })
}

/// (pid, parent pid) of every process this `/proc` shows. Zombies stay in: a thread-group leader
/// that exited while its other threads run reads as one, and SIGKILL to it ends the group. `stat`
/// is read as bytes: the command name is the process's to choose, valid UTF-8 or not.
pub fn process_table() -> Vec<(Pid, Pid)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read(e.path().join("stat")).ok()?;
            // The command name may contain spaces and parentheses: state and ppid follow the
            // last ')'.
            let after = &stat[stat.iter().rposition(|b| *b == b')')? + 1..];
            let mut fields = after
                .split(u8::is_ascii_whitespace)
                .filter(|f| !f.is_empty());
            let _state = fields.next()?;
            let ppid: i32 = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
            Some((Pid::from_raw(pid), Pid::from_raw(ppid)))
        })
        .collect()
}

/// The processes whose parent is `pid` in `table`.
fn children_in(table: &[(Pid, Pid)], pid: Pid) -> Vec<Pid> {
    table
        .iter()
        .filter(|(_, ppid)| *ppid == pid)
        .map(|(child, _)| *child)
        .collect()
}

/// Every process below `root` in `table`.
fn descendants(table: &[(Pid, Pid)], root: Pid) -> Vec<Pid> {
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for child in children_in(table, parent) {
            if !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// Our direct children as the kernel lists them (adopted orphans included).
pub fn adopted_children() -> Vec<Pid> {
    children_of(nix::unistd::getpid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_of_listing_children_find_the_same_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let me = nix::unistd::getpid();
        let table = process_table();
        assert!(children_in(&table, me).contains(&pid), "{table:?}");
        assert!(descendants(&table, me).contains(&pid));
        assert!(children_of(me).contains(&pid));
        assert!(descendants_of(me).contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
